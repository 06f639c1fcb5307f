"""Sampling from logits: temperature, top-k, top-p, min-p, a mask, one or
several draws per row with or without replacement, from a counter-based
random stream (Philox-4x32-10) that gives the same draws for a seed on
every surface and thread count. Semantics and the stream in
include/softmaxkit.h (smk_sample_f32)."""
from __future__ import annotations

import ctypes
import operator
import os
from typing import Any, Optional

import numpy as np

from . import _lib
from ._arrays import AFTER, BEFORE, DTYPES, F32, NO_OUTPUT, output, prepare, ptr
from ._common import I64, index
from ._errors import ArgumentError
from .variants import _mask_bytes

__all__ = ["sample"]

_SAMPLE = _lib.kernel("smk_sample")
_NULL = ctypes.c_void_p(None)


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be a real number, got {value!r}") from None


def _seed(seed: Any) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    try:
        s = operator.index(seed)
    except TypeError:
        raise ArgumentError(f"seed must be None or an integer in [0, 2**64), got {seed!r}") from None
    if not 0 <= s < 1 << 64:
        raise ArgumentError(f"seed must be None or an integer in [0, 2**64), got {s}")
    return s


def _options(temperature: Any = 1.0, top_k: Any = None, top_p: Any = None, min_p: Any = None, num_samples: Any = None,
             replacement: Any = True, row_offset: Any = 0) -> "_lib.SampleOptions":
    """A checked smk_sample_options (the library checks the ranges)."""
    opts = _lib.SampleOptions()
    _lib.lib.smk_sample_options_init(ctypes.byref(opts))
    opts.temperature = _real(temperature, "temperature")
    if top_k is not None:
        tk = index(top_k, "top_k")
        if tk < 0:
            raise ArgumentError(f"top_k must be >= 0 (0 = off), got {tk}")
        opts.top_k = tk
    if top_p is not None:
        opts.top_p = _real(top_p, "top_p")
    if min_p is not None:
        opts.min_p = _real(min_p, "min_p")
    draws = 1 if num_samples is None else index(num_samples, "num_samples")
    if draws < 1:
        raise ArgumentError(f"num_samples must be >= 1, got {draws}")
    opts.num_samples = draws
    if not isinstance(replacement, (bool, np.bool_)):
        raise ArgumentError(f"replacement must be True or False, got {replacement!r}")
    opts.replacement = 1 if replacement else 0
    off = index(row_offset, "row_offset")
    if not 0 <= off < 1 << 64:
        raise ArgumentError(f"row_offset must be in [0, 2**64), got {off}")
    opts.row_offset = off
    return opts


def sample(logits: Any, *, axis: int = -1, temperature: float = 1.0, top_k: Optional[int] = None,
           top_p: Optional[float] = None, min_p: Optional[float] = None, mask: Any = None,
           num_samples: Optional[int] = None, replacement: bool = True, seed: Optional[int] = None,
           return_log_probs: bool = False, row_offset: int = 0) -> Any:
    """Draws indices (int64) from the distribution ``softmax(logits / T)``
    along `axis`, truncated by `top_k`, `top_p` and `min_p` in that order
    (as llama.cpp and Hugging Face apply them).

    With ``num_samples=None`` one draw per row and `axis` removed; with an
    integer, `axis` replaced by that many draws (distinct ones with
    ``replacement=False``). ``temperature=0`` is greedy (argmax). `mask`
    (broadcastable to `logits`, or one pattern along `axis`; nonzero takes
    part) keeps positions out; a row with nothing to draw from (all masked
    or ``-inf``, or a NaN) gives -1 (log-probability NaN). ``seed=None``
    takes a fresh seed from the OS; an integer in [0, 2**64) gives
    reproducible draws: row ``r`` of the call draws from stream row
    ``row_offset + r``, so a row sampled alone with ``row_offset=r`` draws
    what it draws in the batch. With ``return_log_probs=True`` returns
    ``(indices, log_probs)``, the log-probability of each index under the
    distribution it was drawn from (after truncation), in the logits' dtype
    (float32 for float16 and ``ml_dtypes.bfloat16`` logits, which are
    sampled as they are: the draws of the float32 logits of the same values).
    """
    a, _, xp, _, e, k = prepare(logits, axis, NO_OUTPUT, "logits", half=True)
    opts = _options(temperature, top_k, top_p, min_p, num_samples, replacement, row_offset)
    draws = opts.num_samples
    s = _seed(seed)
    if num_samples is None:
        shape = e[BEFORE] + e[AFTER]
    else:
        shape = e[BEFORE] + (draws,) + e[AFTER]
    indices, ip = output(shape, I64)
    if return_log_probs:
        log_probs, lp = output(shape, DTYPES[k] if k < 2 else F32)
    else:
        log_probs, lp = None, _NULL
    if mask is None:
        mp, mcount = _NULL, 0
    else:
        m = _mask_bytes(mask, a.shape, axis)
        mp, mcount = ptr(m), m.size
    status = _SAMPLE[k](xp, mp, ip, lp, e[0], e[1], e[2], ctypes.c_int64(mcount), ctypes.byref(opts),
                        ctypes.c_uint64(s))
    if status:
        _lib.check(status)
    return (indices, log_probs) if return_log_probs else indices
