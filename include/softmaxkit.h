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
 * temperature: finite and > 0 (1 for plain softmax).
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (x or y NULL with a nonzero count);
 * SMK_ERROR_INVALID_ARGUMENT (negative extent, temperature not finite or
 * <= 0, partial overlap of x and y); SMK_ERROR_SIZE_OVERFLOW (extent product
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
 * identity, softmax, log_softmax (optional "temperature"), sigmoid,
 * masked_softmax ("mask" 0/1 list, "renormalize" default true),
 * partitioned ("segments" [[width, activation], ...]), hierarchical
 * ("coarse" layer, "fine" layer list: the joint P(k) P(j | k)).
 * README.md documents the schema in full. */
typedef struct smk_model smk_model;

/* A model being assembled from weights held in memory (smk_model_builder_*). */
typedef struct smk_model_builder smk_model_builder;

/* Loads the safetensors model file at `path` into *model_out. Everything is
 * validated before a byte is trusted: header length (past the end or over
 * 100 MB), UTF-8 and JSON, duplicate names, dtypes, overlapping or
 * out-of-range offsets, byte counts, shape overflow, missing or unused
 * tensors, layers whose shapes do not chain, unknown layers and cycles.
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
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative dimension, rank out of range, name not UTF-8);
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
 * of R = batch * steps rows holds R * size floats. Returns SMK_OK;
 * SMK_ERROR_NULL_POINTER; SMK_ERROR_INDEX_OUT_OF_RANGE. Thread-safe. */
SMK_API smk_status smk_model_head_size(const smk_model *model, int64_t head,
                                       int64_t *size_out);

/* The model's architecture as compact JSON (the "softmaxkit" metadata) into
 * *json_out: owned by the model, valid until smk_model_free. Returns SMK_OK
 * or SMK_ERROR_NULL_POINTER. Thread-safe. */
SMK_API smk_status smk_model_spec_json(const smk_model *model,
                                       const char **json_out);

/* Runs every layer once and every head on x, C-contiguous
 * [batch, steps, features] (pass steps = 1 for [batch, features]; every
 * step is a row, so per-timestep heads come out [batch, steps, size]).
 * outputs[h] receives head h's batch * steps * size floats (sizes from
 * smk_model_head_size); output_count must equal the head count. Outputs
 * must not overlap x or each other (checked). NaN in x propagates; it is not an error.
 * All arguments are checked before anything is written: on failure the
 * outputs are untouched. x may be NULL only when batch * steps * features
 * is 0; outputs[h] only when its size is 0.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER; SMK_ERROR_INVALID_ARGUMENT
 * (negative batch, steps or features; an output overlapping x or another
 * output); SMK_ERROR_SHAPE_MISMATCH (features
 * differs from the model's, output_count differs from the head count);
 * SMK_ERROR_SIZE_OVERFLOW; SMK_ERROR_OUT_OF_MEMORY (scratch).
 * Thread-safe: any number of threads may run forward on one model at once. */
SMK_API smk_status smk_model_forward(const smk_model *model, const float *x,
                                     int64_t batch, int64_t steps,
                                     int64_t features,
                                     float *const *outputs,
                                     int64_t output_count);

/* ------------------------------------------------------------------------ */
/* Ensembles                                                                 */
/* ------------------------------------------------------------------------ */

/* Several models with the same input and the same heads, averaged head by
 * head. Immutable; forward is thread-safe like smk_model_forward. */
typedef struct smk_ensemble smk_ensemble;

/* How an ensemble averages. */
typedef enum smk_ensemble_mode {
    /* Mean of the outputs (log-space outputs: mean of probabilities, logged). */
    SMK_ENSEMBLE_ARITHMETIC = 0,
    /* Normalized geometric mean: exp(mean log p) renormalized per row for
     * softmax-like heads; g1 / (g1 + g0) for sigmoid outputs; identity
     * outputs averaged. */
    SMK_ENSEMBLE_GEOMETRIC = 1,
    /* Mean of each head's layer values (logits) across models, then the
     * head's output transform. */
    SMK_ENSEMBLE_LOGITS = 2
} smk_ensemble_mode;

/* Creates an ensemble of models[0..count) into *ensemble_out. The ensemble
 * keeps its own references: the caller may free the models afterwards.
 * Free the ensemble with smk_ensemble_free. `mode` is an smk_ensemble_mode
 * value passed as int.
 * Returns SMK_OK; SMK_ERROR_NULL_POINTER (models or one of its entries
 * NULL, ensemble_out NULL); SMK_ERROR_INVALID_ARGUMENT (count 0 or negative,
 * unknown mode); SMK_ERROR_SHAPE_MISMATCH (models differ in features or in
 * their heads' names, kinds, sizes or parameters). */
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

/* Frees an ensemble (and its references to its models). NULL is accepted. */
SMK_API void smk_ensemble_free(smk_ensemble *ensemble);

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
