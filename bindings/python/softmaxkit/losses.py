"""Losses with torch.nn.functional's semantics: cross_entropy, nll_loss,
binary_cross_entropy_with_logits. Formulas in include/softmaxkit.h."""
from __future__ import annotations

import ctypes
import threading
from typing import Any, Optional, Union

import numpy as np

from . import _lib
from ._arrays import DTYPES, F32, N_INT, NO_OUTPUT, REMOVED, as_input, half_kind, i64, is_bfloat16, output, prepare, ptr
from ._cache import BoundedCache
from ._common import as_inputs, choice, half_inputs, index, int64_array
from ._errors import ArgumentError

__all__ = ["cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "REDUCTIONS"]

_L = _lib.lib
_check = _lib.check
_CROSS_ENTROPY = _lib.kernel("smk_cross_entropy")
_CROSS_ENTROPY_PROBS = _lib.kernel("smk_cross_entropy_probs")
_NLL = _lib.kernel("smk_nll_loss")
_BCE = _lib.kernel("smk_binary_cross_entropy_with_logits")
_REDUCTION = tuple(ctypes.c_int(r) for r in range(3))  # smk_reduction values

#: reduction= values, in smk_reduction order.
REDUCTIONS = ("none", "mean", "sum")


_options_cache = BoundedCache(256)


def _options(ignore_index: Any, label_smoothing: Any, reduction: Any) -> Any:
    """``byref(smk_loss_options)`` for these settings, built once per distinct
    settings (keyed with the types, so ``1.0`` is never taken for ``1``);
    the library only reads it."""
    try:
        key: Any = (type(ignore_index), ignore_index, type(label_smoothing), label_smoothing, reduction)
        hit = _options_cache.get(key)
    except TypeError:  # unhashable: the checks below name the problem
        key = hit = None
    if hit is not None:
        return hit
    o = _lib.LossOptions()
    _L.smk_loss_options_init(ctypes.byref(o))
    o.ignore_index = index(ignore_index, "ignore_index")
    try:
        o.label_smoothing = float(label_smoothing)
    except (TypeError, ValueError):
        raise ArgumentError(f"label_smoothing must be a number, got {label_smoothing!r}") from None
    o.reduction = choice(reduction, REDUCTIONS, "reduction")
    hit = ctypes.byref(o)  # keeps `o` alive
    if key is not None:
        _options_cache.put(key, hit)
    return hit


def _class_axis(logits: np.ndarray, axis: int) -> int:
    nd = logits.ndim
    if type(axis) is not int:
        axis = index(axis, "axis")
    # PyTorch's unbatched form: logits [C] with a scalar target; the class axis is 0.
    if nd == 1 and axis in (1, -1, 0):
        return 0
    if not -nd <= axis < nd:
        raise ArgumentError(f"axis {axis} is out of range for logits of {nd} dimensions")
    return axis % nd


# A reduced loss comes back as a scalar copied out of a 0-d array, so one such
# array per thread and dtype serves every call (making a new one and its
# pointer is a large part of a small loss call).
_scalars = threading.local()


def _scalar_output(k: int) -> tuple:
    """``(loss, pointer)``: this thread's 0-d output of kernel index `k`."""
    try:
        return _scalars.pairs[k]
    except AttributeError:
        _scalars.pairs = tuple(output((), d) for d in DTYPES[:2])
        return _scalars.pairs[k]


def _weight(weight: Any, dtype: np.dtype, classes: int) -> Optional[np.ndarray]:
    if weight is None:
        return None
    w = np.ascontiguousarray(np.asarray(weight), dtype=dtype)
    if w.ndim != 1 or w.size != classes:
        raise ArgumentError(f"weight has shape {w.shape} but logits have {classes} classes")
    return w


def _result(loss: np.ndarray, reduction: str) -> Union[np.ndarray, np.floating]:
    return loss if reduction == "none" else loss.reshape(())[()]


def _class_loss(kind: str, x: Any, target: Any, axis: int, weight: Any, ignore_index: int,
                label_smoothing: float, reduction: str, return_grad: bool):
    t_raw = target if type(target) is np.ndarray else np.asarray(target)
    probabilities = (t_raw.dtype.kind == "f" or is_bfloat16(t_raw.dtype)) and kind == "cross_entropy"
    if probabilities:
        # float16 / bfloat16 logits with targets of the same dtype keep it.
        halves = half_inputs(x, t_raw)
        logits, t = halves if halves else as_inputs((x, "input"), (t_raw, "target"))
    else:
        # prepare() below converts what is not a contiguous native float array.
        logits = x if type(x) is np.ndarray else as_input(x, "input")
        if t_raw.dtype.kind not in "iu":
            raise ArgumentError(f"target must hold class indices (integers)"
                                f"{' or probabilities (floats)' if kind == 'cross_entropy' else ''}, got dtype {t_raw.dtype}")
        t = int64_array(t_raw, "target")
    if logits.ndim == 0:
        raise ArgumentError("input must have a class axis; got a 0-d array")
    ax = _class_axis(logits, axis)
    # float16 / bfloat16 logits (with class indices, or probabilities of
    # their own dtype) keep their dtype (k 2, 3): float32 weights and
    # losses, the gradient in the logits' dtype.
    half = not probabilities or half_kind(t.dtype) >= 0
    logits, _, xp, _, e, k = prepare(logits, ax, NO_OUTPUT, "input", half=half)
    lk = 0 if k >= 2 else k
    sample_shape = e[REMOVED]
    want = logits.shape if probabilities else sample_shape
    if t.shape != want:
        what = "probability" if probabilities else "class-index"
        raise ArgumentError(f"{what} target has shape {t.shape}, expected {want} for input of shape {logits.shape}")
    w = _weight(weight, DTYPES[lk], e[N_INT])
    opts = _options(ignore_index, label_smoothing, reduction)
    loss, lp = output(sample_shape, DTYPES[lk]) if reduction == "none" else _scalar_output(lk)
    wp = None if w is None else ptr(w)
    if kind == "nll_loss":
        status = _NLL[k](xp, ptr(t), wp, lp, e[0], e[1], e[2], opts)
        if status:
            _check(status)
        return _result(loss, reduction)
    grad, gp = output(logits.shape, DTYPES[k]) if return_grad else (None, None)
    fns = _CROSS_ENTROPY_PROBS if probabilities else _CROSS_ENTROPY
    status = fns[k](xp, ptr(t), wp, lp, gp, e[0], e[1], e[2], opts)
    if status:
        _check(status)
    return (_result(loss, reduction), grad) if return_grad else _result(loss, reduction)


def cross_entropy(logits: Any, target: Any, *, axis: int = 1, weight: Any = None, ignore_index: int = -100,
                  label_smoothing: float = 0.0, reduction: str = "mean", return_grad: bool = False):
    """``torch.nn.functional.cross_entropy`` on logits.

    Args:
        logits: ``[B, C]``, ``[B, C, d1, ...]`` (class axis `axis`, default 1)
            or ``[C]`` (one sample).
        target: class indices (integers) of the logits' shape without the
            class axis, or class probabilities (floats) of the logits' shape.
        weight: ``[C]`` class weights.
        ignore_index: integer targets equal to it are skipped (any value).
        label_smoothing: in [0, 1].
        reduction: ``mean`` (divided by the summed weight of the counted
            targets, or by the sample count for probability targets; NaN when
            every target is ignored), ``sum`` or ``none``.
        return_grad: also return d loss / d logits (for ``none``, the
            gradient of the summed losses).

    float16 and ``ml_dtypes.bfloat16`` logits keep their dtype (float32
    inside) with class indices, or with probability targets of the same
    dtype: the losses are float32, the gradient in the logits' dtype.

    Returns:
        The loss (a scalar, or the per-sample array for ``none``), or
        ``(loss, dlogits)`` with `return_grad`.

    Raises:
        ArgumentError: a target outside ``[0, C)`` that is not `ignore_index`,
            weight of the wrong length, label_smoothing outside [0, 1] or NaN,
            shapes that disagree, an unknown reduction.
    """
    return _class_loss("cross_entropy", logits, target, axis, weight, ignore_index,
                       label_smoothing, reduction, return_grad)


def nll_loss(log_probs: Any, target: Any, *, axis: int = 1, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean"):
    """``torch.nn.functional.nll_loss``: ``-weight[t] * log_probs[t]`` per
    sample, with class-index targets; arguments as :func:`cross_entropy`
    (float16 / ``ml_dtypes.bfloat16`` log-probabilities: float32 losses)."""
    return _class_loss("nll_loss", log_probs, target, axis, weight, ignore_index, 0.0, reduction, False)


def binary_cross_entropy_with_logits(logits: Any, target: Any, *, weight: Any = None, pos_weight: Any = None,
                                     reduction: str = "mean"):
    """``torch.nn.functional.binary_cross_entropy_with_logits``:
    ``w [(1 - y) x + (1 + (p - 1) y) softplus(-x)]``, evaluated in double in a
    form where nothing cancels (every digit holds for any logit and any
    ``pos_weight``; ``smk_binary_cross_entropy_with_logits_f32`` gives it).

    `target` has the logits' shape; `weight` broadcasts to it; `pos_weight`
    broadcasts along the last axis (one weight per class). float16 or
    ``ml_dtypes.bfloat16`` logits and targets of one dtype are read as they
    are (float32 inside; weights and losses float32).
    """
    # float16 / bfloat16 logits and targets of one dtype keep it (float32
    # weights and losses); other dtypes as as_inputs promotes them.
    halves = half_inputs(logits, target)
    x, y = halves if halves else as_inputs((logits, "input"), (target, "target"))
    k = 0 if x.dtype == DTYPES[0] else 1 if x.dtype == DTYPES[1] else half_kind(x.dtype)
    wdt = DTYPES[k] if k < 2 else F32
    if x.shape != y.shape:
        raise ArgumentError(f"target has shape {y.shape} but input has shape {x.shape}")
    code = choice(reduction, REDUCTIONS, "reduction")
    w = pw = None
    if weight is not None:
        try:
            w = np.ascontiguousarray(np.broadcast_to(np.asarray(weight, dtype=wdt), x.shape))
        except ValueError:
            raise ArgumentError(f"weight of shape {np.shape(weight)} does not broadcast to {x.shape}") from None
    classes = x.shape[-1] if x.ndim else 1
    if pos_weight is not None:
        p = np.asarray(pos_weight, dtype=wdt)
        if p.ndim > 1 or (p.ndim == 1 and p.size not in (1, classes)):
            raise ArgumentError(f"pos_weight has shape {p.shape} but the last axis of input has {classes} classes")
        pw = np.ascontiguousarray(np.broadcast_to(p.reshape(-1) if p.ndim else p, (classes,)))
    loss, lp = output(x.shape if code == 0 else (), wdt)
    status = _BCE[k](ptr(x), ptr(y), None if w is None else ptr(w), None if pw is None else ptr(pw),
                     lp, i64(x.size), i64(classes), _REDUCTION[code])
    if status:
        _check(status)
    return _result(loss, reduction)
