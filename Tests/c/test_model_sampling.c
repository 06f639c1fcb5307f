/* C client test of sampled model heads (smk_model_forward_sampled,
 * smk_model_step_sampled, smk_ensemble_forward_sampled): each sampled head
 * draws what smk_sample_f32 draws on the head's logits with row offset
 * h * 2^48 + row_offset and the head's temperature folded in; heads not
 * sampled are written as smk_model_forward writes them; the same draws on 2
 * threads; bad options, non-softmax heads, NULL tables and overlaps are
 * statuses with nothing written. Run from the repository root. */
#include "softmaxkit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum { F = 6, U = 12, N = 10, B = 37, HEADS = 3 };

static const char *SPEC =
    "{\"softmaxkit\": 1, \"input\": {\"features\": 6},"
    " \"layers\": [{\"name\": \"fc1\", \"input\": \"input\", \"activation\": \"tanh\"},"
    "              {\"name\": \"out\", \"input\": \"fc1\"}],"
    " \"heads\": [{\"name\": \"raw\", \"layer\": \"out\", \"output\": \"identity\"},"
    "            {\"name\": \"action\", \"layer\": \"out\", \"output\": \"softmax\", \"temperature\": 2},"
    "            {\"name\": \"gate\", \"layer\": \"out\", \"output\": \"sigmoid\"}]}";

static float next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(*s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static smk_model *build(void) {
    static float w1[U * F], b1[U], w2[N * U], b2[N];
    uint64_t s = 3;
    int i;
    smk_model_builder *b = NULL;
    smk_model *m = NULL;
    int64_t s1[2] = {U, F}, sb1[1] = {U}, s2[2] = {N, U}, sb2[1] = {N};
    for (i = 0; i < U * F; i++) w1[i] = next(&s);
    for (i = 0; i < U; i++) b1[i] = 0.5f * next(&s);
    for (i = 0; i < N * U; i++) w2[i] = 2 * next(&s);
    for (i = 0; i < N; i++) b2[i] = next(&s);
    CHECK_STATUS(smk_model_builder_create(SPEC, &b), SMK_OK);
    CHECK_STATUS(smk_model_builder_add_f32(b, "fc1.weight", w1, s1, 2), SMK_OK);
    CHECK_STATUS(smk_model_builder_add_f32(b, "fc1.bias", b1, sb1, 1), SMK_OK);
    CHECK_STATUS(smk_model_builder_add_f32(b, "out.weight", w2, s2, 2), SMK_OK);
    CHECK_STATUS(smk_model_builder_add_f32(b, "out.bias", b2, sb2, 1), SMK_OK);
    CHECK_STATUS(smk_model_builder_build(b, &m), SMK_OK);
    smk_model_builder_free(b);
    return m;
}

static float x[B * F];
static float raw[B * N], probs[B * N], gate[B * N];

static void test_equals_plain_sample(smk_model *m) {
    float out_raw[B * N], out_probs[B * N], out_gate[B * N], lp[B * 2], want_lp[B * 2];
    int64_t idx[B * 2], want[B * 2];
    smk_sample_options o;
    const smk_sample_options *opts[HEADS];
    float *outs[HEADS];
    int64_t *indices[HEADS];
    float *lps[HEADS];
    smk_sample_options_init(&o);
    o.temperature = 0.7; o.top_k = 6; o.top_p = 0.9; o.num_samples = 2; o.row_offset = 11;
    opts[0] = NULL; opts[1] = &o; opts[2] = NULL;
    outs[0] = out_raw; outs[1] = out_probs; outs[2] = out_gate;
    indices[0] = NULL; indices[1] = idx; indices[2] = NULL;
    lps[0] = NULL; lps[1] = lp; lps[2] = NULL;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 99, outs, indices, lps, HEADS), SMK_OK);
    CHECK(memcmp(out_raw, raw, sizeof raw) == 0);
    CHECK(memcmp(out_probs, probs, sizeof probs) == 0);  /* the sampled head's output too */
    CHECK(memcmp(out_gate, gate, sizeof gate) == 0);
    /* Head 1: temperature 0.7 * 2, stream rows from 2^48 + 11. */
    o.temperature = 0.7 * 2; o.row_offset = (UINT64_C(1) << 48) + 11;
    CHECK_STATUS(smk_sample_f32(raw, NULL, want, want_lp, B, N, 1, 0, &o, 99), SMK_OK);
    CHECK(memcmp(idx, want, sizeof want) == 0);
    CHECK(memcmp(lp, want_lp, sizeof want_lp) == 0);
}

struct job { smk_model *m; int64_t idx[B]; smk_status st; };

static void *run_job(void *arg) {
    struct job *j = arg;
    smk_sample_options o;
    const smk_sample_options *opts[HEADS];
    float r[B * N], g[B * N];
    float *outs[HEADS];
    int64_t *indices[HEADS];
    smk_sample_options_init(&o);
    opts[0] = NULL; opts[1] = &o; opts[2] = NULL;
    outs[0] = r; outs[1] = NULL; outs[2] = g;
    indices[0] = NULL; indices[1] = j->idx; indices[2] = NULL;
    j->st = smk_model_forward_sampled(j->m, x, B, 1, F, NULL, opts, 5, outs, indices, NULL, HEADS);
    return NULL;
}

static void test_threads(smk_model *m) {
    struct job a, b;
    pthread_t t;
    a.m = b.m = m;
    CHECK(pthread_create(&t, NULL, run_job, &a) == 0);
    run_job(&b);
    pthread_join(t, NULL);
    CHECK_STATUS(a.st, SMK_OK);
    CHECK_STATUS(b.st, SMK_OK);
    CHECK(memcmp(a.idx, b.idx, sizeof a.idx) == 0);
}

static void test_errors(smk_model *m) {
    float out_raw[B * N], out_gate[B * N];
    int64_t idx[B];
    smk_sample_options o, bad;
    const smk_sample_options *opts[HEADS];
    float *outs[HEADS];
    int64_t *indices[HEADS];
    int i;
    smk_sample_options_init(&o);
    for (i = 0; i < B; i++) idx[i] = 12345;
    outs[0] = out_raw; outs[1] = NULL; outs[2] = out_gate;
    indices[0] = NULL; indices[1] = idx; indices[2] = NULL;
    opts[0] = NULL; opts[1] = &o; opts[2] = NULL;
    memset(out_raw, 0x7f, sizeof out_raw);
    /* Not softmax-like: identity and sigmoid heads. */
    opts[0] = &o; indices[0] = idx;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_UNSUPPORTED);
    CHECK(strstr(smk_last_error_message(), "\"raw\"") != NULL);
    opts[0] = NULL; indices[0] = NULL;
    opts[2] = &o; indices[2] = idx; outs[1] = probs;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_UNSUPPORTED);
    opts[2] = NULL; indices[2] = NULL; outs[1] = NULL;
    /* Bad options name the head. */
    bad = o; bad.top_p = 0;
    opts[1] = &bad;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "action") != NULL);
    bad = o; bad.size = 8;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_INVALID_ARGUMENT);
    bad = o; bad.temperature = 1e308;  /* times the head's 2: not finite */
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_INVALID_ARGUMENT);
    bad = o; bad.num_samples = 11; bad.replacement = 0;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_INVALID_ARGUMENT);
    opts[1] = &o;
    /* A sampled head needs its index buffer; the tables their entries. */
    indices[1] = NULL;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_NULL_POINTER);
    indices[1] = idx;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, NULL, NULL, HEADS), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, 2), SMK_ERROR_SHAPE_MISMATCH);
    /* Indices overlapping another head's output. */
    indices[1] = (int64_t *)(void *)(out_raw + 4);
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, opts, 1, outs, indices, NULL, HEADS), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "overlap") != NULL);
    indices[1] = idx;
    /* Nothing was written by any refused call. */
    for (i = 0; i < B; i++) CHECK(idx[i] == 12345);
    {
        unsigned char want[sizeof out_raw];
        memset(want, 0x7f, sizeof want);
        CHECK(memcmp(out_raw, want, sizeof want) == 0);
    }
    /* Nothing sampled: the tables may be NULL and the call is a forward. */
    outs[1] = probs;
    CHECK_STATUS(smk_model_forward_sampled(m, x, B, 1, F, NULL, NULL, 1, outs, NULL, NULL, HEADS), SMK_OK);
    CHECK(memcmp(out_raw, raw, sizeof raw) == 0);
}

static void test_step_and_ensemble(smk_model *m) {
    smk_model_state *st = NULL;
    smk_ensemble *e = NULL;
    const smk_model *members[2];
    smk_sample_options o;
    const smk_sample_options *opts[HEADS];
    float r[B * N], g[B * N], p[B * N], logp[B * N];
    float *outs[HEADS];
    int64_t idx[B], want[B];
    int64_t *indices[HEADS];
    int i;
    smk_sample_options_init(&o);
    o.row_offset = 3;
    opts[0] = NULL; opts[1] = &o; opts[2] = NULL;
    outs[0] = r; outs[1] = p; outs[2] = g;
    indices[0] = NULL; indices[1] = idx; indices[2] = NULL;
    CHECK_STATUS(smk_model_state_create(m, B, &st), SMK_OK);
    CHECK_STATUS(smk_model_step_sampled(m, st, x, B, F, opts, 8, outs, indices, NULL, HEADS), SMK_OK);
    o.temperature = 2; o.row_offset = (UINT64_C(1) << 48) + 3;
    CHECK_STATUS(smk_sample_f32(raw, NULL, want, NULL, B, N, 1, 0, &o, 8), SMK_OK);
    CHECK(memcmp(idx, want, sizeof want) == 0);
    smk_model_state_free(st);
    /* An ensemble of the model with itself: the log of the averaged output. */
    members[0] = m; members[1] = m;
    CHECK_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_ARITHMETIC, &e), SMK_OK);
    smk_sample_options_init(&o);
    CHECK_STATUS(smk_ensemble_forward_sampled(e, x, B, 1, F, opts, 8, outs, indices, NULL, HEADS), SMK_OK);
    for (i = 0; i < B * N; i++) logp[i] = logf(p[i]);
    o.row_offset = UINT64_C(1) << 48;
    CHECK_STATUS(smk_sample_f32(logp, NULL, want, NULL, B, N, 1, 0, &o, 8), SMK_OK);
    CHECK(memcmp(idx, want, sizeof want) == 0);
    /* Unsupported heads of an ensemble too. */
    opts[2] = &o; indices[2] = want;
    CHECK_STATUS(smk_ensemble_forward_sampled(e, x, B, 1, F, opts, 8, outs, indices, NULL, HEADS), SMK_ERROR_UNSUPPORTED);
    smk_ensemble_free(e);
}

int main(void) {
    smk_model *m = build();
    uint64_t s = 17;
    float *outs[HEADS];
    int i;
    for (i = 0; i < B * F; i++) x[i] = 2 * next(&s);
    outs[0] = raw; outs[1] = probs; outs[2] = gate;
    CHECK_STATUS(smk_model_forward(m, x, B, 1, F, outs, HEADS), SMK_OK);
    test_equals_plain_sample(m);
    test_threads(m);
    test_errors(m);
    test_step_and_ensemble(m);
    smk_model_free(m);
    return check_summary("test_model_sampling");
}
