/* Batch 1 of a 10-way action head from C: smk_sample_f32 (one draw)
 * against smk_softmax_f32 on the same row, 1 thread. Best of 7 rounds of
 * ~0.2 s; ns per call, wall clock.
 *
 * Usage: bench_sampling_c [n]   (default 10) */
#include "bench_clock.h"
#include "softmaxkit.h"

#include <stdio.h>
#include <stdlib.h>

static volatile int64_t sink;

static double per_call(int which, const float *x, float *y, int64_t *idx, int64_t n,
                       const smk_sample_options *o) {
    int64_t calls = 1, c;
    double best = 1e9;
    int round;
    for (;;) {
        double t0 = clock_seconds(CLOCK_MONOTONIC);
        for (c = 0; c < calls; c++) {
            if (which) smk_sample_f32(x, NULL, idx, NULL, 1, n, 1, 0, o, (uint64_t)c);
            else smk_softmax_f32(x, y, 1, n, 1, 1.0f);
        }
        if (clock_seconds(CLOCK_MONOTONIC) - t0 >= 0.02) break;
        calls *= 2;
    }
    calls *= 10;
    for (round = 0; round < 7; round++) {
        double t0 = clock_seconds(CLOCK_MONOTONIC), t;
        for (c = 0; c < calls; c++) {
            if (which) smk_sample_f32(x, NULL, idx, NULL, 1, n, 1, 0, o, (uint64_t)c);
            else smk_softmax_f32(x, y, 1, n, 1, 1.0f);
        }
        t = (clock_seconds(CLOCK_MONOTONIC) - t0) / (double)calls;
        if (t < best) best = t;
    }
    sink = idx[0];
    return best * 1e9;
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 10, j, idx[1] = {0};
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    smk_sample_options o;
    double soft, samp;
    smk_set_num_threads(1);
    smk_sample_options_init(&o);
    for (j = 0; j < n; j++) x[j] = (float)((j * 7919) % 1000) / 250.0f - 2.0f;
    soft = per_call(0, x, y, idx, n, &o);
    samp = per_call(1, x, y, idx, n, &o);
    printf("1 x %lld f32, 1 thread: smk_softmax_f32 %.1f ns, smk_sample_f32 %.1f ns (%.2fx)\n",
           (long long)n, soft, samp, samp / soft);
    free(x); free(y);
    return 0;
}
