/* Models converted from ONNX by the Python importer (softmaxkit.from_onnx)
 * load and run unchanged from C: every converted file of
 * Tests/fixtures/import/ (written by Tests/fixtures/import/make_onnx_fixtures.py
 * from torch.onnx exports) against ONNX Runtime's outputs within 1e-5
 * absolute; then smk_model_dot's buffer convention and its graph. */
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
};


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
    test_dot();
    return check_summary("test_import");
}
