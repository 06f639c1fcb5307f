/* Models converted by the Python importers load and run unchanged from C:
 * every file of Tests/fixtures/import/ converted by softmaxkit.from_onnx
 * (written by make_onnx_fixtures.py from torch.onnx exports) against ONNX
 * Runtime's outputs, and every example network converted by
 * softmaxkit.from_keras (written by make_keras_fixtures.py) against Keras'
 * predict, the averaging network through its ensemble manifest; all within
 * 1e-5 absolute. Then smk_model_dot's buffer convention and its graph. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "softmaxkit.h"
#include "check.h"
#include "model_fixtures.h"

#define DIR "Tests/fixtures/import/"


static const char *CASES[] = {
    "mlp_multihead", "mlp_gelu", "lstm_steps", "lstm_final", "gru_bidirectional", "embedding_tagger", "sklearn_mlp", "steps_folded",
    "keras_multitask", "keras_timesteps", "keras_partitioned", "keras_masked", "keras_hierarchical",
};


/* The Keras network averaging two models' softmax outputs: its manifest
 * through smk_ensemble_load, the forward against Keras' predict. */
static void test_keras_ensemble(void) {
    tensor t[MAX_TENSORS];
    smk_ensemble *e = NULL;
    const smk_model *m0 = NULL;
    int n = read_fixture(DIR, "keras_ensemble", t), same = 1;
    int64_t heads = 0, members = 0, k;
    const char *name = NULL;
    tensor *x, *want;
    float *xf, *out;
    CHECK(n == 2);
    if (n != 2) return;
    CHECK_STATUS(smk_ensemble_load(DIR "keras_ensemble.ensemble.json", &e), SMK_OK);
    if (!e) return;
    CHECK_STATUS(smk_ensemble_model_count(e, &members), SMK_OK);
    CHECK(members == 2);
    CHECK_STATUS(smk_ensemble_model(e, 0, &m0), SMK_OK);
    CHECK_STATUS(smk_model_head_count(m0, &heads), SMK_OK);
    CHECK(heads == 1);
    CHECK_STATUS(smk_model_head_name(m0, 0, &name), SMK_OK);
    x = find(t, n, "x");
    want = &t[1];
    CHECK(x != NULL && name != NULL && strcmp(want->name + 4, name) == 0);
    xf = malloc(sizeof(float) * (size_t)x->count);
    out = malloc(sizeof(float) * (size_t)want->count);
    for (k = 0; k < x->count; k++) xf[k] = (float)x->values[k];
    CHECK_STATUS(smk_ensemble_forward(e, xf, x->shape[0], 1, x->shape[1], &out, 1), SMK_OK);
    for (k = 0; k < want->count; k++)
        if (fabs(out[k] - want->values[k]) > 1e-5) same = 0;
    CHECK(same);
    free(xf); free(out);
    for (k = 0; k < n; k++) free(t[k].values);
    smk_ensemble_free(e);
}


static void test_dot(void) {
    smk_model *m = NULL;
    int64_t size = -1, again = -1;
    char small[8], *text;
    CHECK_STATUS(smk_model_load(DIR "lstm_steps.safetensors", &m), SMK_OK);
    if (!m) return;
    CHECK_STATUS(smk_model_dot(m, NULL, 0, &size), SMK_OK);
    CHECK(size > 20);
    memset(small, 'z', sizeof small);
    CHECK_STATUS(smk_model_dot(m, small, sizeof small, &again), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(again == size);
    CHECK(small[0] == 'z' && small[7] == 'z');
    CHECK_STATUS(smk_model_dot(m, NULL, 4, &again), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_model_dot(m, small, -1, &again), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_model_dot(NULL, NULL, 0, &again), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_model_dot(m, NULL, 0, NULL), SMK_ERROR_NULL_POINTER);
    text = malloc((size_t)size);
    CHECK_STATUS(smk_model_dot(m, text, size, &again), SMK_OK);
    CHECK(again == size && text[size - 1] == 0 && (int64_t)strlen(text) == size - 1);
    CHECK(strncmp(text, "digraph model {", 15) == 0);
    CHECK(strstr(text, "lstm 8 -> 16") != NULL);
    CHECK(strstr(text, "[label=\"step 2\"]") != NULL);
    CHECK(strstr(text, "\"head:step0\"") != NULL);
    free(text);
    smk_model_free(m);
}

int main(void) {
    size_t i;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(DIR, CASES[i], 1e-5);
    test_keras_ensemble();
    test_dot();
    return check_summary("test_import");
}
