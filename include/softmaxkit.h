/*
 * softmaxkit.h - the C ABI of SoftmaxKit.
 *
 * SoftmaxKit computes softmax and its relatives (log-softmax, logsumexp,
 * sigmoid, ...) over any axis of a C-contiguous tensor, and runs multi-head
 * network forward passes. This header is the whole public C API: if a function
 * is not declared here, it is not part of the ABI.
 *
 * Layout. Every reduction views its tensor as three extents
 * (outer, n, inner) and reduces over n: element (o, j, i) lives at index
 * (o * n + j) * inner + i. A [rows, cols] softmax over the last axis is
 * (rows, cols, 1); axis 1 of a [3, 4, 5] tensor is (3, 4, 5). Any extent may
 * be 0: that is an empty result, not an error.
 *
 * Errors. Every function that can fail returns smk_status (SMK_OK == 0) and
 * sets this thread's smk_last_error_message(). A failed call writes nothing
 * to its outputs: arguments are checked before any output byte is written.
 *
 * Pointers. An input or output pointer may be NULL only when its element
 * count is 0. Outputs may alias inputs exactly (in place) but never
 * partially (SMK_ERROR_INVALID_ARGUMENT).
 *
 * Threads. Every kernel is reentrant and keeps no state between calls; calls
 * from many threads at once are safe provided they do not write to the same
 * output memory.
 *
 * Link with -lsoftmaxkit (pkg-config --libs softmaxkit). The library carries
 * its Swift runtime statically and needs only libc, libm and libstdc++.
 */
#ifndef SOFTMAXKIT_H
#define SOFTMAXKIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define SMK_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define SMK_API __attribute__((visibility("default")))
#else
#  define SMK_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define SMK_VERSION_MAJOR 0
#define SMK_VERSION_MINOR 1
#define SMK_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, comparable with smk_version(). */
#define SMK_VERSION_NUMBER (SMK_VERSION_MAJOR * 10000 + SMK_VERSION_MINOR * 100 + SMK_VERSION_PATCH)
#define SMK_VERSION_STRING "0.1.0"

/* The SMK_VERSION_NUMBER of the library loaded at run time. A program built
 * against this header works with any library of the same major version
 * (smk_version() / 10000 == SMK_VERSION_MAJOR). Never fails; thread-safe. */
SMK_API uint32_t smk_version(void);

/* The "MAJOR.MINOR.PATCH" string of the loaded library. Static storage: never
 * NULL, never freed by the caller. Thread-safe. */
SMK_API const char *smk_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes and error messages                                           */
/* ------------------------------------------------------------------------ */

/* What a call returns. Values are stable across minor versions; new codes
 * may be added at the end. */
typedef enum smk_status {
    SMK_OK = 0,                       /* success */
    SMK_ERROR_INVALID_ARGUMENT = 1,   /* value outside its domain: temperature, axis, k, partial aliasing, ... */
    SMK_ERROR_NULL_POINTER = 2,       /* a pointer is NULL while its count is nonzero */
    SMK_ERROR_SIZE_OVERFLOW = 3,      /* a product of extents or a byte count overflows 64 bits */
    SMK_ERROR_SHAPE_MISMATCH = 4,     /* argument shapes do not agree (mask, weights, layout, ...) */
    SMK_ERROR_INDEX_OUT_OF_RANGE = 5, /* an index (target, offset) is outside its valid range */
    SMK_ERROR_OUT_OF_MEMORY = 6,      /* an allocation failed */
    SMK_ERROR_IO = 7,                 /* a file could not be opened or read */
    SMK_ERROR_FORMAT = 8,             /* a model file or spec is malformed */
    SMK_ERROR_UNSUPPORTED = 9,        /* well-formed but not supported by this build */
    SMK_ERROR_INTERNAL = 10           /* a bug in SoftmaxKit: please report it */
} smk_status;

/* A static description of `status`, starting with its constant's name
 * ("SMK_ERROR_SHAPE_MISMATCH: ..."). Unknown values give
 * "SMK_ERROR_UNKNOWN: ...". Never NULL; static storage; thread-safe. */
SMK_API const char *smk_status_string(smk_status status);

/* The detail message of the last call that failed on the calling thread, for
 * example "temperature must be finite and > 0, got -1.0". Successful calls do
 * not change it; "" if no call has failed on this thread. The string is owned
 * by the library, stays valid until the next failing call on the same thread
 * and is freed when the thread exits. Never NULL. */
SMK_API const char *smk_last_error_message(void);

/* ------------------------------------------------------------------------ */
/* Normalizers: softmax, log-softmax, logsumexp                              */
/* ------------------------------------------------------------------------ */

/* y = softmax(x / temperature) over n for each (outer, inner) fibre:
 *     y_j = exp((x_j - m) / T) / sum_k exp((x_k - m) / T),  m = max_k x_k.
 * Shift invariant and overflow-free. A NaN in a fibre makes it all NaN; -inf
 * entries give 0 when the fibre has a finite maximum; an all -inf fibre is
 * NaN (0/0, as PyTorch and JAX). Float sums are accumulated in double blocks.
 *
 * x, y: outer * n * inner elements; y may equal x (in place).
 * temperature: finite and > 0 with a finite 1/temperature (so not
 * subnormal); 1 for plain softmax.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (x or y NULL with a nonzero count);
 * SMK_ERROR_INVALID_ARGUMENT (negative extent, temperature not finite,
 * <= 0 or subnormal, partial overlap of x and y); SMK_ERROR_SIZE_OVERFLOW (extent product
 * overflows); SMK_ERROR_OUT_OF_MEMORY (scratch for inner > 1). */
SMK_API smk_status smk_softmax_f32(const float *x, float *y,
                                   int64_t outer, int64_t n, int64_t inner,
                                   float temperature);
/* As smk_softmax_f32, in double precision. */
SMK_API smk_status smk_softmax_f64(const double *x, double *y,
                                   int64_t outer, int64_t n, int64_t inner,
                                   double temperature);

/* y = log_softmax(x / temperature) over n, computed as
 *     y_j = (x_j - m) / T - log(sum_k exp((x_k - m) / T)),
 * never as log(softmax), so [1000, 1] gives [0, -999]. Same arguments,
 * edge cases (NaN row, all -inf row gives NaN) and statuses as
 * smk_softmax_f32. */
SMK_API smk_status smk_log_softmax_f32(const float *x, float *y,
                                       int64_t outer, int64_t n, int64_t inner,
                                       float temperature);
/* As smk_log_softmax_f32, in double precision. */
SMK_API smk_status smk_log_softmax_f64(const double *x, double *y,
                                       int64_t outer, int64_t n, int64_t inner,
                                       double temperature);

/* y[o * inner + i] = log(sum_j exp(x[(o * n + j) * inner + i])).
 * x: outer * n * inner elements; y: outer * inner elements (the reduced
 * shape); y may start at x (in place) but not overlap it otherwise.
 * An empty fibre (n == 0) gives -inf; a fibre holding +inf gives +inf; all
 * -inf gives -inf; any NaN gives NaN.
 * Returns SMK_OK, SMK_ERROR_NULL_POINTER, SMK_ERROR_INVALID_ARGUMENT,
 * SMK_ERROR_SIZE_OVERFLOW or SMK_ERROR_OUT_OF_MEMORY as smk_softmax_f32. */
SMK_API smk_status smk_logsumexp_f32(const float *x, float *y,
                                     int64_t outer, int64_t n, int64_t inner);
/* As smk_logsumexp_f32, in double precision. */
SMK_API smk_status smk_logsumexp_f64(const double *x, double *y,
                                     int64_t outer, int64_t n, int64_t inner);

/* ------------------------------------------------------------------------ */
/* Element-wise: sigmoid, log-sigmoid                                        */
/* ------------------------------------------------------------------------ */

/* y = 1 / (1 + exp(-x)) element-wise over `count` elements, evaluated so that
 * nothing overflows: saturates to exactly 0 and 1; NaN stays NaN.
 * y may equal x. Returns SMK_OK; SMK_ERROR_NULL_POINTER;
 * SMK_ERROR_INVALID_ARGUMENT (count < 0 or partial overlap);
 * SMK_ERROR_SIZE_OVERFLOW (count too large to address). */
SMK_API smk_status smk_sigmoid_f32(const float *x, float *y, int64_t count);
/* As smk_sigmoid_f32, in double precision. */
SMK_API smk_status smk_sigmoid_f64(const double *x, double *y, int64_t count);

/* y = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)) element-wise, accurate
 * at both ends: log_sigmoid(-1e4) == -1e4, log_sigmoid(40) ~ -4.2e-18.
 * Same arguments and statuses as smk_sigmoid_f32. */
SMK_API smk_status smk_log_sigmoid_f32(const float *x, float *y, int64_t count);
/* As smk_log_sigmoid_f32, in double precision. */
SMK_API smk_status smk_log_sigmoid_f64(const double *x, double *y, int64_t count);

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

/* Sets how many threads one kernel call may use (the calling thread
 * included), for the whole process. n < 1 restores the default: the
 * environment variable SOFTMAXKIT_NUM_THREADS if it holds a positive integer,
 * else the number of online cores. Values above 1024 are clamped.
 * Only calls touching at least 2^19 elements are split; smaller calls always
 * run on the calling thread. Results do not depend on the thread count (bit
 * for bit). A call made while another is using the worker threads runs on
 * its own thread. Thread-safe; never fails. */
SMK_API void smk_set_num_threads(int32_t n);

/* The number of threads one kernel call may use (>= 1). Thread-safe. */
SMK_API int32_t smk_get_num_threads(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTMAXKIT_H */
