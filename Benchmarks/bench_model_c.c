/* Times smk_model_forward from C on a bundled model at batch 1, 64 and 4096
 * (best of 7 runs of many calls each; wall clock and this thread's CPU
 * time, which a busy machine's preemption does not inflate). Usage: bench_model_c MODEL [batch...] */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "softmaxkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    smk_model *m = NULL;
    int64_t features, heads, h, b, batches[8] = {1, 64, 4096};
    int nb = 3, i, run;
    if (argc < 2) { fprintf(stderr, "usage: %s MODEL [batch...]\n", argv[0]); return 2; }
    if (argc > 2) { nb = 0; for (i = 2; i < argc && nb < 8; i++) batches[nb++] = atoll(argv[i]); }
    if (smk_model_load(argv[1], &m) != SMK_OK) { fprintf(stderr, "%s\n", smk_last_error_message()); return 1; }
    smk_model_input_features(m, &features);
    smk_model_head_count(m, &heads);
    for (i = 0; i < nb; i++) {
        int64_t batch = batches[i], calls = batch <= 1 ? 200000 : batch <= 64 ? 20000 : 200;
        float *x = malloc(sizeof(float) * (size_t)(batch * features));
        float **outs = malloc(sizeof(float *) * (size_t)heads);
        double best = 1e9, best_cpu = 1e9;
        for (b = 0; b < batch * features; b++) x[b] = (float)((b * 7919) % 1000) / 500.0f - 1.0f;
        for (h = 0; h < heads; h++) {
            int64_t size;
            smk_model_head_size(m, h, &size);
            outs[h] = malloc(sizeof(float) * (size_t)(batch * size));
        }
        for (run = 0; run < 7; run++) {
            double t0 = clock_seconds(CLOCK_MONOTONIC), c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID), dt, dc;
            int64_t c;
            for (c = 0; c < calls; c++) {
                if (smk_model_forward(m, x, batch, 1, features, outs, heads) != SMK_OK) {
                    fprintf(stderr, "%s\n", smk_last_error_message()); return 1;
                }
            }
            dt = (clock_seconds(CLOCK_MONOTONIC) - t0) / (double)calls;
            dc = (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)calls;
            if (dt < best) best = dt;
            if (dc < best_cpu) best_cpu = dc;
        }
        printf("%s batch %6lld: %10.2f us per forward (wall, best of 7), %10.2f us CPU time\n",
               argv[1], (long long)batch, best * 1e6, best_cpu * 1e6);
        for (h = 0; h < heads; h++) free(outs[h]);
        free(outs); free(x);
    }
    smk_model_free(m);
    return 0;
}
