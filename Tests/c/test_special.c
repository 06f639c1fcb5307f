/* C client test of the weighted logsumexp and the logit: results against
 * double references over rows and columns (inner > 1), the edge cases the
 * header lists (zero weights over inf/NaN, cancelling and negative totals,
 * NULL sign), every status code, and calls large enough to use threads. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The weighted logsumexp of one fibre in long double: y and its sign. */
static void ref_weighted(const double *x, const double *b, int64_t n, int64_t stride, double *y, double *sign) {
    long double m = -INFINITY, s = 0;
    int64_t j;
    for (j = 0; j < n; j++) if (b[j * stride] != 0 && x[j * stride] > m) m = x[j * stride];
    for (j = 0; j < n; j++) if (b[j * stride] != 0) s += (long double)b[j * stride] * expl((long double)x[j * stride] - m);
    *sign = s > 0 ? 1.0 : s < 0 ? -1.0 : 0.0;
    *y = s == 0 ? -INFINITY : (double)(m + logl(fabsl(s)));
}

static int close_to(double got, double want, double tol) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * (1 + fabs(want));
}

static void test_against_reference(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 1}, {3, 33, 1}, {2, 100, 1}, {2, 5, 3},
                                        {3, 40, 17}, {2, 9, 16}, {1, 1500, 2}, {4, 3000, 1},
                                        /* rows ending on, before and after a vector and an
                                           accumulation block */
                                        {2, 8, 1}, {2, 15, 1}, {2, 16, 1}, {2, 17, 1}, {1, 1023, 1},
                                        {1, 1024, 1}, {2, 1025, 1}, {1, 2063, 1}, {1, 1025, 5}};
    size_t t;
    for (t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int64_t outer = shapes[t][0], n = shapes[t][1], inner = shapes[t][2], count = outer * n * inner, r, i;
        double *x = malloc((size_t)count * sizeof *x), *b = malloc((size_t)count * sizeof *b);
        double *y = malloc((size_t)(outer * inner) * sizeof *y), *sg = malloc((size_t)(outer * inner) * sizeof *sg);
        float *xf = malloc((size_t)count * sizeof *xf), *bf = malloc((size_t)count * sizeof *bf);
        float *yf = malloc((size_t)(outer * inner) * sizeof *yf), *sf = malloc((size_t)(outer * inner) * sizeof *sf);
        int ok64 = 1, ok32 = 1;
        for (i = 0; i < count; i++) {
            x[i] = 6 * sin(0.37 * (double)i) + (double)(i % 5);
            b[i] = i % 4 == 0 ? 0 : 0.25 + 0.5 * cos(0.11 * (double)i) + 0.6;
            if (i % 9 == 0) x[i] = INFINITY * (i % 4 == 0 ? 1 : -1);  /* +inf only where its weight is 0 */
            xf[i] = (float)x[i]; bf[i] = (float)b[i];
        }
        CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, sg, outer, n, inner), SMK_OK);
        CHECK_STATUS(smk_logsumexp_weighted_f32(xf, bf, yf, sf, outer, n, inner), SMK_OK);
        for (r = 0; r < outer * inner; r++) {
            double want, want_sign;
            int64_t o = r / inner, c = r % inner;
            ref_weighted(x + o * n * inner + c, b + o * n * inner + c, n, inner, &want, &want_sign);
            if (!close_to(y[r], want, 1e-13) || sg[r] != want_sign) ok64 = 0;
            if (!close_to(yf[r], want, 2e-6) || sf[r] != (float)want_sign) ok32 = 0;
        }
        CHECK(ok64);
        CHECK(ok32);
        free(x); free(b); free(y); free(sg); free(xf); free(bf); free(yf); free(sf);
    }
}

/* Elements of weight 0 that are NaN, +inf, -inf or far above the weighted
 * maximum, spread over whole vectors, the row's tail and accumulation blocks,
 * in rows and down columns; with the weighted elements all near the maximum
 * (the exp the sum uses for normal results) or one of them far below it
 * (the general exp): they add exactly nothing. */
static void test_zero_weights_in_long_fibres(void) {
    static const int64_t shapes[][2] = {{37, 1}, {1030, 1}, {37, 3}, {300, 17}};
    static const double far_below[] = {0, -200, -1000};  /* 0: none */
    size_t t, f;
    for (t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        for (f = 0; f < sizeof far_below / sizeof far_below[0]; f++) {
            int64_t n = shapes[t][0], inner = shapes[t][1], count = n * inner, i, c;
            double *x = malloc((size_t)count * sizeof *x), *b = malloc((size_t)count * sizeof *b);
            float *xf = malloc((size_t)count * sizeof *xf), *bf = malloc((size_t)count * sizeof *bf);
            double y[17], sg[17];
            float yf[17], sf[17];
            int ok64 = 1, ok32 = 1;
            for (i = 0; i < count; i++) {
                static const double junk[] = {NAN, INFINITY, -INFINITY, 1e30, 50};
                x[i] = 3 * sin(0.7 * (double)i);
                b[i] = i % 3 == 1 ? -0.5 : 1.25;
                if (i % 7 == 3) { x[i] = junk[(i / 7) % 5]; b[i] = i % 2 ? 0.0 : -0.0; }
            }
            if (far_below[f] != 0) x[inner * (n / 2)] = far_below[f], b[inner * (n / 2)] = 2;
            for (i = 0; i < count; i++) { xf[i] = (float)x[i]; bf[i] = (float)b[i]; }
            CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, sg, 1, n, inner), SMK_OK);
            CHECK_STATUS(smk_logsumexp_weighted_f32(xf, bf, yf, sf, 1, n, inner), SMK_OK);
            for (c = 0; c < inner; c++) {
                double want, want_sign;
                ref_weighted(x + c, b + c, n, inner, &want, &want_sign);
                if (!close_to(y[c], want, 1e-13) || sg[c] != want_sign) ok64 = 0;
                if (!close_to(yf[c], want, 2e-6) || sf[c] != (float)want_sign) ok32 = 0;
            }
            CHECK(ok64);
            CHECK(ok32);
            free(x); free(b); free(xf); free(bf);
        }
    }
}

static void test_edges(void) {
    double y[2], s[2];
    /* A zero weight removes its element, inf and NaN included. */
    { double x[2] = {INFINITY, 1}, b[2] = {0, 1};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(y[0] == 1 && s[0] == 1); }
    { double x[2] = {NAN, 1}, b[2] = {0, 2};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(fabs(y[0] - (1 + log(2.0))) < 1e-15 && s[0] == 1); }
    /* The unweighted maximum must not underflow the weighted terms. */
    { double x[2] = {1000, 0}, b[2] = {0, 1};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(y[0] == 0 && s[0] == 1); }
    /* Negative total: sign -1, or NaN without a sign output. */
    { double x[2] = {1, 2}, b[2] = {1, -2};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(fabs(y[0] - log(2 * exp(2.0) - exp(1.0))) < 1e-14 && s[0] == -1);
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, NULL, 1, 2, 1), SMK_OK);
      CHECK(isnan(y[0])); }
    /* Zero totals: cancelling, all weights 0, n == 0. */
    { double x[2] = {1, 1}, b[2] = {1, -1};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(y[0] == -INFINITY && s[0] == 0);
      b[0] = b[1] = 0;
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(y[0] == -INFINITY && s[0] == 0);
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 2, 0, 1), SMK_OK);
      CHECK(y[0] == -INFINITY && y[1] == -INFINITY && s[0] == 0 && s[1] == 0); }
    /* +inf: the sign of its weights; mixed signs NaN; a NaN weight NaN. */
    { double x[2] = {INFINITY, 1}, b[2] = {-1, 1};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(y[0] == INFINITY && s[0] == -1);
      x[1] = INFINITY;
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(isnan(y[0]) && isnan(s[0]));
      x[0] = 1; x[1] = 2; b[0] = NAN;
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 1), SMK_OK);
      CHECK(isnan(y[0]) && isnan(s[0])); }
    /* The same cases down columns (inner = 2): lane by lane. */
    { double x[4] = {INFINITY, 1000, 1, 0}, b[4] = {0, 0, 1, 1};
      CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, 1, 2, 2), SMK_OK);
      CHECK(y[0] == 1 && y[1] == 0 && s[0] == 1 && s[1] == 1); }
    { float x[4] = {NAN, 1, 1, 1}, b[4] = {1, 1, 1, -1}, yf[2], sf[2];
      CHECK_STATUS(smk_logsumexp_weighted_f32(x, b, yf, sf, 1, 2, 2), SMK_OK);
      CHECK(isnan(yf[0]) && isnan(sf[0]) && yf[1] == -INFINITY && sf[1] == 0); }
}

static void test_logit(void) {
    static const double p[] = {0, 1e-300, 1e-8, 0.1, 0.3, 0.31, 0.5, 0.6, 0.649, 0.65, 0.9, 1 - 1e-12, 1};
    double y[sizeof p / sizeof p[0]];
    float pf[sizeof p / sizeof p[0]], yf[sizeof p / sizeof p[0]];
    size_t i, n = sizeof p / sizeof p[0];
    for (i = 0; i < n; i++) pf[i] = (float)p[i];
    CHECK_STATUS(smk_logit_f64(p, y, (int64_t)n), SMK_OK);
    CHECK_STATUS(smk_logit_f32(pf, yf, (int64_t)n), SMK_OK);
    CHECK(y[0] == -INFINITY && y[n - 1] == INFINITY && yf[0] == -INFINITY && yf[n - 1] == INFINITY);
    CHECK(y[6] == 0 && yf[6] == 0);
    for (i = 1; i + 1 < n; i++) {
        long double q = p[i], want = logl(q / (1 - q));
        CHECK(fabsl(y[i] - want) <= 4e-16L * (1 + fabsl(want)));
        if (pf[i] == 0 || pf[i] == 1) continue;  /* rounded to an end in float: checked above */
        q = pf[i]; want = logl(q / (1 - q));
        CHECK(fabsl(yf[i] - want) <= 4e-7L * (1 + fabsl(want)));
    }
    /* Outside [0, 1] and NaN give NaN; in place. */
    { double z[4] = {-0.5, 1.5, NAN, 0.25};
      CHECK_STATUS(smk_logit_f64(z, z, 4), SMK_OK);
      CHECK(isnan(z[0]) && isnan(z[1]) && isnan(z[2]) && fabs(z[3] - log(1.0 / 3)) < 1e-15); }
    /* Inverse of the sigmoid (where sigmoid(x) is not within a few ulp of 1,
     * which leaves logit nothing to invert). */
    { double x[5] = {-30, -2, 0, 2, 10}, q[5], back[5];
      CHECK_STATUS(smk_sigmoid_f64(x, q, 5), SMK_OK);
      CHECK_STATUS(smk_logit_f64(q, back, 5), SMK_OK);
      for (i = 0; i < 5; i++) CHECK(fabs(back[i] - x[i]) < 1e-9 * (1 + fabs(x[i]))); }
}

static void test_statuses(void) {
    double x[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 1, 1, 1, 1, 1}, y[6], s[6];
    CHECK_STATUS(smk_logsumexp_weighted_f64(NULL, b, y, s, 1, 3, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, NULL, y, s, 1, 3, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, NULL, s, 1, 3, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_logsumexp_weighted_f64(NULL, NULL, NULL, NULL, 0, 3, 1), SMK_OK);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, -1, 3, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, s, INT64_MAX, INT64_MAX, 2), SMK_ERROR_SIZE_OVERFLOW);
    /* No in-place form: y over x, y over b, sign over y, all refused, nothing written. */
    y[0] = 42;
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, x, s, 2, 3, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(x[0] == 1 && x[1] == 2);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, b + 5, NULL, 2, 3, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y, y + 1, 2, 3, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(y[0] == 42 && b[5] == 1);
    CHECK(strstr(smk_last_error_message(), "overlaps") != NULL);
    CHECK_STATUS(smk_logit_f64(NULL, y, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_logit_f64(x, y, -1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logit_f64(x, x + 1, 3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logit_f64(NULL, NULL, 0), SMK_OK);
}

/* Over 2^19 elements the rows and column strips split across threads: the
 * answer must not change. */
static void test_threaded(void) {
    int64_t outer = 64, n = 8192, inner = 1, count = outer * n, i;
    double *x = malloc((size_t)count * sizeof *x), *b = malloc((size_t)count * sizeof *b);
    double y1[64], s1[64], y2[64], s2[64];
    int threads = smk_get_num_threads(), same = 1;
    for (i = 0; i < count; i++) { x[i] = sin(0.001 * (double)i) * 20; b[i] = (i % 3) - 0.5; }
    smk_set_num_threads(1);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y1, s1, outer, n, inner), SMK_OK);
    smk_set_num_threads(4);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y2, s2, outer, n, inner), SMK_OK);
    for (i = 0; i < outer; i++) same &= memcmp(&y1[i], &y2[i], sizeof y1[i]) == 0 && s1[i] == s2[i];
    CHECK(same);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y1, s1, 1, n, outer), SMK_OK);
    smk_set_num_threads(1);
    CHECK_STATUS(smk_logsumexp_weighted_f64(x, b, y2, s2, 1, n, outer), SMK_OK);
    for (i = 0, same = 1; i < outer; i++) same &= memcmp(&y1[i], &y2[i], sizeof y1[i]) == 0 && s1[i] == s2[i];
    CHECK(same);
    smk_set_num_threads(threads);
    free(x); free(b);
}

int main(void) {
    test_against_reference();
    test_edges();
    test_zero_weights_in_long_fibres();
    test_logit();
    test_statuses();
    test_threaded();
    return check_summary("test_special");
}
