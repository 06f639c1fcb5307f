/* Half precision of the structured operations from C: hardmax,
 * partitioned, segment, hierarchical and lengths-masked softmax /
 * log-softmax (_f16 and _bf16) against a float64 reference rounded once to
 * half (worst distance in ulps printed), their edge cases (±max, NaN, -inf,
 * padding, underflow, log-probabilities near 0) and their refusals of bad
 * arguments. */
#include "softmaxkit.h"
#include "check.h"
#include "half_reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reference */

/* ---------------------------------------------------------------- calls */

#define H(p) ((const void *)(p))
static smk_status hardmax(int bf, const uint16_t *x, uint16_t *y, int64_t o, int64_t n, int64_t i) {
    return bf ? smk_hardmax_bf16((const smk_bf16 *)H(x), (smk_bf16 *)(void *)y, o, n, i)
              : smk_hardmax_f16((const smk_f16 *)H(x), (smk_f16 *)(void *)y, o, n, i);
}
static smk_status part(int bf, const uint16_t *x, const smk_partition *l, uint16_t *y, int64_t o, int64_t n, int64_t i, int64_t c) {
    return bf ? smk_partitioned_bf16((const smk_bf16 *)H(x), l, (smk_bf16 *)(void *)y, o, n, i, c)
              : smk_partitioned_f16((const smk_f16 *)H(x), l, (smk_f16 *)(void *)y, o, n, i, c);
}
static smk_status segment(int bf, const uint16_t *x, const int64_t *off, uint16_t *y, int64_t o, int64_t n, int64_t i, int64_t c) {
    return bf ? smk_segment_softmax_bf16((const smk_bf16 *)H(x), off, (smk_bf16 *)(void *)y, o, n, i, c)
              : smk_segment_softmax_f16((const smk_f16 *)H(x), off, (smk_f16 *)(void *)y, o, n, i, c);
}
static smk_status hier(int bf, const uint16_t *c, const uint16_t *f, const int64_t *s, uint16_t *y,
                       int64_t b, int64_t g, int64_t w, int cond) {
    return bf ? smk_hierarchical_softmax_bf16((const smk_bf16 *)H(c), (const smk_bf16 *)H(f), s, (smk_bf16 *)(void *)y, b, g, w, cond)
              : smk_hierarchical_softmax_f16((const smk_f16 *)H(c), (const smk_f16 *)H(f), s, (smk_f16 *)(void *)y, b, g, w, cond);
}
/* mode 0: renormalized softmax, 1: softmax then zero the padding, 2: log-softmax. */
static smk_status lengths(int bf, int mode, const uint16_t *x, const int64_t *len, uint16_t *y,
                          int64_t o, int64_t n, int64_t i, int64_t c) {
    if (mode == 2)
        return bf ? smk_masked_log_softmax_lengths_bf16((const smk_bf16 *)H(x), len, (smk_bf16 *)(void *)y, o, n, i, c)
                  : smk_masked_log_softmax_lengths_f16((const smk_f16 *)H(x), len, (smk_f16 *)(void *)y, o, n, i, c);
    return bf ? smk_masked_softmax_lengths_bf16((const smk_bf16 *)H(x), len, (smk_bf16 *)(void *)y, o, n, i, c, mode == 0)
              : smk_masked_softmax_lengths_f16((const smk_f16 *)H(x), len, (smk_f16 *)(void *)y, o, n, i, c, mode == 0);
}

/* ---------------------------------------------------------------- references */

/* softmax (log: log-softmax) of v[0..n) in double into out; a NaN makes all NaN. */
static void ref_softmax(const double *v, int64_t n, double *out, int log) {
    double m = -INFINITY, s = 0;
    int64_t j;
    for (j = 0; j < n; j++) {
        if (isnan(v[j])) { for (j = 0; j < n; j++) out[j] = NAN; return; }
        if (v[j] > m) m = v[j];
    }
    for (j = 0; j < n; j++) s += exp(v[j] - m);
    for (j = 0; j < n; j++) out[j] = log ? v[j] - m - log1p(s - 1) : exp(v[j] - m) / s;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double uniform(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static uint16_t *random_half(int bf, int64_t count, double scale) {
    uint16_t *x = malloc((size_t)count * sizeof *x);
    int64_t k;
    for (k = 0; k < count; k++) x[k] = round_half((uniform() * 2 - 1) * scale, bf);
    return x;
}

enum { OP_HARDMAX, OP_PART, OP_SEGMENT, OP_LEN, OP_LEN_NORENORM, OP_LEN_LOG, OP_HIER, OP_HIER_COND, OP_COUNT };
static const char *op_names[OP_COUNT] = {"hardmax", "partitioned", "segment_softmax", "masked_softmax_lengths",
    "masked_softmax_lengths(renormalize=0)", "masked_log_softmax_lengths", "hierarchical_softmax",
    "hierarchical_softmax(conditional)"};
static long worst[2][OP_COUNT];

static void note(int bf, int op, uint16_t got, double want) {
    long d = ulps(got, round_half(want, bf), bf);
    if (d > worst[bf][op]) worst[bf][op] = d;
}

/* Fibre (o, :, i) of x widened into f. */
static void fibre(int bf, const uint16_t *x, int64_t n, int64_t inner, int64_t o, int64_t i, double *f) {
    int64_t j;
    for (j = 0; j < n; j++) f[j] = value(x[(o * n + j) * inner + i], bf);
}

static void test_random(int bf) {
    static const int64_t shapes[][3] = {{5, 37, 1}, {3, 12, 4}, {33, 200, 1}, {2, 7, 9}, {300, 1000, 1}, {2, 40000, 1}, {40, 50, 30}};
    size_t s;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t O = shapes[s][0], N = shapes[s][1], I = shapes[s][2], C = O * N * I, o, i, j, k;
        uint16_t *x = random_half(bf, C, 8), *y = malloc((size_t)C * 2);
        double *f = malloc((size_t)N * sizeof *f), *r = malloc((size_t)N * sizeof *r);
        int64_t w = N / 5, offsets[5] = {0, N / 3, N / 3, N - 1, N}, *len = malloc((size_t)(O * I) * sizeof *len);
        smk_partition layout[6] = {{w, SMK_ACTIVATION_SOFTMAX}, {0, SMK_ACTIVATION_LOG_SOFTMAX}, {w, SMK_ACTIVATION_LOG_SOFTMAX},
                                   {w, SMK_ACTIVATION_SIGMOID}, {w, SMK_ACTIVATION_TANH}, {N - 4 * w, SMK_ACTIVATION_IDENTITY}};
        int mode;
        /* hardmax */
        CHECK_STATUS(hardmax(bf, x, y, O, N, I), SMK_OK);
        for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
            int64_t a = 0;
            fibre(bf, x, N, I, o, i, f);
            for (j = 1; j < N; j++) if (f[j] > f[a]) a = j;
            for (j = 0; j < N; j++) note(bf, OP_HARDMAX, y[(o * N + j) * I + i], j == a ? 1.0 : 0.0);
        }
        /* partitioned */
        CHECK_STATUS(part(bf, x, layout, y, O, N, I, 6), SMK_OK);
        for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
            fibre(bf, x, N, I, o, i, f);
            ref_softmax(f, w, r, 0);
            ref_softmax(f + w, w, r + w, 1);
            for (j = 2 * w; j < 3 * w; j++) r[j] = 1 / (1 + exp(-f[j]));
            for (j = 3 * w; j < 4 * w; j++) r[j] = tanh(f[j]);
            for (j = 4 * w; j < N; j++) r[j] = f[j];
            for (j = 0; j < N; j++) note(bf, OP_PART, y[(o * N + j) * I + i], r[j]);
        }
        /* segment softmax (an empty group) */
        CHECK_STATUS(segment(bf, x, offsets, y, O, N, I, 5), SMK_OK);
        for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
            fibre(bf, x, N, I, o, i, f);
            for (k = 0; k < 4; k++) ref_softmax(f + offsets[k], offsets[k + 1] - offsets[k], r + offsets[k], 0);
            for (j = 0; j < N; j++) note(bf, OP_SEGMENT, y[(o * N + j) * I + i], r[j]);
        }
        /* masked with lengths: 0, n and between */
        for (k = 0; k < O * I; k++) len[k] = (k * 7) % (N + 1);
        for (mode = 0; mode < 3; mode++) {
            CHECK_STATUS(lengths(bf, mode, x, len, y, O, N, I, O * I), SMK_OK);
            for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
                int64_t l = len[o * I + i];
                fibre(bf, x, N, I, o, i, f);
                ref_softmax(f, mode == 1 ? N : l, r, mode == 2);
                for (j = l; j < N; j++) r[j] = mode == 2 ? -INFINITY : 0;
                for (j = 0; j < N; j++) note(bf, OP_LEN + mode, y[(o * N + j) * I + i], r[j]);
            }
        }
        /* hierarchical: batch O * I rows of N fine logits in groups {1, N/2, rest} */
        {
            int64_t sizes[3] = {1, N / 2, N - N / 2 - 1}, B = O * I, b, g;
            uint16_t *c = random_half(bf, B * 3, 8);
            double pc[3];
            int cond;
            for (cond = 0; cond < 2; cond++) {
                CHECK_STATUS(hier(bf, c, x, sizes, y, B, 3, N, cond), SMK_OK);
                for (b = 0; b < B; b++) {
                    int64_t at = 0;
                    for (g = 0; g < 3; g++) pc[g] = value(c[b * 3 + g], bf);
                    ref_softmax(pc, 3, pc, 0);
                    for (j = 0; j < N; j++) f[j] = value(x[b * N + j], bf);
                    for (g = 0; g < 3; g++) {
                        ref_softmax(f + at, sizes[g], r + at, 0);
                        for (j = at; j < at + sizes[g]; j++) note(bf, OP_HIER + cond, y[b * N + j], cond ? r[j] : r[j] * pc[g]);
                        at += sizes[g];
                    }
                }
            }
            free(c);
        }
        free(x); free(y); free(f); free(r); free(len);
    }
}

/* One dominant logit per fibre: log-probabilities near 0 (float16
 * subnormals), where a float32 sum of 1 + small is a whole step off. */
static void test_near_zero(int bf) {
    enum { O = 64, N = 6 };
    uint16_t x[O * N], y[O * N];
    int64_t len[O], o, j;
    double f[N], r[N];
    smk_partition layout[1] = {{N, SMK_ACTIVATION_LOG_SOFTMAX}};
    long wp = 0, wl = 0;
    for (o = 0; o < O; o++) {
        len[o] = N;
        for (j = 0; j < N; j++) x[o * N + j] = round_half(j == 0 ? 0 : -12.5 + (uniform() - 0.5), bf);
    }
    CHECK_STATUS(part(bf, x, layout, y, O, N, 1, 1), SMK_OK);
    for (o = 0; o < O; o++) {
        for (j = 0; j < N; j++) f[j] = value(x[o * N + j], bf);
        ref_softmax(f, N, r, 1);
        for (j = 0; j < N; j++) { long d = ulps(y[o * N + j], round_half(r[j], bf), bf); if (d > wp) wp = d; }
    }
    CHECK_STATUS(lengths(bf, 2, x, len, y, O, N, 1, O), SMK_OK);
    for (o = 0; o < O; o++) {
        for (j = 0; j < N; j++) f[j] = value(x[o * N + j], bf);
        ref_softmax(f, N, r, 1);
        for (j = 0; j < N; j++) { long d = ulps(y[o * N + j], round_half(r[j], bf), bf); if (d > wl) wl = d; }
    }
    printf("%s log-softmax near 0: partitioned %ld ulp, masked_log_softmax_lengths %ld ulp\n", bf ? "bf16" : "f16", wp, wl);
    CHECK(wp <= 1 && wl <= 1);
}

static int is_nan_half(uint16_t v, int bf) { return isnan(value(v, bf)); }

static void test_edges(int bf) {
    double big = bf ? ldexp(2.0 - ldexp(1, -7), 127) : 65504.0, tiny = bf ? ldexp(1, -133) : ldexp(1, -24);
    double rows[5][4] = {{big, -big, 0, 1}, {NAN, 1, 2, 3}, {-INFINITY, 0, -INFINITY, 1}, {tiny, -tiny, 0, 3 * tiny}, {0, -17, -18, -30}};
    uint16_t x[20], y[20], z[20], w[20];
    int64_t offsets[2] = {0, 4}, full[5] = {4, 4, 4, 4, 4}, r, j;
    double f[4], p[4], lp[4];
    (void)lp;
    smk_partition sm[1] = {{4, SMK_ACTIVATION_SOFTMAX}}, lsm[1] = {{4, SMK_ACTIVATION_LOG_SOFTMAX}};
    for (r = 0; r < 5; r++) for (j = 0; j < 4; j++) x[r * 4 + j] = round_half(rows[r][j], bf);
    /* Whole-row segments, one group and full lengths: each the reference softmax. */
    CHECK_STATUS(part(bf, x, sm, z, 5, 4, 1, 1), SMK_OK);
    CHECK_STATUS(lengths(bf, 0, x, full, w, 5, 4, 1, 5), SMK_OK);
    CHECK_STATUS(segment(bf, x, offsets, y, 5, 4, 1, 2), SMK_OK);
    for (r = 0; r < 5; r++) {
        for (j = 0; j < 4; j++) f[j] = value(x[r * 4 + j], bf);
        ref_softmax(f, 4, p, 0);
        for (j = 0; j < 4; j++) {
            CHECK(ulps(y[r * 4 + j], round_half(p[j], bf), bf) <= 1);
            CHECK(ulps(z[r * 4 + j], round_half(p[j], bf), bf) <= 1);
            CHECK(ulps(w[r * 4 + j], round_half(p[j], bf), bf) <= 1);
        }
    }
    /* exp(-17) is one float16 subnormal step, exp(-30) rounds to 0. */
    if (!bf) CHECK(y[17] == 1 && y[19] == 0);
    CHECK_STATUS(part(bf, x, lsm, y, 5, 4, 1, 1), SMK_OK);
    CHECK_STATUS(lengths(bf, 2, x, full, z, 5, 4, 1, 5), SMK_OK);
    for (r = 0; r < 5; r++) {
        for (j = 0; j < 4; j++) f[j] = value(x[r * 4 + j], bf);
        ref_softmax(f, 4, lp, 1);
        for (j = 0; j < 4; j++) {
            CHECK(ulps(y[r * 4 + j], round_half(lp[j], bf), bf) <= 1);
            CHECK(ulps(z[r * 4 + j], round_half(lp[j], bf), bf) <= 1);
        }
    }
    /* Padding holding NaN and +inf is exactly 0 / -inf; a zero length all 0 / -inf. */
    {
        uint16_t px[8], py[8];
        int64_t pl[2] = {2, 0};
        double pv[8] = {1, 2, NAN, INFINITY, 3, NAN, 0, 0};
        for (j = 0; j < 8; j++) px[j] = round_half(pv[j], bf);
        CHECK_STATUS(lengths(bf, 0, px, pl, py, 2, 4, 1, 2), SMK_OK);
        for (j = 2; j < 8; j++) CHECK(py[j] == 0);
        CHECK(!is_nan_half(py[0], bf) && !is_nan_half(py[1], bf));
        CHECK_STATUS(lengths(bf, 2, px, pl, py, 2, 4, 1, 2), SMK_OK);
        for (j = 2; j < 8; j++) CHECK(py[j] == round_half(-INFINITY, bf));
        /* In place (y == x): the same bits as into another buffer. */
        CHECK_STATUS(lengths(bf, 1, px, pl, py, 2, 4, 1, 2), SMK_OK);
        CHECK_STATUS(lengths(bf, 1, px, pl, px, 2, 4, 1, 2), SMK_OK);
        CHECK(memcmp(px, py, sizeof px) == 0);
    }
    /* hardmax: NaN wins at its first position; ties to the first; exact 0 and 1. */
    {
        uint16_t hx[6], hy[6];
        double hv[6] = {1, NAN, 3, 2, 2, -INFINITY};
        for (j = 0; j < 6; j++) hx[j] = round_half(hv[j], bf);
        CHECK_STATUS(hardmax(bf, hx, hy, 2, 3, 1), SMK_OK);
        CHECK(hy[0] == 0 && hy[1] == round_half(1, bf) && hy[2] == 0 && hy[3] == round_half(1, bf) && hy[4] == 0 && hy[5] == 0);
    }
    /* hierarchical: a NaN coarse row is NaN, the next row finite and summing to 1. */
    {
        uint16_t c[4], fi[6], hy[6];
        int64_t sizes[2] = {1, 2};
        double cv[4] = {NAN, 0, 0, 1}, sum = 0;
        for (j = 0; j < 4; j++) c[j] = round_half(cv[j], bf);
        for (j = 0; j < 6; j++) fi[j] = round_half((double)(j % 3), bf);
        CHECK_STATUS(hier(bf, c, fi, sizes, hy, 2, 2, 3, 0), SMK_OK);
        for (j = 0; j < 3; j++) CHECK(is_nan_half(hy[j], bf));
        for (j = 3; j < 6; j++) sum += value(hy[j], bf);
        CHECK(fabs(sum - 1) < 0.02);
        /* y == fine (in place). */
        CHECK_STATUS(hier(bf, c, fi, sizes, fi, 2, 2, 3, 0), SMK_OK);
        CHECK(memcmp(fi, hy, sizeof hy) == 0);
    }
}

static void test_bad_input(int bf) {
    uint16_t x[13], y[12], c[6];
    int64_t len[3] = {4, 4, 4}, badlen[3] = {1, 5, 2}, off[3] = {0, 3, 4}, badoff[3] = {0, 3, 2}, sizes[2] = {1, 3};
    int64_t zero[2] = {0, 4};
    smk_partition layout[2] = {{1, SMK_ACTIVATION_SOFTMAX}, {3, SMK_ACTIVATION_LOG_SOFTMAX}};
    smk_partition wrong[1] = {{3, SMK_ACTIVATION_SOFTMAX}}, unknown[1] = {{4, 9}}, negative[2] = {{-1, 0}, {5, 0}};
    int k;
    for (k = 0; k < 13; k++) x[k] = round_half(k * 0.25, bf);
    for (k = 0; k < 6; k++) c[k] = 0;
    memset(y, 0xee, sizeof y);
    /* Wrong counts and values. */
    CHECK_STATUS(lengths(bf, 0, x, len, y, 3, 4, 1, 2), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(lengths(bf, 2, x, badlen, y, 3, 4, 1, 3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(lengths(bf, 0, x, len, y, 3, 4, 1, -1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(bf ? smk_masked_softmax_lengths_bf16((const smk_bf16 *)H(x), len, (smk_bf16 *)(void *)y, 3, 4, 1, 3, 2)
                    : smk_masked_softmax_lengths_f16((const smk_f16 *)H(x), len, (smk_f16 *)(void *)y, 3, 4, 1, 3, 2),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(segment(bf, x, badoff, y, 3, 4, 1, 3), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(segment(bf, x, zero, y, 3, 4, 1, 0), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(part(bf, x, wrong, y, 3, 4, 1, 1), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(part(bf, x, unknown, y, 3, 4, 1, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(part(bf, x, negative, y, 3, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(hier(bf, c, x, sizes, y, 3, 2, 5, 0), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(hier(bf, c, x, sizes, y, 3, 2, 4, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(hardmax(bf, x, y, -1, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
    /* NULL pointers with work to do. */
    CHECK_STATUS(hardmax(bf, NULL, y, 3, 4, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(lengths(bf, 1, x, NULL, y, 3, 4, 1, 3), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(part(bf, x, NULL, y, 3, 4, 1, 2), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(segment(bf, x, off, NULL, 3, 4, 1, 3), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(hier(bf, c, x, NULL, y, 3, 2, 4, 0), SMK_ERROR_NULL_POINTER);
    /* Aliasing refused as for float32: y partly over x, y over coarse, y over lengths. */
    CHECK_STATUS(hardmax(bf, x, x + 1, 3, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(segment(bf, x, off, x + 1, 3, 4, 1, 3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(part(bf, x, layout, x + 1, 3, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(lengths(bf, 2, x, len, x + 1, 3, 4, 1, 3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(lengths(bf, 0, x, (const int64_t *)(const void *)y, y, 3, 4, 1, 3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(hier(bf, y, x, sizes, y, 3, 2, 4, 0), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(hier(bf, c, x, sizes, x + 1, 3, 2, 4, 0), SMK_ERROR_INVALID_ARGUMENT);
    /* Nothing written on any failure above (the lengths-over-y case's y read as lengths is refused first). */
    for (k = 0; k < 12; k++) CHECK(y[k] == 0xeeee);
    for (k = 0; k < 13; k++) CHECK(x[k] == round_half(k * 0.25, bf));
    /* Empty calls succeed without touching anything. */
    CHECK_STATUS(hardmax(bf, NULL, NULL, 0, 4, 1), SMK_OK);
    CHECK_STATUS(lengths(bf, 2, NULL, NULL, NULL, 0, 4, 1, 0), SMK_OK);
    CHECK_STATUS(hier(bf, NULL, NULL, sizes, NULL, 0, 2, 4, 1), SMK_OK);
}

/* The same bits whatever the thread count (blocks of rows do not depend on it). */
static void test_threads(int bf) {
    enum { O = 300, N = 1000 };
    uint16_t *x = random_half(bf, O * N, 8), *c = random_half(bf, O * 3, 8);
    uint16_t *a = malloc(O * N * 2), *b = malloc(O * N * 2);
    int64_t offsets[4] = {0, 10, 600, N}, sizes[3] = {10, 590, 400}, *len = malloc(O * sizeof *len), k;
    smk_partition layout[3] = {{10, SMK_ACTIVATION_SOFTMAX}, {590, SMK_ACTIVATION_LOG_SOFTMAX}, {400, SMK_ACTIVATION_SIGMOID}};
    int32_t saved = smk_get_num_threads();
    int op, t;
    for (k = 0; k < O; k++) len[k] = (k * 13) % (N + 1);
    for (op = 0; op < 6; op++) {
        for (t = 0; t < 2; t++) {
            uint16_t *y = t ? b : a;
            smk_set_num_threads(t ? 2 : 1);
            switch (op) {
            case 0: CHECK_STATUS(hardmax(bf, x, y, O, N, 1), SMK_OK); break;
            case 1: CHECK_STATUS(part(bf, x, layout, y, O, N, 1, 3), SMK_OK); break;
            case 2: CHECK_STATUS(segment(bf, x, offsets, y, O, N, 1, 4), SMK_OK); break;
            case 3: CHECK_STATUS(hier(bf, c, x, sizes, y, O, 3, N, 0), SMK_OK); break;
            case 4: CHECK_STATUS(lengths(bf, 0, x, len, y, O, N, 1, O), SMK_OK); break;
            default: CHECK_STATUS(lengths(bf, 2, x, len, y, O, N, 1, O), SMK_OK); break;
            }
        }
        CHECK(memcmp(a, b, (size_t)O * N * 2) == 0);
    }
    smk_set_num_threads(saved);
    free(x); free(c); free(a); free(b); free(len);
}

int main(void) {
    int bf, op;
    for (bf = 0; bf < 2; bf++) {
        test_random(bf);
        test_near_zero(bf);
        test_edges(bf);
        test_bad_input(bf);
        test_threads(bf);
        printf("%s worst ulp vs float64 rounded once:", bf ? "bf16" : "f16");
        for (op = 0; op < OP_COUNT; op++) {
            printf(" %s %ld%s", op_names[op], worst[bf][op], op + 1 < OP_COUNT ? "," : "\n");
            CHECK(worst[bf][op] <= (op == OP_HARDMAX ? 0 : 1));
        }
    }
    return check_summary("test_half_structured");
}
