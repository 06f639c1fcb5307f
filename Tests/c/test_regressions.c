/* Regression tests for bugs found by the fuzzer (Tests/fuzz/fuzz_abi.c) and
 * the stress tests, one function per bug, each with the input that showed
 * it. TESTING.md lists them. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* softmax of a row with logits near 1e4 at temperature 0.7 (fuzz input
 * crash-2500eecf..., row 4 of a [9, 34] batch): the exponent was computed as
 * x * (1/T) - max * (1/T), losing ~|max|/T * eps, so entries were 4e-4 off
 * in float. Every entry must be within 1e-5 relative of a double reference. */
static void test_large_logits_with_temperature(void) {
    static const float row[34] = {
        -3623, 8247, 1720, 1653, 9535, 9191, 9578, -215, 3085, -1439, 4191, -8627,
        -9316, 6634, -7423, -4580, -3361, -8920, -9554, 7476, 8419, 5990, -7678, 2293,
        9588, 9190, -8023, 8790, -5213, 3705, -3107, 7459, 6054, 5992};
    float y[34];
    double m = -INFINITY, s = 0, worst = 0;
    const float t = 0.7f;
    int j;
    for (j = 0; j < 34; j++) if (row[j] > m) m = row[j];
    for (j = 0; j < 34; j++) s += exp(((double)row[j] - m) / (double)t);
    CHECK_STATUS(smk_softmax_f32(row, y, 1, 34, 1, t), SMK_OK);
    for (j = 0; j < 34; j++) {
        double want = exp(((double)row[j] - m) / (double)t) / s;
        if (want > 1e-30) {
            double rel = fabs(y[j] - want) / want;
            if (rel > worst) worst = rel;
        }
    }
    CHECK(worst < 1e-5);
}

/* Finite logits near FLT_MAX at a temperature below 1: x / T overflowed in
 * the fused form (inf - inf) and the row came out NaN. [3e38, 0] at T = 0.5
 * is [1, 0]. */
static void test_huge_finite_logits(void) {
    float x[20] = {3e38f, 0}, y[20];
    double xd[2] = {1.7e308, 0}, yd[2];
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 2, 1, 0.5f), SMK_OK);
    CHECK(y[0] == 1.0f && y[1] == 0.0f);
    /* the same through the full-vector path (20 > one vector of floats) */
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 20, 1, 0.5f), SMK_OK);
    CHECK(y[0] == 1.0f && y[1] == 0.0f && y[19] == 0.0f);
    CHECK_STATUS(smk_softmax_f64(xd, yd, 1, 2, 1, 0.25), SMK_OK);
    CHECK(yd[0] == 1.0 && yd[1] == 0.0);
    /* the strided kernels too: softmax over axis 0 of [2, 20] and [2, 70]
     * (one partial vector, then several full ones per row of columns) */
    {
        float xs[140], ys[140];
        int i, ok = 1;
        for (i = 0; i < 140; i++) xs[i] = i < 70 ? 3e38f : 0.0f;
        CHECK_STATUS(smk_softmax_f32(xs, ys, 1, 2, 70, 0.5f), SMK_OK);
        for (i = 0; i < 140; i++) if (ys[i] != (i < 70 ? 1.0f : 0.0f)) ok = 0;
        CHECK(ok);
        for (i = 0; i < 40; i++) xs[i] = i < 20 ? 3e38f : 0.0f;
        CHECK_STATUS(smk_log_softmax_f32(xs, ys, 1, 2, 20, 0.5f), SMK_OK);
        ok = 1;
        for (i = 0; i < 20; i++) if (ys[i] != 0.0f || !(ys[20 + i] < -1e38f)) ok = 0;
        CHECK(ok);
    }
}

/* A subnormal temperature passed `> 0` but 1/T overflowed to inf and every
 * row became NaN. It is now refused, with nothing written. */
static void test_subnormal_temperature(void) {
    float x[2] = {1, 0}, y[2] = {7, 7};
    double xd[2] = {1, 0}, yd[2] = {7, 7};
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 2, 1, 1e-40f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_log_softmax_f32(x, y, 1, 2, 1, 1e-45f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(y[0] == 7 && y[1] == 7);
    CHECK_STATUS(smk_softmax_f64(xd, yd, 1, 2, 1, 4.9406564584124654e-324), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(yd[0] == 7 && yd[1] == 7);
    /* the smallest normal temperatures still work: the limit is hardmax */
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 2, 1, 1.2e-38f), SMK_OK);
    CHECK(y[0] == 1.0f && y[1] == 0.0f);
}

/* logsumexp with y = x + 4 inside x's 6 elements ([2, 3] rows): the overlap
 * check compared only min(6, 2) elements of each, returned SMK_OK and row 1
 * was read after y[0] had overwritten it (6.19 instead of 6.41). */
static void test_logsumexp_partial_overlap(void) {
    float buf[8] = {1, 2, 3, 4, 5, 6, 0, 0};
    double bd[6] = {1, 2, 3, 4, 5, 6};
    CHECK_STATUS(smk_logsumexp_f32(buf, buf + 4, 2, 3, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(buf[4] == 5 && buf[5] == 6);
    CHECK_STATUS(smk_logsumexp_f64(bd + 1, bd, 2, 2, 1), SMK_ERROR_INVALID_ARGUMENT);
    /* y just past x is fine, and so is y == x */
    CHECK_STATUS(smk_logsumexp_f32(buf, buf + 6, 2, 3, 1), SMK_OK);
    CHECK(fabsf(buf[6] - 3.40760596f) < 1e-5f && fabsf(buf[7] - 6.40760596f) < 1e-5f);
    CHECK_STATUS(smk_logsumexp_f32(buf, buf, 2, 3, 1), SMK_OK);
    CHECK(fabsf(buf[0] - 3.40760596f) < 1e-5f && fabsf(buf[1] - 6.40760596f) < 1e-5f);
}

/* logsumexp in place over 2^19 rows of 2 with 2 threads: a worker's rows
 * wrote y[o] = x[o] into rows another worker had not read yet; 20 of 20 runs
 * differed from the serial result. In place must equal out of place. */
static void test_logsumexp_in_place_threads(void) {
    const int64_t outer = (int64_t)1 << 19, n = 2;
    const size_t cells = (size_t)(outer * n);
    float *x = (float *)malloc(cells * sizeof(float));
    float *ref = (float *)malloc((size_t)outer * sizeof(float));
    float *b = (float *)malloc(cells * sizeof(float));
    size_t i;
    int rep, differ = 0;
    CHECK(x && ref && b);
    if (!x || !ref || !b) { free(x); free(ref); free(b); return; }
    for (i = 0; i < cells; i++) x[i] = sinf((float)i * 0.37f) * 10;
    smk_set_num_threads(1);
    CHECK_STATUS(smk_logsumexp_f32(x, ref, outer, n, 1), SMK_OK);
    smk_set_num_threads(2);
    for (rep = 0; rep < 5; rep++) {
        memcpy(b, x, cells * sizeof(float));
        CHECK_STATUS(smk_logsumexp_f32(b, b, outer, n, 1), SMK_OK);
        if (memcmp(ref, b, (size_t)outer * sizeof(float)) != 0) differ++;
    }
    CHECK(differ == 0);
    smk_set_num_threads(0);
    free(x); free(ref); free(b);
}

/* Cross-entropy with no logits to read (fuzz_abi, smk_cross_entropy_probs_f32
 * with extents (0, 0, 1) and NULL pointers): the core force-unwrapped the
 * logits' base address and trapped, killing the calling process, although
 * NULL is documented as valid with a zero count. No samples, or C == 0 with
 * every target ignored: each loss is 0, the mean is 0 / denominator (NaN when
 * nothing counts, as PyTorch). Covers the row and the strided paths. */
static void test_cross_entropy_without_logits(void) {
    smk_loss_options o;
    float loss[3] = {7, 7, 7};
    double lossd[3] = {7, 7, 7};
    const int64_t ignored[6] = {-100, -100, -100, -100, -100, -100};
    smk_loss_options_init(&o);
    CHECK_STATUS(smk_cross_entropy_probs_f32(NULL, NULL, NULL, loss, NULL, 0, 0, 1, NULL), SMK_OK);
    CHECK(isnan(loss[0]));
    CHECK_STATUS(smk_cross_entropy_f32(NULL, NULL, NULL, loss, NULL, 0, 5, 1, NULL), SMK_OK);
    CHECK(isnan(loss[0]));
    CHECK_STATUS(smk_cross_entropy_f64(NULL, NULL, NULL, lossd, NULL, 0, 5, 3, NULL), SMK_OK);
    CHECK(isnan(lossd[0]));
    /* three samples of zero classes, every target ignored */
    CHECK_STATUS(smk_cross_entropy_f32(NULL, ignored, NULL, loss, NULL, 3, 0, 1, &o), SMK_OK);
    CHECK(isnan(loss[0]));
    o.reduction = SMK_REDUCTION_SUM;
    CHECK_STATUS(smk_cross_entropy_f64(NULL, ignored, NULL, lossd, NULL, 3, 0, 2, &o), SMK_OK);
    CHECK(lossd[0] == 0);
    o.reduction = SMK_REDUCTION_NONE;
    CHECK_STATUS(smk_cross_entropy_f32(NULL, ignored, NULL, loss, NULL, 3, 0, 1, &o), SMK_OK);
    CHECK(loss[0] == 0 && loss[1] == 0 && loss[2] == 0);
    /* probability targets over zero classes: each loss is an empty sum */
    o.reduction = SMK_REDUCTION_MEAN;
    CHECK_STATUS(smk_cross_entropy_probs_f64(NULL, NULL, NULL, lossd, NULL, 3, 0, 1, &o), SMK_OK);
    CHECK(lossd[0] == 0);
    /* a target that is not ignored still has no class to be */
    {
        const int64_t t[3] = {-100, 0, -100};
        CHECK_STATUS(smk_cross_entropy_f32(NULL, t, NULL, loss, NULL, 3, 0, 1, &o), SMK_ERROR_INDEX_OUT_OF_RANGE);
    }
}

/* log_softmax backward with dx == dy (fuzz_abi: (13, 70, 1) float rows)
 * took exp(y) from libm while out of place it comes from the vector exp
 * kernel: the two differ in the last bit for some y, so in place gave other
 * bits than out of place. In place must equal out of place. */
static void test_log_softmax_backward_in_place_bits(void) {
    enum { ROWS = 13, N = 70, CELLS = ROWS * N };
    float y[CELLS], dy[CELLS], out[CELLS], in[CELLS];
    double yd[CELLS], dyd[CELLS], outd[CELLS], ind[CELLS];
    int j;
    for (j = 0; j < CELLS; j++) {
        y[j] = -0.001f * (float)((j * 7919) % 9973) - (float)(j % 5);
        dy[j] = sinf((float)j * 0.61f) * 3;
        yd[j] = y[j] * 1.000000123;
        dyd[j] = dy[j];
    }
    CHECK_STATUS(smk_log_softmax_backward_f32(y, dy, out, ROWS, N, 1), SMK_OK);
    memcpy(in, dy, sizeof in);
    CHECK_STATUS(smk_log_softmax_backward_f32(y, in, in, ROWS, N, 1), SMK_OK);
    CHECK(memcmp(in, out, sizeof in) == 0);
    CHECK_STATUS(smk_log_softmax_backward_f64(yd, dyd, outd, ROWS, N, 1), SMK_OK);
    memcpy(ind, dyd, sizeof ind);
    CHECK_STATUS(smk_log_softmax_backward_f64(yd, ind, ind, ROWS, N, 1), SMK_OK);
    CHECK(memcmp(ind, outd, sizeof ind) == 0);
}

/* The cross-entropy mean multiplied by 1 / denominator: a float64 weight sum
 * below 1 / DBL_MAX made that inf (fuzz_abi: a mean of -inf where the true
 * value was -2.16e49). One sample [0, 0], target 0, weights [1e-311, 1]:
 * the mean is log 2 and the gradient [-0.5, 0.5]. */
static void test_cross_entropy_mean_subnormal_weight(void) {
    const double x[2] = {0, 0}, w[2] = {1e-311, 1};
    const int64_t t[1] = {0};
    double loss = 0, g[2] = {0, 0};
    CHECK_STATUS(smk_cross_entropy_f64(x, t, w, &loss, g, 1, 2, 1, NULL), SMK_OK);
    CHECK(fabs(loss - log(2.0)) < 1e-12);
    CHECK(fabs(g[0] + 0.5) < 1e-12 && fabs(g[1] - 0.5) < 1e-12);
}

/* Selection outputs partly over their input or over each other returned
 * SMK_OK with garbage: argmax's index written over the x it was still
 * reading (the union below), top-k's indices over x or over values. Each is
 * now SMK_ERROR_INVALID_ARGUMENT with nothing written. */
static void test_selection_outputs_overlapping(void) {
    union { float f[64]; int64_t i[32]; double d[32]; } b, before;
    int j;
    for (j = 0; j < 64; j++) b.f[j] = (float)((j * 7) % 11);
    before = b;
    CHECK_STATUS(smk_argmax_f32(b.f, &b.i[2], 4, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_argmax_f64(b.d, &b.i[2], 4, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
    /* indices over x; values over x; indices over values (x = f[0..16)) */
    CHECK_STATUS(smk_topk_f32(b.f, &b.f[40], &b.i[2], 4, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_topk_f32(b.f, &b.f[40], &b.i[21], 4, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_topk_f64(b.d, &b.d[20], &b.i[22], 2, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_topk_f32(b.f, &b.f[40], &b.i[2], 4, 4, 1, 2, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_topk_f32(b.f, &b.f[40], &b.i[21], 4, 4, 1, 2, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_topk_f64(b.d, &b.d[20], &b.i[22], 2, 4, 1, 2, 1.0), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "overlap") != NULL);
    CHECK(memcmp(&b, &before, sizeof b) == 0);
}

int main(void) {
    test_large_logits_with_temperature();
    test_huge_finite_logits();
    test_subnormal_temperature();
    test_logsumexp_partial_overlap();
    test_logsumexp_in_place_threads();
    test_cross_entropy_without_logits();
    test_log_softmax_backward_in_place_bits();
    test_cross_entropy_mean_subnormal_weight();
    test_selection_outputs_overlapping();
    return check_summary("test_regressions");
}
