/* Allocation failure inside the array kernels: every kernel that takes
 * scratch (the variants over a middle axis transpose fibres through tiles;
 * top-k keeps k candidates) is called with its 1st, 2nd, ... fallible
 * allocation failing until the call no longer reaches a fault. Each failed
 * call must return SMK_ERROR_OUT_OF_MEMORY with a message and leave every
 * output byte untouched, or, where the scratch is optional, succeed with the
 * bits of an unarmed call; the first call that runs clean must give them
 * too. Leaks are LeakSanitizer's and memcheck's to find: this file runs
 * under `make fault`, `make sanitize` and `make valgrind` against the
 * testing-hooks build (see fault_model_load.c), never in `make test`. */
#include "softmaxkit.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Sources/SoftmaxKitABI/TestingExports.swift */
void smk_testing_fault_arm(int64_t fail_allocation, int64_t read_stop_at, int32_t read_fault, int64_t read_chunk);
int64_t smk_testing_fault_disarm(int32_t *fired);

enum { FIRED_ALLOCATION = 1, OUTER = 3, N = 20, INNER = 5, K = 4, OUT_BYTES = 8192, CANARY = 0xA5 };
#define COUNT (OUTER * N * INNER)

static float x[COUNT], probs[COUNT];
static int64_t targets[OUTER * INNER];

/* Each case writes all its outputs into `out` (at most OUT_BYTES). Masked
 * and segment softmax over a middle axis run in the column kernels without
 * scratch, so they have no case here. */
static smk_status partitioned(uint8_t *out) {
    const smk_partition layout[3] = {{6, SMK_ACTIVATION_SOFTMAX}, {4, SMK_ACTIVATION_SIGMOID}, {10, SMK_ACTIVATION_LOG_SOFTMAX}};
    return smk_partitioned_f32(x, layout, (float *)out, OUTER, N, INNER, 3);
}
static smk_status topk(uint8_t *out) {
    return smk_topk_f32(x, (float *)out, (int64_t *)(out + 4096), OUTER, N, INNER, K);
}
static smk_status argmax(uint8_t *out) {
    return smk_argmax_f32(x, (int64_t *)out, OUTER, N, INNER);
}
static smk_status backward(uint8_t *out) {
    return smk_softmax_backward_f32(probs, x, (float *)out, OUTER, N, INNER);
}
static smk_status cross_entropy(uint8_t *out) {
    smk_loss_options o;
    smk_loss_options_init(&o);
    o.reduction = SMK_REDUCTION_NONE;
    return smk_cross_entropy_f32(x, targets, NULL, (float *)out, (float *)(out + 256), OUTER, N, INNER, &o);
}

static const struct { const char *name; smk_status (*call)(uint8_t *); } CASES[] = {
    {"partitioned", partitioned},
    {"topk", topk}, {"argmax", argmax}, {"softmax_backward", backward}, {"cross_entropy", cross_entropy},
};

int main(void) {
    static uint8_t want[OUT_BYTES], got[OUT_BYTES], canary[OUT_BYTES];
    size_t c;
    int i, failed_allocations = 0;
    uint32_t s = 12345;
    for (i = 0; i < COUNT; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / (float)(1u << 24) * 8 - 4;
        probs[i] = 1.0f / N;
    }
    for (i = 0; i < OUTER * INNER; i++) targets[i] = (i * 7) % N;
    memset(canary, CANARY, sizeof canary);

    for (c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        int64_t k;
        int faults = 0;
        memset(want, CANARY, sizeof want);
        CHECK_STATUS(CASES[c].call(want), SMK_OK);
        for (k = 1; k < 100; k++) {
            int32_t fired = 0;
            smk_status st;
            memset(got, CANARY, sizeof got);
            smk_testing_fault_arm(k, -1, 0, 0);
            st = CASES[c].call(got);
            smk_testing_fault_disarm(&fired);
            if (!(fired & FIRED_ALLOCATION)) {
                CHECK_STATUS(st, SMK_OK);
                CHECK(memcmp(got, want, sizeof got) == 0);
                break;
            }
            faults++;
            if (st == SMK_OK) {
                /* A kernel whose scratch only speeds it up (top-k down the
                 * columns: the rows' marks) runs without it: same bits. */
                CHECK(memcmp(got, want, sizeof got) == 0);
                continue;
            }
            CHECK_STATUS(st, SMK_ERROR_OUT_OF_MEMORY);
            CHECK(smk_last_error_message()[0] != '\0');
            CHECK(memcmp(got, canary, sizeof got) == 0);  /* nothing written */
        }
        /* Each case takes scratch: a run with no fault would test nothing. */
        CHECK(faults > 0);
        printf("fault_kernels: %-17s %d allocation(s) failed in turn\n", CASES[c].name, faults);
        failed_allocations += faults;
    }
    printf("fault_kernels: %d allocations failed\n", failed_allocations);
    return check_summary("fault_kernels");
}
