/* C client test of argmax, hardmax, top-k and fused softmax + top-k:
 * ordering rules (first max wins, NaN ranks highest), strided fibres, the
 * fused kernel against softmax followed by top-k, and bad inputs. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void test_argmax_hardmax(void) {
    float x[6] = {1, 3, 3, -INFINITY, 2, 3}, y[6];
    double xn[4] = {1, NAN, 5, NAN}, ninf[3] = {-INFINITY, -INFINITY, -INFINITY};
    int64_t idx[2];
    CHECK_STATUS(smk_argmax_f32(x, idx, 1, 6, 1), SMK_OK);
    CHECK(idx[0] == 1);                               /* first maximum wins */
    CHECK_STATUS(smk_hardmax_f32(x, y, 1, 6, 1), SMK_OK);
    CHECK(y[0] == 0 && y[1] == 1 && y[2] == 0 && y[5] == 0);
    CHECK_STATUS(smk_argmax_f64(xn, idx, 1, 4, 1), SMK_OK);
    CHECK(idx[0] == 1);                               /* NaN ranks highest, as numpy */
    CHECK_STATUS(smk_argmax_f64(ninf, idx, 1, 3, 1), SMK_OK);
    CHECK(idx[0] == 0);
    /* axis 1 of [1, 3, 2]: fibres (x[0], x[2], x[4]) and (x[1], x[3], x[5]) */
    CHECK_STATUS(smk_argmax_f32(x, idx, 1, 3, 2), SMK_OK);
    CHECK(idx[0] == 1 && idx[1] == 0);
    CHECK_STATUS(smk_hardmax_f32(x, y, 1, 3, 2), SMK_OK);
    CHECK(y[0] == 0 && y[2] == 1 && y[4] == 0 && y[1] == 1 && y[3] == 0 && y[5] == 0);
}

static void test_topk(void) {
    double x[8] = {0.5, 2, -1, 2, 7, NAN, 0.5, 3}, v[4];
    int64_t ix[4];
    CHECK_STATUS(smk_topk_f64(x, v, ix, 1, 8, 1, 4), SMK_OK);
    CHECK(isnan(v[0]) && ix[0] == 5);
    CHECK(v[1] == 7 && ix[1] == 4 && v[2] == 3 && ix[2] == 7);
    CHECK(v[3] == 2 && ix[3] == 1);                   /* tie 2 at 1 and 3: lower index */
    CHECK_STATUS(smk_topk_f64(x, v, ix, 1, 8, 1, 0), SMK_OK);
}

static void test_topk_large_k_and_strided(void) {
    /* k > 64 takes the sorting path; it must agree with the candidate path */
    double x[300], v[100], v2[40];
    int64_t ix[100], ix2[40], j;
    for (j = 0; j < 300; j++) x[j] = floor(sin((double)j * 1.7) * 50);   /* many ties */
    CHECK_STATUS(smk_topk_f64(x, v, ix, 1, 300, 1, 100), SMK_OK);
    CHECK_STATUS(smk_topk_f64(x, v2, ix2, 1, 300, 1, 40), SMK_OK);
    for (j = 0; j < 40; j++) CHECK(v[j] == v2[j] && ix[j] == ix2[j]);
    for (j = 1; j < 100; j++) CHECK(v[j - 1] > v[j] || (v[j - 1] == v[j] && ix[j - 1] < ix[j]));
    /* axis 0 of [150, 2]: (outer 1, n 150, inner 2), output (1, 3, 2) */
    {
        double sv[6];
        int64_t si[6];
        CHECK_STATUS(smk_topk_f64(x, sv, si, 1, 150, 2, 3), SMK_OK);
        for (j = 0; j < 3; j++) CHECK(x[si[2 * j] * 2] == sv[2 * j] && x[si[2 * j + 1] * 2 + 1] == sv[2 * j + 1]);
    }
}

static void test_softmax_topk_matches_two_step(void) {
    /* widths around the 64-element block and the 1024 fold, f32 and f64 */
    static const int64_t widths[] = {1, 5, 16, 63, 64, 65, 200, 1023, 1024, 1025, 5000};
    static float xf[5000], pf[5000], vf[16];
    static double xd[5000], pd[5000], vd[16], t_v[16];
    int64_t w, j, ixf[16], ixd[16], t_i[16];
    for (w = 0; w < (int64_t)(sizeof widths / sizeof widths[0]); w++) {
        int64_t n = widths[w], k = n < 16 ? n : 16;
        for (j = 0; j < n; j++) { xd[j] = sin((double)j * 12.9898 + (double)n) * 40; xf[j] = (float)xd[j]; }
        CHECK_STATUS(smk_softmax_topk_f64(xd, vd, ixd, 1, n, 1, k, 0.7), SMK_OK);
        CHECK_STATUS(smk_softmax_f64(xd, pd, 1, n, 1, 0.7), SMK_OK);
        CHECK_STATUS(smk_topk_f64(pd, t_v, t_i, 1, n, 1, k), SMK_OK);
        /* |x - max| / T reaches ~110 here: the exponent's rounding bounds the error near 1.2e-14 */
        for (j = 0; j < k; j++) CHECK(ixd[j] == t_i[j] && fabs(vd[j] - t_v[j]) <= 5e-14 * t_v[j]);
        CHECK_STATUS(smk_softmax_topk_f32(xf, vf, ixf, 1, n, 1, k, 0.7f), SMK_OK);
        CHECK_STATUS(smk_softmax_f32(xf, pf, 1, n, 1, 0.7f), SMK_OK);
        for (j = 0; j < k; j++) CHECK(ixf[j] == ixd[j] && fabs(vf[j] - pf[ixf[j]]) <= 1e-5 * pf[ixf[j]]);
    }
    {
        float ninf[3] = {-INFINITY, -INFINITY, -INFINITY}, p[1];
        int64_t i1[1];
        CHECK_STATUS(smk_softmax_topk_f32(ninf, p, i1, 1, 3, 1, 1, 1.0f), SMK_OK);
        CHECK(isnan(p[0]));                           /* all -inf: NaN, as softmax */
    }
}

static void test_bad_input(void) {
    float x[4] = {1, 2, 3, 4}, v[4] = {9, 9, 9, 9};
    int64_t ix[4] = {-7, -7, -7, -7};
    CHECK_STATUS(smk_topk_f32(x, v, ix, 1, 4, 1, 5), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "k must be") != NULL);
    CHECK_STATUS(smk_topk_f32(x, v, ix, 1, 4, 1, -1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_topk_f32(x, v, ix, 1, 4, 1, 5, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_topk_f32(x, v, ix, 1, 4, 1, 2, 0.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "temperature") != NULL);
    CHECK_STATUS(smk_topk_f32(x, v, NULL, 1, 4, 1, 2), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "indices") != NULL);
    CHECK_STATUS(smk_topk_f32(x, x, ix, 1, 4, 1, 2), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_argmax_f32(x, ix, 2, 0, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "empty") != NULL);
    CHECK_STATUS(smk_argmax_f32(NULL, ix, 1, 4, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_hardmax_f32(x, v, INT64_MAX, 4, 4), SMK_ERROR_SIZE_OVERFLOW);
    CHECK(v[0] == 9 && v[3] == 9 && ix[0] == -7 && ix[3] == -7);
    CHECK_STATUS(smk_argmax_f32(NULL, NULL, 0, 4, 1), SMK_OK);   /* empty result */
}

int main(void) {
    test_argmax_hardmax();
    test_topk();
    test_topk_large_k_and_strided();
    test_softmax_topk_matches_two_step();
    test_bad_input();
    return check_summary("test_selection");
}
