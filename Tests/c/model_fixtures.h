/* Model fixtures in text form for the C tests: a file of
 * "name dtype dims..." lines, each followed by a line of values, holding the
 * input ("x" floats or "ids", optional "lengths") and each head's expected
 * output ("out.HEAD"), beside NAME.safetensors. run_case loads the model,
 * runs the forward the fixture calls for and compares every head within
 * `tolerance` absolute (infinities exactly). Include after check.h. */
#ifndef SMK_TEST_MODEL_FIXTURES_H
#define SMK_TEST_MODEL_FIXTURES_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "softmaxkit.h"

#define MAX_TENSORS 16

typedef struct {
    char name[64];
    int64_t shape[4];
    int rank;
    int64_t count;
    double *values;
} tensor;

/* Reads "name dtype dims..." + values lines; returns the tensor count. */
static int read_fixture(const char *dir, const char *name, tensor *t) {
    char path[256], line[256];
    int n = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s%s.txt", dir, name);
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

static void run_case(const char *dir, const char *name, double tolerance) {
    tensor t[MAX_TENSORS];
    char path[256];
    smk_model *model = NULL;
    int n = read_fixture(dir, name, t), i, ok = 1;
    int64_t heads = 0, h, k;
    tensor *x, *ids, *lens;
    float *outs[8] = {0};
    int64_t *len64 = NULL, *id64 = NULL;
    float *xf = NULL;
    smk_status st;
    CHECK(n > 0);
    if (n <= 0) return;
    snprintf(path, sizeof path, "%s%s.safetensors", dir, name);
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
            if (isinf(w) ? g != w : fabs(g - w) > tolerance) { same = 0; break; }
        }
        if (!same) fprintf(stderr, "%s head %s differs at %lld\n", name, hn, (long long)k);
        CHECK(same);
    }
    for (i = 0; i < 8; i++) free(outs[i]);
    for (i = 0; i < n; i++) free(t[i].values);
    free(len64); free(id64); free(xf);
    smk_model_free(model);
}

#endif
