"""Half-precision inputs and outputs of Model / Ensemble calls (``dtype=``).

A float16 or ml_dtypes.bfloat16 input is widened to float32 exactly inside
the library (smk_model_forward_typed and kin), the model runs in float32 as
for float32 input, and outputs are rounded once, to nearest even, into the
requested dtype. The output dtype: `dtype` when given (float32, float16 or
bfloat16, honoured exactly); else the input's own half type for half input
(as the half-precision kernels return the input's dtype), float32 otherwise.
"""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from . import _lib
from ._arrays import BFLOAT16_HELP, F16, F32, i64, is_bfloat16, ptr
from ._errors import ArgumentError

_L = _lib.lib
_check = _lib.check
_ENUM = ctypes.c_int
_FORWARD = {"smk_model_state_create": _lib.fast("smk_model_forward_typed"),
            "smk_ensemble_state_create": _lib.fast("smk_ensemble_forward_typed")}
_STEP = {"smk_model_state_create": _lib.fast("smk_model_step_typed"),
         "smk_ensemble_state_create": _lib.fast("smk_ensemble_step_typed")}
_NARROW = {2: _L.smk_half_from_float_f16, 3: _L.smk_half_from_float_bf16}


def half_code(dt: Any) -> int:
    """The smk_dtype of a half numpy dtype (2 float16, 3 bfloat16), else 0."""
    if not isinstance(dt, np.dtype) or dt.itemsize != 2:
        return 0
    if dt.kind == "f":
        return 2
    return 3 if is_bfloat16(dt) else 0


def is_half(x: Any) -> bool:
    """Whether `x` is an array of float16 or ml_dtypes.bfloat16."""
    return half_code(getattr(x, "dtype", None)) != 0


def output_dtype(dtype: Any, x_code: int, x_dtype: Any) -> tuple:
    """(numpy dtype, smk_dtype) of the outputs for ``dtype=`` and the input's code."""
    if dtype is None:
        return (np.dtype(x_dtype).newbyteorder("=") if x_code == 3 else F16, x_code) if x_code else (F32, 0)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        if "bfloat16" in str(dtype).lower():
            raise ArgumentError(f"dtype: {BFLOAT16_HELP}") from None
        raise ArgumentError(f"dtype must be float32, float16 or ml_dtypes.bfloat16, got {dtype!r}") from None
    if dt == F32:
        return F32, 0
    code = half_code(dt)
    if code == 0:
        raise ArgumentError(f"dtype must be float32, float16 or ml_dtypes.bfloat16, got {dt}")
    return (F16 if code == 2 else dt.newbyteorder("=")), code


def _input(x: Any) -> tuple:
    """(array, smk_dtype): a half array kept in its type (native, C-contiguous),
    any other real array as float32."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    code = half_code(a.dtype)
    if code:
        return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("=")), code
    if a.dtype.kind not in "biuf":
        raise ArgumentError(f"x must hold real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=F32), 0


def _narrow(outs: dict, odt: np.dtype, code: int) -> dict:
    """float32 outputs rounded into half dtype `odt` by the library's conversion."""
    if not code:
        return outs
    result = {}
    for name, o in outs.items():
        h = np.empty(o.shape, odt)
        _check(_NARROW[code](ptr(np.ascontiguousarray(o)), ptr(h), i64(o.size)))
        result[name] = h
    return result


def call(runner: Any, x: Any, lengths: Any, dtype: Any, sample: Any, seed: Any) -> dict:
    """``runner(x, lengths, dtype=dtype)`` for half input or a chosen dtype."""
    if sample is not None:
        if output_dtype(dtype, 0, None)[1]:
            raise ArgumentError("dtype= does not apply with sample=: sampled heads give int64 indices and float32 log-probabilities")
        return runner(np.asarray(x, dtype=F32) if is_half(x) else x, lengths, sample=sample, seed=seed)
    if runner.vocabulary:
        if is_half(x):
            raise ArgumentError(f"the model's input is token ids (vocabulary {runner.vocabulary}): "
                                f"ids must be integers, got dtype {x.dtype}")
        odt, ocode = output_dtype(dtype, 0, None)
        return _narrow(runner(x, lengths), odt, ocode)
    a, xcode = _input(x)
    odt, ocode = output_dtype(dtype, xcode, a.dtype)
    if xcode == 0 and ocode == 0:
        return runner(a, lengths)
    if lengths is None:
        batch, steps, feats, shapes = runner._plans.get(a.shape) or runner._plan(a.shape)
        lens = None
    else:
        if a.ndim != 3:
            raise ArgumentError(f"x must be [batch, steps, features] with lengths, got shape {a.shape}")
        batch, steps, feats = (i64(v) for v in a.shape)
        lens = runner._lengths(lengths, a.shape[0])
        shapes = runner._shapes(a.shape[:-1])
    outs = [np.empty(s, odt) for s in shapes]
    table = runner._pack(*[ptr(o).value for o in outs])
    status = _FORWARD[runner._C_STATE_CREATE](runner._handle, ptr(a), _ENUM(xcode), batch, steps, feats,
                                               None if lens is None else ptr(lens), table, _ENUM(ocode),
                                               runner._head_count)
    if status:
        _check(status)
    return dict(zip(runner._names, outs))


def step(runner: Any, x: Any, state: Any, dtype: Any, sample: Any, seed: Any) -> dict:
    """``runner.step(x, state, dtype=dtype)`` for half input or a chosen dtype."""
    if sample is not None:
        if output_dtype(dtype, 0, None)[1]:
            raise ArgumentError("dtype= does not apply with sample=: sampled heads give int64 indices and float32 log-probabilities")
        return runner.step(np.asarray(x, dtype=F32) if is_half(x) else x, state, sample=sample, seed=seed)
    if runner.vocabulary:
        if is_half(x):
            raise ArgumentError(f"the model's input is token ids (vocabulary {runner.vocabulary}): "
                                f"ids must be integers, got dtype {x.dtype}")
        odt, ocode = output_dtype(dtype, 0, None)
        return _narrow(runner.step(x, state), odt, ocode)
    a, xcode = _input(x)
    odt, ocode = output_dtype(dtype, xcode, a.dtype)
    if xcode == 0 and ocode == 0:
        return runner.step(a, state)
    if a.ndim not in (1, 2):
        raise ArgumentError(f"x must be [batch, features] or [features], got shape {a.shape}")
    batch = a.shape[0] if a.ndim == 2 else 1
    lead = a.shape[:-1]
    outs = [np.empty(lead + (size,), odt) for size in runner._sizes]
    table = runner._pack(*[ptr(o).value for o in outs])
    _check(_STEP[runner._C_STATE_CREATE](runner._handle, state._handle, ptr(a), _ENUM(xcode), i64(batch),
                                         i64(a.shape[-1]), table, _ENUM(ocode), runner._head_count))
    return runner._ready_heads(state, outs)
