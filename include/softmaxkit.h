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
 * count is 0. No output may share a byte with an input or with another
 * output, except that an output may equal an input exactly (the same start:
 * in place) where the function says so. Any other overlap is refused with
 * SMK_ERROR_INVALID_ARGUMENT before anything is written. Not concerned: the
 * small tables a function copies before it writes (partition layouts,
 * segment offsets, hierarchical sizes, loss options, the pointer lists of
 * members and outputs) and the one-value *_out results, written last, on
 * success.
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
#define SMK_VERSION_MINOR 2
#define SMK_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, comparable with smk_version(). */
#define SMK_VERSION_NUMBER (SMK_VERSION_MAJOR * 10000 + SMK_VERSION_MINOR * 100 + SMK_VERSION_PATCH)
#define SMK_VERSION_STRING "0.2.0"

/* The SMK_VERSION_NUMBER of the library loaded at run time. A program built
 * against this header works with any library of the same major version
 * (smk_version() / 10000 == SMK_VERSION_MAJOR). Never fails; thread-safe. */
SMK_API uint32_t smk_version(void);

/* The "MAJOR.MINOR.PATCH" string of the loaded library. Static storage: never
 * NULL, never freed by the caller. Thread-safe. */
SMK_API const char *smk_version_string(void);

/* The CPU path the loaded kernels run: "avx512" (AVX-512 F/BW/CD/DQ/VL and
 * FMA), "avx2" (AVX2 and FMA, x86-64-v3), "sse2" (the x86-64 baseline), or
 * "generic" (a build for another CPU, or one the Makefile did not label).
 * The shipped library (`make install`, `make dist-lib`, the Python wheel)
 * holds one variant of the kernels per level and picks, on its first call,
 * the best one this CPU and operating system support; the environment
 * variable SOFTMAXKIT_CPU=sse2|avx2|avx512 (read once, at that first call)
 * asks for one level instead. A level the CPU lacks, an unknown value or a
 * missing variant file is never run: every function that returns smk_status
 * then returns SMK_ERROR_UNSUPPORTED (or SMK_ERROR_IO when the variant file
 * cannot be loaded) with the reason in smk_last_error_message(), and
 * smk_cpu_path() returns "none". A library built by plain `make` holds the
 * kernels for one level and ignores SOFTMAXKIT_CPU. Static storage: never
 * NULL, never freed by the caller. Thread-safe; never fails. */
SMK_API const char *smk_cpu_path(void);

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
 * temperature: finite, > 0 and not subnormal (in the function's precision;
 * so 1/temperature is finite); 1 for plain softmax.
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

/* Weighted logsumexp with its sign (scipy.special.logsumexp's b= and
 * return_sign=): per fibre, with m = max { x_j : b_j != 0 },
 *     s = sum_j b_j * exp(x_j - m),   y = m + log|s|,   sign = sign(s).
 * A weight of 0 removes its element whatever its value (NaN and inf
 * included). Weights may be negative. A zero total (all weights 0, every
 * weighted element -inf, n == 0, or cancelling weights) gives y = -inf and
 * sign 0; a NaN element or weight with nonzero weight gives NaN (sign NaN);
 * +inf elements give +inf with the sign of their weights, NaN when the
 * signs differ. When sign is NULL a negative total gives y = NaN.
 *
 * x, b: outer * n * inner elements each, the same layout, read only.
 * y: outer * inner elements (the reduced shape). sign: NULL, or outer *
 * inner elements receiving +1, -1, 0 (or NaN). Neither y nor sign may share
 * a byte with x, b or each other (no in-place form). The caller owns every
 * buffer; the library keeps no pointer after the call. Reentrant: calls from
 * many threads at once are safe when their outputs are distinct.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (x, b or y NULL with a nonzero
 * count); SMK_ERROR_INVALID_ARGUMENT (negative extent, any overlap above);
 * SMK_ERROR_SIZE_OVERFLOW (extent product overflows). Nothing is written
 * when it fails. Takes no scratch memory. */
SMK_API smk_status smk_logsumexp_weighted_f32(const float *x, const float *b, float *y, float *sign,
                                              int64_t outer, int64_t n, int64_t inner);
/* As smk_logsumexp_weighted_f32, in double precision. */
SMK_API smk_status smk_logsumexp_weighted_f64(const double *x, const double *b, double *y, double *sign,
                                              int64_t outer, int64_t n, int64_t inner);

/* ------------------------------------------------------------------------ */
/* Chunked normalizer: a reduction axis split into chunks                    */
/* ------------------------------------------------------------------------ */

/* Softmax over an axis too long for one buffer (a class axis split across
 * chunks, processes or machines), in three steps that are the online
 * normalizer's: each chunk's partial state, an exact merge of states (in any
 * tree), and a finishing pass writing each chunk from its fibres' merged
 * state. The state of a fibre over its n extent is two doubles
 *     max = m = max_j x_j,   sum = s = sum_j exp((x_j - m) / T),
 * with: an empty or all -inf fibre (-inf, 0); a fibre holding NaN
 * (NaN, NaN); a fibre holding +inf and no NaN (+inf, NaN). Two states merge
 * as (m, s1 exp((m1 - m)/T) + s2 exp((m2 - m)/T)), m = max(m1, m2). The
 * finishing passes then agree with smk_softmax_f32, smk_log_softmax_f32 and
 * smk_logsumexp_f32 on every edge case, and on finite values up to the
 * rounding of the sum's order (double sums: a few float32 ulp).
 * State arrays hold one double per (outer, inner) fibre, at o * inner + i.
 * Threads: reentrant, no state kept between calls. */

/* max, sum: the partial state of each fibre of x (outer * n * inner
 * elements) over n. max and sum: outer * inner doubles each, overlapping
 * neither x nor each other. temperature as smk_softmax_f32.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative extent, temperature, any overlap); SMK_ERROR_SIZE_OVERFLOW. */
SMK_API smk_status smk_softmax_state_f32(const float *x, double *max, double *sum,
                                         int64_t outer, int64_t n, int64_t inner,
                                         float temperature);
/* As smk_softmax_state_f32, for double x. */
SMK_API smk_status smk_softmax_state_f64(const double *x, double *max, double *sum,
                                         int64_t outer, int64_t n, int64_t inner,
                                         double temperature);

/* Merges `parts` states per fibre, folded in part order: max_in and sum_in
 * hold parts * count doubles, part-major (part p's fibre f at p * count + f);
 * max_out[f], sum_out[f] receive the merged state. temperature: the one the
 * states were made with (a double, finite, > 0, normal). Outputs overlap
 * neither the inputs nor each other (merge into fresh buffers).
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (parts < 1, count < 0, temperature, any overlap);
 * SMK_ERROR_SIZE_OVERFLOW (parts * count too large). */
SMK_API smk_status smk_softmax_state_merge(const double *max_in, const double *sum_in,
                                           double *max_out, double *sum_out,
                                           int64_t parts, int64_t count, double temperature);

/* y = exp((x - m) / T) / s over a chunk x (outer * n * inner elements) of
 * fibres whose merged states are max, sum (outer * inner doubles each): the
 * chunk's part of the whole fibre's softmax. A NaN, +inf or all -inf state
 * gives NaN, as smk_softmax_f32 does for such a row. y may equal x (in
 * place) but not overlap it otherwise, and overlaps neither max nor sum.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative extent, temperature, overlap); SMK_ERROR_SIZE_OVERFLOW. */
SMK_API smk_status smk_softmax_finish_f32(const float *x, const double *max, const double *sum,
                                          float *y, int64_t outer, int64_t n, int64_t inner,
                                          float temperature);
/* As smk_softmax_finish_f32, in double precision. */
SMK_API smk_status smk_softmax_finish_f64(const double *x, const double *max, const double *sum,
                                          double *y, int64_t outer, int64_t n, int64_t inner,
                                          double temperature);

/* y = (x - m) / T - log(s): the chunk's part of the fibre's log-softmax.
 * Arguments, aliasing and statuses as smk_softmax_finish_f32. */
SMK_API smk_status smk_log_softmax_finish_f32(const float *x, const double *max, const double *sum,
                                              float *y, int64_t outer, int64_t n, int64_t inner,
                                              float temperature);
/* As smk_log_softmax_finish_f32, in double precision. */
SMK_API smk_status smk_log_softmax_finish_f64(const double *x, const double *max, const double *sum,
                                              double *y, int64_t outer, int64_t n, int64_t inner,
                                              double temperature);

/* y[f] = m + log(s) for `count` merged states made with temperature 1: the
 * fibres' logsumexp (-inf empty or all -inf, +inf for a +inf state, NaN for
 * NaN), as smk_logsumexp_f32. y overlaps neither max nor sum.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (count < 0, overlap); SMK_ERROR_SIZE_OVERFLOW. */
SMK_API smk_status smk_logsumexp_finish_f32(const double *max, const double *sum, float *y, int64_t count);
/* As smk_logsumexp_finish_f32, with a double result. */
SMK_API smk_status smk_logsumexp_finish_f64(const double *max, const double *sum, double *y, int64_t count);

/* Merges partial top-k lists: values and indices (outer * n * inner each)
 * hold, for each fibre, n candidates along n (typically the top-k of several
 * chunks of a row, concatenated), each index the candidate's position in the
 * whole row. values_out and indices_out (outer * k * inner each) receive the
 * k first in smk_topk_f32's order, ties (and NaN against NaN) going to the
 * lower row index: merging the top-k of every chunk of a row gives
 * smk_topk_f32 of the whole row. 0 <= k <= n. Outputs overlap neither the
 * inputs nor each other. Threads: reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT (k < 0,
 * k > n, negative extent, overlap); SMK_ERROR_SIZE_OVERFLOW. */
SMK_API smk_status smk_topk_merge_f32(const float *values, const int64_t *indices, float *values_out,
                                      int64_t *indices_out, int64_t outer, int64_t n, int64_t inner, int64_t k);
/* As smk_topk_merge_f32, in double precision. */
SMK_API smk_status smk_topk_merge_f64(const double *values, const int64_t *indices, double *values_out,
                                      int64_t *indices_out, int64_t outer, int64_t n, int64_t inner, int64_t k);

/* As smk_softmax_state_f32 (temperature 1) over the selected positions
 * only: a position takes part where mask is nonzero. mask: mask_count bytes,
 * either the whole chunk (outer * n * inner) or one pattern along n shared
 * by every fibre (n); unselected values (NaN, inf) are never read. A fibre
 * with nothing selected is (-inf, 0). max and sum overlap neither x, mask
 * nor each other. Threads: reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH
 * (mask_count neither n nor outer * n * inner); SMK_ERROR_INVALID_ARGUMENT
 * (negative extent or mask_count, overlap); SMK_ERROR_SIZE_OVERFLOW. */
SMK_API smk_status smk_masked_softmax_state_f32(const float *x, const uint8_t *mask, double *max, double *sum,
                                                int64_t outer, int64_t n, int64_t inner, int64_t mask_count);
/* As smk_masked_softmax_state_f32, for double x. */
SMK_API smk_status smk_masked_softmax_state_f64(const double *x, const uint8_t *mask, double *max, double *sum,
                                                int64_t outer, int64_t n, int64_t inner, int64_t mask_count);

/* A chunk's part of its fibres' masked softmax from their merged states:
 * selected positions as smk_softmax_finish_f32 (temperature 1), unselected
 * ones exactly 0 whatever x holds. With states from
 * smk_masked_softmax_state_f32 this is smk_masked_softmax_f32 with
 * renormalize 1 (a fully masked fibre all 0); with states from
 * smk_softmax_state_f32 of the whole fibres, renormalize 0. mask as
 * smk_masked_softmax_state_f32. y may equal x but not overlap it otherwise,
 * nor mask, max or sum. Threads: reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH (mask_count);
 * SMK_ERROR_INVALID_ARGUMENT (negative extent, overlap); SMK_ERROR_SIZE_OVERFLOW. */
SMK_API smk_status smk_masked_softmax_finish_f32(const float *x, const uint8_t *mask, const double *max,
                                                 const double *sum, float *y, int64_t outer, int64_t n,
                                                 int64_t inner, int64_t mask_count);
/* As smk_masked_softmax_finish_f32, in double precision. */
SMK_API smk_status smk_masked_softmax_finish_f64(const double *x, const uint8_t *mask, const double *max,
                                                 const double *sum, double *y, int64_t outer, int64_t n,
                                                 int64_t inner, int64_t mask_count);
/* As smk_masked_softmax_finish_f32 for the masked log-softmax
 * (smk_masked_log_softmax_f32): x - m - log(s) where selected, -inf
 * elsewhere and in a fully masked fibre. */
SMK_API smk_status smk_masked_log_softmax_finish_f32(const float *x, const uint8_t *mask, const double *max,
                                                     const double *sum, float *y, int64_t outer, int64_t n,
                                                     int64_t inner, int64_t mask_count);
/* As smk_masked_log_softmax_finish_f32, in double precision. */
SMK_API smk_status smk_masked_log_softmax_finish_f64(const double *x, const uint8_t *mask, const double *max,
                                                     const double *sum, double *y, int64_t outer, int64_t n,
                                                     int64_t inner, int64_t mask_count);

/* A chunk's part of each sample's cross-entropy (smk_cross_entropy_f32's
 * loss_r = (1 - e) w_t (-lsm_t) + (e / C) sum_c w_c (-lsm_c)) when the class
 * axis of `classes` = C classes is split: logits holds classes
 * offset ... offset + n - 1 (outer * n * inner), max and sum the samples'
 * merged states over all C (outer * inner doubles, temperature 1, from
 * smk_softmax_state_merge), lsm_c = x_c - max - log(sum). target: outer *
 * inner int64_t, each in [0, C) or ignore_index. weight: NULL (all 1) or
 * this chunk's n class weights. loss (outer * inner doubles) receives the
 * chunk's part, 0 for an ignored sample: the parts of a sample summed over
 * its chunks are its loss_r. target_weight: NULL, or outer * inner doubles
 * receiving w_t where the target is in this chunk and not ignored, else 0
 * (summed over chunks and samples: the mean reduction's denominator). A
 * NaN, +inf or all -inf state gives NaN where its lsm is needed.
 * Outputs overlap no input nor each other. Threads: reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE (a
 * target outside [0, C) that is not ignore_index); SMK_ERROR_INVALID_ARGUMENT
 * (label_smoothing outside [0, 1] or NaN, offset + n > classes, negative
 * extent, offset or classes, overlap); SMK_ERROR_SIZE_OVERFLOW. Nothing is
 * written on failure. */
SMK_API smk_status smk_cross_entropy_chunk_f32(const float *logits, const double *max, const double *sum,
                                               const int64_t *target, const float *weight, double *loss,
                                               double *target_weight, int64_t outer, int64_t n, int64_t inner,
                                               int64_t offset, int64_t classes, int64_t ignore_index,
                                               double label_smoothing);
/* As smk_cross_entropy_chunk_f32, for double logits and weights. */
SMK_API smk_status smk_cross_entropy_chunk_f64(const double *logits, const double *max, const double *sum,
                                               const int64_t *target, const double *weight, double *loss,
                                               double *target_weight, int64_t outer, int64_t n, int64_t inner,
                                               int64_t offset, int64_t classes, int64_t ignore_index,
                                               double label_smoothing);
/* The probability-target part (smk_cross_entropy_probs_f32's
 * loss_r = sum_c w_c p'_c (-lsm_c), p' = (1 - e) p + e / C) over this
 * chunk's classes: target holds the chunk's probabilities (outer * n *
 * inner). Other arguments, aliasing and statuses as
 * smk_cross_entropy_chunk_f32 (no target_weight, no ignore_index, no
 * SMK_ERROR_INDEX_OUT_OF_RANGE). */
SMK_API smk_status smk_cross_entropy_probs_chunk_f32(const float *logits, const double *max, const double *sum,
                                                     const float *target, const float *weight, double *loss,
                                                     int64_t outer, int64_t n, int64_t inner, int64_t offset,
                                                     int64_t classes, double label_smoothing);
/* As smk_cross_entropy_probs_chunk_f32, in double precision. */
SMK_API smk_status smk_cross_entropy_probs_chunk_f64(const double *logits, const double *max, const double *sum,
                                                     const double *target, const double *weight, double *loss,
                                                     int64_t outer, int64_t n, int64_t inner, int64_t offset,
                                                     int64_t classes, double label_smoothing);

/* A chunk's part of smk_cross_entropy_f32's gradient with class-index
 * targets when the class axis of `classes` = C classes is split: logits
 * holds classes offset ... offset + n - 1 (outer * n * inner); max and sum
 * the samples' merged states over all C (as smk_cross_entropy_chunk_f32);
 * target outer * inner int64_t; weight NULL (all 1) or ALL C class weights
 * (not the chunk's n). grad (outer * n * inner) receives, for c in the chunk,
 *   (Q_r p_c - q_c) / divisor,  p_c = exp(x_c - max) / sum,
 *   q_c = (e / C) w_c + (1 - e) w_t [c == t],  Q_r = (1 - e) w_t + (e / C) sum_c w_c,
 * with e = label_smoothing; a row of zeros for an ignored sample, of NaN for
 * a NaN, +inf or all -inf state. divisor: the mean reduction's denominator
 * (the summed target weight of the counted samples), 1 for sum and none;
 * nonzero, not NaN. Computed in double, stored rounded to float.
 * grad overlaps no input. Threads: reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE (a
 * target outside [0, C) that is not ignore_index); SMK_ERROR_INVALID_ARGUMENT
 * (label_smoothing outside [0, 1] or NaN, divisor 0 or NaN, offset + n >
 * classes, negative extent, offset or classes, overlap);
 * SMK_ERROR_SIZE_OVERFLOW. Nothing is written on failure. */
SMK_API smk_status smk_cross_entropy_grad_chunk_f32(const float *logits, const double *max, const double *sum,
                                                    const int64_t *target, const float *weight, float *grad,
                                                    int64_t outer, int64_t n, int64_t inner, int64_t offset,
                                                    int64_t classes, int64_t ignore_index, double label_smoothing,
                                                    double divisor);
/* As smk_cross_entropy_grad_chunk_f32, for double logits, weights and grad. */
SMK_API smk_status smk_cross_entropy_grad_chunk_f64(const double *logits, const double *max, const double *sum,
                                                    const int64_t *target, const double *weight, double *grad,
                                                    int64_t outer, int64_t n, int64_t inner, int64_t offset,
                                                    int64_t classes, int64_t ignore_index, double label_smoothing,
                                                    double divisor);

/* ------------------------------------------------------------------------ */
/* Element-wise: sigmoid, log-sigmoid, logit                                 */
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

/* y = logit(x) = log(x / (1 - x)) element-wise over `count` elements, the
 * inverse of smk_sigmoid_f32; for 0.3 < x < 0.65 computed as
 * log1p(2 (x - 0.5) / (1 - x)) so it keeps its digits near x = 0.5
 * (scipy.special.logit's formula). logit(0) = -inf, logit(1) = +inf; x
 * outside [0, 1] or NaN gives NaN. y may equal x (in place), no other
 * overlap. The caller owns both buffers. Reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (count < 0 or partial overlap); SMK_ERROR_SIZE_OVERFLOW (count too large
 * to address). */
SMK_API smk_status smk_logit_f32(const float *x, float *y, int64_t count);
/* As smk_logit_f32, in double precision. */
SMK_API smk_status smk_logit_f64(const double *x, double *y, int64_t count);

/* ------------------------------------------------------------------------ */
/* Masked, partitioned, segment and hierarchical softmax; ensembles          */
/* ------------------------------------------------------------------------ */

/* Masked softmax over n. mask is uint8_t: nonzero = the position takes part
 * (JAX where=, Keras masks). It is either full-shape (mask_count ==
 * outer * n * inner) or one n-long pattern shared by every fibre
 * (mask_count == n). With M the selected positions of a fibre:
 *   renormalize = 1: y_j = exp(x_j - m) / sum_{k in M} exp(x_k - m),
 *                    m = max_{k in M} x_k;
 *   renormalize = 0: y_j = softmax(x)_j over every position (softmax, then
 *                    zero the unselected, the variant where masking only
 *                    hides classes after a normal softmax);
 * and y_j = 0 for j not in M whatever x_j is (NaN and inf included: a
 * select, never a multiply). A fully masked fibre is all 0, never NaN.
 * Selected positions follow smk_softmax_f32's rules (NaN, all -inf).
 *
 * x, y: outer * n * inner elements; y may equal x. mask: mask_count bytes,
 * read only, not overlapping y; NULL only when mask_count is 0.
 * renormalize: 0 or 1.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH
 * (mask_count is neither n nor outer * n * inner);
 * SMK_ERROR_INVALID_ARGUMENT (negative extent or mask_count, renormalize not
 * 0/1, y partly over x, y over mask); SMK_ERROR_SIZE_OVERFLOW. Takes no scratch memory
 * (fibres over a middle axis run in the vectorized column kernels). */
SMK_API smk_status smk_masked_softmax_f32(const float *x, const uint8_t *mask, float *y,
                                          int64_t outer, int64_t n, int64_t inner,
                                          int64_t mask_count, int renormalize);
/* As smk_masked_softmax_f32, in double precision. */
SMK_API smk_status smk_masked_softmax_f64(const double *x, const uint8_t *mask, double *y,
                                          int64_t outer, int64_t n, int64_t inner,
                                          int64_t mask_count, int renormalize);

/* Masked log-softmax over n:
 *   y_j = x_j - m - log(sum_{k in M} exp(x_k - m)) for j in M, -inf otherwise;
 * a fully masked fibre is all -inf. Mask, arguments and statuses as
 * smk_masked_softmax_f32 (always renormalized). */
SMK_API smk_status smk_masked_log_softmax_f32(const float *x, const uint8_t *mask, float *y,
                                              int64_t outer, int64_t n, int64_t inner,
                                              int64_t mask_count);
/* As smk_masked_log_softmax_f32, in double precision. */
SMK_API smk_status smk_masked_log_softmax_f64(const double *x, const uint8_t *mask, double *y,
                                              int64_t outer, int64_t n, int64_t inner,
                                              int64_t mask_count);

/* Masked softmax over n with per-fibre lengths instead of a mask: in fibre
 * f (f = o * inner + i for outer index o and inner index i), positions
 * j < lengths[f] take part and positions j >= lengths[f] are padding. The
 * result equals smk_masked_softmax_f32 with the full-shape mask
 * (j < lengths[f]), with no mask built: padding is exactly 0 whatever its
 * logits; a zero length gives an all-0 fibre. renormalize as there (0:
 * softmax over the whole fibre, then zero the padding).
 *
 * x, y: outer * n * inner elements; y may equal x. lengths: lengths_count
 * values, read only, not overlapping y; lengths_count must be outer * inner.
 * The caller owns every buffer. Reentrant.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH
 * (lengths_count is not outer * inner); SMK_ERROR_INVALID_ARGUMENT (negative
 * extent or lengths_count, a length outside [0, n] (the message names the
 * fibre), renormalize not 0/1, y partly over x, y over lengths);
 * SMK_ERROR_SIZE_OVERFLOW. Nothing is written on failure. */
SMK_API smk_status smk_masked_softmax_lengths_f32(const float *x, const int64_t *lengths, float *y,
                                                  int64_t outer, int64_t n, int64_t inner,
                                                  int64_t lengths_count, int renormalize);
/* As smk_masked_softmax_lengths_f32, in double precision. */
SMK_API smk_status smk_masked_softmax_lengths_f64(const double *x, const int64_t *lengths, double *y,
                                                  int64_t outer, int64_t n, int64_t inner,
                                                  int64_t lengths_count, int renormalize);

/* Masked log-softmax over n with per-fibre lengths: as
 * smk_masked_log_softmax_f32 with the mask (j < lengths[f]); padding and
 * zero-length fibres are -inf. Arguments and statuses as
 * smk_masked_softmax_lengths_f32 (always renormalized). */
SMK_API smk_status smk_masked_log_softmax_lengths_f32(const float *x, const int64_t *lengths, float *y,
                                                      int64_t outer, int64_t n, int64_t inner,
                                                      int64_t lengths_count);
/* As smk_masked_log_softmax_lengths_f32, in double precision. */
SMK_API smk_status smk_masked_log_softmax_lengths_f64(const double *x, const int64_t *lengths, double *y,
                                                      int64_t outer, int64_t n, int64_t inner,
                                                      int64_t lengths_count);

/* The activation of one segment of a partitioned row. The names (returned by
 * smk_activation_name) are the spellings the Python binding and model files
 * use. Values are stable; new ones may be added at the end. */
typedef enum smk_activation {
    SMK_ACTIVATION_IDENTITY = 0,    /* "identity":    y = x */
    SMK_ACTIVATION_SOFTMAX = 1,     /* "softmax":     softmax over the segment */
    SMK_ACTIVATION_LOG_SOFTMAX = 2, /* "log_softmax": log-softmax over the segment */
    SMK_ACTIVATION_SIGMOID = 3,     /* "sigmoid":     element-wise, as smk_sigmoid_f32 */
    SMK_ACTIVATION_TANH = 4         /* "tanh":        element-wise */
} smk_activation;

/* The name of `activation` ("identity", "softmax", "log_softmax", "sigmoid",
 * "tanh"); NULL for a value outside the enum, so a binding can enumerate
 * the names by calling it with 0, 1, ... until NULL. Static storage;
 * thread-safe. */
SMK_API const char *smk_activation_name(smk_activation activation);

/* One segment of a partitioned row: `width` consecutive positions under one
 * activation (an smk_activation value; int32_t keeps the layout fixed:
 * sizeof == 16 on every platform with 8-byte int64_t alignment). */
typedef struct smk_partition {
    int64_t width;
    int32_t activation;
} smk_partition;

/* Partitioned rows (one output layer holding several heads): each fibre of n
 * is split into layout_count consecutive segments, layout[s].width long,
 * each transformed by layout[s].activation. Widths may be 0 and must sum
 * to n.
 *
 * x, y: outer * n * inner elements; y may equal x. layout: layout_count
 * structs, read only, copied before use; NULL only when layout_count is 0.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH (widths
 * do not sum to n); SMK_ERROR_INVALID_ARGUMENT (negative width or extent,
 * unknown activation, partial overlap); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_partitioned_f32(const float *x, const smk_partition *layout, float *y,
                                       int64_t outer, int64_t n, int64_t inner,
                                       int64_t layout_count);
/* As smk_partitioned_f32, in double precision. */
SMK_API smk_status smk_partitioned_f64(const double *x, const smk_partition *layout, double *y,
                                       int64_t outer, int64_t n, int64_t inner,
                                       int64_t layout_count);

/* Segment softmax: ragged groups along n given by CSR offsets
 * [0, o_1, ..., n] (as torch_geometric): group g is positions
 * offsets[g] .. offsets[g + 1] - 1 and is normalised on its own. Empty
 * groups are allowed.
 *
 * x, y: outer * n * inner elements; y may equal x. offsets: offset_count
 * >= 1 int64_t values, starting at 0, ending at n, never decreasing; read
 * only. Returns SMK_OK; SMK_ERROR_NULL_POINTER;
 * SMK_ERROR_INDEX_OUT_OF_RANGE (offsets are not a partition of n, or
 * offset_count is 0); SMK_ERROR_INVALID_ARGUMENT; SMK_ERROR_SIZE_OVERFLOW.
 * Takes no scratch memory (groups over a middle axis run in the vectorized
 * column kernels). */
SMK_API smk_status smk_segment_softmax_f32(const float *x, const int64_t *offsets, float *y,
                                           int64_t outer, int64_t n, int64_t inner,
                                           int64_t offset_count);
/* As smk_segment_softmax_f32, in double precision. */
SMK_API smk_status smk_segment_softmax_f64(const double *x, const int64_t *offsets, double *y,
                                           int64_t outer, int64_t n, int64_t inner,
                                           int64_t offset_count);

/* Hierarchical softmax. coarse is [batch, groups], fine is
 * [batch, fine_width] with fine_width == sizes[0] + ... + sizes[groups-1];
 * group k owns the fine positions off_k .. off_k + sizes[k] - 1. Writes
 *   conditional = 0: y[b, off_k + j] = softmax(coarse[b])_k
 *                                      * softmax(fine[b, group k])_j
 *                    (the joint; each row sums to 1),
 *   conditional = 1: y[b, off_k + j] = softmax(fine[b, group k])_j.
 *
 * y: batch * fine_width elements; may equal fine, must not overlap coarse.
 * sizes: groups int64_t values, each >= 1.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH (sizes do
 * not sum to fine_width); SMK_ERROR_INVALID_ARGUMENT (a size < 1, negative
 * count, conditional not 0/1, overlap); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_hierarchical_softmax_f32(const float *coarse, const float *fine,
                                                const int64_t *sizes, float *y,
                                                int64_t batch, int64_t groups,
                                                int64_t fine_width, int conditional);
/* As smk_hierarchical_softmax_f32, in double precision. */
SMK_API smk_status smk_hierarchical_softmax_f64(const double *coarse, const double *fine,
                                                const int64_t *sizes, double *y,
                                                int64_t batch, int64_t groups,
                                                int64_t fine_width, int conditional);

/* How smk_ensemble_mean_* combines its members. */
typedef enum smk_ensemble_mode {
    SMK_ENSEMBLE_ARITHMETIC = 0, /* y = mean of the probabilities */
    SMK_ENSEMBLE_GEOMETRIC = 1,  /* y = softmax over n of the mean log-probability */
    SMK_ENSEMBLE_LOGITS = 2      /* members are logits: y = softmax over n of their mean */
} smk_ensemble_mode;

/* Ensemble averaging of several models' outputs: members[0 .. member_count-1]
 * each point to one tensor of outer * n * inner elements, n the class axis; the result
 * goes to y (same extents). A geometric mean gives 0 to a class that any
 * member gives probability 0.
 *
 * members: member_count >= 1 pointers, none NULL unless the tensors are
 * empty. y may equal members[0] but must not overlap another member.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (member_count < 1, unknown mode, overlap); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_ensemble_mean_f32(const float *const *members, float *y,
                                         int64_t member_count,
                                         int64_t outer, int64_t n, int64_t inner,
                                         smk_ensemble_mode mode);
/* As smk_ensemble_mean_f32, in double precision. */
SMK_API smk_status smk_ensemble_mean_f64(const double *const *members, double *y,
                                         int64_t member_count,
                                         int64_t outer, int64_t n, int64_t inner,
                                         smk_ensemble_mode mode);

/* ------------------------------------------------------------------------ */
/* Selection: argmax, hardmax, top-k, fused softmax + top-k                  */
/* ------------------------------------------------------------------------ */

/* Order used by every selection: larger first; NaN ranks above every number
 * (as numpy's argmax and torch.topk); ties go to the lower index, so the
 * first maximum wins. */

/* index[o * inner + i] = the position along n of the first maximum of fibre
 * (o, :, i). index: outer * inner int64_t values; must not overlap x.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT (n == 0
 * with a non-empty result: argmax of nothing, negative extent, overlap);
 * SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_argmax_f32(const float *x, int64_t *index,
                                  int64_t outer, int64_t n, int64_t inner);
/* As smk_argmax_f32, in double precision. */
SMK_API smk_status smk_argmax_f64(const double *x, int64_t *index,
                                  int64_t outer, int64_t n, int64_t inner);

/* y = one-hot of each fibre's argmax (ONNX Hardmax): 1 at the first
 * maximum, 0 elsewhere. x, y: outer * n * inner elements; y may equal x.
 * Returns SMK_OK, SMK_ERROR_NULL_POINTER, SMK_ERROR_INVALID_ARGUMENT,
 * SMK_ERROR_SIZE_OVERFLOW or SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_hardmax_f32(const float *x, float *y,
                                   int64_t outer, int64_t n, int64_t inner);
/* As smk_hardmax_f32, in double precision. */
SMK_API smk_status smk_hardmax_f64(const double *x, double *y,
                                   int64_t outer, int64_t n, int64_t inner);

/* The k first elements of each fibre in the order above: values and their
 * positions along n, both laid out (outer, k, inner) as torch.topk along the
 * axis. 0 <= k <= n. values and indices must not overlap x or each other.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT (k < 0,
 * k > n, overlap, negative extent); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_topk_f32(const float *x, float *values, int64_t *indices,
                                int64_t outer, int64_t n, int64_t inner, int64_t k);
/* As smk_topk_f32, in double precision. */
SMK_API smk_status smk_topk_f64(const double *x, double *values, int64_t *indices,
                                int64_t outer, int64_t n, int64_t inner, int64_t k);

/* Fused softmax + top-k: the softmax probabilities (temperature T) of the k
 * largest logits of each fibre and their positions, sorted descending,
 * (outer, k, inner), without writing the full softmax: over the last axis
 * one pass computes the normalizer online (Milakov & Gimelshein, "Online
 * normalizer calculation for softmax", 2018) while keeping the k
 * candidates; over a middle axis (k <= 16) two passes run down the columns,
 * the first for each column's max and a candidate floor. Equals
 * smk_softmax_f32 followed by smk_topk_f32 up to rounding. A fibre with a
 * NaN gives NaN probabilities (its indices in smk_topk_f32's order, NaN
 * first); an all -inf fibre gives NaN.
 * Arguments and statuses as smk_topk_f32, plus temperature (as
 * smk_softmax_f32: finite, > 0 and not subnormal;
 * SMK_ERROR_INVALID_ARGUMENT otherwise, checked after the pointers). */
SMK_API smk_status smk_softmax_topk_f32(const float *x, float *probs, int64_t *indices,
                                        int64_t outer, int64_t n, int64_t inner, int64_t k,
                                        float temperature);
/* As smk_softmax_topk_f32, in double precision. */
SMK_API smk_status smk_softmax_topk_f64(const double *x, double *probs, int64_t *indices,
                                        int64_t outer, int64_t n, int64_t inner, int64_t k,
                                        double temperature);

/* ------------------------------------------------------------------------ */
/* Sampling: draws from logits with temperature, top-k, top-p, min-p, mask   */
/* ------------------------------------------------------------------------ */

/* Options of smk_sample_f32. Fill with smk_sample_options_init, then change
 * fields: `size` lets later versions append fields without breaking callers
 * compiled against this header (sizeof == 64 on every platform with 8-byte
 * int64_t alignment). */
typedef struct smk_sample_options {
    uint64_t size;        /* sizeof(smk_sample_options), set by smk_sample_options_init */
    double temperature;   /* > 0, or 0 for greedy (argmax); default 1 */
    int64_t top_k;        /* keep the top_k largest; 0 (default) = off; >= n keeps all */
    double top_p;         /* nucleus mass in (0, 1]; 1 (default) = off */
    double min_p;         /* in [0, 1]; drop p < min_p * max p; 0 (default) = off */
    int64_t num_samples;  /* draws per fibre, >= 1; default 1 */
    uint64_t row_offset;  /* stream row of fibre 0 of this call; default 0 */
    int32_t replacement;  /* 1 (default): with replacement; 0: distinct draws */
} smk_sample_options;

/* Sets *options to the defaults (size = sizeof(smk_sample_options),
 * temperature 1, top_k 0, top_p 1, min_p 0, num_samples 1, row_offset 0,
 * replacement 1). NULL is ignored. Thread-safe. */
SMK_API void smk_sample_options_init(smk_sample_options *options);

/* Draws options->num_samples indices per fibre (o, :, i) of the logits, as
 * torch.multinomial / Hugging Face generate do after their logits warpers.
 * Per fibre, in this order:
 *   1. positions whose mask byte is 0 take no part (whatever their logit);
 *   2. temperature 0 is greedy: every draw is the first maximum (argmax);
 *      without replacement, the num_samples first in smk_topk_f32's order;
 *      top_k, top_p and min_p do not change it; log-probabilities are 0;
 *   3. w_j = exp((x_j - m) / temperature), m the fibre's maximum;
 *   4. top_k keeps the top_k largest (ties to the lower index);
 *   5. top_p keeps the smallest set of the largest w whose mass reaches
 *      top_p of the total (at least one; ties to the lower index; "reaches"
 *      allows 16 units of rounding of the type, so that probabilities meant
 *      to sum exactly to top_p do);
 *   6. min_p drops w_j < min_p * max w (less 4 units of rounding of the
 *      type, so that min_p 1 keeps the largest);
 *   7. each draw takes a uniform u (below) and returns the first kept
 *      position, in index order, whose running sum of w exceeds u * W, W
 *      the kept mass (running sums in double, per fibre). Without
 *      replacement, each draw removes its position from the kept set
 *      (sequential sampling: the distribution of Gumbel-top-k).
 * A fibre with nothing to draw from (n == 0, every position masked or -inf,
 * a NaN among its unmasked logits, or +inf unless greedy) gets index -1 and
 * log-probability NaN for every draw, as do draws without replacement past
 * the positions of nonzero weight: one bad fibre never fails the call.
 * log_probs (if not NULL) receives the log-probability of each drawn index
 * under the distribution it was drawn from: (x_j - m) / temperature -
 * log(W), W the kept mass still in play.
 *
 * The random stream is Philox-4x32-10 (Salmon et al., SC 2011; Random123's
 * philox4x32_10), one block per draw:
 *   key     = { seed & 0xffffffff, seed >> 32 }
 *   counter = { d & 0xffffffff, d >> 32, r & 0xffffffff, r >> 32 }
 *   u       = (((uint64_t)out[1] << 32 | out[0]) >> 11) * 2^-53   in [0, 1)
 * with d the draw's index in its fibre (0 ... num_samples - 1) and r the
 * stream row, options->row_offset + o * inner + i. Draws depend on nothing
 * else: not on the thread count, nor on whether a fibre is sampled alone
 * (with row_offset set to its row) or in a batch, nor on the surface (C,
 * Python, Swift share this code). Weights are rounded in the input's type,
 * so another implementation of the stream agrees except for draws within
 * rounding of a boundary between two positions.
 *
 * logits: outer * n * inner values. mask: NULL (mask_count 0), or
 * mask_count bytes, nonzero = takes part: outer * n * inner (full) or n
 * (one pattern for every fibre). indices: outer * num_samples * inner
 * int64_t, laid out (outer, num_samples, inner). log_probs: NULL or as many
 * values, laid out likewise. Outputs must not overlap the inputs or each
 * other. options: NULL for the defaults. seed: any value. Allocates one
 * fibre's scratch per thread (about 2n values; 3n with top_p and no
 * top_k), on the stack for short fibres.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH
 * (mask_count is neither n nor outer * n * inner);
 * SMK_ERROR_INVALID_ARGUMENT (temperature negative or not finite, or whose
 * reciprocal is not finite; top_k < 0; top_p outside (0, 1] or NaN; min_p
 * outside [0, 1] or NaN; num_samples < 1; replacement not 0/1; without
 * replacement, num_samples above n or above top_k; options->size too
 * small; overlap; negative extent); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. Nothing is written on failure. Thread-safe:
 * the generator has no state. */
SMK_API smk_status smk_sample_f32(const float *logits, const uint8_t *mask,
                                  int64_t *indices, float *log_probs,
                                  int64_t outer, int64_t n, int64_t inner,
                                  int64_t mask_count,
                                  const smk_sample_options *options, uint64_t seed);
/* As smk_sample_f32, in double precision (weights in double). */
SMK_API smk_status smk_sample_f64(const double *logits, const uint8_t *mask,
                                  int64_t *indices, double *log_probs,
                                  int64_t outer, int64_t n, int64_t inner,
                                  int64_t mask_count,
                                  const smk_sample_options *options, uint64_t seed);

/* ------------------------------------------------------------------------ */
/* Losses: cross-entropy, NLL, binary cross-entropy with logits              */
/* ------------------------------------------------------------------------ */

/* How per-sample losses are combined (PyTorch's reduction=). */
typedef enum smk_reduction {
    SMK_REDUCTION_NONE = 0, /* one loss per sample */
    SMK_REDUCTION_MEAN = 1, /* weighted mean (see each loss) */
    SMK_REDUCTION_SUM = 2   /* sum */
} smk_reduction;

/* Options of the class losses. Fill with smk_loss_options_init, then change
 * fields: `size` lets later versions append fields without breaking
 * callers compiled against this header. */
typedef struct smk_loss_options {
    uint64_t size;          /* sizeof(smk_loss_options), set by smk_loss_options_init */
    int64_t ignore_index;   /* class-index targets equal to this are skipped; default -100 */
    double label_smoothing; /* in [0, 1]; default 0; cross-entropy only */
    int32_t reduction;      /* an smk_reduction; default SMK_REDUCTION_MEAN */
} smk_loss_options;

/* Sets *options to PyTorch's defaults (size = sizeof(smk_loss_options),
 * ignore_index -100, label_smoothing 0, reduction mean). NULL is ignored. */
SMK_API void smk_loss_options_init(smk_loss_options *options);

/* Cross-entropy from logits with class-index targets, as PyTorch's
 * F.cross_entropy. The class axis is n: [B, C] is (B, C, 1) and
 * [B, C, d1, ...] is (B, C, d1 * ...); sample r = o * inner + i has target
 * target[r]. With lsm = log_softmax over C, w = weight (all 1 if NULL),
 * e = label_smoothing:
 *   loss_r = (1 - e) w_t (-lsm_t) + (e / C) sum_c w_c (-lsm_c),
 *   0 for target[r] == ignore_index;
 *   mean = sum_r loss_r / sum_{r not ignored} w_{target[r]} (NaN when every
 *   target is ignored), sum = sum_r loss_r, none = each loss_r.
 * If dlogits is not NULL it receives d loss / d logits (outer * n * inner
 * values; for reduction none the gradient of the sum): for sample r,
 * Q softmax(x)_c - q_c with q_c the weight of -lsm_c above and Q = sum q_c,
 * divided by the mean's denominator for reduction mean; 0 for ignored
 * samples. loss and dlogits are separate buffers: neither may overlap an
 * input (logits, target, weight) or the other.
 *
 * logits: outer * n * inner. target: outer * inner int64_t, each in [0, n)
 * or ignore_index. weight: NULL or n values. loss: outer * inner values
 * (none) or 1. options: NULL for the defaults.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE (a
 * target outside [0, n) that is not ignore_index); SMK_ERROR_INVALID_ARGUMENT
 * (label_smoothing outside [0, 1] or NaN, unknown reduction, options->size
 * too small, overlap, negative extent); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. Nothing is written on failure. */
SMK_API smk_status smk_cross_entropy_f32(const float *logits, const int64_t *target,
                                         const float *weight, float *loss, float *dlogits,
                                         int64_t outer, int64_t n, int64_t inner,
                                         const smk_loss_options *options);
/* As smk_cross_entropy_f32, in double precision. */
SMK_API smk_status smk_cross_entropy_f64(const double *logits, const int64_t *target,
                                         const double *weight, double *loss, double *dlogits,
                                         int64_t outer, int64_t n, int64_t inner,
                                         const smk_loss_options *options);

/* Cross-entropy with probability targets (same extents as the logits), as
 * F.cross_entropy with a float target: with p' = (1 - e) p + e / C,
 *   loss_r = sum_c w_c p'_c (-lsm_c);  mean = sum_r loss_r / (outer * inner).
 * ignore_index does not apply. dlogits as smk_cross_entropy_f32 with
 * q_c = w_c p'_c. Arguments and statuses as smk_cross_entropy_f32 (no
 * SMK_ERROR_INDEX_OUT_OF_RANGE). */
SMK_API smk_status smk_cross_entropy_probs_f32(const float *logits, const float *target,
                                               const float *weight, float *loss, float *dlogits,
                                               int64_t outer, int64_t n, int64_t inner,
                                               const smk_loss_options *options);
/* As smk_cross_entropy_probs_f32, in double precision. */
SMK_API smk_status smk_cross_entropy_probs_f64(const double *logits, const double *target,
                                               const double *weight, double *loss, double *dlogits,
                                               int64_t outer, int64_t n, int64_t inner,
                                               const smk_loss_options *options);

/* Negative log-likelihood of log-probabilities, as F.nll_loss:
 * loss_r = -w_t log_probs[o, t, i]; reductions and ignore_index as
 * smk_cross_entropy_f32; options->label_smoothing must be 0. loss must not
 * overlap log_probs, target or weight.
 * Arguments and statuses as smk_cross_entropy_f32, without dlogits. */
SMK_API smk_status smk_nll_loss_f32(const float *log_probs, const int64_t *target,
                                    const float *weight, float *loss,
                                    int64_t outer, int64_t n, int64_t inner,
                                    const smk_loss_options *options);
/* As smk_nll_loss_f32, in double precision. */
SMK_API smk_status smk_nll_loss_f64(const double *log_probs, const int64_t *target,
                                    const double *weight, double *loss,
                                    int64_t outer, int64_t n, int64_t inner,
                                    const smk_loss_options *options);

/* Binary cross-entropy with logits, element-wise over `count` elements, as
 * F.binary_cross_entropy_with_logits:
 *   loss_j = w_j [(1 - y_j) x_j + (1 + (p_c - 1) y_j)(log1p(exp(-|x_j|)) + max(-x_j, 0))]
 * with c = j % classes (pos_weight runs along the last axis). With finite
 * inputs it is evaluated in double in a form where nothing cancels, so every
 * digit holds for any |x| and any pos_weight: with l_j = (1 - y_j) + p_c y_j
 * (1 without pos_weight), w_j [(1 - y_j) x_j + l_j log1p(exp(-x_j))] for
 * x_j >= 0 and w_j [-p_c y_j x_j + l_j log1p(exp(x_j))] for x_j < 0;
 * infinities and NaN give what the formula above gives. mean divides by
 * count (NaN for count 0).
 * logits, target: count values. weight: NULL or count values (broadcast it
 * first). pos_weight: NULL or `classes` values; then classes must divide
 * count. loss: count values (SMK_REDUCTION_NONE) or 1, a separate buffer:
 * it must not overlap logits, target, weight or pos_weight.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_SHAPE_MISMATCH (pos_weight
 * given and classes does not divide count, classes 0 included);
 * SMK_ERROR_INVALID_ARGUMENT (negative count or classes, unknown reduction:
 * classes is checked even without pos_weight; loss overlapping an input);
 * SMK_ERROR_SIZE_OVERFLOW. Nothing is written on failure. */
SMK_API smk_status smk_binary_cross_entropy_with_logits_f32(const float *logits, const float *target,
                                                            const float *weight, const float *pos_weight,
                                                            float *loss, int64_t count, int64_t classes,
                                                            smk_reduction reduction);
/* As smk_binary_cross_entropy_with_logits_f32, in double precision. */
SMK_API smk_status smk_binary_cross_entropy_with_logits_f64(const double *logits, const double *target,
                                                            const double *weight, const double *pos_weight,
                                                            double *loss, int64_t count, int64_t classes,
                                                            smk_reduction reduction);

/* ------------------------------------------------------------------------ */
/* Backward: vector-Jacobian products                                        */
/* ------------------------------------------------------------------------ */

/* dx = y * (dy - sum_j dy_j y_j) over n, given y = softmax(x) (PyTorch's
 * _softmax_backward_data). y, dy, dx: outer * n * inner elements; dx may
 * equal y or dy. Returns SMK_OK; SMK_ERROR_NULL_POINTER;
 * SMK_ERROR_INVALID_ARGUMENT (negative extent, partial overlap);
 * SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY. */
SMK_API smk_status smk_softmax_backward_f32(const float *y, const float *dy, float *dx,
                                            int64_t outer, int64_t n, int64_t inner);
/* As smk_softmax_backward_f32, in double precision. */
SMK_API smk_status smk_softmax_backward_f64(const double *y, const double *dy, double *dx,
                                            int64_t outer, int64_t n, int64_t inner);

/* dx = dy - exp(y) * sum_j dy_j over n, given y = log_softmax(x).
 * Arguments and statuses as smk_softmax_backward_f32. */
SMK_API smk_status smk_log_softmax_backward_f32(const float *y, const float *dy, float *dx,
                                                int64_t outer, int64_t n, int64_t inner);
/* As smk_log_softmax_backward_f32, in double precision. */
SMK_API smk_status smk_log_softmax_backward_f64(const double *y, const double *dy, double *dx,
                                                int64_t outer, int64_t n, int64_t inner);

/* dx = dy * y * (1 - y) element-wise over `count`, given y = sigmoid(x).
 * dx may equal y or dy. Statuses as smk_sigmoid_f32. */
SMK_API smk_status smk_sigmoid_backward_f32(const float *y, const float *dy, float *dx, int64_t count);
/* As smk_sigmoid_backward_f32, in double precision. */
SMK_API smk_status smk_sigmoid_backward_f64(const double *y, const double *dy, double *dx, int64_t count);

/* ------------------------------------------------------------------------ */
/* Models                                                                    */
/* ------------------------------------------------------------------------ */

/* A multi-head network of dense layers y = act(x W^T + b), loaded from a
 * safetensors file or built from weights in memory. Immutable once created:
 * smk_model_forward may run on many threads at once on one model (each call
 * uses its own scratch memory). Runs in float32 (float64 weights are rounded
 * once at load; F16 and BF16 are widened).
 *
 * The file format (schema version 1): tensors named as a PyTorch state_dict
 * names them, layer L using "L.weight" [out, in] and optionally "L.bias"
 * [out]; the architecture as JSON under the key "softmaxkit" of the file's
 * __metadata__:
 *   {"softmaxkit": 1, "input": {"features": 10},
 *    "layers": [{"name": "fc1", "input": "input", "activation": "relu"}, ...],
 *    "heads": [{"name": "action", "layer": "out", "output": "softmax"}, ...]}
 * Layer activations: identity (default), relu, tanh, sigmoid, gelu (erf),
 * gelu_tanh, silu; "input" is "input" or an earlier layer. Head outputs:
 * identity, softmax, log_softmax (optional "temperature": finite, > 0 and a
 * normal float32, as the float kernels take it), sigmoid,
 * masked_softmax ("mask" 0/1 list, "renormalize" default true),
 * partitioned ("segments" [[width, activation], ...]), hierarchical
 * ("coarse" layer, "fine" layer list: the joint P(k) P(j | k)).
 *
 * Sequence models. A layer's "kind" is "dense" (the default), "lstm", "gru"
 * or "embedding". "lstm" / "gru" are PyTorch's nn.LSTM / nn.GRU with
 * batch_first=True and zero initial state: optional "units" (H),
 * "num_layers" (default 1), "bidirectional" (default false), "sequence"
 * (default true: every step's output [batch, steps, H * directions]; false:
 * the final hidden state [batch, H * directions], for a bidirectional layer
 * the forward state after the last valid step then the backward state after
 * step 0). Tensors as a state_dict names them: "L.weight_ih_l{k}" [G*H, in],
 * "L.weight_hh_l{k}" [G*H, H], "L.bias_ih_l{k}", "L.bias_hh_l{k}" [G*H]
 * (both or neither), and the same with "_reverse"; G = 4 for LSTM (gates i,
 * f, g, o), 3 for GRU (r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn))).
 * proj_size is not supported. "embedding": "L.weight" [V, D], reading the
 * model's token ids; such a model says "input": {"vocabulary": V} and runs
 * with smk_model_forward_ids. A dense layer after a per-step layer runs on
 * every step; with "step": i it reads one step (as rnn[:, i, :]; negative
 * counts from the end; with lengths, from each row's last valid step). Heads
 * on per-step layers give [batch, steps, size] (smk_model_head_per_step
 * says 1), the others [batch, size].
 * docs/DESIGN.md documents the schema in full. */
typedef struct smk_model smk_model;

/* A model being assembled from weights held in memory (smk_model_builder_*). */
typedef struct smk_model_builder smk_model_builder;

/* Loads the safetensors model file at `path` into *model_out. Everything is
 * validated before a byte is trusted: header length (past the end or over
 * 100 MB), UTF-8 and JSON, duplicate names, dtypes, overlapping or
 * out-of-range offsets, byte counts, shape overflow, missing or unused
 * tensors, layers whose shapes do not chain, unknown layers and cycles,
 * names holding NUL (names compare as their UTF-8 bytes: no Unicode
 * normalization), float64 weights outside float32's range, partition
 * widths that do not sum to their layer's width. Only the header and the
 * tensor bytes it points at are read: memory stays near the model's size
 * plus the header's, whatever follows. A path that is not a regular file
 * (a FIFO, a device, a directory) is refused without blocking.
 * The caller owns the model and frees it with smk_model_free.
 * path: a NUL-terminated file name. model_out: receives the handle; left
 * untouched on failure.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (path or model_out NULL);
 * SMK_ERROR_IO (cannot open or read the file); SMK_ERROR_FORMAT (malformed
 * file or spec, missing tensor: the message names the key or tensor);
 * SMK_ERROR_SHAPE_MISMATCH (shapes that do not chain, mask or segment widths
 * that do not match their layer); SMK_ERROR_OUT_OF_MEMORY. Thread-safe. */
SMK_API smk_status smk_model_load(const char *path, smk_model **model_out);

/* As smk_model_load, from the `size` bytes of a safetensors file at `data`
 * (copied: the caller may free `data` on return). `spec_json`, when not NULL,
 * is the architecture as JSON and replaces the file's own metadata (a "side
 * file"); with NULL the file's "softmaxkit" metadata is used.
 * data may be NULL only when size is 0 (which is then SMK_ERROR_FORMAT:
 * truncated). Statuses as smk_model_load without SMK_ERROR_IO, plus
 * SMK_ERROR_INVALID_ARGUMENT for a negative size. */
SMK_API smk_status smk_model_load_memory(const void *data, int64_t size,
                                         const char *spec_json,
                                         smk_model **model_out);

/* As smk_model_load, with `spec_json` (when not NULL) as the architecture in
 * place of the file's own "softmaxkit" metadata (a "side file" spec, as
 * smk_model_load_memory takes it). Only the header and the tensor bytes it
 * points at are read, as by smk_model_load: use this rather than reading a
 * file whole for smk_model_load_memory. With NULL, as smk_model_load.
 * The caller owns the model and frees it with smk_model_free.
 * model_out: receives the handle; left untouched on failure.
 * Returns the statuses of smk_model_load, plus SMK_ERROR_INVALID_ARGUMENT
 * (path or spec_json not UTF-8). Thread-safe. */
SMK_API smk_status smk_model_load_spec(const char *path, const char *spec_json,
                                       smk_model **model_out);

/* Starts a builder for programs that hold their weights in memory:
 * `spec_json` is the architecture (the JSON described above). Add each
 * tensor with smk_model_builder_add_f32/_f64, then smk_model_builder_build.
 * The caller owns the builder and frees it with smk_model_builder_free.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_FORMAT (bad spec,
 * naming the key); SMK_ERROR_INVALID_ARGUMENT (spec_json not UTF-8).
 * A builder must not be used by two threads at once. */
SMK_API smk_status smk_model_builder_create(const char *spec_json,
                                            smk_model_builder **builder_out);

/* Adds (or replaces) the tensor `name` with shape[0..rank) and the
 * row-major values data[0..prod(shape)), copied. rank is 0..8; shape may be
 * NULL only when rank is 0; data may be NULL only when the product is 0.
 * Names compare as their UTF-8 bytes: a name that differs from one already
 * added only in Unicode normalization is refused, not merged.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative dimension, rank out of range, name not UTF-8, name
 * canonically equivalent to another's);
 * SMK_ERROR_SIZE_OVERFLOW (shape product overflows). */
SMK_API smk_status smk_model_builder_add_f32(smk_model_builder *builder,
                                             const char *name,
                                             const float *data,
                                             const int64_t *shape, int64_t rank);
/* As smk_model_builder_add_f32 for double values (kept in double until the
 * model is built). */
SMK_API smk_status smk_model_builder_add_f64(smk_model_builder *builder,
                                             const char *name,
                                             const double *data,
                                             const int64_t *shape, int64_t rank);

/* Builds a model from the builder's spec and tensors into *model_out (the
 * builder stays valid and unchanged). The caller frees the model with
 * smk_model_free. Statuses as smk_model_load, without SMK_ERROR_IO. */
SMK_API smk_status smk_model_builder_build(const smk_model_builder *builder,
                                           smk_model **model_out);

/* Frees a builder. NULL is accepted and ignored. */
SMK_API void smk_model_builder_free(smk_model_builder *builder);

/* Frees a model. NULL is accepted and ignored. An ensemble holding the
 * model keeps it alive until the ensemble is freed. Must not race with
 * calls that use the same handle. */
SMK_API void smk_model_free(smk_model *model);

/* The number of input features F (the last input dimension) into
 * *features_out. Returns SMK_OK or SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_input_features(const smk_model *model,
                                            int64_t *features_out);

/* The vocabulary V of a model whose input is token ids ("input":
 * {"vocabulary": V}) into *vocabulary_out; 0 for a model of float features
 * (whose smk_model_input_features is then > 0; an id model's is 0).
 * Returns SMK_OK or SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_input_vocabulary(const smk_model *model,
                                              int64_t *vocabulary_out);

/* The number of weights and biases into *count_out. Returns SMK_OK or
 * SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_parameter_count(const smk_model *model,
                                             int64_t *count_out);

/* The number of heads into *count_out; heads are numbered 0..count-1 in
 * spec order, the order of smk_model_forward's outputs. Returns SMK_OK or
 * SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_head_count(const smk_model *model,
                                        int64_t *count_out);

/* The name of head `head` into *name_out: a NUL-terminated string owned by
 * the model, valid until smk_model_free. Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE. Thread-safe. */
SMK_API smk_status smk_model_head_name(const smk_model *model, int64_t head,
                                       const char **name_out);

/* The values per row of head `head` into *size_out: its output for an input
 * of R = batch * steps rows holds R * size floats (batch * size when
 * smk_model_head_per_step gives 0). Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE. Thread-safe. */
SMK_API smk_status smk_model_head_size(const smk_model *model, int64_t head,
                                       int64_t *size_out);

/* Whether head `head` gives one output row per step into *per_step_out: 1
 * when its output for batch sequences of steps steps is
 * [batch, steps, size] (every head of a dense-only model; heads on a
 * recurrent layer's every-step output), 0 when it is [batch, size] (heads on
 * a final state or a selected step). Returns SMK_OK; SMK_ERROR_NULL_POINTER;
 * SMK_ERROR_INDEX_OUT_OF_RANGE. Thread-safe. */
SMK_API smk_status smk_model_head_per_step(const smk_model *model, int64_t head,
                                           int32_t *per_step_out);

/* The model's architecture as compact JSON (the "softmaxkit" metadata) into
 * *json_out: owned by the model, valid until smk_model_free. Returns SMK_OK
 * or SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_spec_json(const smk_model *model,
                                       const char **json_out);

/* Buffer convention of the functions below that fill a caller's buffer
 * (smk_model_tensor_shape, smk_model_tensor_data, smk_model_serialize):
 * they take (buffer, capacity) and a size out-pointer that always receives
 * the count the full result needs (the rank, or a byte count). A NULL
 * buffer with capacity 0 is a size query: SMK_OK, nothing written. A buffer
 * smaller than the result gives SMK_ERROR_SHAPE_MISMATCH with the needed
 * count stored and the buffer untouched. The size out-pointer must not lie
 * inside the buffer (SMK_ERROR_INVALID_ARGUMENT). */

/* Element types of a model's stored tensors (smk_model_tensor_dtype, which
 * gives F32 or F64 only) and of the buffers of smk_model_forward_typed. */
typedef enum smk_dtype {
    SMK_DTYPE_F32 = 0, /* float; also F16 and BF16 file tensors, widened at load */
    SMK_DTYPE_F64 = 1, /* double, kept as given until the model rounds it */
    SMK_DTYPE_F16 = 2, /* smk_f16: IEEE binary16 */
    SMK_DTYPE_BF16 = 3 /* smk_bf16: bfloat16 */
} smk_dtype;

/* The number of stored tensors into *count_out. Tensors are numbered
 * 0..count-1 in the order smk_model_serialize writes them: spec order, each
 * layer's weight then its bias. Returns SMK_OK or SMK_ERROR_NULL_POINTER.
 * Thread-safe. */
SMK_API smk_status smk_model_tensor_count(const smk_model *model,
                                          int64_t *count_out);

/* The name of tensor `tensor` ("fc1.weight") into *name_out: a
 * NUL-terminated string owned by the model, valid until smk_model_free.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE.
 * Thread-safe. */
SMK_API smk_status smk_model_tensor_name(const smk_model *model, int64_t tensor,
                                         const char **name_out);

/* The element type of tensor `tensor` into *dtype_out. Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE. Thread-safe. */
SMK_API smk_status smk_model_tensor_dtype(const smk_model *model, int64_t tensor,
                                          smk_dtype *dtype_out);

/* The dimensions of tensor `tensor` into shape[0..rank), its rank into
 * *rank_out, by the buffer convention above (capacity counts int64_t).
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (model or rank_out NULL, shape
 * NULL with capacity > 0); SMK_ERROR_INVALID_ARGUMENT (negative capacity,
 * rank_out inside shape); SMK_ERROR_INDEX_OUT_OF_RANGE;
 * SMK_ERROR_SHAPE_MISMATCH (capacity below the rank). Thread-safe. */
SMK_API smk_status smk_model_tensor_shape(const smk_model *model, int64_t tensor,
                                          int64_t *shape, int64_t capacity,
                                          int64_t *rank_out);

/* Copies the values of tensor `tensor` (row-major, native byte order, of
 * its smk_dtype) into data[0..size) bytes, the byte count into *size_out,
 * by the buffer convention above (capacity counts bytes). Statuses as
 * smk_model_tensor_shape. Thread-safe. */
SMK_API smk_status smk_model_tensor_data(const smk_model *model, int64_t tensor,
                                         void *data, int64_t capacity,
                                         int64_t *size_out);

/* The model as the bytes of a safetensors file into data[0..size), the byte
 * count into *size_out, by the buffer convention above: its tensors in
 * their stored precision (F32 or F64) in smk_model_tensor order, and the
 * architecture (smk_model_spec_json) under the "softmaxkit" metadata key.
 * smk_model_load_memory reads the bytes back to an equal model. Each call
 * serializes anew, so a size query costs as much as the copy.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (model or size_out NULL, data NULL
 * with capacity > 0); SMK_ERROR_INVALID_ARGUMENT (negative capacity,
 * size_out inside data); SMK_ERROR_SHAPE_MISMATCH (capacity below the byte
 * count). Thread-safe. */
SMK_API smk_status smk_model_serialize(const smk_model *model, void *data,
                                       int64_t capacity, int64_t *size_out);

/* Writes smk_model_serialize's bytes to the file at `path`, creating or
 * replacing it. Returns SMK_OK; SMK_ERROR_NULL_POINTER (model or path
 * NULL); SMK_ERROR_INVALID_ARGUMENT (path not UTF-8); SMK_ERROR_IO (cannot
 * create or write the file: the message names the path and the reason; a
 * partly written file may remain). Thread-safe on the model; two saves to
 * one path race as any two writers do. */
SMK_API smk_status smk_model_save(const smk_model *model, const char *path);

/* Runs every layer once and every head on x, C-contiguous
 * [batch, steps, features] (pass steps = 1 for [batch, features]; every
 * step is a row, so per-timestep heads come out [batch, steps, size]).
 * outputs[h] receives head h's batch * steps * size floats, or batch * size
 * for a head whose smk_model_head_per_step is 0 (sizes from
 * smk_model_head_size); output_count must equal the head count. A sequence
 * model runs its recurrent layers over the steps in order. Outputs
 * must not overlap x or each other (checked). NaN in x propagates; it is not an error.
 * All arguments are checked before anything is written: on failure the
 * outputs are untouched. x may be NULL only when batch * steps * features
 * is 0; outputs[h] only when its size is 0.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative batch, steps or features; an output overlapping x or another
 * output); SMK_ERROR_SHAPE_MISMATCH (features
 * differs from the model's, output_count differs from the head count, a
 * layer's "step" outside [-steps, steps), naming the layer);
 * SMK_ERROR_INVALID_ARGUMENT also for a model of token ids;
 * SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY (scratch).
 * Thread-safe: any number of threads may run forward on one model at once. */
SMK_API smk_status smk_model_forward(const smk_model *model, const float *x,
                                     int64_t batch, int64_t steps,
                                     int64_t features,
                                     float *const *outputs,
                                     int64_t output_count);

/* As smk_model_forward with per-row lengths: lengths[b] (b < batch, each in
 * [0, steps]) steps of row b are valid, the rest padding. Recurrent layers do
 * not advance on padding (PyTorch's pack_padded_sequence: the backward
 * direction starts at the row's last valid step); per-step outputs at
 * padding steps are exactly 0 (log_softmax heads: -inf); final-state heads
 * read the state after the row's last valid step (zero for a zero length).
 * lengths NULL: every row has all steps (smk_model_forward). On a dense-only
 * model the padding rows are computed, then set as above.
 * Returns smk_model_forward's statuses, plus SMK_ERROR_INVALID_ARGUMENT for
 * a length outside [0, steps] (naming the row). Thread-safe. */
SMK_API smk_status smk_model_forward_lengths(const smk_model *model,
                                             const float *x, int64_t batch,
                                             int64_t steps, int64_t features,
                                             const int64_t *lengths,
                                             float *const *outputs,
                                             int64_t output_count);

/* Forward of a model of token ids (smk_model_input_vocabulary > 0) on ids,
 * C-contiguous [batch, steps], each in [0, vocabulary) (steps = 1 for one
 * step). lengths: as smk_model_forward_lengths, or NULL; ids at padding
 * steps are not read. outputs as smk_model_forward. All arguments are checked
 * before anything is written. ids may be NULL only when batch * steps is 0.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT (a
 * model of float features, negative batch or steps, an id outside
 * [0, vocabulary) naming its row and step, a length outside [0, steps],
 * overlapping buffers); SMK_ERROR_SHAPE_MISMATCH (output_count, a layer's
 * step outside the input); SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY.
 * Thread-safe. */
SMK_API smk_status smk_model_forward_ids(const smk_model *model,
                                         const int64_t *ids, int64_t batch,
                                         int64_t steps, const int64_t *lengths,
                                         float *const *outputs,
                                         int64_t output_count);

/* The carried state of a model run one step at a time (smk_model_step):
 * each recurrent layer's hidden (and LSTM cell) state for a fixed batch. */
typedef struct smk_model_state smk_model_state;

/* Creates a zero state for running `batch` rows of `model` one step at a
 * time into *state_out. The caller owns it and frees it with
 * smk_model_state_free; it keeps the model alive and belongs to it and to
 * this batch size. A dense-only model has an empty state (smk_model_step is
 * then smk_model_forward on one step). Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT (negative batch);
 * SMK_ERROR_UNSUPPORTED (a bidirectional layer, whose backward direction
 * starts from the end of a sequence a stream has not seen, or a dense layer
 * reading a "step" counted from the end other than -1; the message names
 * the layer); SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY. Thread-safe. */
SMK_API smk_status smk_model_state_create(const smk_model *model, int64_t batch,
                                          smk_model_state **state_out);

/* Sets `state` back to zero (the start of a new sequence). Returns SMK_OK or
 * SMK_ERROR_NULL_POINTER. Not thread-safe on one state. */
SMK_API smk_status smk_model_state_reset(smk_model_state *state);

/* Frees a state from smk_model_state_create; NULL is a no-op. */
SMK_API void smk_model_state_free(smk_model_state *state);

/* Runs one step x_t, C-contiguous [batch, features], from `state` and
 * advances it: outputs[h] receives head h's batch * size floats for this step
 * (per-step heads: this step's row; final-state heads: the state after it).
 * T calls give the values of smk_model_forward over the T steps within
 * float32 rounding.
 * Heads on a selected step (a dense layer with "step": i) have a value at
 * one tick only: a step-i head (i >= 0) at the call that consumes step i
 * (the (i+1)-th call after create or reset), equal to smk_model_forward's
 * value for any sequence of at least i + 1 steps; a step -1 head (the newest
 * step) at every call. At the other calls such a head is not ready: its
 * output holds NaN and smk_model_state_head_ready reports 0.
 * All arguments are checked before the outputs or the
 * state are written. Returns SMK_OK; SMK_ERROR_NULL_POINTER;
 * SMK_ERROR_INVALID_ARGUMENT (negative sizes, overlapping buffers, a model
 * of token ids); SMK_ERROR_SHAPE_MISMATCH (a state of another model or
 * batch size, features, output_count); SMK_ERROR_SIZE_OVERFLOW;
 * SMK_ERROR_OUT_OF_MEMORY. Thread-safe on the model; a state is used by one
 * thread at a time. */
SMK_API smk_status smk_model_step(const smk_model *model, smk_model_state *state,
                                  const float *x_t, int64_t batch,
                                  int64_t features, float *const *outputs,
                                  int64_t output_count);

/* As smk_model_step for a model of token ids (smk_model_input_vocabulary >
 * 0): ids holds batch ids, each in [0, vocabulary). Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT (a model of float
 * features, an id outside [0, vocabulary) naming its row, overlapping
 * buffers); SMK_ERROR_SHAPE_MISMATCH (a state of another model or batch size,
 * output_count); SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY. Nothing is
 * written on error. Thread-safe on the model; a state is used by one thread
 * at a time. */
SMK_API smk_status smk_model_step_ids(const smk_model *model,
                                      smk_model_state *state,
                                      const int64_t *ids, int64_t batch,
                                      float *const *outputs,
                                      int64_t output_count);

/* Whether the last step on `state` (smk_model_step, smk_model_step_ids,
 * smk_ensemble_step, smk_ensemble_step_ids) gave head `head` a value:
 * *ready_out is 1, or 0 before the first step after create or reset and at
 * the ticks a selected-step head has no value (its output then holds NaN).
 * Works on model and ensemble states. Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE (head not in
 * [0, head count)). Not thread-safe on one state. */
SMK_API smk_status smk_model_state_head_ready(const smk_model_state *state,
                                              int64_t head, int32_t *ready_out);
/* Forward with some heads sampled in the same call (smk_sample_f32 on each
 * such head's values), the others written as smk_model_forward writes them.
 * sample_options: NULL (nothing sampled: smk_model_forward_lengths) or
 * output_count entries; entry h NULL leaves head h unsampled, else head h
 * draws with those options (from smk_sample_options_init). What is sampled:
 *   softmax / log_softmax heads: the head's layer values (its logits) with
 *     temperature options->temperature * the head's "temperature";
 *   masked_softmax heads: the layer values with the head's mask as the
 *     sampling mask (renormalized or not, a draw is conditional on the kept
 *     positions);
 *   identity, sigmoid, partitioned, hierarchical heads: SMK_ERROR_UNSUPPORTED.
 * One fibre per output row: row r = b * steps + t of a per-step head
 * (smk_model_head_per_step 1), r = b otherwise. The stream: head h (its
 * index in the model, 0 ... head count - 1) draws from stream rows
 * h * 2^48 + options->row_offset + r (mod 2^64) under `seed`, so head h's
 * draws equal smk_sample_f32 on its values (outer = rows, n = head size,
 * inner = 1) with row_offset = h * 2^48 + options->row_offset and the
 * temperature above. Padding steps (lengths) of per-step heads get index -1
 * and log-probability NaN.
 * For a sampled head h: indices[h] receives rows * num_samples int64_t,
 * laid out [batch, (steps,) num_samples]; log_probs (NULL, or a table whose
 * entry h may be NULL) receives as many floats; outputs[h] may be NULL, or
 * receives the head's output values too. For a head not sampled, indices[h]
 * and log_probs[h] are not read (indices may be NULL when nothing is
 * sampled). Other arguments as smk_model_forward_lengths. Buffers must not
 * overlap x or each other (checked). All arguments, options included, are
 * checked before anything is written; only SMK_ERROR_OUT_OF_MEMORY while
 * drawing can leave the outputs of unsampled heads written. The caller owns
 * every buffer; nothing is kept after the call.
 * Returns smk_model_forward_lengths' statuses and smk_sample_f32's for the
 * options (the message names the head); SMK_ERROR_UNSUPPORTED (a head that
 * is not softmax-like); SMK_ERROR_INVALID_ARGUMENT also when options->
 * temperature times the head's temperature is not finite. Thread-safe. */
SMK_API smk_status smk_model_forward_sampled(const smk_model *model,
                                             const float *x, int64_t batch,
                                             int64_t steps, int64_t features,
                                             const int64_t *lengths,
                                             const smk_sample_options *const *sample_options,
                                             uint64_t seed, float *const *outputs,
                                             int64_t *const *indices,
                                             float *const *log_probs,
                                             int64_t output_count);

/* smk_model_forward_ids with sampled heads: arguments, draws and statuses
 * as smk_model_forward_ids and smk_model_forward_sampled. Thread-safe. */
SMK_API smk_status smk_model_forward_ids_sampled(const smk_model *model,
                                                 const int64_t *ids, int64_t batch,
                                                 int64_t steps, const int64_t *lengths,
                                                 const smk_sample_options *const *sample_options,
                                                 uint64_t seed, float *const *outputs,
                                                 int64_t *const *indices,
                                                 float *const *log_probs,
                                                 int64_t output_count);

/* smk_model_step with sampled heads (as smk_model_forward_sampled, one row
 * per state row: indices [batch, num_samples]). Each call draws from the
 * same stream rows: move options->row_offset (e.g. t * batch at step t) or
 * the seed from step to step. Statuses as smk_model_step and
 * smk_model_forward_sampled. Thread-safe on the model; a state is used by
 * one thread at a time. */
SMK_API smk_status smk_model_step_sampled(const smk_model *model, smk_model_state *state,
                                          const float *x_t, int64_t batch,
                                          int64_t features,
                                          const smk_sample_options *const *sample_options,
                                          uint64_t seed, float *const *outputs,
                                          int64_t *const *indices,
                                          float *const *log_probs,
                                          int64_t output_count);

/* ------------------------------------------------------------------------ */
/* Ensembles                                                                 */
/* ------------------------------------------------------------------------ */

/* Several models with the same input and the same heads, averaged head by
 * head. Immutable; forward is thread-safe like smk_model_forward. */
typedef struct smk_ensemble smk_ensemble;

/* An ensemble averages with the smk_ensemble_mode of smk_ensemble_mean_*,
 * head by head:
 *   SMK_ENSEMBLE_ARITHMETIC: mean of the outputs (log-space outputs: mean of
 *     the probabilities, logged);
 *   SMK_ENSEMBLE_GEOMETRIC: exp(mean log p) renormalized per row for
 *     softmax-like heads, g1 / (g1 + g0) for sigmoid outputs, identity
 *     outputs averaged;
 *   SMK_ENSEMBLE_LOGITS: mean of each head's layer values (logits) across
 *     models, then the head's output transform. */

/* Creates an ensemble of models[0..count) into *ensemble_out. The ensemble
 * keeps its own references: the caller may free the models afterwards.
 * Sequence models (recurrent, embedding, selected steps) ensemble too: the
 * members must take the same input (features, or token ids of the same
 * vocabulary) and have the same heads, each per step or per sequence in all.
 * Free the ensemble with smk_ensemble_free. `mode` is an smk_ensemble_mode
 * value passed as int.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (models or one of its entries
 * NULL, ensemble_out NULL); SMK_ERROR_INVALID_ARGUMENT (count 0 or negative,
 * unknown mode); SMK_ERROR_SHAPE_MISMATCH (models differ in their input or
 * in their heads' names, kinds, sizes, parameters or per-step rows). */
SMK_API smk_status smk_ensemble_create(const smk_model *const *models,
                                       int64_t count, int mode,
                                       smk_ensemble **ensemble_out);

/* The member model `index` into *model_out, borrowed: valid until
 * smk_ensemble_free, never freed by the caller. Use it for head queries
 * (smk_model_head_count, _name, _size). Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE. */
SMK_API smk_status smk_ensemble_model(const smk_ensemble *ensemble,
                                      int64_t index,
                                      const smk_model **model_out);

/* As smk_model_forward, writing each head's averaged output. Same
 * arguments, statuses and thread safety. */
SMK_API smk_status smk_ensemble_forward(const smk_ensemble *ensemble,
                                        const float *x, int64_t batch,
                                        int64_t steps, int64_t features,
                                        float *const *outputs,
                                        int64_t output_count);

/* As smk_model_forward_lengths on every member, then averaged head by head
 * as smk_ensemble_forward; the padding steps of per-step heads are then set
 * to exactly 0 (log_softmax heads: -inf) as a model sets them. Same
 * arguments, statuses and thread safety as smk_model_forward_lengths. */
SMK_API smk_status smk_ensemble_forward_lengths(const smk_ensemble *ensemble,
                                                const float *x, int64_t batch,
                                                int64_t steps,
                                                int64_t features,
                                                const int64_t *lengths,
                                                float *const *outputs,
                                                int64_t output_count);

/* As smk_model_forward_ids on every member of an ensemble of token-id
 * models, then averaged as smk_ensemble_forward_lengths. Same arguments,
 * statuses and thread safety as smk_model_forward_ids. */
SMK_API smk_status smk_ensemble_forward_ids(const smk_ensemble *ensemble,
                                            const int64_t *ids, int64_t batch,
                                            int64_t steps,
                                            const int64_t *lengths,
                                            float *const *outputs,
                                            int64_t output_count);

/* Creates a zero streaming state for the ensemble (one state per member)
 * into *state_out, for `batch` rows. It is an smk_model_state: reset it with
 * smk_model_state_reset, query it with smk_model_state_head_ready, free it
 * with smk_model_state_free (the caller owns it); it keeps the ensemble
 * alive and belongs to it and to this batch size (smk_model_step refuses it
 * with SMK_ERROR_SHAPE_MISMATCH). Returns smk_model_state_create's statuses
 * (the message names the member that cannot stream). Thread-safe. */
SMK_API smk_status smk_ensemble_state_create(const smk_ensemble *ensemble,
                                             int64_t batch,
                                             smk_model_state **state_out);

/* Runs one step x_t, C-contiguous [batch, features], of every member from
 * `state` (from smk_ensemble_state_create) and writes the average of the
 * members' step outputs, as smk_ensemble_forward averages; T calls give
 * smk_ensemble_forward over the T steps within float32 rounding. A head is
 * ready when it is ready in every member (see smk_model_step), else its
 * output holds NaN. Same arguments and statuses as smk_model_step (a state
 * of a model or of another ensemble: SMK_ERROR_SHAPE_MISMATCH). Thread-safe
 * on the ensemble; a state is used by one thread at a time. */
SMK_API smk_status smk_ensemble_step(const smk_ensemble *ensemble,
                                     smk_model_state *state, const float *x_t,
                                     int64_t batch, int64_t features,
                                     float *const *outputs,
                                     int64_t output_count);

/* As smk_ensemble_step for an ensemble of token-id models: ids holds batch
 * ids in [0, vocabulary). Same statuses as smk_model_step_ids. */
SMK_API smk_status smk_ensemble_step_ids(const smk_ensemble *ensemble,
                                         smk_model_state *state,
                                         const int64_t *ids, int64_t batch,
                                         float *const *outputs,
                                         int64_t output_count);

/* smk_ensemble_forward with sampled heads, drawn from the combined
 * distribution: head h's values are the log of its averaged output (a
 * log_softmax head's output as is), sampled with options->temperature (the
 * members' head temperatures are already in the output); positions of
 * probability 0 are never drawn. Arguments, stream rows and statuses as
 * smk_model_forward_sampled without lengths (with lengths, on token ids and
 * per step: smk_ensemble_forward_lengths_sampled,
 * smk_ensemble_forward_ids_sampled, smk_ensemble_step_sampled below).
 * Thread-safe. */
SMK_API smk_status smk_ensemble_forward_sampled(const smk_ensemble *ensemble,
                                                const float *x, int64_t batch,
                                                int64_t steps, int64_t features,
                                                const smk_sample_options *const *sample_options,
                                                uint64_t seed, float *const *outputs,
                                                int64_t *const *indices,
                                                float *const *log_probs,
                                                int64_t output_count);

/* Frees an ensemble (and its references to its models). NULL is accepted. */
SMK_API void smk_ensemble_free(smk_ensemble *ensemble);

/* smk_ensemble_forward_lengths with sampled heads: head h is drawn from the
 * combined distribution as smk_ensemble_forward_sampled draws it, from
 * stream rows h * 2^48 + options->row_offset + r (r = b * steps + t for a
 * per-step head, b otherwise). lengths NULL: every row runs all steps.
 * Padding steps of per-step heads get index -1 and log-probability NaN.
 * Arguments, buffers, ownership (the caller owns every buffer; nothing is
 * kept) and statuses as smk_model_forward_sampled. Thread-safe. */
SMK_API smk_status smk_ensemble_forward_lengths_sampled(const smk_ensemble *ensemble,
                                                        const float *x, int64_t batch,
                                                        int64_t steps, int64_t features,
                                                        const int64_t *lengths,
                                                        const smk_sample_options *const *sample_options,
                                                        uint64_t seed, float *const *outputs,
                                                        int64_t *const *indices,
                                                        float *const *log_probs,
                                                        int64_t output_count);

/* smk_ensemble_forward_ids with sampled heads (an ensemble of token-id
 * models): arguments as smk_ensemble_forward_ids, draws as
 * smk_ensemble_forward_lengths_sampled, statuses as
 * smk_model_forward_ids_sampled (SMK_ERROR_INVALID_ARGUMENT for an ensemble
 * of float input). Thread-safe. */
SMK_API smk_status smk_ensemble_forward_ids_sampled(const smk_ensemble *ensemble,
                                                    const int64_t *ids, int64_t batch,
                                                    int64_t steps, const int64_t *lengths,
                                                    const smk_sample_options *const *sample_options,
                                                    uint64_t seed, float *const *outputs,
                                                    int64_t *const *indices,
                                                    float *const *log_probs,
                                                    int64_t output_count);

/* smk_ensemble_step with sampled heads: one draw row per state row
 * (indices [batch, num_samples]), drawn from the combined step output as
 * smk_ensemble_forward_sampled draws. A head not ready at this tick gets
 * index -1 and log-probability NaN. Each call draws from the same stream
 * rows: move options->row_offset (e.g. t * batch at step t) or the seed
 * from step to step. Statuses as smk_ensemble_step and
 * smk_model_forward_sampled; nothing is written and the state does not
 * advance when an argument or option is refused. Thread-safe on the
 * ensemble; a state is used by one thread at a time. */
SMK_API smk_status smk_ensemble_step_sampled(const smk_ensemble *ensemble,
                                             smk_model_state *state,
                                             const float *x_t, int64_t batch,
                                             int64_t features,
                                             const smk_sample_options *const *sample_options,
                                             uint64_t seed, float *const *outputs,
                                             int64_t *const *indices,
                                             float *const *log_probs,
                                             int64_t output_count);

/* Loads an ensemble from its JSON manifest at `path` (what smk_ensemble_save
 * and the Python binding write):
 *   {"softmaxkit_ensemble": 1, "mode": "arithmetic" | "geometric" | "logits",
 *    "members": [{"path": "e.member0.safetensors", "sha256": "<64 hex>"}, ...],
 *    "padding_id": 0}
 * "mode" defaults to arithmetic; a member is a path or {"path", "sha256"}
 * ("sha256" optional, checked against the file's bytes when present);
 * "padding_id" is optional (smk_ensemble_padding_id). Member paths are
 * relative to the manifest's folder and must stay inside it: absolute
 * paths, ".." or empty components, backslashes and control characters are
 * refused. At most 1024 members and 1 MiB of manifest; unknown or duplicate
 * keys are refused. Each member loads as smk_model_load loads it (a FIFO,
 * device or directory is refused without blocking). The caller owns the
 * ensemble and frees it with smk_ensemble_free; its members are reached
 * with smk_ensemble_model. ensemble_out is left untouched on failure.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (path or ensemble_out NULL);
 * SMK_ERROR_INVALID_ARGUMENT (path not UTF-8); SMK_ERROR_IO (the manifest
 * or a member cannot be read or is not a regular file); SMK_ERROR_FORMAT
 * (not such a manifest, a bad key or value, a member path that leaves the
 * folder, a member whose SHA-256 differs, a member that is not a model
 * file, a padding id outside the vocabulary); SMK_ERROR_SHAPE_MISMATCH
 * (members that do not form an ensemble); SMK_ERROR_OUT_OF_MEMORY. Every
 * message names the manifest and the member. Thread-safe. */
SMK_API smk_status smk_ensemble_load(const char *path, smk_ensemble **ensemble_out);

/* Writes the ensemble as a manifest at `path` (format as smk_ensemble_load)
 * and each member k as STEM.member<k>.safetensors beside it (STEM: path
 * without a final ".json", then without a final ".ensemble"), replacing
 * files of those names; the manifest is written last and names the members
 * by file name with their SHA-256. padding_id: -1 writes none, else the id
 * (in [0, vocabulary) of an ensemble of token-id models) written as
 * "padding_id" (smk_ensemble_padding_id gives a loaded ensemble's).
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (ensemble or path NULL);
 * SMK_ERROR_INVALID_ARGUMENT (path not UTF-8; padding_id below -1, outside
 * the vocabulary, or given for an ensemble of float input); SMK_ERROR_IO
 * (a file cannot be written: the message names it; files written before it
 * remain). Thread-safe on the ensemble; two saves to one path race as any
 * two writers do. */
SMK_API smk_status smk_ensemble_save(const smk_ensemble *ensemble, const char *path,
                                     int64_t padding_id);

/* The ensemble's padding id into *padding_id_out: the one its manifest
 * held (smk_ensemble_load), else its members' own (smk_model_padding_id)
 * when they all have the same, else -1.
 * The library does not apply it: pass each row's count of steps before its
 * trailing padding ids as lengths. Returns SMK_OK or
 * SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_ensemble_padding_id(const smk_ensemble *ensemble,
                                           int64_t *padding_id_out);

/* The number of member models into *count_out (smk_ensemble_model takes
 * indices below it). Returns SMK_OK or SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_ensemble_model_count(const smk_ensemble *ensemble,
                                            int64_t *count_out);

/* The ensemble's smk_ensemble_mode into *mode_out (as int32_t). Returns
 * SMK_OK or SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_ensemble_get_mode(const smk_ensemble *ensemble,
                                         int32_t *mode_out);

/* The ensemble as a Graphviz DOT graph: one cluster per member (its
 * smk_model_dot graph, node ids prefixed "m<k>:"), the shared input, and
 * each combined head ("ensemble:<name>", labelled with the mode) with an
 * edge from every member's head. Buffer convention, statuses and thread
 * safety as smk_model_dot; the same ensemble always gives the same text. */
SMK_API smk_status smk_ensemble_dot(const smk_ensemble *ensemble, char *dot,
                                    int64_t capacity, int64_t *size_out);

/* The padding id of a model of token ids whose spec holds one
 * ("input": {"vocabulary": V, "padding_id": P}, kept in the model file;
 * the Keras import writes 0 for Embedding(mask_zero=True)) into
 * *padding_id_out, else -1. The library does not apply it by itself: pass
 * smk_padding_lengths' lengths to the forward calls (the Python binding does
 * for a call on ids without lengths). Returns SMK_OK or
 * SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_padding_id(const smk_model *model, int64_t *padding_id_out);

/* lengths[b] = the count of steps of row b of ids ([batch, steps],
 * C-contiguous) before its trailing padding_id entries: the lengths a
 * padding mask on those ids implies. A padding id followed by another id in
 * its row cannot be expressed as a length: SMK_ERROR_INVALID_ARGUMENT naming
 * the first such [row, step]. lengths (batch values) must not overlap ids
 * (checked); nothing is written on failure; the caller owns both buffers.
 * ids may be NULL only when batch * steps is 0, lengths only when batch is 0.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative batch, steps or padding_id; overlap; padding inside a row);
 * SMK_ERROR_SIZE_OVERFLOW. Thread-safe. */
SMK_API smk_status smk_padding_lengths(const int64_t *ids, int64_t batch, int64_t steps,
                                       int64_t padding_id, int64_t *lengths);

/* ------------------------------------------------------------------------ */
/* Model graph                                                               */
/* ------------------------------------------------------------------------ */

/* The model's layer and head tree as a Graphviz DOT graph (the input, every
 * layer with its kind, widths, activation and recurrent options, every head
 * with its transform and size, an edge from what each reads), as UTF-8 text
 * with a terminating NUL, into `dot` (capacity bytes), under the buffer
 * convention above: *size_out receives the byte count the text needs,
 * NUL included. The same model always gives the same text. Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER (model or size_out NULL, or dot NULL with capacity
 * > 0); SMK_ERROR_INVALID_ARGUMENT (negative capacity, size_out inside the
 * buffer); SMK_ERROR_SHAPE_MISMATCH (buffer too short, needed size stored,
 * buffer untouched). Thread-safe. */
SMK_API smk_status smk_model_dot(const smk_model *model, char *dot,
                                 int64_t capacity, int64_t *size_out);

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

/* Sets how many threads one kernel call may use (the calling thread
 * included), for the whole process. n < 1 restores the default: the
 * environment variable SOFTMAXKIT_NUM_THREADS if it holds a positive integer,
 * else the number of cores the process may run on (its CPU affinity mask, as
 * OpenMP counts them; the online cores where there is none). Values above
 * 1024 are clamped.
 * Only calls touching at least 2^19 elements are split; smaller calls always
 * run on the calling thread. Results do not depend on the thread count (bit
 * for bit). A call made while another is using the worker threads runs on
 * its own thread. Thread-safe; never fails. */
SMK_API void smk_set_num_threads(int32_t n);

/* The number of threads one kernel call may use (>= 1). Thread-safe. */
SMK_API int32_t smk_get_num_threads(void);

/* ------------------------------------------------------------------------ */
/* Half precision: float16 and bfloat16                                      */
/* ------------------------------------------------------------------------ */

/* 16-bit floating-point storage. smk_f16 holds the bits of an IEEE 754
 * binary16 (max 65504, subnormals down to 2^-24), smk_bf16 those of a
 * bfloat16 (the upper half of a float32). Two distinct struct types, so
 * that passing one where the other is expected does not compile; both are
 * two bytes, with the layout of uint16_t (an array of _Float16 / __bf16 /
 * torch.float16 / numpy float16 / ml_dtypes.bfloat16 values may be passed
 * by casting its pointer).
 *
 * The _f16 and _bf16 functions below read their half inputs as float32,
 * compute as the _f32 function of the same name (every sum and max in
 * float32 or wider), and round each half output once, to nearest even, into
 * the input's type; temperatures, weights and losses are float32. A block
 * of rows at a time is widened into per-thread float32 scratch that stays
 * in cache; so besides the _f32 function's statuses, any of them may return
 * SMK_ERROR_OUT_OF_MEMORY for that scratch (before anything is written).
 * Reentrant and thread-safe as the _f32 functions. */
typedef struct smk_f16 { uint16_t bits; } smk_f16;
typedef struct smk_bf16 { uint16_t bits; } smk_bf16;

/* y[i] = x[i] widened to float32 (exact), count elements. y must not share
 * a byte with x. Returns SMK_OK; SMK_ERROR_NULL_POINTER (x or y NULL with
 * count > 0); SMK_ERROR_INVALID_ARGUMENT (count < 0, overlap);
 * SMK_ERROR_SIZE_OVERFLOW (count too large to address). Nothing is written
 * on failure. Uses F16C (vcvtph2ps) where the loaded CPU path has it. */
SMK_API smk_status smk_half_to_float_f16(const smk_f16 *x, float *y, int64_t count);
/* As smk_half_to_float_f16, for bfloat16 (a 16-bit shift). */
SMK_API smk_status smk_half_to_float_bf16(const smk_bf16 *x, float *y, int64_t count);

/* y[i] = x[i] rounded to nearest even, count elements: NaN stays a quiet NaN
 * with its sign, a value beyond the type's range becomes an infinity
 * (float16: |x| >= 65520), values below the smallest normal become
 * subnormals or a signed zero. Arguments and statuses as
 * smk_half_to_float_f16 (F16C's vcvtps2ph where available). */
SMK_API smk_status smk_half_from_float_f16(const float *x, smk_f16 *y, int64_t count);
/* As smk_half_from_float_f16, into bfloat16. */
SMK_API smk_status smk_half_from_float_bf16(const float *x, smk_bf16 *y, int64_t count);

/* Model and ensemble forwards with typed buffers: the input x and the
 * outputs each hold SMK_DTYPE_F32 (float), SMK_DTYPE_F16 (smk_f16) or
 * SMK_DTYPE_BF16 (smk_bf16) elements, as x_dtype and output_dtype say (all
 * outputs of a call share output_dtype). The weights and the computation
 * stay float32: a half input is widened to float32 exactly, the forward runs
 * as smk_model_forward does, and each output is rounded once, to nearest
 * even, into output_dtype. So a half input gives bit for bit the float32
 * outputs of its widening, and a half output is the float32 output rounded
 * (NaN stays NaN, -inf padding stays -inf, a head that is not ready at a
 * streaming tick holds NaN). Half buffers cost a float32 copy of that side
 * for the call (freed before it returns).
 * x: C-contiguous [batch, steps, features] elements of x_dtype; outputs[h]:
 * head h's elements of output_dtype, counted as smk_model_forward counts
 * them. lengths: as smk_model_forward_lengths, or NULL (every row has all
 * steps). The caller owns every buffer; none is kept after the call.
 * All arguments are checked before anything is written: on failure the
 * outputs are untouched. No output may share a byte with x or another
 * output (checked).
 * Returns smk_model_forward_lengths' statuses, plus
 * SMK_ERROR_INVALID_ARGUMENT for an x_dtype or output_dtype that is not
 * SMK_DTYPE_F32, SMK_DTYPE_F16 or SMK_DTYPE_BF16 (SMK_DTYPE_F64 included).
 * Models of token ids use smk_model_forward_ids (float32 outputs; round
 * them with smk_half_from_float_f16 / _bf16). Thread-safe, as
 * smk_model_forward. */
SMK_API smk_status smk_model_forward_typed(const smk_model *model,
                                           const void *x, smk_dtype x_dtype,
                                           int64_t batch, int64_t steps,
                                           int64_t features,
                                           const int64_t *lengths,
                                           void *const *outputs,
                                           smk_dtype output_dtype,
                                           int64_t output_count);

/* smk_model_step with typed buffers: x_t [batch, features] of x_dtype,
 * outputs of output_dtype, widened and rounded as smk_model_forward_typed.
 * Arguments and statuses as smk_model_step, plus
 * SMK_ERROR_INVALID_ARGUMENT for a bad x_dtype or output_dtype; nothing
 * (outputs or state) is written on error. Thread-safe on the model; a state
 * is used by one thread at a time. */
SMK_API smk_status smk_model_step_typed(const smk_model *model,
                                        smk_model_state *state,
                                        const void *x_t, smk_dtype x_dtype,
                                        int64_t batch, int64_t features,
                                        void *const *outputs,
                                        smk_dtype output_dtype,
                                        int64_t output_count);

/* smk_ensemble_forward (lengths NULL) or smk_ensemble_forward_lengths with
 * typed buffers, as smk_model_forward_typed: the members' combined float32
 * outputs rounded once into output_dtype. Same arguments, statuses and
 * thread safety as smk_model_forward_typed. */
SMK_API smk_status smk_ensemble_forward_typed(const smk_ensemble *ensemble,
                                              const void *x, smk_dtype x_dtype,
                                              int64_t batch, int64_t steps,
                                              int64_t features,
                                              const int64_t *lengths,
                                              void *const *outputs,
                                              smk_dtype output_dtype,
                                              int64_t output_count);

/* smk_ensemble_step with typed buffers, as smk_model_step_typed. Same
 * statuses as smk_ensemble_step plus SMK_ERROR_INVALID_ARGUMENT for a bad
 * dtype. Thread-safe on the ensemble; a state is used by one thread at a
 * time. */
SMK_API smk_status smk_ensemble_step_typed(const smk_ensemble *ensemble,
                                           smk_model_state *state,
                                           const void *x_t, smk_dtype x_dtype,
                                           int64_t batch, int64_t features,
                                           void *const *outputs,
                                           smk_dtype output_dtype,
                                           int64_t output_count);

/* smk_softmax_f32 on float16 / bfloat16: x and y as there (y may equal x),
 * the probabilities rounded once into y's type (a probability below the
 * type's smallest subnormal becomes 0). Same edge cases and statuses. */
SMK_API smk_status smk_softmax_f16(const smk_f16 *x, smk_f16 *y,
                                   int64_t outer, int64_t n, int64_t inner, float temperature);
/* As smk_softmax_f16, for bfloat16. */
SMK_API smk_status smk_softmax_bf16(const smk_bf16 *x, smk_bf16 *y,
                                    int64_t outer, int64_t n, int64_t inner, float temperature);
/* smk_log_softmax_f32 on float16 / bfloat16 (see smk_softmax_f16). */
SMK_API smk_status smk_log_softmax_f16(const smk_f16 *x, smk_f16 *y,
                                       int64_t outer, int64_t n, int64_t inner, float temperature);
/* As smk_log_softmax_f16, for bfloat16. */
SMK_API smk_status smk_log_softmax_bf16(const smk_bf16 *x, smk_bf16 *y,
                                        int64_t outer, int64_t n, int64_t inner, float temperature);
/* smk_logsumexp_f32 on float16 / bfloat16: y (outer * inner values, the
 * input's type) may start at x but not overlap it otherwise. A result
 * beyond float16's range is an infinity. */
SMK_API smk_status smk_logsumexp_f16(const smk_f16 *x, smk_f16 *y,
                                     int64_t outer, int64_t n, int64_t inner);
/* As smk_logsumexp_f16, for bfloat16. */
SMK_API smk_status smk_logsumexp_bf16(const smk_bf16 *x, smk_bf16 *y,
                                      int64_t outer, int64_t n, int64_t inner);
/* smk_softmax_topk_f32 on float16 / bfloat16: probs in the input's type,
 * indices int64_t; same arguments, order and statuses. Ties of the half
 * inputs keep smk_topk_f32's order (lower index first). */
SMK_API smk_status smk_softmax_topk_f16(const smk_f16 *x, smk_f16 *probs, int64_t *indices,
                                        int64_t outer, int64_t n, int64_t inner, int64_t k,
                                        float temperature);
/* As smk_softmax_topk_f16, for bfloat16. */
SMK_API smk_status smk_softmax_topk_bf16(const smk_bf16 *x, smk_bf16 *probs, int64_t *indices,
                                         int64_t outer, int64_t n, int64_t inner, int64_t k,
                                         float temperature);
/* smk_cross_entropy_f32 on float16 / bfloat16 logits with class-index
 * targets: weight (NULL or n values) and loss are float32; dlogits (NULL,
 * or outer * n * inner values) is in the logits' type, rounded once. The
 * mean and sum add the per-sample losses in double. Same arguments, options
 * and statuses. */
SMK_API smk_status smk_cross_entropy_f16(const smk_f16 *logits, const int64_t *target,
                                         const float *weight, float *loss, smk_f16 *dlogits,
                                         int64_t outer, int64_t n, int64_t inner,
                                         const smk_loss_options *options);
/* As smk_cross_entropy_f16, for bfloat16 logits. */
SMK_API smk_status smk_cross_entropy_bf16(const smk_bf16 *logits, const int64_t *target,
                                          const float *weight, float *loss, smk_bf16 *dlogits,
                                          int64_t outer, int64_t n, int64_t inner,
                                          const smk_loss_options *options);

/* smk_sigmoid_f32 / smk_log_sigmoid_f32 on float16 / bfloat16: count
 * elements, y may equal x (no other overlap), each result rounded once into
 * the input's type (sigmoid saturates to exactly 0 and 1, a log-sigmoid
 * below the type's smallest subnormal in magnitude becomes -0). Same
 * arguments and statuses. */
SMK_API smk_status smk_sigmoid_f16(const smk_f16 *x, smk_f16 *y, int64_t count);
/* As smk_sigmoid_f16, for bfloat16. */
SMK_API smk_status smk_sigmoid_bf16(const smk_bf16 *x, smk_bf16 *y, int64_t count);
/* smk_log_sigmoid_f32 on float16 / bfloat16 (see smk_sigmoid_f16). */
SMK_API smk_status smk_log_sigmoid_f16(const smk_f16 *x, smk_f16 *y, int64_t count);
/* As smk_log_sigmoid_f16, for bfloat16. */
SMK_API smk_status smk_log_sigmoid_bf16(const smk_bf16 *x, smk_bf16 *y, int64_t count);

/* smk_masked_softmax_f32 on float16 / bfloat16: x and y in the half type
 * (y may equal x), the mask as there (uint8_t, full-shape or one n-long
 * pattern, not overlapping y), renormalize 0 or 1. Unselected positions
 * are exactly 0, a fully masked fibre all 0. Same statuses. */
SMK_API smk_status smk_masked_softmax_f16(const smk_f16 *x, const uint8_t *mask, smk_f16 *y,
                                          int64_t outer, int64_t n, int64_t inner,
                                          int64_t mask_count, int renormalize);
/* As smk_masked_softmax_f16, for bfloat16. */
SMK_API smk_status smk_masked_softmax_bf16(const smk_bf16 *x, const uint8_t *mask, smk_bf16 *y,
                                           int64_t outer, int64_t n, int64_t inner,
                                           int64_t mask_count, int renormalize);
/* smk_masked_log_softmax_f32 on float16 / bfloat16 (see
 * smk_masked_softmax_f16): unselected and fully masked positions are -inf. */
SMK_API smk_status smk_masked_log_softmax_f16(const smk_f16 *x, const uint8_t *mask, smk_f16 *y,
                                              int64_t outer, int64_t n, int64_t inner,
                                              int64_t mask_count);
/* As smk_masked_log_softmax_f16, for bfloat16. */
SMK_API smk_status smk_masked_log_softmax_bf16(const smk_bf16 *x, const uint8_t *mask, smk_bf16 *y,
                                               int64_t outer, int64_t n, int64_t inner,
                                               int64_t mask_count);

/* smk_argmax_f32 on float16 / bfloat16: index (outer * inner int64_t
 * values, not overlapping x) of each fibre's first maximum, NaN first, in
 * the order of the half values (widening keeps it exactly). Same statuses. */
SMK_API smk_status smk_argmax_f16(const smk_f16 *x, int64_t *index,
                                  int64_t outer, int64_t n, int64_t inner);
/* As smk_argmax_f16, for bfloat16. */
SMK_API smk_status smk_argmax_bf16(const smk_bf16 *x, int64_t *index,
                                   int64_t outer, int64_t n, int64_t inner);
/* smk_topk_f32 on float16 / bfloat16: values in the input's type (the
 * input elements themselves, bit for bit), indices int64_t, both
 * (outer, k, inner); same order, arguments and statuses. */
SMK_API smk_status smk_topk_f16(const smk_f16 *x, smk_f16 *values, int64_t *indices,
                                int64_t outer, int64_t n, int64_t inner, int64_t k);
/* As smk_topk_f16, for bfloat16. */
SMK_API smk_status smk_topk_bf16(const smk_bf16 *x, smk_bf16 *values, int64_t *indices,
                                 int64_t outer, int64_t n, int64_t inner, int64_t k);

/* Half precision for the structured operations: hardmax, partitioned
 * activations, segment softmax, hierarchical softmax and masked softmax /
 * log-softmax with per-fibre lengths. Each reads its half inputs as
 * float32, runs the _f32 function of the same name on them and rounds each
 * output once into the input's type (see the smk_f16 section above): same
 * arguments, edge cases, aliasing rules and statuses as that function, plus
 * SMK_ERROR_OUT_OF_MEMORY for the block scratch. Reentrant and thread-safe;
 * the caller owns every buffer. */

/* smk_hardmax_f32 on float16 / bfloat16: exactly 1 at each fibre's first
 * maximum (NaN first, in the half values' order), exactly 0 elsewhere;
 * y may equal x. */
SMK_API smk_status smk_hardmax_f16(const smk_f16 *x, smk_f16 *y,
                                   int64_t outer, int64_t n, int64_t inner);
/* As smk_hardmax_f16, for bfloat16. */
SMK_API smk_status smk_hardmax_bf16(const smk_bf16 *x, smk_bf16 *y,
                                    int64_t outer, int64_t n, int64_t inner);
/* smk_partitioned_f32 on float16 / bfloat16: layout (smk_partition structs,
 * read only, copied before use) as there; y may equal x. softmax,
 * log_softmax, sigmoid and tanh segments are computed in float32 and rounded once (a log_softmax near 0 is summed
 * again in double, so that it too is within an ulp of the half result).
 * identity segments keep their values (a signaling NaN comes back quiet). */
SMK_API smk_status smk_partitioned_f16(const smk_f16 *x, const smk_partition *layout, smk_f16 *y,
                                       int64_t outer, int64_t n, int64_t inner,
                                       int64_t layout_count);
/* As smk_partitioned_f16, for bfloat16. */
SMK_API smk_status smk_partitioned_bf16(const smk_bf16 *x, const smk_partition *layout, smk_bf16 *y,
                                        int64_t outer, int64_t n, int64_t inner,
                                        int64_t layout_count);
/* smk_segment_softmax_f32 on float16 / bfloat16: offsets (offset_count
 * int64_t values, read only) as there; y may equal x. Unlike the _f32
 * function it takes per-thread scratch (SMK_ERROR_OUT_OF_MEMORY). */
SMK_API smk_status smk_segment_softmax_f16(const smk_f16 *x, const int64_t *offsets, smk_f16 *y,
                                           int64_t outer, int64_t n, int64_t inner,
                                           int64_t offset_count);
/* As smk_segment_softmax_f16, for bfloat16. */
SMK_API smk_status smk_segment_softmax_bf16(const smk_bf16 *x, const int64_t *offsets, smk_bf16 *y,
                                            int64_t outer, int64_t n, int64_t inner,
                                            int64_t offset_count);
/* smk_hierarchical_softmax_f32 on float16 / bfloat16: coarse, fine and y in
 * the half type, sizes int64_t; y may equal fine and must not overlap
 * coarse. The joint probabilities are products taken in float32 and
 * rounded once (a product below the type's smallest subnormal becomes 0). */
SMK_API smk_status smk_hierarchical_softmax_f16(const smk_f16 *coarse, const smk_f16 *fine,
                                                const int64_t *sizes, smk_f16 *y,
                                                int64_t batch, int64_t groups,
                                                int64_t fine_width, int conditional);
/* As smk_hierarchical_softmax_f16, for bfloat16. */
SMK_API smk_status smk_hierarchical_softmax_bf16(const smk_bf16 *coarse, const smk_bf16 *fine,
                                                 const int64_t *sizes, smk_bf16 *y,
                                                 int64_t batch, int64_t groups,
                                                 int64_t fine_width, int conditional);
/* smk_masked_softmax_lengths_f32 on float16 / bfloat16: lengths
 * (lengths_count == outer * inner int64_t values in [0, n], read only, not
 * overlapping y) as there; y may equal x. Padding is exactly 0 whatever its
 * logits, a zero-length fibre all 0. */
SMK_API smk_status smk_masked_softmax_lengths_f16(const smk_f16 *x, const int64_t *lengths, smk_f16 *y,
                                                  int64_t outer, int64_t n, int64_t inner,
                                                  int64_t lengths_count, int renormalize);
/* As smk_masked_softmax_lengths_f16, for bfloat16. */
SMK_API smk_status smk_masked_softmax_lengths_bf16(const smk_bf16 *x, const int64_t *lengths, smk_bf16 *y,
                                                   int64_t outer, int64_t n, int64_t inner,
                                                   int64_t lengths_count, int renormalize);
/* smk_masked_log_softmax_lengths_f32 on float16 / bfloat16 (see
 * smk_masked_softmax_lengths_f16): padding and zero-length fibres are -inf. */
SMK_API smk_status smk_masked_log_softmax_lengths_f16(const smk_f16 *x, const int64_t *lengths, smk_f16 *y,
                                                      int64_t outer, int64_t n, int64_t inner,
                                                      int64_t lengths_count);
/* As smk_masked_log_softmax_lengths_f16, for bfloat16. */
SMK_API smk_status smk_masked_log_softmax_lengths_bf16(const smk_bf16 *x, const int64_t *lengths, smk_bf16 *y,
                                                       int64_t outer, int64_t n, int64_t inner,
                                                       int64_t lengths_count);

/* Half precision, continued: the other losses, the backward kernels,
 * ensemble averaging and sampling on float16 / bfloat16. As the half
 * functions above: half inputs read as float32, the _f32 function's
 * computation (its sums in float32 or wider), each half output rounded once
 * to nearest even; weights, losses and log-probabilities are float32.
 * Besides the _f32 function's statuses, any of them may return
 * SMK_ERROR_OUT_OF_MEMORY for the float32 scratch of a block of rows. */

/* smk_nll_loss_f32 on float16 / bfloat16 log-probabilities: target int64_t,
 * weight (NULL or n values) and loss float32; the mean and sum add the
 * per-sample losses (float32) in double. Same arguments, options and
 * statuses. */
SMK_API smk_status smk_nll_loss_f16(const smk_f16 *log_probs, const int64_t *target,
                                    const float *weight, float *loss,
                                    int64_t outer, int64_t n, int64_t inner,
                                    const smk_loss_options *options);
/* As smk_nll_loss_f16, for bfloat16 log-probabilities. */
SMK_API smk_status smk_nll_loss_bf16(const smk_bf16 *log_probs, const int64_t *target,
                                     const float *weight, float *loss,
                                     int64_t outer, int64_t n, int64_t inner,
                                     const smk_loss_options *options);
/* smk_cross_entropy_probs_f32 on float16 / bfloat16: the probability
 * targets (outer * n * inner) in the logits' type, weight (NULL or n
 * values) and loss float32, dlogits (NULL, or outer * n * inner values) in
 * the logits' type, rounded once. The mean and sum add the per-sample
 * losses in double. Same arguments, options and statuses. */
SMK_API smk_status smk_cross_entropy_probs_f16(const smk_f16 *logits, const smk_f16 *target,
                                               const float *weight, float *loss, smk_f16 *dlogits,
                                               int64_t outer, int64_t n, int64_t inner,
                                               const smk_loss_options *options);
/* As smk_cross_entropy_probs_f16, for bfloat16. */
SMK_API smk_status smk_cross_entropy_probs_bf16(const smk_bf16 *logits, const smk_bf16 *target,
                                                const float *weight, float *loss, smk_bf16 *dlogits,
                                                int64_t outer, int64_t n, int64_t inner,
                                                const smk_loss_options *options);
/* smk_binary_cross_entropy_with_logits_f32 on float16 / bfloat16 logits
 * and targets (count values each, the same type); weight (NULL or count
 * values), pos_weight (NULL or classes values) and loss (count values or
 * 1) float32. The mean and sum add the per-element losses in double. Same
 * arguments and statuses. */
SMK_API smk_status smk_binary_cross_entropy_with_logits_f16(const smk_f16 *logits, const smk_f16 *target,
                                                            const float *weight, const float *pos_weight,
                                                            float *loss, int64_t count, int64_t classes,
                                                            smk_reduction reduction);
/* As smk_binary_cross_entropy_with_logits_f16, for bfloat16. */
SMK_API smk_status smk_binary_cross_entropy_with_logits_bf16(const smk_bf16 *logits, const smk_bf16 *target,
                                                             const float *weight, const float *pos_weight,
                                                             float *loss, int64_t count, int64_t classes,
                                                             smk_reduction reduction);

/* smk_softmax_backward_f32 on float16 / bfloat16: y, dy and dx in the half
 * type (dx may equal y or dy, no other overlap), dx rounded once from the
 * float32 result. Same arguments and statuses. */
SMK_API smk_status smk_softmax_backward_f16(const smk_f16 *y, const smk_f16 *dy, smk_f16 *dx,
                                            int64_t outer, int64_t n, int64_t inner);
/* As smk_softmax_backward_f16, for bfloat16. */
SMK_API smk_status smk_softmax_backward_bf16(const smk_bf16 *y, const smk_bf16 *dy, smk_bf16 *dx,
                                             int64_t outer, int64_t n, int64_t inner);
/* smk_log_softmax_backward_f32 on float16 / bfloat16 (see
 * smk_softmax_backward_f16). */
SMK_API smk_status smk_log_softmax_backward_f16(const smk_f16 *y, const smk_f16 *dy, smk_f16 *dx,
                                                int64_t outer, int64_t n, int64_t inner);
/* As smk_log_softmax_backward_f16, for bfloat16. */
SMK_API smk_status smk_log_softmax_backward_bf16(const smk_bf16 *y, const smk_bf16 *dy, smk_bf16 *dx,
                                                 int64_t outer, int64_t n, int64_t inner);
/* smk_sigmoid_backward_f32 on float16 / bfloat16: count elements, dx may
 * equal y or dy. Same arguments and statuses. */
SMK_API smk_status smk_sigmoid_backward_f16(const smk_f16 *y, const smk_f16 *dy, smk_f16 *dx, int64_t count);
/* As smk_sigmoid_backward_f16, for bfloat16. */
SMK_API smk_status smk_sigmoid_backward_bf16(const smk_bf16 *y, const smk_bf16 *dy, smk_bf16 *dx, int64_t count);

/* smk_ensemble_mean_f32 on float16 / bfloat16 members: every member and y
 * in the half type (y may equal members[0], no other overlap), y rounded
 * once from the float32 result (a geometric mean's log-probabilities and
 * the final softmax in float32). Same arguments, modes and statuses. */
SMK_API smk_status smk_ensemble_mean_f16(const smk_f16 *const *members, smk_f16 *y,
                                         int64_t member_count,
                                         int64_t outer, int64_t n, int64_t inner,
                                         smk_ensemble_mode mode);
/* As smk_ensemble_mean_f16, for bfloat16. */
SMK_API smk_status smk_ensemble_mean_bf16(const smk_bf16 *const *members, smk_bf16 *y,
                                          int64_t member_count,
                                          int64_t outer, int64_t n, int64_t inner,
                                          smk_ensemble_mode mode);

/* smk_sample_f32 on float16 / bfloat16 logits: the logits are widened to
 * float32 (exactly) and sampled as smk_sample_f32 samples them, so for the
 * same seed and options the indices and log-probabilities are those of
 * smk_sample_f32 on the widened logits, bit for bit, on every thread count.
 * log_probs (NULL, or outer * num_samples * inner values) is float32.
 * Same arguments, stream, edge cases and statuses. */
SMK_API smk_status smk_sample_f16(const smk_f16 *logits, const uint8_t *mask,
                                  int64_t *indices, float *log_probs,
                                  int64_t outer, int64_t n, int64_t inner,
                                  int64_t mask_count,
                                  const smk_sample_options *options, uint64_t seed);
/* As smk_sample_f16, for bfloat16 logits. */
SMK_API smk_status smk_sample_bf16(const smk_bf16 *logits, const uint8_t *mask,
                                   int64_t *indices, float *log_probs,
                                   int64_t outer, int64_t n, int64_t inner,
                                   int64_t mask_count,
                                   const smk_sample_options *options, uint64_t seed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTMAXKIT_H */
