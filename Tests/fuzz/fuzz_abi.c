/* libFuzzer target: fuzz bytes decoded into calls of the C ABI.
 *
 * Every input is a short program: up to MAX_CALLS calls, each picking a row
 * of KERNELS[] and decoding its arguments from the following bytes (extents
 * small, huge, negative or overflowing; temperatures including 0, negative,
 * subnormal, NaN and inf; NULL pointers with zero and nonzero counts;
 * in-place and partially overlapping buffers; values including NaN, +-inf,
 * +-88.7, +-709 and the type's extremes). For each call the harness
 *   - predicts the status from the arguments (the checks documented in
 *     include/softmaxkit.h) and aborts when the library disagrees;
 *   - on failure, checks that no output byte and no input byte was written;
 *   - on success, checks that the input was not written (unless in place),
 *     that in place gives the same bits as out of place, and the results:
 *     fibres sum to 1, match a long double reference, and follow the NaN /
 *     inf rules of docs/DESIGN.md "Numerics".
 * Buffers are exact-size mallocs, so AddressSanitizer sees any byte read or
 * written past the extents the call was given.
 *
 * Built two ways (see the Makefile): with clang -fsanitize=fuzzer,address,
 * undefined against the ASan/coverage build of libsoftmaxkit.so
 * (`make fuzz`), and with Tests/fuzz/replay_main.c against the release
 * library to replay Tests/fuzz/corpus/fuzz_abi on every `make test`.
 *
 * ADDING A KERNEL: if its signature is one of the families below, add a row
 * to KERNELS[]; otherwise write a run_<family>() that decodes its arguments
 * with the take_*() helpers, predicts its status, calls it through
 * call_checked(), and checks its invariants, then add its rows. Keep the
 * existing rows' order: the committed corpus selects kernels by index.
 * The model loader has its own target, Tests/fuzz/fuzz_model_load.c. */
#include "softmaxkit.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest buffer the harness allocates, in elements. Valid extents above it
 * are only ever passed with NULL pointers (the call must refuse them before
 * touching memory). */
#define MAX_ELEMENTS 8192
#define MAX_CALLS 8
#define CANARY 0xA5

/* ------------------------------------------------------------------------ */
/* Reading the fuzz bytes                                                   */
/* ------------------------------------------------------------------------ */

typedef struct { const uint8_t *p; size_t left; } fuzz_bytes;

static uint8_t take_u8(fuzz_bytes *b) {
    if (b->left == 0) return 0;
    b->left--;
    return *b->p++;
}

static uint16_t take_u16(fuzz_bytes *b) {
    uint16_t lo = take_u8(b);
    return (uint16_t)(lo | (uint16_t)take_u8(b) << 8);
}

static uint64_t take_u64(fuzz_bytes *b) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v |= (uint64_t)take_u8(b) << (8 * i);
    return v;
}

/* Extents as a C caller might get them wrong: edge values of int64. */
static const int64_t EDGE_EXTENTS[] = {
    0, 1, 2, 3, -1, -2, INT64_MIN, INT64_MAX, INT64_MAX / 8, INT64_MAX / 8 + 1,
    (int64_t)1 << 31, (int64_t)1 << 32, (int64_t)1 << 40, (int64_t)1 << 57,
    (int64_t)1 << 58, (int64_t)1 << 60, (int64_t)1 << 62, 3037000500LL,
    (int64_t)1 << 19, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 4096,
};
#define N_EDGE_EXTENTS (sizeof EDGE_EXTENTS / sizeof EDGE_EXTENTS[0])

static int64_t take_edge(fuzz_bytes *b) {
    return EDGE_EXTENTS[take_u8(b) % N_EDGE_EXTENTS];
}

/* Mostly small extents around SIMD widths and block edges, sometimes edge
 * values or raw 64-bit patterns. */
static void take_extents(fuzz_bytes *b, int64_t e[3]) {
    uint8_t mode = take_u8(b) % 10;
    int i;
    switch (mode) {
    case 0: case 1: case 2: case 3:  /* a batch of short rows */
        e[0] = take_u8(b) % 17; e[1] = take_u8(b) % 80; e[2] = 1;
        break;
    case 4:                          /* strided: reduce a middle axis */
        e[0] = take_u8(b) % 5; e[1] = take_u8(b) % 70; e[2] = take_u8(b) % 40;
        break;
    case 5:                          /* one long row, past the 64-row blocks */
        e[0] = take_u8(b) % 3; e[1] = take_u16(b) % 4200; e[2] = take_u8(b) % 3;
        break;
    case 6:                          /* many blocks of rows in the strided kernel */
        e[0] = 1 + take_u8(b) % 2; e[1] = 60 + take_u8(b) % 140; e[2] = 2 + take_u8(b) % 30;
        break;
    case 7:                          /* every extent an edge value */
        for (i = 0; i < 3; i++) e[i] = take_edge(b);
        break;
    case 8:                          /* one edge value among small ones */
        e[0] = take_u8(b) % 4; e[1] = take_u8(b) % 40; e[2] = take_u8(b) % 4;
        {   /* the value first, then where it goes: C leaves the order of
             * `e[take()] = take()` unspecified (clang and gcc disagreed, so
             * the corpus replayed differently under the two) */
            int64_t v = take_edge(b);
            e[take_u8(b) % 3] = v;
        }
        break;
    default:                         /* raw bits */
        for (i = 0; i < 3; i++) e[i] = (int64_t)take_u64(b);
        break;
    }
}

static const double SPECIAL_VALUES[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, INFINITY, -INFINITY, NAN, 88.7, -88.7, 88.72284,
    -87.33655, -103.97, 709.78, -709.78, -745.13, 1e4, -1e4, 1e30, -1e30,
    3.4028234663852886e38, -3.4028234663852886e38, 1.7976931348623157e308,
    -1.7976931348623157e308, 1.1754943508222875e-38, 1.401298464324817e-45,
    2.2250738585072014e-308, 4.9406564584124654e-324, 40.0, -40.0, 15.0, 36.8,
};
#define N_SPECIAL (sizeof SPECIAL_VALUES / sizeof SPECIAL_VALUES[0])

/* One element: a small value, a special value or raw bits of the dtype. */
static double take_value(fuzz_bytes *b, int f64) {
    uint8_t c = take_u8(b);
    if (c < 128) return ((double)take_u8(b) - 128.0) / 4.0;
    if (c < 200) return SPECIAL_VALUES[take_u8(b) % N_SPECIAL];
    if (c < 230) return ((double)take_u16(b) - 32768.0) * 0.03125;
    if (f64) {
        uint64_t bits = take_u64(b);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    } else {
        uint32_t bits = (uint32_t)take_u64(b);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
}

static const double TEMPERATURES[] = {
    1.0, 0.5, 2.0, 0.7, 0.0, -0.0, -1.0, NAN, INFINITY, -INFINITY, 1e-30, 1e30,
    1.1754943508222875e-38, 1.401298464324817e-45, 3e-39, 2.2250738585072014e-308,
    4.9406564584124654e-324, 1e-300, 3.4028234663852886e38, 1.7976931348623157e308, 1e-3,
};
#define N_TEMPERATURES (sizeof TEMPERATURES / sizeof TEMPERATURES[0])

static double take_temperature(fuzz_bytes *b, int f64) {
    uint8_t c = take_u8(b);
    if (c < 96) return 1.0;
    if (c < 224) return TEMPERATURES[take_u8(b) % N_TEMPERATURES];
    return take_value(b, f64);
}

/* ------------------------------------------------------------------------ */
/* Typed buffers                                                             */
/* ------------------------------------------------------------------------ */

static size_t elem_size(int f64) { return f64 ? sizeof(double) : sizeof(float); }

static double get(const void *p, int f64, int64_t i) {
    return f64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static void set(void *p, int f64, int64_t i, double v) {
    if (f64) ((double *)p)[i] = v; else ((float *)p)[i] = (float)v;
}

/* A value of the dtype that the seed pattern gives element i when the fuzz
 * bytes run out: deterministic, spread over a few hundred. */
static uint32_t mix(uint32_t seed, int64_t i) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
    return h;
}

static double pattern(uint32_t seed, int64_t i) {
    return ((double)(mix(seed, i) % 20001) - 10000.0) / (double)(1 + seed % 97);
}

/* The description of the call being checked, printed when a check fails,
 * and the input fibre being checked (printed too, up to 100 values). */
static char call_text[512];
/* FUZZ_ABI_TRACE=1 prints every call before it is made: the way to name the
 * call behind a crash that kills the process before fail() can. */
static int trace_calls;
static const void *fibre_x;
static int fibre_f64;
static int64_t fibre_start, fibre_n, fibre_stride;

static void fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\nfuzz_abi: invariant violated in %s\n  ", call_text);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  last error message: %s\n", smk_last_error_message());
    if (fibre_x) {
        int64_t j;
        fprintf(stderr, "  input fibre:");
        for (j = 0; j < fibre_n && j < 100; j++)
            fprintf(stderr, " %.9g", get(fibre_x, fibre_f64, fibre_start + j * fibre_stride));
        fprintf(stderr, "\n");
    }
    abort();
}

/* ------------------------------------------------------------------------ */
/* The status the header promises                                           */
/* ------------------------------------------------------------------------ */

/* The library's extent rules: negative is invalid; outer*n, outer*n*inner and
 * outer*inner must not overflow and the element counts must stay below
 * INT64_MAX / 8 (byte counts of 8-byte elements). */
static smk_status predict_extents(const int64_t e[3], int64_t *count, int64_t *reduced) {
    int64_t a, c, r;
    if (e[0] < 0 || e[1] < 0 || e[2] < 0) return SMK_ERROR_INVALID_ARGUMENT;
    if (__builtin_mul_overflow(e[0], e[1], &a) || __builtin_mul_overflow(a, e[2], &c) ||
        __builtin_mul_overflow(e[0], e[2], &r) || c > INT64_MAX / 8 || r > INT64_MAX / 8)
        return SMK_ERROR_SIZE_OVERFLOW;
    *count = c;
    *reduced = r;
    return SMK_OK;
}

static int temperature_ok(double t, int f64) {
    double v = f64 ? t : (double)(float)t;
    /* finite, > 0 and not subnormal (in the kernel's precision): see
     * Sources/SoftmaxKit/Core/Validation.swift. */
    if (!(isfinite(v) && v > 0)) return 0;
    return f64 ? fpclassify(v) == FP_NORMAL : fpclassify((float)v) == FP_NORMAL;
}

/* Do [x, x+xn) and [y, y+yn) (element counts) overlap other than at the
 * same start? */
static int partial_overlap(const void *x, int64_t xn, const void *y, int64_t yn, size_t es) {
    uintptr_t xs = (uintptr_t)x, ys = (uintptr_t)y;
    if (!x || !y || xn == 0 || yn == 0 || xs == ys) return 0;
    return xs < ys + (uintptr_t)yn * es && ys < xs + (uintptr_t)xn * es;
}

/* ------------------------------------------------------------------------ */
/* Kernels, by signature family                                              */
/* ------------------------------------------------------------------------ */

typedef enum {
    OP_SOFTMAX, OP_LOG_SOFTMAX, OP_LOGSUMEXP, OP_SIGMOID, OP_LOG_SIGMOID,
    OP_MASKED_SOFTMAX, OP_MASKED_LOG_SOFTMAX, OP_PARTITIONED, OP_SEGMENT_SOFTMAX, OP_HIERARCHICAL,
    OP_ENSEMBLE_MEAN, OP_HARDMAX, OP_ARGMAX, OP_TOPK, OP_SOFTMAX_TOPK,
    OP_CROSS_ENTROPY, OP_CROSS_ENTROPY_PROBS, OP_NLL_LOSS, OP_BCE_WITH_LOGITS,
    OP_SOFTMAX_BACKWARD, OP_LOG_SOFTMAX_BACKWARD, OP_SIGMOID_BACKWARD,
    OP_SAMPLE
} fuzz_op;

typedef smk_status (*norm_f32_fn)(const float *, float *, int64_t, int64_t, int64_t, float);
typedef smk_status (*norm_f64_fn)(const double *, double *, int64_t, int64_t, int64_t, double);
typedef smk_status (*lse_f32_fn)(const float *, float *, int64_t, int64_t, int64_t);
typedef smk_status (*lse_f64_fn)(const double *, double *, int64_t, int64_t, int64_t);
typedef smk_status (*elem_f32_fn)(const float *, float *, int64_t);
typedef smk_status (*elem_f64_fn)(const double *, double *, int64_t);

typedef union {
    norm_f32_fn norm_f32; norm_f64_fn norm_f64;
    lse_f32_fn lse_f32; lse_f64_fn lse_f64;
    elem_f32_fn elem_f32; elem_f64_fn elem_f64;
} fuzz_fn;

typedef struct fuzz_kernel fuzz_kernel;
struct fuzz_kernel {
    const char *name;
    void (*run)(const fuzz_kernel *k, fuzz_bytes *b);
    fuzz_op op;
    int f64;
    fuzz_fn fn;
};

/* One call, with its arguments decoded. */
typedef struct {
    const fuzz_kernel *k;
    int64_t e[3];          /* (outer, n, inner); e[0] is `count` for element-wise */
    double temperature;
    const void *x;
    void *y;
} fuzz_call;

static smk_status invoke(const fuzz_call *c) {
    const fuzz_kernel *k = c->k;
    float tf = (float)c->temperature;
    switch (k->op) {
    case OP_SOFTMAX: case OP_LOG_SOFTMAX:
        return k->f64 ? k->fn.norm_f64((const double *)c->x, (double *)c->y, c->e[0], c->e[1], c->e[2], c->temperature)
                      : k->fn.norm_f32((const float *)c->x, (float *)c->y, c->e[0], c->e[1], c->e[2], tf);
    case OP_LOGSUMEXP:
        return k->f64 ? k->fn.lse_f64((const double *)c->x, (double *)c->y, c->e[0], c->e[1], c->e[2])
                      : k->fn.lse_f32((const float *)c->x, (float *)c->y, c->e[0], c->e[1], c->e[2]);
    case OP_SIGMOID: case OP_LOG_SIGMOID:
        return k->f64 ? k->fn.elem_f64((const double *)c->x, (double *)c->y, c->e[0])
                      : k->fn.elem_f32((const float *)c->x, (float *)c->y, c->e[0]);
    default:  /* the other families call through fuzz_args */
        return SMK_ERROR_INTERNAL;
    }
}

static void describe(const fuzz_call *c, const char *mode) {
    snprintf(call_text, sizeof call_text,
             "%s(x=%p, y=%p, %lld, %lld, %lld, T=%.17g) [%s]", c->k->name, c->x, (void *)c->y,
             (long long)c->e[0], (long long)c->e[1], (long long)c->e[2], c->temperature, mode);    if (trace_calls) fprintf(stderr, "fuzz_abi: %s\n", call_text);
}

/* The status the header promises, and a message with every failure. */
static void check_status(smk_status st, smk_status expected) {
    if (st != expected)
        fail("status %d (%s), expected %d (%s)", (int)st, smk_status_string(st),
             (int)expected, smk_status_string(expected));
    if (st != SMK_OK && strlen(smk_last_error_message()) == 0) fail("failed without a message");
}

/* Runs the call, compares its status with `expected`, and checks that a
 * failure wrote nothing: `ybytes` of y must still hold the canary (when y is
 * not x) and `x` must still equal `xsave`. */
static smk_status call_checked(const fuzz_call *c, smk_status expected,
                               const void *xsave, size_t xbytes, size_t ybytes) {
    smk_status st = invoke(c);
    size_t i;
    check_status(st, expected);
    if (c->x && xbytes && (st != SMK_OK || (const void *)c->y != c->x) && memcmp(c->x, xsave, xbytes) != 0)
        fail("the input was written (status %d)", (int)st);
    if (st != SMK_OK && c->y && (const void *)c->y != c->x) {
        const uint8_t *p = (const uint8_t *)c->y;
        for (i = 0; i < ybytes; i++) if (p[i] != CANARY) fail("a failed call wrote y[%zu bytes in]", i);
    }
    return st;
}

/* Fills x[0..count) with decoded values: the first `from_bytes` from the
 * fuzz bytes, the rest from one of four patterns. */
static void fill_values(fuzz_bytes *b, int f64, void *x, int64_t count) {
    int64_t from_bytes = take_u8(b), i;
    uint32_t seed = take_u8(b);
    uint8_t fill = take_u8(b) % 4;
    for (i = 0; i < count; i++) {
        double v;
        if (i < from_bytes) v = take_value(b, f64);
        else if (fill == 0) v = pattern(seed, i);
        else if (fill == 1) v = SPECIAL_VALUES[(seed + (uint32_t)i) % N_SPECIAL];
        else if (fill == 2) v = (i % 17 == (int64_t)(seed % 17)) ? -INFINITY : pattern(seed, i) * 1e-2;
        else v = pattern(seed, i) * 1e35;
        set(x, f64, i, v);
    }
}

/* Input buffer: `count` elements, filled by fill_values. Exact-size malloc;
 * never NULL for count 0 (malloc(1)). */
static void *make_input(fuzz_bytes *b, int f64, int64_t count) {
    void *x = malloc(count ? (size_t)count * elem_size(f64) : 1);
    if (!x) abort();
    fill_values(b, f64, x, count);
    return x;
}

/* long double references */
static long double ld_exp(long double v) { return expl(v); }

/* (x - max) / T as the kernels form it: the difference in the dtype, where it
 * overflows to -inf when the row spans more than the dtype's range (x near
 * -max, max near +max), even if a temperature > 1 would bring it back in
 * range (PyTorch divides first). A documented limitation (TESTING.md); the
 * reference follows it and is exact otherwise. */
static long double ref_z(double v, long double m, long double invT, int f64) {
    double diff = f64 ? v - (double)m : (double)((float)v - (float)m);
    if (isinf(diff) && !isinf(v) && !isinf((double)m)) return -INFINITY;
    return ((long double)v - m) * invT;
}

/* Terms a running sum of n values loses precision over: float sums run in
 * blocks whose lanes hold at most ~64 terms before going to double; double
 * sums add term by term. */
static long double sum_terms(int64_t n, int f64) { return (long double)(f64 ? n : (n < 64 ? n : 64)); }

static long double dtype_eps(int f64) { return f64 ? (long double)DBL_EPSILON : (long double)FLT_EPSILON; }

/* An absolute floor under relative tolerances: results below it may be
 * flushed or subnormal. */
static long double dtype_tiny(int f64) { return f64 ? 1e-300L : 1e-37L; }

/* One fibre of a (masked) softmax or log-softmax: n values of x and y at
 * xs + j * stride (y at ys + j * stride), the mask bytes (NULL: every
 * position) at ms + j * mstride. Positions `norm` selects are normalised at
 * 1/invT; positions `keep` leaves out must be exactly 0 (log: -inf) whatever
 * their logit, as must every position when `norm` selects none. keep == norm
 * (renormalized) or norm == NULL and keep the mask (softmax, then mask).
 * (o, i) name the fibre in messages. */
typedef struct {
    const void *x, *y;
    int f64, log;
    int64_t xs, ys, n, stride;
    const uint8_t *norm, *keep;
    int64_t ms, mstride;
    long double invT;
    int64_t o, i;
} softmax_fibre;

static int selected(const uint8_t *mask, const softmax_fibre *f, int64_t j) {
    return mask == NULL || mask[f->ms + j * f->mstride] != 0;
}

static void check_softmax_fibre(const softmax_fibre *f) {
    int f64 = f->f64, nan = 0, pinf = 0, any = 0;
    int64_t n = f->n, j;
    const long double eps = dtype_eps(f64);
    long double m = -INFINITY, s = 0, sum = 0;
    const double fill = f->log ? -INFINITY : 0.0;
    fibre_x = f->x; fibre_f64 = f64; fibre_start = f->xs; fibre_n = n; fibre_stride = f->stride;
    for (j = 0; j < n; j++) {
        double v = get(f->x, f64, f->xs + j * f->stride);
        if (!selected(f->norm, f, j)) continue;
        any = 1;
        if (isnan(v)) nan = 1;
        else if (v == INFINITY) pinf = 1;
        if (v > m) m = v;
    }
    /* positions outside the output mask, or every position of a fully
     * masked fibre: exactly the fill, a select and never a multiply */
    for (j = 0; j < n; j++) {
        double r = get(f->y, f64, f->ys + j * f->stride);
        if ((!any || !selected(f->keep, f, j)) && !(r == fill))
            fail("masked-out position %lld of fibre (%lld, %lld) gave %g, want %g",
                 (long long)j, (long long)f->o, (long long)f->i, r, fill);
    }
    if (!any || n == 0) { fibre_x = NULL; return; }
    if (nan || m == -INFINITY) {
        for (j = 0; j < n; j++) {
            double r = get(f->y, f64, f->ys + j * f->stride);
            if (selected(f->keep, f, j) && !isnan(r))
                fail("fibre (%lld, %lld) with NaN or all -inf gave %g at %lld, want NaN",
                     (long long)f->o, (long long)f->i, r, (long long)j);
        }
        fibre_x = NULL;
        return;
    }
    if (pinf) { fibre_x = NULL; return; }  /* +inf: not specified (docs/DESIGN.md "Numerics") */
    for (j = 0; j < n; j++)
        if (selected(f->norm, f, j)) s += ld_exp(ref_z(get(f->x, f64, f->xs + j * f->stride), m, f->invT, f64));
    for (j = 0; j < n; j++) {
        double v = get(f->x, f64, f->xs + j * f->stride);
        double r = get(f->y, f64, f->ys + j * f->stride);
        long double z = ref_z(v, m, f->invT, f64);
        if (!selected(f->keep, f, j)) continue;
        if (!f->log) {
            long double want = ld_exp(z) / s;
            /* a few ulp of exp's argument |z| (at most ~745 where the
             * result is not 0) plus rounding of the sum */
            long double tol = eps * want * (64 * (1 + fminl(fabsl(z), 800)) + sum_terms(n, f64)) + dtype_tiny(f64);
            if (v == -INFINITY) { if (r != 0) fail("-inf entry %lld gave %g, want 0", (long long)j, r); }
            else if (!(fabsl((long double)r - want) <= tol))
                fail("softmax[%lld, %lld, %lld] = %.17g, reference %.17Lg", (long long)f->o, (long long)j, (long long)f->i, r, want);
            sum += r;
        } else {
            long double want = z - logl(s);
            long double tol = eps * (64 * (fabsl(z) + logl(s) + 1) + sum_terms(n, f64));
            /* a result beyond the dtype's range rounds to -inf */
            double rounded = f64 ? (double)want : (double)(float)want;
            if (v == -INFINITY || isinf(rounded)) { if (r != -INFINITY) fail("entry %lld gave %g, want -inf", (long long)j, r); }
            else if (!(fabsl((long double)r - want) <= tol))
                fail("log_softmax[%lld, %lld, %lld] = %.17g, reference %.17Lg", (long long)f->o, (long long)j, (long long)f->i, r, want);
            sum += ld_exp(r);
        }
    }
    if (f->keep == f->norm) {
        long double tol = (f64 ? 1e-12L : 1e-5L) * (1 + n / 64);
        if (!(fabsl(sum - 1) <= tol))
            fail("fibre (%lld, %lld) sums to %.17Lg", (long long)f->o, (long long)f->i, sum);
    }
    fibre_x = NULL;
}

/* Checks the result y of op over extents e from input x (both out of place). */
static void check_reduction(const fuzz_call *c, const void *x, const void *y) {
    int f64 = c->k->f64;
    int64_t outer = c->e[0], n = c->e[1], inner = c->e[2], o, j, i;
    const long double eps = dtype_eps(f64);
    long double invT = f64 ? 1.0L / (long double)c->temperature : 1.0L / (long double)(float)c->temperature;
    /* (huge, 0, 0) and (huge, 0, 1) are valid and empty; logsumexp's output
     * (outer * inner elements) was allocated, so its loop is bounded */
    if (outer == 0 || inner == 0 || (n == 0 && c->k->op != OP_LOGSUMEXP)) return;
    for (o = 0; o < outer; o++) for (i = 0; i < inner; i++) {
        if (c->k->op != OP_LOGSUMEXP) {
            softmax_fibre f;
            memset(&f, 0, sizeof f);
            f.x = x; f.y = y; f.f64 = f64; f.log = c->k->op == OP_LOG_SOFTMAX;
            f.xs = f.ys = o * n * inner + i; f.n = n; f.stride = inner; f.invT = invT; f.o = o; f.i = i;
            check_softmax_fibre(&f);
            continue;
        }
        {
            int nan = 0, pinf = 0;
            long double m = -INFINITY, s = 0;
            double r = get(y, f64, o * inner + i);
            fibre_x = x; fibre_f64 = f64; fibre_start = o * n * inner + i; fibre_n = n; fibre_stride = inner;
            for (j = 0; j < n; j++) {
                double v = get(x, f64, (o * n + j) * inner + i);
                if (isnan(v)) nan = 1;
                else if (v == INFINITY) pinf = 1;
                if (v > m) m = v;
            }
            if (n == 0) { if (!(r == -INFINITY)) fail("empty fibre gave %g, want -inf", r); continue; }
            if (nan) { if (!isnan(r)) fail("NaN fibre gave %g", r); continue; }
            if (pinf) { if (!(r == INFINITY)) fail("+inf fibre gave %g", r); continue; }
            if (m == -INFINITY) { if (!(r == -INFINITY)) fail("all -inf fibre gave %g", r); continue; }
            for (j = 0; j < n; j++) s += ld_exp((long double)get(x, f64, (o * n + j) * inner + i) - m);
            {
                long double want = m + logl(s);
                /* plus the rounding of the sum itself: running sums over n
                 * terms (float blocks of 64 rows, then double) lose up to
                 * ~n eps of s, i.e. n eps of log(s); fuzzing found 6e-15 at
                 * n = 60 in the strided float64 path */
                long double tol = eps * (16 * (fabsl(m) + logl(s) + 1) + sum_terms(n, f64));
                if (!(fabsl((long double)r - want) <= tol))
                    fail("logsumexp fibre (%lld, %lld) = %.17g, reference %.17Lg", (long long)o, (long long)i, r, want);
            }
        }
    }
    fibre_x = NULL;
}

/* sigmoid(v) == r (op OP_SIGMOID) or log_sigmoid(v) == r, within 8 ulp of
 * the long double value; NaN stays NaN. Shared by the element-wise kernels
 * and the sigmoid segments of partitioned rows. */
static void check_sigmoid_value(fuzz_op op, int f64, double v, double r, int64_t at) {
    const long double eps = dtype_eps(f64);
    if (isnan(v)) { if (!isnan(r)) fail("NaN at %lld gave %g", (long long)at, r); return; }
    if (op == OP_SIGMOID) {
        long double want = v >= 0 ? 1 / (1 + ld_exp(-(long double)v))
                                  : ld_exp((long double)v) / (1 + ld_exp((long double)v));
        if (!(r >= 0 && r <= 1)) fail("sigmoid(%g) = %g outside [0, 1]", v, r);
        if (!(fabsl((long double)r - want) <= 8 * eps * want + dtype_tiny(f64)))
            fail("sigmoid(%.17g) = %.17g, reference %.17Lg", v, r, want);
    } else {
        long double want = (v < 0 ? (long double)v : 0) - log1pl(ld_exp(-fabsl((long double)v)));
        if (!(r <= 0)) fail("log_sigmoid(%g) = %g > 0", v, r);
        if (v == -INFINITY) { if (r != -INFINITY) fail("log_sigmoid(-inf) = %g", r); return; }
        if (!(fabsl((long double)r - want) <= 8 * eps * fabsl(want) + dtype_tiny(f64)))
            fail("log_sigmoid(%.17g) = %.17g, reference %.17Lg", v, r, want);
    }
}

static void check_elementwise(const fuzz_call *c, const void *x, const void *y) {
    int64_t i;
    for (i = 0; i < c->e[0]; i++)
        check_sigmoid_value(c->k->op, c->k->f64, get(x, c->k->f64, i), get(y, c->k->f64, i), i);
}

/* A count for the element-wise kernels: mostly below 300, sometimes an
 * edge value or raw bits. */
static int64_t take_count(fuzz_bytes *b) {
    uint8_t how = take_u8(b) % 8;
    return how < 6 ? (int64_t)(take_u16(b) % 300) : how == 6 ? take_edge(b) : (int64_t)take_u64(b);
}

/* The normalizer, logsumexp and element-wise families share one runner: they
 * differ in the output count and in whether there is a temperature. */
static void run_unary(const fuzz_kernel *k, fuzz_bytes *b) {
    fuzz_call c;
    int64_t xcount = 0, ycount = 0;
    int elementwise = k->op == OP_SIGMOID || k->op == OP_LOG_SIGMOID;
    size_t es = elem_size(k->f64);
    smk_status expected;
    uint8_t mode;
    size_t i;

    memset(&c, 0, sizeof c);
    c.k = k;
    if (elementwise) {
        c.e[0] = take_count(b);
        expected = c.e[0] < 0 ? SMK_ERROR_INVALID_ARGUMENT
                 : c.e[0] > INT64_MAX / 8 ? SMK_ERROR_SIZE_OVERFLOW : SMK_OK;
        xcount = ycount = c.e[0] < 0 ? 0 : c.e[0];
    } else {
        take_extents(b, c.e);
        expected = predict_extents(c.e, &xcount, &ycount);
        if (k->op != OP_LOGSUMEXP) ycount = xcount;
        c.temperature = k->op == OP_LOGSUMEXP ? 1.0 : take_temperature(b, k->f64);
    }
    mode = take_u8(b) % 12;

    if (expected != SMK_OK || xcount > MAX_ELEMENTS || ycount > MAX_ELEMENTS) {
        /* Extents the call must refuse, or too large to allocate here: only
         * NULL or small canary buffers, which must stay untouched. */
        size_t xbytes = 64, ybytes = 64;
        uint8_t *xs, *ys;
        if (expected == SMK_OK) {
            if (xcount <= MAX_ELEMENTS) xbytes = (size_t)xcount * es + 1;
            if (ycount <= MAX_ELEMENTS) ybytes = (size_t)ycount * es + 1;
        }
        xs = (uint8_t *)malloc(xbytes);
        ys = (uint8_t *)malloc(ybytes);
        if (!xs || !ys) abort();
        memset(xs, CANARY, xbytes);
        memset(ys, CANARY, ybytes);
        c.x = (mode & 1) ? NULL : xs;
        c.y = (mode & 2) ? NULL : ys;
        if (expected == SMK_OK) {
            /* valid but huge: the pointer of an oversized buffer must be
             * NULL, and the call must refuse that NULL (pointers are checked
             * before the temperature and the aliasing) */
            if (xcount > MAX_ELEMENTS) c.x = NULL;
            if (ycount > MAX_ELEMENTS) c.y = NULL;
            expected = (c.x == NULL && xcount > 0) || (c.y == NULL && ycount > 0)
                     ? SMK_ERROR_NULL_POINTER : SMK_ERROR_INTERNAL;
        }
        describe(&c, "refused");
        call_checked(&c, expected, NULL, 0, 0);
        for (i = 0; i < xbytes; i++) if (xs[i] != CANARY) fail("a refused call wrote x");
        for (i = 0; i < ybytes; i++) if (ys[i] != CANARY) fail("a refused call wrote y");
        free(xs); free(ys);
        return;
    }

    {
        int64_t span = xcount > ycount ? xcount : ycount, shift = 0;
        void *x = make_input(b, k->f64, xcount);
        void *xsave = malloc(xcount ? (size_t)xcount * es : 1);
        void *ybuf = NULL, *combined = NULL;
        const char *mode_name = "separate";
        if (!xsave) abort();
        memcpy(xsave, x, (size_t)xcount * es);
        c.x = x;
        if (mode < 5) {
            ybuf = malloc(ycount ? (size_t)ycount * es : 1);
            c.y = ybuf;
        } else if (mode < 7) {
            /* in place: one buffer holding the input, y at its start */
            combined = malloc(span ? (size_t)span * es : 1);
            memcpy(combined, x, (size_t)xcount * es);
            c.x = combined; c.y = combined;
            mode_name = "in place";
        } else if (mode < 9 && span > 1) {
            /* partial overlap, y after or before x */
            shift = 1 + (int64_t)(take_u16(b) % (uint16_t)(span - 1));
            combined = malloc((size_t)(span + shift) * es);
            memset(combined, CANARY, (size_t)(span + shift) * es);
            if (mode == 7) {
                memcpy(combined, x, (size_t)xcount * es);
                c.x = combined; c.y = (uint8_t *)combined + shift * es;
                mode_name = "y = x + shift";
            } else {
                memcpy((uint8_t *)combined + shift * es, x, (size_t)xcount * es);
                c.x = (uint8_t *)combined + shift * es; c.y = combined;
                mode_name = "x = y + shift";
            }
        } else if (mode == 9) {
            c.x = NULL; ybuf = malloc(ycount ? (size_t)ycount * es : 1); c.y = ybuf;
            mode_name = "x NULL";
        } else if (mode == 10) {
            c.y = NULL;
            mode_name = "y NULL";
        } else {
            c.x = NULL; c.y = NULL;
            mode_name = "both NULL";
        }

        if (c.x == NULL && xcount > 0) expected = SMK_ERROR_NULL_POINTER;
        else if (c.y == NULL && ycount > 0) expected = SMK_ERROR_NULL_POINTER;
        else if (!elementwise && k->op != OP_LOGSUMEXP && !temperature_ok(c.temperature, k->f64))
            expected = SMK_ERROR_INVALID_ARGUMENT;
        else if (partial_overlap(c.x, xcount, c.y, ycount, es)) expected = SMK_ERROR_INVALID_ARGUMENT;
        if (c.y && c.y != c.x) memset(c.y, CANARY, (size_t)ycount * es);
        describe(&c, mode_name);
        {
            /* snapshot of x as it is in memory now (the canary may have
             * overwritten part of it when y partially overlaps x) */
            void *xnow = malloc(xcount ? (size_t)xcount * es : 1);
            smk_status st;
            if (c.x) memcpy(xnow, c.x, (size_t)xcount * es);
            st = call_checked(&c, expected, xnow, c.x ? (size_t)xcount * es : 0, (size_t)ycount * es);
            if (st == SMK_OK && c.x && c.y) {
                if (c.x == (const void *)c.y) {
                    /* in place must give the bits of out of place */
                    void *ref = malloc(ycount ? (size_t)ycount * es : 1);
                    fuzz_call d = c;
                    d.x = xsave; d.y = ref;
                    if (invoke(&d) != SMK_OK) fail("out-of-place twin of an in-place call failed");
                    if (memcmp(ref, c.y, (size_t)ycount * es) != 0) fail("in place differs from out of place");
                    free(ref);
                } else if (elementwise) {
                    check_elementwise(&c, c.x, c.y);
                } else {
                    check_reduction(&c, c.x, c.y);
                }
            }
            free(xnow);
        }
        free(x); free(xsave); free(ybuf); free(combined);
    }
}

/* ------------------------------------------------------------------------ */
/* Calls with many buffers: the variant, selection, loss and backward        */
/* families                                                                  */
/* ------------------------------------------------------------------------ */

/* Every pointer argument of a call is a fuzz_buf: its element count, where
 * it points (an exact-size block of its own, a block shared with another
 * buffer for aliasing, or NULL) and a snapshot of its bytes taken just
 * before the call. Outputs start as CANARY bytes. After the call:
 *   failure => every watched byte of every buffer is as it was;
 *   success => every input no output aliases exactly is as it was.
 * Inputs are read back from their snapshots (`before`), so the checks see
 * the original values even in place. */
#define MAX_BUFS 16
#define MAX_MEMBERS 8
enum { B_DATA, B_INDEX, B_BYTES, B_PTRS };  /* aliasing pairs only within B_DATA */

typedef struct {
    const char *name;
    int kind, output;
    size_t es;
    int64_t count;   /* elements the call may touch; -1: unknown (invalid extents) */
    void *p;         /* what the call gets */
    void *block;     /* malloc'd storage this buffer frees, or NULL */
    size_t watch;    /* bytes at p watched for writes */
    uint8_t *before; /* their snapshot */
    int aliased;     /* an output sits exactly on an input (both marked) */
} fuzz_buf;

typedef struct fuzz_args fuzz_args;
typedef smk_status (*args_invoke)(const fuzz_args *a);
struct fuzz_args {
    const fuzz_kernel *k;
    int64_t e[3];        /* (outer, n, inner), or family-specific extents */
    int64_t i[3];        /* family scalars (k, counts, ...) */
    double t;            /* temperature */
    int flag;            /* renormalize, conditional, mode, reduction */
    fuzz_buf b[MAX_BUFS];
    int nb;
};

static int buf_add(fuzz_args *a, const char *name, int kind, int output, size_t es, int64_t count) {
    fuzz_buf *f = &a->b[a->nb];
    memset(f, 0, sizeof *f);
    f->name = name; f->kind = kind; f->output = output; f->es = es; f->count = count;
    return a->nb++;
}

/* Where each buffer points: NULL now and then (whatever its count), NULL
 * when its count is too large to allocate, a small canary block when the
 * count is unknown (the call must refuse before touching it), else an
 * exact-size block. `optional` buffers (weight, dlogits, pos_weight) are
 * NULL half the time: NULL means "absent" there. */
static void buf_place(fuzz_bytes *b, fuzz_args *a, int idx, int optional) {
    fuzz_buf *f = &a->b[idx];
    uint8_t m = take_u8(b);
    size_t bytes;
    if ((optional ? m < 128 : m < 10) || (f->count > MAX_ELEMENTS && f->kind != B_BYTES) ||
        (f->kind == B_BYTES && f->count > 64 * MAX_ELEMENTS)) {
        f->p = NULL; f->watch = 0;
        return;
    }
    bytes = f->count < 0 ? 64 : f->count ? (size_t)f->count * f->es : 1;
    f->block = malloc(bytes);
    if (!f->block) abort();
    memset(f->block, CANARY, bytes);
    f->p = f->block;
    f->watch = f->count < 0 ? 64 : (size_t)f->count * f->es;
}

static int known(const fuzz_buf *f) { return f->p != NULL && f->count > 0; }

/* One aliasing choice among the pairs (output, input) the family allows:
 * none, exactly the same start, or a partial overlap (shifted either way). */
static void buf_alias(fuzz_bytes *b, fuzz_args *a, const int (*pairs)[2], int npairs) {
    uint8_t m = take_u8(b) % 8;
    fuzz_buf *o, *in;
    const int *pr;
    if (m < 5 || npairs == 0) return;
    pr = pairs[take_u8(b) % npairs];
    o = &a->b[pr[0]]; in = &a->b[pr[1]];
    if (!o->p || !in->p || o->count < 0 || in->count < 0 || o->es != in->es || o->block == NULL || in->block == NULL)
        return;
    if (m < 7) {
        if (o->count != in->count) return;
        free(o->block);
        o->block = NULL; o->p = in->p;
        o->aliased = in->aliased = 1;
    } else {
        int64_t span = o->count > in->count ? o->count : in->count, shift;
        uint8_t *blk;
        int out_first = take_u8(b) & 1;
        if (span < 2 || o->count == 0 || in->count == 0) return;
        shift = 1 + (int64_t)(take_u16(b) % (uint16_t)(span - 1 > 65535 ? 65535 : span - 1));
        blk = (uint8_t *)malloc((size_t)(span + shift) * o->es);
        if (!blk) abort();
        memset(blk, CANARY, (size_t)(span + shift) * o->es);
        if (out_first) {
            memcpy(blk + shift * o->es, in->p, (size_t)in->count * in->es);
            in->p = blk + shift * o->es; o->p = blk;
        } else {
            memcpy(blk, in->p, (size_t)in->count * in->es);
            in->p = blk; o->p = blk + shift * o->es;
        }
        free(o->block); free(in->block);
        o->block = NULL; in->block = blk;
    }
}

static void args_free(fuzz_args *a) {
    int i;
    for (i = 0; i < a->nb; i++) { free(a->b[i].block); free(a->b[i].before); }
}

static void args_describe(const fuzz_args *a, const char *what) {
    int i;
    size_t len = (size_t)snprintf(call_text, sizeof call_text, "%s(e=(%lld, %lld, %lld), i=(%lld, %lld, %lld), t=%.9g, flag=%d; %s",
                                  a->k->name, (long long)a->e[0], (long long)a->e[1], (long long)a->e[2],
                                  (long long)a->i[0], (long long)a->i[1], (long long)a->i[2], a->t, a->flag, what);
    for (i = 0; i < a->nb && len < sizeof call_text; i++)
        len += (size_t)snprintf(call_text + len, sizeof call_text - len, " %s=%p[%lld]%s", a->b[i].name, a->b[i].p,
                                (long long)a->b[i].count, a->b[i].aliased ? "*" : "");
    if (len < sizeof call_text) snprintf(call_text + len, sizeof call_text - len, ")");
}

/* Fills the outputs with the canary (unless aliased onto an input) and
 * snapshots every buffer. */
static void args_arm(fuzz_args *a) {
    int i;
    for (i = 0; i < a->nb; i++) {
        fuzz_buf *f = &a->b[i];
        if (f->p && f->output && !f->aliased) memset(f->p, CANARY, f->watch);
    }
    for (i = 0; i < a->nb; i++) {
        fuzz_buf *f = &a->b[i];
        f->before = (uint8_t *)malloc(f->watch ? f->watch : 1);
        if (!f->before) abort();
        if (f->p) memcpy(f->before, f->p, f->watch);
    }
}

/* A copy of a's call with every buffer in a block of its own (inputs from
 * their snapshots, outputs canary): the out-of-place twin of an in-place
 * call. Member pointer lists are redirected to the copies. */
static void args_twin(const fuzz_args *a, fuzz_args *t) {
    int i, j;
    int64_t m;
    *t = *a;
    for (i = 0; i < a->nb; i++) {
        fuzz_buf *f = &t->b[i];
        f->before = NULL; f->aliased = 0; f->block = NULL;
        if (!a->b[i].p) continue;
        f->block = malloc(f->watch ? f->watch : 1);
        if (!f->block) abort();
        if (f->output) memset(f->block, CANARY, f->watch); else memcpy(f->block, a->b[i].before, f->watch);
        f->p = f->block;
    }
    for (i = 0; i < t->nb; i++) {
        if (t->b[i].kind != B_PTRS || !t->b[i].p) continue;
        for (m = 0; m < t->b[i].count; m++) {
            const void **list = (const void **)t->b[i].p;
            for (j = 0; j < a->nb; j++)
                if (list[m] && list[m] == a->b[j].p && a->b[j].kind == B_DATA && !a->b[j].output) { list[m] = t->b[j].p; break; }
        }
    }
}

/* Runs the call and checks its status and what it wrote (see above); in
 * place, also that the out-of-place twin gives the same bits. */
static smk_status args_call(fuzz_args *a, args_invoke invoke, smk_status expected) {
    smk_status st;
    int i, j;
    args_arm(a);
    args_describe(a, expected == SMK_OK ? "expect OK" : "expect failure");
    if (trace_calls) fprintf(stderr, "fuzz_abi: %s\n", call_text);
    st = invoke(a);
    check_status(st, expected);
    for (i = 0; i < a->nb; i++) {
        fuzz_buf *f = &a->b[i];
        if (!f->p || (st == SMK_OK && (f->output || f->aliased))) continue;
        if (memcmp(f->p, f->before, f->watch) != 0) {
            for (j = 0; j < (int)f->watch && ((uint8_t *)f->p)[j] == f->before[j]; j++) {}
            fail("%s was written (byte %d) by a call that %s", f->name, j, st == SMK_OK ? "must only read it" : "failed");
        }
    }
    if (st != SMK_OK) return st;
    for (i = 0; i < a->nb; i++) if (a->b[i].aliased) break;
    if (i < a->nb) {
        fuzz_args t;
        args_twin(a, &t);
        if (invoke(&t) != SMK_OK) fail("the out-of-place twin of an in-place call failed");
        for (i = 0; i < a->nb; i++)
            if (a->b[i].output && a->b[i].p)
                for (j = 0; j < (int)(a->b[i].watch / a->b[i].es); j++) {
                    const uint8_t *p = (const uint8_t *)a->b[i].p + (size_t)j * a->b[i].es;
                    const uint8_t *q = (const uint8_t *)t.b[i].p + (size_t)j * a->b[i].es;
                    /* the same bits, or NaN both: which NaN comes out of an
                     * operation on two NaNs depends on the operand order
                     * the compiler picked, and LLVM versions loops on
                     * aliasing (softmax_backward gave -nan in place, nan
                     * out of place) */
                    if (memcmp(p, q, a->b[i].es) == 0 ||
                        (a->b[i].kind == B_DATA && isnan(get(p, a->k->f64, 0)) && isnan(get(q, a->k->f64, 0))))
                        continue;
                    fail("in place differs from out of place in %s[%d]: %.17g in place, %.17g out of place", a->b[i].name, j,
                         a->b[i].kind == B_DATA ? get(p, a->k->f64, 0) : 0.0, a->b[i].kind == B_DATA ? get(q, a->k->f64, 0) : 0.0);
                }
        for (i = 0; i < t.nb; i++) free(t.b[i].block);
    }
    return st;
}

/* Inputs as they were before the call; outputs as the call left them. */
static const void *IN(const fuzz_args *a, int i) { return a->b[i].before; }
static void *OUT(const fuzz_args *a, int i) { return a->b[i].p; }

/* NULL while the count is nonzero: the ABI's pointer check. */
static int null_bad(const fuzz_args *a, int i) { return a->b[i].p == NULL && a->b[i].count > 0; }

static int overlap_partial(const fuzz_args *a, int o, int i) {
    return partial_overlap(a->b[i].p, a->b[i].count, a->b[o].p, a->b[o].count, a->b[o].es);
}

/* Any overlap, exact aliasing included (outputs that must be separate). */
static int overlap_any(const fuzz_args *a, int o, int i) {
    const fuzz_buf *x = &a->b[i], *y = &a->b[o];
    uintptr_t xs = (uintptr_t)x->p, ys = (uintptr_t)y->p;
    if (!x->p || !y->p || x->count <= 0 || y->count <= 0) return 0;
    return xs < ys + (uintptr_t)y->count * y->es && ys < xs + (uintptr_t)x->count * x->es;
}

/* The ABI's element-count rule (elementCount in the library). */
static smk_status predict_count(int64_t c) {
    return c < 0 ? SMK_ERROR_INVALID_ARGUMENT : c > INT64_MAX / 8 ? SMK_ERROR_SIZE_OVERFLOW : SMK_OK;
}

/* Extents decoded and checked: the element count and the reduced count, -1
 * each when the extents are invalid (then *st holds their status). */
static void take_checked_extents(fuzz_bytes *b, fuzz_args *a, smk_status *st, int64_t *count, int64_t *reduced) {
    take_extents(b, a->e);
    *st = predict_extents(a->e, count, reduced);
    if (*st != SMK_OK) { *count = -1; *reduced = -1; }
}

/* Fills every placed input of kind B_DATA in [from, to) with values. */
static void fill_data(fuzz_bytes *b, fuzz_args *a, int from, int to) {
    int i;
    for (i = from; i < to; i++)
        if (a->b[i].p && !a->b[i].output && a->b[i].kind == B_DATA && a->b[i].count > 0)
            fill_values(b, a->k->f64, a->b[i].p, a->b[i].count);
}

/* r against a long double reference: NaN wants NaN, an infinity wants
 * itself, a reference beyond the dtype's range may come back as that
 * infinity, anything else must be within tol. `mag` bounds the terms the
 * library summed: beyond the range of its accumulator an intermediate may
 * overflow where the reference does not, and nothing is checked. */
static void check_close(double r, long double want, long double tol, long double mag, int f64, const char *what, int64_t at) {
    double rounded = f64 ? (double)want : (double)(float)want;
    if (!(mag <= (long double)DBL_MAX / 4) && !isnan(want)) return;
    if (isnan(want)) { if (!isnan(r)) fail("%s[%lld] = %.17g, reference NaN", what, (long long)at, r); return; }
    if (isinf(want)) { if (!((long double)r == want)) fail("%s[%lld] = %.17g, reference %Lg", what, (long long)at, r, want); return; }
    if (isinf(rounded) && r == rounded) return;
    if (!(fabsl((long double)r - want) <= tol))
        fail("%s[%lld] = %.17g, reference %.17Lg (tolerance %.3Lg)", what, (long long)at, r, want, tol);
}

/* Buffers of one float type whose content is probabilities half the time:
 * |v| / (1 + |v|), so geometric means and probability targets are tried on
 * values in their domain as well as on anything. */
static void to_probabilities(fuzz_args *a, int i) {
    int64_t j;
    if (!a->b[i].p) return;
    for (j = 0; j < a->b[i].count; j++) {
        double v = fabs(get(a->b[i].p, a->k->f64, j));
        set(a->b[i].p, a->k->f64, j, isinf(v) ? 1.0 : v / (1 + v));
    }
}

/* The kernel of a row by dtype: arguments are void pointers (converted to
 * the row's element type) and doubles (rounded to float for _f32). */
#define BY_TYPE(a, fn, ...) ((a)->k->f64 ? fn##_f64(__VA_ARGS__) : fn##_f32(__VA_ARGS__))

static int overlap_any_raw(const void *x, int64_t xn, const void *y, int64_t yn, size_t es) {
    uintptr_t xs = (uintptr_t)x, ys = (uintptr_t)y;
    if (!x || !y || xn <= 0 || yn <= 0) return 0;
    return xs < ys + (uintptr_t)yn * es && ys < xs + (uintptr_t)xn * es;
}

/* a + b with two's complement wrap-around (decoded values may be anything). */
static int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }

/* Element j of fibre (o, i) of an (outer, n, inner) tensor. */
static int64_t at3(const int64_t e[3], int64_t o, int64_t j, int64_t i) { return (o * e[1] + j) * e[2] + i; }

/* A byte value as a C caller might pass an int flag or enum: mostly the
 * valid values 0..(valid - 1), sometimes anything. */
static int take_enum(fuzz_bytes *b, int valid) {
    uint8_t c = take_u8(b);
    if (c < 232) return c % valid;
    c = take_u8(b);
    return c < 128 ? (int)(int8_t)c : c < 192 ? INT32_MIN + c : INT32_MAX - c;
}

/* ---- masked softmax / log-softmax -------------------------------------- */

enum { MS_X, MS_MASK, MS_Y };

static smk_status invoke_masked(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    if (a->k->op == OP_MASKED_SOFTMAX)
        return BY_TYPE(a, smk_masked_softmax, f[MS_X].p, f[MS_MASK].p, f[MS_Y].p, a->e[0], a->e[1], a->e[2], a->i[0], a->flag);
    return BY_TYPE(a, smk_masked_log_softmax, f[MS_X].p, f[MS_MASK].p, f[MS_Y].p, a->e[0], a->e[1], a->e[2], a->i[0]);
}

/* Mask bytes: all selected (nonzero values other than 1 too), none, a
 * seeded pattern of some density, or bytes from the input. */
static void fill_mask(fuzz_bytes *b, uint8_t *m, int64_t count) {
    uint8_t how = take_u8(b) % 4, seed = take_u8(b), density = take_u8(b);
    int64_t j;
    for (j = 0; j < count; j++) {
        if (how == 0) m[j] = (uint8_t)(seed & 1 ? 1 : 1 + (mix(seed, j) % 255));
        else if (how == 1) m[j] = 0;
        else if (how == 2) m[j] = (mix(seed, j) & 255) < density ? (uint8_t)(1 + j % 3 * 127) : 0;
        else m[j] = take_u8(b);
    }
}

static void run_masked(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{MS_Y, MS_X}};
    fuzz_args a;
    smk_status st;
    int64_t count, reduced, mc, o, i;
    uint8_t how;
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    how = take_u8(b) % 8;
    /* mask_count: the full shape, the shared n-long pattern, near either, or an edge value */
    if (how == 6) {  /* one take per statement: argument order is unspecified */
        int64_t near = take_u8(b) & 1 ? count : a.e[1];
        mc = wrap_add(near, (int64_t)(take_u8(b) % 5) - 2);
    } else {
        mc = how < 3 ? count : how < 6 ? a.e[1] : take_edge(b);
    }
    a.i[0] = mc;
    a.flag = k->op == OP_MASKED_SOFTMAX ? take_enum(b, 2) : 0;
    buf_add(&a, "x", B_DATA, 0, elem_size(k->f64), count);
    buf_add(&a, "mask", B_BYTES, 0, 1, st == SMK_OK && predict_count(mc) == SMK_OK ? mc : -1);
    buf_add(&a, "y", B_DATA, 1, elem_size(k->f64), count);
    for (i = 0; i < a.nb; i++) buf_place(b, &a, (int)i, 0);
    fill_data(b, &a, 0, a.nb);
    if (known(&a.b[MS_MASK])) fill_mask(b, (uint8_t *)a.b[MS_MASK].p, mc);
    buf_alias(b, &a, pairs, 1);

    if (st == SMK_OK) st = predict_count(mc);
    if (st == SMK_OK && (null_bad(&a, MS_X) || null_bad(&a, MS_Y) || null_bad(&a, MS_MASK))) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && a.flag != 0 && a.flag != 1) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && mc != count && mc != a.e[1]) st = SMK_ERROR_SHAPE_MISMATCH;
    if (st == SMK_OK && overlap_partial(&a, MS_Y, MS_X)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_masked, st) == SMK_OK && count > 0) {
        int full = mc == count;
        for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
            softmax_fibre f;
            const uint8_t *mask = (const uint8_t *)IN(&a, MS_MASK);
            memset(&f, 0, sizeof f);
            f.x = IN(&a, MS_X); f.y = OUT(&a, MS_Y); f.f64 = k->f64; f.log = k->op == OP_MASKED_LOG_SOFTMAX;
            f.xs = f.ys = at3(a.e, o, 0, i); f.n = a.e[1]; f.stride = a.e[2]; f.invT = 1; f.o = o; f.i = i;
            f.ms = full ? f.xs : 0; f.mstride = full ? a.e[2] : 1;
            /* renormalize = 0: softmax over every position, then the mask */
            f.norm = k->op == OP_MASKED_SOFTMAX && a.flag == 0 ? NULL : mask;
            f.keep = mask;
            check_softmax_fibre(&f);
        }
    }
    args_free(&a);
}

/* ---- partitioned rows --------------------------------------------------- */

enum { PT_X, PT_LAYOUT, PT_Y };
#define MAX_SEGMENTS 4096

static smk_status invoke_partitioned(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    return BY_TYPE(a, smk_partitioned, f[PT_X].p, f[PT_LAYOUT].p, f[PT_Y].p, a->e[0], a->e[1], a->e[2], a->i[0]);
}

static void run_partitioned(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{PT_Y, PT_X}};
    fuzz_args a;
    smk_status st;
    int64_t count, reduced, lc, s, o, i, total = 0;
    uint8_t how;
    smk_partition *layout;
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    how = take_u8(b) % 8;
    /* a few segments, none, many, or an edge count */
    lc = how < 5 ? 1 + take_u8(b) % 6 : how == 5 ? 0 : how == 6 ? 8 + take_u8(b) % 60 : take_edge(b);
    a.i[0] = lc;
    buf_add(&a, "x", B_DATA, 0, elem_size(k->f64), count);
    buf_add(&a, "layout", B_BYTES, 0, sizeof(smk_partition),
            lc < 0 ? -1 : lc > MAX_SEGMENTS ? INT64_MAX / 8 : lc);
    buf_add(&a, "y", B_DATA, 1, elem_size(k->f64), count);
    for (i = 0; i < a.nb; i++) buf_place(b, &a, (int)i, 0);
    fill_data(b, &a, 0, a.nb);
    layout = (smk_partition *)a.b[PT_LAYOUT].p;
    if (known(&a.b[PT_LAYOUT])) {
        /* widths: small (0 included), the rest of n, an edge value or raw
         * bits; activations: the five, or any int32 */
        uint32_t seed = take_u8(b);
        for (s = 0; s < lc; s++) {
            uint8_t w = s < 40 ? take_u8(b) : (uint8_t)(mix(seed, s) % 150);
            layout[s].width = w < 150 ? w % 9 : w < 200 ? wrap_sub(a.e[1], total) : w < 225 ? take_edge(b) : (int64_t)take_u64(b);
            layout[s].activation = s < 40 ? take_enum(b, 5) : (int32_t)(mix(seed, s) % 5);
            total = wrap_add(total, layout[s].width);
        }
        if (lc > 0 && take_u8(b) < 160) layout[lc - 1].width = wrap_sub(a.e[1], wrap_sub(total, layout[lc - 1].width));
    }
    buf_alias(b, &a, pairs, 1);

    if (st == SMK_OK) st = predict_count(lc);
    if (st == SMK_OK && lc > INT64_MAX / 16) st = SMK_ERROR_SIZE_OVERFLOW;
    if (st == SMK_OK && null_bad(&a, PT_LAYOUT)) st = SMK_ERROR_NULL_POINTER;
    for (s = 0; st == SMK_OK && s < lc; s++)
        if (layout[s].activation < 0 || layout[s].activation > 4) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && (null_bad(&a, PT_X) || null_bad(&a, PT_Y))) st = SMK_ERROR_NULL_POINTER;
    for (s = 0, total = 0; st == SMK_OK && s < lc; s++) {
        if (layout[s].width < 0) st = SMK_ERROR_INVALID_ARGUMENT;
        else if (__builtin_add_overflow(total, layout[s].width, &total)) st = SMK_ERROR_SIZE_OVERFLOW;
    }
    if (st == SMK_OK && total != a.e[1]) st = SMK_ERROR_SHAPE_MISMATCH;
    if (st == SMK_OK && overlap_partial(&a, PT_Y, PT_X)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_partitioned, st) == SMK_OK && count > 0) {
        const void *x = IN(&a, PT_X), *y = OUT(&a, PT_Y);
        const smk_partition *seg = (const smk_partition *)IN(&a, PT_LAYOUT);
        size_t es = elem_size(k->f64);
        for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
            int64_t start = 0, j;
            for (s = 0; s < lc; start += seg[s].width, s++) {
                int64_t base = at3(a.e, o, start, i);
                int32_t act = seg[s].activation;
                if (act == SMK_ACTIVATION_SOFTMAX || act == SMK_ACTIVATION_LOG_SOFTMAX) {
                    softmax_fibre f;
                    memset(&f, 0, sizeof f);
                    f.x = x; f.y = y; f.f64 = k->f64; f.log = act == SMK_ACTIVATION_LOG_SOFTMAX;
                    f.xs = f.ys = base; f.n = seg[s].width; f.stride = a.e[2]; f.invT = 1; f.o = o; f.i = i;
                    check_softmax_fibre(&f);
                    continue;
                }
                for (j = 0; j < seg[s].width; j++) {
                    int64_t at = base + j * a.e[2];
                    double v = get(x, k->f64, at), r = get(y, k->f64, at);
                    if (act == SMK_ACTIVATION_IDENTITY) {
                        if (memcmp((const uint8_t *)x + at * es, (const uint8_t *)y + at * es, es) != 0)
                            fail("identity segment %lld changed element %lld: %g -> %g", (long long)s, (long long)at, v, r);
                    } else if (act == SMK_ACTIVATION_SIGMOID) {
                        check_sigmoid_value(OP_SIGMOID, k->f64, v, r, at);
                    } else {
                        /* libm's tanh is within a few ulp; saturates to +-1 */
                        long double want = tanhl((long double)v);
                        if (isnan(v)) { if (!isnan(r)) fail("tanh(NaN) at %lld gave %g", (long long)at, r); }
                        else if (!(fabsl((long double)r - want) <= 8 * dtype_eps(k->f64) * fabsl(want) + dtype_tiny(k->f64)))
                            fail("tanh(%.17g) = %.17g, reference %.17Lg", v, r, want);
                    }
                }
            }
        }
    }
    args_free(&a);
}

/* ---- segment softmax ---------------------------------------------------- */

enum { SG_X, SG_OFFSETS, SG_Y };

static smk_status invoke_segment(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    return BY_TYPE(a, smk_segment_softmax, f[SG_X].p, f[SG_OFFSETS].p, f[SG_Y].p, a->e[0], a->e[1], a->e[2], a->i[0]);
}

static void run_segment(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{SG_Y, SG_X}};
    fuzz_args a;
    smk_status st;
    int64_t count, reduced, oc, g, o, i;
    uint8_t how;
    int64_t *off;
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    how = take_u8(b) % 8;
    oc = how < 5 ? 1 + take_u8(b) % 8 : how == 5 ? 0 : how == 6 ? 10 + take_u8(b) % 60 : take_edge(b);
    a.i[0] = oc;
    buf_add(&a, "x", B_DATA, 0, elem_size(k->f64), count);
    buf_add(&a, "offsets", B_INDEX, 0, sizeof(int64_t), predict_count(oc) == SMK_OK ? oc : -1);
    buf_add(&a, "y", B_DATA, 1, elem_size(k->f64), count);
    for (i = 0; i < a.nb; i++) buf_place(b, &a, (int)i, 0);
    fill_data(b, &a, 0, a.nb);
    off = (int64_t *)a.b[SG_OFFSETS].p;
    if (known(&a.b[SG_OFFSETS])) {
        /* a partition of [0, n] (empty groups included), then perhaps one
         * fault: an edge value, off by one, not starting at 0, not ending at n */
        int64_t n = a.e[1] < 0 ? 0 : a.e[1];
        uint32_t seed = take_u8(b);
        uint8_t fault = take_u8(b) % 12;
        off[0] = 0;
        for (g = 1; g < oc; g++) {
            uint8_t c = g < 40 ? take_u8(b) : (uint8_t)mix(seed, g);
            int64_t step = c < 200 ? c % 6 : (n - off[g - 1]) / 2;
            off[g] = off[g - 1] + (step < n - off[g - 1] ? step : n - off[g - 1]);
        }
        off[oc - 1] = a.e[1];
        if (fault == 8) { int64_t v = take_edge(b); off[take_u8(b) % oc] = v; }  /* value first, as clang did */
        else if (fault == 9) { int64_t g1 = take_u8(b) % oc; off[g1] = wrap_add(off[g1], take_u8(b) & 1 ? 1 : -1); }
        else if (fault == 10) off[0] = take_u8(b) & 1 ? 1 : -1;
        else if (fault == 11) off[oc - 1] = wrap_add(off[oc - 1], take_u8(b) & 1 ? 1 : -1);
    }
    buf_alias(b, &a, pairs, 1);

    if (st == SMK_OK) st = predict_count(oc);
    if (st == SMK_OK && (null_bad(&a, SG_OFFSETS) || null_bad(&a, SG_X) || null_bad(&a, SG_Y))) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && (oc == 0 || off[0] != 0 || off[oc - 1] != a.e[1])) st = SMK_ERROR_INDEX_OUT_OF_RANGE;
    for (g = 1; st == SMK_OK && g < oc; g++) if (off[g] < off[g - 1]) st = SMK_ERROR_INDEX_OUT_OF_RANGE;
    if (st == SMK_OK && overlap_partial(&a, SG_Y, SG_X)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_segment, st) == SMK_OK && count > 0) {
        const int64_t *so = (const int64_t *)IN(&a, SG_OFFSETS);
        for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++)
            for (g = 0; g + 1 < oc; g++) {
                softmax_fibre f;
                memset(&f, 0, sizeof f);
                f.x = IN(&a, SG_X); f.y = OUT(&a, SG_Y); f.f64 = k->f64;
                f.xs = f.ys = at3(a.e, o, so[g], i); f.n = so[g + 1] - so[g]; f.stride = a.e[2];
                f.invT = 1; f.o = o; f.i = i;
                check_softmax_fibre(&f);
            }
    }
    args_free(&a);
}

/* ---- hierarchical softmax ----------------------------------------------- */

enum { HS_COARSE, HS_FINE, HS_SIZES, HS_Y };

static smk_status invoke_hierarchical(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    return BY_TYPE(a, smk_hierarchical_softmax, f[HS_COARSE].p, f[HS_FINE].p, f[HS_SIZES].p, f[HS_Y].p,
                   a->e[0], a->e[1], a->e[2], a->flag);
}

/* Reference softmax factor of entry j of a contiguous row of n values:
 * its value and the relative tolerance the kernels' rounding allows.
 * Returns 0 for a normal row, 1 when the row is NaN by the rules (NaN or
 * all -inf), 2 when it holds +inf (unspecified). */
static int ref_softmax_entry(const void *x, int f64, int64_t start, int64_t n, int64_t j, long double *p, long double *rel) {
    long double m = -INFINITY, s = 0;
    int64_t t;
    int pinf = 0;
    for (t = 0; t < n; t++) {
        double v = get(x, f64, start + t);
        if (isnan(v)) return 1;
        if (v == INFINITY) pinf = 1;
        if (v > m) m = v;
    }
    if (m == -INFINITY) return 1;
    if (pinf) return 2;
    for (t = 0; t < n; t++) s += ld_exp(ref_z(get(x, f64, start + t), m, 1, f64));
    {
        long double z = ref_z(get(x, f64, start + j), m, 1, f64);
        *p = ld_exp(z) / s;
        *rel = dtype_eps(f64) * (64 * (1 + fminl(fabsl(z), 800)) + sum_terms(n, f64));
    }
    return 0;
}

static void run_hierarchical(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{HS_Y, HS_FINE}, {HS_Y, HS_COARSE}};
    fuzz_args a;
    smk_status st = SMK_OK, st_coarse, st_fine;
    int64_t cc, fc, r, g, sum = 0, *sizes;
    int all_positive = 1, sum_overflows = 0;
    uint8_t how = take_u8(b) % 8;
    memset(&a, 0, sizeof a);
    a.k = k;
    /* e = (batch, groups, fine_width) */
    a.e[0] = how == 6 ? take_edge(b) : take_u8(b) % 6;
    a.e[1] = how == 7 ? take_edge(b) : take_u8(b) % (how < 4 ? 7 : 40);
    {
        int64_t ce[3] = {a.e[0], a.e[1], 1}, rr;
        st_coarse = predict_extents(ce, &cc, &rr);
        if (st_coarse != SMK_OK) cc = -1;
    }
    buf_add(&a, "coarse", B_DATA, 0, elem_size(k->f64), cc);
    buf_add(&a, "fine", B_DATA, 0, elem_size(k->f64), -1);  /* count known once sizes are */
    buf_add(&a, "sizes", B_INDEX, 0, sizeof(int64_t), predict_count(a.e[1]) == SMK_OK ? a.e[1] : -1);
    buf_place(b, &a, HS_SIZES, 0);
    sizes = (int64_t *)a.b[HS_SIZES].p;
    if (known(&a.b[HS_SIZES])) {
        /* sizes >= 1 mostly; 0, -1, edge values and raw bits sometimes */
        uint32_t seed = take_u8(b);
        for (g = 0; g < a.e[1]; g++) {
            uint8_t c = g < 40 ? take_u8(b) : (uint8_t)(mix(seed, g) % 200);
            sizes[g] = c < 200 ? 1 + c % 6 : c < 212 ? 0 : c < 220 ? -1 : c < 240 ? take_edge(b) : (int64_t)take_u64(b);
            if (sizes[g] < 1) all_positive = 0;
            else if (!sum_overflows && __builtin_add_overflow(sum, sizes[g], &sum)) sum_overflows = 1;
        }
    }
    how = take_u8(b) % 8;
    a.e[2] = how < 6 ? (sum_overflows ? INT64_MAX : sum) : how == 6 ? wrap_add(sum, take_u8(b) & 1 ? 1 : -1) : take_edge(b);
    a.flag = take_enum(b, 2);
    {
        int64_t fe[3] = {a.e[0], a.e[2], 1}, rr;
        st_fine = predict_extents(fe, &fc, &rr);
        if (st_fine != SMK_OK) fc = -1;
    }
    a.b[HS_FINE].count = fc;
    buf_add(&a, "y", B_DATA, 1, elem_size(k->f64), fc);
    buf_place(b, &a, HS_COARSE, 0);
    buf_place(b, &a, HS_FINE, 0);
    buf_place(b, &a, HS_Y, 0);
    fill_data(b, &a, 0, a.nb);
    buf_alias(b, &a, pairs, 2);

    /* sizes first (as int64 values), then both extents, then their sum */
    st = predict_count(a.e[1]);
    if (st == SMK_OK && null_bad(&a, HS_SIZES)) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK) st = st_coarse;
    if (st == SMK_OK) st = st_fine;
    if (st == SMK_OK && all_positive && (sum_overflows || sum != a.e[2])) st = SMK_ERROR_SHAPE_MISMATCH;
    if (st == SMK_OK && a.flag != 0 && a.flag != 1) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && (null_bad(&a, HS_COARSE) || null_bad(&a, HS_FINE) || null_bad(&a, HS_Y))) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && !all_positive) {
        int64_t t = 0;
        for (g = 0; st == SMK_OK && g < a.e[1]; g++) {
            if (sizes[g] < 1) st = SMK_ERROR_INVALID_ARGUMENT;
            else if (__builtin_add_overflow(t, sizes[g], &t)) st = SMK_ERROR_SIZE_OVERFLOW;
        }
    }
    if (st == SMK_OK && (overlap_partial(&a, HS_Y, HS_FINE) || overlap_any(&a, HS_Y, HS_COARSE))) st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_hierarchical, st) == SMK_OK && fc > 0) {
        const void *coarse = IN(&a, HS_COARSE), *fine = IN(&a, HS_FINE), *y = OUT(&a, HS_Y);
        const int64_t *sz = (const int64_t *)IN(&a, HS_SIZES);
        int64_t G = a.e[1], F = a.e[2];
        for (r = 0; r < a.e[0]; r++) {
            int64_t start = 0, j;
            int skipped = 0;
            long double rowsum = 0;
            for (g = 0; g < G; start += sz[g], g++) {
                if (a.flag) {  /* conditional: each group is a softmax of its own */
                    softmax_fibre f;
                    memset(&f, 0, sizeof f);
                    f.x = fine; f.y = y; f.f64 = k->f64; f.xs = f.ys = r * F + start; f.n = sz[g];
                    f.stride = 1; f.invT = 1; f.o = r; f.i = g;
                    check_softmax_fibre(&f);
                    continue;
                }
                for (j = 0; j < sz[g]; j++) {
                    /* joint: P(g) * P(j | g), each factor within its
                     * softmax tolerance, plus the rounding of the product */
                    long double pc = 0, rc = 0, pf = 0, rf = 0;
                    int kc = ref_softmax_entry(coarse, k->f64, r * G, G, g, &pc, &rc);
                    int kf = ref_softmax_entry(fine, k->f64, r * F + start, sz[g], j, &pf, &rf);
                    double v = get(y, k->f64, r * F + start + j);
                    fibre_x = fine; fibre_f64 = k->f64; fibre_start = r * F + start; fibre_n = sz[g]; fibre_stride = 1;
                    if (kc == 1 || kf == 1) {
                        if (!isnan(v)) fail("joint[%lld, %lld] = %g with a NaN or all -inf factor, want NaN",
                                            (long long)r, (long long)(start + j), v);
                        skipped = 1;
                    } else if (kc == 2 || kf == 2) {
                        skipped = 1;
                    } else {
                        long double want = pc * pf;
                        long double tol = want * (rc + rf + 4 * dtype_eps(k->f64)) + dtype_tiny(k->f64);
                        if (!(fabsl((long double)v - want) <= tol))
                            fail("joint[%lld, %lld] = %.17g, reference %.17Lg", (long long)r, (long long)(start + j), v, want);
                        rowsum += v;
                    }
                }
            }
            fibre_x = NULL;
            if (!a.flag && !skipped && G > 0 &&
                !(fabsl(rowsum - 1) <= (k->f64 ? 1e-12L : 1e-5L) * (1 + F / 64)))
                fail("joint row %lld sums to %.17Lg", (long long)r, rowsum);
        }
    }
    args_free(&a);
}

/* ---- ensemble mean ------------------------------------------------------ */

enum { EN_LIST, EN_Y, EN_M0 };  /* members are buffers EN_M0, EN_M0 + 1, ... */

static smk_status invoke_ensemble(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    return BY_TYPE(a, smk_ensemble_mean, f[EN_LIST].p, f[EN_Y].p, a->i[0], a->e[0], a->e[1], a->e[2],
                   (smk_ensemble_mode)a->flag);
}

static void run_ensemble(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{EN_Y, EN_M0}, {EN_Y, EN_M0}, {EN_Y, EN_M0 + 1}, {EN_Y, EN_M0 + 2}};
    fuzz_args a;
    smk_status st;
    int64_t count, reduced, M, m, nm, j;
    size_t es = elem_size(k->f64);
    uint8_t how, probs;
    const void **list;
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    how = take_u8(b) % 8;
    M = how < 5 ? 1 + take_u8(b) % 4 : how == 5 ? 0 : how == 6 ? MAX_MEMBERS : take_edge(b);
    a.i[0] = M;
    a.flag = take_enum(b, 3);
    nm = M < 0 ? 0 : M > MAX_MEMBERS ? 0 : M;
    buf_add(&a, "members", B_PTRS, 0, sizeof(void *), predict_count(M) == SMK_OK ? (M > MAX_MEMBERS ? INT64_MAX / 8 : M) : -1);
    buf_add(&a, "y", B_DATA, 1, es, count);
    for (m = 0; m < nm; m++) buf_add(&a, "member", B_DATA, 0, es, count);
    if (a.b[EN_LIST].count > MAX_MEMBERS) a.b[EN_LIST].count = MAX_ELEMENTS + 1;  /* never allocated: NULL */
    for (m = 0; m < a.nb; m++) buf_place(b, &a, (int)m, 0);
    fill_data(b, &a, 0, a.nb);
    probs = take_u8(b) & 1;
    for (m = 0; probs && m < nm; m++) to_probabilities(&a, (int)(EN_M0 + m));
    buf_alias(b, &a, pairs, nm == 0 ? 0 : nm < 3 ? 1 + (int)nm : 4);
    /* the list, written after aliasing moved the members; now and then one
     * member twice (the harness then watches the unlisted one as untouched) */
    list = (const void **)a.b[EN_LIST].p;
    if (known(&a.b[EN_LIST]))
        for (m = 0; m < nm; m++) {
            /* a member left out of the list must not be one y overlaps:
             * its bytes would be no input of the call */
            int twice = m > 0 && take_u8(b) < 24 && !overlap_any(&a, EN_Y, (int)(EN_M0 + m));
            list[m] = twice ? list[m - 1] : a.b[EN_M0 + m].p;
        }

    if (st == SMK_OK && (a.flag < 0 || a.flag > 2)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK) st = predict_count(M);
    if (st == SMK_OK && null_bad(&a, EN_LIST)) st = SMK_ERROR_NULL_POINTER;
    for (m = 0; st == SMK_OK && m < nm; m++) if (list[m] == NULL && count > 0) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && null_bad(&a, EN_Y)) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && M == 0) st = SMK_ERROR_INVALID_ARGUMENT;
    for (m = 0; st == SMK_OK && m < nm; m++)
        if (m == 0 ? partial_overlap(list[0], count, a.b[EN_Y].p, count, es)
                   : overlap_any_raw(list[m], count, a.b[EN_Y].p, count, es))
            st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_ensemble, st) == SMK_OK && count > 0) {
        /* the members as the call saw them (list entries name buffers) */
        const void *mem[MAX_MEMBERS];
        const void **saved = (const void **)IN(&a, EN_LIST);
        void *s = malloc((size_t)count * es);
        int64_t o, i;
        if (!s) abort();
        for (m = 0; m < nm; m++) {
            int q;
            mem[m] = NULL;
            for (q = EN_M0; q < a.nb; q++) if (saved[m] == a.b[q].p) { mem[m] = a.b[q].before; break; }
            if (!mem[m] && saved[m] == a.b[EN_Y].p) mem[m] = a.b[EN_Y].before;
            if (!mem[m]) fail("cannot find member %lld", (long long)m);
        }
        /* The library sums in member order in the dtype (for the geometric
         * mean: sums the dtype's libm log), exactly as here; arithmetic is
         * then that sum times 1/M in the dtype (bit for bit), the other
         * modes a softmax of it at temperature M, checked as softmax. */
        for (j = 0; j < count; j++) {
            if (k->f64) {
                double acc = 0;
                for (m = 0; m < nm; m++) {
                    double v = ((const double *)mem[m])[j];
                    if (a.flag == SMK_ENSEMBLE_GEOMETRIC) v = log(v);
                    acc = m == 0 ? v : acc + v;
                }
                ((double *)s)[j] = acc;
            } else {
                float acc = 0;
                for (m = 0; m < nm; m++) {
                    float v = ((const float *)mem[m])[j];
                    if (a.flag == SMK_ENSEMBLE_GEOMETRIC) v = logf(v);
                    acc = m == 0 ? v : acc + v;
                }
                ((float *)s)[j] = acc;
            }
        }
        if (a.flag == SMK_ENSEMBLE_ARITHMETIC) {
            for (j = 0; j < count; j++) {
                double want = k->f64 ? ((const double *)s)[j] * (1.0 / (double)nm)
                                     : (double)(((const float *)s)[j] * (1.0f / (float)nm));
                double r = get(OUT(&a, EN_Y), k->f64, j);
                if (!(r == want || (isnan(r) && isnan(want))))
                    fail("arithmetic mean[%lld] = %.17g, want %.17g", (long long)j, r, want);
            }
        } else {
            long double invT = k->f64 ? (long double)(1.0 / (double)nm) : (long double)(1.0f / (float)nm);
            for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
                softmax_fibre f;
                memset(&f, 0, sizeof f);
                f.x = s; f.y = OUT(&a, EN_Y); f.f64 = k->f64; f.xs = f.ys = at3(a.e, o, 0, i);
                f.n = a.e[1]; f.stride = a.e[2]; f.invT = invT; f.o = o; f.i = i;
                check_softmax_fibre(&f);
            }
        }
        free(s);
    }
    args_free(&a);
}

/* ---- selection: hardmax, argmax, top-k, fused softmax + top-k ---------- */

enum { SL_X, SL_OUT, SL_INDICES };

static smk_status invoke_select(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    switch (a->k->op) {
    case OP_HARDMAX: return BY_TYPE(a, smk_hardmax, f[SL_X].p, f[SL_OUT].p, a->e[0], a->e[1], a->e[2]);
    case OP_ARGMAX: return BY_TYPE(a, smk_argmax, f[SL_X].p, f[SL_OUT].p, a->e[0], a->e[1], a->e[2]);
    case OP_TOPK: return BY_TYPE(a, smk_topk, f[SL_X].p, f[SL_OUT].p, f[SL_INDICES].p, a->e[0], a->e[1], a->e[2], a->i[0]);
    default: return BY_TYPE(a, smk_softmax_topk, f[SL_X].p, f[SL_OUT].p, f[SL_INDICES].p, a->e[0], a->e[1], a->e[2],
                            a->i[0], a->t);
    }
}

/* The selection order: larger first, NaN above everything, ties to the
 * lower index. */
static const void *rank_x;
static int rank_f64;
static int rank_cmp(const void *pa, const void *pb) {
    int64_t ia = *(const int64_t *)pa, ib = *(const int64_t *)pb;
    double a = get(rank_x, rank_f64, ia), b = get(rank_x, rank_f64, ib);
    if (isnan(a) != isnan(b)) return isnan(a) ? -1 : 1;
    if (!isnan(a) && a != b) return a > b ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

static void run_select(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{SL_OUT, SL_X}};
    fuzz_args a;
    smk_status st;
    int64_t count, reduced, kk = 0, vc = -1, o, i, j;
    int topk = k->op == OP_TOPK || k->op == OP_SOFTMAX_TOPK;
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    if (topk) {
        uint8_t how = take_u8(b) % 8;
        int64_t n = a.e[1];
        kk = how < 4 ? (n > 0 && n < 256 ? take_u8(b) % (n + 1) : take_u8(b) % 4) : how == 4 ? n : how == 5 ? 0
           : how == 6 ? (take_u8(b) & 1 ? wrap_add(n, 1) : -1) : take_edge(b);
        a.i[0] = kk;
        if (k->op == OP_SOFTMAX_TOPK) a.t = take_temperature(b, k->f64);
        if (st == SMK_OK && kk >= 0 && kk <= n) vc = a.e[0] * kk * a.e[2];  /* <= count */
    }
    a.t = k->f64 || !topk ? a.t : (double)(float)a.t;
    buf_add(&a, "x", B_DATA, 0, elem_size(k->f64), count);
    if (k->op == OP_ARGMAX) buf_add(&a, "index", B_INDEX, 1, sizeof(int64_t), reduced);
    else if (k->op == OP_HARDMAX) buf_add(&a, "y", B_DATA, 1, elem_size(k->f64), count);
    else {
        buf_add(&a, k->op == OP_TOPK ? "values" : "probs", B_DATA, 1, elem_size(k->f64), vc);
        buf_add(&a, "indices", B_INDEX, 1, sizeof(int64_t), vc);
    }
    for (i = 0; i < a.nb; i++) buf_place(b, &a, (int)i, 0);
    fill_data(b, &a, 0, a.nb);
    if (k->op != OP_ARGMAX) buf_alias(b, &a, pairs, 1);

    if (st == SMK_OK && topk && (kk < 0 || kk > a.e[1])) st = SMK_ERROR_INVALID_ARGUMENT;
    for (i = 0; st == SMK_OK && i < a.nb; i++) if (null_bad(&a, (int)i)) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && k->op == OP_ARGMAX && reduced > 0 && a.e[1] == 0) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && k->op == OP_SOFTMAX_TOPK && !temperature_ok(a.t, k->f64)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && k->op == OP_HARDMAX && overlap_partial(&a, SL_OUT, SL_X)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && topk && overlap_any(&a, SL_OUT, SL_X)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_select, st) == SMK_OK && count > 0) {
        const void *x = IN(&a, SL_X);
        size_t es = elem_size(k->f64);
        int64_t n = a.e[1], *order = (int64_t *)malloc((size_t)n * sizeof(int64_t));
        long double invT = k->f64 ? 1.0L / (long double)a.t : 1.0L / (long double)(float)a.t;
        if (!order) abort();
        for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
            int nan = 0, pinf = 0;
            long double m = -INFINITY, s = 0;
            fibre_x = x; fibre_f64 = k->f64; fibre_start = at3(a.e, o, 0, i); fibre_n = n; fibre_stride = a.e[2];
            for (j = 0; j < n; j++) order[j] = at3(a.e, o, j, i);
            rank_x = x; rank_f64 = k->f64;
            qsort(order, (size_t)n, sizeof *order, rank_cmp);
            for (j = 0; j < n; j++) order[j] = (order[j] - at3(a.e, o, 0, i)) / a.e[2];  /* position along n */
            if (k->op == OP_ARGMAX) {
                int64_t got = ((const int64_t *)OUT(&a, SL_OUT))[o * a.e[2] + i];
                if (got != order[0]) fail("argmax(%lld, %lld) = %lld, want %lld", (long long)o, (long long)i, (long long)got, (long long)order[0]);
                continue;
            }
            if (k->op == OP_HARDMAX) {
                for (j = 0; j < n; j++) {
                    double r = get(OUT(&a, SL_OUT), k->f64, at3(a.e, o, j, i));
                    if (r != (j == order[0] ? 1.0 : 0.0))
                        fail("hardmax(%lld, %lld)[%lld] = %g, first maximum at %lld", (long long)o, (long long)i,
                             (long long)j, r, (long long)order[0]);
                }
                continue;
            }
            for (j = 0; j < n; j++) {
                double v = get(x, k->f64, at3(a.e, o, j, i));
                if (isnan(v)) nan = 1; else if (v == INFINITY) pinf = 1;
                if (v > m) m = v;
            }
            if (k->op == OP_SOFTMAX_TOPK && !nan && m > -INFINITY && !pinf)
                for (j = 0; j < n; j++) s += ld_exp(ref_z(get(x, k->f64, at3(a.e, o, j, i)), m, invT, k->f64));
            for (j = 0; j < kk; j++) {
                int64_t got = ((const int64_t *)OUT(&a, SL_INDICES))[(o * kk + j) * a.e[2] + i];
                int64_t src = at3(a.e, o, order[j], i), dst = (o * kk + j) * a.e[2] + i;
                double r = get(OUT(&a, SL_OUT), k->f64, dst);
                if (got != order[j])
                    fail("top-k (%lld, %lld) rank %lld: index %lld, want %lld", (long long)o, (long long)i,
                         (long long)j, (long long)got, (long long)order[j]);
                if (k->op == OP_TOPK) {
                    if (memcmp((const uint8_t *)x + src * es, (const uint8_t *)OUT(&a, SL_OUT) + dst * es, es) != 0)
                        fail("top-k value at rank %lld is %g, x holds %g", (long long)j, r, get(x, k->f64, src));
                } else if (nan || m == -INFINITY) {
                    if (!isnan(r)) fail("softmax top-k of a NaN or all -inf fibre gave %g, want NaN", r);
                } else if (!pinf) {  /* +inf: not specified (docs/DESIGN.md "Numerics") */
                    long double z = ref_z(get(x, k->f64, src), m, invT, k->f64), want = ld_exp(z) / s;
                    /* as softmax, plus the rescaling between blocks */
                    long double tol = dtype_eps(k->f64) * want * (64 * (1 + fminl(fabsl(z), 800)) + sum_terms(n, k->f64) + 16)
                                    + dtype_tiny(k->f64);
                    if (!(fabsl((long double)r - want) <= tol))
                        fail("softmax top-k (%lld, %lld) rank %lld = %.17g, softmax %.17Lg", (long long)o, (long long)i,
                             (long long)j, r, want);
                }
            }
        }
        fibre_x = NULL;
        free(order);
    }
    args_free(&a);
}

/* ---- class losses: cross-entropy (index and probability targets), NLL --- */

enum { LS_LOGITS, LS_TARGET, LS_WEIGHT, LS_LOSS, LS_OPTIONS, LS_DLOGITS };

static smk_status invoke_class_loss(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    switch (a->k->op) {
    case OP_CROSS_ENTROPY:
        return BY_TYPE(a, smk_cross_entropy, f[LS_LOGITS].p, f[LS_TARGET].p, f[LS_WEIGHT].p, f[LS_LOSS].p,
                       f[LS_DLOGITS].p, a->e[0], a->e[1], a->e[2], f[LS_OPTIONS].p);
    case OP_CROSS_ENTROPY_PROBS:
        return BY_TYPE(a, smk_cross_entropy_probs, f[LS_LOGITS].p, f[LS_TARGET].p, f[LS_WEIGHT].p, f[LS_LOSS].p,
                       f[LS_DLOGITS].p, a->e[0], a->e[1], a->e[2], f[LS_OPTIONS].p);
    default:
        return BY_TYPE(a, smk_nll_loss, f[LS_LOGITS].p, f[LS_TARGET].p, f[LS_WEIGHT].p, f[LS_LOSS].p,
                       a->e[0], a->e[1], a->e[2], f[LS_OPTIONS].p);
    }
}

static const double SMOOTHINGS[] = {0.1, 1.0, 0.5, 1e-300, -0.0, -0.1, 1.0000001, NAN, INFINITY, -INFINITY};
#define N_SMOOTHINGS (sizeof SMOOTHINGS / sizeof SMOOTHINGS[0])

/* Options: NULL (PyTorch's defaults) or a struct with ignore_index -100,
 * -1, 0, C - 1, C, an edge value or raw bits; label smoothing 0, inside
 * [0, 1], outside it, NaN or inf; any reduction; and a size field that is
 * sometimes too small. */
static int take_options(fuzz_bytes *b, fuzz_args *a, smk_loss_options *opt) {
    uint8_t c = take_u8(b);
    smk_loss_options_init(opt);
    if (c < 40) return 0;
    c = take_u8(b) % 16;
    opt->size = c == 0 ? 0 : c == 1 ? 16 : c == 2 ? 31 : c == 3 ? 40 : sizeof *opt;
    c = take_u8(b) % 10;
    opt->ignore_index = c < 4 ? -100 : c == 4 ? -1 : c == 5 ? 0 : c == 6 ? wrap_sub(a->e[1], 1) : c == 7 ? a->e[1]
                      : c == 8 ? take_edge(b) : (int64_t)take_u64(b);
    c = take_u8(b) % 12;
    opt->label_smoothing = c < 6 ? 0.0 : c < 11 ? SMOOTHINGS[take_u8(b) % N_SMOOTHINGS] : take_value(b, 1);
    if (a->k->op == OP_NLL_LOSS && c < 9) opt->label_smoothing = 0.0;
    opt->reduction = take_enum(b, 3);
    return 1;
}

/* Class-index targets: in [0, C) mostly, ignore_index, or out of range. */
static void fill_targets(fuzz_bytes *b, int64_t *t, int64_t count, int64_t C, int64_t ignore) {
    static const int64_t BAD[] = {-1, 0, INT64_MIN, INT64_MAX, -100};
    int64_t from_bytes = take_u8(b) % 64, r;
    uint32_t seed = take_u8(b);
    for (r = 0; r < count; r++) {
        uint8_t c = r < from_bytes ? take_u8(b) % 8 : (uint8_t)(mix(seed, r) % 23 == 0 ? 6 : 0);
        uint64_t v = r < from_bytes ? take_u8(b) : mix(seed + 1, r);
        if (c == 7) t[r] = BAD[v % 5] == 0 ? C : BAD[v % 5];
        else if (c == 6 || C <= 0) t[r] = ignore;
        else t[r] = (int64_t)(v % (uint64_t)C);
    }
}

/* Per-sample references of the class losses over one fibre of C logits
 * (long double, PyTorch semantics): the loss, the magnitude of its terms,
 * the tolerance, and for the gradient Q, q_c and softmax p_c. Returns 0
 * when every input of the sample is finite, 1 when one is NaN (the loss
 * is then NaN), 2 otherwise (infinities: only the status is checked). */
/* mag: the terms' magnitudes (tolerances scale with it); inter: the
 * magnitudes of the library's intermediate double sums (the smoothing sum
 * sum_c w_c (-lsm_c) comes before its factor e / C), for the range check. */
typedef struct { long double loss, mag, inter, tol, Q, qabs, m, s; int counted; } sample_ref;

static int sample_reference(const fuzz_args *a, int64_t o, int64_t i, const smk_loss_options *opt, sample_ref *sr) {
    int f64 = a->k->f64, op = a->k->op, any_nan = 0, any_inf = 0;
    int64_t C = a->e[1], c, r = o * a->e[2] + i;
    const void *x = IN(a, LS_LOGITS), *w = a->b[LS_WEIGHT].p ? IN(a, LS_WEIGHT) : NULL;
    long double e = opt->label_smoothing, m = -INFINITY, s = 0, range = 0, wsum = 0;
    int64_t t = op == OP_CROSS_ENTROPY_PROBS ? 0 : ((const int64_t *)IN(a, LS_TARGET))[r];
    memset(sr, 0, sizeof *sr);
    sr->counted = op == OP_CROSS_ENTROPY_PROBS || t != opt->ignore_index;
    if (!sr->counted) return 0;
    /* the inputs this sample reads */
    for (c = 0; c < C; c++) {
        double v = get(x, f64, at3(a->e, o, c, i));
        int used = op != OP_NLL_LOSS || c == t;
        double wc = w ? get(w, f64, c) : 1.0;
        int wused = c == t || (op != OP_NLL_LOSS && e > 0) || op == OP_CROSS_ENTROPY_PROBS;
        if (used) { if (isnan(v)) any_nan = 1; else if (isinf(v)) any_inf = 1; }
        if (wused) { if (isnan(wc)) any_nan = 1; else if (isinf(wc)) any_inf = 1; }
        if (op == OP_CROSS_ENTROPY_PROBS) {
            double p = get(IN(a, LS_TARGET), f64, at3(a->e, o, c, i));
            if (isnan(p)) any_nan = 1; else if (isinf(p)) any_inf = 1;
        }
        if (v > m) m = v;
    }
    if (any_nan) return 1;
    if (any_inf) return 2;
    if (op == OP_NLL_LOSS) {
        long double wt = w ? get(w, f64, t) : 1.0L;
        sr->loss = -wt * (long double)get(x, f64, at3(a->e, o, t, i));
        sr->mag = sr->inter = fabsl(sr->loss);
        sr->tol = 4 * (long double)DBL_EPSILON * sr->mag + 2 * (long double)4.9406564584124654e-324;
        return 0;
    }
    for (c = 0; c < C; c++) {
        long double v = get(x, f64, at3(a->e, o, c, i));
        s += ld_exp(ref_z((double)v, m, 1, f64));
        if (m - v > range) range = m - v;
        wsum += w ? get(w, f64, c) : 1.0L;
    }
    sr->m = m; sr->s = s;
    /* x - max overflows the dtype (logits near +-max): the kernel's -log p
     * of that class is inf, as in PyTorch, and a zero weight or smoothing
     * term times it is NaN where long double stays finite; such samples
     * follow the inf rules (kind 2), unchecked */
    if (!(range <= (f64 ? (long double)DBL_MAX : (long double)FLT_MAX))) return 2;
    for (c = 0; c < C; c++) {
        long double v = get(x, f64, at3(a->e, o, c, i)), nlsm = m + logl(s) - v;
        long double wc = w ? get(w, f64, c) : 1.0L, q;
        if (op == OP_CROSS_ENTROPY_PROBS) {
            q = wc * ((1 - e) * (long double)get(IN(a, LS_TARGET), f64, at3(a->e, o, c, i)) + e / C);
        } else {
            q = (c == t ? (1 - e) * wc : 0) + (e > 0 ? e / C * wc : 0);
        }
        sr->loss += q * nlsm;
        sr->mag += fabsl(q) * (fabsl(nlsm) + fabsl(m) + 1);
        sr->Q += q;
        sr->qabs += fabsl(q) + fabsl(wc);
        sr->inter += (e > 0 ? fabsl(wc) : 0) * (fabsl(nlsm) + fabsl(m) + 1);
    }
    sr->inter += sr->mag;
    (void)wsum;
    /* -log_softmax carries the error of exp's argument (up to 800 where a
     * term still counts) and of the sum, in the dtype */
    sr->tol = dtype_eps(f64) * (64 * (1 + fminl(range, 800)) + sum_terms(C, f64) + 8) * sr->mag
            /* each double product may be subnormal (weights near 1e-320):
             * absolute error up to the smallest subnormal */
            + (C + 2) * (long double)4.9406564584124654e-324;
    return 0;
}

static void run_class_loss(const fuzz_kernel *k, fuzz_bytes *b) {
    /* loss and dlogits must not overlap any input (nor each other); nll_loss
     * has no dlogits, so it draws from the first two pairs only */
    static const int pairs[][2] = {{LS_LOSS, LS_LOGITS}, {LS_LOSS, LS_WEIGHT}, {LS_DLOGITS, LS_LOGITS}};
    fuzz_args a;
    smk_status st;
    smk_loss_options opt;
    int64_t count, reduced, o, i, r, c;
    int given, op = k->op, probs = k->op == OP_CROSS_ENTROPY_PROBS;
    size_t es = elem_size(k->f64);
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    given = take_options(b, &a, &opt);
    a.flag = opt.reduction; a.t = opt.label_smoothing; a.i[0] = opt.ignore_index;
    buf_add(&a, "logits", B_DATA, 0, es, count);
    if (probs) buf_add(&a, "target", B_DATA, 0, es, count);
    else buf_add(&a, "target", B_INDEX, 0, sizeof(int64_t), reduced);
    buf_add(&a, "weight", B_DATA, 0, es, st == SMK_OK ? a.e[1] : -1);
    buf_add(&a, "loss", B_DATA, 1, es, st != SMK_OK ? -1 : opt.reduction == SMK_REDUCTION_NONE ? reduced : 1);
    buf_add(&a, "options", B_BYTES, 0, 1, given ? (int64_t)sizeof opt : 0);
    if (op != OP_NLL_LOSS) buf_add(&a, "dlogits", B_DATA, 1, es, count);
    for (i = 0; i < a.nb; i++)
        if (i != LS_OPTIONS) buf_place(b, &a, (int)i, i == LS_WEIGHT || i == LS_DLOGITS);
    if (given) {
        a.b[LS_OPTIONS].block = malloc(sizeof opt);
        if (!a.b[LS_OPTIONS].block) abort();
        memcpy(a.b[LS_OPTIONS].block, &opt, sizeof opt);
        a.b[LS_OPTIONS].p = a.b[LS_OPTIONS].block;
        a.b[LS_OPTIONS].watch = sizeof opt;
    }
    fill_data(b, &a, 0, a.nb);
    if (probs && (take_u8(b) & 1)) to_probabilities(&a, LS_TARGET);
    if (!probs && known(&a.b[LS_TARGET])) fill_targets(b, (int64_t *)a.b[LS_TARGET].p, reduced, a.e[1], opt.ignore_index);
    buf_alias(b, &a, pairs, op != OP_NLL_LOSS ? 3 : 2);

    if (st == SMK_OK && given && (opt.size < sizeof opt || opt.reduction < 0 || opt.reduction > 2))
        st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && (null_bad(&a, LS_TARGET) || null_bad(&a, LS_LOGITS) || null_bad(&a, LS_LOSS)))
        st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && op == OP_NLL_LOSS && !(opt.label_smoothing == 0)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && op != OP_NLL_LOSS && !(opt.label_smoothing >= 0 && opt.label_smoothing <= 1))
        st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && op != OP_NLL_LOSS && a.b[LS_DLOGITS].p
        && (overlap_any(&a, LS_DLOGITS, LS_LOGITS) || overlap_any(&a, LS_DLOGITS, LS_WEIGHT)
            || overlap_any(&a, LS_DLOGITS, LS_LOSS) || overlap_any(&a, LS_DLOGITS, LS_TARGET)))
        st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && (overlap_any(&a, LS_LOSS, LS_LOGITS) || overlap_any(&a, LS_LOSS, LS_WEIGHT)
                         || overlap_any(&a, LS_LOSS, LS_TARGET)))
        st = SMK_ERROR_INVALID_ARGUMENT;
    for (r = 0; st == SMK_OK && !probs && r < reduced; r++) {
        int64_t t = ((const int64_t *)a.b[LS_TARGET].p)[r];
        if (t != opt.ignore_index && (t < 0 || t >= a.e[1])) st = SMK_ERROR_INDEX_OUT_OF_RANGE;
    }
    if (args_call(&a, invoke_class_loss, st) == SMK_OK && reduced > 0 && reduced <= MAX_ELEMENTS) {
        const smk_loss_options *eo = &opt;
        smk_loss_options defaults;
        long double total = 0, mag = 0, inter = 0, tol = 0, den = 0, scale;
        double den_d = 0;  /* the library's running double sum of the weights */
        long double den_abs = 0;  /* and the sum of their magnitudes (its rounding) */
        int kind = 0;
        const void *loss = OUT(&a, LS_LOSS);
        const void *w = a.b[LS_WEIGHT].p ? IN(&a, LS_WEIGHT) : NULL;
        if (!given) { smk_loss_options_init(&defaults); eo = &defaults; }
        for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
            sample_ref sr;
            int sk = sample_reference(&a, o, i, eo, &sr);
            r = o * a.e[2] + i;
            if (sk > kind) kind = sk;
            if (sr.counted) {
                if (probs) den += 1;
                else den += w ? (long double)get(w, k->f64, ((const int64_t *)IN(&a, LS_TARGET))[r]) : 1.0L;
                if (!probs) den_d += w ? get(w, k->f64, ((const int64_t *)IN(&a, LS_TARGET))[r]) : 1.0;
                if (!probs) den_abs += w ? fabsl((long double)get(w, k->f64, ((const int64_t *)IN(&a, LS_TARGET))[r])) : 1.0L;
            }
            total += sr.loss; mag += sr.mag; inter += sr.inter; tol += sr.tol;
            if (eo->reduction != SMK_REDUCTION_NONE) continue;
            if (!sr.counted) {
                if (get(loss, k->f64, r) != 0) fail("ignored sample %lld has loss %g", (long long)r, get(loss, k->f64, r));
            } else if (sk == 1) {
                if (!isnan(get(loss, k->f64, r))) fail("sample %lld with a NaN input has loss %g", (long long)r, get(loss, k->f64, r));
            } else if (sk == 0) {
                check_close(get(loss, k->f64, r), sr.loss, sr.tol + dtype_eps(k->f64) * fabsl(sr.loss) + dtype_tiny(k->f64),
                            sr.inter, k->f64, "loss", r);
            }
        }
        if (probs) den = (long double)reduced;
        scale = eo->reduction == SMK_REDUCTION_MEAN ? 1 / den : 1;
        /* a mean whose weight sum overflows double in the library (weights
         * near -+1.8e308) divides by inf there: unchecked, like an inf input */
        if (eo->reduction == SMK_REDUCTION_MEAN && !probs && !isfinite(den_d) && kind == 0) kind = 2;
        if (eo->reduction != SMK_REDUCTION_NONE) {
            double got = get(loss, k->f64, 0);
            if (kind == 1) { if (!isnan(got)) fail("a NaN input gave the reduced loss %g", got); }
            else if (kind == 0 && eo->reduction == SMK_REDUCTION_MEAN && den == 0) {
                /* 0 / 0 (every target ignored, or weights summing to 0) */
                if (total == 0 && mag == 0 && !isnan(got)) fail("mean over no weight gave %g, want NaN", got);
            } else if (kind == 0) {
                long double want = total * scale;
                /* the denominator's own rounding (a double sum of weights),
                 * and the running double sum over the samples (as BCE's) */
                long double t2 = (tol + (8 + (long double)reduced) * DBL_EPSILON * mag) * fabsl(scale)
                               + dtype_eps(k->f64) * 2 * fabsl(want) + dtype_tiny(k->f64);
                check_close(got, want, t2, inter, k->f64, "reduced loss", 0);
            }
        }
        /* the gradient of sum or mean: (Q softmax - q) * scale, 0 for
         * ignored samples; checked where every input is finite and the
         * scale is */
        if (op != OP_NLL_LOSS && a.b[LS_DLOGITS].p && kind == 0 && isfinite(scale) &&
            fabsl(scale) < (k->f64 ? 1e300L : 1e30L)) {
            const void *g = OUT(&a, LS_DLOGITS), *x = IN(&a, LS_LOGITS);
            /* a mean's scale carries the double weight sum's rounding, which
             * mixed-sign weights amplify (fuzz: 12 ulp over 189 samples) */
            long double scale_rel = eo->reduction == SMK_REDUCTION_MEAN && !probs && den != 0
                                  ? (8 + (long double)reduced) * DBL_EPSILON * den_abs / fabsl(den) : 0;
            for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
                sample_ref sr;
                long double e = eo->label_smoothing;
                int64_t t = probs ? 0 : ((const int64_t *)IN(&a, LS_TARGET))[o * a.e[2] + i];
                sample_reference(&a, o, i, eo, &sr);
                /* the library sums weights and q in double: where those
                 * sums leave its range, nothing is checked */
                if (!(sr.qabs <= (long double)DBL_MAX / 4)) continue;
                for (c = 0; c < a.e[1]; c++) {
                    int64_t at = at3(a.e, o, c, i);
                    double got = get(g, k->f64, at);
                    long double wc = w ? get(w, k->f64, c) : 1.0L, q, p, z, want, tl;
                    if (!sr.counted) {
                        if (got != 0) fail("gradient of ignored sample at %lld is %g", (long long)at, got);
                        continue;
                    }
                    q = probs ? wc * ((1 - e) * (long double)get(IN(&a, LS_TARGET), k->f64, at) + e / a.e[1])
                              : (c == t ? (1 - e) * wc : 0) + (e > 0 ? e / a.e[1] * wc : 0);
                    z = ref_z(get(x, k->f64, at), sr.m, 1, k->f64);
                    p = ld_exp(z) / sr.s;
                    want = (sr.Q * p - q) * scale;
                    /* Q = sum_c q_c may cancel: its rounding goes with sum |q_c| */
                    tl = dtype_eps(k->f64) * fabsl(scale) * ((64 * (1 + fminl(fabsl(z), 800)) + sum_terms(a.e[1], k->f64) + 8) * fabsl(sr.Q) * p
                                                            + sum_terms(a.e[1], k->f64) * sr.qabs * p
                                                            + 8 * fabsl(q)) + dtype_tiny(k->f64) * (1 + fabsl(scale * sr.Q))
                       /* the library rounds e / C * scale to the dtype before
                        * it multiplies w_c: subnormal for huge weights */
                       + fabsl(wc) * (k->f64 ? (long double)4.9406564584124654e-324 : (long double)1.401298464324817e-45)
                       + fabsl(want) * scale_rel;
                    check_close(got, want, tl, fabsl(sr.Q * scale) + fabsl(q * scale), k->f64, "dlogits", at);
                }
            }
        }
    }
    args_free(&a);
}

/* ---- binary cross-entropy with logits ----------------------------------- */

enum { BC_LOGITS, BC_TARGET, BC_WEIGHT, BC_POS, BC_LOSS };

static smk_status invoke_bce(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    return BY_TYPE(a, smk_binary_cross_entropy_with_logits, f[BC_LOGITS].p, f[BC_TARGET].p, f[BC_WEIGHT].p, f[BC_POS].p,
                   f[BC_LOSS].p, a->e[0], a->e[1], (smk_reduction)a->flag);
}

static void run_bce(const fuzz_kernel *k, fuzz_bytes *b) {
    /* loss is a separate buffer: any overlap with an input is refused */
    static const int pairs[][2] = {{BC_LOSS, BC_LOGITS}, {BC_LOSS, BC_TARGET}, {BC_LOSS, BC_WEIGHT}, {BC_LOSS, BC_POS}};
    fuzz_args a;
    smk_status st;
    int64_t c, cls, j;
    uint8_t how;
    size_t es = elem_size(k->f64);
    memset(&a, 0, sizeof a);
    a.k = k;
    c = take_count(b);
    how = take_u8(b) % 8;
    /* classes: dividing count (most often), anything small, 0, an edge value, raw bits */
    cls = how < 5 ? 1 + take_u8(b) % 8 : how == 5 ? 0 : how == 6 ? take_edge(b) : (int64_t)take_u64(b);
    if (how < 3 && c > 0) c -= c % cls;
    a.e[0] = c; a.e[1] = cls;
    a.flag = take_enum(b, 3);
    st = predict_count(c);
    buf_add(&a, "logits", B_DATA, 0, es, st == SMK_OK ? c : -1);
    buf_add(&a, "target", B_DATA, 0, es, st == SMK_OK ? c : -1);
    buf_add(&a, "weight", B_DATA, 0, es, st == SMK_OK ? c : -1);
    buf_add(&a, "pos_weight", B_DATA, 0, es, predict_count(cls) == SMK_OK ? cls : -1);
    buf_add(&a, "loss", B_DATA, 1, es, st != SMK_OK ? -1 : a.flag == SMK_REDUCTION_NONE ? c : 1);
    for (j = 0; j < a.nb; j++) buf_place(b, &a, (int)j, j == BC_WEIGHT || j == BC_POS);
    fill_data(b, &a, 0, a.nb);
    if (take_u8(b) & 1) to_probabilities(&a, BC_TARGET);
    buf_alias(b, &a, pairs, 4);

    if (st == SMK_OK) st = predict_count(cls);
    if (st == SMK_OK && (a.flag < 0 || a.flag > 2)) st = SMK_ERROR_INVALID_ARGUMENT;
    if (st == SMK_OK && (null_bad(&a, BC_LOGITS) || null_bad(&a, BC_TARGET) || null_bad(&a, BC_LOSS)))
        st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && a.b[BC_POS].p && !(cls > 0 && c % cls == 0)) st = SMK_ERROR_SHAPE_MISMATCH;
    if (st == SMK_OK && (overlap_any(&a, BC_LOSS, BC_LOGITS) || overlap_any(&a, BC_LOSS, BC_TARGET)
                         || overlap_any(&a, BC_LOSS, BC_WEIGHT) || overlap_any(&a, BC_LOSS, BC_POS)))
        st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_bce, st) == SMK_OK && c <= MAX_ELEMENTS) {
        const void *x = IN(&a, BC_LOGITS), *y = IN(&a, BC_TARGET);
        const void *w = a.b[BC_WEIGHT].p ? IN(&a, BC_WEIGHT) : NULL, *pw = a.b[BC_POS].p ? IN(&a, BC_POS) : NULL;
        long double total = 0, mag = 0, inter = 0, subs = 0;
        for (j = 0; j < c; j++) {
            /* F.binary_cross_entropy_with_logits: with finite inputs in the
             * header's cancellation-free form (a target near 1 with a
             * pos_weight putting 1 + (p - 1) y near 1 - y loses every digit
             * term by term at large |x|); otherwise term by term, as the
             * header writes it. The library works in double. */
            long double xv = get(x, k->f64, j), yv = get(y, k->f64, j), l, m, big, sub;
            long double pv = pw ? (long double)get(pw, k->f64, j % cls) : 1;
            long double lw = pw ? (1 - yv) + pv * yv : 1;
            if (isfinite(xv) && isfinite(yv) && isfinite(pv)) {
                long double lp = log1pl(ld_exp(-fabsl(xv)));
                long double t = xv >= 0 ? (1 - yv) * xv : -pv * yv * xv;
                l = t + lw * lp;
                /* the rounding of 1 - y, p y and their sum lw each reach the
                 * result through lp */
                m = fabsl(t) + (fabsl(1 - yv) + fabsl(pv * yv) + fabsl(lw)) * lp;
            } else {
                long double sp = log1pl(ld_exp(-fabsl(xv))) + (xv < 0 ? -xv : 0);
                if (pw) lw = 1 + (pv - 1) * yv;
                l = (1 - yv) * xv + lw * sp;
                m = fabsl((1 - yv) * xv) + fabsl(lw * sp);
            }
            /* the library's double intermediates, p y among them */
            big = m + fabsl(lw) + fabsl(yv) + fabsl(xv) + fabsl(pv * yv);
            /* softplus(-|x|) = log1p(e^-|x|) is a double subnormal for |x|
             * past ~708: off by up to the smallest subnormal, times the
             * factors that multiply it (fuzz: x = 742.2, weight 3.4e38);
             * and each of the two double products (the x term, lw times
             * the log1p) may underflow before the weight multiplies it
             * (fuzz: lw = -1.6e-202 times e^-296, weight -1.8e37) */
            sub = 4.9406564584124654e-324L * (2 + fabsl(lw) + fabsl(1 - yv) + fabsl(pv * yv));
            if (w) {
                l *= (long double)get(w, k->f64, j);
                m *= fabsl((long double)get(w, k->f64, j));
                big = big * (1 + fabsl((long double)get(w, k->f64, j)));
                sub *= fabsl((long double)get(w, k->f64, j));
            }
            if (isnan(xv) || isnan(yv)) l = NAN;
            total += l; mag += m; inter += big; subs += sub;
            if (a.flag == SMK_REDUCTION_NONE)
                check_close(get(OUT(&a, BC_LOSS), k->f64, j), l,
                            8 * (long double)DBL_EPSILON * m + dtype_eps(k->f64) * fabsl(l) + dtype_tiny(k->f64) + sub,
                            big, k->f64, "loss", j);
        }
        if (a.flag != SMK_REDUCTION_NONE) {
            long double want = a.flag == SMK_REDUCTION_MEAN ? total / (long double)c : total;
            long double scale = a.flag == SMK_REDUCTION_MEAN ? 1.0L / (long double)c : 1;
            if (c == 0 && a.flag == SMK_REDUCTION_MEAN) want = NAN;  /* 0 / 0, as PyTorch */
            /* a running double sum of c terms errs by up to c eps of the
             * sum of magnitudes (fuzz: 2.2e-15 relative over 114 terms) */
            check_close(get(OUT(&a, BC_LOSS), k->f64, 0), want,
                        (8 + (long double)c) * DBL_EPSILON * mag * scale + dtype_eps(k->f64) * fabsl(want) + dtype_tiny(k->f64)
                        + subs * scale, inter, k->f64, "reduced loss", 0);
        }
    }
    args_free(&a);
}

/* ---- backward: softmax, log-softmax, sigmoid ---------------------------- */

enum { BW_Y, BW_DY, BW_DX };

static smk_status invoke_backward(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    switch (a->k->op) {
    case OP_SOFTMAX_BACKWARD:
        return BY_TYPE(a, smk_softmax_backward, f[BW_Y].p, f[BW_DY].p, f[BW_DX].p, a->e[0], a->e[1], a->e[2]);
    case OP_LOG_SOFTMAX_BACKWARD:
        return BY_TYPE(a, smk_log_softmax_backward, f[BW_Y].p, f[BW_DY].p, f[BW_DX].p, a->e[0], a->e[1], a->e[2]);
    default:
        return BY_TYPE(a, smk_sigmoid_backward, f[BW_Y].p, f[BW_DY].p, f[BW_DX].p, a->e[0]);
    }
}

static void run_backward(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{BW_DX, BW_Y}, {BW_DX, BW_DY}};
    fuzz_args a;
    smk_status st;
    int64_t count, reduced, o, i, j;
    int sig = k->op == OP_SIGMOID_BACKWARD;
    size_t es = elem_size(k->f64);
    const long double eps = dtype_eps(k->f64), big = k->f64 ? (long double)DBL_MAX / 4 : (long double)FLT_MAX / 4;
    memset(&a, 0, sizeof a);
    a.k = k;
    if (sig) {
        a.e[0] = take_count(b);
        st = predict_count(a.e[0]);
        count = st == SMK_OK ? a.e[0] : -1;
    } else {
        take_checked_extents(b, &a, &st, &count, &reduced);
    }
    buf_add(&a, "y", B_DATA, 0, es, count);
    buf_add(&a, "dy", B_DATA, 0, es, count);
    buf_add(&a, "dx", B_DATA, 1, es, count);
    for (i = 0; i < a.nb; i++) buf_place(b, &a, (int)i, 0);
    fill_data(b, &a, 0, a.nb);
    /* y as the forward pass would give it (softmax: in [0, 1]; log-softmax:
     * <= 0) half the time, anything otherwise */
    if (take_u8(b) & 1) {
        to_probabilities(&a, BW_Y);
        if (k->op == OP_LOG_SOFTMAX_BACKWARD && a.b[BW_Y].p)
            for (j = 0; j < count; j++) set(a.b[BW_Y].p, k->f64, j, log(get(a.b[BW_Y].p, k->f64, j)));
    }
    buf_alias(b, &a, pairs, 2);

    if (st == SMK_OK && (null_bad(&a, BW_Y) || null_bad(&a, BW_DY) || null_bad(&a, BW_DX))) st = SMK_ERROR_NULL_POINTER;
    if (st == SMK_OK && (overlap_partial(&a, BW_DX, BW_Y) || overlap_partial(&a, BW_DX, BW_DY))) st = SMK_ERROR_INVALID_ARGUMENT;
    if (args_call(&a, invoke_backward, st) != SMK_OK || count <= 0) { args_free(&a); return; }
    if (sig) {
        /* dx = dy * y * (1 - y), evaluated left to right in the dtype by the
         * library and here: bit for bit */
        for (j = 0; j < count; j++) {
            double want = k->f64 ? ((const double *)IN(&a, BW_DY))[j] * ((const double *)IN(&a, BW_Y))[j] * (1 - ((const double *)IN(&a, BW_Y))[j])
                                 : (double)(((const float *)IN(&a, BW_DY))[j] * ((const float *)IN(&a, BW_Y))[j] * (1 - ((const float *)IN(&a, BW_Y))[j]));
            double r = get(OUT(&a, BW_DX), k->f64, j);
            if (!(r == want || (isnan(r) && isnan(want))))
                fail("sigmoid_backward[%lld] = %.17g, want %.17g", (long long)j, r, want);
        }
        args_free(&a);
        return;
    }
    for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
        const void *y = IN(&a, BW_Y), *dy = IN(&a, BW_DY);
        long double d = 0, dmag = 0;
        int64_t n = a.e[1];
        fibre_x = y; fibre_f64 = k->f64; fibre_start = at3(a.e, o, 0, i); fibre_n = n; fibre_stride = a.e[2];
        for (j = 0; j < n; j++) {
            long double yv = get(y, k->f64, at3(a.e, o, j, i)), g = get(dy, k->f64, at3(a.e, o, j, i));
            long double t = k->op == OP_SOFTMAX_BACKWARD ? g * yv : g;
            d += t; dmag += fabsl(t);
        }
        /* the sums run in the dtype within blocks: skip fibres whose terms
         * could overflow it where long double does not */
        if (!(dmag <= big) && !isnan(dmag)) continue;
        for (j = 0; j < n; j++) {
            int64_t at = at3(a.e, o, j, i);
            long double yv = get(y, k->f64, at), g = get(dy, k->f64, at), want, tol;
            double r = get(OUT(&a, BW_DX), k->f64, at);
            if (k->op == OP_SOFTMAX_BACKWARD) {
                if (!(fabsl(g) + fabsl(d) <= big) && !isnan(g + d)) continue;
                want = yv * (g - d);
                tol = eps * fabsl(yv) * (4 * (fabsl(g) + fabsl(d)) + (sum_terms(n, k->f64) + 4) * dmag) + dtype_tiny(k->f64);
            } else {
                long double ey = ld_exp(yv);
                if (!(ey <= big) && !isnan(ey)) continue;  /* exp(y) overflows the dtype */
                /* so does the product exp(y) * sum, which the kernel rounds to
                 * the dtype before subtracting it from dy (as PyTorch) */
                if (!(ey * fabsl(d) <= big) && !isnan(ey * d)) continue;
                want = g - ey * d;
                /* exp(y) below the dtype's smallest subnormal is off by up to
                 * that much, times the sum */
                tol = eps * (4 * fabsl(g) + ey * fabsl(d) * (64 * (1 + fminl(fabsl(yv), 800)) + 8) +
                             ey * (sum_terms(n, k->f64) + 4) * dmag) + dtype_tiny(k->f64)
                    + 2 * fabsl(d) * (k->f64 ? (long double)4.9406564584124654e-324 : (long double)1.401298464324817e-45);
            }
            check_close(r, want, tol, 0, k->f64, k->op == OP_SOFTMAX_BACKWARD ? "softmax_backward" : "log_softmax_backward", at);
        }
    }
    fibre_x = NULL;
    args_free(&a);
}

/* ---- sampling: smk_sample_f32 / _f64 ------------------------------------ */

enum { SA_X, SA_MASK, SA_INDICES, SA_LOGP, SA_OPTIONS };

static smk_status invoke_sample(const fuzz_args *a) {
    const fuzz_buf *f = a->b;
    return BY_TYPE(a, smk_sample, f[SA_X].p, f[SA_MASK].p, f[SA_INDICES].p, f[SA_LOGP].p, a->e[0], a->e[1], a->e[2],
                   a->i[1], f[SA_OPTIONS].p, (uint64_t)a->i[2]);
}

/* Options from the bytes: each field a valid value most of the time, else
 * one of its domain's edges (negative, NaN, inf, subnormal, past n, huge). */
static void take_sample_options(fuzz_bytes *b, smk_sample_options *o, int64_t n) {
    static const double temps[] = {1, 0.5, 2, 0, 0.8, -0.0, -1, NAN, INFINITY, 1e-300, 1e-40, 1e308, 5e-324};
    static const double tops[] = {1, 0.9, 0.5, 0.999999, 1e-300, 0, -0.1, 1.5, NAN, INFINITY};
    static const double mins[] = {0, 0.1, 0.5, 1, -0.1, 1.1, NAN, -INFINITY};
    uint8_t m = take_u8(b);
    smk_sample_options_init(o);
    o->temperature = temps[take_u8(b) % (sizeof temps / sizeof temps[0])];
    switch (take_u8(b) % 8) {
    case 0: case 1: o->top_k = 0; break;
    case 2: o->top_k = 1 + take_u8(b) % 4; break;
    case 3: o->top_k = n; break;
    case 4: o->top_k = wrap_add(n, 1); break;
    case 5: o->top_k = -1; break;
    default: o->top_k = take_edge(b); break;
    }
    o->top_p = tops[take_u8(b) % (sizeof tops / sizeof tops[0])];
    o->min_p = mins[take_u8(b) % (sizeof mins / sizeof mins[0])];
    switch (take_u8(b) % 8) {
    case 0: case 1: case 2: o->num_samples = 1; break;
    case 3: o->num_samples = 1 + take_u8(b) % 4; break;
    case 4: o->num_samples = n > 0 ? n : 1; break;
    case 5: o->num_samples = take_u8(b) & 1 ? 0 : -1; break;
    default: o->num_samples = take_edge(b); break;
    }
    o->row_offset = take_u8(b) & 1 ? take_u64(b) : 0;
    o->replacement = (m & 3) == 3 ? (m & 4 ? 2 : -1) : (m & 1);
    if ((m & 0xf0) == 0xf0) o->size = take_u8(b) % sizeof *o;  /* too small */
}

/* The status smk_sample predicts, in the library's order of checks. */
static smk_status predict_sample(const fuzz_args *a, smk_status st, const smk_sample_options *o, int given,
                                 int64_t count, int64_t *out_count) {
    const fuzz_buf *f = a->b;
    int64_t draws = given ? o->num_samples : 1, c1, oc, mc = a->i[1];
    int f64 = a->k->f64;
    size_t es = elem_size(f64);
    *out_count = -1;
    if (st != SMK_OK) return st;
    if (given) {
        if (o->size < sizeof *o) return SMK_ERROR_INVALID_ARGUMENT;
        if (o->replacement != 0 && o->replacement != 1) return SMK_ERROR_INVALID_ARGUMENT;
        if (o->top_k < 0 || o->num_samples < 1) return SMK_ERROR_INVALID_ARGUMENT;
        if (o->num_samples > INT64_MAX / 8) return SMK_ERROR_SIZE_OVERFLOW;
    }
    if (__builtin_mul_overflow(a->e[0], draws, &c1) || __builtin_mul_overflow(c1, a->e[2], &oc) || oc > INT64_MAX / 8)
        return SMK_ERROR_SIZE_OVERFLOW;
    *out_count = oc;
    if (!(mc == 0 && f[SA_MASK].p == NULL)) {
        if (mc < 0) return SMK_ERROR_INVALID_ARGUMENT;
        if (mc > INT64_MAX / 8) return SMK_ERROR_SIZE_OVERFLOW;
        if (mc > 0 && f[SA_MASK].p == NULL) return SMK_ERROR_NULL_POINTER;
    }
    if (count > 0 && f[SA_X].p == NULL) return SMK_ERROR_NULL_POINTER;
    if (oc > 0 && f[SA_INDICES].p == NULL) return SMK_ERROR_NULL_POINTER;
    /* the core: options, mask layout, overlaps */
    if (given) {
        double t = o->temperature;
        int64_t kept;
        if (!(isfinite(t) && t >= 0)) return SMK_ERROR_INVALID_ARGUMENT;
        if (t != 0 && !temperature_ok(t, f64)) return SMK_ERROR_INVALID_ARGUMENT;
        if (!(o->top_p > 0 && o->top_p <= 1) || !(o->min_p >= 0 && o->min_p <= 1)) return SMK_ERROR_INVALID_ARGUMENT;
        kept = o->top_k > 0 && o->top_k < a->e[1] ? o->top_k : a->e[1];
        if (!o->replacement && o->num_samples > kept) return SMK_ERROR_INVALID_ARGUMENT;
    }
    if (!(mc == 0 && f[SA_MASK].p == NULL) && mc != count && mc != a->e[1]) return SMK_ERROR_SHAPE_MISMATCH;
    if (overlap_any_raw(f[SA_X].p, count * (int64_t)es, f[SA_INDICES].p, oc * 8, 1)) return SMK_ERROR_INVALID_ARGUMENT;
    if (f[SA_LOGP].p) {
        if (overlap_any_raw(f[SA_X].p, count, f[SA_LOGP].p, oc, es)) return SMK_ERROR_INVALID_ARGUMENT;
        if (overlap_any_raw(f[SA_INDICES].p, oc * 8, f[SA_LOGP].p, oc * (int64_t)es, 1)) return SMK_ERROR_INVALID_ARGUMENT;
    }
    if (!(mc == 0 && f[SA_MASK].p == NULL)) {
        if (overlap_any_raw(f[SA_MASK].p, mc, f[SA_INDICES].p, oc * 8, 1)) return SMK_ERROR_INVALID_ARGUMENT;
        if (f[SA_LOGP].p && overlap_any_raw(f[SA_MASK].p, mc, f[SA_LOGP].p, oc * (int64_t)es, 1))
            return SMK_ERROR_INVALID_ARGUMENT;
    }
    return SMK_OK;
}

static void run_sample(const fuzz_kernel *k, fuzz_bytes *b) {
    static const int pairs[][2] = {{SA_LOGP, SA_X}, {SA_INDICES, SA_LOGP}, {SA_INDICES, SA_X}};
    fuzz_args a;
    smk_status st;
    smk_sample_options opt;
    int64_t count, reduced, oc, mc, o, i, j, d;
    int given, f64 = k->f64;
    size_t es = elem_size(f64);
    uint8_t how;
    memset(&a, 0, sizeof a);
    a.k = k;
    take_checked_extents(b, &a, &st, &count, &reduced);
    given = (take_u8(b) & 7) != 0;
    take_sample_options(b, &opt, st == SMK_OK ? a.e[1] : 0);
    a.i[2] = (int64_t)take_u64(b);  /* the seed */
    how = take_u8(b) % 8;           /* the mask: none, full, pattern, wrong count, negative, NULL */
    mc = how < 3 ? 0 : how == 3 || how == 4 ? count : how == 5 ? (st == SMK_OK ? a.e[1] : 3)
       : how == 6 ? (take_u8(b) & 1 ? wrap_add(count, 1) : -1) : take_edge(b);
    a.i[1] = mc;
    a.t = opt.temperature; a.i[0] = opt.num_samples; a.flag = given;
    st = predict_sample(&a, st, &opt, given, count, &oc);  /* the extents and counts only: no buffers yet */
    buf_add(&a, "logits", B_DATA, 0, es, count);
    buf_add(&a, "mask", B_BYTES, 0, 1, mc > 0 && mc <= MAX_ELEMENTS ? mc : mc == 0 ? 0 : -1);
    buf_add(&a, "indices", B_INDEX, 1, sizeof(int64_t), oc);
    buf_add(&a, "log_probs", B_DATA, 1, es, oc);
    buf_add(&a, "options", B_BYTES, 0, 1, given ? (int64_t)sizeof opt : 0);
    buf_place(b, &a, SA_X, 0);
    if (how >= 3) buf_place(b, &a, SA_MASK, 0);
    buf_place(b, &a, SA_INDICES, 0);
    buf_place(b, &a, SA_LOGP, 1);
    if (given) {
        a.b[SA_OPTIONS].block = malloc(sizeof opt);
        if (!a.b[SA_OPTIONS].block) abort();
        memcpy(a.b[SA_OPTIONS].block, &opt, sizeof opt);
        a.b[SA_OPTIONS].p = a.b[SA_OPTIONS].block;
        a.b[SA_OPTIONS].watch = sizeof opt;
    }
    if (a.b[SA_MASK].p && a.b[SA_MASK].count > 0) fill_mask(b, (uint8_t *)a.b[SA_MASK].p, a.b[SA_MASK].count);
    fill_data(b, &a, 0, a.nb);
    buf_alias(b, &a, pairs, f64 ? 3 : 1);
    /* now with the buffers (a NULL mask with a nonzero count, overlaps) */
    {
        smk_status s0;
        int64_t ignored;
        s0 = predict_extents(a.e, &ignored, &ignored);
        st = predict_sample(&a, s0, &opt, given, count, &ignored);
    }
    if (args_call(&a, invoke_sample, st) == SMK_OK && oc > 0 && oc <= MAX_ELEMENTS) {
        const void *x = IN(&a, SA_X);
        const uint8_t *mask = a.b[SA_MASK].p && mc > 0 ? IN(&a, SA_MASK) : NULL;
        const int64_t *idx = (const int64_t *)OUT(&a, SA_INDICES);
        const void *lp = a.b[SA_LOGP].p ? OUT(&a, SA_LOGP) : NULL;
        int64_t n = a.e[1], S = given ? opt.num_samples : 1;
        int greedy = given && opt.temperature == 0, repl = !given || opt.replacement;
        for (o = 0; o < a.e[0]; o++) for (i = 0; i < a.e[2]; i++) {
            int nan = 0, pinf = 0, any = 0;
            int64_t first_max = -1;
            double m = -INFINITY;
            for (j = 0; j < n; j++) {
                int64_t at = at3(a.e, o, j, i);
                double v = get(x, f64, at);
                if (mask && !mask[mc == n ? j : at]) continue;
                if (isnan(v)) nan = 1;
                else if (v == INFINITY) pinf = 1;
                if (v > -INFINITY) any = 1;
                if (v > m) { m = v; first_max = j; }
            }
            for (d = 0; d < S; d++) {
                int64_t r = (o * S + d) * a.e[2] + i, got = idx[r], e;
                double l = lp ? get(lp, f64, r) : 0;
                int bad = n == 0 || nan || !any || (pinf && !greedy);
                if (got < -1 || got >= n) fail("sample: index %lld outside [-1, %lld)", (long long)got, (long long)n);
                if (bad && got != -1) fail("sample: fibre (%lld, %lld) has nothing to draw from but gave %lld", (long long)o, (long long)i, (long long)got);
                if (!bad && repl && got == -1) fail("sample: fibre (%lld, %lld) with positions to draw from gave -1", (long long)o, (long long)i);
                if (lp && (got == -1) != (isnan(l) != 0)) fail("sample: index %lld with log-probability %g", (long long)got, l);
                if (got < 0) continue;
                e = at3(a.e, o, got, i);
                if (mask && !mask[mc == n ? got : e]) fail("sample: drew masked position %lld", (long long)got);
                if (!(get(x, f64, e) > -INFINITY)) fail("sample: drew position %lld holding %g", (long long)got, get(x, f64, e));
                if (lp && !(l <= 1e-6)) fail("sample: log-probability %g > 0", l);
                if (greedy && repl && got != first_max) fail("sample: greedy drew %lld, first maximum at %lld", (long long)got, (long long)first_max);
                if (greedy && lp && l != 0) fail("sample: greedy log-probability %g", l);
                /* the top-k rank by value, where the temperature keeps
                 * distinct values' weights apart (a tolerance for those
                 * rounding to one weight, ranked by index) */
                if (given && opt.top_k > 0 && opt.temperature >= 0.5 && opt.temperature <= 2 && isfinite(get(x, f64, e))) {
                    int64_t above = 0;
                    for (j = 0; j < n; j++) {
                        int64_t at = at3(a.e, o, j, i);
                        if (mask && !mask[mc == n ? j : at]) continue;
                        if (get(x, f64, at) - get(x, f64, e) > 1e-3 * (1 + fabs(get(x, f64, e)))) above++;
                    }
                    if (above >= opt.top_k) fail("sample: drew %lld, ranked %lld with top_k %lld", (long long)got, (long long)above, (long long)opt.top_k);
                }
                if (!repl) {
                    int64_t d2;
                    for (d2 = 0; d2 < d; d2++)
                        if (idx[(o * S + d2) * a.e[2] + i] == got) fail("sample: without replacement drew %lld twice", (long long)got);
                }
            }
        }
    }
    args_free(&a);
}

/* ------------------------------------------------------------------------ */
/* The table: one row per exported kernel                                    */
/* ------------------------------------------------------------------------ */

static const fuzz_kernel KERNELS[] = {
    {"smk_softmax_f32", run_unary, OP_SOFTMAX, 0, {.norm_f32 = smk_softmax_f32}},
    {"smk_softmax_f64", run_unary, OP_SOFTMAX, 1, {.norm_f64 = smk_softmax_f64}},
    {"smk_log_softmax_f32", run_unary, OP_LOG_SOFTMAX, 0, {.norm_f32 = smk_log_softmax_f32}},
    {"smk_log_softmax_f64", run_unary, OP_LOG_SOFTMAX, 1, {.norm_f64 = smk_log_softmax_f64}},
    {"smk_logsumexp_f32", run_unary, OP_LOGSUMEXP, 0, {.lse_f32 = smk_logsumexp_f32}},
    {"smk_logsumexp_f64", run_unary, OP_LOGSUMEXP, 1, {.lse_f64 = smk_logsumexp_f64}},
    {"smk_sigmoid_f32", run_unary, OP_SIGMOID, 0, {.elem_f32 = smk_sigmoid_f32}},
    {"smk_sigmoid_f64", run_unary, OP_SIGMOID, 1, {.elem_f64 = smk_sigmoid_f64}},
    {"smk_log_sigmoid_f32", run_unary, OP_LOG_SIGMOID, 0, {.elem_f32 = smk_log_sigmoid_f32}},
    {"smk_log_sigmoid_f64", run_unary, OP_LOG_SIGMOID, 1, {.elem_f64 = smk_log_sigmoid_f64}},
    /* the variant, selection, loss and backward kernels (fuzz_args calls),
     * which call their kernel by op; new rows go at the end */
    {"smk_masked_softmax_f32", run_masked, OP_MASKED_SOFTMAX, 0, {0}},
    {"smk_masked_softmax_f64", run_masked, OP_MASKED_SOFTMAX, 1, {0}},
    {"smk_masked_log_softmax_f32", run_masked, OP_MASKED_LOG_SOFTMAX, 0, {0}},
    {"smk_masked_log_softmax_f64", run_masked, OP_MASKED_LOG_SOFTMAX, 1, {0}},
    {"smk_partitioned_f32", run_partitioned, OP_PARTITIONED, 0, {0}},
    {"smk_partitioned_f64", run_partitioned, OP_PARTITIONED, 1, {0}},
    {"smk_segment_softmax_f32", run_segment, OP_SEGMENT_SOFTMAX, 0, {0}},
    {"smk_segment_softmax_f64", run_segment, OP_SEGMENT_SOFTMAX, 1, {0}},
    {"smk_hierarchical_softmax_f32", run_hierarchical, OP_HIERARCHICAL, 0, {0}},
    {"smk_hierarchical_softmax_f64", run_hierarchical, OP_HIERARCHICAL, 1, {0}},
    {"smk_ensemble_mean_f32", run_ensemble, OP_ENSEMBLE_MEAN, 0, {0}},
    {"smk_ensemble_mean_f64", run_ensemble, OP_ENSEMBLE_MEAN, 1, {0}},
    {"smk_hardmax_f32", run_select, OP_HARDMAX, 0, {0}},
    {"smk_hardmax_f64", run_select, OP_HARDMAX, 1, {0}},
    {"smk_argmax_f32", run_select, OP_ARGMAX, 0, {0}},
    {"smk_argmax_f64", run_select, OP_ARGMAX, 1, {0}},
    {"smk_topk_f32", run_select, OP_TOPK, 0, {0}},
    {"smk_topk_f64", run_select, OP_TOPK, 1, {0}},
    {"smk_softmax_topk_f32", run_select, OP_SOFTMAX_TOPK, 0, {0}},
    {"smk_softmax_topk_f64", run_select, OP_SOFTMAX_TOPK, 1, {0}},
    {"smk_cross_entropy_f32", run_class_loss, OP_CROSS_ENTROPY, 0, {0}},
    {"smk_cross_entropy_f64", run_class_loss, OP_CROSS_ENTROPY, 1, {0}},
    {"smk_cross_entropy_probs_f32", run_class_loss, OP_CROSS_ENTROPY_PROBS, 0, {0}},
    {"smk_cross_entropy_probs_f64", run_class_loss, OP_CROSS_ENTROPY_PROBS, 1, {0}},
    {"smk_nll_loss_f32", run_class_loss, OP_NLL_LOSS, 0, {0}},
    {"smk_nll_loss_f64", run_class_loss, OP_NLL_LOSS, 1, {0}},
    {"smk_binary_cross_entropy_with_logits_f32", run_bce, OP_BCE_WITH_LOGITS, 0, {0}},
    {"smk_binary_cross_entropy_with_logits_f64", run_bce, OP_BCE_WITH_LOGITS, 1, {0}},
    {"smk_softmax_backward_f32", run_backward, OP_SOFTMAX_BACKWARD, 0, {0}},
    {"smk_softmax_backward_f64", run_backward, OP_SOFTMAX_BACKWARD, 1, {0}},
    {"smk_log_softmax_backward_f32", run_backward, OP_LOG_SOFTMAX_BACKWARD, 0, {0}},
    {"smk_log_softmax_backward_f64", run_backward, OP_LOG_SOFTMAX_BACKWARD, 1, {0}},
    {"smk_sigmoid_backward_f32", run_backward, OP_SIGMOID_BACKWARD, 0, {0}},
    {"smk_sigmoid_backward_f64", run_backward, OP_SIGMOID_BACKWARD, 1, {0}},
    {"smk_sample_f32", run_sample, OP_SAMPLE, 0, {0}},
    {"smk_sample_f64", run_sample, OP_SAMPLE, 1, {0}},
};
#define N_KERNELS (sizeof KERNELS / sizeof KERNELS[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes b;
    int calls = 0;
    b.p = data;
    b.left = size;
    trace_calls = getenv("FUZZ_ABI_TRACE") != NULL;
    while (b.left > 0 && calls++ < MAX_CALLS) {
        const fuzz_kernel *k = &KERNELS[take_u8(&b) % N_KERNELS];
        /* the thread count never changes results; small calls never split */
        k->run(k, &b);
    }
    return 0;
}
