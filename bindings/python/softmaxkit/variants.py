"""Softmax variants: masked, partitioned, segment (ragged) and hierarchical
softmax, and ensemble averaging. Semantics in include/softmaxkit.h."""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Sequence

import numpy as np

from . import _lib
from ._arrays import DTYPES, as_input, half_kind, i64, output, prepare, ptr
from ._cache import BoundedCache
from ._common import ENSEMBLE_MODES, as_inputs, choice, half_inputs, index, int64_array
from ._errors import ArgumentError

__all__ = ["masked_softmax", "masked_log_softmax", "partitioned", "segment_softmax",
           "hierarchical_softmax", "ensemble_mean", "ACTIVATIONS", "ENSEMBLE_MODES"]

_L = _lib.lib
_check = _lib.check
_MASKED = _lib.kernel("smk_masked_softmax")
_MASKED_LOG = _lib.kernel("smk_masked_log_softmax")
_PARTITIONED = _lib.kernel("smk_partitioned")
_SEGMENT = _lib.kernel("smk_segment_softmax")
_HIERARCHICAL = _lib.kernel("smk_hierarchical_softmax")
_ENSEMBLE = _lib.kernel("smk_ensemble_mean")
_FLAG = (ctypes.c_int(0), ctypes.c_int(1))  # C `int` booleans
_BOOL = np.dtype(np.bool_)
_U8 = np.dtype(np.uint8)


def _activation_names() -> tuple[str, ...]:
    # The library is the one source of the names: ask until it answers NULL.
    names = []
    while (name := _L.smk_activation_name(len(names))) is not None:
        names.append(name.decode())
    return tuple(names)


#: Activation names of :func:`partitioned`, in smk_activation order.
ACTIVATIONS: tuple[str, ...] = _activation_names()


def _mask_bytes(mask: Any, shape: tuple, axis: Optional[int]) -> np.ndarray:
    """The mask as uint8 bytes: one n-long pattern when it varies only along
    `axis` (a 1-D mask along the last axis, or e.g. shape ``(n, 1)`` for axis
    -2), else broadcast to the full shape."""
    nd = len(shape)
    if type(mask) is np.ndarray and (mask.dtype is _BOOL or mask.dtype is _U8) and mask.flags.c_contiguous:
        # Already bytes where nonzero = takes part (the library's own rule): no copy.
        if mask.shape == shape or (mask.ndim == 1 and nd > 0 and (axis == -1 or axis == nd - 1)
                                   and mask.shape[0] == shape[-1]):
            return mask  # bool is one byte, 0 or 1: the library reads it as uint8
    m = np.asarray(mask)
    if m.dtype.kind not in "biuf":
        raise ArgumentError(f"mask must hold booleans or numbers, got dtype {m.dtype}")
    if axis is not None and 0 < m.ndim <= nd and -nd <= axis < nd:
        # Size 1 (or absent) in every dimension but the axis, full length
        # along it: the library's shared pattern, never expanded.
        ax = axis % nd
        ms = (1,) * (nd - m.ndim) + m.shape
        if ms[ax] == shape[ax] and all(d == 1 for i, d in enumerate(ms) if i != ax):
            return np.ascontiguousarray(m.reshape(-1) != 0, dtype=np.uint8)
    try:
        full = np.broadcast_to(m != 0, shape)
    except ValueError:
        raise ArgumentError(f"mask of shape {m.shape} does not broadcast to x's shape {shape}") from None
    return np.ascontiguousarray(full, dtype=np.uint8)


def _masked(log: bool, x: Any, mask: Any, axis: Optional[int], renormalize: bool, out: Optional[np.ndarray],
            lengths: Any = None) -> np.ndarray:
    if lengths is not None:
        if mask is not None:
            raise ArgumentError("give either mask or lengths, not both")
        return _masked_lengths(log, x, lengths, axis, renormalize, out)
    if mask is None:
        raise ArgumentError("masked softmax needs a mask or lengths")
    a, y, xp, yp, e, k = prepare(x, axis, out, half=True)
    m = _mask_bytes(mask, a.shape, axis)
    if log:
        status = _MASKED_LOG[k](xp, ptr(m), yp, e[0], e[1], e[2], i64(m.size))
    else:
        status = _MASKED[k](xp, ptr(m), yp, e[0], e[1], e[2], i64(m.size), _FLAG[1 if renormalize else 0])
    if status:
        _check(status)
    return y


def masked_softmax(x: Any, mask: Any = None, axis: Optional[int] = -1, *, lengths: Any = None,
                   renormalize: bool = True, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Softmax over `axis` of the positions where `mask` is nonzero, or of
    the first ``lengths[...]`` positions of each fibre.

    Args:
        x: array-like of real numbers (float32 stays float32, float16 and
            ``ml_dtypes.bfloat16`` keep their dtype, computed in float32 and
            rounded once; anything else becomes float64).
        mask: broadcastable to `x`; nonzero / True = the position takes part
            (JAX ``where=``). A 1-D mask along the last axis is passed as one
            shared pattern without being expanded.
        axis: the axis to normalize.
        lengths: instead of `mask`: integers, one per fibre (the shape of `x`
            without `axis`, or that many values flat), each in ``[0, n]``:
            positions ``j < lengths[...]`` take part, the rest are padding.
            No mask is built.
        renormalize: True: normalize over the selected positions. False:
            softmax over every position, then zero the unselected.
        out: optional output array, as in :func:`softmaxkit.softmax`.

    Returns:
        Unselected positions are exactly 0 whatever their logit (NaN and inf
        included); a fully masked row (or a zero length) is all 0, never NaN.

    Raises:
        ArgumentError: both or neither of `mask` and `lengths`; lengths that
            are not integers, of the wrong count, negative or above n.
    """
    return _masked(False, x, mask, axis, renormalize, out, lengths)


def masked_log_softmax(x: Any, mask: Any = None, axis: Optional[int] = -1, *, lengths: Any = None,
                       out: Optional[np.ndarray] = None) -> np.ndarray:
    """Log-softmax over the selected positions; unselected and fully masked
    positions are ``-inf``. Arguments as :func:`masked_softmax`."""
    return _masked(True, x, mask, axis, True, out, lengths)


def _lengths_array(lengths: Any, shape: tuple, axis: Optional[int]) -> np.ndarray:
    """`lengths` as contiguous int64, one per fibre of `x` (shape without axis)."""
    nd = len(shape)
    if axis is None:
        fibres: tuple = ()
    else:
        ax = index(axis, "axis")
        if not -nd <= ax < nd:
            raise ArgumentError(f"axis {axis} is out of range for {nd} dimensions")
        ax %= nd
        fibres = shape[:ax] + shape[ax + 1:]
    lens = int64_array(lengths, "lengths")
    count = int(np.prod(fibres, dtype=np.int64))
    if lens.shape != fibres and not (lens.ndim == 1 and lens.size == count) and not (lens.ndim == 0 and count == 1):
        raise ArgumentError(f"lengths of shape {lens.shape} does not match the {count} fibres of x "
                            f"(x's shape {shape} without the axis: {fibres})")
    return lens


_MASKED_LENGTHS = _lib.kernel("smk_masked_softmax_lengths")
_MASKED_LOG_LENGTHS = _lib.kernel("smk_masked_log_softmax_lengths")


def _masked_lengths(log: bool, x: Any, lengths: Any, axis: Optional[int], renormalize: bool,
                    out: Optional[np.ndarray]) -> np.ndarray:
    a, y, xp, yp, e, k = prepare(x, axis, out, half=True)
    lens = _lengths_array(lengths, a.shape, axis)
    if log:
        status = _MASKED_LOG_LENGTHS[k](xp, ptr(lens), yp, e[0], e[1], e[2], i64(lens.size))
    else:
        status = _MASKED_LENGTHS[k](xp, ptr(lens), yp, e[0], e[1], e[2], i64(lens.size),
                                    _FLAG[1 if renormalize else 0])
    if status:
        _check(status)
    return y


_layouts = BoundedCache(256)


def _segments(layout: Any) -> tuple:
    """``(smk_partition array, count)`` of a layout, cached per layout (keyed
    with each width's type, so ``4.0`` is never taken for ``4``)."""
    try:
        key: Any = tuple([(type(w), w, act) for w, act in layout])
        hit = _layouts.get(key)
    except (TypeError, ValueError):  # unhashable or not pairs: the checks below name it
        key = hit = None
    if hit is not None:
        return hit
    try:
        items = [(index(w, f"layout[{k}] width"), act) for k, (w, act) in enumerate(layout)]
    except (TypeError, ValueError):
        raise ArgumentError("layout must be a sequence of (width, activation) pairs") from None
    segs = (_lib.Partition * max(len(items), 1))()
    for k, (w, act) in enumerate(items):
        segs[k].width = w
        segs[k].activation = choice(act, ACTIVATIONS, f"layout[{k}] activation")
    hit = (segs, i64(len(items)))
    if key is not None:
        _layouts.put(key, hit)  # read-only from here on: the library takes it as const
    return hit


def partitioned(x: Any, layout: Sequence[tuple[int, str]], axis: Optional[int] = -1, *,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Consecutive segments of `axis`, each under its own activation.

    Args:
        layout: ``[(width, activation), ...]`` with activation one of
            ``identity, softmax, log_softmax, sigmoid, tanh``; the widths must
            sum to the length of `axis`.

    Example: 4 action logits and 1 force,
    ``partitioned(z, [(4, "softmax"), (1, "identity")])``. float32, float16
    and ``ml_dtypes.bfloat16`` keep their dtype (half computed in float32,
    rounded once); other input gives float64.
    """
    a, y, xp, yp, e, k = prepare(x, axis, out, half=True)
    segs, count = _segments(layout)
    status = _PARTITIONED[k](xp, segs, yp, e[0], e[1], e[2], count)
    if status:
        _check(status)
    return y


def segment_softmax(x: Any, offsets: Any, axis: Optional[int] = -1, *,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
    """Softmax within ragged groups of `axis` given by CSR offsets
    ``[0, o_1, ..., n]`` (as torch_geometric's ``softmax(src, ptr=...)``).
    Empty groups are allowed; offsets must start at 0, end at the axis
    length and never decrease. float32, float16 and ``ml_dtypes.bfloat16``
    keep their dtype; other input gives float64."""
    a, y, xp, yp, e, k = prepare(x, axis, out, half=True)
    o = int64_array(offsets, "offsets")
    if o.ndim != 1:
        raise ArgumentError(f"offsets must be 1-D, got shape {o.shape}")
    status = _SEGMENT[k](xp, ptr(o), yp, e[0], e[1], e[2], i64(o.size))
    if status:
        _check(status)
    return y


def hierarchical_softmax(coarse: Any, fine: Any, sizes: Any, *, conditional: bool = False) -> np.ndarray:
    """Two-level softmax: `coarse` ``[B, K]`` picks a group, `fine`
    ``[B, sum(sizes)]`` picks within it (group k owns ``sizes[k]``
    consecutive columns).

    Returns ``[B, sum(sizes)]``: the joint ``P(k) * P(j | k)`` (each row sums
    to 1), or with ``conditional=True`` the per-group softmax ``P(j | k)``.
    1-D `coarse` and `fine` are one row and give a 1-D result. float32
    gives float32; `coarse` and `fine` both float16 (or both
    ``ml_dtypes.bfloat16``) give that dtype, computed in float32 and rounded
    once; any other mix gives float64.
    """
    c, f = as_input(coarse, "coarse", half=True), as_input(fine, "fine", half=True)
    if c.dtype.itemsize != 2 or c.dtype != f.dtype:  # (half only when both are the same half type)
        c, f = as_inputs((c, "coarse"), (f, "fine"))
    s = int64_array(sizes, "sizes")
    if s.ndim != 1:
        raise ArgumentError(f"sizes must be 1-D, got shape {s.shape}")
    one_row = c.ndim == 1 and f.ndim == 1
    c2 = c.reshape(1, -1) if c.ndim == 1 else c
    f2 = f.reshape(1, -1) if f.ndim == 1 else f
    if c2.ndim != 2 or f2.ndim != 2:
        raise ArgumentError(f"coarse and fine must be 2-D [B, K] and [B, F], got {c.shape} and {f.shape}")
    if c2.shape[0] != f2.shape[0]:
        raise ArgumentError(f"coarse has {c2.shape[0]} rows but fine has {f2.shape[0]}")
    if c2.shape[1] != s.size:
        raise ArgumentError(f"sizes has {s.size} groups but coarse has {c2.shape[1]} columns")
    k = 0 if f2.dtype == DTYPES[0] else 1 if f2.dtype == DTYPES[1] else half_kind(f2.dtype)
    y, yp = output(f2.shape, DTYPES[k])
    status = _HIERARCHICAL[k](ptr(c2), ptr(f2), ptr(s), yp, i64(c2.shape[0]), i64(s.size), i64(f2.shape[1]),
                              _FLAG[1 if conditional else 0])
    if status:
        _check(status)
    return y.reshape(-1) if one_row else y


def ensemble_mean(probs: Any, axis: int = 0, *, mode: str = "arithmetic") -> np.ndarray:
    """Combines ensemble members' outputs.

    Args:
        probs: the members stacked along `axis` (one array), or a sequence of
            arrays of one shape.
        axis: the member axis of a stacked array (ignored for a sequence).
        mode: ``arithmetic`` (mean of probabilities), ``geometric`` (mean of
            log-probabilities, renormalized over the last axis) or ``logits``
            (the members are logits: their mean, then softmax over the last
            axis).

    Returns:
        An array of one member's shape; the class axis is its last axis.
        float16 and ``ml_dtypes.bfloat16`` members (all of one dtype) give
        that dtype, float32 inside.
    """
    code = choice(mode, ENSEMBLE_MODES, "mode")
    if isinstance(probs, (list, tuple)):
        if not probs:
            raise ArgumentError("an ensemble needs at least one member")
        # Members of one float16 / bfloat16 dtype keep it (float32 inside).
        members = half_inputs(*probs) or as_inputs(*[(m, f"probs[{k}]") for k, m in enumerate(probs)])
        for k, m in enumerate(members):
            if m.shape != members[0].shape:
                raise ArgumentError(f"ensemble members have mismatched shapes: probs[0] is {members[0].shape}, "
                                    f"probs[{k}] is {m.shape}")
    else:
        a = as_input(probs, "probs", half=True)
        if a.ndim == 0:
            raise ArgumentError("probs must have a member axis; got a 0-d array")
        ax = index(axis, "axis")
        if not -a.ndim <= ax < a.ndim:
            raise ArgumentError(f"axis {ax} is out of range for an array of {a.ndim} dimensions")
        stacked = np.ascontiguousarray(np.moveaxis(a, ax, 0))
        members = list(stacked)
        if not members:
            raise ArgumentError("an ensemble needs at least one member")
    # The members are kept alive by `members` through the call.
    first, y, _, yp, e, k = prepare(members[0], -1, half=True)
    table = (ctypes.c_void_p * len(members))(*[ptr(m).value for m in members])
    status = _ENSEMBLE[k](table, yp, i64(len(members)), e[0], e[1], e[2], ctypes.c_int(code))
    if status:
        _check(status)
    return y
