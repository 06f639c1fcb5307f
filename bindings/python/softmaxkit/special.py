"""scipy.special's softmax family on SoftmaxKit's kernels, as a drop-in:
``from softmaxkit.special import softmax`` where a script had
``from scipy.special import softmax``, and nothing else changes.

Same signatures, defaults and edge cases as scipy.special: `softmax`,
`log_softmax` and `logsumexp` reduce over every element by default
(``axis=None``; the main :mod:`softmaxkit` API defaults to the last axis),
take an axis, a tuple of axes or negative axes; `logsumexp` takes weights
`b` (broadcast against `a`, zero and negative entries included), `keepdims`
and `return_sign`; `expit`, `log_expit` and `logit` are element-wise and take
``out=`` as scipy's ufuncs do. Scalars give numpy scalars, as scipy.

Dtypes: float32 stays float32; float64 and every other real input (bool,
integers, float16) compute and return float64. Complex input is refused
with a TypeError: use scipy.special for it.

Two deliberate differences, both the main API's rules: an empty softmax or
log_softmax is an empty result (scipy raises: the maximum of nothing), and a
log_softmax fibre holding ``+inf`` is all NaN (as PyTorch and JAX; scipy
gives ``-inf`` beside the ``+inf``).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _lib
from ._arrays import DTYPES, F32, F64, KEPT, N_INT, NO_OUTPUT, REMOVED, as_input, output, prepare, ptr
from ._errors import ArgumentError
from .functional import Axis, gathered, over_axes

__all__ = ["softmax", "log_softmax", "logsumexp", "expit", "log_expit", "logit"]

_check = _lib.check
_SOFTMAX = _lib.kernel("smk_softmax")
_LOG_SOFTMAX = _lib.kernel("smk_log_softmax")
_LOGSUMEXP = _lib.kernel("smk_logsumexp")
_WEIGHTED = _lib.kernel("smk_logsumexp_weighted")
_SIGMOID = _lib.kernel("smk_sigmoid")
_LOG_SIGMOID = _lib.kernel("smk_log_sigmoid")
_LOGIT = _lib.kernel("smk_logit")
_ONE = tuple(DTYPES[k].type(1) for k in range(2))
_ONE_C = (_lib.argtype("smk_softmax_f32", 5)(1.0), _lib.argtype("smk_softmax_f64", 5)(1.0))
_ndarray = np.ndarray


def softmax(x: Any, axis: Axis = None) -> Any:
    """``exp(x) / sum(exp(x))`` over `axis` (default: every element), computed
    as ``exp(x - max)`` so nothing overflows; sums to 1 along `axis`.

    As ``scipy.special.softmax``: `axis` an int (negative counts from the
    end), a tuple of ints or None. A NaN makes its fibre NaN; ``-inf``
    entries get 0 when the fibre has a finite maximum; an all ``-inf`` fibre
    is NaN.
    """
    if type(axis) is tuple:
        y = over_axes(_SOFTMAX, x, axis, 1.0, None)
    else:
        a, y, xp, yp, e, k = prepare(x, axis)
        status = _SOFTMAX[k](xp, yp, e[0], e[1], e[2], _ONE_C[k])
        if status:
            _check(status)
    return y if y.ndim else y[()]


def log_softmax(x: Any, axis: Axis = None) -> Any:
    """``x - max - log(sum(exp(x - max)))`` over `axis` (default: every
    element): ``log_softmax([1000, 1]) == [0, -999]``, never ``log(softmax)``.
    Arguments as :func:`softmax`."""
    if type(axis) is tuple:
        y = over_axes(_LOG_SOFTMAX, x, axis, 1.0, None)
    else:
        a, y, xp, yp, e, k = prepare(x, axis)
        status = _LOG_SOFTMAX[k](xp, yp, e[0], e[1], e[2], _ONE_C[k])
        if status:
            _check(status)
    return y if y.ndim else y[()]


def _promoted(a: Any, b: Any) -> np.dtype:
    """The dtype scipy computes `a` and `b` in, by this package's rules:
    float32 when numpy promotes the pair to float32, else float64."""
    args = [v if isinstance(v, (bool, int, float, complex)) else np.asarray(v) for v in (a, b)]
    for v, name in zip(args, ("a", "b")):
        if isinstance(v, complex) or (isinstance(v, _ndarray) and v.dtype.kind == "c"):
            as_input(np.asarray(v), name)  # raises ComplexInputError
    return F32 if np.result_type(*args) == F32 else F64


def _weighted(a: Any, axis: Axis, b: Any, keepdims: bool, return_sign: bool) -> Any:
    """logsumexp with weights: a and b broadcast together and moved as one,
    the weights folded into the kernel's exp-sum."""
    kept = None
    if (type(a) is _ndarray and type(b) is _ndarray and a.shape == b.shape and a.dtype is b.dtype
            and (a.dtype is F64 or a.dtype is F32) and a.ndim and type(axis) is not tuple
            and a.flags.c_contiguous and b.flags.c_contiguous):
        # Ready arrays of one shape and dtype: no broadcasting, no copies.
        x, w = a, b
    else:
        dt = _promoted(a, b)
        a, b = np.asarray(a), np.asarray(b)
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ArgumentError(f"b has shape {b.shape}, which does not broadcast against a's {a.shape}") from None
        shape = shape or (1,)  # scipy reduces a 0-d input as 1-d
        a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
        if type(axis) is tuple:
            given = axis
            a, axis, _, kept = gathered(np.asarray(a, dt), given, "a")
            b = gathered(np.asarray(b, dt), given, "b")[0]
        x, w = np.ascontiguousarray(a, dt), np.ascontiguousarray(b, dt)
    x, _, xp, _, e, k = prepare(x, axis, NO_OUTPUT, "a")
    dt = DTYPES[k]
    y, yp = output(e[REMOVED], dt)
    sign, sp = output(e[REMOVED], dt) if return_sign else (None, None)
    status = _WEIGHTED[k](xp, ptr(w), yp, sp, e[0], e[1], e[2])
    if status:
        _check(status)
    if return_sign and e[N_INT] == 0:
        sign.fill(-1)  # scipy's sign of an empty sum, sign(-inf)
    if keepdims:
        shape = kept if kept is not None else e[KEPT]
        y = y.reshape(shape)
        sign = sign.reshape(shape) if return_sign else None
    if return_sign:
        return (y if y.ndim else y[()]), (sign if sign.ndim else sign[()])
    return y if y.ndim else y[()]


def logsumexp(a: Any, axis: Axis = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """``log(sum(b * exp(a)))`` over `axis` (default: every element), computed
    stably, as ``scipy.special.logsumexp``.

    Args:
        a: array-like of real numbers.
        axis: int, tuple of ints or None.
        b: weights broadcast against `a`; may hold zeros (the element then
            adds nothing, whatever its value) and negative numbers.
        keepdims: keep the reduced axes with length 1.
        return_sign: also return the sign of the total (+1, -1, 0); the
            value is then ``log|total|``. Without it a negative total is NaN.

    An empty reduction gives ``-inf``; a fibre holding ``+inf`` gives
    ``+inf``; all ``-inf`` gives ``-inf`` (sign 0); NaN gives NaN. A 0-d
    result is a numpy scalar.
    """
    if b is not None:
        return _weighted(a, axis, b, keepdims, return_sign)
    if type(a) is not _ndarray or a.ndim == 0:
        a = as_input(a, "a")
        if a.ndim == 0:
            a = a.reshape(1)
    if type(axis) is tuple:
        a, axis, _, kept = gathered(a, axis, "a")
    else:
        kept = None
    x, _, xp, _, e, k = prepare(a, axis, NO_OUTPUT, "a")
    y, yp = output(e[REMOVED], DTYPES[k])
    status = _LOGSUMEXP[k](xp, yp, e[0], e[1], e[2])
    if status:
        _check(status)
    if keepdims:
        y = y.reshape(kept if kept is not None else e[KEPT])
    if return_sign:
        # scipy's signs: 0 for a zero total, -1 for an empty one, NaN with NaN.
        sign = np.where(y == -np.inf, y.dtype.type(0 if e[N_INT] else -1), _ONE[k])
        sign[np.isnan(y)] = np.nan
        return (y if y.ndim else y[()]), (sign if sign.ndim else sign[()])
    return y if y.ndim else y[()]


def _ufunc(fns: tuple, x: Any, out: Any) -> Any:
    if out is not None:
        if type(out) is tuple:
            if len(out) != 1:
                raise ArgumentError(f"out must be an array or a tuple of one array, got {len(out)} entries")
            out = out[0]
        if out is not None:
            a, y, xp, yp, e, k = prepare(x, None, out)
            status = fns[k](xp, yp, e[1])
            if status:
                _check(status)
            return y
    a, y, xp, yp, e, k = prepare(x, None)
    status = fns[k](xp, yp, e[1])
    if status:
        _check(status)
    return y if y.ndim else y[()]


def expit(x: Any, out: Optional[np.ndarray] = None) -> Any:
    """The logistic sigmoid ``1 / (1 + exp(-x))`` element-wise, as
    ``scipy.special.expit``: saturates to exactly 0 and 1 without overflow.
    `out`: a C-contiguous, writeable array of the result's dtype and shape
    (or a 1-tuple of one, as ufuncs take), which is returned; may be `x`."""
    return _ufunc(_SIGMOID, x, out)


def log_expit(x: Any, out: Optional[np.ndarray] = None) -> Any:
    """``log(expit(x)) = min(x, 0) - log1p(exp(-|x|))`` element-wise, as
    ``scipy.special.log_expit``: ``log_expit(-1e4) == -1e4``. `out` as
    :func:`expit`."""
    return _ufunc(_LOG_SIGMOID, x, out)


def logit(x: Any, out: Optional[np.ndarray] = None) -> Any:
    """``log(x / (1 - x))`` element-wise, the inverse of :func:`expit`, as
    ``scipy.special.logit`` (``log1p`` form near 0.5): ``logit(0) == -inf``,
    ``logit(1) == inf``, NaN outside ``[0, 1]``. `out` as :func:`expit`."""
    return _ufunc(_LOGIT, x, out)
