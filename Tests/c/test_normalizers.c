/* C client test of the normalizer and element-wise ABI: results against
 * double references, every status code these functions can return, the
 * thread-local error message, and 8 threads agreeing with serial calls. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static double ref_softmax(const double *x, int64_t n, int64_t j) {
    double m = -INFINITY, s = 0;
    int64_t k;
    for (k = 0; k < n; k++) if (x[k] > m) m = x[k];
    for (k = 0; k < n; k++) s += exp(x[k] - m);
    return exp(x[j] - m) / s;
}

static void test_version(void) {
    CHECK(smk_version() == SMK_VERSION_NUMBER);
    CHECK(strcmp(smk_version_string(), SMK_VERSION_STRING) == 0);
    CHECK(smk_version() / 10000 == SMK_VERSION_MAJOR);
}

static void test_status_strings(void) {
    CHECK(strncmp(smk_status_string(SMK_OK), "SMK_OK", 6) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_INVALID_ARGUMENT), "SMK_ERROR_INVALID_ARGUMENT", 26) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_NULL_POINTER), "SMK_ERROR_NULL_POINTER", 22) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_SIZE_OVERFLOW), "SMK_ERROR_SIZE_OVERFLOW", 23) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_SHAPE_MISMATCH), "SMK_ERROR_SHAPE_MISMATCH", 24) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_INDEX_OUT_OF_RANGE), "SMK_ERROR_INDEX_OUT_OF_RANGE", 28) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_OUT_OF_MEMORY), "SMK_ERROR_OUT_OF_MEMORY", 23) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_IO), "SMK_ERROR_IO", 12) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_FORMAT), "SMK_ERROR_FORMAT", 16) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_UNSUPPORTED), "SMK_ERROR_UNSUPPORTED", 21) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_INTERNAL), "SMK_ERROR_INTERNAL", 18) == 0);
    CHECK(strncmp(smk_status_string((smk_status)999), "SMK_ERROR_UNKNOWN", 17) == 0);
}

static void test_seed_example(void) {
    float x[3] = {0, 2, 4}, y[3];
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 3, 1, 1.0f), SMK_OK);
    CHECK(fabs(y[0] - 0.0158762f) < 1e-6 && fabs(y[1] - 0.1173104f) < 1e-6 && fabs(y[2] - 0.8668133f) < 1e-6);
}

static void test_against_reference(void) {
    int64_t n;
    for (n = 1; n <= 70; n++) {
        double xd[70], yd[70], ld[70];
        float xf[70], yf[70];
        int64_t j;
        for (j = 0; j < n; j++) { xd[j] = sin((double)(j * 7 + n)) * 20; xf[j] = (float)xd[j]; }
        CHECK_STATUS(smk_softmax_f64(xd, yd, 1, n, 1, 1.0), SMK_OK);
        CHECK_STATUS(smk_log_softmax_f64(xd, ld, 1, n, 1, 1.0), SMK_OK);
        CHECK_STATUS(smk_softmax_f32(xf, yf, 1, n, 1, 1.0f), SMK_OK);
        for (j = 0; j < n; j++) {
            double want = ref_softmax(xd, n, j);
            if (!(fabs(yd[j] - want) <= 1e-14 * want)) { CHECK(0); break; }
            if (!(fabs(exp(ld[j]) - want) <= 1e-13 * want)) { CHECK(0); break; }
            if (!(fabs((double)yf[j] - ref_softmax(xd, n, j)) <= 1e-5 * want + 1e-30)) { CHECK(0); break; }
        }
        CHECK(j == n);
    }
}

static void test_strided_and_logsumexp(void) {
    /* softmax over axis 1 of [2, 3, 4] equals the per-fibre reference */
    double x[24], y[24], l[8];
    int o, j, i;
    for (i = 0; i < 24; i++) x[i] = cos(i * 1.3) * 5;
    CHECK_STATUS(smk_softmax_f64(x, y, 2, 3, 4, 1.0), SMK_OK);
    CHECK_STATUS(smk_logsumexp_f64(x, l, 2, 3, 4), SMK_OK);
    for (o = 0; o < 2; o++) for (i = 0; i < 4; i++) {
        double fib[3], s = 0;
        for (j = 0; j < 3; j++) fib[j] = x[(o * 3 + j) * 4 + i];
        for (j = 0; j < 3; j++) {
            CHECK(fabs(y[(o * 3 + j) * 4 + i] - ref_softmax(fib, 3, j)) < 1e-15);
            s += exp(fib[j]);
        }
        CHECK(fabs(l[o * 4 + i] - log(s)) < 1e-13);
    }
}

static void test_edges(void) {
    float x[4] = {1000, 1, -INFINITY, 2}, y[4];
    double lse;
    double allneg[3] = {-INFINITY, -INFINITY, -INFINITY}, out3[3];
    CHECK_STATUS(smk_log_softmax_f32(x, y, 1, 2, 1, 1.0f), SMK_OK);
    CHECK(y[0] == 0.0f && y[1] == -999.0f);
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 4, 1, 1.0f), SMK_OK);
    CHECK(y[2] == 0.0f);
    CHECK_STATUS(smk_softmax_f64(allneg, out3, 1, 3, 1, 1.0), SMK_OK);
    CHECK(isnan(out3[0]) && isnan(out3[2]));
    CHECK_STATUS(smk_logsumexp_f64(allneg, &lse, 1, 3, 1), SMK_OK);
    CHECK(lse == -INFINITY);
    CHECK_STATUS(smk_logsumexp_f64(NULL, &lse, 1, 0, 1), SMK_OK);
    CHECK(lse == -INFINITY);
    /* empty tensors: NULL is fine with a zero count */
    CHECK_STATUS(smk_softmax_f32(NULL, NULL, 0, 5, 1, 1.0f), SMK_OK);
    CHECK_STATUS(smk_softmax_f32(NULL, NULL, 5, 0, 1, 1.0f), SMK_OK);
    CHECK_STATUS(smk_sigmoid_f64(NULL, NULL, 0), SMK_OK);
    {
        float s[3] = {1000, -1000, 0}, t[3];
        double ls = -1e4, lt;
        CHECK_STATUS(smk_sigmoid_f32(s, t, 3), SMK_OK);
        CHECK(t[0] == 1.0f && t[1] == 0.0f && t[2] == 0.5f);
        CHECK_STATUS(smk_log_sigmoid_f64(&ls, &lt, 1), SMK_OK);
        CHECK(lt == -1e4);
    }
}

static void test_in_place(void) {
    float a[37], b[37];
    int i;
    for (i = 0; i < 37; i++) a[i] = b[i] = (float)(i % 5) - 2.0f;
    CHECK_STATUS(smk_softmax_f32(a, a, 1, 37, 1, 2.0f), SMK_OK);
    {
        float c[37];
        CHECK_STATUS(smk_softmax_f32(b, c, 1, 37, 1, 2.0f), SMK_OK);
        CHECK(memcmp(a, c, sizeof c) == 0);
    }
}

/* One test per status code these functions can return. */
static void test_statuses(void) {
    float x[8] = {0}, y[8];
    CHECK_STATUS(smk_softmax_f32(NULL, y, 1, 8, 1, 1.0f), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "x is NULL") != NULL);
    CHECK_STATUS(smk_log_softmax_f64(NULL, NULL, 1, 1, 1, 1.0), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_softmax_f32(x, NULL, 1, 8, 1, 1.0f), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "y is NULL") != NULL);
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 8, 1, 0.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "temperature") != NULL);
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 8, 1, -1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 8, 1, NAN), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_log_softmax_f32(x, y, 1, 8, 1, INFINITY), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_f32(x, y, -1, 8, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sigmoid_f32(x, y, -3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_f32(x, x + 1, 1, 7, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "overlap") != NULL);
    CHECK_STATUS(smk_softmax_f32(x, y, INT64_MAX, 2, 1, 1.0f), SMK_ERROR_SIZE_OVERFLOW);
    CHECK_STATUS(smk_softmax_f64((double *)x, (double *)y, (int64_t)1 << 40, (int64_t)1 << 40, 1, 1.0), SMK_ERROR_SIZE_OVERFLOW);
    CHECK_STATUS(smk_logsumexp_f32(x, y, (int64_t)1 << 40, 0, (int64_t)1 << 40), SMK_ERROR_SIZE_OVERFLOW);
    CHECK_STATUS(smk_sigmoid_f32(x, y, INT64_MAX), SMK_ERROR_SIZE_OVERFLOW);
    /* Failed calls leave outputs untouched. */
    {
        float in[4] = {1, 2, 3, 4}, out[4] = {7, 7, 7, 7};
        CHECK_STATUS(smk_softmax_f32(in, out, 1, 4, 1, -2.0f), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(out[0] == 7 && out[3] == 7);
    }
    /* A success does not clear the message. */
    CHECK_STATUS(smk_softmax_f32(x, y, 1, 8, 1, 1.0f), SMK_OK);
    CHECK(strlen(smk_last_error_message()) > 0);
}

/* The error message is per thread. */
static void *other_thread_message(void *arg) {
    const char **out = (const char **)arg;
    *out = smk_last_error_message();
    return strlen(*out) == 0 ? (void *)1 : NULL;
}

static void test_thread_local_message(void) {
    pthread_t t;
    const char *msg = NULL;
    void *ok = NULL;
    float x = 0, y;
    CHECK_STATUS(smk_softmax_f32(&x, &y, 1, 1, 1, -1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(pthread_create(&t, NULL, other_thread_message, &msg) == 0);
    pthread_join(t, &ok);
    CHECK(ok == (void *)1);
}

#define THREADS 8
#define ROWS 64
#define COLS 300
static float shared_x[ROWS * COLS];
static float serial_y[ROWS * COLS];

static void *worker(void *arg) {
    float *y = (float *)malloc(sizeof(float) * ROWS * COLS);
    int k, bad = 0;
    (void)arg;
    for (k = 0; k < 200 && y; k++) {
        if (smk_softmax_f32(shared_x, y, ROWS, COLS, 1, 1.5f) != SMK_OK) bad = 1;
        if (memcmp(y, serial_y, sizeof serial_y) != 0) bad = 1;
    }
    free(y);
    return bad ? (void *)1 : NULL;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    int i;
    for (i = 0; i < ROWS * COLS; i++) shared_x[i] = (float)sin(i * 0.37) * 9.0f;
    CHECK_STATUS(smk_softmax_f32(shared_x, serial_y, ROWS, COLS, 1, 1.5f), SMK_OK);
    for (i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (i = 0; i < THREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
}

/* Large calls split across threads give the same bits as one thread. */
static void test_thread_count(void) {
    const int64_t rows = 1024, cols = 1000, cells = rows * cols;
    float *x = (float *)malloc(sizeof(float) * cells);
    float *a = (float *)malloc(sizeof(float) * cells);
    float *b = (float *)malloc(sizeof(float) * cells);
    int64_t i;
    CHECK(x && a && b);
    if (!x || !a || !b) { free(x); free(a); free(b); return; }
    for (i = 0; i < cells; i++) x[i] = (float)sin(i * 0.013) * 30.0f;
    smk_set_num_threads(1);
    CHECK(smk_get_num_threads() == 1);
    CHECK_STATUS(smk_softmax_f32(x, a, rows, cols, 1, 1.0f), SMK_OK);
    smk_set_num_threads(2);
    CHECK(smk_get_num_threads() == 2);
    CHECK_STATUS(smk_softmax_f32(x, b, rows, cols, 1, 1.0f), SMK_OK);
    CHECK(memcmp(a, b, sizeof(float) * cells) == 0);
    /* strided: softmax over axis 1 of [256, 1000, 4] */
    CHECK_STATUS(smk_log_softmax_f32(x, b, 256, 1000, 4, 0.7f), SMK_OK);
    smk_set_num_threads(1);
    CHECK_STATUS(smk_log_softmax_f32(x, a, 256, 1000, 4, 0.7f), SMK_OK);
    CHECK(memcmp(a, b, sizeof(float) * cells) == 0);
    smk_set_num_threads(0);
    CHECK(smk_get_num_threads() >= 1);
    free(x); free(a); free(b);
}

int main(void) {
    test_version();
    test_status_strings();
    test_seed_example();
    test_against_reference();
    test_strided_and_logsumexp();
    test_edges();
    test_in_place();
    test_statuses();
    test_thread_local_message();
    test_threads();
    test_thread_count();
    return check_summary("test_normalizers");
}
