/* Concurrency stress: 8 threads each make thousands of calls mixing every
 * kernel, both dtypes, contiguous and strided layouts, in place and out of
 * place, small calls and calls large enough for the worker pool, on shared
 * read-only inputs, while one more thread keeps changing the thread count.
 * Every result must equal, bit for bit, the result of the same call made
 * serially before the threads start. SMK_STRESS_ITERS sets the calls per
 * thread (default 2000; the sanitizer and valgrind runs use fewer). */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 8

typedef enum { K_SOFTMAX, K_LOG_SOFTMAX, K_LOGSUMEXP, K_SIGMOID, K_LOG_SIGMOID } kind;

/* One call: kernel, dtype, extents (count in outer for element-wise), temperature. */
typedef struct {
    kind k;
    int f64;
    int64_t outer, n, inner;
    double t;
} job;

static const job JOBS[] = {
    {K_SOFTMAX, 0, 64, 300, 1, 1.5},
    {K_SOFTMAX, 1, 17, 33, 1, 1.0},
    {K_SOFTMAX, 0, 3, 65, 7, 0.7},
    {K_SOFTMAX, 1, 2, 130, 16, 2.0},
    {K_LOG_SOFTMAX, 0, 31, 17, 1, 1.0},
    {K_LOG_SOFTMAX, 1, 8, 64, 3, 0.3},
    {K_LOGSUMEXP, 0, 40, 63, 1, 1},
    {K_LOGSUMEXP, 1, 5, 70, 9, 1},
    {K_SIGMOID, 0, 5003, 1, 1, 1},
    {K_SIGMOID, 1, 1000, 1, 1, 1},
    {K_LOG_SIGMOID, 0, 777, 1, 1, 1},
    {K_LOG_SIGMOID, 1, 129, 1, 1, 1},
    /* large enough (>= 2^19 elements) to use the worker pool */
    {K_SOFTMAX, 0, 1024, 520, 1, 1.0},
    {K_LOG_SOFTMAX, 1, 64, 1030, 8, 1.3},
    {K_LOGSUMEXP, 0, 2048, 260, 1, 1},
    {K_SIGMOID, 0, (int64_t)1 << 19, 1, 1, 1},
};
#define N_JOBS (sizeof JOBS / sizeof JOBS[0])
#define LARGE_FIRST 12  /* JOBS[12..] are the large ones: run them less often */

static int64_t in_count(const job *j) { return j->outer * j->n * j->inner; }
static int64_t out_count(const job *j) { return j->k == K_LOGSUMEXP ? j->outer * j->inner : in_count(j); }
static size_t esize(const job *j) { return j->f64 ? sizeof(double) : sizeof(float); }

static void *inputs[N_JOBS];
static void *serial[N_JOBS];

static smk_status run(const job *j, const void *x, void *y) {
    switch (j->k) {
    case K_SOFTMAX:
        return j->f64 ? smk_softmax_f64((const double *)x, (double *)y, j->outer, j->n, j->inner, j->t)
                      : smk_softmax_f32((const float *)x, (float *)y, j->outer, j->n, j->inner, (float)j->t);
    case K_LOG_SOFTMAX:
        return j->f64 ? smk_log_softmax_f64((const double *)x, (double *)y, j->outer, j->n, j->inner, j->t)
                      : smk_log_softmax_f32((const float *)x, (float *)y, j->outer, j->n, j->inner, (float)j->t);
    case K_LOGSUMEXP:
        return j->f64 ? smk_logsumexp_f64((const double *)x, (double *)y, j->outer, j->n, j->inner)
                      : smk_logsumexp_f32((const float *)x, (float *)y, j->outer, j->n, j->inner);
    case K_SIGMOID:
        return j->f64 ? smk_sigmoid_f64((const double *)x, (double *)y, j->outer)
                      : smk_sigmoid_f32((const float *)x, (float *)y, j->outer);
    case K_LOG_SIGMOID:
        return j->f64 ? smk_log_sigmoid_f64((const double *)x, (double *)y, j->outer)
                      : smk_log_sigmoid_f32((const float *)x, (float *)y, j->outer);
    }
    return SMK_ERROR_INTERNAL;
}

static long iterations = 2000;
static int stop_toggling = 0;  /* accessed with __atomic builtins: C99 has no atomics */

typedef struct { int id; long calls; long mismatches; long failures; } worker_state;

static void *worker(void *arg) {
    worker_state *w = (worker_state *)arg;
    size_t biggest = 0, i;
    void *y, *inplace;
    uint32_t r = 2463534242u ^ (uint32_t)(w->id * 7919);
    long it;
    for (i = 0; i < N_JOBS; i++) {
        size_t b = (size_t)in_count(&JOBS[i]) * esize(&JOBS[i]);
        if (b > biggest) biggest = b;
    }
    y = malloc(biggest);
    inplace = malloc(biggest);
    if (!y || !inplace) { free(y); free(inplace); w->failures++; return NULL; }
    for (it = 0; it < iterations; it++) {
        const job *j;
        size_t pick;
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        pick = r % N_JOBS;
        /* a large call every ~50 iterations per thread */
        if (pick >= LARGE_FIRST && (r >> 8) % 16 != 0) pick = (r >> 12) % LARGE_FIRST;
        j = &JOBS[pick];
        if ((r >> 20) % 4 == 0) {
            /* in place on a private copy */
            size_t bytes = (size_t)in_count(j) * esize(j);
            memcpy(inplace, inputs[pick], bytes);
            if (run(j, inplace, inplace) != SMK_OK) w->failures++;
            else if (memcmp(inplace, serial[pick], (size_t)out_count(j) * esize(j)) != 0) w->mismatches++;
        } else {
            if (run(j, inputs[pick], y) != SMK_OK) w->failures++;
            else if (memcmp(y, serial[pick], (size_t)out_count(j) * esize(j)) != 0) w->mismatches++;
        }
        w->calls++;
    }
    free(y);
    free(inplace);
    return NULL;
}

/* Changes the process-wide thread count while the workers run: results must
 * not depend on it, and the setting must not race with the pool. */
static void *toggler(void *arg) {
    int32_t n = 1;
    (void)arg;
    while (!__atomic_load_n(&stop_toggling, __ATOMIC_ACQUIRE)) {
        smk_set_num_threads(n);
        if (smk_get_num_threads() < 1) abort();
        n = n % 3 + 1;
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS], tog;
    worker_state st[THREADS];
    const char *env = getenv("SMK_STRESS_ITERS");
    long calls = 0, mismatches = 0, failures = 0;
    size_t i;
    int k;
    if (env && atol(env) > 0) iterations = atol(env);

    /* shared inputs, with some NaN, +-inf and -inf tails, and their serial results */
    smk_set_num_threads(1);
    for (i = 0; i < N_JOBS; i++) {
        const job *j = &JOBS[i];
        int64_t c = in_count(j), e;
        inputs[i] = malloc((size_t)c * esize(j));
        serial[i] = malloc((size_t)out_count(j) * esize(j));
        if (!inputs[i] || !serial[i]) { CHECK(0); return check_summary("test_stress_threads"); }
        for (e = 0; e < c; e++) {
            double v = sin((double)e * 0.731 + (double)i) * (20.0 + (double)i * 30.0);
            if (e % 997 == 13) v = -INFINITY;
            if (e % 4093 == 7) v = NAN;
            if (e % 5003 == 11) v = INFINITY;
            if (j->f64) ((double *)inputs[i])[e] = v; else ((float *)inputs[i])[e] = (float)v;
        }
        CHECK_STATUS(run(j, inputs[i], serial[i]), SMK_OK);
    }
    /* the large jobs agree with 2 threads too, before any concurrency */
    smk_set_num_threads(2);
    for (i = LARGE_FIRST; i < N_JOBS; i++) {
        const job *j = &JOBS[i];
        void *y = malloc((size_t)out_count(j) * esize(j));
        CHECK(y != NULL);
        if (!y) continue;
        CHECK_STATUS(run(j, inputs[i], y), SMK_OK);
        CHECK(memcmp(y, serial[i], (size_t)out_count(j) * esize(j)) == 0);
        free(y);
    }

    CHECK(pthread_create(&tog, NULL, toggler, NULL) == 0);
    for (k = 0; k < THREADS; k++) {
        st[k].id = k; st[k].calls = st[k].mismatches = st[k].failures = 0;
        CHECK(pthread_create(&t[k], NULL, worker, &st[k]) == 0);
    }
    for (k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        calls += st[k].calls; mismatches += st[k].mismatches; failures += st[k].failures;
    }
    __atomic_store_n(&stop_toggling, 1, __ATOMIC_RELEASE);
    pthread_join(tog, NULL);
    smk_set_num_threads(0);

    printf("test_stress_threads: %d threads, %ld calls, %ld mismatches, %ld failed calls\n",
           THREADS, calls, mismatches, failures);
    CHECK(calls == THREADS * iterations);
    CHECK(mismatches == 0);
    CHECK(failures == 0);
    for (i = 0; i < N_JOBS; i++) { free(inputs[i]); free(serial[i]); }
    return check_summary("test_stress_threads");
}
