/* The BLAS side of the wide-network comparison: times only the
 * three matrix products of 512 -> 1024 -> 1024 -> [1000 + 4] at one batch
 * with cblas_sgemm, Y = X W^T (W stored [out, in] as PyTorch's nn.Linear,
 * which is what softmaxkit reads), no bias or activation. Best of 7 rounds;
 * GFLOP/s = 2 * batch * out * in / time; also the calling thread's CPU time
 * (which a busy machine's preemption does not inflate: on 1 thread the fair
 * figure to set beside bench_model_c's). Thread count: the library's own
 * (OPENBLAS_NUM_THREADS; `make bench-wide` sets it per run). Built only
 * where a cblas.h and a BLAS library exist (Debian: libopenblas-dev).
 *
 * Usage: bench_blas_c [batch] (default 4096) */
#include "bench_clock.h"
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }

static float *filled(size_t count, unsigned seed) {
    float *p = malloc(sizeof(float) * count);
    size_t i;
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

int main(int argc, char **argv) {
    /* (out, in) of each product, in order; each reads the previous output. */
    static const int shapes[3][2] = {{1024, 512}, {1024, 1024}, {1004, 1024}};
    int batch = argc > 1 ? atoi(argv[1]) : 4096, g, run, calls;
    float *acts[4], *w[3];
    double best[3], total_best = 1e9, cpu_best = 1e9, flops[3], total_flops = 0;
    if (batch < 1) { fprintf(stderr, "usage: %s [batch]\n", argv[0]); return 2; }
    acts[0] = filled((size_t)batch * 512, 1);
    for (g = 0; g < 3; g++) {
        w[g] = filled((size_t)shapes[g][0] * shapes[g][1], 2 + (unsigned)g);
        acts[g + 1] = filled((size_t)batch * shapes[g][0], 0);
        flops[g] = 2.0 * batch * shapes[g][0] * shapes[g][1];
        total_flops += flops[g];
        best[g] = 1e9;
    }
    /* About 0.2 s a round, at least one call. */
    calls = (int)(0.2 * 100e9 / total_flops) + 1;
    for (run = 0; run < 8; run++) {  /* round 0 warms up (thread start, page faults) */
        double t_round = 0, c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID), c_round;
        for (g = 0; g < 3; g++) {
            double t0 = now(), dt;
            int c;
            for (c = 0; c < calls; c++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, shapes[g][0], shapes[g][1], 1.0f,
                            acts[g], shapes[g][1], w[g], shapes[g][1], 0.0f, acts[g + 1], shapes[g][0]);
            }
            dt = (now() - t0) / calls;
            t_round += dt;
            if (run > 0 && dt < best[g]) best[g] = dt;
        }
        c_round = (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / calls;
        if (run > 0 && t_round < total_best) total_best = t_round;
        if (run > 0 && c_round < cpu_best) cpu_best = c_round;
    }
    printf("cblas_sgemm batch %d, OPENBLAS_NUM_THREADS=%s:\n", batch,
           getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "(unset)");
    for (g = 0; g < 3; g++) {
        printf("  [%d, %4d] x [%4d, %4d]^T: %9.0f us  %6.1f GFLOP/s\n", batch, shapes[g][1], shapes[g][0],
               shapes[g][1], best[g] * 1e6, flops[g] / best[g] * 1e-9);
    }
    printf("  three products: %9.0f us  %6.1f GFLOP/s (best round); %9.0f us CPU time (this thread)\n",
           total_best * 1e6, total_flops / total_best * 1e-9, cpu_best * 1e6);
    for (g = 0; g < 4; g++) free(acts[g]);
    for (g = 0; g < 3; g++) free(w[g]);
    return 0;
}
