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
from ._common import index
from ._errors import ArgumentError
from .variants import _mask_bytes

__all__ = ["softmax_state", "merge_states", "softmax_finish", "log_softmax_finish", "logsumexp_finish",
           "topk_merge", "masked_softmax_state", "masked_softmax_finish", "masked_log_softmax_finish",
           "cross_entropy_chunk", "cross_entropy_grad_chunk"]

_check = _lib.check
_STATE = _lib.kernel("smk_softmax_state")
_MERGE = _lib.fast("smk_softmax_state_merge")
_FINISH = _lib.kernel("smk_softmax_finish")
_LOG_FINISH = _lib.kernel("smk_log_softmax_finish")
_LSE_FINISH = _lib.kernel("smk_logsumexp_finish")
_TOPK_MERGE = _lib.kernel("smk_topk_merge")
_MASKED_STATE = _lib.kernel("smk_masked_softmax_state")
_MASKED_FINISH = _lib.kernel("smk_masked_softmax_finish")
_MASKED_LOG_FINISH = _lib.kernel("smk_masked_log_softmax_finish")
_CE_CHUNK = _lib.kernel("smk_cross_entropy_chunk")
_CE_PROBS_CHUNK = _lib.kernel("smk_cross_entropy_probs_chunk")
_CE_GRAD_CHUNK = _lib.kernel("smk_cross_entropy_grad_chunk")
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


# ------------------------------------------------- merges of other reductions

def topk_merge(values: Any, indices: Any, k: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(values, indices)``: the `k` first of the candidates along `axis`
    (typically the top-k of several chunks of a row, concatenated; `indices`
    their positions in the whole row, int64, `values`' shape) in
    :func:`softmaxkit.topk`'s order, ties to the lower row index. Merging the
    top-k of every chunk of a row gives the row's top-k."""
    a, _, vp, _, e, kk = prepare(values, axis, NO_OUTPUT, "values")
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    if idx.shape != a.shape:
        raise ArgumentError(f"indices has shape {idx.shape}, expected the values' shape {a.shape}")
    k = index(k, "k")
    ax = index(axis, "axis") % max(a.ndim, 1)
    shape = a.shape[:ax] + (k,) + a.shape[ax + 1:] if a.ndim else (k,)
    if not 0 <= k <= (a.shape[ax] if a.ndim else a.size):
        raise ArgumentError(f"k must be in 0...{a.shape[ax] if a.ndim else a.size} (the candidates per row), got {k}")
    v, vop = output(shape, a.dtype)
    i, iop = output(shape, np.dtype(np.int64))
    status = _TOPK_MERGE[kk](vp, ptr(idx), vop, iop, e[0], e[1], e[2], i64(k))
    if status:
        _check(status)
    return v, i


def _mask(mask: Any, shape: tuple, axis: int) -> np.ndarray:
    return _mask_bytes(mask, shape, axis)


def masked_softmax_state(x: Any, mask: Any, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(max, sum)`` over the positions of each row where `mask` (broadcast
    to x, or one pattern along `axis`) is nonzero; ``(-inf, 0)`` for a row
    with none. Merge with :func:`merge_states`, finish with
    :func:`masked_softmax_finish` or :func:`masked_log_softmax_finish`."""
    a, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT)
    mb = _mask(mask, a.shape, axis)
    m, mp = output(e[KEPT], F64)
    s, sp = output(e[KEPT], F64)
    status = _MASKED_STATE[k](xp, ptr(mb), mp, sp, e[0], e[1], e[2], i64(mb.size))
    if status:
        _check(status)
    return m, s


def _masked_finish(fns: tuple, x: Any, mask: Any, m: Any, s: Any, axis: int, out: Optional[np.ndarray]) -> np.ndarray:
    a, y, xp, yp, e, k = prepare(x, axis, out)
    mb = _mask(mask, a.shape, axis)
    mm = _state_array(m, e[KEPT], "max")
    ss = _state_array(s, e[KEPT], "sum")
    status = fns[k](xp, ptr(mb), ptr(mm), ptr(ss), yp, e[0], e[1], e[2], i64(mb.size))
    if status:
        _check(status)
    return y


def masked_softmax_finish(x: Any, mask: Any, max: Any, sum: Any, axis: int = -1, *,
                          out: Optional[np.ndarray] = None) -> np.ndarray:
    """A chunk's part of its rows' masked softmax: selected positions from
    the rows' merged state, unselected ones exactly 0. States from
    :func:`masked_softmax_state` give ``renormalize=True``; states from
    :func:`softmax_state` (every position) give ``renormalize=False``."""
    return _masked_finish(_MASKED_FINISH, x, mask, max, sum, axis, out)


def masked_log_softmax_finish(x: Any, mask: Any, max: Any, sum: Any, axis: int = -1, *,
                              out: Optional[np.ndarray] = None) -> np.ndarray:
    """A chunk's part of its rows' masked log-softmax (``-inf`` unselected)."""
    return _masked_finish(_MASKED_LOG_FINISH, x, mask, max, sum, axis, out)


def cross_entropy_chunk(logits: Any, max: Any, sum: Any, target: Any, axis: int = 1, *, offset: int, classes: int,
                        weight: Any = None, ignore_index: int = -100,
                        label_smoothing: float = 0.0) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``(loss, target_weight)``: this chunk's part of each sample's
    cross-entropy (float64, logits' shape without `axis`) when the class axis
    of `classes` classes is split and `logits` holds classes
    ``offset ... offset + n - 1``; `max`/`sum` are the samples' merged states
    over every class. `target`: class indices (integers, the loss's shape)
    or this chunk's probabilities (floats, logits' shape). `weight`: None or
    this chunk's n class weights. The parts of a sample summed over its
    chunks are its loss; `target_weight` (class indices only, else None)
    summed over chunks and samples is the mean reduction's denominator."""
    a, _, xp, _, e, k = prepare(logits, axis, NO_OUTPUT, "logits")
    if a.ndim < 1:
        raise ArgumentError("logits must have a class axis; got a 0-d array")
    ax = index(axis, "axis") % a.ndim
    n = a.shape[ax]
    mm = _state_array(max, e[KEPT], "max")
    ss = _state_array(sum, e[KEPT], "sum")
    w = None
    if weight is not None:
        w = np.ascontiguousarray(weight, dtype=a.dtype)
        if w.shape != (n,):
            raise ArgumentError(f"weight has shape {w.shape}, expected ({n},) (this chunk's classes)")
    eps = _lib.real(label_smoothing, ctypes.c_double, "label_smoothing")
    wp = None if w is None else ptr(w)
    t = np.asarray(target)
    loss, lp = output(e[KEPT], F64)
    if t.dtype.kind == "f":
        tt = np.ascontiguousarray(t, dtype=a.dtype)
        if tt.shape != a.shape:
            raise ArgumentError(f"probability target has shape {tt.shape}, expected {a.shape}")
        status = _CE_PROBS_CHUNK[k](xp, ptr(mm), ptr(ss), ptr(tt), wp, lp, e[0], e[1], e[2],
                                    i64(index(offset, "offset")), i64(index(classes, "classes")), eps)
        tw = None
    elif t.dtype.kind in "iub":
        want = a.shape[:ax] + a.shape[ax + 1:]
        tt = np.ascontiguousarray(t, dtype=np.int64)
        if tt.shape != want:
            raise ArgumentError(f"class-index target has shape {tt.shape}, expected {want}")
        tw, tp = output(e[KEPT], F64)
        status = _CE_CHUNK[k](xp, ptr(mm), ptr(ss), ptr(tt), wp, lp, tp, e[0], e[1], e[2],
                              i64(index(offset, "offset")), i64(index(classes, "classes")),
                              i64(index(ignore_index, "ignore_index")), eps)
        tw = tw.reshape(want)
    else:
        raise ArgumentError(f"target must hold class indices (integers) or probabilities (floats), got dtype {t.dtype}")
    if status:
        _check(status)
    return loss.reshape(a.shape[:ax] + a.shape[ax + 1:]), tw


def cross_entropy_grad_chunk(logits: Any, max: Any, sum: Any, target: Any, axis: int = 1, *, offset: int,
                             classes: int, weight: Any = None, ignore_index: int = -100,
                             label_smoothing: float = 0.0, divisor: float = 1.0,
                             out: Optional[np.ndarray] = None) -> np.ndarray:
    """This chunk's part of d loss / d logits of :func:`softmaxkit.cross_entropy`
    with class-index targets when the class axis of `classes` classes is
    split and `logits` holds classes ``offset ... offset + n - 1``; the
    logits' shape and dtype. `max`/`sum`: the samples' merged states over
    every class; `target`: class indices (the logits' shape without `axis`);
    `weight`: None or ALL `classes` class weights; `divisor`: the mean
    reduction's denominator (the summed weight of the counted targets), 1
    for ``sum`` and ``none`` (whose gradient is that of the summed losses)."""
    a, g, xp, gp, e, k = prepare(logits, axis, out, "logits")
    if a.ndim < 1:
        raise ArgumentError("logits must have a class axis; got a 0-d array")
    ax = index(axis, "axis") % a.ndim
    mm = _state_array(max, e[KEPT], "max")
    ss = _state_array(sum, e[KEPT], "sum")
    c = index(classes, "classes")
    w = None
    if weight is not None:
        w = np.ascontiguousarray(weight, dtype=a.dtype)
        if w.shape != (c,):
            raise ArgumentError(f"weight has shape {w.shape}, expected ({c},) (every class's weight)")
    t = np.asarray(target)
    if t.dtype.kind not in "iub":
        raise ArgumentError(f"target must hold class indices (integers), got dtype {t.dtype}")
    want = a.shape[:ax] + a.shape[ax + 1:]
    tt = np.ascontiguousarray(t, dtype=np.int64)
    if tt.shape != want:
        raise ArgumentError(f"class-index target has shape {tt.shape}, expected {want}")
    status = _CE_GRAD_CHUNK[k](xp, ptr(mm), ptr(ss), ptr(tt), None if w is None else ptr(w), gp, e[0], e[1], e[2],
                               i64(index(offset, "offset")), i64(c), i64(index(ignore_index, "ignore_index")),
                               _lib.real(label_smoothing, ctypes.c_double, "label_smoothing"),
                               _lib.real(divisor, ctypes.c_double, "divisor"))
    if status:
        _check(status)
    return g
