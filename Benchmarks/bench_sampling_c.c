/* Batch 1 of a 10-way action head from C: smk_sample_f32 (one draw)
 * against smk_softmax_f32 on the same row, 1 thread. The two calls are
 * timed in interleaved short rounds (a few hundred microseconds each, so
 * that most rounds run without being preempted on a shared machine) and
 * each keeps its fastest round; ns per call, wall clock.
 *
 * Usage: bench_sampling_c [n [rounds]]   (defaults 10, 400) */
#include "bench_clock.h"
#include "softmaxkit.h"

#include <stdio.h>
#include <stdlib.h>

static volatile int64_t sink;

/* Seconds per call of `calls` back-to-back calls. */
static double round_of(int which, const float *x, float *y, int64_t *idx, int64_t n,
                       const smk_sample_options *o, int64_t calls, uint64_t seed) {
    double t0 = clock_seconds(CLOCK_MONOTONIC);
    int64_t c;
    for (c = 0; c < calls; c++) {
        if (which) smk_sample_f32(x, NULL, idx, NULL, 1, n, 1, 0, o, seed + (uint64_t)c);
        else smk_softmax_f32(x, y, 1, n, 1, 1.0f);
    }
    return (clock_seconds(CLOCK_MONOTONIC) - t0) / (double)calls;
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 10, rounds = argc > 2 ? atoll(argv[2]) : 400, j, r, idx[1] = {0};
    int64_t calls = 1;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    smk_sample_options o;
    double soft = 1e9, samp = 1e9, t;
    smk_set_num_threads(1);
    smk_sample_options_init(&o);
    for (j = 0; j < n; j++) x[j] = (float)((j * 7919) % 1000) / 250.0f - 2.0f;
    /* Rounds of about 0.3 ms of softmax calls (warms up both). */
    while (round_of(0, x, y, idx, n, &o, calls, 0) * (double)calls < 3e-4) {
        calls *= 2;
        round_of(1, x, y, idx, n, &o, calls, 0);
    }
    for (r = 0; r < rounds; r++) {
        t = round_of(0, x, y, idx, n, &o, calls, 0);
        if (t < soft) soft = t;
        t = round_of(1, x, y, idx, n, &o, calls, (uint64_t)(r * calls));
        if (t < samp) samp = t;
    }
    sink = idx[0];
    printf("1 x %lld f32, 1 thread: smk_softmax_f32 %.1f ns, smk_sample_f32 %.1f ns (%.2fx)\n",
           (long long)n, soft * 1e9, samp * 1e9, samp / soft);
    free(x); free(y);
    return 0;
}
