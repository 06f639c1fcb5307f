/* A control loop with memory: the bundled controller (10 sensor readings ->
 * LSTM(32) -> a 4-way softmax over actions and a linear force, on every step)
 * runs one tick at a time with smk_model_step, its recurrent state carried
 * between ticks in an smk_model_state. Each tick reads the sensors, steps the
 * model, and acts on the most probable action.
 *
 * Then it checks the streaming contract: the ticks' outputs equal one
 * smk_model_forward over the whole recorded sequence (within float32
 * rounding), and after smk_model_state_reset the first tick is the first
 * tick again. Exits 1 if either fails.
 *
 *   control_loop [--ticks N] [MODEL]     (default: 1000 ticks of
 *                                          examples/models/controller.safetensors)
 * Run from the repository root. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "softmaxkit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEATURES 10
#define ACTIONS 4

static void fail(const char *what, smk_status st) {
    fprintf(stderr, "control_loop: %s: %s: %s\n", what, smk_status_string(st), smk_last_error_message());
    exit(1);
}

/* The sensors at tick t: a deterministic stand-in for a robot arm's joint
 * angles and velocities. */
static void read_sensors(long t, float *x) {
    int j;
    for (j = 0; j < FEATURES; j++) x[j] = (float)sin(0.05 * (double)t * (j + 1) + 0.3 * j);
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    const char *path = "examples/models/controller.safetensors";
    long ticks = 1000, t, counts[ACTIONS] = {0};
    int i, j, a;
    smk_model *model = NULL;
    smk_model_state *state = NULL;
    smk_status st;
    int64_t heads = 0, features = 0, sizes[2];
    float *xs, *actions, *forces, *seq_actions, *seq_forces, *outs[2];
    double t0, elapsed, worst = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc) ticks = strtol(argv[++i], NULL, 10);
        else path = argv[i];
    }
    if (ticks < 1) { fprintf(stderr, "control_loop: --ticks must be >= 1\n"); return 1; }
    if ((st = smk_model_load(path, &model)) != SMK_OK) fail(path, st);
    smk_model_head_count(model, &heads);
    smk_model_input_features(model, &features);
    smk_model_head_size(model, 0, &sizes[0]);
    smk_model_head_size(model, 1, &sizes[1]);
    if (heads != 2 || features != FEATURES || sizes[0] != ACTIONS || sizes[1] != 1) {
        fprintf(stderr, "control_loop: %s is not a controller (10 features; heads: 4 actions, 1 force)\n", path);
        return 1;
    }
    /* One state for one stream (batch 1); it belongs to this model. */
    if ((st = smk_model_state_create(model, 1, &state)) != SMK_OK) fail("smk_model_state_create", st);

    xs = malloc(sizeof(float) * (size_t)(ticks * FEATURES));
    actions = malloc(sizeof(float) * (size_t)(ticks * ACTIONS));
    forces = malloc(sizeof(float) * (size_t)ticks);
    seq_actions = malloc(sizeof(float) * (size_t)(ticks * ACTIONS));
    seq_forces = malloc(sizeof(float) * (size_t)ticks);
    if (!xs || !actions || !forces || !seq_actions || !seq_forces) { fprintf(stderr, "control_loop: out of memory\n"); return 1; }

    /* The loop: sensors in, one step, act. */
    t0 = now_us();
    for (t = 0; t < ticks; t++) {
        double tick0 = now_us(), dt;
        float *x = xs + t * FEATURES;
        read_sensors(t, x);
        outs[0] = actions + t * ACTIONS;
        outs[1] = forces + t;
        if ((st = smk_model_step(model, state, x, 1, FEATURES, outs, 2)) != SMK_OK) fail("smk_model_step", st);
        for (a = 0, j = 1; j < ACTIONS; j++) if (outs[0][j] > outs[0][a]) a = j;
        counts[a]++;
        dt = now_us() - tick0;
        if (dt > worst) worst = dt;
    }
    elapsed = now_us() - t0;
    printf("controller: %ld ticks, %.2f us per tick on average (worst %.1f us)\n", ticks, elapsed / (double)ticks, worst);
    printf("  actions chosen:");
    for (a = 0; a < ACTIONS; a++) printf(" %d: %ld", a, counts[a]);
    printf("\n  last tick: action probabilities");
    for (j = 0; j < ACTIONS; j++) printf(" %.4f", (double)actions[(ticks - 1) * ACTIONS + j]);
    printf(", force %.4f\n", (double)forces[ticks - 1]);

    /* The streaming contract: the ticks equal one forward over the sequence. */
    {
        float *seq_outs[2];
        double max_diff = 0;
        seq_outs[0] = seq_actions;
        seq_outs[1] = seq_forces;
        if ((st = smk_model_forward(model, xs, 1, ticks, FEATURES, seq_outs, 2)) != SMK_OK) fail("smk_model_forward", st);
        for (t = 0; t < ticks * ACTIONS; t++) max_diff = fmax(max_diff, fabs((double)actions[t] - seq_actions[t]));
        for (t = 0; t < ticks; t++) max_diff = fmax(max_diff, fabs((double)forces[t] - seq_forces[t]));
        printf("  streaming vs one forward over the %ld steps: max |difference| %.3g\n", ticks, max_diff);
        if (!(max_diff <= 1e-5)) { fprintf(stderr, "control_loop: streamed outputs differ from the forward pass\n"); return 1; }
    }
    /* A new episode: reset, and the first tick gives the first tick's output. */
    {
        float first[ACTIONS], force;
        outs[0] = first;
        outs[1] = &force;
        if ((st = smk_model_state_reset(state)) != SMK_OK) fail("smk_model_state_reset", st);
        if ((st = smk_model_step(model, state, xs, 1, FEATURES, outs, 2)) != SMK_OK) fail("smk_model_step", st);
        if (memcmp(first, actions, sizeof first) != 0 || force != forces[0]) {
            fprintf(stderr, "control_loop: the first tick after a reset differs from the first tick\n");
            return 1;
        }
        printf("  after smk_model_state_reset the first tick repeats exactly\n");
    }
    /* A state made for batch 1 refuses another batch size: a status, no crash. */
    st = smk_model_step(model, state, xs, 2, FEATURES, outs, 2);
    printf("  a step of 2 rows on a state for 1: %s\n", smk_status_string(st));
    if (st == SMK_OK) return 1;

    free(xs); free(actions); free(forces); free(seq_actions); free(seq_forces);
    smk_model_state_free(state);
    smk_model_free(model);
    return 0;
}
