"""Helpers the variant, selection, loss, backward and model modules share:
several arrays brought to one dtype, shape checks, small integer arrays,
range-checked integers, enum names."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ._arrays import F32, F64, INT64_MAX, as_input, half_kind, integer
from ._errors import ArgumentError

I64 = np.dtype(np.int64)

#: Ensemble modes in smk_ensemble_mode order: ensemble_mean(mode=...) and
#: Ensemble(mode=...) both read this table.
ENSEMBLE_MODES = ("arithmetic", "geometric", "logits")


def as_inputs(*pairs: tuple[Any, str]) -> list[np.ndarray]:
    """Each (array-like, name) as a contiguous float array, all of one dtype:
    float32 only when every input is float32 (as numpy promotion does)."""
    arrays = [as_input(x, name) for x, name in pairs]  # as_input returns ready arrays as they are
    dt = F32 if all(a.dtype == F32 for a in arrays) else F64
    return [a if a.dtype == dt else a.astype(dt) for a in arrays]


def half_inputs(*arrays: Any) -> Optional[list[np.ndarray]]:
    """The arrays as C-contiguous arrays of their dtype when every one is a
    numpy array of one native half dtype (float16, or ml_dtypes.bfloat16),
    for the _f16 / _bf16 kernels; None otherwise (as_inputs then widens)."""
    if not arrays or not all(type(a) is np.ndarray for a in arrays):
        return None
    dt = arrays[0].dtype
    if half_kind(dt) < 0 or any(a.dtype != dt for a in arrays):
        return None
    return [np.ascontiguousarray(a) for a in arrays]


def same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ArgumentError(f"{names[1]} has shape {b.shape} but {names[0]} has shape {a.shape}")


def int64_array(x: Any, name: str) -> np.ndarray:
    """Integer-valued array-like as contiguous int64; floats and bools are refused."""
    if type(x) is np.ndarray and x.dtype is I64 and x.flags.c_contiguous:
        return x
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        if a.size == 0 and a.dtype.kind == "f":
            a = a.astype(I64)
        else:
            raise ArgumentError(f"{name} must hold integers, got dtype {a.dtype}")
    elif a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > INT64_MAX:
        # The cast below would wrap 2**64 - 100 to -100.
        raise ArgumentError(f"{name} holds {a.max()}, outside the int64 range")
    return np.asarray(a, dtype=I64, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray does not)


def index(x: Any, name: str) -> int:
    """`x` as an int64-ranged Python int (see _arrays.integer)."""
    return integer(x, name)


def choice(value: str, options: Sequence[str], name: str) -> int:
    """The position of `value` in `options` (the C enum value)."""
    try:
        return list(options).index(value)
    except ValueError:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}") from None


def is_f32(a: np.ndarray) -> bool:
    return a.dtype == F32
