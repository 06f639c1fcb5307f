/* Times one streaming step from C: smk_model_step of an LSTM 64 -> 128 with
 * a 10-way softmax head on every step, at batch 1 (a controller's tick), on
 * 1 thread. The model is built in memory (smk_model_builder) with fixed
 * pseudo-random weights; the state carries over between calls, as in a
 * control loop. Best of 7 rounds of ~0.2 s; wall clock and this thread's CPU
 * time (which a busy machine's preemption does not inflate).
 * Benchmarks/bench_step_peers.py times PyTorch's and ONNX Runtime's per-step
 * calls on the same network.
 *
 * Usage: bench_step_c [FEATURES [UNITS [CLASSES [BATCH]]]]   (default 64 128 10 1) */
#include "bench_clock.h"
#include "softmaxkit.h"

#include <stdio.h>
#include <stdlib.h>

static float *filled(int64_t count, unsigned seed, float scale) {
    float *p = malloc(sizeof(float) * (size_t)count);
    int64_t i;
    for (i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = scale * ((float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f);
    }
    return p;
}

static int add(smk_model_builder *b, const char *name, int64_t rows, int64_t cols, unsigned seed, float scale) {
    int64_t shape[2] = {rows, cols};
    float *w = filled(rows * cols, seed, scale);
    smk_status st = smk_model_builder_add_f32(b, name, w, shape, cols > 0 ? 2 : 1);
    free(w);
    return st == SMK_OK;
}

int main(int argc, char **argv) {
    int64_t f = argc > 1 ? atoll(argv[1]) : 64, h = argc > 2 ? atoll(argv[2]) : 128;
    int64_t c = argc > 3 ? atoll(argv[3]) : 10, batch = argc > 4 ? atoll(argv[4]) : 1;
    char spec[512];
    smk_model_builder *b = NULL;
    smk_model *m = NULL;
    smk_model_state *state = NULL;
    float *x, *probs, *outs[1];
    double best = 1e9, best_cpu = 1e9, t0, c0;
    int64_t calls = 1, k;
    int run;
    float bound = 1.0f / (float)h;
    smk_set_num_threads(1);
    snprintf(spec, sizeof spec,
             "{\"softmaxkit\": 1, \"input\": {\"features\": %lld}, \"layers\": ["
             "{\"name\": \"lstm\", \"kind\": \"lstm\", \"units\": %lld}, {\"name\": \"fc\", \"input\": \"lstm\"}],"
             " \"heads\": [{\"name\": \"probs\", \"layer\": \"fc\", \"output\": \"softmax\"}]}",
             (long long)f, (long long)h);
    if (smk_model_builder_create(spec, &b) != SMK_OK
        || !add(b, "lstm.weight_ih_l0", 4 * h, f, 1, bound * 8) || !add(b, "lstm.weight_hh_l0", 4 * h, h, 2, bound * 8)
        || !add(b, "lstm.bias_ih_l0", 4 * h, 0, 3, bound * 8) || !add(b, "lstm.bias_hh_l0", 4 * h, 0, 4, bound * 8)
        || !add(b, "fc.weight", c, h, 5, 0.3f) || !add(b, "fc.bias", c, 0, 6, 0.3f)
        || smk_model_builder_build(b, &m) != SMK_OK || smk_model_state_create(m, batch, &state) != SMK_OK) {
        fprintf(stderr, "bench_step_c: %s\n", smk_last_error_message());
        return 1;
    }
    smk_model_builder_free(b);
    x = filled(batch * f, 7, 1.0f);
    probs = malloc(sizeof(float) * (size_t)(batch * c));
    outs[0] = probs;
    /* Calibrate: double the calls until a round takes 20 ms, then aim at 0.2 s. */
    for (;;) {
        t0 = clock_seconds(CLOCK_MONOTONIC);
        for (k = 0; k < calls; k++) {
            if (smk_model_step(m, state, x, batch, f, outs, 1) != SMK_OK) {
                fprintf(stderr, "bench_step_c: %s\n", smk_last_error_message());
                return 1;
            }
        }
        if (clock_seconds(CLOCK_MONOTONIC) - t0 >= 0.02) break;
        calls *= 2;
    }
    calls *= 10;
    for (run = 0; run < 7; run++) {
        double wall, cpu;
        t0 = clock_seconds(CLOCK_MONOTONIC);
        c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
        for (k = 0; k < calls; k++) smk_model_step(m, state, x, batch, f, outs, 1);
        wall = (clock_seconds(CLOCK_MONOTONIC) - t0) / (double)calls;
        cpu = (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)calls;
        if (wall < best) best = wall;
        if (cpu < best_cpu) best_cpu = cpu;
    }
    printf("smk_model_step LSTM %lld->%lld + softmax(%lld), batch %lld, 1 thread: %.2f us per step (CPU %.2f us), %lld calls x 7 rounds\n",
           (long long)f, (long long)h, (long long)c, (long long)batch, best * 1e6, best_cpu * 1e6, (long long)calls);
    free(x);
    free(probs);
    smk_model_state_free(state);
    smk_model_free(m);
    return 0;
}
