/* Typed model forwards from C (smk_model_forward_typed, smk_model_step_typed,
 * smk_ensemble_forward_typed, smk_ensemble_step_typed): a float16 / bfloat16
 * input gives bit for bit the float32 outputs of its widening, half outputs
 * are bit for bit the float32 outputs rounded (smk_half_from_float_*), on a
 * dense model, a multi-head one, a sequence model with lengths, streaming
 * steps and ensembles; bad dtypes, NULLs, overlaps and counts are refused
 * with nothing written. */
#include "softmaxkit.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define MAXH 8

typedef struct {
    int64_t heads, counts[MAXH];
} shapes;

static shapes head_counts(const smk_model *m, int64_t batch, int64_t steps) {
    shapes s;
    int64_t h;
    CHECK_STATUS(smk_model_head_count(m, &s.heads), SMK_OK);
    for (h = 0; h < s.heads && h < MAXH; h++) {
        int64_t size;
        int32_t per;
        CHECK_STATUS(smk_model_head_size(m, h, &size), SMK_OK);
        CHECK_STATUS(smk_model_head_per_step(m, h, &per), SMK_OK);
        s.counts[h] = (per ? batch * steps : batch) * size;
    }
    return s;
}

static uint32_t lcg = 12345;
static float next_value(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return ((float)(lcg >> 8) / 16777216.0f - 0.5f) * 6.0f;
}

/* n half values of `dtype` (F16 / BF16) in h and their exact widening in f. */
static void half_input(smk_dtype dtype, int64_t n, uint16_t *h, float *f) {
    int64_t i;
    for (i = 0; i < n; i++) f[i] = next_value();
    if (dtype == SMK_DTYPE_F16) {
        CHECK_STATUS(smk_half_from_float_f16(f, (smk_f16 *)h, n), SMK_OK);
        CHECK_STATUS(smk_half_to_float_f16((const smk_f16 *)h, f, n), SMK_OK);
    } else {
        CHECK_STATUS(smk_half_from_float_bf16(f, (smk_bf16 *)h, n), SMK_OK);
        CHECK_STATUS(smk_half_to_float_bf16((const smk_bf16 *)h, f, n), SMK_OK);
    }
}

static void round_half(smk_dtype dtype, const float *f, uint16_t *h, int64_t n) {
    if (dtype == SMK_DTYPE_F16) CHECK_STATUS(smk_half_from_float_f16(f, (smk_f16 *)h, n), SMK_OK);
    else CHECK_STATUS(smk_half_from_float_bf16(f, (smk_bf16 *)h, n), SMK_OK);
}

/* One model or ensemble (exactly one non-NULL), batch x steps (lengths or
 * NULL): the three half forms against the float32 forward. */
static void check_forward(const smk_model *model, const smk_ensemble *ens, const smk_model *heads_of,
                          smk_dtype xt, smk_dtype ot, int64_t batch, int64_t steps, const int64_t *lengths) {
    int64_t feats, n, h;
    shapes s;
    uint16_t *xh;
    float *xf;
    float *want[MAXH], *gotf[MAXH];
    uint16_t *goth[MAXH], *ref[MAXH];
    CHECK_STATUS(smk_model_input_features(heads_of, &feats), SMK_OK);
    s = head_counts(heads_of, batch, steps);
    n = batch * steps * feats;
    xh = malloc((size_t)(n + 1) * 2);
    xf = malloc((size_t)(n + 1) * 4);
    half_input(xt, n, xh, xf);
    for (h = 0; h < s.heads; h++) {
        want[h] = malloc((size_t)(s.counts[h] + 1) * 4);
        gotf[h] = malloc((size_t)(s.counts[h] + 1) * 4);
        goth[h] = malloc((size_t)(s.counts[h] + 1) * 2);
        ref[h] = malloc((size_t)(s.counts[h] + 1) * 2);
    }
    if (model) {
        CHECK_STATUS(smk_model_forward_lengths(model, xf, batch, steps, feats, lengths, want, s.heads), SMK_OK);
        CHECK_STATUS(smk_model_forward_typed(model, xh, xt, batch, steps, feats, lengths, (void *const *)gotf,
                                             SMK_DTYPE_F32, s.heads), SMK_OK);
    } else {
        CHECK_STATUS(smk_ensemble_forward_lengths(ens, xf, batch, steps, feats, lengths, want, s.heads), SMK_OK);
        CHECK_STATUS(smk_ensemble_forward_typed(ens, xh, xt, batch, steps, feats, lengths, (void *const *)gotf,
                                                SMK_DTYPE_F32, s.heads), SMK_OK);
    }
    for (h = 0; h < s.heads; h++) {
        CHECK(memcmp(want[h], gotf[h], (size_t)s.counts[h] * 4) == 0);
        round_half(ot, want[h], ref[h], s.counts[h]);
    }
    /* float32 input, half outputs; then half input, half outputs. */
    if (model) CHECK_STATUS(smk_model_forward_typed(model, xf, SMK_DTYPE_F32, batch, steps, feats, lengths,
                                                    (void *const *)goth, ot, s.heads), SMK_OK);
    else CHECK_STATUS(smk_ensemble_forward_typed(ens, xf, SMK_DTYPE_F32, batch, steps, feats, lengths,
                                                 (void *const *)goth, ot, s.heads), SMK_OK);
    for (h = 0; h < s.heads; h++) CHECK(memcmp(ref[h], goth[h], (size_t)s.counts[h] * 2) == 0);
    for (h = 0; h < s.heads; h++) memset(goth[h], 0, (size_t)s.counts[h] * 2);
    if (model) CHECK_STATUS(smk_model_forward_typed(model, xh, xt, batch, steps, feats, lengths,
                                                    (void *const *)goth, ot, s.heads), SMK_OK);
    else CHECK_STATUS(smk_ensemble_forward_typed(ens, xh, xt, batch, steps, feats, lengths,
                                                 (void *const *)goth, ot, s.heads), SMK_OK);
    for (h = 0; h < s.heads; h++) CHECK(memcmp(ref[h], goth[h], (size_t)s.counts[h] * 2) == 0);
    for (h = 0; h < s.heads; h++) { free(want[h]); free(gotf[h]); free(goth[h]); free(ref[h]); }
    free(xh);
    free(xf);
}

static smk_model *load(const char *path) {
    smk_model *m = NULL;
    CHECK_STATUS(smk_model_load(path, &m), SMK_OK);
    return m;
}

static void test_steps(void) {
    smk_model *m = load("Tests/fixtures/recurrent/lstm_l1_uni_seq.safetensors");
    smk_ensemble *e = NULL;
    smk_model_state *a = NULL, *b = NULL, *ea = NULL, *eb = NULL;
    const smk_model *pair[2];
    int64_t feats, t, h;
    shapes s;
    if (!m) return;
    pair[0] = m; pair[1] = m;
    CHECK_STATUS(smk_ensemble_create(pair, 2, SMK_ENSEMBLE_GEOMETRIC, &e), SMK_OK);
    CHECK_STATUS(smk_model_input_features(m, &feats), SMK_OK);
    s = head_counts(m, 2, 1);
    CHECK_STATUS(smk_model_state_create(m, 2, &a), SMK_OK);
    CHECK_STATUS(smk_model_state_create(m, 2, &b), SMK_OK);
    CHECK_STATUS(smk_ensemble_state_create(e, 2, &ea), SMK_OK);
    CHECK_STATUS(smk_ensemble_state_create(e, 2, &eb), SMK_OK);
    for (t = 0; t < 5; t++) {
        uint16_t xh[64], goth[MAXH][64], ref[64];
        float xf[64], want[MAXH][64], gotf[MAXH][64];
        float *wp[MAXH], *gp[MAXH];
        uint16_t *hp[MAXH];
        for (h = 0; h < s.heads; h++) { wp[h] = want[h]; gp[h] = gotf[h]; hp[h] = goth[h]; }
        half_input(SMK_DTYPE_BF16, 2 * feats, xh, xf);
        CHECK_STATUS(smk_model_step(m, a, xf, 2, feats, wp, s.heads), SMK_OK);
        CHECK_STATUS(smk_model_step_typed(m, b, xh, SMK_DTYPE_BF16, 2, feats, (void *const *)hp, SMK_DTYPE_F16, s.heads), SMK_OK);
        for (h = 0; h < s.heads; h++) {
            round_half(SMK_DTYPE_F16, want[h], ref, s.counts[h]);
            CHECK(memcmp(ref, goth[h], (size_t)s.counts[h] * 2) == 0);
        }
        CHECK_STATUS(smk_ensemble_step(e, ea, xf, 2, feats, wp, s.heads), SMK_OK);
        CHECK_STATUS(smk_ensemble_step_typed(e, eb, xh, SMK_DTYPE_BF16, 2, feats, (void *const *)gp, SMK_DTYPE_F32, s.heads), SMK_OK);
        for (h = 0; h < s.heads; h++) CHECK(memcmp(want[h], gotf[h], (size_t)s.counts[h] * 4) == 0);
    }
    /* A model's state refused by the ensemble's step and the reverse. */
    {
        uint16_t xh[64], out[MAXH][64];
        uint16_t *op[MAXH];
        for (h = 0; h < s.heads; h++) op[h] = out[h];
        memset(xh, 0, sizeof xh);
        CHECK_STATUS(smk_ensemble_step_typed(e, a, xh, SMK_DTYPE_F16, 2, feats, (void *const *)op, SMK_DTYPE_F16, s.heads),
                     SMK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(smk_model_step_typed(m, ea, xh, SMK_DTYPE_F16, 2, feats, (void *const *)op, SMK_DTYPE_F16, s.heads),
                     SMK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(smk_model_step_typed(m, a, xh, SMK_DTYPE_F64, 2, feats, (void *const *)op, SMK_DTYPE_F16, s.heads),
                     SMK_ERROR_INVALID_ARGUMENT);
    }
    smk_model_state_free(a);
    smk_model_state_free(b);
    smk_model_state_free(ea);
    smk_model_state_free(eb);
    smk_ensemble_free(e);
    smk_model_free(m);
}

static void test_refusals(void) {
    smk_model *m = load("examples/models/multitask.safetensors");
    smk_model *tagger = load("examples/models/tagger.safetensors");
    int64_t feats, h, total = 0, at;
    shapes s;
    uint16_t *block, *before;
    void *outs[MAXH];
    if (!m || !tagger) return;
    CHECK_STATUS(smk_model_input_features(m, &feats), SMK_OK);
    s = head_counts(m, 2, 1);
    for (h = 0; h < s.heads; h++) total += s.counts[h];
    block = calloc((size_t)(2 * feats + total + 8), 2);
    before = malloc((size_t)(2 * feats + total + 8) * 2);
    memset(block, 0x3c, (size_t)(2 * feats + total + 8) * 2);
    at = 2 * feats;
    for (h = 0; h < s.heads; h++) { outs[h] = block + at; at += s.counts[h]; }
    memcpy(before, block, (size_t)(2 * feats + total + 8) * 2);
#define UNCHANGED() CHECK(memcmp(before, block, (size_t)(2 * feats + total + 8) * 2) == 0)
    /* Bad dtypes: F64 and values outside the enum, on either side. */
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F64, 2, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_INVALID_ARGUMENT);
    UNCHANGED();
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_F64, s.heads),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_model_forward_typed(m, block, (smk_dtype)7, 2, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_BF16, 2, 1, feats, NULL, outs, (smk_dtype)-1, s.heads),
                 SMK_ERROR_INVALID_ARGUMENT);
    UNCHANGED();
    /* NULLs, counts, features, negative sizes. */
    CHECK_STATUS(smk_model_forward_typed(NULL, block, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_model_forward_typed(m, NULL, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, NULL, NULL, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads - 1),
                 SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats + 1, NULL, outs, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, -1, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads),
                 SMK_ERROR_INVALID_ARGUMENT);
    UNCHANGED();
    /* The first output starting on x's last half element; two outputs overlapping. */
    outs[0] = block + 2 * feats - 1;
    CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_BF16, s.heads),
                 SMK_ERROR_INVALID_ARGUMENT);
    UNCHANGED();
    outs[0] = block + 2 * feats;
    if (s.heads > 1) {
        outs[1] = (uint16_t *)outs[0] + s.counts[0] - 1;
        CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_F16, s.heads),
                     SMK_ERROR_INVALID_ARGUMENT);
        UNCHANGED();
        outs[1] = (uint16_t *)outs[0] + s.counts[0];
    }
    /* Float32 outputs over half x: the spans count 4-byte elements. */
    if (s.heads > 1) {
        CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, NULL, outs, SMK_DTYPE_F32, s.heads),
                     SMK_ERROR_INVALID_ARGUMENT);
        UNCHANGED();
    }
    /* A length outside [0, steps]. */
    {
        int64_t bad[2] = {1, 2};
        CHECK_STATUS(smk_model_forward_typed(m, block, SMK_DTYPE_F16, 2, 1, feats, bad, outs, SMK_DTYPE_F16, s.heads),
                     SMK_ERROR_INVALID_ARGUMENT);
        UNCHANGED();
    }
    /* A model of token ids takes no float input. */
    {
        shapes st = head_counts(tagger, 1, 1);
        uint16_t x[4] = {0, 0, 0, 0}, o[MAXH][256];
        void *op[MAXH];
        for (h = 0; h < st.heads; h++) op[h] = o[h];
        CHECK_STATUS(smk_model_forward_typed(tagger, x, SMK_DTYPE_F16, 1, 1, 4, NULL, op, SMK_DTYPE_F16, st.heads),
                     SMK_ERROR_INVALID_ARGUMENT);
    }
#undef UNCHANGED
    free(block);
    free(before);
    smk_model_free(m);
    smk_model_free(tagger);
}

int main(void) {
    const char *dense[] = {"examples/models/robot_arm.safetensors", "examples/models/multitask.safetensors",
                           "examples/models/hierarchical.safetensors", "examples/models/masked.safetensors"};
    int64_t lens[3] = {4, 0, 2};
    size_t i;
    for (i = 0; i < sizeof dense / sizeof *dense; i++) {
        smk_model *m = load(dense[i]);
        if (!m) continue;
        check_forward(m, NULL, m, SMK_DTYPE_F16, SMK_DTYPE_BF16, 5, 1, NULL);
        check_forward(m, NULL, m, SMK_DTYPE_BF16, SMK_DTYPE_F16, 3, 1, NULL);
        check_forward(m, NULL, m, SMK_DTYPE_F16, SMK_DTYPE_F16, 0, 1, NULL);
        smk_model_free(m);
    }
    {
        smk_model *m = load("Tests/fixtures/recurrent/lstm_l2_bi_seq_lengths.safetensors");
        smk_model *a = load("examples/models/ensemble_a.safetensors"), *b = load("examples/models/ensemble_b.safetensors");
        smk_ensemble *e = NULL, *se = NULL;
        const smk_model *pair[2];
        if (m) {
            check_forward(m, NULL, m, SMK_DTYPE_F16, SMK_DTYPE_F16, 3, 4, lens);
            check_forward(m, NULL, m, SMK_DTYPE_BF16, SMK_DTYPE_BF16, 3, 4, NULL);
            pair[0] = m; pair[1] = m;
            CHECK_STATUS(smk_ensemble_create(pair, 2, SMK_ENSEMBLE_ARITHMETIC, &se), SMK_OK);
            check_forward(NULL, se, m, SMK_DTYPE_BF16, SMK_DTYPE_F16, 3, 4, lens);
        }
        if (a && b) {
            pair[0] = a; pair[1] = b;
            CHECK_STATUS(smk_ensemble_create(pair, 2, SMK_ENSEMBLE_LOGITS, &e), SMK_OK);
            check_forward(NULL, e, a, SMK_DTYPE_F16, SMK_DTYPE_BF16, 4, 1, NULL);
        }
        smk_ensemble_free(e);
        smk_ensemble_free(se);
        smk_model_free(a);
        smk_model_free(b);
        smk_model_free(m);
    }
    test_steps();
    test_refusals();
    return check_summary("test_model_half");
}
