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
 *     inf rules of DESIGN.md.
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
        e[take_u8(b) % 3] = take_edge(b);
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
static double pattern(uint32_t seed, int64_t i) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
    return ((double)(h % 20001) - 10000.0) / (double)(1 + seed % 97);
}

/* The description of the call being checked, printed when a check fails,
 * and the input fibre being checked (printed too, up to 100 values). */
static char call_text[512];
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
    /* finite and > 0, and so small no longer that 1/T overflows: see
     * Sources/SoftmaxKit/Validation.swift (subnormal temperatures). */
    if (!(isfinite(v) && v > 0)) return 0;
    return f64 ? isfinite(1.0 / v) : isfinite(1.0f / (float)v);
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

typedef enum { OP_SOFTMAX, OP_LOG_SOFTMAX, OP_LOGSUMEXP, OP_SIGMOID, OP_LOG_SIGMOID } fuzz_op;

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
    }
    return SMK_ERROR_INTERNAL;
}

static void describe(const fuzz_call *c, const char *mode) {
    snprintf(call_text, sizeof call_text,
             "%s(x=%p, y=%p, %lld, %lld, %lld, T=%.17g) [%s]", c->k->name, c->x, (void *)c->y,
             (long long)c->e[0], (long long)c->e[1], (long long)c->e[2], c->temperature, mode);
}

/* Runs the call, compares its status with `expected`, and checks that a
 * failure wrote nothing: `ybytes` of y must still hold the canary (when y is
 * not x) and `x` must still equal `xsave`. */
static smk_status call_checked(const fuzz_call *c, smk_status expected,
                               const void *xsave, size_t xbytes, size_t ybytes) {
    smk_status st = invoke(c);
    size_t i;
    if (st != expected)
        fail("status %d (%s), expected %d (%s)", (int)st, smk_status_string(st),
             (int)expected, smk_status_string(expected));
    if (st != SMK_OK && strlen(smk_last_error_message()) == 0) fail("failed without a message");
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
    if (pinf) { fibre_x = NULL; return; }  /* not specified by DESIGN.md */
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
    /* variants (masked, partitioned, segment, hierarchical, top-k, losses,
     * backward) go here, after the existing rows */
};
#define N_KERNELS (sizeof KERNELS / sizeof KERNELS[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes b;
    int calls = 0;
    b.p = data;
    b.left = size;
    while (b.left > 0 && calls++ < MAX_CALLS) {
        const fuzz_kernel *k = &KERNELS[take_u8(&b) % N_KERNELS];
        /* the thread count never changes results; small calls never split */
        k->run(k, &b);
    }
    return 0;
}
