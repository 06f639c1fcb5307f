"""Multi-head models and ensembles: load a safetensors file (as PyTorch's
`safetensors.torch.save_file(model.state_dict(), path, metadata=...)`
writes it) or build from a dict of arrays, then run every head in one call.

    model = softmaxkit.Model.load("robot_arm.safetensors")
    out = model(x)            # {"action": [B, 4] probabilities, "force": [B, 1]}

The library reads, validates and writes the files (smk_model_load,
smk_model_serialize, smk_model_save); this module keeps no file bytes.
Models run in float32: float16 and ml_dtypes.bfloat16 inputs are widened
exactly inside the library and give outputs of their own dtype; ``dtype=``
chooses the outputs' dtype (float32, float16 or bfloat16); inputs of other
dtypes are converted to float32.
A model is immutable; calls from many threads at once are safe and release
the GIL.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import os
import stat
import struct
import threading
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import _lib, _model_half
from ._arrays import F32, F64, i64, ptr
from ._cache import BoundedCache
from ._common import ENSEMBLE_MODES, choice
from ._errors import ArgumentError, FileError
from .sampling import _options, _seed

__all__ = ["Model", "Ensemble", "Head"]

_L = _lib.lib
_check = _lib.check
_VP = ctypes.c_void_p
_I64 = ctypes.c_int64
_empty = np.empty

SpecLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]

# A spec side file larger than this is refused before it is read (the
# library caps a file's JSON header at 100 MB too).
SPEC_MAX_BYTES = 100 << 20
# smk_dtype values -> numpy dtypes.
_DTYPES = (F32, F64)
# Forward calls skip ctypes' per-argument conversion (arguments are built
# with their declared types below), as the functional wrappers do.
_FORWARD = _lib.fast("smk_model_forward")
_ENSEMBLE_FORWARD = _lib.fast("smk_ensemble_forward")
_FORWARD_LENGTHS = _lib.fast("smk_model_forward_lengths")
_FORWARD_IDS = _lib.fast("smk_model_forward_ids")
_STEP = _lib.fast("smk_model_step")
_STEP_IDS = _lib.fast("smk_model_step_ids")
_ENSEMBLE_FORWARD_LENGTHS = _lib.fast("smk_ensemble_forward_lengths")
_ENSEMBLE_FORWARD_IDS = _lib.fast("smk_ensemble_forward_ids")
_ENSEMBLE_STEP = _lib.fast("smk_ensemble_step")
_ENSEMBLE_STEP_IDS = _lib.fast("smk_ensemble_step_ids")
_FORWARD_SAMPLED = _lib.fast("smk_model_forward_sampled")
_FORWARD_IDS_SAMPLED = _lib.fast("smk_model_forward_ids_sampled")
_STEP_SAMPLED = _lib.fast("smk_model_step_sampled")
_ENSEMBLE_FORWARD_LENGTHS_SAMPLED = _lib.fast("smk_ensemble_forward_lengths_sampled")
_ENSEMBLE_FORWARD_IDS_SAMPLED = _lib.fast("smk_ensemble_forward_ids_sampled")
_ENSEMBLE_STEP_SAMPLED = _lib.fast("smk_ensemble_step_sampled")
# The keys of one head's entry in ``sample=``: smk_sample_options' fields
# (as softmaxkit.sample names them), return_log_probs and return_values.
_SAMPLE_KEYS = ("temperature", "top_k", "top_p", "min_p", "num_samples", "replacement", "row_offset",
                "return_log_probs", "return_values")
_RETURN_KEYS = ("return_log_probs", "return_values")
I64_ = np.dtype(np.int64)


class Head:
    """A head's name and values per row (an output is ``x.shape[:-1] + (size,)``).
    ``per_step`` is False for a head of a sequence model with one row per
    sequence (on a recurrent layer's final state or a selected step): its
    output is ``[batch, size]``."""

    __slots__ = ("name", "size", "per_step")

    def __init__(self, name: str, size: int, per_step: bool = True):
        self.name = name
        self.size = size
        self.per_step = per_step

    def __repr__(self) -> str:
        return f"Head(name={self.name!r}, size={self.size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Head) and (self.name, self.size) == (other.name, other.size)


def _path_bytes(path: Any, name: str = "path") -> bytes:
    """A file name as the bytes C receives; NUL inside it is refused (C would
    see a shorter name)."""
    try:
        b = os.fsencode(path)
    except TypeError:
        raise ArgumentError(f"{name} must be a str, bytes or os.PathLike, got {type(path).__name__}") from None
    if b"\0" in b:
        raise ArgumentError(f"{name} contains a NUL character: {path!r}")
    return b


def _check_regular(path: Any, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise FileError(f"cannot read {os.fsdecode(path)}: not a regular file")


def _read_regular(path: Any, limit: Optional[int] = None) -> bytes:
    """The bytes of the regular file at `path`. A FIFO, device or directory is
    refused before a byte is read (opened non-blocking, so a FIFO without a
    writer cannot hang the open); so is a file over `limit` bytes."""
    fd = os.open(_path_bytes(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        _check_regular(path, st.st_mode)
        if limit is not None and st.st_size > limit:
            raise ArgumentError(f"{os.fsdecode(path)} holds {st.st_size} bytes, over the limit of {limit}")
        chunks, left = [], st.st_size
        while left > 0:  # a file that shrinks while read ends early; one that grows is read to its stat size
            chunk = os.read(fd, min(left, 1 << 30))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _spec_json(spec: SpecLike) -> bytes:
    """A spec given as a dict, as JSON text, or as the path of a side JSON
    file (a regular file of at most SPEC_MAX_BYTES)."""
    if isinstance(spec, Mapping):
        text = json.dumps(spec)
    elif isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if not text.lstrip().startswith("{"):
            data = _read_regular(text, SPEC_MAX_BYTES)
            if b"\0" in data:  # C would read the spec only up to it
                raise ArgumentError(f"spec file {text} holds a NUL byte")
            return data
    else:
        raise ArgumentError(f"spec must be a dict, JSON text or a path, got {type(spec).__name__}")
    return _c_text(text, "spec")


def _c_text(text: str, name: str) -> bytes:
    """`text` as the UTF-8 bytes of a C string; NUL inside it is refused."""
    if "\0" in text:
        raise ArgumentError(f"{name} contains a NUL character: {text[:80]!r}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ArgumentError(f"{name} is not valid Unicode text: {e}") from None


def _heads(handle: _VP) -> list[Head]:
    count = _I64()
    _check(_L.smk_model_head_count(handle, ctypes.byref(count)))
    heads = []
    for h in range(count.value):
        name = ctypes.c_char_p()
        size = _I64()
        _check(_L.smk_model_head_name(handle, h, ctypes.byref(name)))
        _check(_L.smk_model_head_size(handle, h, ctypes.byref(size)))
        per_step = ctypes.c_int32(1)
        if hasattr(_L, "smk_model_head_per_step"):
            _check(_L.smk_model_head_per_step(handle, h, ctypes.byref(per_step)))
        heads.append(Head(name.value.decode(), size.value, bool(per_step.value)))
    return heads


def _as_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch.Tensor: state_dict values
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.dtype.kind not in "biuf":
        raise ArgumentError(f"weights must be real arrays, got dtype {a.dtype}")
    return a


class _Runner:
    """Shared forward plumbing of Model and Ensemble."""

    _handle: _VP
    heads: list[Head]
    features: int

    def _setup_outputs(self) -> None:
        self._names = tuple(h.name for h in self.heads)
        self._sizes = tuple(h.size for h in self.heads)
        self._head_count = _I64(len(self.heads))
        # The outputs table (float *const *) is passed as bytes holding the
        # heads' data pointers: ctypes passes a bytes object as a pointer to
        # its buffer, and packing is cheaper than filling a ctypes array.
        self._pack = struct.Struct(f"{len(self.heads)}P").pack
        self._plans = BoundedCache(64)
        self._per_step = tuple(getattr(h, "per_step", True) for h in self.heads)

    def _shapes(self, lead: tuple) -> tuple:
        """Output shapes for input rows `lead` ((batch, steps), (batch,) or ())."""
        return tuple(lead + (size,) if per_step else lead[:1] + (size,)
                     for size, per_step in zip(self._sizes, self._per_step))

    def _plan(self, shape: tuple) -> tuple:
        """Checks an input shape once; caches its extents as ctypes objects and
        the heads' output shapes."""
        nd = len(shape)
        if nd == 2:
            batch, feats = shape
            steps = 1
        elif nd == 1:
            batch, steps, feats = 1, 1, shape[0]
        elif nd == 3:
            batch, steps, feats = shape
        else:
            raise ArgumentError(f"x must be [features], [batch, features] or [batch, steps, features], got shape {shape}")
        if feats != self.features:
            raise ArgumentError(f"x has {feats} features but the model takes {self.features}")
        lead = shape[:-1]
        plan = (i64(batch), i64(steps), i64(feats), self._shapes(lead))
        return self._plans.put(shape, plan)

    def _forward(self, fn, x: Any) -> dict[str, np.ndarray]:
        if type(x) is np.ndarray and x.dtype is F32 and x.flags.c_contiguous:
            a = x
        else:
            a = np.asarray(x)
            if a.dtype.kind not in "biuf":
                raise ArgumentError(f"x must hold real numbers, got dtype {a.dtype}")
            a = np.ascontiguousarray(a, dtype=F32)
        shape = a.shape
        batch, steps, feats, shapes = self._plans.get(shape) or self._plan(shape)
        outs = [_empty(s, F32) for s in shapes]
        table = self._pack(*[ptr(o).value for o in outs])  # `outs` keeps the arrays alive
        status = fn(self._handle, ptr(a), batch, steps, feats, table, self._head_count)
        if status:
            _check(status)
        return dict(zip(self._names, outs))

    def _sampled(self, sample: Any, seed: Any, shapes: tuple, call) -> dict[str, Any]:
        """A forward with the heads named in `sample` sampled: `call(options,
        seed, outputs, indices, log_probs)` runs the C function on the packed
        tables; `shapes` are the heads' output shapes. Sampled heads map to
        int64 indices (the output shape without its last axis, or with
        num_samples there), or a tuple ``(indices[, log_probs][, values])``
        with return_log_probs / return_values."""
        if not isinstance(sample, Mapping):
            raise ArgumentError(f"sample must map head names to option dicts, got {type(sample).__name__}")
        per: list = [None] * len(self._names)
        for name, spec in sample.items():
            if name not in self._names:
                raise ArgumentError(f"no head named {name!r} to sample; the heads are {list(self._names)}")
            spec = {} if spec is None else spec
            if not isinstance(spec, Mapping):
                raise ArgumentError(f"sample[{name!r}] must be a dict of sampling options, got {type(spec).__name__}")
            unknown = sorted(str(k) for k in spec if k not in _SAMPLE_KEYS)
            if unknown:
                raise ArgumentError(f"sample[{name!r}]: unknown option(s) {unknown}; the options are {list(_SAMPLE_KEYS)}")
            flags = []
            for key in _RETURN_KEYS:
                v = spec.get(key, False)
                if not isinstance(v, (bool, np.bool_)):
                    raise ArgumentError(f"sample[{name!r}]: {key} must be True or False, got {v!r}")
                flags.append(bool(v))
            opts = _options(**{k: v for k, v in spec.items() if k not in _RETURN_KEYS})
            per[self._names.index(name)] = (opts, spec.get("num_samples") is not None, *flags)
        s = ctypes.c_uint64(_seed(seed))
        results: list = []
        opt_ptrs, out_ptrs, idx_ptrs, lp_ptrs = [], [], [], []
        for shape, entry in zip(shapes, per):
            if entry is None:
                o = _empty(shape, F32)
                results.append(o)
                opt_ptrs.append(0); out_ptrs.append(ptr(o).value); idx_ptrs.append(0); lp_ptrs.append(0)
                continue
            opts, draws, rlp, rv = entry
            ishape = shape[:-1] + ((opts.num_samples,) if draws else ())
            idx = _empty(ishape, I64_)
            lp = _empty(ishape, F32) if rlp else None
            vals = _empty(shape, F32) if rv else None
            extra = ((lp,) if rlp else ()) + ((vals,) if rv else ())
            results.append((idx, *extra) if extra else idx)
            opt_ptrs.append(ctypes.addressof(opts)); out_ptrs.append(0 if vals is None else ptr(vals).value)
            idx_ptrs.append(ptr(idx).value)
            lp_ptrs.append(0 if lp is None else ptr(lp).value)
        keep = [e[0] for e in per if e is not None]  # the option structs outlive the call
        status = call(self._pack(*opt_ptrs), s, self._pack(*out_ptrs), self._pack(*idx_ptrs), self._pack(*lp_ptrs))
        del keep
        if status:
            _check(status)
        return dict(zip(self._names, results))


class State:
    """The carried state of :meth:`Model.step` / :meth:`Ensemble.step` (from
    ``new_state``): belongs to one model or ensemble and batch size; one
    thread uses it at a time."""

    def __init__(self, handle: _VP, model: Any, batch: int):
        self._handle = handle
        self._model = model  # the C state keeps the model alive too
        self.batch = batch

    def reset(self) -> None:
        """Back to the zero initial state (a new sequence)."""
        _check(_L.smk_model_state_reset(self._handle))

    def ready(self, head: str) -> bool:
        """Whether the last step gave `head` a value (False before the first
        step and, for a head on a selected step, at the other ticks)."""
        names = [h.name for h in self._model.heads]
        if head not in names:
            raise ArgumentError(f"unknown head {head!r}; the heads are {names}")
        r = ctypes.c_int32()
        _check(_L.smk_model_state_head_ready(self._handle, names.index(head), ctypes.byref(r)))
        return bool(r.value)

    def __del__(self) -> None:
        h = getattr(self, "_handle", None)
        if h:
            _L.smk_model_state_free(h)
            self._handle = None


class _Sequences(_Runner):
    """Forward with lengths or token ids and streaming, shared by
    :class:`Model` and :class:`Ensemble` (which name their C calls)."""

    vocabulary = 0
    #: An id the source framework masked as padding (Keras
    #: ``Embedding(mask_zero=True)``: 0), else None. When set, a call on ids
    #: without lengths takes each row's length as its count of steps before
    #: its trailing padding ids; a padding id followed by another id in its
    #: row is an ArgumentError (the source would skip that step in the
    #: middle of the row, which lengths cannot say).
    padding_id: Optional[int] = None

    def __call__(self, x: Any, lengths: Any = None, *, sample: Optional[Mapping[str, Any]] = None,
                 seed: Optional[int] = None, dtype: Any = None) -> dict[str, Any]:
        """Every head on `x`; outputs are float32 ``x.shape[:-1] + (size,)``
        (``[batch, size]`` for a head whose ``per_step`` is False).

        float16 and ``ml_dtypes.bfloat16`` input is widened to float32
        exactly (the outputs are bit for bit those of ``x.astype(float32)``)
        and gives outputs of its own dtype. `dtype` (float32, float16 or
        ``ml_dtypes.bfloat16``) sets the outputs' dtype for any input: each
        output is the float32 one rounded once, to nearest even. Other
        dtypes raise ArgumentError; with `sample`, only float32 is accepted.

        A model of token ids (``vocabulary`` set) takes integer ids
        ``[batch, steps]`` (or ``[batch]``, one step) in ``[0, vocabulary)``.
        `lengths` (``batch`` integers in ``[0, steps]``) marks steps
        ``t >= lengths[b]`` of row b as padding: recurrent layers do not
        advance on them (``pack_padded_sequence``), per-step outputs there are
        0 (-inf for log_softmax).

        `sample` (``{head: {"temperature": 0.8, "top_k": 5, ...}}``) draws
        from the named heads in the same call instead of returning their
        values: each gets int64 indices, one per output row (``[batch]`` or
        ``[batch, steps]``; with ``num_samples`` that many more on a last
        axis), or ``(indices, log_probs)`` with ``"return_log_probs": True``.
        ``"return_values": True`` also returns the head's values (what the
        call gives without `sample`) last: ``(indices, values)`` or
        ``(indices, log_probs, values)``, as np.unique appends its optional
        results. The options are softmaxkit.sample's (temperature, top_k, top_p,
        min_p, num_samples, replacement, row_offset). A softmax/log_softmax
        head is sampled from its logits (its layer values) with temperature
        ``temperature * head temperature``; a masked_softmax head with its
        mask; other heads raise softmaxkit.Error (unsupported). Head ``h``
        (its index in ``heads``) draws what ``softmaxkit.sample(logits_h,
        ..., seed=seed, row_offset=h * 2**48 + row_offset)`` draws on its
        logits viewed ``[rows, size]``; padding steps give -1. `seed` as
        softmaxkit.sample's (None: fresh from the OS).

        Raises:
            ValueError (ArgumentError): float input to an id model or ids to a
                float model, an id outside the vocabulary (row and step
                named), lengths of the wrong count or outside ``[0, steps]``,
                a sampled name that is not a head, a bad sampling option.
        """
        if dtype is not None or _model_half.is_half(x):
            return _model_half.call(self, x, lengths, dtype, sample, seed)
        if lengths is None and self.padding_id is not None and self.vocabulary:
            a = np.asarray(x)
            if a.ndim == 2 and a.dtype.kind in "iu":
                lengths = padding_lengths(a, self.padding_id)
        if sample is not None:
            return self._call_sampled(x, lengths, sample, seed)
        if self.vocabulary:
            return self._forward_ids(x, lengths)
        if lengths is None:
            return self._forward(self._C_FORWARD, x)
        a = np.ascontiguousarray(np.asarray(x), dtype=F32)
        if a.ndim != 3:
            raise ArgumentError(f"x must be [batch, steps, features] with lengths, got shape {a.shape}")
        batch, steps, feats = a.shape
        lens = self._lengths(lengths, batch)
        outs = [_empty(s, F32) for s in self._shapes(a.shape[:-1])]
        table = self._pack(*[ptr(o).value for o in outs])
        _check(self._C_FORWARD_LENGTHS(self._handle, ptr(a), i64(batch), i64(steps), i64(feats), ptr(lens), table,
                                       self._head_count))
        return dict(zip(self._names, outs))

    def new_state(self, batch: int = 1) -> "State":
        """A zero state for running `batch` rows one step at a time with
        :meth:`step`. Raises softmaxkit.Error (SMK_ERROR_UNSUPPORTED) for a
        model with a bidirectional layer (its backward direction starts from
        the end of the sequence) or a step counted from the end other than
        -1, naming the layer."""
        handle = _VP()
        _check(getattr(_L, self._C_STATE_CREATE)(self._handle, int(batch), ctypes.byref(handle)))
        return State(handle, self, int(batch))

    def step(self, x: Any, state: "State", *, sample: Optional[Mapping[str, Any]] = None,
             seed: Optional[int] = None, dtype: Any = None) -> dict[str, Any]:
        """One step ``x`` (``[batch, features]``, or ``[features]`` for batch 1;
        for a model of token ids, ``batch`` integer ids, or one id) from
        `state`, which advances; returns each head's ``[batch, size]``
        (``[size]`` for a 1-D x or a single id). T steps give the values of
        one forward over the T steps within float32 rounding.

        A head on a selected step (a dense layer with ``"step": i``) is in
        the dict only at the tick that consumes step i (the ``i+1``-th call
        after a reset; ``"step": -1``: every tick): at the other ticks it is
        absent (``state.ready(name)`` is False).

        A model's step samples as ``__call__`` does with `sample` and `seed`
        (float input), one draw row per state row; every step draws from the
        same stream rows unless ``row_offset`` (e.g. ``t * batch``) or the
        seed moves from step to step. Half input and `dtype` as in ``__call__``."""
        if not isinstance(state, State):
            raise ArgumentError("state must come from new_state")
        if dtype is not None or _model_half.is_half(x):
            return _model_half.step(self, x, state, dtype, sample, seed)
        if sample is not None:
            return self._step_sampled(x, state, sample, seed)
        if self.vocabulary:
            a = np.asarray(x)
            lead = a.shape  # before ascontiguousarray, which makes one id 1-D
            a = self._ids_array(a, (0, 1), "ids of one step must be [batch] or a single id").reshape(-1)
            outs = [_empty(lead + (size,), F32) for size in self._sizes]
            table = self._pack(*[ptr(o).value for o in outs])
            _check(self._C_STEP_IDS(self._handle, state._handle, ptr(a), i64(a.shape[0]), table, self._head_count))
        else:
            a, batch = self._step_input(x)
            lead = a.shape[:-1]
            outs = [_empty(lead + (size,), F32) for size in self._sizes]
            table = self._pack(*[ptr(o).value for o in outs])
            _check(self._C_STEP(self._handle, state._handle, ptr(a), i64(batch), i64(a.shape[-1]), table, self._head_count))
        return self._ready_heads(state, outs)

    @staticmethod
    def _lengths(lengths: Any, batch: int) -> np.ndarray:
        lens = np.asarray(lengths)
        if lens.dtype.kind not in "iu":
            raise ArgumentError(f"lengths must be integers, got dtype {lens.dtype}")
        if lens.shape != (batch,):
            raise ArgumentError(f"lengths must hold one value per row ({batch}), got shape {lens.shape}")
        if lens.dtype.kind == "u" and lens.size and lens.max() > np.iinfo(np.int64).max:
            raise ArgumentError("lengths hold values beyond int64")
        return np.ascontiguousarray(lens, dtype=I64_)

    @staticmethod
    def _step_input(x: Any) -> tuple[np.ndarray, int]:
        """One step's float input ``[batch, features]`` or ``[features]`` as
        C-contiguous float32, and its batch."""
        a = np.ascontiguousarray(np.asarray(x), dtype=F32)
        if a.ndim not in (1, 2):
            raise ArgumentError(f"x must be [batch, features] or [features], got shape {a.shape}")
        return a, a.shape[0] if a.ndim == 2 else 1

    def _ids_array(self, ids: Any, ndims: tuple = (1, 2),
                   shapes: str = "ids must be [batch] or [batch, steps]") -> np.ndarray:
        """Token ids of rank in `ndims` (else `shapes` names the accepted
        shapes) as C-contiguous int64."""
        a = np.asarray(ids)
        if a.dtype.kind not in "iu":
            raise ArgumentError(f"the model's input is token ids (vocabulary {self.vocabulary}): ids must be integers, got dtype {a.dtype}")
        if a.ndim not in ndims:
            raise ArgumentError(f"{shapes}, got shape {a.shape}")
        if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
            raise ArgumentError(f"ids hold values outside the vocabulary [0, {self.vocabulary})")
        return np.ascontiguousarray(a, dtype=I64_)

    def _forward_ids(self, ids: Any, lengths: Any) -> dict[str, np.ndarray]:
        a = self._ids_array(ids)
        batch = a.shape[0]
        steps = a.shape[1] if a.ndim == 2 else 1
        lens = None if lengths is None else self._lengths(lengths, batch)
        outs = [_empty(s, F32) for s in self._shapes(a.shape)]
        table = self._pack(*[ptr(o).value for o in outs])
        _check(self._C_FORWARD_IDS(self._handle, ptr(a), i64(batch), i64(steps), None if lens is None else ptr(lens),
                                   table, self._head_count))
        return dict(zip(self._names, outs))

    def _call_sampled(self, x: Any, lengths: Any, sample: Any, seed: Any) -> dict[str, Any]:
        h, count = self._handle, self._head_count
        if self.vocabulary:
            a = self._ids_array(x)
            batch = a.shape[0]
            steps = a.shape[1] if a.ndim == 2 else 1
            lens = None if lengths is None else self._lengths(lengths, batch)
            lp = None if lens is None else ptr(lens)
            ids_fn = self._C_FORWARD_IDS_SAMPLED
            return self._sampled(sample, seed, self._shapes(a.shape), lambda o, s, out, idx, lps: ids_fn(
                h, ptr(a), i64(batch), i64(steps), lp, o, s, out, idx, lps, count))
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise ArgumentError(f"x must hold real numbers, got dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=F32)
        if lengths is not None and a.ndim != 3:
            raise ArgumentError(f"x must be [batch, steps, features] with lengths, got shape {a.shape}")
        batch, steps, feats, _ = self._plans.get(a.shape) or self._plan(a.shape)
        lens = None if lengths is None else self._lengths(lengths, a.shape[0])
        lp = None if lens is None else ptr(lens)
        fn = self._C_FORWARD_SAMPLED  # NULL lengths: every row runs all steps
        return self._sampled(sample, seed, self._shapes(a.shape[:-1]), lambda o, s, out, idx, lps: fn(
            h, ptr(a), batch, steps, feats, lp, o, s, out, idx, lps, count))

    def _step_sampled(self, x: Any, state: "State", sample: Any, seed: Any) -> dict[str, Any]:
        a, batch = self._step_input(x)
        h, sh, count, fn = self._handle, state._handle, self._head_count, self._C_STEP_SAMPLED
        shapes = tuple(a.shape[:-1] + (size,) for size in self._sizes)
        return self._sampled(sample, seed, shapes, lambda o, s, out, idx, lps: fn(
            h, sh, ptr(a), i64(batch), i64(a.shape[-1]), o, s, out, idx, lps, count))

    def _ready_heads(self, state: "State", outs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The step outputs of the heads `state` marks ready, by name."""
        ready = ctypes.c_int32()
        result = {}
        for k, (name, o) in enumerate(zip(self._names, outs)):
            _check(_L.smk_model_state_head_ready(state._handle, k, ctypes.byref(ready)))
            if ready.value:
                result[name] = o
        return result


def padding_lengths(ids: Any, padding_id: int = 0) -> np.ndarray:
    """Each row's count of steps before its trailing `padding_id`s
    (``[batch, steps]`` ids -> int64 ``[batch]``): the ``lengths`` that say
    what a padding mask on those ids (Keras ``mask_zero=True``) says to a
    recurrent layer (smk_padding_lengths). A padding id followed by another
    id in its row raises ArgumentError naming the row: a mask with a hole is
    not a length."""
    a = np.asarray(ids)
    if a.ndim != 2:
        raise ArgumentError(f"ids must be [batch, steps], got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise ArgumentError(f"ids must be integers, got dtype {a.dtype}")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        a = np.minimum(a, np.iinfo(np.int64).max)  # beyond any padding id: ordinary ids here
    a = np.ascontiguousarray(a, dtype=I64_)
    out = np.empty(a.shape[0], I64_)
    _check(_L.smk_padding_lengths(ptr(a), a.shape[0], a.shape[1], int(padding_id), ptr(out)))
    return out


class Model(_Sequences):
    """A loaded model. Call it on ``[batch, features]`` or ``[batch, steps,
    features]`` input (or one ``[features]`` row) to get ``{head: array}``."""

    def __init__(self, _handle: _VP):
        if not _handle:
            raise ArgumentError("use Model.load, Model.from_bytes or Model.from_weights to create a Model")
        self._handle = _handle
        self.heads = _heads(_handle)
        f = _I64()
        _check(_L.smk_model_input_features(_handle, ctypes.byref(f)))
        self.features = f.value
        v = _I64()
        _check(_L.smk_model_input_vocabulary(_handle, ctypes.byref(v)))
        #: The vocabulary of a model of token ids, else 0.
        self.vocabulary = v.value
        p = _I64()
        _check(_L.smk_model_parameter_count(_handle, ctypes.byref(p)))
        self.parameter_count = p.value
        pad = _I64()
        _check(_L.smk_model_padding_id(_handle, ctypes.byref(pad)))
        if pad.value >= 0:  # the spec's input.padding_id, kept in the model file
            self.padding_id = pad.value
        self._setup_outputs()

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"], spec: Optional[SpecLike] = None) -> "Model":
        """Loads a safetensors model file. `spec` (dict, JSON text or the path
        of a side JSON file) replaces the file's ``"softmaxkit"`` metadata.
        The library reads and validates the file; the model keeps no copy of
        its bytes.

        Raises:
            OSError (FileError): the file cannot be read, or is not a regular
                file (a FIFO, device or directory is refused before reading).
            ValueError (ArgumentError): malformed file or spec, missing
                tensors, shapes that do not chain; the message names the key.
        """
        name = _path_bytes(path)
        handle = _VP()
        js = None if spec is None else _spec_json(spec)
        _check_regular(path, os.stat(name).st_mode)
        # The library reads the header and only the bytes it points at.
        _check(_L.smk_model_load_spec(name, js, ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def from_bytes(cls, data: bytes, spec: Optional[SpecLike] = None) -> "Model":
        """As :meth:`load`, from the bytes of a safetensors file (copied by
        the library; not kept)."""
        data = bytes(data)
        handle = _VP()
        js = None if spec is None else _spec_json(spec)
        _check(_L.smk_model_load_memory(data, len(data), js, ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def from_weights(cls, spec: SpecLike, weights: Mapping[str, Any]) -> "Model":
        """Builds a model from a spec and a dict of arrays named as a PyTorch
        ``state_dict`` names them (``fc1.weight`` ``[out, in]``, ``fc1.bias``);
        torch tensors are accepted and converted with ``.numpy()``. float64
        weights stay float64 until the build rounds them. A name holding NUL
        is refused."""
        builder = _VP()
        _check(_L.smk_model_builder_create(_spec_json(spec), ctypes.byref(builder)))
        try:
            for name, value in weights.items():
                if not isinstance(name, str):
                    raise ArgumentError(f"weight names must be str, got {type(name).__name__} {name!r}")
                cname = _c_text(name, "weight name")
                a = _as_numpy(value)
                a = np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float32 else np.float64)
                shape = (_I64 * max(a.ndim, 1))(*a.shape)
                fn = _L.smk_model_builder_add_f32 if a.dtype == np.float32 else _L.smk_model_builder_add_f64
                _check(fn(builder, cname, ptr(a), shape, a.ndim))
            handle = _VP()
            _check(_L.smk_model_builder_build(builder, ctypes.byref(handle)))
        finally:
            _L.smk_model_builder_free(builder)
        return cls(handle)

    _C_FORWARD = _FORWARD
    _C_FORWARD_LENGTHS = _FORWARD_LENGTHS
    _C_FORWARD_IDS = _FORWARD_IDS
    _C_STEP = _STEP
    _C_STEP_IDS = _STEP_IDS
    _C_STATE_CREATE = "smk_model_state_create"
    _C_FORWARD_SAMPLED = _FORWARD_SAMPLED
    _C_FORWARD_IDS_SAMPLED = _FORWARD_IDS_SAMPLED
    _C_STEP_SAMPLED = _STEP_SAMPLED

    @property
    def spec(self) -> dict:
        """The architecture (the ``"softmaxkit"`` metadata) as a dict."""
        js = ctypes.c_char_p()
        _check(_L.smk_model_spec_json(self._handle, ctypes.byref(js)))
        return json.loads(js.value.decode())

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The weights by name in the library's stored precision (float32,
        or float64 where they were given as float64; F16 and BF16 file
        tensors are widened to float32), in spec order. Each access copies
        them out of the library into new arrays."""
        h = self._handle
        count = _I64()
        _check(_L.smk_model_tensor_count(h, ctypes.byref(count)))
        out: dict[str, np.ndarray] = {}
        name, dtype, rank, size = ctypes.c_char_p(), ctypes.c_int32(), _I64(), _I64()
        for t in range(count.value):
            _check(_L.smk_model_tensor_name(h, t, ctypes.byref(name)))
            _check(_L.smk_model_tensor_dtype(h, t, ctypes.byref(dtype)))
            _check(_L.smk_model_tensor_shape(h, t, None, 0, ctypes.byref(rank)))
            dims = (_I64 * max(rank.value, 1))()
            _check(_L.smk_model_tensor_shape(h, t, dims, rank.value, ctypes.byref(rank)))
            a = np.empty(tuple(dims[:rank.value]), _DTYPES[dtype.value])
            _check(_L.smk_model_tensor_data(h, t, ptr(a), a.nbytes, ctypes.byref(size)))
            out[name.value.decode()] = a
        return out

    def to_bytes(self) -> bytes:
        """The model as the bytes of a safetensors file (what :meth:`save`
        writes; :meth:`from_bytes` reads them back)."""
        size = _I64()
        _check(_L.smk_model_serialize(self._handle, None, 0, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        _check(_L.smk_model_serialize(self._handle, buf, size.value, ctypes.byref(size)))
        return buf.raw[:size.value]

    def to_dot(self) -> str:
        """The layer and head tree as a Graphviz DOT graph (the input, each
        layer's kind, widths and activation, each head's transform and size,
        an edge from what each reads): the text ``smk info --dot`` prints.
        ``dot -Tsvg`` draws it."""
        size = _I64()
        _check(_L.smk_model_dot(self._handle, None, 0, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        _check(_L.smk_model_dot(self._handle, buf, size.value, ctypes.byref(size)))
        return buf.raw[:size.value - 1].decode("utf-8")

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the model as a safetensors file, written by the library:
        the weights in their stored precision, in spec order, and the spec
        under the ``"softmaxkit"`` metadata key.

        Raises:
            OSError (FileError): the file cannot be created or written.
        """
        _check(_L.smk_model_save(self._handle, _path_bytes(path)))

    def __repr__(self) -> str:
        heads = ", ".join(f"{h.name}[{h.size}]" for h in self.heads)
        return f"Model(features={self.features}, heads=[{heads}], parameters={self.parameter_count})"

    def __reduce__(self):
        # By value, as its model-file bytes; a process unpickling the same
        # bytes again gets the model it already loaded (see _unpickle_model).
        data = self.to_bytes()
        return (_unpickle_model, (hashlib.sha256(data).hexdigest(), data))

    def __del__(self) -> None:
        h = getattr(self, "_handle", None)
        if h and getattr(self, "_owner", None) is None:  # a loaded ensemble's member is freed with it
            _L.smk_model_free(h)
        self._handle = None


class Ensemble(_Sequences):
    """Models with the same input and heads, averaged head by head:
    ``mode="arithmetic"`` (mean of probabilities), ``"geometric"``
    (normalized geometric mean) or ``"logits"`` (mean of logits, then the
    head's transform). Called like a :class:`Model` (with ``lengths``, on
    token ids) and streamed like one (``new_state``, ``step``): every output
    combines the members' outputs for the same call."""

    def __init__(self, models: Sequence[Model], mode: str = "arithmetic"):
        models = list(models)
        code = choice(mode, ENSEMBLE_MODES, "mode")
        if not models:
            raise ArgumentError("an ensemble needs at least one model")
        for k, m in enumerate(models):
            if not isinstance(m, Model):
                raise ArgumentError(f"models[{k}] is not a softmaxkit.Model")
        arr = (_VP * len(models))(*[m._handle for m in models])
        handle = _VP()
        _check(_L.smk_ensemble_create(arr, len(models), code, ctypes.byref(handle)))
        self._handle = handle
        self.models = models
        self.mode = mode
        self.heads = models[0].heads
        self.features = models[0].features
        #: The vocabulary of the members' token-id input, else 0.
        self.vocabulary = models[0].vocabulary
        self._setup_outputs()
        pad = _I64()
        _check(_L.smk_ensemble_padding_id(handle, ctypes.byref(pad)))
        if pad.value >= 0:  # the members' common padding id (their model files keep it)
            self.padding_id = pad.value

    _C_FORWARD = _ENSEMBLE_FORWARD
    _C_FORWARD_LENGTHS = _ENSEMBLE_FORWARD_LENGTHS
    _C_FORWARD_IDS = _ENSEMBLE_FORWARD_IDS
    _C_STEP = _ENSEMBLE_STEP
    _C_STEP_IDS = _ENSEMBLE_STEP_IDS
    _C_STATE_CREATE = "smk_ensemble_state_create"
    _C_FORWARD_SAMPLED = _ENSEMBLE_FORWARD_LENGTHS_SAMPLED
    _C_FORWARD_IDS_SAMPLED = _ENSEMBLE_FORWARD_IDS_SAMPLED
    _C_STEP_SAMPLED = _ENSEMBLE_STEP_SAMPLED

    def _step_sampled(self, x: Any, state: "State", sample: Any, seed: Any) -> dict[str, Any]:
        if self.vocabulary:
            raise ArgumentError("a step on token ids does not sample; sample the returned probabilities with softmaxkit.sample")
        return super()._step_sampled(x, state, sample, seed)

    def __reduce__(self):
        return (_unpickle_ensemble, (tuple(self.models), self.mode))

    def save(self, path: Union[str, "os.PathLike[str]"]) -> list[str]:
        """Writes the ensemble as a JSON manifest at `path` and one model
        file per member next to it (``STEM.member0.safetensors``, ... where
        STEM is `path` without ``.json`` and a preceding ``.ensemble``); the
        manifest names the members relative to itself, their SHA-256, the
        mode and ``padding_id`` when set. The library writes it
        (smk_ensemble_save); :meth:`load` (``softmaxkit.load_ensemble``), C
        ``smk_ensemble_load`` and Swift ``Ensemble(manifest:)`` read it back.
        Returns the paths written, manifest last.

        Raises:
            OSError (FileError): a file cannot be created or written.
            ValueError (ArgumentError): a padding_id outside the vocabulary
                or set on an ensemble of float input.
        """
        name = _path_bytes(path)
        pad = getattr(self, "padding_id", None)
        if pad is not None and (not isinstance(pad, (int, np.integer)) or isinstance(pad, bool) or pad < 0):
            raise ArgumentError(f"padding_id must be a non-negative integer, got {pad!r}")
        _check(_L.smk_ensemble_save(self._handle, name, -1 if pad is None else int(pad)))
        text = os.fsdecode(name)
        stem = text[:-len(".json")] if text.endswith(".json") else text
        stem = stem[:-len(".ensemble")] if stem.endswith(".ensemble") else stem
        return [f"{stem}.member{k}.safetensors" for k in range(len(self.models))] + [text]

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Ensemble":
        """Loads an ensemble from the JSON manifest :meth:`save` (and
        ``python -m softmaxkit convert`` of a model averaging sub-models)
        writes: ``{"softmaxkit_ensemble": 1, "mode": ..., "members":
        [{"path": ..., "sha256": ...}, ...], "padding_id": ...}``, member
        paths relative to the manifest and inside its folder (``sha256``
        optional; checked when present). The library reads and checks it
        (smk_ensemble_load); ``padding_id``, when present, is set on the
        ensemble and its models. The members are ``models`` (they stay valid
        as long as any of them or the ensemble is referenced).

        Raises:
            OSError (FileError): the manifest or a member file cannot be read
                or is not a regular file (the member is named).
            ValueError (ArgumentError): the manifest is not such JSON, an
                unknown key, mode or version, a member path leaving the
                manifest's folder, a member whose bytes differ from its
                recorded SHA-256, members that do not form an ensemble.
        """
        handle = _VP()
        _check(_L.smk_ensemble_load(_path_bytes(path), ctypes.byref(handle)))
        owner = _LoadedEnsemble(handle)
        count, mode, pad = _I64(), ctypes.c_int32(), _I64()
        _check(_L.smk_ensemble_model_count(handle, ctypes.byref(count)))
        _check(_L.smk_ensemble_get_mode(handle, ctypes.byref(mode)))
        _check(_L.smk_ensemble_padding_id(handle, ctypes.byref(pad)))
        models = []
        for k in range(count.value):
            mh = _VP()
            _check(_L.smk_ensemble_model(handle, k, ctypes.byref(mh)))
            m = Model.__new__(Model)
            m._owner = owner  # borrowed: freed with the ensemble, never by the Model
            m.__init__(mh)
            models.append(m)
        ens = cls.__new__(cls)
        ens._owner = owner
        ens._handle = handle
        ens.models = models
        ens.mode = ENSEMBLE_MODES[mode.value]
        ens.heads = models[0].heads
        ens.features = models[0].features
        ens.vocabulary = models[0].vocabulary
        ens._setup_outputs()
        if pad.value >= 0:
            ens.padding_id = pad.value
            for m in models:
                m.padding_id = pad.value
        return ens

    def to_dot(self) -> str:
        """The ensemble as a Graphviz DOT graph (smk_ensemble_dot): one
        cluster per member (its :meth:`Model.to_dot` graph), the shared
        input, and each averaged head with an edge from every member's head."""
        size = _I64()
        _check(_L.smk_ensemble_dot(self._handle, None, 0, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        _check(_L.smk_ensemble_dot(self._handle, buf, size.value, ctypes.byref(size)))
        return buf.raw[:size.value - 1].decode("utf-8")

    def __del__(self) -> None:
        h = getattr(self, "_handle", None)
        if h and getattr(self, "_owner", None) is None:  # a loaded ensemble is freed by its _LoadedEnsemble
            _L.smk_ensemble_free(h)
        self._handle = None


class _LoadedEnsemble:
    """The C handle of an ensemble from smk_ensemble_load, freed when the last
    Python object using it (the Ensemble or one of its member Models, whose
    handles it owns) goes."""

    __slots__ = ("handle",)

    def __init__(self, handle: _VP):
        self.handle = handle

    def __del__(self) -> None:
        if self.handle:
            _L.smk_ensemble_free(self.handle)
            self.handle = None


def load_ensemble(path: Union[str, "os.PathLike[str]"]) -> Ensemble:
    """An :class:`Ensemble` from its JSON manifest (see :meth:`Ensemble.load`)."""
    return Ensemble.load(path)


# Models unpickled in this process, by the SHA-256 of their file bytes: a
# model sent to a worker many times (a Dask graph, a process pool) is loaded
# once per process. Ensembles are cached by their members' digests and mode.
_unpickled: dict = {}
_unpickled_lock = threading.Lock()
# Freed while the library is still loaded (not in module teardown).
atexit.register(_unpickled.clear)
#: How many models this process has loaded from pickles (tests read it).
unpickle_loads = 0


def _unpickle_model(digest: str, data: bytes) -> Model:
    global unpickle_loads
    with _unpickled_lock:
        m = _unpickled.get(digest)
        if m is None:
            m = Model.from_bytes(data)
            _unpickled[digest] = m
            unpickle_loads += 1
        return m


def _unpickle_ensemble(models: tuple, mode: str) -> Ensemble:
    key = ("ensemble", tuple(id(m) for m in models), mode)
    with _unpickled_lock:
        e = _unpickled.get(key)
    if e is None:
        e = Ensemble(list(models), mode)
        with _unpickled_lock:
            e = _unpickled.setdefault(key, e)
    return e
