/* C client test of masked, partitioned, segment, hierarchical softmax and
 * ensemble mean: results against double references, and one test per bad
 * input class, each checking that the output is left untouched. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define SENTINEL 12345.0

static void ref_softmax(const double *x, double *y, int64_t n) {
    double m = -INFINITY, s = 0;
    int64_t k;
    for (k = 0; k < n; k++) if (x[k] > m) m = x[k];
    for (k = 0; k < n; k++) s += exp(x[k] - m);
    for (k = 0; k < n; k++) y[k] = exp(x[k] - m) / s;
}

static int untouched(const double *y, int64_t n) {
    int64_t k;
    for (k = 0; k < n; k++) if (y[k] != SENTINEL) return 0;
    return 1;
}

static void fill(double *y, int64_t n) {
    int64_t k;
    for (k = 0; k < n; k++) y[k] = SENTINEL;
}

static void test_masked_matches_softmax_of_selected(void) {
    /* rows of every length up to 40 (SIMD tails), pattern mask every third off */
    int64_t n, j;
    for (n = 1; n <= 40; n++) {
        double x[40], y[40], sel[40], ref[40], l[40];
        float xf[40], yf[40];
        uint8_t mask[40];
        int64_t m = 0;
        for (j = 0; j < n; j++) {
            xf[j] = (float)(sin((double)(j * 5 + n)) * 30); x[j] = xf[j];
            mask[j] = (uint8_t)(j % 3 != 1);
            if (mask[j]) sel[m++] = x[j];
        }
        ref_softmax(sel, ref, m);
        CHECK_STATUS(smk_masked_softmax_f64(x, mask, y, 1, n, 1, n, 1), SMK_OK);
        CHECK_STATUS(smk_masked_log_softmax_f64(x, mask, l, 1, n, 1, n), SMK_OK);
        CHECK_STATUS(smk_masked_softmax_f32(xf, mask, yf, 1, n, 1, n, 1), SMK_OK);
        m = 0;
        for (j = 0; j < n; j++) {
            if (mask[j]) {
                CHECK(fabs(y[j] - ref[m]) <= 1e-14 * ref[m] + 1e-300);
                CHECK(fabs(exp(l[j]) - ref[m]) <= 1e-13 * ref[m] + 1e-300);
                /* float32: rounding x - max (|x - max| < 64) bounds the error near 4e-6 */
                CHECK(fabs(yf[j] - ref[m]) <= 8e-6 * ref[m] + 1e-38);
                m++;
            } else {
                CHECK(y[j] == 0 && yf[j] == 0 && l[j] == -INFINITY);
            }
        }
    }
}

static void test_masked_edge_cases(void) {
    double x[5] = {NAN, 1, INFINITY, 2, -INFINITY}, y[5];
    uint8_t mask[5] = {0, 1, 0, 1, 0}, none[5] = {0, 0, 0, 0, 0};
    /* NaN and inf in masked-out positions never leak */
    CHECK_STATUS(smk_masked_softmax_f64(x, mask, y, 1, 5, 1, 5, 1), SMK_OK);
    CHECK(y[0] == 0 && y[2] == 0 && y[4] == 0);
    CHECK(fabs(y[1] - 1 / (1 + exp(1.0))) < 1e-15 && fabs(y[1] + y[3] - 1) < 1e-15);
    /* fully masked: 0 and -inf, never NaN */
    CHECK_STATUS(smk_masked_softmax_f64(x, none, y, 1, 5, 1, 5, 1), SMK_OK);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 0 && y[4] == 0);
    CHECK_STATUS(smk_masked_log_softmax_f64(x, none, y, 1, 5, 1, 5), SMK_OK);
    CHECK(y[0] == -INFINITY && y[3] == -INFINITY);
    /* A NaN at a selected position of a row longer than the short-row
     * kernels take (the row kernel's last pass scales without reading the
     * mask when the sum is finite): selected positions NaN, masked-out 0. */
    {
        enum { N = 300 };
        double a[N], b[N];
        float af[N], bf[N];
        uint8_t mk[N];
        int i, ok = 1;
        for (i = 0; i < N; i++) { a[i] = af[i] = (float)(i % 7) * 0.25f; mk[i] = (uint8_t)(i % 3 != 1); }
        a[3] = af[3] = NAN;   /* selected (3 % 3 != 1) */
        a[7] = af[7] = NAN;   /* masked out (7 % 3 == 1) */
        CHECK_STATUS(smk_masked_softmax_f64(a, mk, b, 1, N, 1, N, 1), SMK_OK);
        CHECK_STATUS(smk_masked_softmax_f32(af, mk, bf, 1, N, 1, N, 1), SMK_OK);
        for (i = 0; i < N; i++) ok &= mk[i] ? isnan(b[i]) && isnan(bf[i]) : b[i] == 0 && bf[i] == 0;
        CHECK(ok);
        /* and without the NaN, masked-out positions are exact zeros */
        a[3] = af[3] = 1;
        CHECK_STATUS(smk_masked_softmax_f64(a, mk, b, 1, N, 1, N, 1), SMK_OK);
        CHECK_STATUS(smk_masked_softmax_f32(af, mk, bf, 1, N, 1, N, 1), SMK_OK);
        ok = 1;
        for (i = 0; i < N; i++) ok &= mk[i] ? b[i] > 0 && bf[i] > 0 : b[i] == 0 && bf[i] == 0 && !signbit(b[i]);
        CHECK(ok);
    }
    /* renormalize = 0: softmax over all then zero (the robot arm network) */
    {
        double a[4] = {1, 2, 3, 4}, r[4], b[4];
        uint8_t mk[4] = {1, 0, 1, 0};
        ref_softmax(a, r, 4);
        CHECK_STATUS(smk_masked_softmax_f64(a, mk, b, 1, 4, 1, 4, 0), SMK_OK);
        CHECK(fabs(b[0] - r[0]) < 1e-15 && b[1] == 0 && fabs(b[2] - r[2]) < 1e-15 && b[3] == 0);
    }
    /* full-shape mask over axis 1 of [2, 3, 2] (strided fibres) */
    {
        double a[12], b[12];
        uint8_t mk[12];
        int i;
        for (i = 0; i < 12; i++) { a[i] = i * 0.5; mk[i] = (uint8_t)(i != 2 && i != 9); }
        CHECK_STATUS(smk_masked_softmax_f64(a, mk, b, 2, 3, 2, 12, 1), SMK_OK);
        CHECK(b[2] == 0 && b[9] == 0);
        CHECK(fabs(b[0] + b[4] - 1) < 1e-15);              /* fibre (0,:,0): positions 0, 2(masked), 4 */
        CHECK(fabs(b[1] + b[3] + b[5] - 1) < 1e-15);
    }
}

static void test_masked_bad_input(void) {
    double x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    uint8_t mask[6] = {1, 1, 1, 1, 1, 1};
    fill(y, 6);
    CHECK_STATUS(smk_masked_softmax_f64(x, mask, y, 2, 3, 1, 4, 1), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(strstr(smk_last_error_message(), "mask") != NULL);
    CHECK_STATUS(smk_masked_softmax_f64(x, NULL, y, 2, 3, 1, 6, 1), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "mask") != NULL);
    CHECK_STATUS(smk_masked_softmax_f64(NULL, mask, y, 2, 3, 1, 6, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_masked_softmax_f64(x, mask, y, 2, 3, 1, 6, 7), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_masked_softmax_f64(x, mask, y, INT64_MAX, 3, 2, 6, 1), SMK_ERROR_SIZE_OVERFLOW);
    CHECK_STATUS(smk_masked_log_softmax_f64(x, mask, x + 1, 1, 5, 1, 5), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(untouched(y, 6));
    /* empty tensors: success, nothing read */
    CHECK_STATUS(smk_masked_softmax_f64(NULL, NULL, NULL, 0, 3, 1, 0, 1), SMK_OK);
}

static void test_partitioned(void) {
    /* robot arm: 4 action logits under softmax, 1 force under identity, then sigmoid and tanh */
    double x[8] = {0.5, -1, 2, 0.25, 3.5, 0.3, -0.7, 0.9}, y[8], r[4];
    smk_partition layout[4] = {{4, SMK_ACTIVATION_SOFTMAX}, {1, SMK_ACTIVATION_IDENTITY},
                               {2, SMK_ACTIVATION_SIGMOID}, {1, SMK_ACTIVATION_TANH}};
    int j;
    CHECK_STATUS(smk_partitioned_f64(x, layout, y, 1, 8, 1, 4), SMK_OK);
    ref_softmax(x, r, 4);
    for (j = 0; j < 4; j++) CHECK(fabs(y[j] - r[j]) < 1e-15);
    CHECK(y[4] == 3.5);
    CHECK(fabs(y[5] - 1 / (1 + exp(-0.3))) < 1e-15 && fabs(y[6] - 1 / (1 + exp(0.7))) < 1e-15);
    CHECK(fabs(y[7] - tanh(0.9)) < 1e-15);
    layout[0].activation = SMK_ACTIVATION_LOG_SOFTMAX;
    CHECK_STATUS(smk_partitioned_f64(x, layout, y, 1, 8, 1, 4), SMK_OK);
    for (j = 0; j < 4; j++) CHECK(fabs(y[j] - log(r[j])) < 1e-14);
    /* activation names are the shared spellings */
    CHECK(strcmp(smk_activation_name(SMK_ACTIVATION_IDENTITY), "identity") == 0);
    CHECK(strcmp(smk_activation_name(SMK_ACTIVATION_LOG_SOFTMAX), "log_softmax") == 0);
    CHECK(strcmp(smk_activation_name(SMK_ACTIVATION_TANH), "tanh") == 0);
    CHECK(smk_activation_name((smk_activation)5) == NULL);
}

static void test_partitioned_bad_input(void) {
    double x[8] = {0}, y[8];
    smk_partition short_layout[2] = {{4, SMK_ACTIVATION_SOFTMAX}, {3, SMK_ACTIVATION_IDENTITY}};
    smk_partition negative[2] = {{9, SMK_ACTIVATION_SOFTMAX}, {-1, SMK_ACTIVATION_IDENTITY}};
    smk_partition unknown[1] = {{8, 42}};
    fill(y, 8);
    CHECK_STATUS(smk_partitioned_f64(x, short_layout, y, 1, 8, 1, 2), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(strstr(smk_last_error_message(), "widths") != NULL);
    CHECK_STATUS(smk_partitioned_f64(x, negative, y, 1, 8, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_partitioned_f64(x, unknown, y, 1, 8, 1, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "activation") != NULL);
    CHECK_STATUS(smk_partitioned_f64(x, NULL, y, 1, 8, 1, 2), SMK_ERROR_NULL_POINTER);
    CHECK(untouched(y, 8));
}

static void test_segments(void) {
    double x[7] = {1, 2, 3, -1, 5, 0.5, 0.25}, y[7], r[3];
    int64_t offsets[5] = {0, 3, 3, 4, 7};
    CHECK_STATUS(smk_segment_softmax_f64(x, offsets, y, 1, 7, 1, 5), SMK_OK);
    ref_softmax(x, r, 3);
    CHECK(fabs(y[0] - r[0]) < 1e-15 && fabs(y[2] - r[2]) < 1e-15);
    CHECK(y[3] == 1);
    ref_softmax(x + 4, r, 3);
    CHECK(fabs(y[4] - r[0]) < 1e-15 && fabs(y[6] - r[2]) < 1e-15);
}

static void test_segments_bad_input(void) {
    double x[7] = {0}, y[7];
    int64_t not_zero[3] = {1, 3, 7}, not_n[3] = {0, 3, 6}, decreasing[4] = {0, 4, 3, 7};
    fill(y, 7);
    CHECK_STATUS(smk_segment_softmax_f64(x, not_zero, y, 1, 7, 1, 3), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK(strstr(smk_last_error_message(), "offsets") != NULL);
    CHECK_STATUS(smk_segment_softmax_f64(x, not_n, y, 1, 7, 1, 3), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(smk_segment_softmax_f64(x, decreasing, y, 1, 7, 1, 4), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(smk_segment_softmax_f64(x, not_n, y, 1, 7, 1, 0), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(smk_segment_softmax_f64(x, NULL, y, 1, 7, 1, 3), SMK_ERROR_NULL_POINTER);
    CHECK(untouched(y, 7));
}

static void test_hierarchical(void) {
    double coarse[2] = {0.3, -0.2}, fine[5] = {1, 2, 0.5, -1, 3}, y[5], pc[2], pf[3];
    int64_t sizes[2] = {3, 2};
    float cf[2] = {0.3f, -0.2f}, ff[5] = {1, 2, 0.5f, -1, 3}, yf[5];
    int j;
    double total = 0;
    CHECK_STATUS(smk_hierarchical_softmax_f64(coarse, fine, sizes, y, 1, 2, 5, 0), SMK_OK);
    CHECK_STATUS(smk_hierarchical_softmax_f32(cf, ff, sizes, yf, 1, 2, 5, 0), SMK_OK);
    ref_softmax(coarse, pc, 2);
    ref_softmax(fine, pf, 3);
    for (j = 0; j < 3; j++) CHECK(fabs(y[j] - pc[0] * pf[j]) < 1e-15 && fabs(yf[j] - pc[0] * pf[j]) < 1e-6);
    ref_softmax(fine + 3, pf, 2);
    for (j = 0; j < 2; j++) CHECK(fabs(y[3 + j] - pc[1] * pf[j]) < 1e-15);
    for (j = 0; j < 5; j++) total += y[j];
    CHECK(fabs(total - 1) < 1e-15);
    CHECK_STATUS(smk_hierarchical_softmax_f64(coarse, fine, sizes, y, 1, 2, 5, 1), SMK_OK);
    CHECK(fabs(y[3] - pf[0]) < 1e-15 && fabs(y[3] + y[4] - 1) < 1e-15);
}

static void test_hierarchical_bad_input(void) {
    double coarse[2] = {0}, fine[5] = {0}, y[5];
    int64_t sizes[2] = {3, 2}, zero[2] = {5, 0};
    fill(y, 5);
    CHECK_STATUS(smk_hierarchical_softmax_f64(coarse, fine, sizes, y, 1, 2, 6, 0), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(strstr(smk_last_error_message(), "sizes") != NULL);
    CHECK_STATUS(smk_hierarchical_softmax_f64(coarse, fine, zero, y, 1, 2, 5, 0), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_hierarchical_softmax_f64(coarse, fine, NULL, y, 1, 2, 5, 0), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_hierarchical_softmax_f64(coarse, fine, sizes, y, 1, 2, 5, 3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(untouched(y, 5));
}

static void test_ensemble(void) {
    double a[4] = {0.1, 0.9, 0.5, 0.5}, b[4] = {0.3, 0.7, 0.2, 0.8}, y[4];
    const double *members[2] = {a, b};
    double g0 = sqrt(0.1 * 0.3), g1 = sqrt(0.9 * 0.7);
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 2, 2, 2, 1, SMK_ENSEMBLE_ARITHMETIC), SMK_OK);
    CHECK(fabs(y[0] - 0.2) < 1e-15 && fabs(y[3] - 0.65) < 1e-15);
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 2, 2, 2, 1, SMK_ENSEMBLE_GEOMETRIC), SMK_OK);
    CHECK(fabs(y[0] - g0 / (g0 + g1)) < 1e-15);
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 2, 2, 2, 1, SMK_ENSEMBLE_LOGITS), SMK_OK);
    CHECK(fabs(y[0] - 1 / (1 + exp(0.8 - 0.2))) < 1e-15);
}

static void test_ensemble_bad_input(void) {
    double a[4] = {0}, y[4];
    const double *members[2] = {a, NULL};
    fill(y, 4);
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 2, 2, 2, 1, SMK_ENSEMBLE_ARITHMETIC), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "members[1]") != NULL);
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 0, 2, 2, 1, SMK_ENSEMBLE_ARITHMETIC), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 1, 2, 2, 1, (smk_ensemble_mode)9), SMK_ERROR_INVALID_ARGUMENT);
    members[1] = y;
    CHECK_STATUS(smk_ensemble_mean_f64(members, y, 2, 2, 2, 1, SMK_ENSEMBLE_ARITHMETIC), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(untouched(y, 4));
}

int main(void) {
    test_masked_matches_softmax_of_selected();
    test_masked_edge_cases();
    test_masked_bad_input();
    test_partitioned();
    test_partitioned_bad_input();
    test_segments();
    test_segments_bad_input();
    test_hierarchical();
    test_hierarchical_bad_input();
    test_ensemble();
    test_ensemble_bad_input();
    return check_summary("test_variants");
}
