"""``softmaxkit.from_keras``: a built Keras 3 model (Sequential or
functional, any backend) as a SoftmaxKit Model, or an Ensemble for a model
that averages sub-models' outputs. Keras is imported by the caller's model,
never by ``import softmaxkit``."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from ._convert import ACTIVATIONS, ConversionError, SpecBuilder, Value, build, lstm_tensors

# Keras activation function names -> the spec's (transforms included).
_ACT = {"linear": "identity", "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "gelu": "gelu",
        "silu": "silu", "swish": "silu", "softmax": "softmax", "log_softmax": "log_softmax"}
# Layers that do nothing at inference.
_NOOPS = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Identity",
          "ActivityRegularization"}
_SUPPORTED = ("InputLayer, Dense, Activation, Softmax, Dropout and other inference no-ops, LSTM, GRU "
              "(reset_after=True), Bidirectional(LSTM|GRU) with merge_mode='concat', Embedding (mask_zero=True as "
              "lengths of trailing padding), "
              "TimeDistributed(Dense), Average, Add, nested models; keras.ops softmax, log_softmax, sigmoid, "
              "relu, tanh, x[:, i, :], add and division by a number")


def _np(v: Any) -> np.ndarray:
    import keras
    return np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float32)


def _act_name(fn: Any, what: str) -> str:
    name = getattr(fn, "__name__", type(fn).__name__)
    if name == "gelu":
        import inspect
        try:
            if inspect.signature(fn).parameters["approximate"].default:
                name = "gelu_tanh"
        except (KeyError, ValueError, TypeError):
            pass
        return name
    if name not in _ACT:
        raise ConversionError(f"{what}: activation {name!r} is not supported; supported: "
                              + ", ".join(sorted(set(_ACT))))
    return _ACT[name]


class _Converter:
    def __init__(self) -> None:
        self.b = SpecBuilder("Keras")
        self.env: dict[int, Value] = {}
        self.uses: dict[int, int] = {}
        # Layers whose values carry Keras' padding mask (Embedding(mask_zero=True)
        # and what reads it step by step); the mask becomes per-row lengths.
        self.masked: set = set()
        self.padding_id: Optional[int] = None

    # -- use counts, so an activation is folded only into a layer read by nothing else
    def count(self, outputs: list, inputs: list) -> None:
        seen: set = set()
        stack = list(outputs)
        input_ids = {id(t) for t in inputs}
        for t in outputs:
            self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        while stack:
            t = stack.pop()
            if id(t) in input_ids:
                continue
            node = self._node(t)
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            for kt in node.arguments.keras_tensors:
                self.uses[id(kt)] = self.uses.get(id(kt), 0) + 1
                stack.append(kt)
            op = node.operation
            if _is_model(op):
                self.count(list(_model_outputs(op)), list(_model_inputs(op)))

    @staticmethod
    def _node(t: Any) -> Any:
        h = getattr(t, "_keras_history", None)
        if h is None or h.operation is None:
            return None
        return h.operation._inbound_nodes[h.node_index]

    def single(self, t: Any) -> bool:
        return self.uses.get(id(t), 0) <= 1

    # -- evaluation of a tensor
    def value(self, t: Any) -> Value:
        v = self.env.get(id(t))
        if v is not None:
            return v
        node = self._node(t)
        if node is None:
            raise ConversionError(f"tensor {getattr(t, 'name', t)!r} is not produced by the model's input")
        op = node.operation
        if type(op).__name__ == "InputLayer":
            raise ConversionError(f"input {op.name!r}: a model with several inputs is not supported")
        outs = self.apply(op, node)
        for o, val in zip(node.outputs, outs):
            self.env[id(o)] = val
        return self.env[id(t)]

    def apply(self, op: Any, node: Any) -> list:
        kind = type(op).__name__
        what = f"layer {op.name!r} ({kind})"
        args = node.arguments.args
        tensors = node.arguments.keras_tensors
        if _is_model(op):
            if len(tensors) != 1:
                raise ConversionError(f"{what}: a nested model with {len(tensors)} inputs; supported: one input")
            return self.nested(op, self.value(tensors[0]), tensors[0])
        if kind in ("Add", "Average", "TrueDivide", "Divide", "Multiply"):
            return [self.arith(op, kind, node, what)]
        mask = (node.arguments.kwargs or {}).get("mask")
        if mask is not None:
            masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
            tensors = [t for t in tensors if not any(t is m for m in masks)]
        if len(tensors) != 1:
            raise ConversionError(f"{what}: {len(tensors)} tensor inputs; supported: {_SUPPORTED}")
        x, src = self.value(tensors[0]), tensors[0]
        if mask is not None and not all(m is None or self.padding_mask(m) for m in masks):
            raise ConversionError(f"{what}: reads a mask other than Embedding(mask_zero=True)'s; supported: that "
                                  "padding mask (as lengths of trailing padding)")
        return [self.layer(op, kind, x, src, args, what)]

    def padding_mask(self, m: Any) -> bool:
        """Whether the Keras mask tensor `m` is ``ids != 0`` of the model's
        integer input (what Embedding(mask_zero=True) computes)."""
        node = self._node(m)
        if node is None or type(node.operation).__name__ != "NotEqual" or self.padding_id is None:
            return False
        args = list(node.arguments.args)
        ids = [a for a in args if hasattr(a, "_keras_history")]
        consts = [a for a in args if not hasattr(a, "_keras_history")]
        return (len(ids) == 1 and len(consts) == 1 and isinstance(consts[0], (int, np.integer))
                and int(consts[0]) == self.padding_id and self.env.get(id(ids[0])) is not None
                and self.env[id(ids[0])].layer == "input")

    def nested(self, model: Any, x: Value, src: Any) -> list:
        if type(model).__name__ == "Sequential":
            for layer in model.layers:
                x = self.layer(layer, type(layer).__name__, x, None, None, f"layer {layer.name!r} ({type(layer).__name__})")
            return [x]
        ins, outs = list(_model_inputs(model)), list(_model_outputs(model))
        if len(ins) != 1:
            raise ConversionError(f"model {model.name!r}: {len(ins)} inputs; supported: one")
        self.env[id(ins[0])] = x
        self.uses[id(ins[0])] = self.uses.get(id(src), 1)
        return [self.value(o) for o in outs]

    def arith(self, op: Any, kind: str, node: Any, what: str) -> Value:
        args = list(node.arguments.args)
        if kind in ("Add", "Average"):
            items = args[0] if kind == "Average" or (len(args) == 1 and isinstance(args[0], (list, tuple))) else args
            vals = []
            for a in items:
                if not hasattr(a, "_keras_history"):
                    raise ConversionError(f"{what}: adds a constant; supported: adding model outputs (an ensemble)")
                vals.append(self.value(a))
            terms = []
            for v in vals:
                if v.terms is not None:
                    if v.divisor != 1.0:
                        raise ConversionError(f"{what}: adds an average; supported: one mean of sub-models")
                    terms += v.terms
                else:
                    terms.append(v)
            return Value(None, terms=terms, divisor=float(len(terms)) if kind == "Average" else 1.0)
        if kind in ("TrueDivide", "Divide") and len(args) == 2 and hasattr(args[0], "_keras_history") \
                and isinstance(args[1], (int, float, np.number)):
            v = self.value(args[0])
            if v.terms is None:
                raise ConversionError(f"{what}: divides a layer's values by a number; supported: the mean of "
                                      "sub-models' outputs (add, then divide by their count)")
            return v.with_(divisor=v.divisor * float(args[1]))
        if kind == "Multiply" and len(args) == 2:
            t = [a for a in args if hasattr(a, "_keras_history")]
            c = [a for a in args if not hasattr(a, "_keras_history")]
            if len(t) == 1 and len(c) == 1:
                v = self.value(t[0])
                mask = np.asarray(c[0], dtype=np.float64).reshape(-1)
                if v.transform == "softmax" and v.terms is None and np.all((mask == 0) | (mask == 1)):
                    return v.with_(transform="masked_softmax:" + "".join(str(int(m)) for m in mask))
            raise ConversionError(f"{what}: supported only as a 0/1 mask times a softmax (a masked_softmax head "
                                  "without renormalizing)")
        raise ConversionError(f"{what}: not supported here; supported: {_SUPPORTED}")

    def layer(self, op: Any, kind: str, x: Value, src: Any, args: Any, what: str) -> Value:
        masked = x.seq and x.layer in self.masked
        if masked and kind == "GetItem":
            raise ConversionError(f"{what}: selects one step of a sequence masked by Embedding(mask_zero=True); "
                                  "the mask becomes per-row lengths, which give a padding step no value; supported: "
                                  "the masked sequence read by LSTM/GRU (every step or the final state) and per-step "
                                  "layers")
        v = self._layer(op, kind, x, src, args, what)
        if masked and v.seq and v.layer is not None:
            self.masked.add(v.layer)
        return v

    def _layer(self, op: Any, kind: str, x: Value, src: Any, args: Any, what: str) -> Value:
        b = self.b
        single = src is None or self.single(src)
        if kind in _NOOPS:
            return x
        if kind == "InputLayer":
            return x
        if kind == "Dense":
            return self.dense(op, x, what)
        if kind == "TimeDistributed":
            inner = op.layer
            if type(inner).__name__ != "Dense":
                raise ConversionError(f"{what}: wraps {type(inner).__name__}; supported: TimeDistributed(Dense)")
            return self.dense(inner, x, what)
        if kind == "Activation":
            return b.fold_activation(x, _act_name(op.activation, what), single, f"layer {op.name!r}", kind)
        if kind == "Softmax":
            axis = getattr(op, "axis", -1)
            if axis not in (-1, (-1,)):
                raise ConversionError(f"{what}: softmax over axis {axis}; supported: the last axis")
            return b.fold_activation(x, "softmax", single, f"layer {op.name!r}", kind)
        if kind in ("ReLU",) and not any(getattr(op, a, None) for a in ("negative_slope", "threshold")) \
                and getattr(op, "max_value", None) is None:
            return b.fold_activation(x, "relu", single, f"layer {op.name!r}", kind)
        if kind in ("Softmax", "LogSoftmax", "Sigmoid", "Relu", "Tanh", "Silu", "Gelu") and args is not None:
            name = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sigmoid": "sigmoid", "Relu": "relu",
                    "Tanh": "tanh", "Silu": "silu", "Gelu": "gelu"}[kind]
            axis = getattr(op, "axis", -1)
            if kind in ("Softmax", "LogSoftmax") and axis not in (-1, None) and not (x.seq is False and axis == 1):
                raise ConversionError(f"operation {op.name!r} ({kind}): over axis {axis}; supported: the last axis")
            if kind == "Gelu" and getattr(op, "approximate", False):
                name = "gelu_tanh"
            return b.fold_activation(x, name, single, f"operation {op.name!r}", kind)
        if kind == "GetItem":
            return self.get_item(x, args, what)
        if kind in ("LSTM", "GRU"):
            return self.rnn(op, kind, x, what, None)
        if kind == "Bidirectional":
            return self.rnn(op.forward_layer, type(op.forward_layer).__name__, x, what, op)
        if kind == "Embedding":
            if x.layer != "input" or not b.input.get("vocabulary"):
                raise ConversionError(f"{what}: reads something other than the model's integer input")
            w = _np(op.embeddings)
            b.input["vocabulary"] = int(w.shape[0])
            name = b.add(op.name, {"kind": "embedding", "input": "input"}, {"weight": w})
            if getattr(op, "mask_zero", False):
                # Keras skips masked steps in recurrent layers (the state carries over them): for
                # trailing padding that is what lengths do; the converted model computes them.
                self.masked.add(name)
                self.padding_id = 0
                b.input["padding_id"] = 0  # kept in the model file
            return Value(name, seq=True)
        raise ConversionError(f"{what}: not supported; supported: {_SUPPORTED}")

    def dense(self, op: Any, x: Value, what: str) -> Value:
        act = _act_name(op.activation, what)
        if getattr(op, "lora_enabled", False):
            raise ConversionError(f"{what}: LoRA-enabled Dense is not supported")
        w = _np(op.kernel)
        if w.ndim != 2:
            raise ConversionError(f"{what}: kernel of shape {w.shape}; supported: 2-D")
        bias = _np(op.bias) if op.use_bias else None
        layer_act = act if act in ACTIVATIONS and act != "sigmoid" else "identity"
        name = self.b.dense(op.name, x, w.T, bias, layer_act, what)
        seq = x.seq and x.step is None
        v = Value(name, seq=seq)
        if act in ("softmax", "log_softmax", "sigmoid"):
            v.transform = act
        return v

    def get_item(self, x: Value, args: Any, what: str) -> Value:
        key = args[1] if args is not None and len(args) > 1 else None
        if isinstance(key, list):  # a model loaded from a .keras file keeps the key as a list
            key = tuple(key)
        if not isinstance(key, tuple):
            key = (key,)
        full = slice(None, None, None)
        ok = (len(key) in (2, 3) and key[0] == full and isinstance(key[1], (int, np.integer))
              and (len(key) == 2 or key[2] == full or key[2] is Ellipsis))
        if not ok or not x.seq or x.step is not None or x.transform is not None:
            raise ConversionError(f"{what}: slice {key!r}; supported: one step x[:, i, :] of a sequence")
        return x.with_(step=int(key[1]), seq=False)

    def rnn(self, op: Any, kind: str, x: Value, what: str, bidi: Any) -> Value:
        b = self.b
        if kind not in ("LSTM", "GRU"):
            raise ConversionError(f"{what}: Bidirectional({kind}); supported: LSTM, GRU")
        if bidi is not None:
            if bidi.merge_mode != "concat":
                raise ConversionError(f"{what}: merge_mode={bidi.merge_mode!r}; supported: 'concat'")
            if getattr(bidi, "return_state", False):
                raise ConversionError(f"{what}: return_state=True; supported: False")
        for flag in ("return_state", "go_backwards", "stateful"):
            if getattr(op, flag, False) and not (bidi is not None and flag == "go_backwards"):
                raise ConversionError(f"{what}: {flag}=True; supported: False")
        if _act_name(op.activation, what) != "tanh" or _act_name(op.recurrent_activation, what) != "sigmoid":
            raise ConversionError(f"{what}: activation {op.activation.__name__!r} / recurrent_activation "
                                  f"{op.recurrent_activation.__name__!r}; supported: tanh / sigmoid (PyTorch's)")
        if kind == "GRU" and not op.reset_after:
            raise ConversionError(f"{what}: reset_after=False (the reset gate before the recurrent product); "
                                  "supported: reset_after=True, Keras' default and PyTorch's formulation")
        if x.step is not None or x.transform is not None or not x.seq:
            raise ConversionError(f"{what}: reads a value without a step axis; supported: [batch, steps, features]")
        if x.layer == "input" and not b.input.get("features") and not b.input.get("vocabulary"):
            raise ConversionError(f"{what}: unknown input width")
        units = int(op.units)
        tensors = self.rnn_direction(op, kind, units, "_l0")
        if bidi is not None:
            tensors.update(self.rnn_direction(bidi.backward_layer, kind, units, "_l0_reverse"))
        seq = bool(op.return_sequences)
        inp = b.plain(x, what)
        layer = {"kind": kind.lower(), "input": inp, "units": units, "sequence": seq}
        if bidi is not None:
            layer["bidirectional"] = True
        name = b.add(bidi.name if bidi is not None else op.name, layer, tensors)
        return Value(name, seq=seq)

    @staticmethod
    def rnn_direction(op: Any, kind: str, units: int, suffix: str) -> dict:
        cell = op.cell
        k, r = _np(cell.kernel), _np(cell.recurrent_kernel)
        bias = _np(cell.bias) if cell.use_bias else None
        h = units
        if kind == "LSTM":
            # Keras and PyTorch both order the gates i, f, c(g), o; Keras has one bias.
            return lstm_tensors(k.T, r.T, bias, None if bias is None else np.zeros_like(bias), suffix)
        # Keras GRU gates z, r, h; PyTorch's r, z, n.
        def reorder(m: np.ndarray) -> np.ndarray:
            z, rr, hh = m[..., :h], m[..., h:2 * h], m[..., 2 * h:]
            return np.concatenate([rr, z, hh], axis=-1)
        b_ih = b_hh = None
        if bias is not None:
            b2 = bias.reshape(2, 3 * h)
            b_ih, b_hh = reorder(b2[0]), reorder(b2[1])
        return lstm_tensors(reorder(k).T, reorder(r).T, b_ih, b_hh, suffix)


def _is_model(op: Any) -> bool:
    return type(op).__name__ in ("Functional", "Sequential", "Model") or (
        hasattr(op, "layers") and hasattr(op, "inputs") and hasattr(op, "outputs"))


def _model_inputs(m: Any) -> list:
    ins = m.inputs
    return list(ins) if isinstance(ins, (list, tuple)) else [ins]


def _model_outputs(m: Any) -> list:
    outs = m.outputs
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def from_keras(model: Any, *, heads: Optional[Mapping[str, Any]] = None) -> Any:
    """A SoftmaxKit Model computing what the built Keras 3 `model` computes
    (an Ensemble when its outputs average sub-models). Heads are named after
    ``model.output_names`` (a Sequential model's one head after its last
    layer), in that order; `heads` overrides them (see ``softmaxkit.from_onnx``).

    ``Embedding(mask_zero=True)``: Keras' recurrent layers carry their state
    over masked steps, which for trailing padding is what ``lengths`` do;
    the result's ``padding_id`` is 0, so a call on ids without lengths
    takes each row's length as its count of steps before its trailing
    zeros (a 0 followed by another id in its row is an ArgumentError).
    Final states and every real step equal Keras'; per-step outputs at
    padding steps are 0, as with ``lengths``. The model file keeps the
    padding id (spec ``input.padding_id``), so a saved model does the same
    after loading; C and Swift read it (smk_model_padding_id,
    ``Model.paddingID``) and pass smk_padding_lengths' lengths.

    Raises:
        ConversionError (a ValueError): a layer or operation SoftmaxKit does
            not run as Keras does; the message names it, its type and what is
            supported.
    """
    c = _Converter()
    try:
        ins = _model_inputs(model)
    except (AttributeError, ValueError) as e:
        raise ConversionError(f"model {getattr(model, 'name', model)!r} is not built (give it an Input): {e}") from None
    if len(ins) != 1:
        raise ConversionError(f"model {model.name!r}: {len(ins)} inputs; supported: one")
    inp = ins[0]
    shape = tuple(inp.shape)
    dtype = str(inp.dtype)
    if len(shape) not in (2, 3) and not (len(shape) == 2 and "int" in dtype):
        raise ConversionError(f"input {inp.name!r}: shape {shape}; supported: [batch, features], "
                              "[batch, steps, features] or integer ids [batch, steps]")
    if "int" in dtype:
        if len(shape) != 2:
            raise ConversionError(f"input {inp.name!r}: integer input of shape {shape}; supported: ids [batch, steps]")
        c.b.input = {"vocabulary": 1}  # the Embedding sets it
        c.env[id(inp)] = Value("input", seq=True)
    else:
        if shape[-1] is None:
            raise ConversionError(f"input {inp.name!r}: the feature count is not fixed ({shape})")
        c.b.input = {"features": int(shape[-1])}
        c.env[id(inp)] = Value("input", seq=len(shape) == 3)
    outs = _model_outputs(model)
    if type(model).__name__ == "Sequential":
        names = [model.layers[-1].name]
    else:
        names = list(getattr(model, "output_names", None) or [o.name for o in outs])
    c.count(outs, ins)
    values = [c.value(o) for o in outs]
    result = build(c.b, list(zip(names, values)), heads)
    if c.padding_id is not None:
        result.padding_id = c.padding_id
        for m in getattr(result, "models", ()):
            m.padding_id = c.padding_id
    return result
