"""Normalizers and element-wise activations: softmax, log_softmax, logsumexp,
sigmoid, log_sigmoid. Names and keywords follow scipy.special and
torch.nn.functional."""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _lib
from ._arrays import DTYPES, KEPT, NO_OUTPUT, REMOVED, as_input, check_out, gather_plan, output, prepare

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"]

_check = _lib.check
_real = _lib.real
# Temperature classes per kernel index, and the default temperature made once.
# (float16 and bfloat16 kernels take float32 temperatures.)
_T = (ctypes.c_float, ctypes.c_double, ctypes.c_float, ctypes.c_float)
_T1 = (ctypes.c_float(1.0), ctypes.c_double(1.0), ctypes.c_float(1.0), ctypes.c_float(1.0))


Axis = Union[int, tuple, None]


def gathered(x: Any, axis: Any, name: str = "x", writable: bool = False, half: bool = False) -> tuple:
    """``(a, axis, inverse, kept)`` for a reduction of `x` over a tuple of
    axes: `a` holds x with the axes moved together (x itself when they are
    adjacent, else a contiguous transposed copy, reduced over its last axes),
    `axis` names them in `a`, `inverse` (None when nothing moved) moves a
    same-shaped result back, `kept` is x's shape with the axes at length 1.
    With `writable`, a moved `a` is always a new array (moving axes of
    length 1 can leave a view of x, which must not be written). `half`
    keeps float16 / bfloat16 (see prepare)."""
    a = as_input(x, name, half)
    perm, ax, inverse, kept = gather_plan(a.shape, axis)
    if perm is not None:
        t = a.transpose(perm)
        a = t.copy() if writable or not t.flags.c_contiguous else t
    return a, ax, inverse, kept


def over_axes(fns: tuple, x: Any, axis: Any, temperature: float, out: Optional[np.ndarray]) -> np.ndarray:
    """softmax or log_softmax over a tuple of axes: the kernel reduces
    adjacent axes as one extent; other axis sets are moved together first."""
    a, ax, inverse, _ = gathered(x, axis, writable=True, half=True)
    if inverse is None:
        a, y, xp, yp, e, k = prepare(a, ax, out, half=True)
    else:
        # The moved copy is ours: normalize it in place, then move it back.
        a, y, xp, yp, e, k = prepare(a, ax, a, half=True)
        shape = a.transpose(inverse).shape
        result = np.empty(shape, a.dtype) if out is None else check_out(out, a.dtype, shape)
    t = _T1[k] if temperature == 1.0 else _real(temperature, _T[k], "temperature")
    status = fns[k](xp, yp, e[0], e[1], e[2], t)
    if status:
        _check(status)
    if inverse is None:
        return y
    np.copyto(result, a.transpose(inverse))
    return result


def _normalizer(name: str, doc: str) -> Callable:
    """softmax or log_softmax over `smk_<name>_f32/f64`. The wrapper is built
    here rather than delegating to a shared body: a small softmax is mostly
    per-call overhead, and one more Python frame is a visible part of it."""
    fns = _lib.kernel(f"smk_{name}")

    def normalizer(x: Any, axis: Axis = -1, *, temperature: float = 1.0,
                   out: Optional[np.ndarray] = None) -> np.ndarray:
        if type(axis) is tuple:
            return over_axes(fns, x, axis, temperature, out)
        a, y, xp, yp, e, k = prepare(x, axis, out, half=True)
        t = _T1[k] if temperature == 1.0 else _real(temperature, _T[k], "temperature")
        status = fns[k](xp, yp, e[0], e[1], e[2], t)
        if status:
            _check(status)
        return y

    normalizer.__name__ = normalizer.__qualname__ = name
    normalizer.__doc__ = doc
    normalizer.__module__ = __name__
    return normalizer


softmax = _normalizer("softmax", """Softmax of `x` over `axis`: ``exp((x - max) / T) / sum(exp((x - max) / T))``.

    Args:
        x: array-like of real numbers. float32, float16 and
            ``ml_dtypes.bfloat16`` keep their dtype (half precision is
            computed in float32 and rounded once); other inputs become float64.
        axis: the axis to normalize (negative counts from the end); a tuple
            of axes normalizes over them together; ``None`` normalizes the
            whole array (``scipy.special.softmax``'s default; see
            :mod:`softmaxkit.special`).
        temperature: ``T``, finite and > 0.
        out: optional C-contiguous, writeable array of the result's dtype and
            shape; may be ``x`` itself (in place).

    Returns:
        The probabilities, same shape as `x`. A row containing NaN is all NaN;
        an all ``-inf`` row is NaN (0/0); ``-inf`` entries get 0.

    Raises:
        ArgumentError (a ValueError): bad axis, temperature, dtype or `out`.
    """)

log_softmax = _normalizer("log_softmax", """Log-softmax of `x` over `axis`, computed as
    ``(x - max)/T - log(sum(exp((x - max)/T)))`` (never ``log(softmax)``:
    ``log_softmax([1000, 1]) == [0, -999]``). Arguments, dtypes and errors as
    :func:`softmax`.""")

_LOGSUMEXP = _lib.kernel("smk_logsumexp")
_SIGMOID = _lib.kernel("smk_sigmoid")
_LOG_SIGMOID = _lib.kernel("smk_log_sigmoid")


def logsumexp(x: Any, axis: Axis = -1, *, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(x)))`` over `axis` (a tuple: over those axes together;
    ``None``: all elements), computed stably.

    The result has `axis` removed (kept with length 1 if `keepdims`). An empty
    reduction gives ``-inf``; ``+inf`` in a row gives ``+inf``; all ``-inf``
    gives ``-inf``; NaN gives NaN. Returns a 0-d array when the result is a
    single value of a 1-d input.
    """
    if type(axis) is tuple:
        x, axis, _, kept = gathered(x, axis, half=True)
        a, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT, half=True)
        y, yp = output(e[REMOVED], DTYPES[k])
        status = _LOGSUMEXP[k](xp, yp, e[0], e[1], e[2])
        if status:
            _check(status)
        return y.reshape(kept) if keepdims else y
    a, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT, half=True)
    y, yp = output(e[KEPT if keepdims else REMOVED], DTYPES[k])
    status = _LOGSUMEXP[k](xp, yp, e[0], e[1], e[2])
    if status:
        _check(status)
    return y


def _elementwise(fns: tuple, x: Any, out: Optional[np.ndarray]) -> np.ndarray:
    # axis=None: the entry's n is the element count. float16 / bfloat16 keep their dtype.
    a, y, xp, yp, e, k = prepare(x, None, out, half=True)
    status = fns[k](xp, yp, e[1])
    if status:
        _check(status)
    return y


def sigmoid(x: Any, *, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` element-wise, without overflow:
    saturates to exactly 0 and 1. `out` and dtypes as in :func:`softmax`."""
    return _elementwise(_SIGMOID, x, out)


def log_sigmoid(x: Any, *, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` element-wise:
    ``log_sigmoid(-1e4) == -1e4``. `out` and dtypes as in :func:`softmax`."""
    return _elementwise(_LOG_SIGMOID, x, out)
