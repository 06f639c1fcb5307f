"""SoftmaxKit on Dask arrays: the normalizers, selection, losses, sampling
and model forward passes over ``dask.array.Array``, with the keywords of the
in-memory functions (``pip install softmaxkit[dask]``).

The reduction axis may be split into any number of chunks. Each chunk
reports its partial state (the online normalizer's running max and sum of
exponentials, or its top-k), the states of a row merge exactly in a tree
(``split_every`` at a time), and one more pass writes each output chunk from
its row's merged state: no task holds a whole row and the input is read at
most twice. The merge and finishing passes are the library's kernels
(:mod:`softmaxkit.chunked`). A reduction axis held in one chunk is computed
by the in-memory function itself, bit for bit.

Results equal the in-memory ones bit for bit when the reduction axis is one
chunk and for topk, argmax-like selections and sampling; otherwise up to the
rounding of the sum's order (a few float32 ulp).

float16 and ``ml_dtypes.bfloat16`` arrays keep their dtype in softmax,
log_softmax, logsumexp, topk, softmax_topk and cross_entropy's gradient
(cross_entropy's loss is float32), as in memory; a chunk is widened to
float32 exactly, run through the float32 chunk kernels and its output
rounded into the half type once, as the library's half kernels do, so a
chunked reduction axis is within one half ulp of the in-memory result and a
whole one is the in-memory call itself. sample widens them to float64 as
the in-memory call does.

Point it at a cluster as any Dask code: ``Client("tcp://scheduler:8786")``,
then call these functions and ``.compute()``.
"""
from __future__ import annotations

import itertools
import os
from typing import Any, Optional

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:  # pragma: no cover - exercised without dask only
    raise ImportError("softmaxkit.dask needs Dask: pip install 'softmaxkit[dask]'") from exc

from . import chunked as _ch
from . import functional as _fn
from . import losses as _losses
from . import sampling as _sampling
from . import selection as _sel
from . import variants as _var
from ._common import index
from ._errors import ArgumentError
from .losses import REDUCTIONS
from .model import Ensemble, Model

__all__ = ["softmax", "log_softmax", "logsumexp", "masked_softmax", "masked_log_softmax", "cross_entropy", "topk",
           "softmax_topk", "sample", "forward"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
#: How many partial states (or top-k lists) one merge task takes.
SPLIT_EVERY = 8


# ------------------------------------------------------------------ plumbing

def _is_half(dt: np.dtype) -> bool:
    """float16 or ml_dtypes.bfloat16 (recognized without importing ml_dtypes)."""
    return dt == np.float16 or (dt.itemsize == 2 and dt.name == "bfloat16")


def _wide(b: np.ndarray) -> np.ndarray:
    """A half block widened to float32 (exact), as the library's half
    kernels do before running their float32 kernel; other blocks as they are."""
    return b.astype(_F32) if _is_half(b.dtype) else b


def _narrow(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A float32 result rounded (to nearest even) into the half `dtype`, as
    the library's half kernels store theirs; other results as they are."""
    return y.astype(dtype) if _is_half(dtype) else y


def _as_float(x: Any, half: bool = False) -> "da.Array":
    """x as a float32 or float64 Dask array (other reals widen to float64);
    with `half`, float16 and bfloat16 stay as they are."""
    x = da.asarray(x)
    if _is_half(x.dtype):
        return x if half else x.astype(_F64)  # widened exactly, as the in-memory call does
    if x.dtype not in (_F32, _F64):
        if x.dtype.kind not in "biuf":
            raise ArgumentError(f"x must hold real numbers, got dtype {x.dtype}")
        x = x.astype(_F64)
    return x


def _axis(x: "da.Array", axis: Any) -> int:
    if axis is None:
        raise ArgumentError("axis=None is not supported by this function (nor by its in-memory twin); pass an integer axis")
    a = index(axis, "axis")
    if not -x.ndim <= a < x.ndim:
        raise ArgumentError(f"axis {a} is out of range for an array of {x.ndim} dimensions")
    return a % x.ndim


def _axes(x: "da.Array", axis: Any, tuples: bool = True) -> tuple:
    """The reduced axes, normalized and sorted: ``None`` is every axis, a
    tuple (where the in-memory twin takes one) its axes, an int itself."""
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, tuple) and tuples:
        axs = [index(a, "axis") for a in axis]
        for a in axs:
            if not -x.ndim <= a < x.ndim:
                raise ArgumentError(f"axis {a} is out of range for an array of {x.ndim} dimensions")
        norm = [a % x.ndim for a in axs]
        if len(set(norm)) != len(norm):
            raise ArgumentError(f"axis {axis!r} names an axis twice")
        return tuple(sorted(norm))
    return (_axis(x, axis),)


def _fold(block: np.ndarray, axes: tuple) -> tuple:
    """``(array, axis)``: a block viewed as fibres along one axis: itself for
    one reduced axis; else its kept axes first and the reduced ones
    flattened into the last."""
    if len(axes) == 1:
        return block, axes[0]
    keep = [d for d in range(block.ndim) if d not in axes]
    n = int(np.prod([block.shape[d] for d in axes]))
    t = np.ascontiguousarray(np.transpose(block, keep + list(axes)))
    return t.reshape(tuple(block.shape[d] for d in keep) + (n,)), -1


def _unfold(y: np.ndarray, shape: tuple, axes: tuple) -> np.ndarray:
    """The inverse of _fold for a result of the folded block's shape."""
    if len(axes) == 1:
        return y
    keep = [d for d in range(len(shape)) if d not in axes]
    order = keep + list(axes)
    t = y.reshape(tuple(shape[d] for d in order))
    return np.ascontiguousarray(np.transpose(t, np.argsort(order)))


def _temperature(t: Any) -> float:
    """A temperature checked now, at graph construction, rather than in a worker."""
    if isinstance(t, (bool, np.bool_)):
        raise ArgumentError(f"temperature must be a real number, got {t!r}")
    try:
        v = float(t)
    except (TypeError, ValueError):
        raise ArgumentError(f"temperature must be a real number, got {t!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ArgumentError(f"temperature must be finite and > 0, got {t!r}")
    return v


def _blocks(x: "da.Array"):
    return itertools.product(*(range(n) for n in x.numblocks))


def _row(idx: tuple, ax: Any) -> tuple:
    """A block index without the reduced axis (or tuple of axes)."""
    if isinstance(ax, tuple):
        return tuple(v for d, v in enumerate(idx) if d not in ax)
    return idx[:ax] + idx[ax + 1:]


def _offsets(chunks: tuple) -> list:
    return [0] + list(itertools.accumulate(chunks))


def _tree(dsk: dict, name: str, row: tuple, keys: list, fn, *args, split_every: int = SPLIT_EVERY):
    """Merges `keys` in groups of `split_every`, level by level, with
    ``fn(list_of_results, *args)``; returns the key of the final merge (the
    one key itself when there is just one)."""
    level = 0
    while len(keys) > 1:
        nxt = []
        for g in range(0, len(keys), split_every):
            k = (name, level) + row + (g // split_every,)
            dsk[k] = (fn, keys[g:g + split_every]) + args
            nxt.append(k)
        keys, level = nxt, level + 1
    return keys[0]


def _array(dsk: dict, name: str, deps: list, chunks: tuple, dtype: Any) -> "da.Array":
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    meta = np.empty((0,) * len(chunks), dtype=dtype)
    return da.Array(graph, name, chunks, meta=meta)


# ---------------------------------------------------------- tasks (on workers)

def _state_task(block, axes, t):
    b, ax = _fold(_wide(block), axes)
    return _ch.softmax_state(b, ax, temperature=t)


def _merge_task(states, t):
    return _ch.merge_states([s[0] for s in states], [s[1] for s in states], temperature=t)


def _finish_task(block, state, axes, t, take_log):
    f = _ch.log_softmax_finish if take_log else _ch.softmax_finish
    b, ax = _fold(_wide(block), axes)
    return _narrow(_unfold(f(b, state[0], state[1], ax, temperature=t), block.shape, axes), block.dtype)


def _lse_task(state, axes, dtype, keepdims):
    y = _narrow(_ch.logsumexp_finish(state[0], state[1], _F32 if _is_half(dtype) else dtype), dtype)
    if len(axes) == 1:
        return y if keepdims else np.squeeze(y, axis=axes[0])
    shape = list(y.shape[:-1])
    if keepdims:
        for a in axes:
            shape.insert(a, 1)
    return y.reshape(shape)


def _row_states(dsk: dict, x: "da.Array", axes: tuple, t: float, token: str, split_every: int) -> dict:
    """Adds the state and merge tasks of every row block of `x` to `dsk`;
    returns {row index: key of its merged state}."""
    sname, mname = "smk-state-" + token, "smk-merge-" + token
    rows: dict = {}
    for idx in _blocks(x):
        k = (sname,) + idx
        dsk[k] = (_state_task, (x.name,) + idx, axes, t)
        rows.setdefault(_row(idx, axes), []).append(k)
    return {r: _tree(dsk, mname, r, ks, _merge_task, t, split_every=split_every) for r, ks in rows.items()}


def _one_chunk(x: "da.Array", axes: tuple) -> bool:
    return all(x.numblocks[a] == 1 for a in axes)


def _normalize(x: Any, axis: Any, temperature: float, take_log: bool, split_every: int) -> "da.Array":
    x = _as_float(x, half=True)
    axes = _axes(x, axis)
    temperature = _temperature(temperature)
    if _one_chunk(x, axes):
        f = _fn.log_softmax if take_log else _fn.softmax
        return x.map_blocks(f, axis=axis if len(axes) != 1 else axes[0], temperature=temperature, dtype=x.dtype)
    token = tokenize(x, axes, temperature, take_log, split_every)
    name = ("smk-log-softmax-" if take_log else "smk-softmax-") + token
    dsk: dict = {}
    state = _row_states(dsk, x, axes, temperature, token, split_every)
    for idx in _blocks(x):
        dsk[(name,) + idx] = (_finish_task, (x.name,) + idx, state[_row(idx, axes)], axes, temperature, take_log)
    return _array(dsk, name, [x], x.chunks, x.dtype)


# ------------------------------------------------------------------ the API

def softmax(x: Any, axis: Any = -1, *, temperature: float = 1.0, split_every: int = SPLIT_EVERY) -> "da.Array":
    """:func:`softmaxkit.softmax` of a Dask array over `axis` (an int, a
    tuple of axes, or ``None`` for every element; any chunking)."""
    return _normalize(x, axis, temperature, False, split_every)


def log_softmax(x: Any, axis: Any = -1, *, temperature: float = 1.0, split_every: int = SPLIT_EVERY) -> "da.Array":
    """:func:`softmaxkit.log_softmax` of a Dask array over `axis` (an int, a
    tuple of axes, or ``None``; any chunking)."""
    return _normalize(x, axis, temperature, True, split_every)


def logsumexp(x: Any, axis: Any = -1, *, keepdims: bool = False, split_every: int = SPLIT_EVERY) -> "da.Array":
    """:func:`softmaxkit.logsumexp` of a Dask array over `axis` (an int, a
    tuple of axes, or ``None`` for every element)."""
    x = _as_float(x, half=True)
    axes = _axes(x, axis)
    keepdims = bool(keepdims)
    out_chunks = tuple(((1,),) if d in axes else (c,) for d, c in enumerate(x.chunks) if keepdims or d not in axes)
    out_chunks = tuple(c[0] for c in out_chunks)

    def out_index(row: tuple) -> tuple:
        if not keepdims:
            return row
        it = iter(row)
        return tuple(0 if d in axes else next(it) for d in range(x.ndim))

    token = tokenize(x, axes, keepdims, split_every)
    name = "smk-logsumexp-" + token
    dsk: dict = {}
    if _one_chunk(x, axes):
        arg = axes[0] if len(axes) == 1 else axes
        for idx in _blocks(x):
            dsk[(name,) + out_index(_row(idx, axes))] = (_lse_direct, (x.name,) + idx, arg, keepdims)
        return _array(dsk, name, [x], out_chunks, x.dtype)
    state = _row_states(dsk, x, axes, 1.0, token, split_every)
    for row, k in state.items():
        dsk[(name,) + out_index(row)] = (_lse_task, k, axes, x.dtype, keepdims)
    return _array(dsk, name, [x], out_chunks, x.dtype)


def _lse_direct(block, axis, keepdims):
    return np.asarray(_fn.logsumexp(block, axis, keepdims=keepdims))


def _mask_like(x: "da.Array", mask: Any, ax: Optional[int]) -> "da.Array":
    m = da.asarray(mask)
    if ax is not None and m.ndim == 1 and x.ndim > 1 and m.shape[0] == x.shape[ax]:
        m = m.reshape((1,) * ax + (m.shape[0],) + (1,) * (x.ndim - ax - 1))
    try:
        m = da.broadcast_to(m, x.shape)
    except ValueError:
        raise ArgumentError(f"mask of shape {m.shape} does not broadcast to {x.shape}") from None
    return m.rechunk(x.chunks)


def _masked_state_task(block, mblock, axes, renormalize):
    b, ax = _fold(block, axes)
    if not renormalize:
        return _ch.softmax_state(b, ax)
    return _ch.masked_softmax_state(b, _fold(np.asarray(mblock), axes)[0], ax)


def _masked_finish_task(block, mblock, state, axes, take_log):
    b, ax = _fold(block, axes)
    f = _ch.masked_log_softmax_finish if take_log else _ch.masked_softmax_finish
    return _unfold(f(b, _fold(np.asarray(mblock), axes)[0], state[0], state[1], ax), block.shape, axes)


def _masked_direct(block, mblock, axis, renormalize, take_log):
    if take_log:
        return _var.masked_log_softmax(block, mblock, axis)
    return _var.masked_softmax(block, mblock, axis, renormalize=renormalize)


def _masked(x: Any, mask: Any, axis: Any, renormalize: Any, take_log: bool, split_every: int) -> "da.Array":
    x = _as_float(x)
    axes = _axes(x, axis, tuples=False)
    if not isinstance(renormalize, (bool, np.bool_)):
        raise ArgumentError(f"renormalize must be True or False, got {renormalize!r}")
    renormalize = bool(renormalize)
    m = _mask_like(x, mask, axes[0] if len(axes) == 1 else None)
    if _one_chunk(x, axes):
        arg = axes[0] if len(axes) == 1 else None
        return da.map_blocks(_masked_direct, x, m, arg, renormalize, take_log, dtype=x.dtype)
    token = tokenize(x, m, axes, renormalize, take_log, split_every)
    name = ("smk-masked-log-softmax-" if take_log else "smk-masked-softmax-") + token
    sname, mname = "smk-mstate-" + token, "smk-mmerge-" + token
    dsk: dict = {}
    rows: dict = {}
    for idx in _blocks(x):
        k = (sname,) + idx
        dsk[k] = (_masked_state_task, (x.name,) + idx, (m.name,) + idx, axes, renormalize)
        rows.setdefault(_row(idx, axes), []).append(k)
    state = {r: _tree(dsk, mname, r, ks, _merge_task, 1.0, split_every=split_every) for r, ks in rows.items()}
    for idx in _blocks(x):
        dsk[(name,) + idx] = (_masked_finish_task, (x.name,) + idx, (m.name,) + idx, state[_row(idx, axes)],
                              axes, take_log)
    return _array(dsk, name, [x, m], x.chunks, x.dtype)


def masked_softmax(x: Any, mask: Any, axis: Optional[int] = -1, *, renormalize: bool = True,
                   split_every: int = SPLIT_EVERY) -> "da.Array":
    """:func:`softmaxkit.masked_softmax` of a Dask array; `mask` (Dask or
    numpy) broadcasts to `x`, or is one pattern along `axis`; ``axis=None``
    normalizes over every element."""
    return _masked(x, mask, axis, renormalize, False, split_every)


def masked_log_softmax(x: Any, mask: Any, axis: Optional[int] = -1, *, split_every: int = SPLIT_EVERY) -> "da.Array":
    """:func:`softmaxkit.masked_log_softmax` of a Dask array (``-inf`` where
    unselected and in fully masked rows); arguments as :func:`masked_softmax`."""
    return _masked(x, mask, axis, True, True, split_every)


# ---------------------------------------------------------------- selection

def _topk_task(block, k, ax, offset, t):
    kk = min(k, block.shape[ax])
    v, i = _sel.topk(block, kk, ax)
    if offset:
        i += offset
    if t is None:
        return v, i, None, None
    m, s = _ch.softmax_state(_wide(block), ax, temperature=t)
    return v, i, m, s


def _topk_merge(parts, k, ax, t):
    v = np.concatenate([p[0] for p in parts], axis=ax)
    i = np.concatenate([p[1] for p in parts], axis=ax)
    vv, ii = _ch.topk_merge(_wide(v), i, min(k, v.shape[ax]), ax)
    vv = _narrow(vv, v.dtype)  # half values widened and back: exact
    if t is None:
        return vv, ii, None, None
    m, s = _ch.merge_states([p[2] for p in parts], [p[3] for p in parts], temperature=t)
    return vv, ii, m, s


def _topk_out(res, ax, t, which):
    v, i, m, s = res
    if which == 1:
        return i
    if t is None:
        return v
    return _narrow(_ch.softmax_finish(_wide(v), m, s, ax, temperature=t), v.dtype)


def _direct_select(block, k, ax, t, which):
    r = _sel.topk(block, k, ax) if t is None else _sel.softmax_topk(block, k, ax, temperature=t)
    return r[which]


def _select(x: Any, k: Any, axis: Any, t: Optional[float], split_every: int) -> tuple:
    x = _as_float(x, half=True)
    ax = _axis(x, axis)
    k = index(k, "k")
    n = x.shape[ax]
    if not 0 <= k <= n:
        raise ArgumentError(f"k must be in 0...{n} (the axis length), got {k}")
    if t is not None:
        t = _temperature(t)
    token = tokenize(x, k, ax, t, split_every)
    names = ("smk-topk-values-" + token, "smk-topk-indices-" + token)
    out_chunks = x.chunks[:ax] + ((k,),) + x.chunks[ax + 1:]
    dsk: dict = {}
    if x.numblocks[ax] == 1:
        for idx in _blocks(x):
            for w in (0, 1):
                dsk[(names[w],) + idx] = (_direct_select, (x.name,) + idx, k, ax, t, w)
    else:
        cname, mname = "smk-topk-part-" + token, "smk-topk-merge-" + token
        offs = _offsets(x.chunks[ax])
        rows: dict = {}
        for idx in _blocks(x):
            key = (cname,) + idx
            dsk[key] = (_topk_task, (x.name,) + idx, k, ax, offs[idx[ax]], t)
            rows.setdefault(_row(idx, ax), []).append(key)
        for r, ks in rows.items():
            final = _tree(dsk, mname, r, ks, _topk_merge, k, ax, t, split_every=split_every)
            out = r[:ax] + (0,) + r[ax:]
            for w in (0, 1):
                dsk[(names[w],) + out] = (_topk_out, final, ax, t, w)
    graph = HighLevelGraph.from_collections(names[0], dsk, dependencies=[x])
    vals = da.Array(graph, names[0], out_chunks, meta=np.empty((0,) * x.ndim, dtype=x.dtype))
    idxs = da.Array(graph, names[1], out_chunks, meta=np.empty((0,) * x.ndim, dtype=np.int64))
    return vals, idxs


def topk(x: Any, k: int, axis: int = -1, *, split_every: int = SPLIT_EVERY) -> tuple:
    """:func:`softmaxkit.topk` of a Dask array: ``(values, indices)`` with
    `axis` of length `k` (one chunk), the same values and indices as in memory."""
    return _select(x, k, axis, None, split_every)


def softmax_topk(x: Any, k: int, axis: int = -1, *, temperature: float = 1.0,
                 split_every: int = SPLIT_EVERY) -> tuple:
    """:func:`softmaxkit.softmax_topk` of a Dask array: each chunk's top-k
    and partial state, merged in a tree, then the k probabilities from the
    row's merged state; the full softmax is never written."""
    return _select(x, k, axis, _temperature(temperature), split_every)


# ------------------------------------------------------------------ sampling

def _sample_task(block, mblock, ax, offset, kw, which):
    r = _sampling.sample(block, axis=ax, mask=mblock, row_offset=offset, **kw)
    return r[which] if kw.get("return_log_probs") else r


def sample(logits: Any, *, axis: int = -1, temperature: float = 1.0, top_k: Optional[int] = None,
           top_p: Optional[float] = None, min_p: Optional[float] = None, mask: Any = None,
           num_samples: Optional[int] = None, replacement: bool = True, seed: Optional[int] = None,
           return_log_probs: bool = False, row_offset: int = 0) -> Any:
    """:func:`softmaxkit.sample` of a Dask array: the same draws as the
    in-memory call with the same seed, row by row, whatever the chunking
    (each block draws from its rows' places in the stream, counted from
    `row_offset` as in memory). A row is drawn from as a whole: the sampled
    axis, and every axis but the first other one, are brought into one
    chunk. ``seed=None`` picks one seed for the whole array. Half logits
    stay half (the draws are those of their float32 widening); their
    log-probabilities are float32, as in memory."""
    x = _as_float(logits, half=True)
    ax = _axis(x, axis)
    seed = _sampling._seed(seed)
    row_offset = index(row_offset, "row_offset")
    if row_offset < 0:
        raise ArgumentError(f"row_offset must be >= 0, got {row_offset}")
    kw = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, num_samples=num_samples,
              replacement=replacement, seed=seed, return_log_probs=bool(return_log_probs))
    other = [d for d in range(x.ndim) if d != ax]
    split = other[0] if other else None
    x = x.rechunk({d: (x.shape[d] if d != split else x.chunks[d]) for d in range(x.ndim)} or None)
    if x.ndim and x.shape[ax] == 0:
        x = x.rechunk({ax: 1})
    m = None if mask is None else _mask_like(x, mask, ax)
    rest = int(np.prod([x.shape[d] for d in other[1:]])) if other else 1
    offs = _offsets(x.chunks[split]) if split is not None else [0]
    draws = None if num_samples is None else index(num_samples, "num_samples")
    if draws is None:
        out_chunks = tuple(x.chunks[d] for d in other)
    else:
        out_chunks = x.chunks[:ax] + ((draws,),) + x.chunks[ax + 1:]
    token = tokenize(x, m, ax, sorted(kw.items()), row_offset)
    names = ("smk-sample-" + token, "smk-sample-logp-" + token)
    dsk: dict = {}
    for idx in _blocks(x):
        off = row_offset + (offs[idx[split]] * rest if split is not None else 0)
        out = _row(idx, ax) if draws is None else idx
        mk = None if m is None else (m.name,) + idx
        for w in ((0, 1) if return_log_probs else (0,)):
            dsk[(names[w],) + out] = (_sample_task, (x.name,) + idx, mk, ax, off, kw, w)
    deps = [x] if m is None else [x, m]
    graph = HighLevelGraph.from_collections(names[0], dsk, dependencies=deps)
    nd = len(out_chunks)
    ind = da.Array(graph, names[0], out_chunks, meta=np.empty((0,) * nd, dtype=np.int64))
    if not return_log_probs:
        return ind
    logp_dtype = _F32 if _is_half(x.dtype) else x.dtype
    return ind, da.Array(graph, names[1], out_chunks, meta=np.empty((0,) * nd, dtype=logp_dtype))


# -------------------------------------------------------------------- losses

def _ce_direct(block, tblock, ax, kw):
    return np.asarray(_losses.cross_entropy(block, tblock, axis=ax, reduction="none", **kw))


def _ce_denominator(tblock, n, weight, ignore_index, dtype):
    t = np.asarray(tblock)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= n))
    if bad.any():
        raise ArgumentError(f"target {int(t[bad].flat[0])} is outside [0, {n}) and is not ignore_index ({ignore_index})")
    one = (1,) * t.ndim
    if weight is None:
        return np.full(one, valid.sum(), dtype=dtype)
    return np.full(one, weight[t[valid]].astype(dtype).sum(dtype=np.float64), dtype=dtype)


def _ce_chunk_task(block, tblock, state, ax, offset, weight, ignore_index, eps, n):
    """This class chunk's part of each sample's loss and of the mean's
    denominator (float64, shape without `ax`): the library's chunk kernel."""
    c = block.shape[ax]
    w = None if weight is None else weight[offset:offset + c]
    loss, tw = _ch.cross_entropy_chunk(_wide(block), state[0], state[1], tblock, ax, offset=offset, classes=n, weight=w,
                                       ignore_index=ignore_index, label_smoothing=eps)
    return loss, (np.zeros_like(loss) if tw is None else tw)


def _sum_parts(parts):
    """Sums the float64 parts of a row's chunks (a sum: the parts are exact
    terms of the sample's loss, no normalizer to merge)."""
    loss = parts[0][0].copy()
    den = parts[0][1].copy()
    for p in parts[1:]:
        loss += p[0]
        den += p[1]
    return loss, den


def _ce_loss(parts, dtype):
    return parts[0].astype(dtype)


def _ce_den(parts):
    return np.full((1,) * parts[1].ndim, parts[1].sum())


def cross_entropy(logits: Any, target: Any, *, axis: int = 1, weight: Any = None, ignore_index: int = -100,
                  label_smoothing: float = 0.0, reduction: str = "mean", return_grad: bool = False,
                  split_every: int = SPLIT_EVERY) -> Any:
    """:func:`softmaxkit.cross_entropy` of Dask logits (the class axis may
    be chunked) and class-index or probability targets (Dask or numpy).
    Returns a Dask array: per-sample losses for ``none``, else 0-d; with
    `return_grad`, ``(loss, dlogits)``, dlogits chunked as the logits (for
    ``none`` the gradient of the summed losses). Each gradient chunk is
    written by the library's chunk kernel from its rows' merged state and
    the reduction's denominator (class-index targets, any chunking; for
    probability targets the class axis must be one chunk)."""
    if not isinstance(return_grad, (bool, np.bool_)):
        raise ArgumentError(f"return_grad must be True or False, got {return_grad!r}")
    if return_grad:
        return _cross_entropy_grad(logits, target, axis, weight, ignore_index, label_smoothing, reduction, split_every)
    x = _as_float(logits, half=True)
    if reduction not in REDUCTIONS:
        raise ArgumentError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ArgumentError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    ignore_index = index(ignore_index, "ignore_index")
    if x.ndim == 0:
        raise ArgumentError("input must have a class axis; got a 0-d array")
    t = da.asarray(target)
    probs = t.dtype.kind == "f"
    if probs and _is_half(x.dtype):
        x = x.astype(_F64)  # as in memory: half logits with probability targets widen
    # Half logits (class-index targets) give float32 losses, as in memory.
    ldt = _F32 if _is_half(x.dtype) else x.dtype
    if x.ndim == 1:
        loss = cross_entropy(x[None], t[None], axis=1, weight=weight, ignore_index=ignore_index,
                             label_smoothing=label_smoothing, reduction=reduction, split_every=split_every)
        return loss[0] if reduction == "none" else loss
    ax = _axis(x, axis)
    n = x.shape[ax]
    if not probs and t.dtype.kind not in "iu":
        raise ArgumentError(f"target must hold class indices (integers) or probabilities (floats), got dtype {t.dtype}")
    want = x.shape if probs else x.shape[:ax] + x.shape[ax + 1:]
    if t.shape != want:
        what = "probability" if probs else "class-index"
        raise ArgumentError(f"{what} target has shape {t.shape}, expected {want} for input of shape {x.shape}")
    t = t.astype(x.dtype) if probs else t.astype(np.int64)
    t = t.rechunk(x.chunks if probs else x.chunks[:ax] + x.chunks[ax + 1:])
    w = None if weight is None else _losses._weight(weight, ldt, n)
    token = tokenize(x, t, ax, None if w is None else w.tobytes(), ignore_index, eps, reduction, split_every)
    name = "smk-ce-" + token
    dsk: dict = {}
    sample_chunks = x.chunks[:ax] + x.chunks[ax + 1:]
    if x.numblocks[ax] == 1:
        kw = dict(weight=w, ignore_index=ignore_index, label_smoothing=eps)
        for idx in _blocks(x):
            tk = (t.name,) + (idx if probs else _row(idx, ax))
            dsk[(name,) + _row(idx, ax)] = (_ce_direct, (x.name,) + idx, tk, ax, kw)
    else:
        pname, sname, dname = "smk-ce-part-" + token, "smk-ce-sum-" + token, "smk-ce-den-" + token
        state = _row_states(dsk, x, (ax,), 1.0, token, split_every)
        offs = _offsets(x.chunks[ax])
        rows: dict = {}
        for idx in _blocks(x):
            r = _row(idx, ax)
            tk = (t.name,) + (idx if probs else r)
            k = (pname,) + idx
            dsk[k] = (_ce_chunk_task, (x.name,) + idx, tk, state[r], ax, offs[idx[ax]], w, ignore_index, eps, n)
            rows.setdefault(r, []).append(k)
        ddsk: dict = {}
        for r, ks in rows.items():
            final = _tree(dsk, sname, r, ks, _sum_parts, split_every=split_every)
            dsk[(name,) + r] = (_ce_loss, final, ldt)
            ddsk[(dname,) + r] = (_ce_den, final)
        if reduction == "mean" and not probs:
            graph = HighLevelGraph.from_collections(dname, {**dsk, **ddsk}, dependencies=[x, t])
            dens = da.Array(graph, dname, tuple((1,) * len(c) for c in sample_chunks),
                            meta=np.empty((0,) * len(sample_chunks), dtype=np.float64))
    loss = _array(dsk, name, [x, t], sample_chunks, ldt)
    if reduction == "none":
        return loss
    total = loss.sum(dtype=np.float64)
    if reduction == "sum":
        return total.astype(ldt)
    if probs:
        den = float(np.prod(want[:ax] + want[ax + 1:])) if want else 1.0
        return (total / den).astype(ldt)
    if x.numblocks[ax] == 1:
        dens = t.map_blocks(_ce_denominator, n, w, ignore_index, np.float64, dtype=np.float64, chunks=(1,) * t.ndim)
    return (total / dens.sum()).astype(ldt)


def _ce_grad_task(block, tblock, state, den, ax, offset, weight, ignore_index, eps, n):
    d = float(np.asarray(den).reshape(-1)[0]) if den is not None else 1.0
    if d == 0:
        # Every target ignored (the in-memory mean is NaN, its gradient 0):
        # each row is ignored, any nonzero divisor writes the same zeros.
        d = 1.0
    g = _ch.cross_entropy_grad_chunk(_wide(block), state[0], state[1], tblock, ax, offset=offset, classes=n,
                                     weight=weight, ignore_index=ignore_index, label_smoothing=eps, divisor=d)
    return _narrow(g, block.dtype)


def _ce_grad_direct(block, tblock, ax, kw, den):
    _, g = _losses.cross_entropy(block, tblock, axis=ax, reduction="none", return_grad=True, **kw)
    if den is not None:
        g = (g / np.asarray(den, dtype=np.float64).reshape(())).astype(block.dtype)
    return g


def _key(a: "da.Array") -> tuple:
    k = a.__dask_keys__()
    while isinstance(k, list):
        k = k[0]
    return k


def _cross_entropy_grad(logits, target, axis, weight, ignore_index, label_smoothing, reduction, split_every):
    kw = dict(axis=axis, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
              reduction=reduction, split_every=split_every)
    loss = cross_entropy(logits, target, **kw)
    x = _as_float(logits, half=True)
    if x.ndim == 1:
        _, g = _cross_entropy_grad(x[None], da.asarray(target)[None], 1, weight, ignore_index, label_smoothing,
                                   reduction, split_every)
        return loss, g[0]
    ax = _axis(x, axis)
    n = x.shape[ax]
    t = da.asarray(target)
    probs = t.dtype.kind == "f"
    if probs and _is_half(x.dtype):
        x = x.astype(_F64)
    ldt = _F32 if _is_half(x.dtype) else x.dtype
    t = t.astype(x.dtype) if probs else t.astype(np.int64)
    t = t.rechunk(x.chunks if probs else x.chunks[:ax] + x.chunks[ax + 1:])
    w = None if weight is None else _losses._weight(weight, ldt, n)
    eps = float(label_smoothing)
    ignore_index = index(ignore_index, "ignore_index")
    den = None
    if reduction == "mean":
        if probs:
            den = da.from_array(np.asarray(float(np.prod(t.shape) / n) if t.size else 0.0))
        else:
            den = t.map_blocks(_ce_denominator, n, w, ignore_index, np.float64, dtype=np.float64,
                               chunks=(1,) * t.ndim).sum()
    token = tokenize(x, t, ax, None if w is None else w.tobytes(), ignore_index, eps, reduction, split_every, "grad")
    name = "smk-ce-grad-" + token
    dsk: dict = {}
    deps = [x, t] + ([den] if den is not None else [])
    dk = None if den is None else _key(den)
    if probs or (x.numblocks[ax] == 1 and reduction != "mean"):
        if x.numblocks[ax] != 1:
            raise ArgumentError("return_grad with probability targets needs the class axis in one chunk "
                                "(rechunk it: x.rechunk({axis: -1}))")
        dkw = dict(weight=w, ignore_index=ignore_index, label_smoothing=eps)
        for idx in _blocks(x):
            tk = (t.name,) + (idx if probs else _row(idx, ax))
            dsk[(name,) + idx] = (_ce_grad_direct, (x.name,) + idx, tk, ax, dkw, dk)
    else:
        state = _row_states(dsk, x, (ax,), 1.0, token, split_every)
        offs = _offsets(x.chunks[ax])
        for idx in _blocks(x):
            r = _row(idx, ax)
            dsk[(name,) + idx] = (_ce_grad_task, (x.name,) + idx, (t.name,) + r, state[r], dk, ax, offs[idx[ax]],
                                  w, ignore_index, eps, n)
    return loss, _array(dsk, name, deps, x.chunks, x.dtype)


# -------------------------------------------------------------------- models

def _forward_task(model, block, head):
    return model(block)[head]


def _is_sequence_model(model: Model) -> bool:
    spec = model.spec
    return "vocabulary" in spec["input"] or any(l.get("kind", "dense") != "dense" or "step" in l
                                                 for l in spec["layers"])


def _forward_sequences(model: Model, x: "da.Array") -> dict:
    """forward() of a model with recurrent layers or step selection: a
    step depends on the steps before it, so each task takes whole sequences
    (the array is chunked along batch only; steps are brought into one
    chunk). Per-step heads give ``[batch, steps, size]``, the others
    ``[batch, size]``."""
    ids = "vocabulary" in model.spec["input"]
    if ids:
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise ArgumentError(f"the model's input is token ids: x must be integer [batch, steps], got {x.dtype} {x.shape}")
        x = x.rechunk({1: -1})
    else:
        if x.ndim != 3:
            raise ArgumentError(f"x must be [batch, steps, features] for a sequence model, got shape {x.shape}")
        if x.shape[-1] != model.features:
            raise ArgumentError(f"x has {x.shape[-1]} features but the model takes {model.features}")
        if x.dtype != _F32:
            x = x.astype(_F32)
        x = x.rechunk({1: -1, 2: -1})
    token = tokenize(x, id(model), os.getpid())
    mkey = "smk-model-" + token
    outs: dict = {}
    for h in model.heads:
        name = f"smk-forward-{h.name}-" + token
        dsk = {mkey: model} if not outs else {}
        lead = x.chunks[:2] if h.per_step else x.chunks[:1]
        for idx in _blocks(x):
            dsk[(name, idx[0]) + ((0, 0) if h.per_step else (0,))] = (_forward_task, mkey, (x.name,) + idx, h.name)
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x] + list(outs.values())[:1])
        outs[h.name] = da.Array(graph, name, lead + ((h.size,),), meta=np.empty((0,) * (len(lead) + 1), dtype=_F32))
    return outs


def forward(model: Any, x: Any) -> dict:
    """``model(x)`` for a :class:`~softmaxkit.Model` or
    :class:`~softmaxkit.Ensemble` over a Dask array ``[batch, features]`` or
    ``[batch, steps, features]`` chunked along batch and steps (the feature
    axis is brought into one chunk). Returns ``{head: dask array}``. The
    model enters the graph once, travels to each worker as its model-file
    bytes and is loaded once per worker process."""
    if not isinstance(model, (Model, Ensemble)):
        raise ArgumentError(f"model must be a softmaxkit.Model or Ensemble, got {type(model).__name__}")
    x = da.asarray(x)
    if isinstance(model, Model) and _is_sequence_model(model):
        return _forward_sequences(model, x)
    if x.ndim not in (2, 3):
        raise ArgumentError(f"x must be [batch, features] or [batch, steps, features], got shape {x.shape}")
    if x.shape[-1] != model.features:
        raise ArgumentError(f"x has {x.shape[-1]} features but the model takes {model.features}")
    if x.dtype != _F32:
        x = x.astype(_F32)
    x = x.rechunk({x.ndim - 1: -1})
    token = tokenize(x, id(model), os.getpid())
    mkey = "smk-model-" + token
    outs = {}
    for h in model.heads:
        name = f"smk-forward-{h.name}-" + token
        dsk = {mkey: model} if not outs else {}
        for idx in _blocks(x):
            dsk[(name,) + idx[:-1] + (0,)] = (_forward_task, mkey, (x.name,) + idx, h.name)
        graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x] + list(outs.values())[:1])
        outs[h.name] = da.Array(graph, name, x.chunks[:-1] + ((h.size,),), meta=np.empty((0,) * x.ndim, dtype=_F32))
    return outs
