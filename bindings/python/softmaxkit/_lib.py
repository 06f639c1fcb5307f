"""Finds and loads libsoftmaxkit, declares every C function once, checks the version.

The declarations below mirror include/softmaxkit.h one for one, in header
order; Tests/abi/check_abi.py compares them with the header and the library's
exports. A symbol missing from the library fails the import, naming it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any, Callable

from ._errors import ArgumentError, error_for

__all__ = ["lib", "library_path", "check", "fast", "DECLARATIONS", "ABI_MAJOR"]

# The major version of the C ABI this binding speaks.
ABI_MAJOR = 0

_c = ctypes
VP = _c.c_void_p
I64 = _c.c_int64
STATUS = _c.c_int  # smk_status is a C enum: int-sized
ENUM = _c.c_int    # every C enum argument (smk_activation, smk_ensemble_mode, smk_reduction)
F32, F64 = _c.c_float, _c.c_double


class Partition(_c.Structure):
    """smk_partition: one segment of a partitioned row."""
    _fields_ = [("width", _c.c_int64), ("activation", _c.c_int32)]


class LossOptions(_c.Structure):
    """smk_loss_options; fill with smk_loss_options_init before use."""
    _fields_ = [("size", _c.c_uint64), ("ignore_index", _c.c_int64),
                ("label_smoothing", _c.c_double), ("reduction", _c.c_int32)]


class SampleOptions(_c.Structure):
    """smk_sample_options; fill with smk_sample_options_init before use."""
    _fields_ = [("size", _c.c_uint64), ("temperature", _c.c_double), ("top_k", _c.c_int64),
                ("top_p", _c.c_double), ("min_p", _c.c_double), ("num_samples", _c.c_int64),
                ("row_offset", _c.c_uint64), ("replacement", _c.c_int32)]


PARTITION_P = _c.POINTER(Partition)
SAMPLE_OPTIONS_P = _c.POINTER(SampleOptions)
OPTIONS_P = _c.POINTER(LossOptions)

# (name, restype, argtypes), in include/softmaxkit.h order. The C prototype
# is the comment above each group.
DECLARATIONS: list[tuple[str, Any, list[Any]]] = [
    # uint32_t smk_version(void);
    ("smk_version", _c.c_uint32, []),
    # const char *smk_version_string(void);
    ("smk_version_string", _c.c_char_p, []),
    # const char *smk_cpu_path(void);
    ("smk_cpu_path", _c.c_char_p, []),
    # const char *smk_status_string(smk_status status);
    ("smk_status_string", _c.c_char_p, [STATUS]),
    # const char *smk_last_error_message(void);
    ("smk_last_error_message", _c.c_char_p, []),
    # smk_status smk_softmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_softmax_f32", STATUS, [VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_softmax_f64", STATUS, [VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_log_softmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_log_softmax_f32", STATUS, [VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_log_softmax_f64", STATUS, [VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_logsumexp_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner);
    ("smk_logsumexp_f32", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_logsumexp_f64", STATUS, [VP, VP, I64, I64, I64]),
    # smk_status smk_logsumexp_weighted_f32(const float *x, const float *b, float *y, float *sign, int64_t outer, int64_t n, int64_t inner);
    ("smk_logsumexp_weighted_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64]),
    ("smk_logsumexp_weighted_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64]),
    # smk_status smk_softmax_state_f32(const float *x, double *max, double *sum, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_softmax_state_f32", STATUS, [VP, VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_softmax_state_f64", STATUS, [VP, VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_softmax_state_merge(const double *max_in, const double *sum_in, double *max_out, double *sum_out, int64_t parts, int64_t count, double temperature);
    ("smk_softmax_state_merge", STATUS, [VP, VP, VP, VP, I64, I64, _c.c_double]),
    # smk_status smk_softmax_finish_f32(const float *x, const double *max, const double *sum, float *y, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_softmax_finish_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_softmax_finish_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_log_softmax_finish_f32(const float *x, const double *max, const double *sum, float *y, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_log_softmax_finish_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_log_softmax_finish_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_logsumexp_finish_f32(const double *max, const double *sum, float *y, int64_t count);
    ("smk_logsumexp_finish_f32", STATUS, [VP, VP, VP, I64]),
    ("smk_logsumexp_finish_f64", STATUS, [VP, VP, VP, I64]),
    # smk_status smk_topk_merge_f32(const float *values, const int64_t *indices, float *values_out, int64_t *indices_out, int64_t outer, int64_t n, int64_t inner, int64_t k);
    ("smk_topk_merge_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64]),
    ("smk_topk_merge_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_masked_softmax_state_f32(const float *x, const uint8_t *mask, double *max, double *sum, int64_t outer, int64_t n, int64_t inner, int64_t mask_count);
    ("smk_masked_softmax_state_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_softmax_state_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_masked_softmax_finish_f32(const float *x, const uint8_t *mask, const double *max, const double *sum, float *y, int64_t outer, int64_t n, int64_t inner, int64_t mask_count);
    ("smk_masked_softmax_finish_f32", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_softmax_finish_f64", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_masked_log_softmax_finish_f32(const float *x, const uint8_t *mask, const double *max, const double *sum, float *y, int64_t outer, int64_t n, int64_t inner, int64_t mask_count);
    ("smk_masked_log_softmax_finish_f32", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_log_softmax_finish_f64", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_cross_entropy_chunk_f32(const float *logits, const double *max, const double *sum, const int64_t *target, const float *weight, double *loss, double *target_weight, int64_t outer, int64_t n, int64_t inner, int64_t offset, int64_t classes, int64_t ignore_index, double label_smoothing);
    ("smk_cross_entropy_chunk_f32", STATUS, [VP, VP, VP, VP, VP, VP, VP, I64, I64, I64, I64, I64, I64, _c.c_double]),
    ("smk_cross_entropy_chunk_f64", STATUS, [VP, VP, VP, VP, VP, VP, VP, I64, I64, I64, I64, I64, I64, _c.c_double]),
    # smk_status smk_cross_entropy_probs_chunk_f32(const float *logits, const double *max, const double *sum, const float *target, const float *weight, double *loss, int64_t outer, int64_t n, int64_t inner, int64_t offset, int64_t classes, double label_smoothing);
    ("smk_cross_entropy_probs_chunk_f32", STATUS, [VP, VP, VP, VP, VP, VP, I64, I64, I64, I64, I64, _c.c_double]),
    ("smk_cross_entropy_probs_chunk_f64", STATUS, [VP, VP, VP, VP, VP, VP, I64, I64, I64, I64, I64, _c.c_double]),
    # smk_status smk_cross_entropy_grad_chunk_f32(const float *logits, const double *max, const double *sum, const int64_t *target, const float *weight, float *grad, int64_t outer, int64_t n, int64_t inner, int64_t offset, int64_t classes, int64_t ignore_index, double label_smoothing, double divisor);
    ("smk_cross_entropy_grad_chunk_f32", STATUS, [VP, VP, VP, VP, VP, VP, I64, I64, I64, I64, I64, I64, _c.c_double, _c.c_double]),
    ("smk_cross_entropy_grad_chunk_f64", STATUS, [VP, VP, VP, VP, VP, VP, I64, I64, I64, I64, I64, I64, _c.c_double, _c.c_double]),
    # smk_status smk_sigmoid_f32(const float *x, float *y, int64_t count);
    ("smk_sigmoid_f32", STATUS, [VP, VP, I64]),
    ("smk_sigmoid_f64", STATUS, [VP, VP, I64]),
    # smk_status smk_log_sigmoid_f32(const float *x, float *y, int64_t count);
    ("smk_log_sigmoid_f32", STATUS, [VP, VP, I64]),
    ("smk_log_sigmoid_f64", STATUS, [VP, VP, I64]),
    # smk_status smk_logit_f32(const float *x, float *y, int64_t count);
    ("smk_logit_f32", STATUS, [VP, VP, I64]),
    ("smk_logit_f64", STATUS, [VP, VP, I64]),
    # smk_status smk_masked_softmax_f32(const float *x, const uint8_t *mask, float *y, int64_t outer, int64_t n, int64_t inner, int64_t mask_count, int renormalize);
    ("smk_masked_softmax_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    ("smk_masked_softmax_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    # smk_status smk_masked_log_softmax_f32(const float *x, const uint8_t *mask, float *y, int64_t outer, int64_t n, int64_t inner, int64_t mask_count);
    ("smk_masked_log_softmax_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_log_softmax_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_masked_softmax_lengths_f32(const float *x, const int64_t *lengths, float *y, int64_t outer, int64_t n, int64_t inner, int64_t lengths_count, int renormalize);
    ("smk_masked_softmax_lengths_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    ("smk_masked_softmax_lengths_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    # smk_status smk_masked_log_softmax_lengths_f32(const float *x, const int64_t *lengths, float *y, int64_t outer, int64_t n, int64_t inner, int64_t lengths_count);
    ("smk_masked_log_softmax_lengths_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_log_softmax_lengths_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    # const char *smk_activation_name(smk_activation activation);
    ("smk_activation_name", _c.c_char_p, [ENUM]),
    # smk_status smk_partitioned_f32(const float *x, const smk_partition *layout, float *y, int64_t outer, int64_t n, int64_t inner, int64_t layout_count);
    ("smk_partitioned_f32", STATUS, [VP, PARTITION_P, VP, I64, I64, I64, I64]),
    ("smk_partitioned_f64", STATUS, [VP, PARTITION_P, VP, I64, I64, I64, I64]),
    # smk_status smk_segment_softmax_f32(const float *x, const int64_t *offsets, float *y, int64_t outer, int64_t n, int64_t inner, int64_t offset_count);
    ("smk_segment_softmax_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_segment_softmax_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_hierarchical_softmax_f32(const float *coarse, const float *fine, const int64_t *sizes, float *y, int64_t batch, int64_t groups, int64_t fine_width, int conditional);
    ("smk_hierarchical_softmax_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_int]),
    ("smk_hierarchical_softmax_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_int]),
    # smk_status smk_ensemble_mean_f32(const float *const *members, float *y, int64_t member_count, int64_t outer, int64_t n, int64_t inner, smk_ensemble_mode mode);
    ("smk_ensemble_mean_f32", STATUS, [VP, VP, I64, I64, I64, I64, ENUM]),
    ("smk_ensemble_mean_f64", STATUS, [VP, VP, I64, I64, I64, I64, ENUM]),
    # smk_status smk_argmax_f32(const float *x, int64_t *index, int64_t outer, int64_t n, int64_t inner);
    ("smk_argmax_f32", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_argmax_f64", STATUS, [VP, VP, I64, I64, I64]),
    # smk_status smk_hardmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner);
    ("smk_hardmax_f32", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_hardmax_f64", STATUS, [VP, VP, I64, I64, I64]),
    # smk_status smk_topk_f32(const float *x, float *values, int64_t *indices, int64_t outer, int64_t n, int64_t inner, int64_t k);
    ("smk_topk_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_topk_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    # smk_status smk_softmax_topk_f32(const float *x, float *probs, int64_t *indices, int64_t outer, int64_t n, int64_t inner, int64_t k, float temperature);
    ("smk_softmax_topk_f32", STATUS, [VP, VP, VP, I64, I64, I64, I64, F32]),
    ("smk_softmax_topk_f64", STATUS, [VP, VP, VP, I64, I64, I64, I64, F64]),
    # void smk_sample_options_init(smk_sample_options *options);
    ("smk_sample_options_init", None, [SAMPLE_OPTIONS_P]),
    # smk_status smk_sample_f32(const float *logits, const uint8_t *mask, int64_t *indices, float *log_probs, int64_t outer, int64_t n, int64_t inner, int64_t mask_count, const smk_sample_options *options, uint64_t seed);
    ("smk_sample_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64, SAMPLE_OPTIONS_P, _c.c_uint64]),
    ("smk_sample_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64, SAMPLE_OPTIONS_P, _c.c_uint64]),
    # void smk_loss_options_init(smk_loss_options *options);
    ("smk_loss_options_init", None, [OPTIONS_P]),
    # smk_status smk_cross_entropy_f32(const float *logits, const int64_t *target, const float *weight, float *loss, float *dlogits, int64_t outer, int64_t n, int64_t inner, const smk_loss_options *options);
    ("smk_cross_entropy_f32", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_cross_entropy_f64", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    # smk_status smk_cross_entropy_probs_f32(const float *logits, const float *target, const float *weight, float *loss, float *dlogits, int64_t outer, int64_t n, int64_t inner, const smk_loss_options *options);
    ("smk_cross_entropy_probs_f32", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_cross_entropy_probs_f64", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    # smk_status smk_nll_loss_f32(const float *log_probs, const int64_t *target, const float *weight, float *loss, int64_t outer, int64_t n, int64_t inner, const smk_loss_options *options);
    ("smk_nll_loss_f32", STATUS, [VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_nll_loss_f64", STATUS, [VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    # smk_status smk_binary_cross_entropy_with_logits_f32(const float *logits, const float *target, const float *weight, const float *pos_weight, float *loss, int64_t count, int64_t classes, smk_reduction reduction);
    ("smk_binary_cross_entropy_with_logits_f32", STATUS, [VP, VP, VP, VP, VP, I64, I64, ENUM]),
    ("smk_binary_cross_entropy_with_logits_f64", STATUS, [VP, VP, VP, VP, VP, I64, I64, ENUM]),
    # smk_status smk_softmax_backward_f32(const float *y, const float *dy, float *dx, int64_t outer, int64_t n, int64_t inner);
    ("smk_softmax_backward_f32", STATUS, [VP, VP, VP, I64, I64, I64]),
    ("smk_softmax_backward_f64", STATUS, [VP, VP, VP, I64, I64, I64]),
    # smk_status smk_log_softmax_backward_f32(const float *y, const float *dy, float *dx, int64_t outer, int64_t n, int64_t inner);
    ("smk_log_softmax_backward_f32", STATUS, [VP, VP, VP, I64, I64, I64]),
    ("smk_log_softmax_backward_f64", STATUS, [VP, VP, VP, I64, I64, I64]),
    # smk_status smk_sigmoid_backward_f32(const float *y, const float *dy, float *dx, int64_t count);
    ("smk_sigmoid_backward_f32", STATUS, [VP, VP, VP, I64]),
    ("smk_sigmoid_backward_f64", STATUS, [VP, VP, VP, I64]),
    # smk_status smk_model_load(const char *path, smk_model **model_out);
    ("smk_model_load", STATUS, [_c.c_char_p, _c.POINTER(VP)]),
    # smk_status smk_model_load_memory(const void *data, int64_t size, const char *spec_json, smk_model **model_out);
    ("smk_model_load_memory", STATUS, [VP, I64, _c.c_char_p, _c.POINTER(VP)]),
    # smk_status smk_model_load_spec(const char *path, const char *spec_json, smk_model **model_out);
    ("smk_model_load_spec", STATUS, [_c.c_char_p, _c.c_char_p, _c.POINTER(VP)]),
    # smk_status smk_model_builder_create(const char *spec_json, smk_model_builder **builder_out);
    ("smk_model_builder_create", STATUS, [_c.c_char_p, _c.POINTER(VP)]),
    # smk_status smk_model_builder_add_f32(smk_model_builder *builder, const char *name, const float *data, const int64_t *shape, int64_t rank);
    ("smk_model_builder_add_f32", STATUS, [VP, _c.c_char_p, VP, _c.POINTER(I64), I64]),
    ("smk_model_builder_add_f64", STATUS, [VP, _c.c_char_p, VP, _c.POINTER(I64), I64]),
    # smk_status smk_model_builder_build(const smk_model_builder *builder, smk_model **model_out);
    ("smk_model_builder_build", STATUS, [VP, _c.POINTER(VP)]),
    # void smk_model_builder_free(smk_model_builder *builder);
    ("smk_model_builder_free", None, [VP]),
    # void smk_model_free(smk_model *model);
    ("smk_model_free", None, [VP]),
    # smk_status smk_model_input_features(const smk_model *model, int64_t *features_out);
    ("smk_model_input_features", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_model_input_vocabulary(const smk_model *model, int64_t *vocabulary_out);
    ("smk_model_input_vocabulary", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_model_parameter_count(const smk_model *model, int64_t *count_out);
    ("smk_model_parameter_count", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_model_head_count(const smk_model *model, int64_t *count_out);
    ("smk_model_head_count", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_model_head_name(const smk_model *model, int64_t head, const char **name_out);
    ("smk_model_head_name", STATUS, [VP, I64, _c.POINTER(_c.c_char_p)]),
    # smk_status smk_model_head_size(const smk_model *model, int64_t head, int64_t *size_out);
    ("smk_model_head_size", STATUS, [VP, I64, _c.POINTER(I64)]),
    # smk_status smk_model_head_per_step(const smk_model *model, int64_t head, int32_t *per_step_out);
    ("smk_model_head_per_step", STATUS, [VP, I64, _c.POINTER(_c.c_int32)]),
    # smk_status smk_model_spec_json(const smk_model *model, const char **json_out);
    ("smk_model_spec_json", STATUS, [VP, _c.POINTER(_c.c_char_p)]),
    # smk_status smk_model_tensor_count(const smk_model *model, int64_t *count_out);
    ("smk_model_tensor_count", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_model_tensor_name(const smk_model *model, int64_t tensor, const char **name_out);
    ("smk_model_tensor_name", STATUS, [VP, I64, _c.POINTER(_c.c_char_p)]),
    # smk_status smk_model_tensor_dtype(const smk_model *model, int64_t tensor, smk_dtype *dtype_out);
    ("smk_model_tensor_dtype", STATUS, [VP, I64, _c.POINTER(_c.c_int32)]),
    # smk_status smk_model_tensor_shape(const smk_model *model, int64_t tensor, int64_t *shape, int64_t capacity, int64_t *rank_out);
    ("smk_model_tensor_shape", STATUS, [VP, I64, _c.POINTER(I64), I64, _c.POINTER(I64)]),
    # smk_status smk_model_tensor_data(const smk_model *model, int64_t tensor, void *data, int64_t capacity, int64_t *size_out);
    ("smk_model_tensor_data", STATUS, [VP, I64, VP, I64, _c.POINTER(I64)]),
    # smk_status smk_model_serialize(const smk_model *model, void *data, int64_t capacity, int64_t *size_out);
    ("smk_model_serialize", STATUS, [VP, VP, I64, _c.POINTER(I64)]),
    # smk_status smk_model_save(const smk_model *model, const char *path);
    ("smk_model_save", STATUS, [VP, _c.c_char_p]),
    # smk_status smk_model_forward(const smk_model *model, const float *x, int64_t batch, int64_t steps, int64_t features, float *const *outputs, int64_t output_count);
    ("smk_model_forward", STATUS, [VP, VP, I64, I64, I64, _c.POINTER(VP), I64]),
    # smk_status smk_model_forward_lengths(const smk_model *model, const float *x, int64_t batch, int64_t steps, int64_t features, const int64_t *lengths, float *const *outputs, int64_t output_count);
    ("smk_model_forward_lengths", STATUS, [VP, VP, I64, I64, I64, VP, _c.POINTER(VP), I64]),
    # smk_status smk_model_forward_ids(const smk_model *model, const int64_t *ids, int64_t batch, int64_t steps, const int64_t *lengths, float *const *outputs, int64_t output_count);
    ("smk_model_forward_ids", STATUS, [VP, VP, I64, I64, VP, _c.POINTER(VP), I64]),
    # smk_status smk_model_state_create(const smk_model *model, int64_t batch, smk_model_state **state_out);
    ("smk_model_state_create", STATUS, [VP, I64, _c.POINTER(VP)]),
    # smk_status smk_model_state_reset(smk_model_state *state);
    ("smk_model_state_reset", STATUS, [VP]),
    # void smk_model_state_free(smk_model_state *state);
    ("smk_model_state_free", None, [VP]),
    # smk_status smk_model_step(const smk_model *model, smk_model_state *state, const float *x_t, int64_t batch, int64_t features, float *const *outputs, int64_t output_count);
    ("smk_model_step", STATUS, [VP, VP, VP, I64, I64, _c.POINTER(VP), I64]),
    # smk_status smk_model_step_ids(const smk_model *model, smk_model_state *state, const int64_t *ids, int64_t batch, float *const *outputs, int64_t output_count);
    ("smk_model_step_ids", STATUS, [VP, VP, VP, I64, _c.POINTER(VP), I64]),
    # smk_status smk_model_state_head_ready(const smk_model_state *state, int64_t head, int32_t *ready_out);
    ("smk_model_state_head_ready", STATUS, [VP, I64, _c.POINTER(_c.c_int32)]),
    # smk_status smk_model_forward_sampled(const smk_model *model, const float *x, int64_t batch, int64_t steps, int64_t features, const int64_t *lengths, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_model_forward_sampled", STATUS, [VP, VP, I64, I64, I64, VP, _c.POINTER(VP), _c.c_uint64, _c.POINTER(VP),
                                           _c.POINTER(VP), _c.POINTER(VP), I64]),
    # smk_status smk_model_forward_ids_sampled(const smk_model *model, const int64_t *ids, int64_t batch, int64_t steps, const int64_t *lengths, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_model_forward_ids_sampled", STATUS, [VP, VP, I64, I64, VP, _c.POINTER(VP), _c.c_uint64, _c.POINTER(VP),
                                               _c.POINTER(VP), _c.POINTER(VP), I64]),
    # smk_status smk_model_step_sampled(const smk_model *model, smk_model_state *state, const float *x_t, int64_t batch, int64_t features, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_model_step_sampled", STATUS, [VP, VP, VP, I64, I64, _c.POINTER(VP), _c.c_uint64, _c.POINTER(VP),
                                        _c.POINTER(VP), _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_create(const smk_model *const *models, int64_t count, int mode, smk_ensemble **ensemble_out);
    ("smk_ensemble_create", STATUS, [_c.POINTER(VP), I64, _c.c_int, _c.POINTER(VP)]),
    # smk_status smk_ensemble_model(const smk_ensemble *ensemble, int64_t index, const smk_model **model_out);
    ("smk_ensemble_model", STATUS, [VP, I64, _c.POINTER(VP)]),
    # smk_status smk_ensemble_forward(const smk_ensemble *ensemble, const float *x, int64_t batch, int64_t steps, int64_t features, float *const *outputs, int64_t output_count);
    ("smk_ensemble_forward", STATUS, [VP, VP, I64, I64, I64, _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_forward_lengths(const smk_ensemble *ensemble, const float *x, int64_t batch, int64_t steps, int64_t features, const int64_t *lengths, float *const *outputs, int64_t output_count);
    ("smk_ensemble_forward_lengths", STATUS, [VP, VP, I64, I64, I64, VP, _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_forward_ids(const smk_ensemble *ensemble, const int64_t *ids, int64_t batch, int64_t steps, const int64_t *lengths, float *const *outputs, int64_t output_count);
    ("smk_ensemble_forward_ids", STATUS, [VP, VP, I64, I64, VP, _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_state_create(const smk_ensemble *ensemble, int64_t batch, smk_model_state **state_out);
    ("smk_ensemble_state_create", STATUS, [VP, I64, _c.POINTER(VP)]),
    # smk_status smk_ensemble_step(const smk_ensemble *ensemble, smk_model_state *state, const float *x_t, int64_t batch, int64_t features, float *const *outputs, int64_t output_count);
    ("smk_ensemble_step", STATUS, [VP, VP, VP, I64, I64, _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_step_ids(const smk_ensemble *ensemble, smk_model_state *state, const int64_t *ids, int64_t batch, float *const *outputs, int64_t output_count);
    ("smk_ensemble_step_ids", STATUS, [VP, VP, VP, I64, _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_forward_sampled(const smk_ensemble *ensemble, const float *x, int64_t batch, int64_t steps, int64_t features, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_ensemble_forward_sampled", STATUS, [VP, VP, I64, I64, I64, _c.POINTER(VP), _c.c_uint64, _c.POINTER(VP),
                                              _c.POINTER(VP), _c.POINTER(VP), I64]),
    # void smk_ensemble_free(smk_ensemble *ensemble);
    ("smk_ensemble_free", None, [VP]),
    # smk_status smk_ensemble_forward_lengths_sampled(const smk_ensemble *ensemble, const float *x, int64_t batch, int64_t steps, int64_t features, const int64_t *lengths, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_ensemble_forward_lengths_sampled", STATUS, [VP, VP, I64, I64, I64, VP, _c.POINTER(VP), _c.c_uint64,
                                                      _c.POINTER(VP), _c.POINTER(VP), _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_forward_ids_sampled(const smk_ensemble *ensemble, const int64_t *ids, int64_t batch, int64_t steps, const int64_t *lengths, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_ensemble_forward_ids_sampled", STATUS, [VP, VP, I64, I64, VP, _c.POINTER(VP), _c.c_uint64, _c.POINTER(VP),
                                                  _c.POINTER(VP), _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_step_sampled(const smk_ensemble *ensemble, smk_model_state *state, const float *x_t, int64_t batch, int64_t features, const smk_sample_options *const *sample_options, uint64_t seed, float *const *outputs, int64_t *const *indices, float *const *log_probs, int64_t output_count);
    ("smk_ensemble_step_sampled", STATUS, [VP, VP, VP, I64, I64, _c.POINTER(VP), _c.c_uint64, _c.POINTER(VP),
                                           _c.POINTER(VP), _c.POINTER(VP), I64]),
    # smk_status smk_ensemble_load(const char *path, smk_ensemble **ensemble_out);
    ("smk_ensemble_load", STATUS, [_c.c_char_p, _c.POINTER(VP)]),
    # smk_status smk_ensemble_save(const smk_ensemble *ensemble, const char *path, int64_t padding_id);
    ("smk_ensemble_save", STATUS, [VP, _c.c_char_p, I64]),
    # smk_status smk_ensemble_padding_id(const smk_ensemble *ensemble, int64_t *padding_id_out);
    ("smk_ensemble_padding_id", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_ensemble_model_count(const smk_ensemble *ensemble, int64_t *count_out);
    ("smk_ensemble_model_count", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_ensemble_get_mode(const smk_ensemble *ensemble, int32_t *mode_out);
    ("smk_ensemble_get_mode", STATUS, [VP, _c.POINTER(_c.c_int32)]),
    # smk_status smk_ensemble_dot(const smk_ensemble *ensemble, char *dot, int64_t capacity, int64_t *size_out);
    ("smk_ensemble_dot", STATUS, [VP, VP, I64, _c.POINTER(I64)]),
    # smk_status smk_model_padding_id(const smk_model *model, int64_t *padding_id_out);
    ("smk_model_padding_id", STATUS, [VP, _c.POINTER(I64)]),
    # smk_status smk_padding_lengths(const int64_t *ids, int64_t batch, int64_t steps, int64_t padding_id, int64_t *lengths);
    ("smk_padding_lengths", STATUS, [VP, I64, I64, I64, VP]),
    # smk_status smk_model_dot(const smk_model *model, char *dot, int64_t capacity, int64_t *size_out);
    ("smk_model_dot", STATUS, [VP, VP, I64, _c.POINTER(I64)]),
    # void smk_set_num_threads(int32_t n);
    ("smk_set_num_threads", None, [_c.c_int32]),
    # int32_t smk_get_num_threads(void);
    ("smk_get_num_threads", _c.c_int32, []),
    # Half precision (smk_f16 / smk_bf16 pointers as void pointers).
    ("smk_half_to_float_f16", STATUS, [VP, VP, I64]),
    ("smk_half_to_float_bf16", STATUS, [VP, VP, I64]),
    ("smk_half_from_float_f16", STATUS, [VP, VP, I64]),
    ("smk_half_from_float_bf16", STATUS, [VP, VP, I64]),
    # Typed model forwards (smk_dtype arguments as ENUM; half buffers as void pointers).
    ("smk_model_forward_typed", STATUS, [VP, VP, ENUM, I64, I64, I64, VP, _c.POINTER(VP), ENUM, I64]),
    ("smk_model_step_typed", STATUS, [VP, VP, VP, ENUM, I64, I64, _c.POINTER(VP), ENUM, I64]),
    ("smk_ensemble_forward_typed", STATUS, [VP, VP, ENUM, I64, I64, I64, VP, _c.POINTER(VP), ENUM, I64]),
    ("smk_ensemble_step_typed", STATUS, [VP, VP, VP, ENUM, I64, I64, _c.POINTER(VP), ENUM, I64]),
    ("smk_softmax_f16", STATUS, [VP, VP, I64, I64, I64, F32]),
    ("smk_softmax_bf16", STATUS, [VP, VP, I64, I64, I64, F32]),
    ("smk_log_softmax_f16", STATUS, [VP, VP, I64, I64, I64, F32]),
    ("smk_log_softmax_bf16", STATUS, [VP, VP, I64, I64, I64, F32]),
    ("smk_logsumexp_f16", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_logsumexp_bf16", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_softmax_topk_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64, F32]),
    ("smk_softmax_topk_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64, F32]),
    ("smk_cross_entropy_f16", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, VP]),
    ("smk_cross_entropy_bf16", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, VP]),
    ("smk_sigmoid_f16", STATUS, [VP, VP, I64]),
    ("smk_sigmoid_bf16", STATUS, [VP, VP, I64]),
    ("smk_log_sigmoid_f16", STATUS, [VP, VP, I64]),
    ("smk_log_sigmoid_bf16", STATUS, [VP, VP, I64]),
    ("smk_masked_softmax_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    ("smk_masked_softmax_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    ("smk_masked_log_softmax_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_log_softmax_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_argmax_f16", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_argmax_bf16", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_topk_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_topk_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    # Half precision of the structured operations.
    ("smk_hardmax_f16", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_hardmax_bf16", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_partitioned_f16", STATUS, [VP, PARTITION_P, VP, I64, I64, I64, I64]),
    ("smk_partitioned_bf16", STATUS, [VP, PARTITION_P, VP, I64, I64, I64, I64]),
    ("smk_segment_softmax_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_segment_softmax_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_hierarchical_softmax_f16", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_int]),
    ("smk_hierarchical_softmax_bf16", STATUS, [VP, VP, VP, VP, I64, I64, I64, _c.c_int]),
    ("smk_masked_softmax_lengths_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    ("smk_masked_softmax_lengths_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64, _c.c_int]),
    ("smk_masked_log_softmax_lengths_f16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    ("smk_masked_log_softmax_lengths_bf16", STATUS, [VP, VP, VP, I64, I64, I64, I64]),
    # Half precision: the other losses (float32 weights and losses), the
    # backward kernels, ensemble averaging, sampling (float32 log_probs).
    ("smk_nll_loss_f16", STATUS, [VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_nll_loss_bf16", STATUS, [VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_cross_entropy_probs_f16", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_cross_entropy_probs_bf16", STATUS, [VP, VP, VP, VP, VP, I64, I64, I64, OPTIONS_P]),
    ("smk_binary_cross_entropy_with_logits_f16", STATUS, [VP, VP, VP, VP, VP, I64, I64, ENUM]),
    ("smk_binary_cross_entropy_with_logits_bf16", STATUS, [VP, VP, VP, VP, VP, I64, I64, ENUM]),
    ("smk_softmax_backward_f16", STATUS, [VP, VP, VP, I64, I64, I64]),
    ("smk_softmax_backward_bf16", STATUS, [VP, VP, VP, I64, I64, I64]),
    ("smk_log_softmax_backward_f16", STATUS, [VP, VP, VP, I64, I64, I64]),
    ("smk_log_softmax_backward_bf16", STATUS, [VP, VP, VP, I64, I64, I64]),
    ("smk_sigmoid_backward_f16", STATUS, [VP, VP, VP, I64]),
    ("smk_sigmoid_backward_bf16", STATUS, [VP, VP, VP, I64]),
    ("smk_ensemble_mean_f16", STATUS, [VP, VP, I64, I64, I64, I64, ENUM]),
    ("smk_ensemble_mean_bf16", STATUS, [VP, VP, I64, I64, I64, I64, ENUM]),
    ("smk_sample_f16", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64, SAMPLE_OPTIONS_P, _c.c_uint64]),
    ("smk_sample_bf16", STATUS, [VP, VP, VP, VP, I64, I64, I64, I64, SAMPLE_OPTIONS_P, _c.c_uint64]),
]


def _checkout_root(here: Path) -> Path | None:
    """The repository root when this package runs from a source checkout
    (bindings/python/softmaxkit), else None."""
    if len(here.parents) < 3:
        return None
    root = here.parents[2]
    if (root / "Package.swift").is_file() and (root / "include" / "softmaxkit.h").is_file():
        return root
    return None


def _candidates(here: Path | None = None) -> list[tuple[Path | str, str]]:
    """Where the library may be, in the order tried, each with how it got there.

    SOFTMAXKIT_LIBRARY, when set, is the only candidate: an explicit choice
    is never silently replaced by another build. Otherwise the package's own
    copy (a wheel or ``pip install`` put it there), then a source checkout's
    ``.build/release`` (``make lib``), then the system's search path.
    """
    here = here or Path(__file__).resolve().parent
    env = os.environ.get("SOFTMAXKIT_LIBRARY")
    if env:
        return [(Path(env), "SOFTMAXKIT_LIBRARY")]
    found: list[tuple[Path | str, str]] = [(here / "libsoftmaxkit.so", "inside the installed package")]
    root = _checkout_root(here)
    if root is not None:
        found.append((root / ".build" / "release" / "libsoftmaxkit.so", "this checkout's `make lib` output"))
    system = ctypes.util.find_library("softmaxkit")
    found.append((system or "libsoftmaxkit.so", "the system library search path"))
    return found


def _advice(here: Path) -> str:
    """What to do when no candidate loads, for this package's situation."""
    root = _checkout_root(here)
    if os.environ.get("SOFTMAXKIT_LIBRARY"):
        return ("SOFTMAXKIT_LIBRARY is set, so nothing else is tried: point it at an existing "
                "libsoftmaxkit.so built for this machine, or unset it.")
    if root is not None:
        return (f"This is a source checkout: run `make lib` in {root} to build "
                f"{root / '.build' / 'release' / 'libsoftmaxkit.so'}, or set "
                "SOFTMAXKIT_LIBRARY=/path/to/libsoftmaxkit.so.")
    return ("This installed package holds no usable libsoftmaxkit.so (it was installed without "
            "its build step). Reinstall it from a wheel (`pip install softmaxkit-*.whl`, made by "
            "`make wheel` in a SoftmaxKit checkout) or from the checkout with Swift 6 installed "
            "(`pip install --force-reinstall /path/to/SoftmaxKit/bindings/python`), or set "
            "SOFTMAXKIT_LIBRARY=/path/to/libsoftmaxkit.so.")


def _load() -> tuple[ctypes.CDLL, str]:
    here = Path(__file__).resolve().parent
    tried = []
    for cand, why in _candidates(here):
        if isinstance(cand, Path) and not cand.exists():
            tried.append(f"{cand} ({why}): not found")
            continue
        try:
            return ctypes.CDLL(str(cand)), str(cand)
        except OSError as e:  # wrong architecture, missing dependency, ...
            tried.append(f"{cand} ({why}): {e}")
    raise ImportError(
        "softmaxkit: could not load libsoftmaxkit.so; tried:\n  " + "\n  ".join(tried)
        + "\n" + _advice(here)
    )


lib, library_path = _load()

for _name, _restype, _argtypes in DECLARATIONS:
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        raise ImportError(f"softmaxkit: {library_path} lacks the symbol {_name}; "
                          "it is older than this binding") from None
    _fn.restype = _restype
    _fn.argtypes = _argtypes

def check_version(version: int, path: str, major: int = ABI_MAJOR) -> None:
    """Refuses a library whose major version differs from this binding's."""
    if version // 10000 != major:
        raise ImportError(
            f"softmaxkit: {path} has ABI version {version // 10000}.{version // 100 % 100}."
            f"{version % 100}, this binding needs major version {major}"
        )


check_version(lib.smk_version(), library_path)

_last_error: Callable[[], bytes] = lib.smk_last_error_message

# Every wrapper calls through a second handle whose functions have no
# argtypes: ctypes then skips a Python-level conversion per argument, so the
# caller must pass ctypes objects of exactly the declared types
# (built from DECLARATIONS' own classes; see _arrays.ptr and i64).
_fast_lib = ctypes.CDLL(library_path)
_DECLARED = {name: (restype, argtypes) for name, restype, argtypes in DECLARATIONS}


def fast(name: str) -> Any:
    """The no-argtypes twin of a declared function (restype still set)."""
    fn = getattr(_fast_lib, name)
    fn.restype = _DECLARED[name][0]
    return fn


def kernel(name: str) -> tuple:
    """``(fast(name_f32), fast(name_f64))``, indexed by _arrays' kernel index k;
    plus ``fast(name_f16), fast(name_bf16)`` (k = 2, 3) when the library has them."""
    fns = (fast(f"{name}_f32"), fast(f"{name}_f64"))
    if f"{name}_f16" in _DECLARED:
        fns += (fast(f"{name}_f16"), fast(f"{name}_bf16"))
    return fns


def argtype(name: str, index: int) -> Any:
    """The declared ctypes class of parameter `index` of `name`."""
    return _DECLARED[name][1][index]


def real(value: Any, cls: Any, name: str) -> Any:
    """A Python number as the ctypes float class `cls` (c_float/c_double)."""
    try:
        return cls(value)
    except TypeError:
        raise ArgumentError(f"{name} must be a real number, got {value!r}") from None


def check(status: int) -> None:
    """Raises the exception for a nonzero status with this thread's message."""
    if status:
        raise error_for(status, _last_error().decode("utf-8", "replace"))
