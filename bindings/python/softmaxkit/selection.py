"""Selection: hardmax, argmax, top-k and the fused softmax + top-k.
Larger first, NaN above every number, ties to the lower index (first
maximum wins), as numpy's argmax and torch.topk."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _lib
from ._arrays import F32, as_input, extents, ptr
from ._common import I64, index
from ._errors import ArgumentError

__all__ = ["hardmax", "argmax", "topk", "softmax_topk"]

_L = _lib.lib
_check = _lib.check


def _reduced_shape(shape: tuple, axis: int, length: Optional[int]) -> tuple:
    """`shape` with `axis` removed (length None) or resized to `length`."""
    if not shape:
        return () if length is None else (length,)
    ax = axis % len(shape)
    mid = () if length is None else (length,)
    return shape[:ax] + mid + shape[ax + 1:]


def hardmax(x: Any, axis: int = -1) -> np.ndarray:
    """One-hot of the first maximum along `axis` (ONNX Hardmax), x's dtype."""
    a = as_input(x)
    outer, n, inner = extents(a.shape, axis)
    y = np.empty(a.shape, a.dtype)
    fn = _L.smk_hardmax_f32 if a.dtype == F32 else _L.smk_hardmax_f64
    _check(fn(ptr(a), ptr(y), outer, n, inner))
    return y


def argmax(x: Any, axis: int = -1) -> np.ndarray:
    """Index (int64) of the first maximum along `axis`; `axis` is removed.
    A NaN wins at its first position. An empty axis is an error."""
    a = as_input(x)
    outer, n, inner = extents(a.shape, axis)
    y = np.empty(_reduced_shape(a.shape, axis, None), I64)
    fn = _L.smk_argmax_f32 if a.dtype == F32 else _L.smk_argmax_f64
    _check(fn(ptr(a), ptr(y), outer, n, inner))
    return y


def _select(table: tuple, x: Any, k: Any, axis: int, *extra: float) -> tuple[np.ndarray, np.ndarray]:
    a = as_input(x)
    outer, n, inner = extents(a.shape, axis)
    kk = index(k, "k")
    if not 0 <= kk <= n:
        raise ArgumentError(f"k must be in 0...{n} (the axis length), got {kk}")
    shape = _reduced_shape(a.shape, axis, kk)
    values, indices = np.empty(shape, a.dtype), np.empty(shape, I64)
    fn = table[0] if a.dtype == F32 else table[1]
    _check(fn(ptr(a), ptr(values), ptr(indices), outer, n, inner, kk, *extra))
    return values, indices


def topk(x: Any, k: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(values, indices)`` of the `k` largest elements along `axis`, sorted
    descending, ties by lower index; `axis` has length `k` in both."""
    return _select((_L.smk_topk_f32, _L.smk_topk_f64), x, k, axis)


def softmax_topk(x: Any, k: int, axis: int = -1, *, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(probs, indices)``: the softmax probabilities of the `k` most
    probable positions along `axis` and their indices, sorted descending,
    computed in one pass (online normalizer) without writing the full
    softmax. Equals ``topk(softmax(x, axis, temperature=T), k, axis)`` up to
    rounding."""
    return _select((_L.smk_softmax_topk_f32, _L.smk_softmax_topk_f64), x, k, axis, temperature)
