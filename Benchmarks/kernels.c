/*
 * kernels.c - kernel-level benchmark of libsoftmaxkit, against a memory copy.
 *
 *   make bench-kernels                      (builds the library, runs this)
 *   .build/smk-out/bench_kernels [--seconds S] [--filter OP] [--shapes 1x10,64x10] [--cpu] [--threads N] [--library PATH]
 *                                [--against PATH]
 *
 * For every operation x shape x dtype it reports the median time of one call
 * over many repetitions, ns per element, the effective bandwidth (bytes the
 * call must read + write, divided by its time) and, measured interleaved with
 * it in the same run, the time of a plain memcpy moving the same number of
 * bytes: "x copy" is kernel time / copy time, so 1.0 is the bandwidth limit.
 * The output is a markdown table (BENCHMARKS.md pastes it as it is).
 *
 * Operations are looked up at run time with dlsym, so this program builds and
 * runs against a library that lacks some of them: those print "n/a". Each op
 * is first tried on a small probe in a forked child, so a broken op prints
 * "n/a (probe failed)" instead of crashing or timing garbage.
 *
 * --against B: an A/B of two builds. Each op then runs from B, and each
 * sample also times the same op of A (the --library, or the linked one), so
 * the last column is B's time over A's, the median of per-sample ratios: on
 * a shared machine far steadier than two separate runs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "softmaxkit.h"

/* ------------------------------------------------------------------------ */
/* Buffers of one measurement                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
    int64_t outer, n, inner; /* extents, reduction over n */
    int dsize;               /* 4 (float) or 8 (double) */
    void *x, *y;             /* outer*n*inner elements each */
    uint8_t *mask;           /* full-shape mask, ~3/4 ones */
    int64_t *target;         /* outer*inner class indices in [0, n) */
    void *loss;              /* outer*inner losses */
    int64_t *idx;            /* outer*inner*k indices */
    void *probs;             /* outer*inner*k probabilities */
    int64_t k;
} bufs;

/* Function-pointer types of the ops, as include/softmaxkit.h declares them
 * (the symbols are looked up with dlsym so a library without one prints n/a). */
typedef smk_status (*masked_f32)(const float *, const uint8_t *, float *, int64_t, int64_t, int64_t, int64_t, int);
typedef smk_status (*masked_f64)(const double *, const uint8_t *, double *, int64_t, int64_t, int64_t, int64_t, int);
typedef smk_status (*part_f32)(const float *, const smk_partition *, float *, int64_t, int64_t, int64_t, int64_t);
typedef smk_status (*part_f64)(const double *, const smk_partition *, double *, int64_t, int64_t, int64_t, int64_t);
typedef smk_status (*xent_f32)(const float *, const int64_t *, const float *, float *, float *, int64_t, int64_t, int64_t,
                               const smk_loss_options *);
typedef smk_status (*xent_f64)(const double *, const int64_t *, const double *, double *, double *, int64_t, int64_t,
                               int64_t, const smk_loss_options *);
typedef smk_status (*topk_f32)(const float *, float *, int64_t *, int64_t, int64_t, int64_t, int64_t, float);
typedef smk_status (*topk_f64)(const double *, double *, int64_t *, int64_t, int64_t, int64_t, int64_t, double);
typedef smk_status (*norm_f32)(const float *, float *, int64_t, int64_t, int64_t, float);
typedef smk_status (*norm_f64)(const double *, double *, int64_t, int64_t, int64_t, double);

/* ------------------------------------------------------------------------ */
/* Adapters: one call of each op on a bufs                                   */
/* ------------------------------------------------------------------------ */

static int run_norm(void *f, bufs *b) {
    return b->dsize == 4 ? ((norm_f32)f)(b->x, b->y, b->outer, b->n, b->inner, 1.0f)
                         : ((norm_f64)f)(b->x, b->y, b->outer, b->n, b->inner, 1.0);
}

static int run_masked(void *f, bufs *b) {
    int64_t count = b->outer * b->n * b->inner; /* a full-shape mask */
    return b->dsize == 4 ? ((masked_f32)f)(b->x, b->mask, b->y, b->outer, b->n, b->inner, count, 1)
                         : ((masked_f64)f)(b->x, b->mask, b->y, b->outer, b->n, b->inner, count, 1);
}

/* A multi-head layout: softmax over the first half, sigmoid over a quarter,
 * identity over the rest (widths adapt to n; short rows get one segment). */
static int run_partitioned(void *f, bufs *b) {
    smk_partition p[3];
    int64_t segs = 3;
    p[0].width = b->n / 2; p[1].width = b->n / 4; p[2].width = b->n - p[0].width - p[1].width;
    p[0].activation = SMK_ACTIVATION_SOFTMAX; p[1].activation = SMK_ACTIVATION_SIGMOID;
    p[2].activation = SMK_ACTIVATION_IDENTITY;
    if (p[1].width == 0 || p[2].width == 0) { p[0].width = b->n; segs = 1; }
    return b->dsize == 4 ? ((part_f32)f)(b->x, p, b->y, b->outer, b->n, b->inner, segs)
                         : ((part_f64)f)(b->x, p, b->y, b->outer, b->n, b->inner, segs);
}

static int run_xent(void *f, bufs *b) {
    smk_loss_options o;
    smk_loss_options_init(&o);
    o.reduction = SMK_REDUCTION_NONE;
    return b->dsize == 4 ? ((xent_f32)f)(b->x, b->target, NULL, b->loss, NULL, b->outer, b->n, b->inner, &o)
                         : ((xent_f64)f)(b->x, b->target, NULL, b->loss, NULL, b->outer, b->n, b->inner, &o);
}

static int run_topk(void *f, bufs *b) {
    return b->dsize == 4 ? ((topk_f32)f)(b->x, b->probs, b->idx, b->outer, b->n, b->inner, b->k, 1.0f)
                         : ((topk_f64)f)(b->x, b->probs, b->idx, b->outer, b->n, b->inner, b->k, 1.0);
}

/* The baseline softmax_topk must beat: smk_softmax then a plain top-k
 * selection of each row (insertion into a k-long sorted list, which is what a
 * k <= 16 top-k does; inner == 1 rows only). */
static void *g_softmax[2];
#define TOPK_SELECT(T)                                                          \
    static void topk_rows_##T(const T *y, T *probs, int64_t *idx, int64_t rows, \
                              int64_t n, int64_t k) {                           \
        for (int64_t r = 0; r < rows; r++) {                                    \
            const T *row = y + r * n;                                           \
            T *pv = probs + r * k;                                              \
            int64_t *pi = idx + r * k, have = 0;                                \
            for (int64_t j = 0; j < n; j++) {                                   \
                T v = row[j];                                                   \
                if (have == k && !(v > pv[k - 1])) continue;                    \
                int64_t p = have < k ? have++ : k - 1;                          \
                while (p > 0 && v > pv[p - 1]) {                                \
                    pv[p] = pv[p - 1]; pi[p] = pi[p - 1]; p--;                  \
                }                                                               \
                pv[p] = v; pi[p] = j;                                           \
            }                                                                   \
        }                                                                       \
    }
TOPK_SELECT(float)
TOPK_SELECT(double)

static int run_softmax_then_topk(void *f, bufs *b) {
    (void)f;
    if (b->inner != 1) return SMK_ERROR_UNSUPPORTED;
    int s = run_norm(g_softmax[b->dsize == 8], b);
    if (b->dsize == 4) topk_rows_float(b->y, b->probs, b->idx, b->outer, b->n, b->k);
    else topk_rows_double(b->y, b->probs, b->idx, b->outer, b->n, b->k);
    return s;
}

/* ------------------------------------------------------------------------ */
/* The table of operations                                                   */
/* ------------------------------------------------------------------------ */

typedef enum { IO_NORM, IO_MASKED, IO_XENT, IO_TOPK } io_kind;

typedef struct {
    const char *name;
    const char *sym[2];   /* f32, f64; NULL: needs no symbol (baseline) */
    int (*run)(void *f, bufs *b);
    io_kind io;           /* which bytes the call must move */
    int in_header;        /* 1: declared in softmaxkit.h, 0: expected prototype, probe first */
} op_t;

static const op_t OPS[] = {
    {"softmax", {"smk_softmax_f32", "smk_softmax_f64"}, run_norm, IO_NORM, 1},
    {"log_softmax", {"smk_log_softmax_f32", "smk_log_softmax_f64"}, run_norm, IO_NORM, 1},
    {"masked_softmax", {"smk_masked_softmax_f32", "smk_masked_softmax_f64"}, run_masked, IO_MASKED, 0},
    {"partitioned", {"smk_partitioned_f32", "smk_partitioned_f64"}, run_partitioned, IO_NORM, 0},
    {"cross_entropy", {"smk_cross_entropy_f32", "smk_cross_entropy_f64"}, run_xent, IO_XENT, 0},
    {"softmax_topk k=8", {"smk_softmax_topk_f32", "smk_softmax_topk_f64"}, run_topk, IO_TOPK, 0},
    {"softmax + top-k k=8 (C loop)", {NULL, NULL}, run_softmax_then_topk, IO_TOPK, 1},
};
#define NOPS (sizeof OPS / sizeof OPS[0])

static const int64_t SHAPES[][2] = {
    {1, 10}, {64, 10}, {256, 128}, {1024, 1000}, {8, 32000}, {64, 32000}, {4096, 4096},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* Bytes one call must read and write at least. */
static double bytes_moved(const op_t *op, const bufs *b) {
    double e = (double)b->outer * b->n * b->inner, rows = (double)b->outer * b->inner;
    switch (op->io) {
    case IO_NORM: return 2 * e * b->dsize;
    case IO_MASKED: return 2 * e * b->dsize + e;
    case IO_XENT: return e * b->dsize + rows * 8 + rows * b->dsize;
    case IO_TOPK: return e * b->dsize + rows * b->k * (8 + b->dsize);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Timing                                                                    */
/* ------------------------------------------------------------------------ */

/* --cpu: this thread's CPU time and the minimum over samples instead of wall
 * time and the median, for a machine shared with other jobs (time spent
 * preempted is not counted; cache and frequency effects of neighbours are). */
static int g_cpu_time;

static double now_s(void) {
    struct timespec t;
    clock_gettime(g_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int count) {
    qsort(v, (size_t)count, sizeof *v, cmp_double);
    if (g_cpu_time) return v[0];
    return count % 2 ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]);
}

/* Copy buffers: sized for the largest traffic, reused across measurements. */
static char *g_copy_src, *g_copy_dst;

typedef struct { double call_us, copy_us, vs_softmax; } timing;

#define NSAMPLES 21

/* Median time of one call of `op` and of one memcpy of half its traffic
 * (memcpy reads and writes each byte once), over NSAMPLES interleaved samples
 * of `reps` calls each, reps chosen so a sample lasts ~seconds/(2*NSAMPLES).
 * With `softmax` (an op other than softmax itself), each sample also times
 * softmax on the same buffers, and vs_softmax is the median of the per-sample
 * ratios: on a shared machine a ratio taken within one sample is far steadier
 * than two medians taken seconds apart. */
static timing measure(const op_t *op, void *f, bufs *b, double seconds, const op_t *softmax, void *sf) {
    size_t copy_bytes = (size_t)(bytes_moved(op, b) / 2);
    double t0 = now_s();
    long calls = 0;
    do { op->run(f, b); memcpy(g_copy_dst, g_copy_src, copy_bytes); calls++; } while (now_s() - t0 < 0.02 || calls < 3);
    double per = (now_s() - t0) / (double)calls;
    long reps = (long)(seconds / (2.0 * NSAMPLES) / per * 2.0);
    if (reps < 1) reps = 1;
    double ks[NSAMPLES], cs[NSAMPLES], rs[NSAMPLES];
    for (int s = 0; s < NSAMPLES; s++) {
        double a = now_s();
        for (long r = 0; r < reps; r++) op->run(f, b);
        double m = now_s();
        for (long r = 0; r < reps; r++) {
            memcpy(g_copy_dst, g_copy_src, copy_bytes);
            __asm__ volatile("" ::: "memory"); /* keep every copy */
        }
        double z = now_s();
        ks[s] = (m - a) / (double)reps;
        cs[s] = (z - m) / (double)reps;
        rs[s] = 1.0;
        if (softmax) {
            for (long r = 0; r < reps; r++) softmax->run(sf, b);
            rs[s] = ks[s] / ((now_s() - z) / (double)reps);
        }
    }
    /* The ratios' median even under --cpu (a ratio's minimum is no estimate). */
    qsort(rs, NSAMPLES, sizeof *rs, cmp_double);
    timing t = {1e6 * median(ks, NSAMPLES), 1e6 * median(cs, NSAMPLES), rs[NSAMPLES / 2]};
    return t;
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */
/* ------------------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* [0, 1) */
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * 0x1.0p-53;
}

static int bufs_alloc(bufs *b, int64_t outer, int64_t n, int64_t inner, int dsize) {
    memset(b, 0, sizeof *b);
    b->outer = outer; b->n = n; b->inner = inner; b->dsize = dsize; b->k = 8;
    size_t e = (size_t)(outer * n * inner), rows = (size_t)(outer * inner);
    b->x = aligned_alloc(64, (e * dsize + 63) / 64 * 64);
    b->y = aligned_alloc(64, (e * dsize + 63) / 64 * 64);
    b->mask = malloc(e);
    b->target = malloc(rows * sizeof(int64_t));
    b->loss = malloc(rows * dsize);
    b->idx = malloc(rows * b->k * sizeof(int64_t));
    b->probs = malloc(rows * b->k * dsize);
    if (!b->x || !b->y || !b->mask || !b->target || !b->loss || !b->idx || !b->probs) return -1;
    for (size_t i = 0; i < e; i++) {
        double v = 8.0 * uniform() - 4.0; /* logits in [-4, 4) */
        if (dsize == 4) ((float *)b->x)[i] = (float)v; else ((double *)b->x)[i] = v;
        b->mask[i] = uniform() < 0.75;
    }
    memset(b->y, 0, e * dsize);
    for (size_t r = 0; r < rows; r++) b->target[r] = (int64_t)(uniform() * (double)n) % n;
    return 0;
}

static void bufs_free(bufs *b) {
    free(b->x); free(b->y); free(b->mask); free(b->target); free(b->loss); free(b->idx); free(b->probs);
}

/* Runs an op whose prototype is only expected on a 3x7 probe in a child
 * process: 1 if it returned SMK_OK with finite outputs, 0 otherwise. */
static int probe_ok(const op_t *op, void *f, int dsize) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        bufs b;
        if (bufs_alloc(&b, 3, 7, 1, dsize)) _exit(2);
        b.k = 2;
        int s = op->run(f, &b);
        _exit(s == SMK_OK ? 0 : 1);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */

static void print_loadavg(const char *when) {
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) { if (!fgets(buf, sizeof buf, f)) buf[0] = 0; fclose(f); }
    buf[strcspn(buf, "\n")] = 0;
    printf("load average %s: %s (other processes share these cores: compare ratios, not absolutes, when it is high)\n", when, buf);
}

/* Whether `item` is one of the comma-separated entries of `list`. */
static int listed(const char *list, const char *item) {
    size_t len = strlen(item);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, item, len) && (p[len] == ',' || p[len] == 0)) return 1;
    return 0;
}

static void *g_lib;
static void *symbol(const char *name) { return name ? dlsym(g_lib, name) : NULL; }

static void row(const char *name, const char *shape, int dsize, const char *note) {
    printf("| %s | %s | %s | %s | | | | | |\n", name, shape, dsize == 4 ? "f32" : "f64", note);
}

int main(int argc, char **argv) {
    double seconds = 0.25;
    const char *filter = NULL, *library = NULL, *shapes = NULL, *against = NULL;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--library") && i + 1 < argc) library = argv[++i];
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc) shapes = argv[++i];
        else if (!strcmp(argv[i], "--against") && i + 1 < argc) against = argv[++i];
        else if (!strcmp(argv[i], "--cpu")) g_cpu_time = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--seconds S] [--filter OP] [--shapes RxN,...] [--cpu] [--threads N] [--library PATH] [--against PATH]\n", argv[0]); return 2; }
    }
    /* The library this program was linked with, unless --library names another. */
    if (smk_version() / 10000 != SMK_VERSION_MAJOR) { fprintf(stderr, "library major version differs\n"); return 1; }
    g_lib = library ? dlopen(library, RTLD_NOW | RTLD_LOCAL) : RTLD_DEFAULT;
    if (library && !g_lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    uint32_t (*version)(void) = (uint32_t (*)(void))dlsym(g_lib, "smk_version");
    g_softmax[0] = dlsym(g_lib, "smk_softmax_f32");
    g_softmax[1] = dlsym(g_lib, "smk_softmax_f64");
    if (!version || !g_softmax[0] || !g_softmax[1]) { fprintf(stderr, "not a softmaxkit library\n"); return 1; }
    /* The library's default is every core: calls of 2^19 elements and more
     * would run on the pool, and --cpu would count only this thread's share.
     * Pin the count (default 1) so that "1 thread" is what was measured. */
    void (*set_threads)(int32_t) = (void (*)(int32_t))dlsym(g_lib, "smk_set_num_threads");
    if (threads < 1 || !set_threads) { fprintf(stderr, "could not set %d threads\n", threads); return 1; }
    set_threads(threads);
    void *lib_b = against ? dlopen(against, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (against && !lib_b) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    if (lib_b) {
        void (*set_b)(int32_t) = (void (*)(int32_t))dlsym(lib_b, "smk_set_num_threads");
        if (!set_b) { fprintf(stderr, "%s: not a softmaxkit library\n", against); return 1; }
        set_b(threads);
    }
    if (threads > 1 && g_cpu_time) { fprintf(stderr, "--cpu counts this thread only: use it with --threads 1\n"); return 2; }

    size_t max_copy = (size_t)4096 * 4096 * 8 + 4096 * 4096; /* largest f64 traffic / 2, with mask */
    g_copy_src = malloc(max_copy);
    g_copy_dst = malloc(max_copy);
    if (!g_copy_src || !g_copy_dst) { fprintf(stderr, "out of memory\n"); return 1; }
    memset(g_copy_src, 1, max_copy);
    memset(g_copy_dst, 0, max_copy);

    printf("libsoftmaxkit %u, %.2f s per measurement, %s of %d samples, %d thread%s (the copy: 1 thread)\n",
           version(), seconds, g_cpu_time ? "minimum thread CPU time" : "median", NSAMPLES, threads, threads == 1 ? "" : "s");
    print_loadavg("at start");
    printf("\n");
    if (lib_b) printf("A: %s; B: %s. µs/call and the rest are B's; the last column is B / A\n\n", library ? library : "linked", against);
    printf("| op | shape | dtype | µs/call | ns/elem | GB/s | copy µs | × copy | %s |\n", lib_b ? "B / A" : "× softmax");
    printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int dsize = 4; dsize <= 8; dsize += 4) {
        for (size_t s = 0; s < NSHAPES; s++) {
            int64_t rows = SHAPES[s][0], n = SHAPES[s][1];
            char shape[48];
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)rows, (long long)n);
            if (shapes && !listed(shapes, shape)) continue;
            bufs b;
            if (bufs_alloc(&b, rows, n, 1, dsize)) { fprintf(stderr, "out of memory\n"); return 1; }
            for (size_t o = 0; o < NOPS; o++) {
                const op_t *op = &OPS[o];
                if (filter && !strstr(op->name, filter)) continue;
                void *f = symbol(op->sym[dsize == 8]);
                if (op->sym[0] && !f) { row(op->name, shape, dsize, "n/a"); continue; }
                if (!op->in_header && !probe_ok(op, f, dsize)) { row(op->name, shape, dsize, "n/a (probe failed)"); continue; }
                int status = op->run(f, &b);
                if (status != SMK_OK) { row(op->name, shape, dsize, "error"); continue; }
                void *fb = lib_b && op->sym[0] ? dlsym(lib_b, op->sym[dsize == 8]) : NULL;
                /* (a baseline that is not a library op has no B to time) */
                if (lib_b && !fb) { row(op->name, shape, dsize, op->sym[0] ? "n/a in B" : "not compared"); continue; }
                timing t = fb       ? measure(op, fb, &b, seconds, op, f)
                           : o == 0 ? measure(op, f, &b, seconds, NULL, NULL)
                                    : measure(op, f, &b, seconds, &OPS[0], g_softmax[dsize == 8]);
                double elems = (double)rows * n, gb = bytes_moved(op, &b) / (t.call_us * 1e3);
                printf("| %s | %s | %s | %.3f | %.3f | %.2f | %.3f | %.2f | %.2f |\n", op->name, shape,
                       dsize == 4 ? "f32" : "f64", t.call_us, 1e3 * t.call_us / elems, gb, t.copy_us,
                       t.call_us / t.copy_us, t.vs_softmax);
                fflush(stdout);
            }
            bufs_free(&b);
        }
    }

    /* Any axis: axis 1 of [64, 1000, 64] against the same 4,096,000 elements
     * laid out as 4096 rows of 1000 (last axis). */
    if ((!filter || strstr("softmax", filter)) && !shapes && !lib_b) {
        printf("\nSoftmax over a middle axis (inner > 1) against the last axis, same element count\n\n");
        printf("| layout (outer, n, inner) | dtype | µs/call | ns/elem | GB/s | copy µs | × copy | × last axis |\n");
        printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (int dsize = 4; dsize <= 8; dsize += 4) {
            static const int64_t L[2][3] = {{4096, 1000, 1}, {64, 1000, 64}};
            double last = 0;
            for (int l = 0; l < 2; l++) {
                bufs b;
                if (bufs_alloc(&b, L[l][0], L[l][1], L[l][2], dsize)) { fprintf(stderr, "out of memory\n"); return 1; }
                timing t = measure(&OPS[0], g_softmax[dsize == 8], &b, seconds, NULL, NULL);
                double elems = (double)L[l][0] * L[l][1] * L[l][2];
                if (l == 0) last = t.call_us;
                printf("| %s (%lld, %lld, %lld) | %s | %.1f | %.3f | %.2f | %.1f | %.2f | %.2f |\n",
                       l ? "axis 1 of [64, 1000, 64]" : "[4096, 1000] last axis",
                       (long long)L[l][0], (long long)L[l][1], (long long)L[l][2], dsize == 4 ? "f32" : "f64",
                       t.call_us, 1e3 * t.call_us / elems, bytes_moved(&OPS[0], &b) / (t.call_us * 1e3),
                       t.copy_us, t.call_us / t.copy_us, t.call_us / last);
                bufs_free(&b);
            }
        }
    }
    printf("\n");
    print_loadavg("at end");
    return 0;
}
