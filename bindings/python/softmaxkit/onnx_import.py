"""``softmaxkit.from_onnx``: an ONNX graph of dense layers, activations,
softmax heads, LSTM/GRU and embeddings (as ``torch.onnx``, skl2onnx and
tf2onnx write them) as a SoftmaxKit Model. The graph is evaluated
symbolically node by node; each node either maps onto the spec or is an
error naming it. ``onnx`` is imported when called, never by
``import softmaxkit``."""
from __future__ import annotations

import math
import os
from typing import Any, Mapping, Optional

import numpy as np

from ._convert import ConversionError, SpecBuilder, Value, build, lstm_tensors

_SUPPORTED = ("Gemm, MatMul (+ Add), Relu, Tanh, Sigmoid, Gelu (and its Erf pattern), Softmax and LogSoftmax over "
              "the last axis, LSTM and GRU (linear_before_reset=1; sequence_lens from a graph input, as the model's "
              "lengths) with their Squeeze/Transpose/Reshape glue, "
              "Gather (embeddings, one step, a final state), Concat of a bidirectional final state, Identity, "
              "Dropout, Flatten, Reshape that keeps the shape, Cast, and shape arithmetic feeding zero initial states")
_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Concat", "Cast", "Slice", "Squeeze", "Mul", "Add", "Sub", "Div",
              "Reshape", "Expand", "Range", "Equal", "Where", "ConstantOfShape", "Mod", "Floor", "Ceil",
              "Max", "Min", "Neg", "Sqrt"}


class _Sym:
    """A value computed from tensor shapes: `dims` lists its entries where
    they are known (``"B"``, ``"T"`` for the batch and step counts, or
    numbers), else None."""

    def __init__(self, dims: Optional[list] = None):
        self.dims = dims


class _Lens:
    """The graph input holding the recurrent nodes' sequence_lens."""


class _Zeros:
    """ConstantOfShape(shape of the input, 0): a zero initial state."""


class _T:
    """A tensor of the graph: `v` (a Value) with axis labels (``B`` batch,
    ``T`` step, ``F`` features; recurrent outputs ``D`` direction and ``H``
    hidden) or a recurrent output not yet placed in a layer (`rnn`), or a
    stage of the GELU pattern (`gelu`)."""

    __slots__ = ("v", "axes", "rnn", "part", "gelu", "src")

    def __init__(self, v: Optional[Value], axes: tuple, rnn: Any = None, part: str = "", gelu: int = 0,
                 src: Any = None):
        self.v, self.axes, self.rnn, self.part, self.gelu, self.src = v, axes, rnn, part, gelu, src


class _Rnn:
    """An ONNX LSTM/GRU node: its tensors in PyTorch's names, placed in a
    spec layer when something reads every step (`seq`) or the final state."""

    def __init__(self, name: str, kind: str, tensors: dict, hidden: int, dirs: int, inp: str):
        self.name, self.kind, self.tensors, self.hidden, self.dirs, self.inp = name, kind, tensors, hidden, dirs, inp
        self.layers: dict = {}

    def layer(self, b: SpecBuilder, sequence: bool) -> str:
        if sequence not in self.layers:
            spec = {"kind": self.kind, "input": self.inp, "units": self.hidden, "sequence": sequence}
            if self.dirs == 2:
                spec["bidirectional"] = True
            self.layers[sequence] = b.add(self.name, spec, self.tensors)
        return self.layers[sequence]


def _attrs(node: Any) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Converter:
    def __init__(self, graph: Any, opset: int, base_dir: Optional[str], dropped: frozenset = frozenset()):
        from onnx import numpy_helper
        self.g = graph
        # Only the nodes the kept outputs depend on are converted (an output
        # dropped with heads={name: None} may hold anything).
        self.outputs = [o for o in graph.output if o.name not in dropped]
        need = {o.name for o in self.outputs}
        self.nodes = []
        for n in reversed(graph.node):
            if any(o in need for o in n.output):
                self.nodes.append(n)
                need.update(i for i in n.input if i)
        self.nodes.reverse()
        self.opset = opset
        self.b = SpecBuilder("ONNX")
        self.consts: dict[str, Any] = {}
        for init in graph.initializer:
            self.consts[init.name] = numpy_helper.to_array(init, base_dir) if base_dir else numpy_helper.to_array(init)
        self.vals: dict[str, Any] = {}
        self.uses: dict[str, int] = {}
        #: The graph input holding sequence_lens, if any (the model's lengths).
        self.lens_input: Optional[str] = None
        for n in self.nodes:
            for i in n.input:
                if i:
                    self.uses[i] = self.uses.get(i, 0) + 1
        for o in self.outputs:
            self.uses[o.name] = self.uses.get(o.name, 0) + 1

    def get(self, name: str) -> Any:
        if name in self.consts:
            return self.consts[name]
        if name in self.vals:
            return self.vals[name]
        raise ConversionError(f"tensor {name!r} is not produced by any node before it")

    def run(self) -> list:
        g = self.g
        inputs = [i for i in g.input if i.name not in self.consts]
        from onnx import TensorProto
        # A second input read only as the sequence_lens of the LSTM/GRU nodes
        # becomes the model's lengths.
        lens = [i for i in inputs if self.lens_candidate(i)]
        if len(inputs) == 2 and len(lens) == 1:
            self.lens_input = lens[0].name
            self.vals[self.lens_input] = _Lens()
            inputs = [i for i in inputs if i.name != self.lens_input]
        if len(inputs) != 1:
            raise ConversionError(f"the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                                  "supported: one, plus an integer [batch] input read only as the sequence_lens "
                                  "of its LSTM/GRU nodes")
        inp = inputs[0]
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        is_int = tt.elem_type in (TensorProto.INT64, TensorProto.INT32)
        if is_int:
            if len(dims) != 2:
                raise ConversionError(f"input {inp.name!r}: integer ids of rank {len(dims)}; supported: [batch, steps]")
            self.b.input = {"vocabulary": 1}
            self.vals[inp.name] = _T(Value("input", seq=True), ("B", "T"), part="ids")
        else:
            if len(dims) not in (2, 3) or not dims[-1]:
                raise ConversionError(f"input {inp.name!r}: shape {dims}; supported: [batch, features] or "
                                      "[batch, steps, features] with a fixed feature count")
            self.b.input = {"features": int(dims[-1])}
            self.vals[inp.name] = _T(Value("input", seq=len(dims) == 3), ("B", "T", "F") if len(dims) == 3 else ("B", "F"))
        if self.lens_input is not None:
            unlensed = [n.name or n.output[0] for n in self.nodes if n.op_type in ("LSTM", "GRU")
                        and not (len(n.input) > 4 and n.input[4] == self.lens_input)]
            if unlensed:
                raise ConversionError(f"input {self.lens_input!r} is the sequence_lens of some recurrent nodes but "
                                      f"not of {', '.join(map(repr, unlensed))}; the model's lengths apply to every "
                                      "recurrent layer, so every LSTM/GRU node must read it")
        for node in self.nodes:
            what = f"node {node.name or node.output[0]!r} ({node.op_type})"
            try:
                outs = self.node(node, what)
            except ConversionError as e:
                raise ConversionError(f"{e} [needed by output(s) {', '.join(self.dependents(node))}; "
                                      "heads={name: None} drops an output]") from None
            for name, v in zip(node.output, outs):
                if name:
                    self.vals[name] = v
        results = []
        for o in self.outputs:
            t = self.get(o.name)
            results.append((o.name, self.head_value(t, f"output {o.name!r}")))
        return results

    # -- helpers
    def lens_candidate(self, i: Any) -> bool:
        """Whether graph input `i` is integer ``[batch]`` read only as the
        sequence_lens (input 4) of LSTM/GRU nodes."""
        from onnx import TensorProto
        tt = i.type.tensor_type
        if tt.elem_type not in (TensorProto.INT32, TensorProto.INT64) or len(tt.shape.dim) != 1:
            return False
        readers = [(n, k) for n in self.nodes for k, x in enumerate(n.input) if x == i.name]
        return bool(readers) and all(n.op_type in ("LSTM", "GRU") and k == 4 for n, k in readers)

    def dependents(self, node: Any) -> list:
        """The kept outputs computed from `node`."""
        reach = set(o for o in node.output if o)
        for n in self.nodes:
            if any(i in reach for i in n.input):
                reach.update(o for o in n.output if o)
        return [o.name for o in self.outputs if o.name in reach]

    def plain(self, t: Any, what: str) -> _T:
        """`t` as a tensor with a layer behind it (recurrent outputs placed)."""
        if isinstance(t, _T) and t.gelu:
            raise ConversionError(f"{what}: reads a partial GELU (Div/Erf/Add/Mul of a layer) used another way; "
                                  "supported: x * 0.5 * (1 + erf(x / sqrt(2)))")
        if isinstance(t, _T) and t.rnn is not None:
            if t.part == "Y" and "D" not in t.axes:
                return _T(Value(t.rnn.layer(self.b, True), seq=True), tuple("F" if a == "H" else a for a in t.axes))
            if t.part == "final":
                return _T(Value(t.rnn.layer(self.b, False)), ("B", "F"))
            raise ConversionError(f"{what}: reads a recurrent output with axes {t.axes} (part {t.part}); supported: "
                                  "every step with the direction axis folded, or the final state as torch.onnx exports")
        if not isinstance(t, _T):
            raise ConversionError(f"{what}: reads a constant or shape value where a layer's values are expected")
        return t

    def head_value(self, t: Any, what: str) -> Value:
        t = self.plain(t, what)
        if t.axes not in (("B", "F"), ("B", "T", "F")):
            raise ConversionError(f"{what}: axes {t.axes}; supported outputs are [batch, size] or [batch, steps, size]")
        return t.v

    def const(self, name: str, what: str) -> np.ndarray:
        c = self.consts.get(name)
        if c is None and isinstance(self.vals.get(name), np.ndarray):
            c = self.vals[name]
        if c is None:
            raise ConversionError(f"{what}: input {name!r} is not a constant (initializer)")
        return c

    def single(self, name: str) -> bool:
        return self.uses.get(name, 0) <= 1

    # -- nodes
    def node(self, n: Any, what: str) -> list:
        op = n.op_type
        a = _attrs(n)
        ins = list(n.input)
        b = self.b
        if n.domain not in ("", "ai.onnx"):
            raise ConversionError(f"{what}: operator of domain {n.domain!r}; supported: the standard ONNX operators "
                                  f"{_SUPPORTED}")
        if op == "Constant":
            from onnx import numpy_helper
            if "value" in a:
                return [numpy_helper.to_array(a["value"])]
            for k in ("value_float", "value_int"):
                if k in a:
                    return [np.array(a[k])]
            if "value_floats" in a or "value_ints" in a:
                return [np.array(a.get("value_floats", a.get("value_ints")))]
            raise ConversionError(f"{what}: a Constant of kind {sorted(a)}; supported: value, value_float(s), value_int(s)")
        vals = [self.get(i) if i else None for i in ins]
        if op == "Shape":
            x = vals[0]
            dims = None
            if isinstance(x, _T) and x.rnn is None and not x.gelu and "BT" not in x.axes:
                width = self.width(x.v) if x.part != "ids" else None
                dims = [width if ax == "F" else ax for ax in x.axes]
                if None in dims:
                    dims = None
            return [_Sym(dims)]
        if op in ("Gather", "Unsqueeze", "Concat") and any(isinstance(v, _Sym) for v in vals) \
                and not any(isinstance(v, _T) for v in vals):
            return [self.shape_arith(op, a, vals)]
        if op == "ConstantOfShape" and isinstance(vals[0], _Sym):
            v = a.get("value")
            from onnx import numpy_helper
            if v is not None and np.any(numpy_helper.to_array(v) != 0):
                raise ConversionError(f"{what}: a non-zero ConstantOfShape; supported: zeros (initial states)")
            return [_Zeros()]
        if op in _SHAPE_OPS and not any(isinstance(v, _T) for v in vals) and op != "Gather":
            # Arithmetic on shapes and constants only (index and shape
            # computations): opaque; what reads it must not need its value.
            return [_Sym() for _ in n.output]
        if op == "Gather" and isinstance(vals[0], _Sym):
            return [_Sym()]
        if op in ("Identity", "Dropout", "Cast") and isinstance(vals[0], _T):
            if op == "Dropout" and len(ins) > 2 and ins[2]:
                tm = self.consts.get(ins[2])
                if tm is None or bool(np.asarray(tm).item()):
                    raise ConversionError(f"{what}: training_mode is not a constant False")
            if op == "Cast":
                from onnx import TensorProto
                if a.get("to") not in (TensorProto.FLOAT, TensorProto.DOUBLE):
                    raise ConversionError(f"{what}: cast to type {a.get('to')}; supported: to float")
            return [vals[0]] + [None] * (len(n.output) - 1)
        if op == "Gemm":
            return [self.gemm(n, a, vals, what)]
        if op == "MatMul":
            x = vals[0]
            if not isinstance(x, _T):
                raise ConversionError(f"{what}: the first input is not a layer's values")
            w = self.const(ins[1], what)
            if w.ndim != 2:
                raise ConversionError(f"{what}: weight of shape {w.shape}; supported: 2-D [in, out]")
            x = self.plain(x, what)
            name = b.dense(n.name or "matmul", x.v, np.asarray(w, np.float32).T, None, "identity", what)
            b.by_name[name]["_nobias"] = True
            return [_T(Value(name, seq=x.v.seq and x.v.step is None), x.axes)]
        if op == "Add":
            return [self.add(n, ins, vals, what)]
        if op in ("Relu", "Tanh", "Sigmoid", "Gelu"):
            x = self.plain(vals[0], what)
            act = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Gelu": "gelu"}[op]
            if op == "Gelu" and a.get("approximate", b"none") in (b"tanh", "tanh"):
                act = "gelu_tanh"
            return [_T(b.fold_activation(x.v, act, self.single(ins[0]), what, op), x.axes)]
        if op in ("Softmax", "LogSoftmax"):
            x = self.plain(vals[0], what)
            axis = a.get("axis", -1 if self.opset >= 13 else 1)
            rank = len(x.axes)
            if axis < 0:
                axis += rank
            if axis != rank - 1:
                raise ConversionError(f"{what}: over axis {a.get('axis')} of a rank-{rank} tensor; supported: the last axis")
            t = "softmax" if op == "Softmax" else "log_softmax"
            return [_T(b.fold_activation(x.v, t, self.single(ins[0]), what, op), x.axes)]
        if op in ("Div", "Erf", "Mul"):
            return [self.gelu(n, op, ins, vals, what)]
        if op in ("LSTM", "GRU"):
            return self.rnn(n, op, a, ins, vals, what)
        if op == "Transpose":
            x = vals[0]
            if not isinstance(x, _T) or x.gelu:
                raise ConversionError(f"{what}: transposes something other than a layer's values")
            perm = a.get("perm", list(range(len(x.axes)))[::-1])
            axes = tuple(x.axes[p] for p in perm)
            if x.rnn is None and x.part != "ids" and axes[-1] != "F":
                raise ConversionError(f"{what}: perm {perm} moves the feature axis; supported: swapping batch and step")
            return [_T(x.v, axes, x.rnn, x.part, src=x.src)]
        if op == "Squeeze":
            x = vals[0]
            axes_arg = a.get("axes") if "axes" in a else (list(self.const(ins[1], what)) if len(ins) > 1 and ins[1] else None)
            if not isinstance(x, _T) or x.rnn is None or axes_arg is None or len(axes_arg) != 1:
                raise ConversionError(f"{what}: supported only on a recurrent output's direction axis")
            ax = int(axes_arg[0]) % len(x.axes)
            if x.axes[ax] != "D" or x.rnn.dirs != 1:
                raise ConversionError(f"{what}: squeezes axis {x.axes[ax]} of a recurrent output; supported: the "
                                      "direction axis of a one-direction layer")
            axes = x.axes[:ax] + x.axes[ax + 1:]
            part = "final" if x.part == "Yh" else x.part
            return [_T(None, axes, x.rnn, part)]
        if op == "Reshape":
            return [self.reshape(n, ins, vals, what)]
        if op == "Flatten":
            x = self.plain(vals[0], what)
            if a.get("axis", 1) != 1 or len(x.axes) != 2:
                raise ConversionError(f"{what}: axis {a.get('axis', 1)} of a rank-{len(x.axes)} tensor; supported: "
                                      "Flatten of [batch, features] (no change)")
            return [x]
        if op == "Gather":
            return [self.gather(n, a, ins, vals, what)]
        if op == "Concat":
            return [self.concat(n, a, vals, what)]
        raise ConversionError(f"{what}: not supported; supported: {_SUPPORTED}")

    def gemm(self, n: Any, a: dict, vals: list, what: str) -> _T:
        if a.get("transA", 0):
            raise ConversionError(f"{what}: transA=1; supported: transA=0")
        x = self.plain(vals[0], what)
        if x.axes not in (("B", "F"), ("BT", "F")):
            raise ConversionError(f"{what}: reads axes {x.axes}; supported: [batch, features]")
        w = self.const(n.input[1], what).astype(np.float64)
        w = w if a.get("transB", 0) else w.T
        w = w * a.get("alpha", 1.0)
        bias = None
        if len(n.input) > 2 and n.input[2]:
            c = self.const(n.input[2], what).astype(np.float64) * a.get("beta", 1.0)
            if c.size == 1:
                c = np.full(w.shape[0], c.reshape(()))
            if c.ndim == 2 and c.shape[0] == 1:
                c = c[0]
            if c.shape != (w.shape[0],):
                raise ConversionError(f"{what}: bias of shape {c.shape}; supported: [{w.shape[0]}] or a scalar")
            bias = c
        name = self.b.dense(n.name or "gemm", x.v, w, bias, "identity", what)
        return _T(Value(name, seq=x.v.seq and x.v.step is None), x.axes)

    def add(self, n: Any, ins: list, vals: list, what: str) -> Any:
        t_idx = [i for i, v in enumerate(vals) if isinstance(v, _T)]
        if len(t_idx) == 1 and vals[t_idx[0]].gelu == 2:
            c = vals[1 - t_idx[0]]
            if isinstance(c, np.ndarray) and c.size == 1 and float(c.reshape(())) == 1.0:
                g = vals[t_idx[0]]
                return _T(g.v, g.axes, gelu=3, src=g.src)
        if len(t_idx) != 1:
            raise ConversionError(f"{what}: adds two layers' values; supported: adding a bias to a MatMul")
        x = vals[t_idx[0]]
        c = vals[1 - t_idx[0]]
        x = self.plain(x, what)
        layer = self.b.by_name.get(x.v.layer)
        if not isinstance(c, np.ndarray) or layer is None or not layer.get("_nobias") \
                or layer["activation"] != "identity" or x.v.transform is not None or not self.single(ins[t_idx[0]]):
            raise ConversionError(f"{what}: supported only as the bias of the MatMul right before it")
        w = self.b.weights[layer["name"] + ".weight"]
        c = np.asarray(c, np.float64)
        if c.size == 1:
            c = np.full(w.shape[0], c.reshape(()))
        c = c.reshape(-1) if c.ndim > 1 and c.size == w.shape[0] and c.shape[-1] == w.shape[0] else c
        if c.shape != (w.shape[0],):
            raise ConversionError(f"{what}: bias of shape {c.shape}; supported: [{w.shape[0]}]")
        self.b.weights[layer["name"] + ".bias"] = c.astype(np.float32)
        del layer["_nobias"]
        return x

    def gelu(self, n: Any, op: str, ins: list, vals: list, what: str) -> _T:
        """x * 0.5 * (1 + erf(x / sqrt 2)), as torch.onnx writes GELU:
        Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5."""
        def scalar(v: Any) -> Optional[float]:
            return float(np.asarray(v).reshape(())) if isinstance(v, np.ndarray) and v.size == 1 else None
        x = vals[0]
        if op == "Div" and isinstance(x, _T) and not x.gelu and abs((scalar(vals[1]) or 0) - math.sqrt(2)) < 1e-6:
            p = self.plain(x, what)
            return _T(p.v, p.axes, gelu=1, src=ins[0])
        if op == "Erf" and isinstance(x, _T) and x.gelu == 1 and self.single(ins[0]):
            return _T(x.v, x.axes, gelu=2, src=x.src)
        if op == "Mul":
            ts = [v for v in vals if isinstance(v, _T)]
            if len(ts) == 2:
                g = next((t for t in ts if t.gelu == 3), None)
                other = [i for i, v in zip(ins, vals) if v is not g]
                if g is not None and other and other[0] == g.src:
                    return _T(g.v, g.axes, gelu=4, src=g.src)
            elif len(ts) == 1 and ts[0].gelu == 4 and scalar(vals[1 - vals.index(ts[0])]) == 0.5:
                g = ts[0]
                v = self.b.fold_activation(g.v, "gelu", self.uses.get(g.src, 0) == 2, what, op)
                return _T(v, g.axes)
        raise ConversionError(f"{what}: not supported here; {op} is supported only inside the GELU pattern "
                              "x * 0.5 * (1 + erf(x / sqrt(2))); supported: " + _SUPPORTED)

    def rnn(self, n: Any, op: str, a: dict, ins: list, vals: list, what: str) -> list:
        direction = a.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction not in ("forward", "bidirectional"):
            raise ConversionError(f"{what}: direction {direction!r}; supported: forward, bidirectional")
        dirs = 2 if direction == "bidirectional" else 1
        default_acts = ["Sigmoid", "Tanh", "Tanh"] if op == "LSTM" else ["Sigmoid", "Tanh"]
        acts = [x.decode() if isinstance(x, bytes) else x for x in a.get("activations", [])]
        if acts and acts != default_acts * dirs:
            raise ConversionError(f"{what}: activations {acts}; supported: the defaults {default_acts}")
        for k in ("clip", "activation_alpha", "activation_beta"):
            if k in a:
                raise ConversionError(f"{what}: attribute {k}; not supported")
        if a.get("input_forget", 0):
            raise ConversionError(f"{what}: input_forget=1; supported: 0")
        if op == "GRU" and a.get("linear_before_reset", 0) != 1:
            raise ConversionError(f"{what}: linear_before_reset=0 (the reset gate before the recurrent product); "
                                  "supported: linear_before_reset=1, as PyTorch exports")
        layout = a.get("layout", 0)
        x = self.plain(vals[0], what)
        want = ("T", "B", "F") if layout == 0 else ("B", "T", "F")
        if x.axes != want:
            raise ConversionError(f"{what}: input axes {x.axes}; supported: {want} (layout {layout})")
        if len(ins) > 4 and ins[4] and not isinstance(vals[4], _Lens):
            raise ConversionError(f"{what}: sequence_lens {ins[4]!r} is computed in the graph; supported: a graph "
                                  "input read only as sequence_lens (it becomes the model's lengths), or none")
        if len(ins) > 7 and ins[7]:
            raise ConversionError(f"{what}: input P (peepholes) is given; not supported")
        for k in (5, 6):
            if len(ins) > k and ins[k]:
                v = vals[k]
                if not (isinstance(v, _Zeros) or (isinstance(v, np.ndarray) and not np.any(v))):
                    raise ConversionError(f"{what}: a non-zero initial state ({ins[k]!r}); supported: zeros")
        w = self.const(ins[1], what).astype(np.float32)
        r = self.const(ins[2], what).astype(np.float32)
        hidden = int(a.get("hidden_size", r.shape[-1]))
        bias = self.const(ins[3], what).astype(np.float32) if len(ins) > 3 and ins[3] else None
        g = 4 if op == "LSTM" else 3
        order = [0, 2, 3, 1] if op == "LSTM" else [1, 0, 2]  # ONNX i,o,f,c -> i,f,g,o; z,r,h -> r,z,n

        def reorder(m: np.ndarray) -> np.ndarray:
            return np.concatenate([m[k * hidden:(k + 1) * hidden] for k in order], axis=0)

        tensors: dict = {}
        for d in range(dirs):
            suffix = "_l0" + ("_reverse" if d == 1 else "")
            b_ih = b_hh = None
            if bias is not None:
                b_ih, b_hh = reorder(bias[d][:g * hidden]), reorder(bias[d][g * hidden:])
            tensors.update(lstm_tensors(reorder(w[d]), reorder(r[d]), b_ih, b_hh, suffix))
        rnn = _Rnn(n.name or op.lower(), op.lower(), tensors, hidden, dirs, self.b.plain(x.v, what))
        y_axes = ("T", "D", "B", "H") if layout == 0 else ("B", "T", "D", "H")
        h_axes = ("D", "B", "H") if layout == 0 else ("B", "D", "H")
        outs = [_T(None, y_axes, rnn, "Y"), _T(None, h_axes, rnn, "Yh")]
        if op == "LSTM":
            outs.append(_T(None, h_axes, rnn, "Yc"))
        if len(n.output) > 2 and n.output[2] and self.uses.get(n.output[2]):
            raise ConversionError(f"{what}: the final cell state Y_c is read; supported: Y and Y_h")
        return outs

    def reshape(self, n: Any, ins: list, vals: list, what: str) -> _T:
        x = vals[0]
        shape = vals[1]
        if isinstance(shape, _Sym) and shape.dims is not None:
            shape = list(shape.dims)  # entries "B", "T" or numbers
        elif isinstance(shape, np.ndarray):
            shape = [int(s) for s in shape.reshape(-1)]
        else:
            raise ConversionError(f"{what}: a shape computed in a way this importer does not follow; supported: "
                                  "constants and the input's batch and step counts")
        if isinstance(x, _T) and x.rnn is not None and x.part == "Y":
            i = x.axes.index("D") if "D" in x.axes else -1
            if i >= 0 and i + 1 < len(x.axes) and x.axes[i + 1] == "H" and len(shape) == len(x.axes) - 1 \
                    and shape[i] in (-1, 2 * x.rnn.hidden, x.rnn.dirs * x.rnn.hidden) \
                    and all(s in (0, -1) or k == i for k, s in enumerate(shape)):
                return _T(None, x.axes[:i] + x.axes[i + 1:], x.rnn, "Y")
            raise ConversionError(f"{what}: reshape {shape} of a recurrent output with axes {x.axes}; supported: "
                                  "folding the direction axis into the hidden one, as torch.onnx exports")
        x = self.plain(x, what)
        width = self.width(x.v)
        same_rank = len(shape) == len(x.axes) and all(v in (0, -1, x.axes[k]) for k, v in enumerate(shape[:-1]))
        if same_rank and (shape[-1] in (0, width) or (shape[-1] == -1 and all(v != -1 for v in shape[:-1]))):
            return x  # every axis keeps its extent
        if x.axes == ("B", "T", "F") and len(shape) == 2 and shape[0] == -1 and shape[1] == width:
            return _T(x.v, ("BT", "F"))  # batch and steps folded: dense layers run per row either way
        if x.axes == ("BT", "F") and len(shape) == 3 and shape[:2] == ["B", "T"] and shape[2] in (-1, width):
            return _T(x.v, ("B", "T", "F"))  # and unfolded with the input's own batch and step counts
        raise ConversionError(f"{what}: reshape to {shape} of axes {x.axes} (width {width}); supported: a reshape "
                              "that keeps batch, steps and features, or folds batch and steps together and back")

    @staticmethod
    def shape_arith(op: str, a: dict, vals: list) -> _Sym:
        """Gather, Unsqueeze and Concat of shape entries, tracked so that a
        reshape to a computed shape can be checked."""
        def entries(v: Any) -> Optional[list]:
            if isinstance(v, _Sym):
                return v.dims
            if isinstance(v, np.ndarray) and v.dtype.kind in "iu":
                return [int(e) for e in v.reshape(-1)]
            return None
        if op == "Gather":
            d, i = entries(vals[0]), vals[1]
            if d is None or not isinstance(i, np.ndarray) or i.size != 1 or a.get("axis", 0) != 0:
                return _Sym()
            k = int(i.reshape(()))
            return _Sym([d[k]]) if -len(d) <= k < len(d) else _Sym()
        if op == "Unsqueeze":
            d = entries(vals[0])
            return _Sym(d if d is not None and len(d) == 1 else None)
        parts = [entries(v) for v in vals if v is not None]
        if a.get("axis", 0) != 0 or any(p is None for p in parts):
            return _Sym()
        return _Sym([e for p in parts for e in p])

    def width(self, v: Value) -> Optional[int]:
        """The feature count of `v`'s layer (None when unknown)."""
        if v.layer == "input":
            return self.b.input.get("features")
        layer = self.b.by_name.get(v.layer, {})
        kind = layer.get("kind", "dense")
        w = self.b.weights.get(f"{v.layer}.weight" if kind in ("dense", "embedding") else f"{v.layer}.weight_hh_l0")
        if w is None:
            return None
        if kind == "dense":
            return int(w.shape[0])
        if kind == "embedding":
            return int(w.shape[1])
        return int(w.shape[1]) * (2 if layer.get("bidirectional") else 1)

    def gather(self, n: Any, a: dict, ins: list, vals: list, what: str) -> _T:
        data, idx = vals[0], vals[1]
        axis = a.get("axis", 0)
        if isinstance(data, np.ndarray) and isinstance(idx, _T) and idx.part == "ids":
            if axis != 0 or data.ndim != 2:
                raise ConversionError(f"{what}: gathers axis {axis} of a rank-{data.ndim} table; supported: an "
                                      "embedding (rows of a [vocabulary, dim] table)")
            self.b.input = {"vocabulary": int(data.shape[0])}
            name = self.b.add(n.name or "embedding", {"kind": "embedding", "input": "input"},
                              {"weight": np.asarray(data, np.float32)})
            return _T(Value(name, seq=True), idx.axes + ("F",))
        if not isinstance(idx, np.ndarray) or idx.ndim != 0:
            raise ConversionError(f"{what}: index is not a constant scalar; supported: one step or one direction")
        i = int(idx)
        if isinstance(data, _T) and data.rnn is not None and data.part == "Yh":
            ax = axis % len(data.axes)
            if data.axes[ax] != "D":
                raise ConversionError(f"{what}: gathers axis {data.axes[ax]} of a final state")
            d = i % data.rnn.dirs if -data.rnn.dirs <= i < data.rnn.dirs else None
            if d is None:
                raise ConversionError(f"{what}: direction {i} of a {data.rnn.dirs}-direction layer; a stacked "
                                      "layer's state is not supported")
            axes = data.axes[:ax] + data.axes[ax + 1:]
            return _T(None, axes, data.rnn, "final" if data.rnn.dirs == 1 else f"dir{d}")
        x = self.plain(data, what)
        ax = axis % len(x.axes)
        if x.axes[ax] != "T" or x.v.step is not None:
            raise ConversionError(f"{what}: gathers axis {x.axes[ax]}; supported: one step of a sequence")
        return _T(x.v.with_(step=i, seq=False), x.axes[:ax] + x.axes[ax + 1:])

    def concat(self, n: Any, a: dict, vals: list, what: str) -> _T:
        if len(vals) == 2 and all(isinstance(v, _T) and v.rnn is not None for v in vals) \
                and vals[0].rnn is vals[1].rnn and (vals[0].part, vals[1].part) == ("dir0", "dir1") \
                and a.get("axis") in (1, -1) and vals[0].axes == ("B", "H"):
            return _T(None, ("B", "H"), vals[0].rnn, "final")
        raise ConversionError(f"{what}: supported only as the final state of a bidirectional layer "
                              "(torch.cat([h_n[-2], h_n[-1]], 1))")


def from_onnx(model: Any, *, heads: Optional[Mapping[str, Any]] = None) -> Any:
    """A SoftmaxKit Model computing what the ONNX graph `model` (a path or
    an ``onnx.ModelProto``; external weight files are read) computes. Heads
    are the graph's outputs, named and ordered as in the graph.

    `heads` changes them: ``{name: {"output": "masked_softmax", "mask":
    [...]}}`` replaces a head's transform (the layer stays),
    ``{name: {"temperature": 2.0}}`` adds a parameter, ``{name: None}`` drops
    a head, and a new name adds one (e.g. ``{"joint": {"output":
    "hierarchical", "coarse": "coarse_head", "fine": ["fine0", "fine1"]}}``,
    where head names stand for the layers they read).

    A second graph input, integer ``[batch]`` and read only as the
    ``sequence_lens`` of every LSTM/GRU node, becomes the model's
    ``lengths`` argument (its name is the result's ``lengths_input``; None
    without one): valid steps and final states equal the graph's, per-step
    outputs at padding steps are 0.

    Raises:
        ConversionError (a ValueError): a node SoftmaxKit does not run as the
            graph does; the message names it, its operator and what is
            supported.
    """
    import onnx
    base = None
    if isinstance(model, (str, bytes, os.PathLike)):
        base = os.path.dirname(os.fspath(model)) or "."
        model = onnx.load(os.fspath(model))
    if not isinstance(model, onnx.ModelProto):
        raise ConversionError(f"from_onnx takes a path or an onnx.ModelProto, got {type(model).__name__}")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    dropped = frozenset(k for k, v in (heads or {}).items() if v is None and isinstance(k, str))
    names = [o.name for o in model.graph.output]
    for k in sorted(dropped - set(names)):
        raise ConversionError(f"heads: {k!r} is not a head of the model (heads: {', '.join(names)})")
    c = _Converter(model.graph, opset, None, dropped)
    outputs = c.run()
    rest = None if heads is None else {k: v for k, v in heads.items() if k not in dropped}
    result = build(c.b, outputs, rest)
    # The graph's sequence_lens input: the converted model's `lengths` argument.
    result.lengths_input = c.lens_input
    return result
