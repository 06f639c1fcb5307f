"""Normalizers and element-wise activations: softmax, log_softmax, logsumexp,
sigmoid, log_sigmoid. Names and keywords follow scipy.special and
torch.nn.functional."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _lib
from ._arrays import F32, F64, as_input, check_out, extents, extents_args, ptr

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"]

_L = _lib.lib
_check = _lib.check
_fast = _lib.fast
_SOFTMAX = {F32: _fast("smk_softmax_f32"), F64: _fast("smk_softmax_f64")}
_LOG_SOFTMAX = {F32: _fast("smk_log_softmax_f32"), F64: _fast("smk_log_softmax_f64")}
# The temperature's declared C type per dtype (float / double), and 1.0 ready-made.
_TEMPERATURE = {F32: _lib.argtype("smk_softmax_f32", 5), F64: _lib.argtype("smk_softmax_f64", 5)}
_ONE = {dt: cls(1.0) for dt, cls in _TEMPERATURE.items()}
_LOGSUMEXP = {F32: _L.smk_logsumexp_f32, F64: _L.smk_logsumexp_f64}
_SIGMOID = {F32: _L.smk_sigmoid_f32, F64: _L.smk_sigmoid_f64}
_LOG_SIGMOID = {F32: _L.smk_log_sigmoid_f32, F64: _L.smk_log_sigmoid_f64}


def _normalize(table: dict, x: Any, axis: Optional[int], temperature: float, out: Optional[np.ndarray]) -> np.ndarray:
    a = as_input(x)
    dt = a.dtype
    outer, n, inner = extents_args(a.shape, axis)
    t = _ONE[dt] if temperature == 1.0 and type(temperature) is float else _TEMPERATURE[dt](temperature)
    y = np.empty(a.shape, dt) if out is None else check_out(out, dt, a.shape)
    status = table[dt](ptr(a), ptr(y), outer, n, inner, t)
    if status:
        _check(status)
    return y


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
    return _normalize(_SOFTMAX, x, axis, temperature, out)


def log_softmax(x: Any, axis: Optional[int] = -1, *, temperature: float = 1.0,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Log-softmax of `x` over `axis`, computed as ``(x - max)/T - log(sum(exp((x - max)/T)))``
    (never ``log(softmax)``: ``log_softmax([1000, 1]) == [0, -999]``).
    Arguments, dtypes and errors as :func:`softmax`."""
    return _normalize(_LOG_SOFTMAX, x, axis, temperature, out)


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
