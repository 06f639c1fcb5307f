"""Normalizers and element-wise activations: softmax, log_softmax, logsumexp,
sigmoid, log_sigmoid. Names and keywords follow scipy.special and
torch.nn.functional."""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Optional

import numpy as np

from . import _arrays, _lib
from ._arrays import F32, F64, as_input, check_out, extents, extents_args, ptr

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"]

_L = _lib.lib
_check = _lib.check
_fast = _lib.fast
_LOGSUMEXP = {F32: _L.smk_logsumexp_f32, F64: _L.smk_logsumexp_f64}
_SIGMOID = {F32: _L.smk_sigmoid_f32, F64: _L.smk_sigmoid_f64}
_LOG_SIGMOID = {F32: _L.smk_log_sigmoid_f32, F64: _L.smk_log_sigmoid_f64}
_ndarray = np.ndarray
_empty = np.empty
_extents_cache = _arrays._extents_cache
_OFFSET = _arrays.DATA_OFFSET


def _normalizer(name: str) -> Callable:
    """Builds the body shared by softmax and log_softmax for `smk_<name>_f32/f64`.

    Per-call cost matters (a 1x10 softmax is mostly overhead), so the common
    case (a C-contiguous float32/float64 ndarray, a cached shape) runs straight
    through: no-argtypes call handles, cached int64 extents and temperature 1,
    data pointers read through id(). Everything else goes through as_input().
    """
    entries = {}
    for dt, suffix in ((F32, "f32"), (F64, "f64")):
        fn = _fast(f"smk_{name}_{suffix}")
        temp_cls = _lib.argtype(f"smk_{name}_{suffix}", 5)
        entries[dt] = (fn, temp_cls(1.0), temp_cls)

    def run(x: Any, axis: Optional[int], temperature: float, out: Optional[np.ndarray]) -> np.ndarray:
        if type(x) is _ndarray and x.flags.c_contiguous:
            entry = entries.get(x.dtype)
            if entry is None:
                x = as_input(x)
                entry = entries[x.dtype]
        else:
            x = as_input(x)
            entry = entries[x.dtype]
        shape = x.shape
        try:
            ext = _extents_cache.get((shape, axis)) or extents_args(shape, axis)
        except TypeError:  # an unhashable axis: let extents() name the problem
            extents(shape, axis)
            raise
        t = entry[1] if temperature == 1.0 else entry[2](temperature)
        y = _empty(shape, x.dtype) if out is None else check_out(out, x.dtype, shape)
        if _OFFSET is not None:
            status = entry[0](_from_address(id(x) + _OFFSET), _from_address(id(y) + _OFFSET),
                              ext[0], ext[1], ext[2], t)
        else:
            status = entry[0](ptr(x), ptr(y), ext[0], ext[1], ext[2], t)
        if status:
            _check(status)
        return y

    return run


_from_address = ctypes.c_void_p.from_address
_softmax = _normalizer("softmax")
_log_softmax = _normalizer("log_softmax")


def softmax(x: Any, axis: Optional[int] = -1, *, temperature: float = 1.0,
            out: Optional[np.ndarray] = None) -> np.ndarray:
    """Softmax of `x` over `axis`: ``exp((x - max) / T) / sum(exp((x - max) / T))``.

    Args:
        x: array-like of real numbers. float32 stays float32; other inputs
            become float64.
        axis: the axis to normalize (negative counts from the end); ``None``
            normalizes the whole array, as ``scipy.special.softmax``.
        temperature: ``T``, finite and > 0.
        out: optional C-contiguous, writeable array of the result's dtype and
            shape; may be ``x`` itself (in place).

    Returns:
        The probabilities, same shape as `x`. A row containing NaN is all NaN;
        an all ``-inf`` row is NaN (0/0); ``-inf`` entries get 0.

    Raises:
        ArgumentError (a ValueError): bad axis, temperature, dtype or `out`.
    """
    return _softmax(x, axis, temperature, out)


def log_softmax(x: Any, axis: Optional[int] = -1, *, temperature: float = 1.0,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Log-softmax of `x` over `axis`, computed as ``(x - max)/T - log(sum(exp((x - max)/T)))``
    (never ``log(softmax)``: ``log_softmax([1000, 1]) == [0, -999]``).
    Arguments, dtypes and errors as :func:`softmax`."""
    return _log_softmax(x, axis, temperature, out)


def logsumexp(x: Any, axis: Optional[int] = -1, *, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(x)))`` over `axis` (``None``: all elements), computed stably.

    The result has `axis` removed (kept with length 1 if `keepdims`). An empty
    reduction gives ``-inf``; ``+inf`` in a row gives ``+inf``; all ``-inf``
    gives ``-inf``; NaN gives NaN. Returns a 0-d array when the result is a
    single value of a 1-d input.
    """
    a = as_input(x)
    outer, n, inner = extents(a.shape, axis)
    if axis is None:
        shape: tuple = ()
        kept = (1,) * a.ndim
    elif a.ndim == 0:
        shape, kept = (), ()
    else:
        ax = axis % a.ndim
        shape = a.shape[:ax] + a.shape[ax + 1:]
        kept = a.shape[:ax] + (1,) + a.shape[ax + 1:]
    y = np.empty(kept if keepdims else shape, a.dtype)
    _check(_LOGSUMEXP[a.dtype](ptr(a), ptr(y), outer, n, inner))
    return y


def _elementwise(table: dict, x: Any, out: Optional[np.ndarray]) -> np.ndarray:
    a = as_input(x)
    y = np.empty(a.shape, a.dtype) if out is None else check_out(out, a.dtype, a.shape)
    _check(table[a.dtype](ptr(a), ptr(y), a.size))
    return y


def sigmoid(x: Any, *, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` element-wise, without overflow:
    saturates to exactly 0 and 1. `out` as in :func:`softmax`."""
    return _elementwise(_SIGMOID, x, out)


def log_sigmoid(x: Any, *, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` element-wise:
    ``log_sigmoid(-1e4) == -1e4``. `out` as in :func:`softmax`."""
    return _elementwise(_LOG_SIGMOID, x, out)
