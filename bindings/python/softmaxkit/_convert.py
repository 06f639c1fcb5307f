"""What the Keras and ONNX importers share: a model spec and its weights
built layer by layer, head transforms, ``heads=`` overrides, and the build
of a Model or an Ensemble. Needs numpy only; each importer imports its
framework itself."""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

import numpy as np

from ._errors import ArgumentError

#: Dense activations SoftmaxKit runs (the spec's names).
ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu")
#: Transforms a source may put after its last layer; they become the head's output.
TRANSFORMS = ("softmax", "log_softmax", "sigmoid")


class ConversionError(ArgumentError):
    """A source model holds something SoftmaxKit cannot run as the source
    does; the message names the layer or node, its type and what is supported."""


class Value:
    """What a source tensor is in SoftmaxKit terms.

    ``layer``: the spec layer holding its values (``"input"`` for the model
    input); ``seq``: whether it has a step axis; ``transform``: a head
    transform applied after the layer (only an output may carry one);
    ``step``: a pending step selection (``x[:, i, :]``) a dense layer takes
    over; ``terms``/``divisor``: a sum of values from separate sub-models
    (an average when divided by their count)."""

    __slots__ = ("layer", "seq", "transform", "step", "terms", "divisor")

    def __init__(self, layer: Optional[str], seq: bool = False, transform: Optional[str] = None,
                 step: Optional[int] = None, terms: Optional[list] = None, divisor: float = 1.0):
        self.layer, self.seq, self.transform, self.step = layer, seq, transform, step
        self.terms, self.divisor = terms, divisor

    def with_(self, **kw: Any) -> "Value":
        v = Value(self.layer, self.seq, self.transform, self.step, self.terms, self.divisor)
        for k, x in kw.items():
            setattr(v, k, x)
        return v


class SpecBuilder:
    """Accumulates spec layers and PyTorch-named tensors."""

    def __init__(self, source: str):
        self.source = source  # "Keras" or "ONNX", for messages
        self.layers: list[dict] = []
        self.by_name: dict[str, dict] = {}
        self.weights: dict[str, np.ndarray] = {}
        self.input: dict = {}

    def unique(self, base: str) -> str:
        name = re.sub(r"[^0-9A-Za-z_]+", "_", base).strip("_") or "layer"
        if name == "input":
            name = "input_layer"
        out, k = name, 1
        while out in self.by_name:
            k += 1
            out = f"{name}_{k}"
        return out

    def add(self, base: str, layer: dict, tensors: Mapping[str, np.ndarray]) -> str:
        name = self.unique(base)
        layer = {"name": name, **layer}
        self.layers.append(layer)
        self.by_name[name] = layer
        for suffix, t in tensors.items():
            self.weights[f"{name}.{suffix}"] = np.ascontiguousarray(t, dtype=np.float32)
        return name

    def dense(self, base: str, src: Value, weight: np.ndarray, bias: Optional[np.ndarray],
              activation: str = "identity", what: str = "") -> str:
        """A dense layer ``act(x W^T + b)`` (``weight`` ``[out, in]``) reading `src`."""
        inp = self.plain(src, what or base)
        layer: dict = {"input": inp, "activation": activation}
        if src.step is not None:
            layer["step"] = int(src.step)
        tensors = {"weight": weight}
        if bias is not None:
            tensors["bias"] = bias
        return self.add(base, layer, tensors)

    def plain(self, v: Value, what: str) -> str:
        """The layer name a new layer may read from `v`: a transform or a sum
        of sub-models in the middle of a network is refused."""
        if v.terms is not None:
            raise ConversionError(f"{what}: reads an average of sub-models; SoftmaxKit averages models only at "
                                  "their outputs (an Ensemble)")
        if v.transform == "sigmoid":
            layer = self.by_name.get(v.layer)
            if (layer is not None and layer.get("kind", "dense") == "dense" and layer["activation"] == "identity"
                    and not layer.get("_shared") and not layer.get("_head")):
                layer["activation"] = "sigmoid"
                layer["_sigmoid_folded"] = True
                return v.layer
        if v.transform is not None:
            raise ConversionError(f"{what}: reads the {v.transform} of a layer; SoftmaxKit applies {v.transform} "
                                  "only as a head's output transform (after the last layer of a head)")
        return v.layer

    def fold_activation(self, v: Value, activation: str, single_use: bool, what: str, kind: str) -> Value:
        """`activation` applied to `v`: folded into the dense layer that made
        it when nothing else reads that layer's values."""
        if activation == "identity":
            return v
        if activation in TRANSFORMS:
            if v.transform is not None or v.terms is not None:
                raise ConversionError(f"{what} ({kind}): {activation} of a value that already went through "
                                      f"{v.transform or 'an average'}; not supported")
            if v.layer == "input" or v.step is not None:
                raise ConversionError(f"{what} ({kind}): {activation} of the model input or of a selected step; "
                                      "a head's transform follows a layer")
            if activation == "sigmoid" and not single_use and v.layer in self.by_name:
                self.by_name[v.layer]["_shared"] = True
            return v.with_(transform=activation)
        if v.transform is not None or v.terms is not None or v.step is not None or v.layer == "input":
            raise ConversionError(f"{what} ({kind}): {activation} here cannot be folded into a layer; "
                                  "SoftmaxKit applies activations inside dense layers")
        layer = self.by_name.get(v.layer)
        if layer is None or layer.get("kind", "dense") != "dense" or layer["activation"] != "identity" or not single_use:
            got = "a recurrent or embedding layer" if layer is not None and layer.get("kind", "dense") != "dense" else \
                "a layer that already has an activation" if layer is not None and layer["activation"] != "identity" else \
                "a layer whose values are also read elsewhere"
            raise ConversionError(f"{what} ({kind}): {activation} after {got}; supported: an activation right after "
                                  "a dense layer with none, read by nothing else")
        if activation not in ACTIVATIONS:
            raise ConversionError(f"{what} ({kind}): activation {activation!r} is not supported; supported: "
                                  + ", ".join(ACTIVATIONS + TRANSFORMS[:2]))
        layer["activation"] = activation
        return v


def head_spec(builder: SpecBuilder, name: str, v: Value, what: str) -> dict:
    if v.terms is not None:
        raise ConversionError(f"output {name!r}: an average of sub-models must be the whole output of every head "
                              "(an Ensemble of the sub-models)")
    if v.step is not None:
        # A step selection straight into an output: SoftmaxKit selects steps in dense layers.
        raise ConversionError(f"output {name!r}: a selected step of a sequence is an output with no dense layer "
                              "after it; supported: a dense layer reading the step")
    if v.layer == "input":
        raise ConversionError(f"output {name!r}: the model input itself is an output; a head needs a layer")
    out = v.transform or "identity"
    layer = builder.by_name[v.layer]
    if layer.get("_sigmoid_folded"):
        if out != "sigmoid":
            raise ConversionError(f"output {name!r}: reads the values of layer {v.layer!r} before a sigmoid that "
                                  "another layer reads after it; not supported")
        out = "identity"
    if out.startswith("masked_softmax:"):
        mask = [int(c) for c in out.split(":", 1)[1]]
        return {"name": name, "layer": v.layer, "output": "masked_softmax", "mask": mask, "renormalize": False}
    return {"name": name, "layer": v.layer, "output": out}


def apply_overrides(heads: list[dict], overrides: Optional[Mapping[str, Any]]) -> list[dict]:
    """``heads=``: ``{head: {"output": ..., ...}}`` replaces a head's
    transform (``{"temperature": T}`` alone keeps it), ``{head: None}``
    drops a head, a new name adds one (``"layer"`` or ``"coarse"``/``"fine"``
    may name a source head: its layer is meant)."""
    if overrides is None:
        return heads
    if not isinstance(overrides, Mapping):
        raise ArgumentError(f"heads must be a dict of head name -> dict or None, got {type(overrides).__name__}")
    layer_of = {h["name"]: h["layer"] for h in heads}
    out = {h["name"]: dict(h) for h in heads}
    order = [h["name"] for h in heads]

    def layer_ref(x: Any) -> Any:
        return layer_of.get(x, x) if isinstance(x, str) else x

    for name, o in overrides.items():
        if o is None:
            if name not in out:
                raise ArgumentError(f"heads: {name!r} is not a head of the model (heads: {', '.join(order)})")
            del out[name]
            order.remove(name)
            continue
        if not isinstance(o, Mapping):
            raise ArgumentError(f"heads[{name!r}] must be a dict or None, got {type(o).__name__}")
        o = dict(o)
        if "layer" in o:
            o["layer"] = layer_ref(o["layer"])
        if "coarse" in o:
            o["coarse"] = layer_ref(o["coarse"])
        if "fine" in o:
            o["fine"] = [layer_ref(f) for f in o["fine"]]
        if name in out:
            h = out[name]
            if "output" in o:
                h = {"name": name, "layer": h["layer"]}
            h.update(o)
            if h.get("output") == "hierarchical":
                h.pop("layer", None)
            out[name] = h
        else:
            if "output" not in o:
                raise ArgumentError(f"heads[{name!r}]: a new head needs an \"output\"")
            out[name] = {"name": name, **o}
            order.append(name)
    return [out[n] for n in order]


def build(builder: SpecBuilder, outputs: list[tuple[str, Value]], overrides: Optional[Mapping[str, Any]]) -> Any:
    """The Model (or, for outputs that average M sub-models, the Ensemble of
    M models) of `outputs`."""
    from .model import Ensemble, Model

    if not outputs:
        raise ConversionError("the model has no outputs")
    averaged = [v.terms is not None for _, v in outputs]
    if any(averaged):
        if not all(averaged):
            bad = [n for (n, v) in outputs if v.terms is None]
            raise ConversionError(f"outputs {bad} are not averages while others are; an Ensemble averages every head")
        m = len(outputs[0][1].terms)
        for n, v in outputs:
            if len(v.terms) != m or abs(v.divisor - m) > 1e-12 * m:
                raise ConversionError(f"output {n!r}: a sum of {len(v.terms)} sub-model outputs divided by "
                                      f"{v.divisor:g}; supported: the mean (divided by the count)")
            for t in v.terms:
                if t.transform == "log_softmax":
                    raise ConversionError(f"output {n!r}: averages log-probabilities; SoftmaxKit's ensembles "
                                          "average probabilities or logits")
        members = [_model_of(builder, [(n, v.terms[k]) for n, v in outputs], overrides) for k in range(m)]
        return Ensemble([Model.from_weights(s, w) for s, w in members], mode="arithmetic")
    spec, weights = _model_of(builder, outputs, overrides)
    return Model.from_weights(spec, weights)


def _model_of(builder: SpecBuilder, outputs: list, overrides: Any) -> tuple[dict, dict]:
    heads = [head_spec(builder, n, v, f"output {n!r}") for n, v in outputs]
    heads = apply_overrides(heads, overrides)
    # Keep only the layers the heads need.
    need: set = set()

    def mark(name: Optional[str]) -> None:
        while name and name != "input" and name not in need:
            need.add(name)
            name = builder.by_name[name]["input"]

    for h in heads:
        mark(h.get("layer"))
        mark(h.get("coarse"))
        for f in h.get("fine", []) or []:
            mark(f)
    layers = []
    weights = {}
    for l in builder.layers:
        if l["name"] in need:
            layers.append({k: v for k, v in l.items() if not k.startswith("_")})
            prefix = l["name"] + "."
            weights.update({k: v for k, v in builder.weights.items() if k.startswith(prefix)})
    spec = {"softmaxkit": 1, "input": dict(builder.input), "layers": layers, "heads": heads}
    return spec, weights


def lstm_tensors(w_ih: np.ndarray, w_hh: np.ndarray, b_ih: Optional[np.ndarray], b_hh: Optional[np.ndarray],
                 suffix: str = "_l0") -> dict:
    """PyTorch's names of one direction of an LSTM/GRU layer."""
    t = {f"weight_ih{suffix}": w_ih, f"weight_hh{suffix}": w_hh}
    if b_ih is not None or b_hh is not None:
        g = w_ih.shape[0]
        t[f"bias_ih{suffix}"] = b_ih if b_ih is not None else np.zeros(g, np.float32)
        t[f"bias_hh{suffix}"] = b_hh if b_hh is not None else np.zeros(g, np.float32)
    return t
