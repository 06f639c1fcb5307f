/* Times smk_model_forward from C on a model file at batch 1, 64 and 4096
 * (best of 7 rounds of ~0.2 s each; wall clock and this thread's CPU time,
 * which a busy machine's preemption does not inflate).
 *
 * Usage: bench_model_c [-t THREADS] [-f FLOPS_PER_ROW] MODEL [batch...]
 *   -t  smk_set_num_threads(THREADS) first (default: the library's default)
 *   -f  also print GFLOP/s, counting FLOPS_PER_ROW per input row (the
 *       dense layers' 2 * out * in summed; Benchmarks/wide_net.py prints it) */
#include "bench_clock.h"
#include "softmaxkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int forward(smk_model *m, const float *x, int64_t batch, int64_t features, float **outs,
                   int64_t heads, int64_t calls) {
    int64_t c;
    for (c = 0; c < calls; c++) {
        if (smk_model_forward(m, x, batch, 1, features, outs, heads) != SMK_OK) {
            fprintf(stderr, "%s\n", smk_last_error_message());
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    smk_model *m = NULL;
    int64_t features, heads, h, b, batches[8] = {1, 64, 4096};
    int nb = 3, i, run, opt;
    double flops_per_row = 0;
    while ((opt = getopt(argc, argv, "t:f:")) != -1) {
        if (opt == 't') smk_set_num_threads(atoi(optarg));
        else if (opt == 'f') flops_per_row = atof(optarg);
        else { fprintf(stderr, "usage: %s [-t threads] [-f flops_per_row] MODEL [batch...]\n", argv[0]); return 2; }
    }
    if (optind >= argc) { fprintf(stderr, "usage: %s [-t threads] [-f flops_per_row] MODEL [batch...]\n", argv[0]); return 2; }
    if (argc > optind + 1) { nb = 0; for (i = optind + 1; i < argc && nb < 8; i++) batches[nb++] = atoll(argv[i]); }
    if (smk_model_load(argv[optind], &m) != SMK_OK) { fprintf(stderr, "%s\n", smk_last_error_message()); return 1; }
    smk_model_input_features(m, &features);
    smk_model_head_count(m, &heads);
    for (i = 0; i < nb; i++) {
        int64_t batch = batches[i], calls = 1;
        float *x = malloc(sizeof(float) * (size_t)(batch * features));
        float **outs = malloc(sizeof(float *) * (size_t)heads);
        double best = 1e9, best_cpu = 1e9, t0;
        for (b = 0; b < batch * features; b++) x[b] = (float)((b * 7919) % 1000) / 500.0f - 1.0f;
        for (h = 0; h < heads; h++) {
            int64_t size;
            smk_model_head_size(m, h, &size);
            outs[h] = malloc(sizeof(float) * (size_t)(batch * size));
        }
        /* Calibrate: double the calls until a round takes 20 ms, then aim at 0.2 s. */
        for (;;) {
            t0 = clock_seconds(CLOCK_MONOTONIC);
            if (!forward(m, x, batch, features, outs, heads, calls)) return 1;
            if (clock_seconds(CLOCK_MONOTONIC) - t0 >= 0.02) break;
            calls *= 2;
        }
        calls = (int64_t)((double)calls * 0.2 / (clock_seconds(CLOCK_MONOTONIC) - t0)) + 1;
        for (run = 0; run < 7; run++) {
            double c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID), dt, dc;
            t0 = clock_seconds(CLOCK_MONOTONIC);
            if (!forward(m, x, batch, features, outs, heads, calls)) return 1;
            dt = (clock_seconds(CLOCK_MONOTONIC) - t0) / (double)calls;
            dc = (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)calls;
            if (dt < best) best = dt;
            if (dc < best_cpu) best_cpu = dc;
        }
        printf("%s batch %6lld, %d thread(s): %10.2f us per forward (wall, best of 7), %10.2f us CPU time (this thread)",
               argv[optind], (long long)batch, (int)smk_get_num_threads(), best * 1e6, best_cpu * 1e6);
        if (flops_per_row > 0) printf(", %6.1f GFLOP/s", flops_per_row * (double)batch / best * 1e-9);
        printf("\n");
        for (h = 0; h < heads; h++) free(outs[h]);
        free(outs); free(x);
    }
    smk_model_free(m);
    return 0;
}
