"""Selection: hardmax, argmax, top-k and the fused softmax + top-k.
Larger first, NaN above every number, ties to the lower index (first
maximum wins), as numpy's argmax and torch.topk."""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from . import _lib
from ._arrays import AFTER, BEFORE, DTYPES, N_INT, NO_OUTPUT, REMOVED, i64, output, prepare
from ._common import I64, index
from ._errors import ArgumentError

__all__ = ["hardmax", "argmax", "topk", "softmax_topk"]

_check = _lib.check
_HARDMAX = _lib.kernel("smk_hardmax")
_ARGMAX = _lib.kernel("smk_argmax")
_TOPK = _lib.kernel("smk_topk")
_SOFTMAX_TOPK = _lib.kernel("smk_softmax_topk")
_T = (ctypes.c_float, ctypes.c_double, ctypes.c_float, ctypes.c_float)
_T1 = (ctypes.c_float(1.0), ctypes.c_double(1.0), ctypes.c_float(1.0), ctypes.c_float(1.0))


def hardmax(x: Any, axis: int = -1) -> np.ndarray:
    """One-hot of the first maximum along `axis` (ONNX Hardmax), x's dtype
    (float16 and ``ml_dtypes.bfloat16`` are ranked as they are and kept)."""
    a, y, xp, yp, e, k = prepare(x, axis, half=True)
    status = _HARDMAX[k](xp, yp, e[0], e[1], e[2])
    if status:
        _check(status)
    return y


def argmax(x: Any, axis: int = -1) -> np.ndarray:
    """Index (int64) of the first maximum along `axis`; `axis` is removed.
    A NaN wins at its first position. An empty axis is an error. float16 and
    ``ml_dtypes.bfloat16`` are ranked as they are (not widened to float64)."""
    a, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT, half=True)
    y, yp = output(e[REMOVED], I64)
    status = _ARGMAX[k](xp, yp, e[0], e[1], e[2])
    if status:
        _check(status)
    return y


def _select(fns: tuple, x: Any, kk: Any, axis: int, temperature: Any = None,
            half: bool = False) -> tuple[np.ndarray, np.ndarray]:
    a, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT, half=half)
    kk = index(kk, "k")
    n = e[N_INT]
    if not 0 <= kk <= n:
        raise ArgumentError(f"k must be in 0...{n} (the axis length), got {kk}")
    shape = e[BEFORE] + (kk,) + e[AFTER]
    values, vp = output(shape, DTYPES[k])
    indices, ip = output(shape, I64)
    if temperature is None:
        status = fns[k](xp, vp, ip, e[0], e[1], e[2], i64(kk))
    else:
        t = _T1[k] if temperature == 1.0 else _lib.real(temperature, _T[k], "temperature")
        status = fns[k](xp, vp, ip, e[0], e[1], e[2], i64(kk), t)
    if status:
        _check(status)
    return values, indices


def topk(x: Any, k: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(values, indices)`` of the `k` largest elements along `axis`, sorted
    descending, ties by lower index; `axis` has length `k` in both. The
    values have x's dtype when it is float32, float16 or
    ``ml_dtypes.bfloat16`` (else float64); the indices are int64."""
    return _select(_TOPK, x, k, axis, half=True)


def softmax_topk(x: Any, k: int, axis: int = -1, *, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(probs, indices)``: the softmax probabilities of the `k` most
    probable positions along `axis` and their indices, sorted descending,
    computed in one pass (online normalizer) without writing the full
    softmax. Equals ``topk(softmax(x, axis, temperature=T), k, axis)`` up to
    rounding. float16 and ``ml_dtypes.bfloat16`` input gives probabilities
    of its dtype."""
    return _select(_SOFTMAX_TOPK, x, k, axis, temperature, half=True)
