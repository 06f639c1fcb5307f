/* C client test of smk_sample_f32/_f64: the committed fixture of draws
 * (Tests/fixtures/sampling_draws.txt, also checked from Python and Swift),
 * the same draws on 1 and 2 threads and for a row alone with its row
 * offset, greedy against argmax, distinct draws, rows with nothing to draw
 * from (-1, NaN), and every bad option. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 20261206u

/* The fixture's logits: element q of the flat tensor (exact in double on
 * every surface; float cases round it once). */
static double fixture_logit(int64_t q) { return (double)((q * 7919 + 104729) % 1000) / 100.0 - 5.0; }

typedef struct { const char *name; int f64; int64_t outer, n, inner; double temperature; int64_t top_k;
                 double top_p, min_p; int64_t num_samples; int replacement; uint64_t row_offset; int mask; } fixture_case;

/* Keep in step with bindings/python/tests/test_sampling.py and SamplingTests.swift. */
static const fixture_case CASES[] = {
    {"plain", 0, 3, 37, 1, 0.7, 0, 1.0, 0.0, 6, 1, 0, 0},
    {"topk_topp", 0, 3, 37, 1, 1.0, 5, 0.9, 0.0, 6, 1, 0, 0},
    {"minp_mask", 0, 3, 37, 1, 1.3, 0, 1.0, 0.05, 6, 1, 0, 1},
    {"distinct", 0, 3, 37, 1, 1.0, 0, 1.0, 0.0, 4, 0, 0, 0},
    {"strided_f64", 1, 2, 37, 3, 1.0, 0, 0.8, 0.0, 5, 1, 7, 0},
};

static int run_case(const fixture_case *c, int64_t *out) {
    int64_t count = c->outer * c->n * c->inner, j;
    uint8_t mask[64];
    smk_sample_options o;
    smk_status st;
    smk_sample_options_init(&o);
    o.temperature = c->temperature; o.top_k = c->top_k; o.top_p = c->top_p; o.min_p = c->min_p;
    o.num_samples = c->num_samples; o.replacement = c->replacement; o.row_offset = c->row_offset;
    for (j = 0; j < c->n; j++) mask[j] = (uint8_t)(j % 3 != 0);
    if (c->f64) {
        double *x = malloc((size_t)count * sizeof *x);
        for (j = 0; j < count; j++) x[j] = fixture_logit(j);
        st = smk_sample_f64(x, c->mask ? mask : NULL, out, NULL, c->outer, c->n, c->inner, c->mask ? c->n : 0, &o, SEED);
        free(x);
    } else {
        float *x = malloc((size_t)count * sizeof *x);
        for (j = 0; j < count; j++) x[j] = (float)fixture_logit(j);
        st = smk_sample_f32(x, c->mask ? mask : NULL, out, NULL, c->outer, c->n, c->inner, c->mask ? c->n : 0, &o, SEED);
        free(x);
    }
    return st == SMK_OK;
}

static void test_fixture(void) {
    FILE *f = fopen("Tests/fixtures/sampling_draws.txt", "r");
    char name[64];
    size_t i;
    CHECK(f != NULL);
    if (!f) return;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const fixture_case *c = &CASES[i];
        int64_t got[64], want, k, total = c->outer * c->num_samples * c->inner;
        int same = 1;
        CHECK(fscanf(f, "%63s", name) == 1 && strcmp(name, c->name) == 0);
        CHECK(run_case(c, got));
        for (k = 0; k < total; k++) {
            long long v;
            if (fscanf(f, "%lld", &v) != 1) { same = 0; break; }
            want = v;
            if (got[k] != want) same = 0;
        }
        if (!same) fprintf(stderr, "fixture case %s differs\n", c->name);
        CHECK(same);
    }
    fclose(f);
}

/* 64 x 32000 (over the threading threshold): 1 and 2 threads draw alike,
 * and row 37 alone with row_offset 37 draws what it draws in the batch. */
static void test_threads_and_offsets(void) {
    const int64_t rows = 64, n = 32000, S = 3;
    float *x = malloc((size_t)(rows * n) * sizeof *x), lp1[64 * 3], lp2[64 * 3], lpr[3];
    int64_t a[64 * 3], b[64 * 3], alone[3], r, j;
    smk_sample_options o;
    uint32_t s = 12345;
    int same = 1;
    for (j = 0; j < rows * n; j++) { s = s * 1664525u + 1013904223u; x[j] = (float)(s >> 8) / 16777216.0f * 8.0f - 4.0f; }
    smk_sample_options_init(&o);
    o.num_samples = S; o.top_p = 0.9; o.temperature = 0.8;
    smk_set_num_threads(1);
    CHECK_STATUS(smk_sample_f32(x, NULL, a, lp1, rows, n, 1, 0, &o, SEED), SMK_OK);
    smk_set_num_threads(2);
    CHECK_STATUS(smk_sample_f32(x, NULL, b, lp2, rows, n, 1, 0, &o, SEED), SMK_OK);
    smk_set_num_threads(0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(lp1, lp2, sizeof lp1) == 0);
    o.row_offset = 37;
    CHECK_STATUS(smk_sample_f32(x + 37 * n, NULL, alone, lpr, 1, n, 1, 0, &o, SEED), SMK_OK);
    for (r = 0; r < S; r++) same &= alone[r] == a[37 * S + r] && lpr[r] == lp1[37 * S + r];
    CHECK(same);
    for (j = 0; j < rows * S; j++) CHECK(a[j] >= 0 && a[j] < n && lp1[j] <= 0);
    free(x);
}

static void test_greedy_distinct_and_bad_rows(void) {
    float x[4][6] = {{1, 5, 2, 5, 0, 3},
                     {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY},
                     {1, NAN, 2, 3, 4, 5},
                     {0, 0, 0, 0, 0, 0}};
    uint8_t mask[4 * 6];
    int64_t idx[4 * 3], ref[4];
    float lp[4 * 3];
    smk_sample_options o;
    int k;
    smk_sample_options_init(&o);
    o.temperature = 0; o.num_samples = 3;
    CHECK_STATUS(smk_sample_f32(&x[0][0], NULL, idx, lp, 4, 6, 1, 0, &o, SEED), SMK_OK);
    CHECK_STATUS(smk_argmax_f32(&x[0][0], ref, 1, 6, 1), SMK_OK);
    CHECK(idx[0] == ref[0] && idx[1] == 1 && idx[2] == 1 && lp[0] == 0);  /* first maximum */
    CHECK(idx[3] == -1 && isnan(lp[3]) && idx[6] == -1 && isnan(lp[8]));  /* all -inf; NaN */
    CHECK(idx[9] == 0);
    o.replacement = 0;
    CHECK_STATUS(smk_sample_f32(&x[0][0], NULL, idx, lp, 4, 6, 1, 0, &o, SEED), SMK_OK);
    CHECK(idx[0] == 1 && idx[1] == 3 && idx[2] == 5);  /* top-3 in selection order */
    o.temperature = 1;
    CHECK_STATUS(smk_sample_f32(&x[0][0], NULL, idx, lp, 4, 6, 1, 0, &o, SEED), SMK_OK);
    CHECK(idx[0] != idx[1] && idx[1] != idx[2] && idx[0] != idx[2]);
    CHECK(idx[3] == -1 && idx[6] == -1 && isnan(lp[6]));
    CHECK(idx[9] != idx[10] && idx[10] != idx[11] && idx[9] != idx[11]);
    /* A fully masked row gives -1; the other rows still draw, never a masked position. */
    for (k = 0; k < 24; k++) mask[k] = (uint8_t)(k >= 6 && k < 12 ? 1 : (k % 2));
    memset(mask + 6, 1, 6);
    memset(mask, 0, 6);
    o.replacement = 1;
    CHECK_STATUS(smk_sample_f32(&x[0][0], mask, idx, lp, 4, 6, 1, 24, &o, SEED), SMK_OK);
    CHECK(idx[0] == -1 && idx[1] == -1 && isnan(lp[0]));
    CHECK(idx[3] == -1);  /* unmasked but all -inf */
    for (k = 9; k < 12; k++) CHECK(idx[k] % 2 == 1);
    /* Without replacement past the positions of positive weight: -1. */
    {
        float y[4] = {0, -INFINITY, 1, -INFINITY};
        o.replacement = 0; o.num_samples = 4;
        CHECK_STATUS(smk_sample_f32(y, NULL, idx, lp, 1, 4, 1, 0, &o, SEED), SMK_OK);
        CHECK((idx[0] == 0 || idx[0] == 2) && (idx[1] == 0 || idx[1] == 2) && idx[0] != idx[1]);
        CHECK(idx[2] == -1 && idx[3] == -1 && isnan(lp[3]));
        CHECK(fabsf(lp[1]) < 1e-6f);  /* the last one left is certain */
    }
    /* n == 0: every draw -1. */
    o.num_samples = 1; o.replacement = 1;
    CHECK_STATUS(smk_sample_f32(NULL, NULL, idx, lp, 2, 0, 1, 0, &o, SEED), SMK_OK);
    CHECK(idx[0] == -1 && idx[1] == -1);
}

/* A row alone without a mask (an action head's batch of one) takes a short
 * path: it must draw what the batch path draws for that row (row offset r),
 * and what an all-ones mask (the general path) draws, bit for bit, log
 * probabilities included; rows with nothing to draw from give -1 / NaN;
 * its errors are the general call's. */
static void test_short_rows(void) {
    static const int64_t NS[] = {1, 2, 3, 7, 8, 10, 16, 17, 31, 100, 256, 257, 1000, 1024, 1025};
    static const double TS[] = {1.0, 0.8, 3.0, 0.05};
    enum { ROWS = 5, MAXN = 1025 };
    float *x = malloc(sizeof(float) * ROWS * MAXN), lpb[ROWS], lpa, lpm;
    double *xd = malloc(sizeof(double) * ROWS * MAXN), dlpb[ROWS], dlpa;
    uint8_t *ones = malloc(MAXN);
    int64_t ib[ROWS], dib[ROWS], ia, im, j, r;
    size_t a, b;
    smk_sample_options o;
    uint32_t s = 777;
    int same = 1;
    memset(ones, 1, MAXN);
    for (j = 0; j < ROWS * MAXN; j++) {
        s = s * 1664525u + 1013904223u;
        xd[j] = (double)(s >> 8) / 16777216.0 * 12.0 - 6.0;
        x[j] = (float)xd[j];
    }
    for (a = 0; a < sizeof NS / sizeof NS[0]; a++) {
        int64_t n = NS[a];
        for (b = 0; b < sizeof TS / sizeof TS[0]; b++) {
            smk_sample_options_init(&o);
            o.temperature = TS[b];
            CHECK_STATUS(smk_sample_f32(x, NULL, ib, lpb, ROWS, n, 1, 0, &o, SEED + (uint64_t)b), SMK_OK);
            CHECK_STATUS(smk_sample_f64(xd, NULL, dib, dlpb, ROWS, n, 1, 0, &o, SEED + (uint64_t)b), SMK_OK);
            for (r = 0; r < ROWS; r++) {
                o.row_offset = (uint64_t)r;
                CHECK_STATUS(smk_sample_f32(x + r * n, NULL, &ia, &lpa, 1, n, 1, 0, &o, SEED + (uint64_t)b), SMK_OK);
                CHECK_STATUS(smk_sample_f32(x + r * n, ones, &im, &lpm, 1, n, 1, n, &o, SEED + (uint64_t)b), SMK_OK);
                same &= ia == ib[r] && memcmp(&lpa, &lpb[r], sizeof lpa) == 0;
                same &= im == ia && memcmp(&lpm, &lpa, sizeof lpa) == 0;
                same &= ia >= 0 && ia < n;
                CHECK_STATUS(smk_sample_f64(xd + r * n, NULL, &ia, &dlpa, 1, n, 1, 0, &o, SEED + (uint64_t)b), SMK_OK);
                same &= ia == dib[r] && memcmp(&dlpa, &dlpb[r], sizeof dlpa) == 0;
            }
        }
    }
    CHECK(same);
    /* Nothing to draw from: NaN, all -inf, +inf. */
    {
        float bad[3][4] = {{1, NAN, 2, 3}, {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, {1, INFINITY, 2, 3}};
        for (r = 0; r < 3; r++) {
            ia = 5; lpa = 0;
            CHECK_STATUS(smk_sample_f32(bad[r], NULL, &ia, &lpa, 1, 4, 1, 0, NULL, 1), SMK_OK);
            CHECK(ia == -1 && isnan(lpa));
        }
    }
    /* The general call's errors, in its order, with its messages. */
    {
        char first[512];
        smk_sample_options_init(&o);
        CHECK_STATUS(smk_sample_f32(x, NULL, (int64_t *)(void *)(x + 2), NULL, 1, 10, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        snprintf(first, sizeof first, "%s", smk_last_error_message());
        CHECK(strstr(first, "indices overlaps logits") != NULL);
        CHECK_STATUS(smk_sample_f32(x, ones, (int64_t *)(void *)(x + 2), NULL, 1, 10, 1, 10, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strcmp(first, smk_last_error_message()) == 0);
        CHECK_STATUS(smk_sample_f32(x, NULL, &ia, x + 3, 1, 10, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "log_probs overlaps logits") != NULL);
        CHECK_STATUS(smk_sample_f32(x, NULL, &ia, (float *)(void *)&ia, 1, 10, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "log_probs overlaps indices") != NULL);
        /* An option error comes before an overlap, as in the general call. */
        o.temperature = -2;
        CHECK_STATUS(smk_sample_f32(x, NULL, (int64_t *)(void *)(x + 2), NULL, 1, 10, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "temperature must be finite and >= 0") != NULL);
        smk_sample_options_init(&o); o.top_k = -3; o.temperature = -2;  /* read from the struct first */
        CHECK_STATUS(smk_sample_f32(x, NULL, &ia, NULL, 1, 10, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "top_k must be >= 0") != NULL);
        smk_sample_options_init(&o); o.temperature = 1e-300;  /* subnormal in float */
        CHECK_STATUS(smk_sample_f32(x, NULL, &ia, NULL, 1, 10, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "not subnormal") != NULL);
    }
    free(x); free(xd); free(ones);
}

static void test_bad_options(void) {
    float x[6] = {1, 2, 3, 4, 5, 6}, lp[6];
    uint8_t mask[5] = {1, 1, 1, 1, 1};
    int64_t idx[6];
    smk_sample_options o;
    smk_sample_options_init(&o);
    CHECK(o.size == sizeof(smk_sample_options) && sizeof(smk_sample_options) == 64);
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, NULL, 1), SMK_OK);  /* NULL options: defaults */
    o.temperature = -1;  CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.temperature = NAN; CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "temperature") != NULL);
    o.temperature = INFINITY; CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.temperature = 1e-300;   CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    smk_sample_options_init(&o); o.top_k = -1;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "top_k") != NULL);
    smk_sample_options_init(&o); o.top_p = 0;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.top_p = 1.5; CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.top_p = NAN; CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "top_p") != NULL);
    smk_sample_options_init(&o); o.min_p = -0.1;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.min_p = 2; CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "min_p") != NULL);
    smk_sample_options_init(&o); o.num_samples = 0;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    smk_sample_options_init(&o); o.replacement = 2;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    smk_sample_options_init(&o); o.replacement = 0; o.num_samples = 7;  /* more than n */
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.num_samples = 3; o.top_k = 2;  /* more than top_k */
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "num_samples") != NULL);
    smk_sample_options_init(&o); o.size = 8;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    smk_sample_options_init(&o);
    CHECK_STATUS(smk_sample_f32(x, mask, idx, NULL, 1, 6, 1, 5, &o, 1), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 6, &o, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_sample_f32(NULL, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_sample_f32(x, NULL, NULL, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, lp, -1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sample_f32(x, NULL, (int64_t *)(void *)x, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    o.num_samples = INT64_MAX / 4;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_SIZE_OVERFLOW);
    /* A failed call writes nothing. */
    idx[0] = 77; smk_sample_options_init(&o); o.top_p = -1;
    CHECK_STATUS(smk_sample_f32(x, NULL, idx, NULL, 1, 6, 1, 0, &o, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(idx[0] == 77);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--print-fixture") == 0) {
        size_t i;
        for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
            int64_t got[64], k, total = CASES[i].outer * CASES[i].num_samples * CASES[i].inner;
            if (!run_case(&CASES[i], got)) return 1;
            printf("%s", CASES[i].name);
            for (k = 0; k < total; k++) printf(" %lld", (long long)got[k]);
            printf("\n");
        }
        return 0;
    }
    test_fixture();
    test_threads_and_offsets();
    test_greedy_distinct_and_bad_rows();
    test_bad_options();
    test_short_rows();
    return check_summary("test_sampling");
}
