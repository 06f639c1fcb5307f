"""Multi-head models and ensembles: load a safetensors file (as PyTorch's
`safetensors.torch.save_file(model.state_dict(), path, metadata=...)`
writes it) or build from a dict of arrays, then run every head in one call.

    model = softmaxkit.Model.load("robot_arm.safetensors")
    out = model(x)            # {"action": [B, 4] probabilities, "force": [B, 1]}

Models run in float32: inputs of other dtypes are converted to float32.
A model is immutable; calls from many threads at once are safe and release
the GIL.
"""
from __future__ import annotations

import ctypes
import json
import os
import struct
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import _lib
from . import _safetensors
from ._arrays import F32, i64, ptr
from ._errors import ArgumentError

__all__ = ["Model", "Ensemble", "Head"]

_L = _lib.lib
_check = _lib.check
_VP = ctypes.c_void_p
_I64 = ctypes.c_int64
_empty = np.empty

SpecLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]

_MODES = {"arithmetic": 0, "geometric": 1, "logits": 2}
# Forward calls skip ctypes' per-argument conversion (arguments are built
# with their declared types below), as the functional wrappers do.
_FORWARD = _lib.fast("smk_model_forward")
_ENSEMBLE_FORWARD = _lib.fast("smk_ensemble_forward")


class Head:
    """A head's name and values per row (an output is ``x.shape[:-1] + (size,)``)."""

    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size

    def __repr__(self) -> str:
        return f"Head(name={self.name!r}, size={self.size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Head) and (self.name, self.size) == (other.name, other.size)


def _spec_json(spec: SpecLike) -> bytes:
    """A spec given as a dict, as JSON text, or as the path of a side JSON file."""
    if isinstance(spec, Mapping):
        return json.dumps(spec).encode()
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text.lstrip().startswith("{"):
            return text.encode()
        with open(text, "rb") as f:
            return f.read()
    raise ArgumentError(f"spec must be a dict, JSON text or a path, got {type(spec).__name__}")


def _heads(handle: _VP) -> list[Head]:
    count = _I64()
    _check(_L.smk_model_head_count(handle, ctypes.byref(count)))
    heads = []
    for h in range(count.value):
        name = ctypes.c_char_p()
        size = _I64()
        _check(_L.smk_model_head_name(handle, h, ctypes.byref(name)))
        _check(_L.smk_model_head_size(handle, h, ctypes.byref(size)))
        heads.append(Head(name.value.decode(), size.value))
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
        self._plans: dict = {}

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
        plan = (i64(batch), i64(steps), i64(feats), tuple(lead + (size,) for size in self._sizes))
        if len(self._plans) >= 64:
            self._plans.clear()
        self._plans[shape] = plan
        return plan

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


class Model(_Runner):
    """A loaded model. Call it on ``[batch, features]`` or ``[batch, steps,
    features]`` input (or one ``[features]`` row) to get ``{head: array}``."""

    def __init__(self, _handle: _VP, _weights: Optional[dict] = None, _source: Optional[bytes] = None):
        if not _handle:
            raise ArgumentError("use Model.load or Model.from_weights to create a Model")
        self._handle = _handle
        self._weights = _weights
        self._source = _source
        self.heads = _heads(_handle)
        f = _I64()
        _check(_L.smk_model_input_features(_handle, ctypes.byref(f)))
        self.features = f.value
        p = _I64()
        _check(_L.smk_model_parameter_count(_handle, ctypes.byref(p)))
        self.parameter_count = p.value
        self._setup_outputs()

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"], spec: Optional[SpecLike] = None) -> "Model":
        """Loads a safetensors model file. `spec` (dict, JSON text or the path
        of a side JSON file) replaces the file's ``"softmaxkit"`` metadata.

        Raises:
            OSError (FileError): the file cannot be read.
            ValueError (ArgumentError): malformed file or spec, missing
                tensors, shapes that do not chain; the message names the key.
        """
        with open(os.fspath(path), "rb") as f:
            data = f.read()
        return cls._from_bytes(data, spec)

    @classmethod
    def from_bytes(cls, data: bytes, spec: Optional[SpecLike] = None) -> "Model":
        """As :meth:`load`, from the bytes of a safetensors file."""
        return cls._from_bytes(bytes(data), spec)

    @classmethod
    def _from_bytes(cls, data: bytes, spec: Optional[SpecLike]) -> "Model":
        handle = _VP()
        js = None if spec is None else _spec_json(spec)
        _check(_L.smk_model_load_memory(data, len(data), js, ctypes.byref(handle)))
        return cls(handle, _source=data)

    @classmethod
    def from_weights(cls, spec: SpecLike, weights: Mapping[str, Any]) -> "Model":
        """Builds a model from a spec and a dict of arrays named as a PyTorch
        ``state_dict`` names them (``fc1.weight`` ``[out, in]``, ``fc1.bias``);
        torch tensors are accepted and converted with ``.numpy()``. float64
        weights stay float64 until the build rounds them."""
        builder = _VP()
        _check(_L.smk_model_builder_create(_spec_json(spec), ctypes.byref(builder)))
        kept: dict[str, np.ndarray] = {}
        try:
            for name, value in weights.items():
                a = _as_numpy(value)
                a = np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float32 else np.float64)
                if "\0" in str(name):
                    raise ArgumentError(f"tensor name {str(name)!r} holds a NUL character")
                kept[str(name)] = a
                shape = (_I64 * max(a.ndim, 1))(*a.shape)
                fn = _L.smk_model_builder_add_f32 if a.dtype == np.float32 else _L.smk_model_builder_add_f64
                _check(fn(builder, str(name).encode(), ptr(a), shape, a.ndim))
            handle = _VP()
            _check(_L.smk_model_builder_build(builder, ctypes.byref(handle)))
        finally:
            _L.smk_model_builder_free(builder)
        return cls(handle, _weights=kept)

    def __call__(self, x: Any) -> dict[str, np.ndarray]:
        """Every head on `x`; outputs are float32 ``x.shape[:-1] + (size,)``."""
        return self._forward(_FORWARD, x)

    @property
    def spec(self) -> dict:
        """The architecture (the ``"softmaxkit"`` metadata) as a dict."""
        js = ctypes.c_char_p()
        _check(_L.smk_model_spec_json(self._handle, ctypes.byref(js)))
        return json.loads(js.value.decode())

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The weights by name, in their stored precision."""
        if self._weights is None:
            self._weights, _ = _safetensors.decode(self._source)  # already validated by the library
        return dict(self._weights)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the model as safetensors (through the ``safetensors``
        package where installed) with the spec in its metadata."""
        meta = {"softmaxkit": json.dumps(self.spec, separators=(",", ":"))}
        used = {}
        w = self.weights
        for layer in self.spec["layers"]:
            for suffix in (".weight", ".bias"):
                key = layer["name"] + suffix
                if key in w:
                    used[key] = w[key]
        _safetensors.save_file(used, path, meta)

    def __repr__(self) -> str:
        heads = ", ".join(f"{h.name}[{h.size}]" for h in self.heads)
        return f"Model(features={self.features}, heads=[{heads}], parameters={self.parameter_count})"

    def __del__(self) -> None:
        h = getattr(self, "_handle", None)
        if h:
            _L.smk_model_free(h)
            self._handle = None


class Ensemble(_Runner):
    """Models with the same input and heads, averaged head by head:
    ``mode="arithmetic"`` (mean of probabilities), ``"geometric"``
    (normalized geometric mean) or ``"logits"`` (mean of logits, then the
    head's transform). Called like a :class:`Model`."""

    def __init__(self, models: Sequence[Model], mode: str = "arithmetic"):
        models = list(models)
        if mode not in _MODES:
            raise ArgumentError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
        if not models:
            raise ArgumentError("an ensemble needs at least one model")
        for k, m in enumerate(models):
            if not isinstance(m, Model):
                raise ArgumentError(f"models[{k}] is not a softmaxkit.Model")
        arr = (_VP * len(models))(*[m._handle for m in models])
        handle = _VP()
        _check(_L.smk_ensemble_create(arr, len(models), _MODES[mode], ctypes.byref(handle)))
        self._handle = handle
        self.models = models
        self.mode = mode
        self.heads = models[0].heads
        self.features = models[0].features
        self._setup_outputs()

    def __call__(self, x: Any) -> dict[str, np.ndarray]:
        return self._forward(_ENSEMBLE_FORWARD, x)

    def __del__(self) -> None:
        h = getattr(self, "_handle", None)
        if h:
            _L.smk_ensemble_free(h)
            self._handle = None
