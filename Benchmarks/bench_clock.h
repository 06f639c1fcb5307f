/* The clocks of the C benchmark programs: wall (CLOCK_MONOTONIC) and the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), in seconds. */
#ifndef SMK_BENCH_CLOCK_H
#define SMK_BENCH_CLOCK_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <time.h>

static double clock_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
