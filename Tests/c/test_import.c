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

#define MAX_TENSORS 16
#define DIR "Tests/fixtures/import/"

typedef struct {
    char name[64];
    int64_t shape[4];
    int rank;
    int64_t count;
    double *values;
} tensor;

static const char *CASES[] = {
    "mlp_multihead", "mlp_gelu", "lstm_steps", "lstm_final", "gru_bidirectional", "embedding_tagger", "sklearn_mlp", "steps_folded",
};

/* Reads "name dtype dims..." + values lines; returns the tensor count. */
static int read_fixture(const char *name, tensor *t) {
    char path[256], line[256];
    int n = 0;
    FILE *f;
    snprintf(path, sizeof path, DIR "%s.txt", name);
    f = fopen(path, "r");
    if (!f) return -1;
    while (n < MAX_TENSORS && fgets(line, sizeof line, f)) {
        char dtype[8];
        int used = 0, off = 0;
        int64_t k;
        tensor *x = &t[n];
        if (sscanf(line, "%63s %7s%n", x->name, dtype, &off) != 2) break;
        x->rank = 0;
        x->count = 1;
        while (x->rank < 4) {
            long long d;
            if (sscanf(line + off, "%lld%n", &d, &used) != 1) break;
            x->shape[x->rank++] = d;
            x->count *= d;
            off += used;
        }
        x->values = malloc(sizeof(double) * (size_t)(x->count ? x->count : 1));
        for (k = 0; k < x->count; k++) {
            char word[64];
            if (fscanf(f, "%63s", word) != 1) break;
            x->values[k] = strcmp(word, "-inf") == 0 ? -INFINITY : strtod(word, NULL);
        }
        if (!fgets(line, sizeof line, f)) line[0] = 0; /* rest of the values line */
        n++;
    }
    fclose(f);
    return n;
}

static tensor *find(tensor *t, int n, const char *name) {
    int i;
    for (i = 0; i < n; i++) if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

static void run_case(const char *name) {
    tensor t[MAX_TENSORS];
    char path[256];
    smk_model *model = NULL;
    int n = read_fixture(name, t), i, ok = 1;
    int64_t heads = 0, h, k;
    tensor *x, *ids, *lens;
    float *outs[8] = {0};
    int64_t *len64 = NULL, *id64 = NULL;
    float *xf = NULL;
    smk_status st;
    CHECK(n > 0);
    if (n <= 0) return;
    snprintf(path, sizeof path, DIR "%s.safetensors", name);
    CHECK_STATUS(smk_model_load(path, &model), SMK_OK);
    if (!model) return;
    CHECK_STATUS(smk_model_head_count(model, &heads), SMK_OK);
    x = find(t, n, "x");
    ids = find(t, n, "ids");
    lens = find(t, n, "lengths");
    for (h = 0; h < heads && h < 8; h++) {
        const char *hn;
        char key[80];
        tensor *want;
        smk_model_head_name(model, h, &hn);
        snprintf(key, sizeof key, "out.%s", hn);
        want = find(t, n, key);
        CHECK(want != NULL);
        if (!want) { ok = 0; continue; }
        outs[h] = malloc(sizeof(float) * (size_t)want->count);
    }
    if (lens) {
        len64 = malloc(sizeof(int64_t) * (size_t)lens->count);
        for (k = 0; k < lens->count; k++) len64[k] = (int64_t)lens->values[k];
    }
    if (ids) {
        id64 = malloc(sizeof(int64_t) * (size_t)ids->count);
        for (k = 0; k < ids->count; k++) id64[k] = (int64_t)ids->values[k];
        st = smk_model_forward_ids(model, id64, ids->shape[0], ids->shape[1], len64, outs, heads);
    } else {
        xf = malloc(sizeof(float) * (size_t)x->count);
        for (k = 0; k < x->count; k++) xf[k] = (float)x->values[k];
        st = len64 ? smk_model_forward_lengths(model, xf, x->shape[0], x->shape[1], x->shape[2], len64, outs, heads)
                   : x->rank == 2 ? smk_model_forward(model, xf, x->shape[0], 1, x->shape[1], outs, heads)
                   : smk_model_forward(model, xf, x->shape[0], x->shape[1], x->shape[2], outs, heads);
    }
    CHECK_STATUS(st, SMK_OK);
    for (h = 0; h < heads && h < 8 && ok && st == SMK_OK; h++) {
        const char *hn;
        char key[80];
        tensor *want;
        int same = 1;
        smk_model_head_name(model, h, &hn);
        snprintf(key, sizeof key, "out.%s", hn);
        want = find(t, n, key);
        for (k = 0; k < want->count; k++) {
            double w = want->values[k], g = outs[h][k];
            if (isinf(w) ? g != w : fabs(g - w) > 1e-5) { same = 0; break; }
        }
        if (!same) fprintf(stderr, "%s head %s differs at %lld\n", name, hn, (long long)k);
        CHECK(same);
    }
    for (i = 0; i < 8; i++) free(outs[i]);
    for (i = 0; i < n; i++) free(t[i].values);
    free(len64); free(id64); free(xf);
    smk_model_free(model);
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
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(CASES[i]);
    test_dot();
    return check_summary("test_import");
}
