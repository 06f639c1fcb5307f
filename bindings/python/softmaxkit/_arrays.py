"""Array plumbing shared by every wrapper: dtype, contiguity and `out=` rules,
axis -> (outer, n, inner), and cheap data pointers.

Rules: float32 in gives float32 out, float64 gives float64; the
functions with half-precision kernels (prepare(half=True)) keep float16 and
ml_dtypes.bfloat16 (computing in float32 inside), the others widen them; any
other real input is converted to float64 (as scipy does); big-endian and
non-contiguous arrays are copied, never read wrongly; `out=` must be a
C-contiguous, writeable ndarray of the result's dtype and shape.
"""
from __future__ import annotations

import ctypes
import math
import operator
import os
import sys
import threading
from typing import Any, Optional

import numpy as np

from ._cache import BoundedCache
from ._errors import ArgumentError, ComplexInputError

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
F16 = np.dtype(np.float16)

BFLOAT16_HELP = ("bfloat16 input needs the ml_dtypes package (pip install ml_dtypes): pass a numpy array "
                 "of dtype ml_dtypes.bfloat16 (softmaxkit itself needs numpy only)")


def is_bfloat16(dt: np.dtype) -> bool:
    """Whether `dt` is ml_dtypes.bfloat16 (recognized without importing ml_dtypes)."""
    return dt.itemsize == 2 and dt.name == "bfloat16"


def half_kind(dt: np.dtype) -> int:
    """The kernel index of a native half dtype: 2 float16, 3 bfloat16, -1 otherwise.
    Records the bfloat16 dtype in DTYPES on first sight."""
    if dt == F16 and dt.isnative:
        return 2
    if is_bfloat16(dt):
        DTYPES[3] = dt
        return 3
    return -1


def as_input(x: Any, name: str = "x", half: bool = False) -> np.ndarray:
    """`x` as a native-endian, C-contiguous float32/float64 array (no copy when it
    already is); with `half`, float16 and bfloat16 arrays keep their dtype."""
    if type(x) is np.ndarray and (x.dtype is F32 or x.dtype is F64) and x.flags.c_contiguous:
        return x
    try:
        a = np.asarray(x)
    except (TypeError, RuntimeError) as err:
        if "bfloat16" in str(err).lower() or "bfloat16" in str(getattr(x, "dtype", "")).lower():
            raise ArgumentError(f"{name}: {BFLOAT16_HELP}") from None
        raise
    kind = a.dtype.kind
    if half and (a.dtype.kind == "f" and a.dtype.itemsize == 2 or is_bfloat16(a.dtype)):
        dt = F16 if kind == "f" else a.dtype
    elif kind == "f" and a.dtype.itemsize in (4, 8):
        dt = F32 if a.dtype.itemsize == 4 else F64
    elif kind in "biuf" or is_bfloat16(a.dtype):  # bool, integers, float16, bfloat16, longdouble
        dt = F64
    elif kind == "c":
        raise ComplexInputError(f"{name} is complex ({a.dtype}); softmaxkit computes over real numbers only: "
                                f"use scipy.special for complex input")
    else:
        raise ArgumentError(f"{name} must hold real numbers, got dtype {a.dtype}")
    # asarray(order="C"), not ascontiguousarray: the latter makes 0-d arrays 1-d.
    return np.asarray(a, dtype=dt, order="C")


def check_out(out: Any, dtype: np.dtype, shape: tuple, name: str = "out") -> np.ndarray:
    """Validates a caller-supplied output array; refuses rather than converts."""
    if not isinstance(out, np.ndarray):
        raise ArgumentError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    dt = out.dtype
    if dt is not dtype and (dt != dtype or not dt.isnative):
        raise ArgumentError(f"{name} has dtype {dt}, expected native {dtype}")
    if out.shape != shape:
        raise ArgumentError(f"{name} has shape {out.shape}, expected {shape}")
    flags = out.flags
    if not flags.c_contiguous:
        raise ArgumentError(f"{name} must be C-contiguous")
    if not flags.writeable:
        raise ArgumentError(f"{name} is read-only")
    return out


def axes(shape: tuple, axis: Any) -> tuple:
    """A tuple of axes as sorted non-negative ints, each in range and
    named once (a 0-d array accepts 0 and -1, as numpy does)."""
    nd = len(shape)
    try:
        given = [operator.index(a) for a in axis]
    except TypeError:
        raise ArgumentError(f"axis must be an integer, a tuple of integers or None, got {axis!r}") from None
    if nd == 0:
        for a in given:
            if a not in (0, -1):
                raise ArgumentError(f"axis {a} is out of range for a 0-d array")
        return ()
    for a in given:
        if not -nd <= a < nd:
            raise ArgumentError(f"axis {a} is out of range for an array of {nd} dimensions")
    out = sorted(a % nd for a in given)
    if len(set(out)) != len(out):
        raise ArgumentError(f"axis {tuple(given)} names an axis twice")
    return tuple(out)


def adjacent(shape: tuple, ax: tuple) -> bool:
    """Whether sorted axes `ax` of `shape` lie together in memory (one
    extent): no axis of length other than 1 between them."""
    return not ax or all(shape[i] == 1 or i in ax for i in range(ax[0], ax[-1] + 1))


def extents(shape: tuple, axis: Any) -> tuple[int, int, int]:
    """(outer, n, inner) for a reduction over `axis` (None: the whole array;
    a tuple: adjacent axes, reduced as one extent; an empty tuple reduces
    nothing, so every element is its own fibre)."""
    if axis is None:
        return 1, math.prod(shape), 1
    if type(axis) is tuple:
        ax = axes(shape, axis)
        if not adjacent(shape, ax):
            raise ArgumentError(f"axes {tuple(axis)} are not adjacent: this function reduces over one axis "
                                f"or over adjacent axes only")
        if not ax:
            return math.prod(shape), 1, 1
        return math.prod(shape[:ax[0]]), math.prod(shape[ax[0]:ax[-1] + 1]), math.prod(shape[ax[-1] + 1:])
    try:
        axis = operator.index(axis)
    except TypeError:
        raise ArgumentError(f"axis must be an integer, a tuple of integers or None, got {axis!r}") from None
    nd = len(shape)
    if nd == 0:
        if axis not in (0, -1):
            raise ArgumentError(f"axis {axis} is out of range for a 0-d array")
        return 1, 1, 1
    if not -nd <= axis < nd:
        raise ArgumentError(f"axis {axis} is out of range for an array of {nd} dimensions")
    a = axis % nd
    return math.prod(shape[:a]), shape[a], math.prod(shape[a + 1:])


_I64 = ctypes.c_int64
_VP = ctypes.c_void_p
_from_address = _VP.from_address

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def integer(x: Any, name: str, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """`x` as a Python int in ``[lo, hi]`` (default: int64), else ArgumentError.

    Every integer the binding hands to C goes through here (or i64): ctypes
    would otherwise keep only the low bits, so ``2**64 + 4`` would become 4.
    Accepts what ``operator.index`` accepts (ints, numpy integers); floats,
    even ``4.0``, are refused."""
    try:
        v = operator.index(x)
    except TypeError:
        raise ArgumentError(f"{name} must be an integer, got {x!r}") from None
    if not lo <= v <= hi:
        raise ArgumentError(f"{name} must be in {lo}...{hi}, got {v}")
    return v


# --------------------------------------------------------------------------
# Data pointers.
#
# data_pointer_object(a) is the one place that reads an ndarray's data
# pointer through the object's address: numpy's PyArrayObject keeps it right
# after the object header, at an offset found (and verified against
# `arr.ctypes.data`) at import by _find_data_offset; when no offset checks
# out, it falls back to `arr.ctypes.data`. The object it returns is a
# c_void_p whose storage IS that field, so ctypes reads the pointer when it
# converts the argument: right for whatever live ndarray sits at that address
# at call time, including after numpy reallocates the array's memory
# (`resize`). That makes the objects reusable per address (arrays come and
# go at the same few addresses), so ptr() caches them. Reading the field is
# several times cheaper than `arr.ctypes.data`, which builds an object per
# call. tests/test_binding_mechanics.py checks ptr(a) against a.ctypes.data
# for views, resized arrays and arrays over foreign memory (bytearray, mmap).
# --------------------------------------------------------------------------


def _find_data_offset() -> Optional[int]:
    """The offset of the data-pointer field in an ndarray object, checked on
    probe arrays of different dtypes, shapes, views and owners; None when no
    candidate agrees with `ctypes.data` on every probe."""
    base = np.zeros((4, 4), F64)
    probes = [np.zeros(3, F32), base[1:], base[:, 1], np.frombuffer(bytearray(16), np.uint8), np.empty(0, F32)]
    for off in (16, 24, 32, 40):
        if all(_from_address(id(p) + off).value == p.ctypes.data for p in probes):
            return off
    return None


DATA_OFFSET = _find_data_offset()

if DATA_OFFSET is not None:
    def data_pointer_object(a: np.ndarray) -> ctypes.c_void_p:
        """A c_void_p aliasing `a`'s data-pointer field (see above). Only for
        ndarrays; the caller keeps `a` alive until the call returns."""
        return _from_address(id(a) + DATA_OFFSET)
else:  # pragma: no cover - an interpreter where the self-check failed
    def data_pointer_object(a: np.ndarray) -> ctypes.c_void_p:
        """A snapshot of `a.ctypes.data` (the offset self-check failed)."""
        return _VP(a.ctypes.data)

# The pointer objects by array address (not kept when there is no offset:
# a snapshot is right only for the array it was taken from).
_aliases = BoundedCache(4096 if DATA_OFFSET is not None else 0)
_get_alias = _aliases.get


def _alias(a: np.ndarray) -> ctypes.c_void_p:
    """Makes (and, when it aliases the field, keeps) the pointer object of a's address."""
    p = data_pointer_object(a)
    if DATA_OFFSET is not None:
        _aliases.put(id(a), p)
    return p


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    """The data pointer of ndarray `a` as a ctypes argument (keep `a` alive
    during the call). prepare() and output() inline this body."""
    return _get_alias(id(a)) or _alias(a)


# --------------------------------------------------------------------------
# The lean call path. Every wrapper calls the library through `_lib.kernel`
# handles without argtypes (ctypes then skips a Python-level conversion per
# argument), so every argument must already be a ctypes object of the
# declared type: pointers from ptr()/prepare(), extents from the cache below,
# other integers from i64(). prepare() is the one place where inputs are
# normalized, extents looked up and outputs allocated or checked.
# --------------------------------------------------------------------------

# Extents, cached per (shape, axis). Entry fields, by position (a tuple:
# indexing is the cheapest access):
OUTER, N, INNER, N_INT, BEFORE, AFTER, REMOVED, KEPT, LARGE = range(9)
_cache = BoundedCache(1024)
# The last entry used, as (shape, axis, entry): one tuple compare instead of
# hashing (shape, axis) when a caller repeats a shape. Replaced whole, so a
# thread reads either the old or the new triple, never a mix.
_last: tuple = ((None,), None, None)


def _build(shape: tuple, axis: Optional[int]) -> tuple:
    """The extents entry of (shape, axis): the three extents as c_int64, n as
    an int, the shape before and after the axis, the shape with the axis
    removed and with it kept at length 1 (for reductions)."""
    outer, n, inner = extents(shape, axis)  # raises for a bad axis
    nd = len(shape)
    if axis is None:
        before, after, removed, kept = (), (), (), (1,) * nd
    elif type(axis) is tuple:  # canonical (entry): sorted, adjacent
        before, after = (shape[:axis[0]], shape[axis[-1] + 1:]) if axis else (shape, ())
        removed = tuple(d for i, d in enumerate(shape) if i not in axis)
        kept = tuple(1 if i in axis else d for i, d in enumerate(shape))
    elif nd == 0:
        before, after, removed, kept = (), (), (), ()
    else:
        a = axis % nd
        before, after = shape[:a], shape[a + 1:]
        removed, kept = before + after, before + (1,) + after
    count = outer * n * inner
    # LARGE: per kernel index (float32, float64), whether a new output of
    # this shape comes from recycled_empty.
    large = (count * 4 >= RECYCLE_MIN_BYTES, count * 8 >= RECYCLE_MIN_BYTES,
             count * 2 >= RECYCLE_MIN_BYTES, count * 2 >= RECYCLE_MIN_BYTES)
    return (_I64(outer), _I64(n), _I64(inner), n, before, after, removed, kept, large)


def entry(shape: tuple, axis: Any) -> tuple:
    """The extents entry of reducing `shape` over `axis` (cached)."""
    global _last
    if type(axis) is tuple and all(type(a) is int for a in axis):
        # Keyed by the tuple as given (ints only: never (1.0,) for (1,)).
        e = _cache.get((shape, axis))
        if e is None:
            extents(shape, axis)  # names a bad or non-adjacent axis set
            e = _cache.put((shape, axis), _build(shape, axes(shape, axis)))
        _last = (shape, axis, e)
        return e
    if axis is not None and type(axis) is not int:
        # Normalize first: the cache must never answer for axis=1.0 because
        # axis=1 was seen (they hash alike); extents() names a bad axis.
        extents(shape, axis)
        axis = axes(shape, axis) if type(axis) is tuple else operator.index(axis)
    key = (shape, axis)
    e = _cache.get(key)
    if e is None:
        e = _cache.put(key, _build(shape, axis))
    _last = (shape, axis, e)
    return e


_plans = BoundedCache(256)


def gather_plan(shape: tuple, axis: Any) -> tuple:
    """How to reduce `shape` over a tuple of axes: ``(perm, axis, inverse, kept)``.

    Adjacent axes are one extent: perm is None and `axis` the canonical tuple
    (sorted, non-negative). Otherwise `perm` moves the reduced axes, in
    order, behind the others (a transpose whose contiguous copy the kernel
    reads as rows), `axis` names them in the moved array and `inverse` moves
    them back. `kept`: the input's shape with the reduced axes at length 1
    (keepdims)."""
    # Cached only for tuples of ints: (1.0,) must not find the plan of (1,).
    key = (shape, axis) if type(axis) is tuple and all(type(a) is int for a in axis) else None
    plan = _plans.get(key) if key else None
    if plan is None:
        ax = axes(shape, axis)
        kept = tuple(1 if i in ax else d for i, d in enumerate(shape))
        if adjacent(shape, ax):
            plan = (None, ax, None, kept)
        else:
            rest = tuple(i for i in range(len(shape)) if i not in ax)
            perm = rest + ax
            plan = (perm, tuple(range(len(rest), len(shape))), tuple(perm.index(i) for i in range(len(shape))), kept)
        if key:
            _plans.put(key, plan)
    return plan


_SMALL = tuple(_I64(v) for v in range(257))


def i64(v: int) -> ctypes.c_int64:
    """`v` (an int) as a c_int64, shared objects for 0...256 (never mutate
    them); a value outside int64 is an ArgumentError, never wrapped."""
    if 0 <= v <= 256:
        return _SMALL[v]
    if not INT64_MIN <= v <= INT64_MAX:
        raise ArgumentError(f"{v} is outside the int64 range")
    return _I64(v)


#: dtype of kernel index k (0: the _f32 function, 1: the _f64 one, 2: _f16,
#: 3: _bf16, whose dtype (ml_dtypes.bfloat16) half_kind records when first seen).
DTYPES = [F32, F64, F16, None]
#: prepare(out=NO_OUTPUT): normalize the input only; the caller makes its outputs.
NO_OUTPUT = object()
_ndarray = np.ndarray
_empty = np.empty
_id = id


def _kind(dt: np.dtype) -> int:
    return 0 if dt == F32 else 1 if dt == F64 else half_kind(dt)


def prepare(x: Any, axis: Any, out: Any = None, name: str = "x", half: bool = False) -> tuple:
    """The lean path of every wrapper: ``(a, y, a_pointer, y_pointer, entry, k)``.

    `a` is `x` as a C-contiguous native float32/float64 array (`x` itself
    when it already is one; else as_input's copy), `k` its kernel index (0
    float32, 1 float64; with `half`, 2 float16 and 3 bfloat16, which
    otherwise become float64), `entry` the cached extents of (a.shape, axis). `y` is
    a new array of a's shape and dtype, or `out` once check_out accepts it; with
    ``out=NO_OUTPUT`` there is none (y and its pointer are None). The caller
    keeps `a` and `y` alive until the call returns.
    """
    if type(x) is _ndarray and x.flags.c_contiguous:
        dt = x.dtype
        k = 0 if dt is F32 else 1 if dt is F64 else half_kind(dt) if half else -1
        if k < 0:
            x = as_input(x, name, half)
            k = _kind(x.dtype)
    else:
        x = as_input(x, name, half)
        k = _kind(x.dtype)
    shape = x.shape
    m = _last
    e = m[2] if m[0] == shape and m[1] is axis else entry(shape, axis)
    xp = _get_alias(_id(x)) or _alias(x)
    if out is None:
        y = _empty(shape, DTYPES[k]) if not e[8][k] else recycled_empty(shape, DTYPES[k])
    elif out is NO_OUTPUT:
        return x, None, xp, None, e, k
    else:
        y = check_out(out, DTYPES[k], shape)
    return x, y, xp, _get_alias(_id(y)) or _alias(y), e, k


# Recycled outputs. A new array larger than glibc's largest heap block
# (32 MiB) is a fresh mmap whose every page the kernel zeroes on first touch,
# a large share of a big softmax's time, where ONNX Runtime reuses its
# arena. So the wrappers keep the memory of the last few such outputs
# and hand it out again once nothing outside references it: an output (and
# every view of it) holds its owner buffer, so the owner's reference count
# says when it is free. At most RECYCLE_SLOTS idle buffers are kept;
# SOFTMAXKIT_RECYCLE=0 turns this off, release_buffers() drops them.
RECYCLE_MIN_BYTES = 32 << 20
RECYCLE_SLOTS = 2
_recycled: list = []
_recycle_lock = threading.Lock()
_getrefcount = sys.getrefcount


def _refs(pool: list, i: int) -> int:
    return _getrefcount(pool[i])


# What _refs reports for a buffer only the pool references (measured, not
# assumed: the count an interpreter reports for a temporary differs between
# versions). Reference counts say nothing exact without the GIL, so
# free-threaded interpreters never recycle.
_IDLE_REFS = _refs([object()], 0)
_RECYCLE = (os.environ.get("SOFTMAXKIT_RECYCLE", "1") != "0"
            and getattr(sys, "_is_gil_enabled", lambda: True)()
            and hasattr(sys, "getrefcount"))


def recycled_empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An uninitialized array of `shape` and `dtype` (at least
    RECYCLE_MIN_BYTES) on the memory of an idle recycled buffer when one of
    the same size exists, else on a new buffer the pool keeps."""
    if not _RECYCLE:
        return _empty(shape, dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    with _recycle_lock:
        pool = _recycled
        for i in range(len(pool)):
            if pool[i].nbytes == nbytes and _refs(pool, i) == _IDLE_REFS:
                owner = pool.pop(i)
                pool.append(owner)  # most recently used last
                return owner.view(dtype).reshape(shape)
        owner = _empty(nbytes, np.uint8)
        if len(pool) >= RECYCLE_SLOTS:
            idle = [i for i in range(len(pool)) if _refs(pool, i) == _IDLE_REFS]
            if not idle:  # every kept buffer is in use: this one is not kept
                return owner.view(dtype).reshape(shape)
            del pool[idle[0]]  # the least recently used idle buffer
        pool.append(owner)
        return owner.view(dtype).reshape(shape)


def release_buffers() -> None:
    """Drops the idle recycled output buffers (outputs still referenced keep
    their memory until they are released)."""
    with _recycle_lock:
        _recycled[:] = [_recycled[i] for i in range(len(_recycled)) if _refs(_recycled, i) != _IDLE_REFS]


def output(shape: tuple, dtype: np.dtype) -> tuple:
    """``(y, pointer)``: a new array of `shape` and `dtype` and its data pointer."""
    y = _empty(shape, dtype)
    return y, _get_alias(_id(y)) or _alias(y)
