/* The example networks from C: loads each bundled model, runs it on its fixed
 * input (examples/models/NAME.input.npy) and prints the first rows of every
 * head, then a two-model ensemble. Run from the repository root. */
#include "softmaxkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a little-endian float32 .npy file (version 1 header) into a new
 * buffer; dims[0..*rank) receive the shape. Returns NULL on failure. */
static float *read_npy(const char *path, int64_t dims[3], int *rank) {
    unsigned char pre[10];
    char header[1024], *p;
    size_t len, count = 1;
    float *data;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fread(pre, 1, 10, f) != 10 || pre[0] != 0x93 || (len = (size_t)pre[8] | (size_t)pre[9] << 8) >= sizeof header
        || fread(header, 1, len, f) != len) { fclose(f); return NULL; }
    header[len] = 0;
    if (!strstr(header, "'<f4'") || !(p = strstr(header, "'shape': ("))) { fclose(f); return NULL; }
    p += strlen("'shape': (");
    for (*rank = 0; *rank < 3 && *p != ')'; ) {
        dims[*rank] = strtoll(p, &p, 10);
        count *= (size_t)dims[(*rank)++];
        while (*p == ',' || *p == ' ') p++;
    }
    data = malloc(count * sizeof *data);
    if (data && fread(data, sizeof *data, count, f) != count) { free(data); data = NULL; }
    fclose(f);
    return data;
}

static int run(const char *name) {
    char path[256];
    int64_t dims[3] = {0, 1, 0}, heads = 0, h, batch, steps, features;
    int rank = 0, r, j;
    float *x, *outs[8];
    smk_model *m = NULL;
    snprintf(path, sizeof path, "examples/models/%s.safetensors", name);
    if (smk_model_load(path, &m) != SMK_OK) { fprintf(stderr, "%s: %s\n", path, smk_last_error_message()); return 1; }
    snprintf(path, sizeof path, "examples/models/%s.input.npy", name);
    if (!(x = read_npy(path, dims, &rank))) { fprintf(stderr, "cannot read %s\n", path); smk_model_free(m); return 1; }
    batch = dims[0];
    steps = rank == 3 ? dims[1] : 1;
    features = dims[rank - 1];
    smk_model_head_count(m, &heads);
    printf("%s: input [%lld", name, (long long)batch);
    if (rank == 3) printf(", %lld", (long long)steps);
    printf(", %lld]\n", (long long)features);
    for (h = 0; h < heads && h < 8; h++) {
        int64_t size;
        smk_model_head_size(m, h, &size);
        outs[h] = malloc(sizeof(float) * (size_t)(batch * steps * size));
    }
    if (smk_model_forward(m, x, batch, steps, features, outs, heads) != SMK_OK) {
        fprintf(stderr, "%s: %s\n", name, smk_last_error_message());
        return 1;
    }
    for (h = 0; h < heads && h < 8; h++) {
        const char *head;
        int64_t size;
        smk_model_head_name(m, h, &head);
        smk_model_head_size(m, h, &size);
        for (r = 0; r < 2; r++) {
            printf("  %s[%d]:", head, r);
            for (j = 0; j < size; j++) printf(" %.4f", (double)outs[h][r * size + j]);
            printf("\n");
        }
        free(outs[h]);
    }
    free(x);
    smk_model_free(m);
    return 0;
}

/* The tagger: token ids (an int64 .npy file) through smk_model_forward_ids,
 * the second row with 4 valid steps (the rest padding: outputs exactly 0). */
static int run_tagger(void) {
    unsigned char pre[10];
    char header[1024];
    size_t len;
    int64_t ids[2 * 6], lengths[2] = {6, 4}, j;
    float tags[2 * 6 * 5], *outs[1];
    int t;
    smk_model *m = NULL;
    FILE *f = fopen("examples/models/tagger.input.npy", "rb");
    if (!f || fread(pre, 1, 10, f) != 10 || (len = (size_t)pre[8] | (size_t)pre[9] << 8) >= sizeof header
        || fread(header, 1, len, f) != len || (header[len] = 0, !strstr(header, "'<i8'"))
        || !strstr(header, "(2, 6)") || fread(ids, sizeof ids[0], 12, f) != 12) {
        fprintf(stderr, "cannot read examples/models/tagger.input.npy\n");
        if (f) fclose(f);
        return 1;
    }
    fclose(f);
    outs[0] = tags;
    if (smk_model_load("examples/models/tagger.safetensors", &m) != SMK_OK
        || smk_model_forward_ids(m, ids, 2, 6, lengths, outs, 1) != SMK_OK) {
        fprintf(stderr, "tagger: %s\n", smk_last_error_message());
        return 1;
    }
    printf("tagger: token ids [2, 6], lengths {6, 4}\n");
    for (t = 2; t < 6; t++) {
        printf("  tags[1, %d]:", t);
        for (j = 0; j < 5; j++) printf(" %.4f", (double)tags[(6 + t) * 5 + j]);
        printf("\n");
    }
    smk_model_free(m);
    return 0;
}

int main(void) {
    static const char *names[] = {"robot_arm", "masked", "hierarchical", "multitask", "timesteps", "digits", "controller"};
    smk_model *pair[2] = {NULL, NULL};
    smk_ensemble *e = NULL;
    int64_t dims[3], j;
    int rank, i;
    float *x, probs[8 * 5], *outs[1];
    for (i = 0; i < 7; i++) if (run(names[i])) return 1;
    if (run_tagger()) return 1;
    if (smk_model_load("examples/models/ensemble_a.safetensors", &pair[0]) != SMK_OK ||
        smk_model_load("examples/models/ensemble_b.safetensors", &pair[1]) != SMK_OK ||
        smk_ensemble_create((const smk_model *const *)pair, 2, SMK_ENSEMBLE_ARITHMETIC, &e) != SMK_OK) {
        fprintf(stderr, "ensemble: %s\n", smk_last_error_message());
        return 1;
    }
    /* The ensemble holds its own references: the models can go now. */
    smk_model_free(pair[0]);
    smk_model_free(pair[1]);
    x = read_npy("examples/models/ensemble_a.input.npy", dims, &rank);
    outs[0] = probs;
    if (!x || smk_ensemble_forward(e, x, dims[0], 1, dims[1], outs, 1) != SMK_OK) {
        fprintf(stderr, "ensemble forward: %s\n", smk_last_error_message());
        return 1;
    }
    printf("ensemble (mean of ensemble_a and ensemble_b):\n  probs[0]:");
    for (j = 0; j < 5; j++) printf(" %.4f", (double)probs[j]);
    printf("\n");
    /* A bad call is a status and a message, never a crash. */
    printf("wrong feature count: %s: %s\n",
           smk_status_string(smk_ensemble_forward(e, x, dims[0], 1, 11, outs, 1)), smk_last_error_message());
    free(x);
    smk_ensemble_free(e);
    return 0;
}
