/* Half precision from C: the float16 / bfloat16 conversions over every bit
 * pattern (and every rounding midpoint) against a reference written here
 * from the formats' definitions, and the _f16 / _bf16 kernels against a
 * float64 reference rounded once to half (worst distance in ulps printed),
 * their edge cases and their refusals of bad arguments. */
#include "softmaxkit.h"
#include "check.h"
#include "half_reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reference */

/* ---------------------------------------------------------------- conversions */

static void test_conversions(int bf) {
    enum { N = 65536 };
    uint16_t *h = malloc(N * sizeof *h), *back = malloc(4 * N * sizeof *back);
    float *f = malloc(4 * N * sizeof *f);
    long bad = 0;
    int i, count = 0;
    for (i = 0; i < N; i++) h[i] = (uint16_t)i;
    CHECK_STATUS(bf ? smk_half_to_float_bf16((const smk_bf16 *)h, f, N) : smk_half_to_float_f16((const smk_f16 *)h, f, N), SMK_OK);
    for (i = 0; i < N; i++) {
        double want = value((uint16_t)i, bf);
        int ok = isnan(want) ? isnan(f[i]) && !!signbit(f[i]) == !!(i & 0x8000) : (double)f[i] == want && !!signbit(f[i]) == !!signbit(want);
        if (!ok) bad++;
    }
    CHECK(bad == 0);
    /* Every half value, every midpoint between neighbours (ties go to the even
     * one) and a float32 step either side of it. */
    for (i = 0; i < N; i++) {
        double a = value((uint16_t)i, bf), b;
        uint16_t next = (uint16_t)(i + 1);
        f[count++] = (float)a;
        if (isnan(a) || isinf(a) || (i & 0x7fff) == 0x7fff) continue;
        b = value(next, bf);
        if (isnan(b)) continue;
        if (isinf(b)) b = (i & 0x8000) ? -ldexp(1, bf ? 128 : 16) : ldexp(1, bf ? 128 : 16); /* the overflow midpoint's other end */
        {
            float mid = (float)((a + b) / 2);
            if ((double)mid != (a + b) / 2) continue; /* not representable in float32 */
            f[count++] = mid;
            f[count++] = nextafterf(mid, INFINITY);
            f[count++] = nextafterf(mid, -INFINITY);
        }
    }
    CHECK_STATUS(bf ? smk_half_from_float_bf16(f, (smk_bf16 *)back, count) : smk_half_from_float_f16(f, (smk_f16 *)back, count), SMK_OK);
    bad = 0;
    for (i = 0; i < count; i++) {
        uint16_t want = round_half((double)f[i], bf);
        if (isnan(f[i]) ? ulps(back[i], want, bf) != 0 || (back[i] & 0x8000) != (want & 0x8000) : back[i] != want) {
            if (bad < 5) fprintf(stderr, "%s(%a) = 0x%04x, want 0x%04x\n", bf ? "bf16" : "f16", (double)f[i], back[i], want);
            bad++;
        }
    }
    printf("conversions %s: %d values rounded, %ld wrong\n", bf ? "bf16" : "f16", count, bad);
    CHECK(bad == 0);
    /* float32 subnormals (bfloat16 keeps them) and the largest finite floats. */
    {
        float g[4] = {1e-40f, -3e-45f, 3.4e38f, -3.4028235e38f};
        uint16_t o[4];
        CHECK_STATUS(bf ? smk_half_from_float_bf16(g, (smk_bf16 *)o, 4) : smk_half_from_float_f16(g, (smk_f16 *)o, 4), SMK_OK);
        for (i = 0; i < 4; i++) CHECK(o[i] == round_half((double)g[i], bf));
    }
    /* Refusals. */
    CHECK_STATUS(smk_half_to_float_f16(NULL, f, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_half_from_float_bf16(f, NULL, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_half_to_float_f16(NULL, NULL, 0), SMK_OK);
    CHECK_STATUS(smk_half_to_float_bf16((const smk_bf16 *)h, f, -1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_half_from_float_f16(f, (smk_f16 *)(void *)f, 4), SMK_ERROR_INVALID_ARGUMENT);
    free(h); free(back); free(f);
}

/* ---------------------------------------------------------------- kernels */

static smk_status run_softmax(int bf, int log, const uint16_t *x, uint16_t *y, int64_t o, int64_t n, int64_t i, float t) {
    if (bf) return log ? smk_log_softmax_bf16((const smk_bf16 *)x, (smk_bf16 *)y, o, n, i, t)
                       : smk_softmax_bf16((const smk_bf16 *)x, (smk_bf16 *)y, o, n, i, t);
    return log ? smk_log_softmax_f16((const smk_f16 *)x, (smk_f16 *)y, o, n, i, t)
               : smk_softmax_f16((const smk_f16 *)x, (smk_f16 *)y, o, n, i, t);
}

static smk_status run_lse(int bf, const uint16_t *x, uint16_t *y, int64_t o, int64_t n, int64_t i) {
    return bf ? smk_logsumexp_bf16((const smk_bf16 *)x, (smk_bf16 *)y, o, n, i)
              : smk_logsumexp_f16((const smk_f16 *)x, (smk_f16 *)y, o, n, i);
}

/* Reference softmax / log-softmax / logsumexp of fibre (o, :, i) in double. */
static void ref_fibre(int bf, const uint16_t *x, int64_t n, int64_t inner, int64_t o, int64_t i, double t,
                      double *p, double *lp, double *lse) {
    double m = -INFINITY, s = 0;
    int64_t j;
    int nan = 0;
    for (j = 0; j < n; j++) {
        double v = value(x[(o * n + j) * inner + i], bf);
        if (isnan(v)) nan = 1;
        else if (v > m) m = v;
    }
    for (j = 0; j < n; j++) s += exp((value(x[(o * n + j) * inner + i], bf) - m) / t);
    for (j = 0; j < n; j++) {
        double v = value(x[(o * n + j) * inner + i], bf);
        if (nan || m == -INFINITY) { p[j] = NAN; lp[j] = NAN; continue; }
        p[j] = exp((v - m) / t) / s;
        lp[j] = (v - m) / t - log(s);
    }
    *lse = nan ? NAN : m == -INFINITY ? -INFINITY : m == INFINITY ? INFINITY : m + log(s);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Worst ulp distances, per format and op: softmax, log_softmax, logsumexp, softmax_topk. */
static long worst[2][4];

static void compare_normalizers(int bf, const uint16_t *x, int64_t o, int64_t n, int64_t inner, float t) {
    int64_t count = o * n * inner, oo, ii, j;
    uint16_t *y = malloc((size_t)count * 2), *ly = malloc((size_t)count * 2), *lse = malloc((size_t)(o * inner) * 2 + 2);
    double *p = malloc((size_t)n * sizeof *p), *lp = malloc((size_t)n * sizeof *lp), l;
    CHECK_STATUS(run_softmax(bf, 0, x, y, o, n, inner, t), SMK_OK);
    CHECK_STATUS(run_softmax(bf, 1, x, ly, o, n, inner, t), SMK_OK);
    CHECK_STATUS(run_lse(bf, x, lse, o, n, inner), SMK_OK);
    for (oo = 0; oo < o; oo++) {
        for (ii = 0; ii < inner; ii++) {
            long d;
            ref_fibre(bf, x, n, inner, oo, ii, t, p, lp, &l);
            for (j = 0; j < n; j++) {
                int64_t at = (oo * n + j) * inner + ii;
                d = ulps(y[at], round_half(p[j], bf), bf);
                if (d > worst[bf][0]) worst[bf][0] = d;
                d = ulps(ly[at], round_half(lp[j], bf), bf);
                if (d > worst[bf][1]) worst[bf][1] = d;
            }
            if (t == 1.0f) {
                d = ulps(lse[oo * inner + ii], round_half(l, bf), bf);
                if (d > worst[bf][2]) worst[bf][2] = d;
            }
        }
    }
    free(y); free(ly); free(lse); free(p); free(lp);
}

static uint16_t *random_half(int bf, int64_t count, double scale) {
    uint16_t *x = malloc((size_t)count * 2);
    int64_t i;
    for (i = 0; i < count; i++) x[i] = round_half((uniform() * 2 - 1) * scale, bf);
    return x;
}

static void test_normalizers(int bf) {
    static const int64_t shapes[][3] = {{7, 1000, 1}, {3, 33, 5}, {2, 32000, 1}, {64, 10, 1}, {1, 70000, 1}, {5, 3, 1}};
    size_t s;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t o = shapes[s][0], n = shapes[s][1], i = shapes[s][2];
        uint16_t *x = random_half(bf, o * n * i, 12.0);
        compare_normalizers(bf, x, o, n, i, 1.0f);
        compare_normalizers(bf, x, o, n, i, 0.7f);
        free(x);
    }
}

static uint16_t h(double v, int bf) { return round_half(v, bf); }

static void test_edges(int bf) {
    const double inf = INFINITY;
    /* Rows: a NaN; -inf entries; all -inf; +-65504; subnormal inputs; a
     * probability that underflows in half (e^-20 < 2^-24) and one that is a
     * half subnormal (e^-12); a large spread. */
    double rows[8][4] = {
        {1, NAN, 2, 3},
        {-inf, 1, -inf, 2},
        {-inf, -inf, -inf, -inf},
        {65504, -65504, 65504, 0},
        {5.96e-8, -5.96e-8, 6.0e-5, 0},
        {0, -20, -12, -16},
        {0, -9.5, -10, -10.5},
        {100, -100, 50, 0},
    };
    uint16_t x[32], y[32], ly[32], lse[8];
    double p[4], lp[4], l;
    int r, j;
    for (r = 0; r < 8; r++) for (j = 0; j < 4; j++) x[r * 4 + j] = h(rows[r][j], bf);
    if (bf) { x[16] = ref_bf16(1e-39); x[17] = ref_bf16(-1e-40); } /* bfloat16 subnormals */
    CHECK_STATUS(run_softmax(bf, 0, x, y, 8, 4, 1, 1.0f), SMK_OK);
    CHECK_STATUS(run_softmax(bf, 1, x, ly, 8, 4, 1, 1.0f), SMK_OK);
    CHECK_STATUS(run_lse(bf, x, lse, 8, 4, 1), SMK_OK);
    for (r = 0; r < 8; r++) {
        ref_fibre(bf, x + r * 4, 4, 1, 0, 0, 1.0, p, lp, &l);
        for (j = 0; j < 4; j++) {
            CHECK(ulps(y[r * 4 + j], h(p[j], bf), bf) <= 1);
            CHECK(ulps(ly[r * 4 + j], h(lp[j], bf), bf) <= 1);
        }
        CHECK(ulps(lse[r], h(l, bf), bf) <= 1);
    }
    for (j = 0; j < 4; j++) CHECK(isnan(value(y[j], bf)));        /* NaN row */
    CHECK(y[4] == 0 && y[6] == 0);                                 /* -inf entries */
    for (j = 0; j < 4; j++) CHECK(isnan(value(y[8 + j], bf)));    /* all -inf: NaN */
    CHECK(value(lse[2], bf) == -INFINITY);
    CHECK(value(y[13], bf) == 0);                                  /* e^-65504 ... */
    if (!bf) {
        CHECK(y[21] == 0);                           /* e^-20: below half's smallest subnormal */
        CHECK(y[22] != 0 && y[22] < 0x0400);         /* e^-12: a half subnormal */
        CHECK(y[22] == ref_f16(exp(-12) / (1 + exp(-20) + exp(-12) + exp(-16))));
        CHECK(lse[3] == 0x7bff);                     /* 65504 + log 2 rounds to 65504 */
    }
    /* In place (y == x). */
    memcpy(y, x, sizeof x);
    CHECK_STATUS(run_softmax(bf, 0, y, y, 8, 4, 1, 1.0f), SMK_OK);
    {
        uint16_t z[32];
        CHECK_STATUS(run_softmax(bf, 0, x, z, 8, 4, 1, 1.0f), SMK_OK);
        CHECK(memcmp(y, z, sizeof z) == 0);
    }
}

static void test_topk(int bf) {
    int64_t o = 6, n = 1000, inner = 1, k = 5, r, j;
    uint16_t *x = random_half(bf, o * n, 8.0), probs[30], y[6000];
    int64_t idx[30];
    for (r = 0; r < 2; r++) {
        int64_t in = r ? 3 : 1, oo = r ? 2 : 6;
        (void)inner;
        CHECK_STATUS(bf ? smk_softmax_topk_bf16((const smk_bf16 *)x, (smk_bf16 *)probs, idx, oo, n, in, k, 1.0f)
                        : smk_softmax_topk_f16((const smk_f16 *)x, (smk_f16 *)probs, idx, oo, n, in, k, 1.0f), SMK_OK);
        CHECK_STATUS(run_softmax(bf, 0, x, y, oo, n, in, 1.0f), SMK_OK);
        for (j = 0; j < oo * k * in; j++) {
            int64_t b = j / (k * in), i = j % in;
            int64_t at = (b * n + idx[j]) * in + i;
            long d = ulps(probs[j], y[at], bf);
            if (d > worst[bf][3]) worst[bf][3] = d;
            CHECK(idx[j] >= 0 && idx[j] < n);
            if (j % (k * in) >= in) CHECK(value(x[at], bf) <= value(x[(b * n + idx[j - in]) * in + i], bf));
        }
    }
    /* Bad k, NULL indices, bad temperature: nothing written. */
    memset(probs, 0xab, sizeof probs);
    CHECK_STATUS(smk_softmax_topk_f16((const smk_f16 *)x, (smk_f16 *)probs, idx, 6, n, 1, n + 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_topk_bf16((const smk_bf16 *)x, (smk_bf16 *)probs, NULL, 6, n, 1, 5, 1.0f), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_softmax_topk_f16((const smk_f16 *)x, (smk_f16 *)probs, idx, 6, n, 1, 5, 0.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(probs[0] == 0xabab && probs[29] == 0xabab);
    free(x);
}

static void test_cross_entropy(int bf) {
    enum { B = 9, C = 1000 };
    uint16_t *x = random_half(bf, B * C, 10.0), grad[B * C];
    int64_t t[B];
    float w[C], loss[B], mean;
    smk_loss_options opt;
    int r, c;
    double wsum = 0, total = 0;
    long worst_grad = 0;
    double worst_rel = 0;
    for (r = 0; r < B; r++) t[r] = (r * 97) % C;
    t[3] = -100; /* ignored */
    for (c = 0; c < C; c++) w[c] = (float)(0.5 + (c % 7) * 0.25);
    smk_loss_options_init(&opt);
    opt.reduction = SMK_REDUCTION_NONE;
    CHECK_STATUS(bf ? smk_cross_entropy_bf16((const smk_bf16 *)x, t, w, loss, (smk_bf16 *)grad, B, C, 1, &opt)
                    : smk_cross_entropy_f16((const smk_f16 *)x, t, w, loss, (smk_f16 *)grad, B, C, 1, &opt), SMK_OK);
    for (r = 0; r < B; r++) {
        double p[C], lp[C], l;
        ref_fibre(bf, x + r * C, C, 1, 0, 0, 1.0, p, lp, &l);
        if (t[r] == -100) { CHECK(loss[r] == 0); for (c = 0; c < C; c++) CHECK(grad[r * C + c] == 0); continue; }
        {
            double want = -w[t[r]] * lp[t[r]], rel = fabs(loss[r] - want) / fabs(want);
            if (rel > worst_rel) worst_rel = rel;
            wsum += w[t[r]]; total += want;
        }
        for (c = 0; c < C; c++) {
            double g = w[t[r]] * (p[c] - (c == t[r]));
            long d = ulps(grad[r * C + c], round_half(g, bf), bf);
            if (d > worst_grad) worst_grad = d;
        }
    }
    CHECK(worst_rel < 1e-6);
    CHECK(worst_grad <= 1);
    printf("cross_entropy %s: loss worst relative error %.2g, gradient worst %ld ulp\n", bf ? "bf16" : "f16", worst_rel, worst_grad);
    opt.reduction = SMK_REDUCTION_MEAN;
    CHECK_STATUS(bf ? smk_cross_entropy_bf16((const smk_bf16 *)x, t, w, &mean, NULL, B, C, 1, &opt)
                    : smk_cross_entropy_f16((const smk_f16 *)x, t, w, &mean, NULL, B, C, 1, &opt), SMK_OK);
    CHECK(fabs(mean - total / wsum) <= 1e-6 * fabs(total / wsum));
    /* A target out of range: an error, nothing written. */
    t[0] = C;
    loss[0] = 42;
    memset(grad, 0xcd, sizeof grad);
    opt.reduction = SMK_REDUCTION_NONE;
    CHECK_STATUS(smk_cross_entropy_f16((const smk_f16 *)x, t, NULL, loss, (smk_f16 *)grad, B, C, 1, &opt), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK(loss[0] == 42 && grad[0] == 0xcdcd && grad[B * C - 1] == 0xcdcd);
    t[0] = 0;
    opt.label_smoothing = 2;
    CHECK_STATUS(smk_cross_entropy_bf16((const smk_bf16 *)x, t, NULL, loss, NULL, B, C, 1, &opt), SMK_ERROR_INVALID_ARGUMENT);
    /* The gradient may not overlap the logits. */
    opt.label_smoothing = 0;
    CHECK_STATUS(smk_cross_entropy_f16((const smk_f16 *)x, t, NULL, loss, (smk_f16 *)x + 1, B, C, 1, &opt), SMK_ERROR_INVALID_ARGUMENT);
    free(x);
}

static void test_bad_input(void) {
    uint16_t x[12] = {0}, y[12];
    memset(y, 0xee, sizeof y);
    CHECK_STATUS(smk_softmax_f16(NULL, (smk_f16 *)y, 3, 4, 1, 1.0f), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_softmax_bf16((const smk_bf16 *)x, NULL, 3, 4, 1, 1.0f), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_softmax_f16((const smk_f16 *)x, (smk_f16 *)y, 3, 4, 1, -1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_log_softmax_bf16((const smk_bf16 *)x, (smk_bf16 *)y, 3, 4, 1, NAN), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_f16((const smk_f16 *)x, (smk_f16 *)y, -3, 4, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_f16((const smk_f16 *)x, (smk_f16 *)x + 1, 2, 4, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logsumexp_f16((const smk_f16 *)x, (smk_f16 *)x + 1, 3, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_f16((const smk_f16 *)x, (smk_f16 *)y, INT64_MAX, INT64_MAX, 1, 1.0f), SMK_ERROR_SIZE_OVERFLOW);
    CHECK(y[0] == 0xeeee);
    CHECK_STATUS(smk_softmax_bf16(NULL, NULL, 0, 4, 1, 1.0f), SMK_OK);
    /* logsumexp over an empty axis: -inf. */
    CHECK_STATUS(smk_logsumexp_f16((const smk_f16 *)x, (smk_f16 *)y, 3, 0, 1), SMK_OK);
    CHECK(y[0] == 0xfc00 && y[2] == 0xfc00);
    CHECK_STATUS(smk_logsumexp_bf16((const smk_bf16 *)x, (smk_bf16 *)y, 2, 0, 1), SMK_OK);
    CHECK(y[0] == 0xff80 && y[1] == 0xff80);
}

/* ---------------------------------------------------------------- sigmoid, masked, argmax, top-k */

/* Worst ulp distances, per format: sigmoid, log_sigmoid, masked softmax
 * (renormalized, then not), masked log-softmax. */
static long worst_more[2][4];

/* Every half bit pattern through sigmoid and log-sigmoid (in place too). */
static void test_sigmoid(int bf) {
    enum { N = 65536 };
    uint16_t *x = malloc(N * 2), *y = malloc(N * 2), *ly = malloc(N * 2);
    int i;
    for (i = 0; i < N; i++) x[i] = (uint16_t)i;
    CHECK_STATUS(bf ? smk_sigmoid_bf16((const smk_bf16 *)x, (smk_bf16 *)y, N) : smk_sigmoid_f16((const smk_f16 *)x, (smk_f16 *)y, N), SMK_OK);
    CHECK_STATUS(bf ? smk_log_sigmoid_bf16((const smk_bf16 *)x, (smk_bf16 *)ly, N)
                    : smk_log_sigmoid_f16((const smk_f16 *)x, (smk_f16 *)ly, N), SMK_OK);
    for (i = 0; i < N; i++) {
        double v = value((uint16_t)i, bf), s, ls;
        long d;
        if (isnan(v)) { CHECK(isnan(value(y[i], bf)) && isnan(value(ly[i], bf))); continue; }
        s = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
        ls = (v < 0 ? v : 0) - log1p(exp(-fabs(v)));
        d = ulps(y[i], round_half(s, bf), bf);
        if (d > worst_more[bf][0]) worst_more[bf][0] = d;
        d = ulps(ly[i], round_half(ls, bf), bf);
        if (d > worst_more[bf][1]) worst_more[bf][1] = d;
    }
    /* Saturation: exactly 0 and 1 at the ends of the range. */
    CHECK(value(y[bf ? 0x7f7f : 0x7bff], bf) == 1.0 && value(y[bf ? 0xff7f : 0xfbff], bf) == 0.0);
    CHECK(value(ly[bf ? 0xff7f : 0xfbff], bf) == value(bf ? 0xff7f : 0xfbff, bf)); /* log_sigmoid(-max) == -max */
    /* In place gives the same bits. */
    memcpy(ly, x, N * 2);
    CHECK_STATUS(bf ? smk_sigmoid_bf16((const smk_bf16 *)ly, (smk_bf16 *)ly, N) : smk_sigmoid_f16((const smk_f16 *)ly, (smk_f16 *)ly, N), SMK_OK);
    CHECK(memcmp(ly, y, N * 2) == 0);
    /* Refusals: nothing written. */
    memset(y, 0xee, 8);
    CHECK_STATUS(smk_sigmoid_f16(NULL, (smk_f16 *)y, 4), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_log_sigmoid_bf16((const smk_bf16 *)x, (smk_bf16 *)y, -1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sigmoid_bf16((const smk_bf16 *)x, (smk_bf16 *)x + 1, 4), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_log_sigmoid_f16((const smk_f16 *)x, (smk_f16 *)y, INT64_MAX), SMK_ERROR_SIZE_OVERFLOW);
    CHECK(y[0] == 0xeeee && y[3] == 0xeeee);
    CHECK_STATUS(smk_sigmoid_f16(NULL, NULL, 0), SMK_OK);
    free(x); free(y); free(ly);
}

static smk_status run_masked(int bf, int mode, const uint16_t *x, const uint8_t *m, uint16_t *y,
                             int64_t o, int64_t n, int64_t i, int64_t mc) {
    /* mode 0: renormalized, 1: softmax then mask, 2: log-softmax */
    if (mode == 2) return bf ? smk_masked_log_softmax_bf16((const smk_bf16 *)x, m, (smk_bf16 *)y, o, n, i, mc)
                             : smk_masked_log_softmax_f16((const smk_f16 *)x, m, (smk_f16 *)y, o, n, i, mc);
    return bf ? smk_masked_softmax_bf16((const smk_bf16 *)x, m, (smk_bf16 *)y, o, n, i, mc, mode == 0)
              : smk_masked_softmax_f16((const smk_f16 *)x, m, (smk_f16 *)y, o, n, i, mc, mode == 0);
}

/* Reference masked softmax / log-softmax of fibre (o, :, i) in double. */
static void ref_masked(int bf, int mode, const uint16_t *x, const uint8_t *m, int pattern, int64_t n, int64_t inner,
                       int64_t o, int64_t i, double *out) {
    double mx = -INFINITY, s = 0;
    int64_t j;
    int nan = 0, any = 0;
#define AT(j) ((o * n + (j)) * inner + i)
#define SEL(j) (m[pattern ? (j) : AT(j)] != 0)
    for (j = 0; j < n; j++) {
        double v = value(x[AT(j)], bf);
        if (mode != 1 && !SEL(j)) continue;
        any |= SEL(j);
        if (isnan(v)) nan = 1; else if (v > mx) mx = v;
    }
    for (j = 0; j < n; j++) if (mode == 1 || SEL(j)) s += exp(value(x[AT(j)], bf) - mx);
    for (j = 0; j < n; j++) {
        double v = value(x[AT(j)], bf);
        if (!SEL(j)) { out[j] = mode == 2 ? -INFINITY : 0; continue; }
        if (nan || mx == -INFINITY) { out[j] = NAN; continue; }
        out[j] = mode == 2 ? (v - mx) - log(s) : exp(v - mx) / s;
    }
    (void)any;
#undef AT
#undef SEL
}

static void compare_masked(int bf, const uint16_t *x, const uint8_t *m, int pattern, int64_t o, int64_t n, int64_t inner) {
    int64_t count = o * n * inner, oo, ii, j;
    uint16_t *y = malloc((size_t)count * 2 + 2);
    double *r = malloc((size_t)n * sizeof *r);
    int mode;
    for (mode = 0; mode < 3; mode++) {
        int slot = mode == 2 ? 3 : 2;
        CHECK_STATUS(run_masked(bf, mode, x, m, y, o, n, inner, pattern ? n : count), SMK_OK);
        for (oo = 0; oo < o; oo++) {
            for (ii = 0; ii < inner; ii++) {
                ref_masked(bf, mode, x, m, pattern, n, inner, oo, ii, r);
                for (j = 0; j < n; j++) {
                    long d = ulps(y[(oo * n + j) * inner + ii], round_half(r[j], bf), bf);
                    if (d > worst_more[bf][slot]) worst_more[bf][slot] = d;
                }
            }
        }
    }
    free(y); free(r);
}

static void test_masked(int bf) {
    static const int64_t shapes[][3] = {{7, 1000, 1}, {3, 33, 5}, {2, 32000, 1}, {64, 10, 1}, {5, 3, 1}, {2, 6, 40}};
    size_t s;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t o = shapes[s][0], n = shapes[s][1], i = shapes[s][2], count = o * n * i, j;
        uint16_t *x = random_half(bf, count, 12.0);
        uint8_t *m = malloc((size_t)count);
        for (j = 0; j < count; j++) m[j] = uniform() < 0.7;
        for (j = 0; j < n * i; j++) m[j] = 0;            /* the first slice fully masked */
        compare_masked(bf, x, m, 0, o, n, i);
        compare_masked(bf, x, m + n * i, 1, o, n, i);   /* a pattern (some fibres' mask) */
        free(x); free(m);
    }
    /* Edge rows: NaN unselected (ignored), NaN selected (selected NaN,
     * the rest 0 / -inf), -inf entries, fully masked, all selected -inf,
     * +-65504, a probability that underflows in half. */
    {
        const double inf = INFINITY;
        double rows[7][4] = {
            {1, NAN, 2, 3}, {1, NAN, 2, 3}, {-inf, 1, -inf, 2}, {5, 6, 7, 8},
            {-inf, -inf, 3, -inf}, {65504, -65504, 65504, 0}, {0, -20, -12, -16},
        };
        uint8_t m[28] = {1, 0, 1, 1,  1, 1, 0, 1,  1, 1, 1, 1,  0, 0, 0, 0,  1, 1, 0, 1,  1, 1, 0, 1,  1, 1, 1, 1};
        uint16_t x[28], y[28], ly[28], z[28];
        double r[4];
        int k, j2;
        for (k = 0; k < 7; k++) for (j2 = 0; j2 < 4; j2++) x[k * 4 + j2] = h(rows[k][j2], bf);
        CHECK_STATUS(run_masked(bf, 0, x, m, y, 7, 4, 1, 28), SMK_OK);
        CHECK_STATUS(run_masked(bf, 2, x, m, ly, 7, 4, 1, 28), SMK_OK);
        for (k = 0; k < 7; k++) {
            ref_masked(bf, 0, x, m, 0, 4, 1, k, 0, r);
            for (j2 = 0; j2 < 4; j2++) CHECK(ulps(y[k * 4 + j2], h(r[j2], bf), bf) <= 1);
            ref_masked(bf, 2, x, m, 0, 4, 1, k, 0, r);
            for (j2 = 0; j2 < 4; j2++) CHECK(ulps(ly[k * 4 + j2], h(r[j2], bf), bf) <= 1);
        }
        CHECK(y[1] == 0 && !isnan(value(y[0], bf)));                            /* NaN unselected: ignored */
        CHECK(isnan(value(y[4], bf)) && y[6] == 0 && value(ly[6], bf) == -INFINITY); /* NaN selected */
        for (j2 = 0; j2 < 4; j2++) CHECK(y[12 + j2] == 0 && value(ly[12 + j2], bf) == -INFINITY); /* fully masked */
        CHECK(isnan(value(y[16], bf)) && y[18] == 0);                           /* selected all -inf */
        if (!bf) CHECK(y[25] == 0);                                             /* e^-20 underflows */
        /* In place. */
        memcpy(z, x, sizeof x);
        CHECK_STATUS(run_masked(bf, 2, z, m, z, 7, 4, 1, 28), SMK_OK);
        CHECK(memcmp(z, ly, sizeof z) == 0);
        /* Refusals: nothing written. */
        memset(y, 0xee, sizeof y);
        CHECK_STATUS(run_masked(bf, 0, x, m, y, 7, 4, 1, 27), SMK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(run_masked(bf, 2, x, NULL, y, 7, 4, 1, 28), SMK_ERROR_NULL_POINTER);
        CHECK_STATUS(run_masked(bf, 0, x, m, x + 1, 6, 4, 1, 24), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(run_masked(bf, 2, x, (const uint8_t *)y, y, 7, 4, 1, 28), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(run_masked(bf, 0, x, m, y, 7, 4, -1, 28), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(bf ? smk_masked_softmax_bf16((const smk_bf16 *)x, m, (smk_bf16 *)y, 7, 4, 1, 28, 2)
                        : smk_masked_softmax_f16((const smk_f16 *)x, m, (smk_f16 *)y, 7, 4, 1, 28, 2), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(y[0] == 0xeeee && y[27] == 0xeeee);
    }
}

/* Rank of two half values in the selection order: NaN first, then larger. */
static int before(int bf, uint16_t a, int64_t ia, uint16_t b, int64_t ib) {
    double va = value(a, bf), vb = value(b, bf);
    if (isnan(va) != isnan(vb)) return isnan(va);
    if (!isnan(va) && va != vb) return va > vb;
    return ia < ib;
}

static void test_argmax_topk(int bf) {
    static const int64_t shapes[][4] = {{6, 1000, 1, 5}, {2, 50, 3, 4}, {4, 7, 1, 7}, {3, 40, 1, 1}, {2, 20000, 1, 9}, {3, 17, 8, 17}};
    size_t s;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t o = shapes[s][0], n = shapes[s][1], in = shapes[s][2], k = shapes[s][3], count = o * n * in;
        int64_t oo, ii, j, t, *idx = malloc((size_t)(o * k * in) * 8), *am = malloc((size_t)(o * in) * 8);
        uint16_t *x = malloc((size_t)count * 2), *v = malloc((size_t)(o * k * in) * 2);
        char *taken = malloc((size_t)n);
        /* Few distinct values (many ties), a few NaN, +-0 and +-inf. */
        for (j = 0; j < count; j++) {
            double u = uniform();
            x[j] = u < 0.01 ? (bf ? 0x7fc0 : 0x7e00) : u < 0.02 ? h(-INFINITY, bf) : u < 0.03 ? 0x8000
                 : h(floor(uniform() * 30) - 15, bf);
        }
        CHECK_STATUS(bf ? smk_argmax_bf16((const smk_bf16 *)x, am, o, n, in) : smk_argmax_f16((const smk_f16 *)x, am, o, n, in), SMK_OK);
        CHECK_STATUS(bf ? smk_topk_bf16((const smk_bf16 *)x, (smk_bf16 *)v, idx, o, n, in, k)
                        : smk_topk_f16((const smk_f16 *)x, (smk_f16 *)v, idx, o, n, in, k), SMK_OK);
        for (oo = 0; oo < o; oo++) {
            for (ii = 0; ii < in; ii++) {
                memset(taken, 0, (size_t)n);
                for (t = 0; t < k; t++) {
                    int64_t best = -1, at;
                    for (j = 0; j < n; j++) {
                        if (taken[j]) continue;
                        if (best < 0 || before(bf, x[(oo * n + j) * in + ii], j, x[(oo * n + best) * in + ii], best)) best = j;
                    }
                    taken[best] = 1;
                    at = (oo * k + t) * in + ii;
                    CHECK(idx[at] == best);
                    CHECK(v[at] == x[(oo * n + best) * in + ii]);   /* the input's bits */
                    if (t == 0) CHECK(am[oo * in + ii] == best);
                }
            }
        }
        free(idx); free(am); free(x); free(v); free(taken);
    }
    /* Refusals: nothing written. */
    {
        uint16_t x[12] = {0}, v[12];
        int64_t idx[12], am[3];
        memset(v, 0xee, sizeof v);
        am[0] = idx[0] = 77;
        CHECK_STATUS(smk_argmax_f16((const smk_f16 *)x, am, 3, 0, 1), SMK_ERROR_INVALID_ARGUMENT);   /* empty axis */
        CHECK_STATUS(smk_argmax_bf16(NULL, am, 3, 4, 1), SMK_ERROR_NULL_POINTER);
        CHECK_STATUS(smk_argmax_f16((const smk_f16 *)x, (int64_t *)(void *)x, 1, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_topk_bf16((const smk_bf16 *)x, (smk_bf16 *)v, idx, 3, 4, 1, 5), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_topk_f16((const smk_f16 *)x, (smk_f16 *)v, NULL, 3, 4, 1, 2), SMK_ERROR_NULL_POINTER);
        CHECK_STATUS(smk_topk_f16((const smk_f16 *)x, (smk_f16 *)x + 1, idx, 3, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_topk_bf16((const smk_bf16 *)x, (smk_bf16 *)v, (int64_t *)(void *)v, 3, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(v[0] == 0xeeee && am[0] == 77 && idx[0] == 77);
        CHECK_STATUS(smk_argmax_f16((const smk_f16 *)x, am, 0, 0, 1), SMK_OK);
        CHECK_STATUS(smk_topk_f16((const smk_f16 *)x, (smk_f16 *)v, idx, 3, 4, 1, 0), SMK_OK);
    }
}

int main(void) {
    int bf;
    for (bf = 0; bf < 2; bf++) {
        test_conversions(bf);
        test_normalizers(bf);
        test_edges(bf);
        test_topk(bf);
        test_cross_entropy(bf);
        printf("%s worst ulp vs float64 rounded once: softmax %ld, log_softmax %ld, logsumexp %ld, softmax_topk vs softmax %ld\n",
               bf ? "bf16" : "f16", worst[bf][0], worst[bf][1], worst[bf][2], worst[bf][3]);
        CHECK(worst[bf][0] <= 1 && worst[bf][1] <= 1 && worst[bf][2] <= 1 && worst[bf][3] <= 1);
    }
    for (bf = 0; bf < 2; bf++) {
        test_sigmoid(bf);
        test_masked(bf);
        test_argmax_topk(bf);
        printf("%s worst ulp vs float64 rounded once: sigmoid %ld, log_sigmoid %ld, masked_softmax %ld, "
               "masked_log_softmax %ld; argmax and topk exact\n",
               bf ? "bf16" : "f16", worst_more[bf][0], worst_more[bf][1], worst_more[bf][2], worst_more[bf][3]);
        CHECK(worst_more[bf][0] <= 1 && worst_more[bf][1] <= 1 && worst_more[bf][2] <= 1 && worst_more[bf][3] <= 1);
    }
    test_bad_input();
    return check_summary("test_half");
}
