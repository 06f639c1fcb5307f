/* smk_masked_softmax_lengths_* and smk_masked_log_softmax_lengths_*: the
 * values of the mask-built calls with the mask (j < lengths[fibre]), on rows
 * and down a middle axis, in float32 and float64; padding exactly 0 / -inf
 * whatever it holds; and every bad argument a status with nothing written. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "softmaxkit.h"
#include "check.h"

enum { O = 3, N = 5, I = 4, C = O * N * I, R = O * I };

static double value(int k) { return sin(0.7 * k) * 4.0 - 0.5 * (k % 3); }

static void mask_of(const int64_t *lengths, int64_t outer, int64_t inner, uint8_t *mask) {
    int64_t o, j, i;
    for (o = 0; o < outer; o++)
        for (j = 0; j < N; j++)
            for (i = 0; i < inner; i++) mask[(o * N + j) * inner + i] = j < lengths[o * inner + i];
}

static int close_f(float a, float b) {
    if (a == b) return 1;                /* 0 == 0, -inf == -inf */
    return fabsf(a - b) <= 1e-6f * fabsf(b);
}

static void agree_f32(int64_t inner) {
    float x[C], y[C], want[C];
    uint8_t mask[C];
    int64_t lengths[R], outer = C / (N * inner), k;
    int renormalize, log_kind;
    for (k = 0; k < C; k++) x[k] = (float)value((int)k);
    for (k = 0; k < outer * inner; k++) lengths[k] = (k * 3) % (N + 1);  /* 0..N, zero included */
    mask_of(lengths, outer, inner, mask);
    for (log_kind = 0; log_kind < 2; log_kind++) {
        for (renormalize = 0; renormalize < 2; renormalize++) {
            int same = 1;
            if (log_kind && !renormalize) continue;
            if (log_kind) {
                CHECK_STATUS(smk_masked_log_softmax_lengths_f32(x, lengths, y, outer, N, inner, outer * inner), SMK_OK);
                CHECK_STATUS(smk_masked_log_softmax_f32(x, mask, want, outer, N, inner, outer * N * inner), SMK_OK);
            } else {
                CHECK_STATUS(smk_masked_softmax_lengths_f32(x, lengths, y, outer, N, inner, outer * inner, renormalize), SMK_OK);
                CHECK_STATUS(smk_masked_softmax_f32(x, mask, want, outer, N, inner, outer * N * inner, renormalize), SMK_OK);
            }
            for (k = 0; k < outer * N * inner; k++) same &= close_f(y[k], want[k]);
            CHECK(same);
        }
    }
    /* In place, with NaN and inf in the padding: still exactly 0 there. */
    for (k = 0; k < C; k++) if (!mask[k]) x[k] = (k % 2) ? NAN : INFINITY;
    CHECK_STATUS(smk_masked_softmax_lengths_f32(x, lengths, x, outer, N, inner, outer * inner, 1), SMK_OK);
    {
        int zeros = 1, finite = 1;
        for (k = 0; k < outer * N * inner; k++) {
            if (!mask[k]) zeros &= x[k] == 0.0f;
            else finite &= isfinite(x[k]);
        }
        CHECK(zeros);
        CHECK(finite);
    }
}

static void agree_f64(void) {
    double x[C], y[C], want[C];
    uint8_t mask[C];
    int64_t lengths[R], k;
    int same = 1;
    for (k = 0; k < C; k++) x[k] = value((int)k);
    for (k = 0; k < R; k++) lengths[k] = (k * 2) % (N + 1);
    mask_of(lengths, O, I, mask);
    CHECK_STATUS(smk_masked_log_softmax_lengths_f64(x, lengths, y, O, N, I, R), SMK_OK);
    CHECK_STATUS(smk_masked_log_softmax_f64(x, mask, want, O, N, I, C), SMK_OK);
    for (k = 0; k < C; k++) same &= y[k] == want[k] || fabs(y[k] - want[k]) <= 1e-14 * fabs(want[k]);
    CHECK(same);
    CHECK_STATUS(smk_masked_softmax_lengths_f64(x, lengths, y, O, N, I, R, 1), SMK_OK);
    CHECK_STATUS(smk_masked_softmax_f64(x, mask, want, O, N, I, C, 1), SMK_OK);
    for (k = 0, same = 1; k < C; k++) same &= y[k] == want[k] || fabs(y[k] - want[k]) <= 1e-14 * fabs(want[k]);
    CHECK(same);
}

/* A failing call: the status, a message naming the problem, y untouched. */
static void refused(smk_status st, smk_status want, const float *y, const char *needle) {
    int k, untouched = 1;
    CHECK_STATUS(st, want);
    for (k = 0; k < C; k++) untouched &= y[k] == 7.0f;
    CHECK(untouched);
    CHECK(strstr(smk_last_error_message(), needle) != NULL);
    if (!strstr(smk_last_error_message(), needle)) fprintf(stderr, "  message: %s\n", smk_last_error_message());
}

static void bad_arguments(void) {
    float x[C], y[C];
    int64_t lengths[R], k;
    for (k = 0; k < C; k++) { x[k] = (float)value((int)k); y[k] = 7.0f; }
    for (k = 0; k < R; k++) lengths[k] = 2;
    lengths[5] = -1;
    refused(smk_masked_softmax_lengths_f32(x, lengths, y, O, N, I, R, 1), SMK_ERROR_INVALID_ARGUMENT, y, "lengths[5] is -1");
    lengths[5] = N + 1;
    refused(smk_masked_log_softmax_lengths_f32(x, lengths, y, O, N, I, R), SMK_ERROR_INVALID_ARGUMENT, y, "lengths[5] is 6");
    lengths[5] = N;
    refused(smk_masked_softmax_lengths_f32(x, lengths, y, O, N, I, R - 1, 1), SMK_ERROR_SHAPE_MISMATCH, y, "fibres");
    refused(smk_masked_softmax_lengths_f32(x, lengths, y, O, N, I, C, 1), SMK_ERROR_SHAPE_MISMATCH, y, "fibres");
    refused(smk_masked_softmax_lengths_f32(x, NULL, y, O, N, I, R, 1), SMK_ERROR_NULL_POINTER, y, "lengths");
    refused(smk_masked_softmax_lengths_f32(x, lengths, y, O, N, I, R, 2), SMK_ERROR_INVALID_ARGUMENT, y, "renormalize");
    refused(smk_masked_softmax_lengths_f32(x, lengths, y, O, N, I, -1, 1), SMK_ERROR_INVALID_ARGUMENT, y, "lengths_count");
    /* Lengths over y: refused, as a mask over y is. */
    {
        int64_t buf[C];
        memset(buf, 0, sizeof buf);
        CHECK_STATUS(smk_masked_softmax_lengths_f32(x, buf, (float *)(void *)buf, O, N, I, R, 1),
                     SMK_ERROR_INVALID_ARGUMENT);
    }
    /* Empty extents: nothing to do, any lengths count of zero fibres. */
    CHECK_STATUS(smk_masked_softmax_lengths_f32(x, lengths, y, 0, N, I, 0, 1), SMK_OK);
}

int main(void) {
    agree_f32(1);
    agree_f32(I);
    agree_f64();
    bad_arguments();
    return check_summary("test_masked_lengths");
}
