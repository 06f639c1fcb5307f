/*
 * threads.c - how softmax scales from 1 to N threads, against a memory copy
 * that scales the same way.
 *
 *   make bench-threads [BENCH_ARGS="--seconds 0.3 --threads 2"]
 *   .build/smk-out/bench_threads [--seconds S] [--threads N]
 *
 * For each shape and dtype: the median time of smk_softmax with
 * smk_set_num_threads(1) and (N), sampled interleaved, and the median time of
 * a memcpy moving the same bytes (the call reads x and writes y once) on 1
 * and on N threads (the copy split in N contiguous parts, one per thread,
 * started and joined with a barrier as a pool would). "kernel scaling" is
 * t(1) / t(N); "copy scaling" is the same for the copy: when the copy does
 * not scale either, the memory system (or the other tenants of a shared
 * machine) is the limit, not the pool. Shapes below 2^19 elements must show
 * no change (they never touch the pool).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "softmaxkit.h"

enum { SAMPLES = 21, MAX_THREADS = 64 };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- an N-thread memcpy: helpers wait on a barrier, copy their part, meet again ---- */

static pthread_barrier_t g_start, g_end;
static char *g_dst, *g_src;
static size_t g_bytes;
static int g_parts, g_quit;

static void copy_part(int k) {
    size_t lo = g_bytes * (size_t)k / (size_t)g_parts, hi = g_bytes * (size_t)(k + 1) / (size_t)g_parts;
    memcpy(g_dst + lo, g_src + lo, hi - lo);
}

static void *helper(void *arg) {
    int k = (int)(intptr_t)arg;
    for (;;) {
        pthread_barrier_wait(&g_start);
        if (g_quit) return NULL;
        copy_part(k);
        pthread_barrier_wait(&g_end);
    }
}

static void copy_n(int threads) {
    if (threads == 1) {
        memcpy(g_dst, g_src, g_bytes);
        return;
    }
    g_parts = threads;
    pthread_barrier_wait(&g_start);
    copy_part(0);
    pthread_barrier_wait(&g_end);
}

/* ---- measurement ---- */

typedef struct {
    int64_t rows, cols;
    int dsize;
    void *x, *y;
} job;

static void run_softmax(const job *j) {
    smk_status s = j->dsize == 4
        ? smk_softmax_f32(j->x, j->y, j->rows, j->cols, 1, 1.0f)
        : smk_softmax_f64(j->x, j->y, j->rows, j->cols, 1, 1.0);
    if (s != SMK_OK) {
        fprintf(stderr, "softmax failed: %s\n", smk_last_error_message());
        exit(1);
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per call of each of the four cases, interleaved. */
static void measure(const job *j, int threads, double seconds, double med[4]) {
    double t[4][SAMPLES];
    long reps = 1;
    /* Calibrate on the slowest case (1-thread kernel): one sample ~ seconds / SAMPLES / 4. */
    smk_set_num_threads(1);
    double t0 = now_s();
    long calls = 0;
    do { run_softmax(j); calls++; } while (now_s() - t0 < 0.01);
    double per = (now_s() - t0) / (double)calls;
    reps = (long)(seconds / SAMPLES / 4 / per);
    if (reps < 1) reps = 1;
    for (int s = 0; s < SAMPLES; s++) {
        for (int c0 = 0; c0 < 4; c0++) {
            int c = (c0 + s) % 4; /* rotate the order so no case always runs first */
            if (c < 2) smk_set_num_threads(c == 0 ? 1 : threads);
            double a = now_s();
            for (long r = 0; r < reps; r++) {
                if (c < 2) run_softmax(j);
                else copy_n(c == 2 ? 1 : threads);
            }
            t[c][s] = (now_s() - a) / (double)reps;
        }
    }
    for (int c = 0; c < 4; c++) {
        qsort(t[c], SAMPLES, sizeof(double), cmp);
        med[c] = t[c][SAMPLES / 2];
    }
}

int main(int argc, char **argv) {
    double seconds = 0.3;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--seconds S] [--threads N]\n", argv[0]); return 2; }
    }
    if (threads < 2 || threads > MAX_THREADS) {
        fprintf(stderr, "--threads must be 2...%d\n", MAX_THREADS);
        return 2;
    }
    static const int64_t shapes[][2] = {{1, 10}, {64, 10}, {256, 128}, {8, 32000}, {1024, 1000},
                                        {64, 32000}, {4096, 4096}};
    size_t max_bytes = (size_t)4096 * 4096 * 8;
    char *x = malloc(max_bytes), *y = malloc(max_bytes), *cs = malloc(2 * max_bytes), *cd = malloc(2 * max_bytes);
    if (!x || !y || !cs || !cd) { fprintf(stderr, "out of memory\n"); return 1; }
    srand(1);
    memset(y, 1, max_bytes);
    memset(cs, 2, 2 * max_bytes);
    memset(cd, 3, 2 * max_bytes);
    g_src = cs;
    g_dst = cd;
    pthread_barrier_init(&g_start, NULL, (unsigned)threads);
    pthread_barrier_init(&g_end, NULL, (unsigned)threads);
    pthread_t helpers[MAX_THREADS];
    for (int k = 1; k < threads; k++) pthread_create(&helpers[k], NULL, helper, (void *)(intptr_t)k);

    FILE *la = fopen("/proc/loadavg", "r");
    char load[128] = "?";
    if (la) { if (!fgets(load, sizeof load, la)) strcpy(load, "?"); fclose(la); }
    load[strcspn(load, "\n")] = 0;
    printf("softmax, 1 vs %d threads (smk_set_num_threads), median of %d interleaved samples, %.2f s per row\n",
           threads, SAMPLES, seconds);
    printf("load average at start: %s\n\n", load);
    printf("| shape | dtype | elements | 1 thread µs | %d threads µs | kernel scaling | copy 1 thr µs | copy %d thr µs | copy scaling |\n",
           threads, threads);
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int dsize = 4; dsize <= 8; dsize += 4) {
            job j = {shapes[s][0], shapes[s][1], dsize, x, y};
            for (int64_t i = 0; i < j.rows * j.cols; i++) { /* logits in [-10, 10) */
                double v = (double)(rand() % 2000 - 1000) / 100.0;
                if (dsize == 4) ((float *)x)[i] = (float)v; else ((double *)x)[i] = v;
            }
            g_bytes = (size_t)(j.rows * j.cols) * (size_t)dsize; /* memcpy reads and writes these once, as the call */
            double m[4];
            measure(&j, threads, seconds, m);
            printf("| %lldx%lld | f%d | %lld | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n",
                   (long long)j.rows, (long long)j.cols, dsize * 8, (long long)(j.rows * j.cols),
                   m[0] * 1e6, m[1] * 1e6, m[0] / m[1], m[2] * 1e6, m[3] * 1e6, m[2] / m[3]);
            fflush(stdout);
        }
    }
    la = fopen("/proc/loadavg", "r");
    if (la) { if (!fgets(load, sizeof load, la)) strcpy(load, "?"); fclose(la); }
    load[strcspn(load, "\n")] = 0;
    printf("\nload average at end: %s\n", load);
    g_quit = 1;
    pthread_barrier_wait(&g_start);
    for (int k = 1; k < threads; k++) pthread_join(helpers[k], NULL);
    smk_set_num_threads(0);
    free(x); free(y); free(cs); free(cd);
    return 0;
}
