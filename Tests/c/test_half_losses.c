/* Half precision from C, continued: smk_nll_loss, smk_cross_entropy_probs,
 * smk_binary_cross_entropy_with_logits, the three backward kernels,
 * smk_ensemble_mean and smk_sample on float16 / bfloat16. Half outputs
 * against a float64 reference rounded once to half (worst distance in ulps
 * printed and bounded), float32 losses against float64, sampling against
 * smk_sample_f32 on the widened logits (the same draws), edge cases and
 * refusals of bad arguments. */
#include "softmaxkit.h"
#include "check.h"
#include "half_reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reference */

/* Worst ulp distance of `got` from `want` rounded once, over `count`. */
static long worst_ulps(const uint16_t *got, const double *want, int64_t count, int bf) {
    long w = 0;
    int64_t i;
    for (i = 0; i < count; i++) {
        long d = ulps(got[i], round_half(want[i], bf), bf);
        if (d > w) w = d;
    }
    return w;
}

static uint32_t rng_state = 12345u;
static double uniform(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 17; rng_state ^= rng_state << 5;
    return (rng_state >> 8) * ldexp(1, -24);
}

/* count half values of scale * U(-1, 1). */
static void fill(uint16_t *h, int64_t count, double scale, int bf) {
    int64_t i;
    for (i = 0; i < count; i++) h[i] = round_half(scale * (2 * uniform() - 1), bf);
}

/* Softmax (or log-softmax) of rows of length n, rounded to half. */
static void half_softmax_rows(const uint16_t *x, uint16_t *y, int64_t rows, int64_t n, int log_, int bf) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (j = 0; j < n; j++) m = fmax(m, value(x[r * n + j], bf));
        for (j = 0; j < n; j++) s += exp(value(x[r * n + j], bf) - m);
        for (j = 0; j < n; j++) {
            double v = value(x[r * n + j], bf) - m;
            y[r * n + j] = round_half(log_ ? v - log(s) : exp(v) / s, bf);
        }
    }
}

/* worst[bf][op]: softmax_backward, log_softmax_backward, sigmoid_backward,
 * ce_probs gradient, ensemble (arithmetic, geometric, logits). */
static long worst[2][7];
static double worst_rel[2][3]; /* nll, ce_probs, bce losses (relative to float64) */

#define ROWS 300
#define N 37
#define C (ROWS * N)

/* ---------------------------------------------------------------- backward */

static void test_backward(int bf) {
    uint16_t *x = malloc(C * 2), *y = malloc(C * 2), *dy = malloc(C * 2), *dx = malloc(C * 2);
    double *want = malloc(C * sizeof(double));
    int64_t r, j;
    int log_;
    fill(x, C, 4, bf);
    fill(dy, C, 1, bf);
    for (log_ = 0; log_ < 2; log_++) {
        half_softmax_rows(x, y, ROWS, N, log_, bf);
        for (r = 0; r < ROWS; r++) {
            double d = 0;
            for (j = 0; j < N; j++) d += log_ ? value(dy[r * N + j], bf) : value(dy[r * N + j], bf) * value(y[r * N + j], bf);
            for (j = 0; j < N; j++) {
                double yv = value(y[r * N + j], bf), g = value(dy[r * N + j], bf);
                want[r * N + j] = log_ ? g - exp(yv) * d : yv * (g - d);
            }
        }
        if (bf) {
            CHECK_STATUS((log_ ? smk_log_softmax_backward_bf16 : smk_softmax_backward_bf16)(
                (const smk_bf16 *)y, (const smk_bf16 *)dy, (smk_bf16 *)dx, ROWS, N, 1), SMK_OK);
        } else {
            CHECK_STATUS((log_ ? smk_log_softmax_backward_f16 : smk_softmax_backward_f16)(
                (const smk_f16 *)y, (const smk_f16 *)dy, (smk_f16 *)dx, ROWS, N, 1), SMK_OK);
        }
        worst[bf][log_] = worst_ulps(dx, want, C, bf);
        /* In place (dx is dy) gives the same bits. */
        {
            uint16_t *copy = malloc(C * 2);
            memcpy(copy, dy, C * 2);
            if (bf) CHECK_STATUS((log_ ? smk_log_softmax_backward_bf16 : smk_softmax_backward_bf16)(
                (const smk_bf16 *)y, (const smk_bf16 *)copy, (smk_bf16 *)copy, ROWS, N, 1), SMK_OK);
            else CHECK_STATUS((log_ ? smk_log_softmax_backward_f16 : smk_softmax_backward_f16)(
                (const smk_f16 *)y, (const smk_f16 *)copy, (smk_f16 *)copy, ROWS, N, 1), SMK_OK);
            CHECK(memcmp(copy, dx, C * 2) == 0);
            free(copy);
        }
    }
    /* dy near its weighted mean: dy - sum(dy * y) cancels (a float32 sum was
     * up to 4 half ulps off here). */
    half_softmax_rows(x, y, ROWS, N, 0, bf);
    for (j = 0; j < C; j++) dy[j] = round_half(1 + 0.01 * (2 * uniform() - 1), bf);
    for (r = 0; r < ROWS; r++) {
        double d = 0;
        for (j = 0; j < N; j++) d += value(dy[r * N + j], bf) * value(y[r * N + j], bf);
        for (j = 0; j < N; j++) want[r * N + j] = value(y[r * N + j], bf) * (value(dy[r * N + j], bf) - d);
    }
    CHECK_STATUS(bf ? smk_softmax_backward_bf16((const smk_bf16 *)y, (const smk_bf16 *)dy, (smk_bf16 *)dx, ROWS, N, 1)
                    : smk_softmax_backward_f16((const smk_f16 *)y, (const smk_f16 *)dy, (smk_f16 *)dx, ROWS, N, 1), SMK_OK);
    {
        long d = worst_ulps(dx, want, C, bf);
        if (d > worst[bf][0]) worst[bf][0] = d;
    }
    /* Sigmoid backward on values in [0, 1], subnormals included. */
    for (j = 0; j < C; j++) y[j] = round_half(uniform(), bf);
    y[0] = 0x0001; /* the smallest subnormal */
    y[1] = round_half(1.0, bf);
    for (j = 0; j < C; j++) {
        double yv = value(y[j], bf);
        want[j] = value(dy[j], bf) * yv * (1 - yv);
    }
    CHECK_STATUS(bf ? smk_sigmoid_backward_bf16((const smk_bf16 *)y, (const smk_bf16 *)dy, (smk_bf16 *)dx, C)
                    : smk_sigmoid_backward_f16((const smk_f16 *)y, (const smk_f16 *)dy, (smk_f16 *)dx, C), SMK_OK);
    worst[bf][2] = worst_ulps(dx, want, C, bf);
    /* Refusals: NULL, negative extent, partial overlap. */
    CHECK_STATUS(smk_softmax_backward_f16(NULL, (const smk_f16 *)dy, (smk_f16 *)dx, 1, 2, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_log_softmax_backward_bf16((const smk_bf16 *)y, (const smk_bf16 *)dy, (smk_bf16 *)dx, -1, 2, 1),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sigmoid_backward_f16((const smk_f16 *)y, (const smk_f16 *)dy, (smk_f16 *)(y + 1), 8),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sigmoid_backward_bf16(NULL, NULL, NULL, 0), SMK_OK);
    free(x); free(y); free(dy); free(dx); free(want);
}

/* ---------------------------------------------------------------- losses */

static void note_rel(int bf, int op, double got, double want) {
    double rel = fabs(got - want) / fmax(fabs(want), 1e-30);
    if (rel > worst_rel[bf][op]) worst_rel[bf][op] = rel;
}

static void test_losses(int bf) {
    uint16_t *x = malloc(C * 2), *p = malloc(C * 2), *g = malloc(C * 2);
    float *loss = malloc(C * sizeof(float)), w[N], pw[N];
    double *want = malloc(C * sizeof(double)), *per = malloc(C * sizeof(double));
    int64_t target[ROWS], r, j;
    smk_loss_options o;
    int red;
    fill(x, C, 4, bf);
    fill(p, C, 3, bf);
    half_softmax_rows(p, p, ROWS, N, 0, bf);
    for (j = 0; j < N; j++) { w[j] = (float)(0.5 + uniform()); pw[j] = (float)(0.5 + 2 * uniform()); }
    for (r = 0; r < ROWS; r++) target[r] = r % 7 == 0 ? -100 : (r * 5) % N;
    for (red = 0; red < 3; red++) {
        double total = 0, wsum = 0;
        smk_loss_options_init(&o);
        o.reduction = red;
        /* nll_loss on log-probabilities */
        {
            uint16_t *lp = malloc(C * 2);
            half_softmax_rows(x, lp, ROWS, N, 1, bf);
            for (r = 0; r < ROWS; r++) {
                per[r] = target[r] == -100 ? 0 : -w[target[r]] * value(lp[r * N + target[r]], bf);
                total += per[r];
                if (target[r] != -100) wsum += w[target[r]];
            }
            CHECK_STATUS(bf ? smk_nll_loss_bf16((const smk_bf16 *)lp, target, w, loss, ROWS, N, 1, &o)
                            : smk_nll_loss_f16((const smk_f16 *)lp, target, w, loss, ROWS, N, 1, &o), SMK_OK);
            if (red == 0) for (r = 0; r < ROWS; r++) note_rel(bf, 0, loss[r], per[r]);
            else note_rel(bf, 0, loss[0], red == 1 ? total / wsum : total);
            free(lp);
        }
        /* cross-entropy with probability targets and label smoothing */
        o.label_smoothing = 0.1;
        total = 0;
        for (r = 0; r < ROWS; r++) {
            double m = -INFINITY, s = 0, qs = 0, l = 0, lz;
            for (j = 0; j < N; j++) m = fmax(m, value(x[r * N + j], bf));
            for (j = 0; j < N; j++) s += exp(value(x[r * N + j], bf) - m);
            lz = m + log(s);
            for (j = 0; j < N; j++) {
                double q = w[j] * (0.9 * value(p[r * N + j], bf) + 0.1 / N);
                l += q * (lz - value(x[r * N + j], bf));
                qs += q;
            }
            for (j = 0; j < N; j++) {
                double q = w[j] * (0.9 * value(p[r * N + j], bf) + 0.1 / N);
                want[r * N + j] = (qs * exp(value(x[r * N + j], bf) - lz) - q) / (red == 1 ? ROWS : 1);
            }
            per[r] = l;
            total += l;
        }
        CHECK_STATUS(bf ? smk_cross_entropy_probs_bf16((const smk_bf16 *)x, (const smk_bf16 *)p, w, loss, (smk_bf16 *)g, ROWS, N, 1, &o)
                        : smk_cross_entropy_probs_f16((const smk_f16 *)x, (const smk_f16 *)p, w, loss, (smk_f16 *)g, ROWS, N, 1, &o),
                     SMK_OK);
        if (red == 0) for (r = 0; r < ROWS; r++) note_rel(bf, 1, loss[r], per[r]);
        else note_rel(bf, 1, loss[0], red == 1 ? total / ROWS : total);
        {
            long d = worst_ulps(g, want, C, bf);
            if (d > worst[bf][3]) worst[bf][3] = d;
        }
        /* binary cross-entropy with logits, pos_weight along the rows */
        total = 0;
        for (j = 0; j < C; j++) {
            double xv = value(x[j], bf), yv = value(p[j], bf);
            double sp = log1p(exp(-fabs(xv))) + fmax(-xv, 0);
            per[j] = (1 - yv) * xv + (1 + (pw[j % N] - 1) * yv) * sp;
            total += per[j];
        }
        CHECK_STATUS(bf ? smk_binary_cross_entropy_with_logits_bf16((const smk_bf16 *)x, (const smk_bf16 *)p, NULL, pw, loss, C, N, red)
                        : smk_binary_cross_entropy_with_logits_f16((const smk_f16 *)x, (const smk_f16 *)p, NULL, pw, loss, C, N, red),
                     SMK_OK);
        if (red == 0) for (j = 0; j < C; j++) note_rel(bf, 2, loss[j], per[j]);
        else note_rel(bf, 2, loss[0], red == 1 ? total / C : total);
    }
    /* Refusals: a target out of range writes nothing; label smoothing for nll;
     * an unknown reduction; pos_weight not dividing the count; overlap. */
    smk_loss_options_init(&o);
    target[3] = N;
    loss[0] = 7.0f;
    CHECK_STATUS(smk_nll_loss_f16((const smk_f16 *)x, target, NULL, loss, ROWS, N, 1, &o), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK(loss[0] == 7.0f);
    target[3] = 0;
    o.label_smoothing = 0.5;
    CHECK_STATUS(smk_nll_loss_bf16((const smk_bf16 *)x, target, NULL, loss, ROWS, N, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    o.label_smoothing = 2;
    CHECK_STATUS(smk_cross_entropy_probs_f16((const smk_f16 *)x, (const smk_f16 *)p, NULL, loss, NULL, ROWS, N, 1, &o),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_cross_entropy_probs_bf16((const smk_bf16 *)x, NULL, NULL, loss, NULL, ROWS, N, 1, NULL),
                 SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f16((const smk_f16 *)x, (const smk_f16 *)p, NULL, NULL, loss, C, N, 5),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_bf16((const smk_bf16 *)x, (const smk_bf16 *)p, NULL, pw, loss, 10, 4, 1),
                 SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_cross_entropy_probs_f16((const smk_f16 *)x, (const smk_f16 *)p, NULL, loss, (smk_f16 *)(p + 3), ROWS, N, 1, NULL),
                 SMK_ERROR_INVALID_ARGUMENT);
    /* Empty: a mean of nothing is NaN. */
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f16(NULL, NULL, NULL, NULL, loss, 0, 1, SMK_REDUCTION_MEAN), SMK_OK);
    CHECK(isnan(loss[0]));
    /* The largest finite float16 logits: float32 inside, exact losses. */
    if (!bf) {
        uint16_t xe[3] = {0x7bff, 0xfbff, 0}, pe[3] = {0x3c00, 0, 0}; /* 65504, -65504, 0; target 1, 0, 0 */
        uint16_t ge[3];
        CHECK_STATUS(smk_cross_entropy_probs_f16((const smk_f16 *)xe, (const smk_f16 *)pe, NULL, loss, (smk_f16 *)ge, 1, 3, 1, NULL),
                     SMK_OK);
        CHECK(loss[0] == 0.0f);
        CHECK(ge[0] == 0 && ge[1] == 0 && ge[2] == 0);
    }
    free(x); free(p); free(g); free(loss); free(want); free(per);
}

/* ---------------------------------------------------------------- ensembles */

static void test_ensemble(int bf) {
    enum { M = 3 };
    uint16_t *mem[M], *y = malloc(C * 2);
    double *want = malloc(C * sizeof(double));
    const void *table[M];
    int k, mode;
    int64_t r, j;
    for (mode = 0; mode < 3; mode++) {
        for (k = 0; k < M; k++) {
            mem[k] = malloc(C * 2);
            fill(mem[k], C, 3, bf);
            if (mode != SMK_ENSEMBLE_LOGITS) half_softmax_rows(mem[k], mem[k], ROWS, N, 0, bf);
            table[k] = mem[k];
        }
        if (mode == SMK_ENSEMBLE_GEOMETRIC) mem[1][5] = 0; /* a zero probability */
        for (r = 0; r < ROWS; r++) {
            double mx = -INFINITY, s = 0;
            for (j = 0; j < N; j++) {
                double a = 0;
                for (k = 0; k < M; k++) {
                    double v = value(mem[k][r * N + j], bf);
                    a += mode == SMK_ENSEMBLE_GEOMETRIC ? log(v) : v;
                }
                want[r * N + j] = a / M;
                mx = fmax(mx, a / M);
            }
            if (mode == SMK_ENSEMBLE_ARITHMETIC) continue;
            for (j = 0; j < N; j++) s += exp(want[r * N + j] - mx);
            for (j = 0; j < N; j++) want[r * N + j] = exp(want[r * N + j] - mx) / s;
        }
        CHECK_STATUS(bf ? smk_ensemble_mean_bf16((const smk_bf16 *const *)table, (smk_bf16 *)y, M, ROWS, N, 1, mode)
                        : smk_ensemble_mean_f16((const smk_f16 *const *)table, (smk_f16 *)y, M, ROWS, N, 1, mode), SMK_OK);
        worst[bf][4 + mode] = worst_ulps(y, want, C, bf);
        if (mode == SMK_ENSEMBLE_GEOMETRIC) CHECK(y[5] == 0);
        /* In place into members[0]. */
        CHECK_STATUS(bf ? smk_ensemble_mean_bf16((const smk_bf16 *const *)table, (smk_bf16 *)mem[0], M, ROWS, N, 1, mode)
                        : smk_ensemble_mean_f16((const smk_f16 *const *)table, (smk_f16 *)mem[0], M, ROWS, N, 1, mode), SMK_OK);
        CHECK(memcmp(mem[0], y, C * 2) == 0);
        if (mode == 2) {
            CHECK_STATUS(smk_ensemble_mean_f16((const smk_f16 *const *)table, (smk_f16 *)y, M, ROWS, N, 1, (smk_ensemble_mode)7),
                         SMK_ERROR_INVALID_ARGUMENT);
            CHECK_STATUS(smk_ensemble_mean_bf16((const smk_bf16 *const *)table, (smk_bf16 *)y, 0, ROWS, N, 1, mode),
                         SMK_ERROR_INVALID_ARGUMENT);
            CHECK_STATUS(smk_ensemble_mean_f16((const smk_f16 *const *)table, (smk_f16 *)(mem[1] + 1), M, ROWS, N, 1, mode),
                         SMK_ERROR_INVALID_ARGUMENT);
        }
        for (k = 0; k < M; k++) free(mem[k]);
    }
    free(y); free(want);
}

/* ---------------------------------------------------------------- sampling */

static void test_sample(int bf) {
    enum { O = 700, NS = 50, I = 3, T = O * NS * I, D = 3 };
    uint16_t *x = malloc(T * 2);
    float *wide = malloc(T * sizeof(float)), *lp16 = malloc(O * D * I * sizeof(float)), *lp32 = malloc(O * D * I * sizeof(float));
    int64_t *i16 = malloc(O * D * I * 8), *i32 = malloc(O * D * I * 8);
    uint8_t *mask = malloc(T);
    smk_sample_options o;
    int variant, bad = 0;
    int64_t j;
    fill(x, T, 5, bf);
    for (j = 0; j < T; j++) mask[j] = uniform() > 0.2;
    for (j = 0; j < NS * I; j++) x[j] = round_half(-INFINITY, bf); /* fibres of outer 0: nothing to draw */
    CHECK_STATUS(bf ? smk_half_to_float_bf16((const smk_bf16 *)x, wide, T) : smk_half_to_float_f16((const smk_f16 *)x, wide, T), SMK_OK);
    for (variant = 0; variant < 4; variant++) {
        int64_t inner = variant == 3 ? 1 : I, outer = variant == 3 ? O * I : O, draws = variant == 1 ? D : 1;
        const uint8_t *m = variant == 2 ? mask : NULL;
        smk_sample_options_init(&o);
        o.num_samples = draws;
        o.row_offset = 1000 * (uint64_t)variant;
        if (variant == 1) { o.temperature = 0.7; o.top_k = 10; o.top_p = 0.8; o.replacement = 0; }
        if (variant == 2) o.min_p = 0.01;
        CHECK_STATUS(bf ? smk_sample_bf16((const smk_bf16 *)x, m, i16, lp16, outer, NS, inner, m ? T : 0, &o, 42)
                        : smk_sample_f16((const smk_f16 *)x, m, i16, lp16, outer, NS, inner, m ? T : 0, &o, 42), SMK_OK);
        CHECK_STATUS(smk_sample_f32(wide, m, i32, lp32, outer, NS, inner, m ? T : 0, &o, 42), SMK_OK);
        for (j = 0; j < outer * draws * inner; j++) {
            if (i16[j] != i32[j] || (memcmp(&lp16[j], &lp32[j], 4) != 0 && !(isnan(lp16[j]) && isnan(lp32[j])))) bad++;
        }
        CHECK(i16[0] == -1 && isnan(lp16[0]));
    }
    CHECK(bad == 0);
    /* One short row (the float32 call's fast path) draws the same. */
    smk_sample_options_init(&o);
    CHECK_STATUS(bf ? smk_sample_bf16((const smk_bf16 *)x + NS * I, NULL, i16, lp16, 1, 60, 1, 0, &o, 9)
                    : smk_sample_f16((const smk_f16 *)x + NS * I, NULL, i16, lp16, 1, 60, 1, 0, &o, 9), SMK_OK);
    CHECK_STATUS(smk_sample_f32(wide + NS * I, NULL, i32, lp32, 1, 60, 1, 0, &o, 9), SMK_OK);
    CHECK(i16[0] == i32[0] && memcmp(lp16, lp32, 4) == 0);
    /* Refusals: bad options, mask of the wrong length, overlap. */
    o.top_p = 0;
    CHECK_STATUS(smk_sample_f16((const smk_f16 *)x, NULL, i16, lp16, O, NS, I, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    smk_sample_options_init(&o);
    CHECK_STATUS(smk_sample_bf16((const smk_bf16 *)x, mask, i16, lp16, O, NS, I, 7, &o, 1), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_sample_f16((const smk_f16 *)x, NULL, (int64_t *)(void *)(x + 2), NULL, O, NS, I, 0, &o, 1),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sample_bf16(NULL, NULL, i16, NULL, 1, 3, 1, 0, &o, 1), SMK_ERROR_NULL_POINTER);
    /* outer * num_samples * inner past the element limit, without and with a 64-bit wrap. */
    o.num_samples = INT64_MAX / 4;
    CHECK_STATUS(smk_sample_f16((const smk_f16 *)x, NULL, i16, NULL, 1, NS, 1, 0, &o, 1), SMK_ERROR_SIZE_OVERFLOW);
    CHECK_STATUS(smk_sample_bf16((const smk_bf16 *)x, NULL, i16, NULL, 8, NS, 1, 0, &o, 1), SMK_ERROR_SIZE_OVERFLOW);
    smk_sample_options_init(&o);
    free(x); free(wide); free(lp16); free(lp32); free(i16); free(i32); free(mask);
}

int main(void) {
    int bf;
    for (bf = 0; bf < 2; bf++) {
        test_backward(bf);
        test_losses(bf);
        test_ensemble(bf);
        test_sample(bf);
        printf("%s worst ulp vs float64 rounded once: softmax_backward %ld, log_softmax_backward %ld, "
               "sigmoid_backward %ld, cross_entropy_probs gradient %ld, ensemble arithmetic %ld, geometric %ld, logits %ld\n",
               bf ? "bf16" : "f16", worst[bf][0], worst[bf][1], worst[bf][2], worst[bf][3], worst[bf][4], worst[bf][5], worst[bf][6]);
        printf("%s worst relative error of the float32 losses vs float64: nll %.2g, cross_entropy_probs %.2g, bce %.2g\n",
               bf ? "bf16" : "f16", worst_rel[bf][0], worst_rel[bf][1], worst_rel[bf][2]);
        CHECK(worst[bf][0] <= 1 && worst[bf][1] <= 1 && worst[bf][2] <= 1 && worst[bf][3] <= 1);
        CHECK(worst[bf][4] <= 1 && worst[bf][5] <= 1 && worst[bf][6] <= 1);
        CHECK(worst_rel[bf][0] < 1e-6 && worst_rel[bf][1] < 1e-5 && worst_rel[bf][2] < 1e-6);
    }
    return check_summary("test_half_losses");
}
