/* C client test of ensembles sampled over sequences
 * (smk_ensemble_forward_lengths_sampled, smk_ensemble_forward_ids_sampled,
 * smk_ensemble_step_sampled: each draw equals smk_sample_f32 on the log of
 * the ensemble's output with row offset h * 2^48 + row_offset, padding and
 * heads not ready give -1), ensembles on disk (smk_ensemble_save / _load /
 * _padding_id / _model_count / _get_mode, hostile manifests as statuses) and
 * smk_ensemble_dot. Run from the repository root. */
#include "softmaxkit.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

enum { B = 3, T = 5, F = 4, MAXW = 16 };

/* A scratch folder from mkdtemp, and paths inside it (four at a time). */
static char dir[64] = "/tmp/smk-ensemble-files-XXXXXX";

static const char *P(const char *name) {
    static char paths[4][256];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(paths[k], sizeof paths[k], "%s/%s", dir, name);
    return paths[k];
}

static smk_model *load(const char *name) {
    char path[256];
    smk_model *m = NULL;
    snprintf(path, sizeof path, "Tests/fixtures/recurrent/%s.safetensors", name);
    CHECK_STATUS(smk_model_load(path, &m), SMK_OK);
    return m;
}

static int64_t head_size(const smk_ensemble *e, int64_t h) {
    const smk_model *m = NULL;
    int64_t size = 0;
    CHECK_STATUS(smk_ensemble_model(e, 0, &m), SMK_OK);
    CHECK_STATUS(smk_model_head_size(m, h, &size), SMK_OK);
    return size;
}

/* draws[r] == smk_sample_f32 on log(values) (rows x n) at stream rows
 * h * 2^48 + offset + r, -1 where valid[r] is 0. */
static int same_draws(const float *values, int64_t rows, int64_t n, int64_t h, uint64_t offset, uint64_t seed,
                      const int64_t *draws, const int *valid, int is_log) {
    float *z = malloc((size_t)(rows * n) * sizeof *z);
    int64_t *want = malloc((size_t)rows * sizeof *want);
    smk_sample_options o;
    int64_t i;
    int ok = 1;
    for (i = 0; i < rows * n; i++) z[i] = is_log ? values[i] : logf(values[i]);
    smk_sample_options_init(&o);
    o.row_offset = ((uint64_t)h << 48) + offset;
    if (smk_sample_f32(z, NULL, want, NULL, rows, n, 1, 0, &o, seed) != SMK_OK) ok = 0;
    for (i = 0; i < rows; i++) {
        int64_t w = valid == NULL || valid[i] ? want[i] : -1;
        if (draws[i] != w) ok = 0;
    }
    free(z);
    free(want);
    return ok;
}

static void test_lengths(smk_ensemble *e) {
    static float x[B * T * F], probs[B * T * MAXW], logp[B * T * MAXW], raw[B * T * MAXW], raw2[B * T * MAXW];
    int64_t lengths[B] = {5, 2, 0};
    int64_t ip[B * T], il[B * T];
    int valid[B * T];
    float *outs[3], *souts[3];
    int64_t *indices[3];
    smk_sample_options o, ol;
    const smk_sample_options *opts[3];
    int64_t n = head_size(e, 0), i;
    uint64_t s = 5;
    for (i = 0; i < B * T * F; i++) { s = s * 6364136223846793005ULL + 1; x[i] = (float)((int64_t)(s >> 40) % 200 - 100) / 50; }
    for (i = 0; i < B * T; i++) valid[i] = (i % T) < lengths[i / T];
    outs[0] = probs; outs[1] = logp; outs[2] = raw;
    CHECK_STATUS(smk_ensemble_forward_lengths(e, x, B, T, F, lengths, outs, 3), SMK_OK);
    smk_sample_options_init(&o);
    smk_sample_options_init(&ol);
    ol.row_offset = 7;
    opts[0] = &o; opts[1] = &ol; opts[2] = NULL;
    souts[0] = NULL; souts[1] = NULL; souts[2] = raw2;
    indices[0] = ip; indices[1] = il; indices[2] = NULL;
    CHECK_STATUS(smk_ensemble_forward_lengths_sampled(e, x, B, T, F, lengths, opts, 11, souts, indices, NULL, 3), SMK_OK);
    CHECK(same_draws(probs, B * T, n, 0, 0, 11, ip, valid, 0));
    CHECK(same_draws(logp, B * T, n, 1, 7, 11, il, valid, 1));
    CHECK(memcmp(raw, raw2, (size_t)(B * T * n) * sizeof(float)) == 0);
    CHECK(ip[T + 2] == -1 && ip[2 * T] == -1);
    /* Without lengths: every row runs all steps. */
    CHECK_STATUS(smk_ensemble_forward(e, x, B, T, F, outs, 3), SMK_OK);
    CHECK_STATUS(smk_ensemble_forward_lengths_sampled(e, x, B, T, F, NULL, opts, 11, souts, indices, NULL, 3), SMK_OK);
    CHECK(same_draws(probs, B * T, n, 0, 0, 11, ip, NULL, 0));
    /* Refused: an identity head, a length beyond the steps, ids to floats. */
    opts[2] = &o; indices[2] = il;
    CHECK_STATUS(smk_ensemble_forward_lengths_sampled(e, x, B, T, F, lengths, opts, 11, souts, indices, NULL, 3),
                 SMK_ERROR_UNSUPPORTED);
    opts[2] = NULL;
    lengths[0] = T + 1;
    CHECK_STATUS(smk_ensemble_forward_lengths_sampled(e, x, B, T, F, lengths, opts, 11, souts, indices, NULL, 3),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_ensemble_forward_ids_sampled(e, ip, B, T, NULL, opts, 11, souts, indices, NULL, 3),
                 SMK_ERROR_INVALID_ARGUMENT);
}

static void test_step(smk_ensemble *e) {
    static float x[B * F], probs[B * MAXW], logp[B * MAXW], raw[B * MAXW];
    smk_model_state *st = NULL, *ref = NULL;
    float *outs[3], *souts[3];
    int64_t ip[B], *indices[3];
    smk_sample_options o;
    const smk_sample_options *opts[3];
    int64_t n = head_size(e, 0), i, t;
    CHECK_STATUS(smk_ensemble_state_create(e, B, &st), SMK_OK);
    CHECK_STATUS(smk_ensemble_state_create(e, B, &ref), SMK_OK);
    smk_sample_options_init(&o);
    opts[0] = &o; opts[1] = NULL; opts[2] = NULL;
    outs[0] = probs; outs[1] = logp; outs[2] = raw;
    souts[0] = NULL; souts[1] = logp; souts[2] = raw;
    indices[0] = ip; indices[1] = NULL; indices[2] = NULL;
    for (t = 0; t < 3; t++) {
        for (i = 0; i < B * F; i++) x[i] = (float)((i * 7 + t * 3) % 11) / 5 - 1;
        o.row_offset = (uint64_t)(t * B);
        CHECK_STATUS(smk_ensemble_step(e, ref, x, B, F, outs, 3), SMK_OK);
        CHECK_STATUS(smk_ensemble_step_sampled(e, st, x, B, F, opts, 4, souts, indices, NULL, 3), SMK_OK);
        CHECK(same_draws(probs, B, n, 0, (uint64_t)(t * B), 4, ip, NULL, 0));
    }
    /* A bad option: refused before the state moves. */
    o.top_p = 2;
    CHECK_STATUS(smk_ensemble_step_sampled(e, st, x, B, F, opts, 4, souts, indices, NULL, 3), SMK_ERROR_INVALID_ARGUMENT);
    smk_model_state_free(ref);
    /* Another batch, no state: refused. */
    CHECK_STATUS(smk_ensemble_step_sampled(e, st, x, B - 1, F, opts, 4, souts, indices, NULL, 3), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_ensemble_step_sampled(e, NULL, x, B, F, opts, 4, souts, indices, NULL, 3), SMK_ERROR_NULL_POINTER);
    smk_model_state_free(st);
}

static void test_ids(void) {
    smk_model *m = load("tagger");
    const smk_model *members[2];
    smk_ensemble *e = NULL;
    int64_t ids[B * T], lengths[B] = {5, 3, 1}, idx[B * T], *indices[1];
    float tags[B * T * MAXW], *outs[1];
    int valid[B * T];
    smk_sample_options o;
    const smk_sample_options *opts[1];
    int64_t i, n;
    members[0] = m; members[1] = m;
    CHECK_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_GEOMETRIC, &e), SMK_OK);
    n = head_size(e, 0);
    for (i = 0; i < B * T; i++) { ids[i] = (i * 5) % 11; valid[i] = (i % T) < lengths[i / T]; }
    outs[0] = tags;
    CHECK_STATUS(smk_ensemble_forward_ids(e, ids, B, T, lengths, outs, 1), SMK_OK);
    smk_sample_options_init(&o);
    opts[0] = &o; indices[0] = idx;
    CHECK_STATUS(smk_ensemble_forward_ids_sampled(e, ids, B, T, lengths, opts, 2, NULL, indices, NULL, 1),
                 SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_ensemble_forward_ids_sampled(e, ids, B, T, lengths, opts, 2, outs, indices, NULL, 1), SMK_OK);
    CHECK(same_draws(tags, B * T, n, 0, 0, 2, idx, valid, 0));
    ids[3] = 11;
    CHECK_STATUS(smk_ensemble_forward_ids_sampled(e, ids, B, T, lengths, opts, 2, outs, indices, NULL, 1),
                 SMK_ERROR_INVALID_ARGUMENT);
    ids[3] = (3 * 5) % 11;
    /* Saved with a padding id, loaded back with it. */
    CHECK_STATUS(smk_ensemble_save(e, P("ids.ensemble.json"), 11), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_ensemble_save(e, P("ids.ensemble.json"), -2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_ensemble_save(e, P("ids.ensemble.json"), 0), SMK_OK);
    {
        smk_ensemble *again = NULL;
        int64_t pad = -5, count = 0;
        int32_t mode = -1;
        float tags2[B * T * MAXW], *outs2[1];
        outs2[0] = tags2;
        CHECK_STATUS(smk_ensemble_load(P("ids.ensemble.json"), &again), SMK_OK);
        CHECK_STATUS(smk_ensemble_padding_id(again, &pad), SMK_OK);
        CHECK_STATUS(smk_ensemble_model_count(again, &count), SMK_OK);
        CHECK_STATUS(smk_ensemble_get_mode(again, &mode), SMK_OK);
        CHECK(pad == 0 && count == 2 && mode == SMK_ENSEMBLE_GEOMETRIC);
        CHECK_STATUS(smk_ensemble_forward_ids(again, ids, B, T, lengths, outs2, 1), SMK_OK);
        CHECK(memcmp(tags, tags2, (size_t)(B * T * n) * sizeof(float)) == 0);
        CHECK(access(P("ids.member1.safetensors"), R_OK) == 0);
        smk_ensemble_free(again);
    }
    CHECK_STATUS(smk_ensemble_padding_id(e, &i), SMK_OK);
    CHECK(i == -1);
    smk_ensemble_free(e);
    smk_model_free(m);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) { fputs(text, f); fclose(f); }
}

static void test_files_and_dot(smk_ensemble *e) {
    smk_ensemble *got = NULL;
    int64_t size = 0, pad = 0;
    char *dot;
    CHECK_STATUS(smk_ensemble_save(e, P("f.json"), -1), SMK_OK);
    CHECK_STATUS(smk_ensemble_save(e, P("f.json"), 0), SMK_ERROR_INVALID_ARGUMENT); /* float input */
    CHECK_STATUS(smk_ensemble_save(NULL, P("f.json"), -1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_ensemble_save(e, "no/such/folder/f.json", -1), SMK_ERROR_IO);
    CHECK_STATUS(smk_ensemble_load(P("f.json"), &got), SMK_OK);
    CHECK_STATUS(smk_ensemble_padding_id(got, &pad), SMK_OK);
    CHECK(pad == -1);
    smk_ensemble_free(got);
    got = NULL;
    /* Hostile manifests: statuses, the handle untouched. */
    write_text(P("up.json"), "{\"softmaxkit_ensemble\": 1, \"members\": [\"../f.member0.safetensors\"]}");
    CHECK_STATUS(smk_ensemble_load(P("up.json"), &got), SMK_ERROR_FORMAT);
    CHECK(strstr(smk_last_error_message(), "leaves the manifest's folder") != NULL);
    write_text(P("abs.json"), "{\"softmaxkit_ensemble\": 1, \"members\": [\"/dev/zero\"]}");
    CHECK_STATUS(smk_ensemble_load(P("abs.json"), &got), SMK_ERROR_FORMAT);
    write_text(P("gone.json"), "{\"softmaxkit_ensemble\": 1, \"members\": [\"f.member0.safetensors\", \"gone.safetensors\"]}");
    CHECK_STATUS(smk_ensemble_load(P("gone.json"), &got), SMK_ERROR_IO);
    CHECK(strstr(smk_last_error_message(), "members[1] \"gone.safetensors\"") != NULL);
    write_text(P("mix.json"), "{\"softmaxkit_ensemble\": 1, \"members\": [\"f.member0.safetensors\", \"ids.member0.safetensors\"]}");
    CHECK_STATUS(smk_ensemble_load(P("mix.json"), &got), SMK_ERROR_SHAPE_MISMATCH);
    unlink(P("fifo.json"));
    CHECK(mkfifo(P("fifo.json"), 0600) == 0);
    CHECK_STATUS(smk_ensemble_load(P("fifo.json"), &got), SMK_ERROR_IO);
    CHECK_STATUS(smk_ensemble_load(dir, &got), SMK_ERROR_IO);
    CHECK_STATUS(smk_ensemble_load(NULL, &got), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_ensemble_load(P("f.json"), NULL), SMK_ERROR_NULL_POINTER);
    CHECK(got == NULL);
    /* DOT: size query, the text, a short buffer. */
    CHECK_STATUS(smk_ensemble_dot(e, NULL, 0, &size), SMK_OK);
    CHECK(size > 100);
    dot = malloc((size_t)size);
    CHECK_STATUS(smk_ensemble_dot(e, dot, size - 1, &size), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_ensemble_dot(e, dot, size, &size), SMK_OK);
    CHECK(strncmp(dot, "digraph ensemble {", 18) == 0 && (int64_t)strlen(dot) == size - 1);
    CHECK(strstr(dot, "subgraph cluster_member1 {") != NULL);
    CHECK(strstr(dot, "\"m1:head:probs\" -> \"ensemble:probs\";") != NULL);
    free(dot);
}

static void test_padding(void) {
    const int64_t ids[12] = {3, 4, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0};
    int64_t lengths[3] = {-9, -9, -9}, pad = 5;
    smk_model *m = load("tagger");
    CHECK_STATUS(smk_padding_lengths(ids, 3, 4, 0, lengths), SMK_OK);
    CHECK(lengths[0] == 2 && lengths[1] == 4 && lengths[2] == 0);
    CHECK_STATUS(smk_padding_lengths(ids, 2, 6, 0, lengths), SMK_ERROR_INVALID_ARGUMENT); /* 0 inside row 0 */
    CHECK(strstr(smk_last_error_message(), "ids[0, 2] is the padding id 0") != NULL);
    CHECK_STATUS(smk_padding_lengths(ids, 3, 4, -1, lengths), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_padding_lengths(NULL, 3, 4, 0, lengths), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_padding_lengths(ids, 3, 4, 0, (int64_t *)ids + 1), SMK_ERROR_INVALID_ARGUMENT); /* overlap */
    CHECK_STATUS(smk_model_padding_id(m, &pad), SMK_OK);
    CHECK(pad == -1); /* the tagger's spec holds none */
    CHECK_STATUS(smk_model_padding_id(NULL, &pad), SMK_ERROR_NULL_POINTER);
    smk_model_free(m);
}

int main(void) {
    smk_model *a = load("lstm_l1_uni_seq"), *b = load("lstm_l1_uni_seq");
    const smk_model *members[2];
    smk_ensemble *e = NULL;
    if (mkdtemp(dir) == NULL) { perror("mkdtemp"); return 1; }
    members[0] = a; members[1] = b;
    CHECK_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_ARITHMETIC, &e), SMK_OK);
    CHECK(head_size(e, 0) <= MAXW);
    test_lengths(e);
    test_step(e);
    test_ids();
    test_files_and_dot(e);
    test_padding();
    smk_ensemble_free(e);
    smk_model_free(a);
    smk_model_free(b);
    {
        static const char *names[] = {"abs.json", "f.json", "f.member0.safetensors", "f.member1.safetensors",
                                      "fifo.json", "gone.json", "ids.ensemble.json", "ids.member0.safetensors",
                                      "ids.member1.safetensors", "mix.json", "up.json"};
        size_t k;
        for (k = 0; k < sizeof names / sizeof names[0]; k++) unlink(P(names[k]));
        rmdir(dir);
    }
    return check_summary("test_ensemble_files");
}
