"""The chunked normalizer: softmax, log_softmax and logsumexp over an axis
split into chunks, in the online normalizer's three steps (partial state of
each chunk, exact merge of states, a finishing pass per chunk). The
building blocks of :mod:`softmaxkit.dask`; usable on their own for any
engine that splits a row (semantics in include/softmaxkit.h,
smk_softmax_state_f32).

A state is a pair of float64 arrays ``(max, sum)`` of the chunk's shape with
the axis kept at length 1: ``max = max_j x_j``, ``sum = sum_j exp((x_j -
max) / T)``.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Sequence

import numpy as np

from . import _lib
from ._arrays import DTYPES, F64, KEPT, NO_OUTPUT, i64, output, prepare, ptr
from ._errors import ArgumentError

__all__ = ["softmax_state", "merge_states", "softmax_finish", "log_softmax_finish", "logsumexp_finish"]

_check = _lib.check
_STATE = _lib.kernel("smk_softmax_state")
_MERGE = _lib.fast("smk_softmax_state_merge")
_FINISH = _lib.kernel("smk_softmax_finish")
_LOG_FINISH = _lib.kernel("smk_log_softmax_finish")
_LSE_FINISH = _lib.kernel("smk_logsumexp_finish")
_T = (ctypes.c_float, ctypes.c_double)


def _state_array(a: Any, shape: tuple, name: str) -> np.ndarray:
    s = np.ascontiguousarray(a, dtype=F64)
    if s.shape != shape:
        if s.size != int(np.prod(shape)):
            raise ArgumentError(f"{name} has shape {s.shape}, expected {shape}")
        s = s.reshape(shape)
    return s


def softmax_state(x: Any, axis: int = -1, *, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(max, sum)``: the partial state of each row of `x` along `axis`,
    float64 arrays of x's shape with `axis` kept at length 1."""
    a, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT)
    m, mp = output(e[KEPT], F64)
    s, sp = output(e[KEPT], F64)
    status = _STATE[k](xp, mp, sp, e[0], e[1], e[2], _lib.real(temperature, _T[k], "temperature"))
    if status:
        _check(status)
    return m, s


def merge_states(maxes: Sequence[Any], sums: Sequence[Any], *, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The exact merge of several states of the same rows (a list of
    ``max`` arrays and the matching ``sum`` arrays, all of one shape),
    folded in list order."""
    if len(maxes) == 0 or len(maxes) != len(sums):
        raise ArgumentError(f"merge_states needs as many max as sum arrays, at least one; got {len(maxes)} and {len(sums)}")
    shape = np.shape(maxes[0])
    mi = np.ascontiguousarray(np.stack([_state_array(v, shape, "max") for v in maxes]))
    si = np.ascontiguousarray(np.stack([_state_array(v, shape, "sum") for v in sums]))
    m, mp = output(shape, F64)
    s, sp = output(shape, F64)
    status = _MERGE(ptr(mi), ptr(si), mp, sp, i64(len(maxes)), i64(m.size),
                    _lib.real(temperature, ctypes.c_double, "temperature"))
    if status:
        _check(status)
    return m, s


def _finish(fns: tuple, x: Any, m: Any, s: Any, axis: int, temperature: float,
            out: Optional[np.ndarray]) -> np.ndarray:
    a, y, xp, yp, e, k = prepare(x, axis, out)
    mm = _state_array(m, e[KEPT], "max")
    ss = _state_array(s, e[KEPT], "sum")
    status = fns[k](xp, ptr(mm), ptr(ss), yp, e[0], e[1], e[2], _lib.real(temperature, _T[k], "temperature"))
    if status:
        _check(status)
    return y


def softmax_finish(x: Any, max: Any, sum: Any, axis: int = -1, *, temperature: float = 1.0,
                   out: Optional[np.ndarray] = None) -> np.ndarray:
    """``exp((x - max)/T) / sum``: a chunk's part of its rows' softmax, from
    the rows' merged state (``max``/``sum`` of x's shape with `axis` at length 1)."""
    return _finish(_FINISH, x, max, sum, axis, temperature, out)


def log_softmax_finish(x: Any, max: Any, sum: Any, axis: int = -1, *, temperature: float = 1.0,
                       out: Optional[np.ndarray] = None) -> np.ndarray:
    """``(x - max)/T - log(sum)``: a chunk's part of its rows' log-softmax."""
    return _finish(_LOG_FINISH, x, max, sum, axis, temperature, out)


def logsumexp_finish(max: Any, sum: Any, dtype: Any = np.float64) -> np.ndarray:
    """``max + log(sum)`` per state (temperature 1), in `dtype` (float32 or
    float64), the states' shape."""
    dt = np.dtype(dtype)
    if dt not in DTYPES[:2]:
        raise ArgumentError(f"dtype must be float32 or float64, got {dt}")
    m = np.ascontiguousarray(max, dtype=F64)
    s = _state_array(sum, m.shape, "sum")
    y, yp = output(m.shape, dt)
    status = _LSE_FINISH[0 if dt == DTYPES[0] else 1](ptr(m), ptr(s), yp, i64(m.size))
    if status:
        _check(status)
    return y
