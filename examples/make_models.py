#!/usr/bin/env python3
"""Regenerates examples/models/*.safetensors: the example networks with fixed
random weights (numpy, fixed seeds), each with its architecture in the
file's "softmaxkit" metadata, plus a fixed input per network
(examples/models/<name>.input.npy: float32 features, or int64 token ids for
the tagger). Tensors are named as a PyTorch state_dict names them;
examples/check_models_torch.py loads the sequence models into torch modules
and checks that they give the library's outputs.

Each file is written by the library (softmaxkit.Model.save), so it needs
libsoftmaxkit (`make lib`). Run: python3 examples/make_models.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bindings" / "python"))


def linear(rng: np.random.Generator, out: int, inp: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)), scaled up
    a little so that the softmax heads are not all near uniform."""
    bound = 2.0 / np.sqrt(inp)
    return (rng.uniform(-bound, bound, (out, inp)).astype(np.float32),
            rng.uniform(-bound, bound, out).astype(np.float32))


def build(seed: int, features: int, layers: list[tuple[str, str, int, str]], heads: list[dict]):
    """layers: (name, input, units, activation). Returns (spec, weights)."""
    rng = np.random.default_rng(seed)
    widths = {"input": features}
    weights = {}
    spec_layers = []
    for name, inp, units, act in layers:
        w, b = linear(rng, units, widths[inp])
        weights[name + ".weight"], weights[name + ".bias"] = w, b
        widths[name] = units
        spec_layers.append({"name": name, "input": inp, "activation": act})
    spec = {"softmaxkit": 1, "input": {"features": features}, "layers": spec_layers, "heads": heads}
    return spec, weights


def build_sequence(seed: int, inp: dict, layers: list[dict], heads: list[dict]):
    """A model with sequence layers, weights drawn as PyTorch initializes them
    (nn.LSTM / nn.GRU: U(-1/sqrt(H), 1/sqrt(H)); nn.Embedding: N(0, 1);
    nn.Linear as `linear`) and named as its state_dict names them.
    layers: spec entries, each with "units" (hidden size, embedding width or
    output width); "units" stays in the spec of recurrent layers only.
    Returns (spec, weights)."""
    rng = np.random.default_rng(seed)
    widths = {"input": inp.get("features", 0)}
    weights, spec_layers = {}, []
    for l in layers:
        # Written out as the library writes a spec back (input and activation explicit).
        l = {"input": "input", "activation": "identity", **l}
        name, kind, units = l["name"], l.get("kind", "dense"), l["units"]
        src = l["input"]
        if kind == "embedding":
            weights[name + ".weight"] = rng.standard_normal((inp["vocabulary"], units)).astype(np.float32)
            widths[name] = units
            del l["units"]
        elif kind in ("lstm", "gru"):
            gates, bound = (4 if kind == "lstm" else 3) * units, 1.0 / np.sqrt(units)
            dirs = 2 if l.get("bidirectional") else 1
            width = widths[src]
            for k in range(l.get("num_layers", 1)):
                for suffix in ("", "_reverse")[:dirs]:
                    for t, shape in (("weight_ih", (gates, width)), ("weight_hh", (gates, units)),
                                     ("bias_ih", (gates,)), ("bias_hh", (gates,))):
                        weights[f"{name}.{t}_l{k}{suffix}"] = rng.uniform(-bound, bound, shape).astype(np.float32)
                width = units * dirs
            widths[name] = units * dirs
        else:
            w, b = linear(rng, units, widths[src])
            weights[name + ".weight"], weights[name + ".bias"] = w, b
            widths[name] = units
            del l["units"]
        spec_layers.append(l)
    return {"softmaxkit": 1, "input": inp, "layers": spec_layers, "heads": heads}, weights


def is_id_model(spec: dict) -> bool:
    return "vocabulary" in spec["input"]


def seed_networks() -> dict[str, tuple[dict, dict, tuple]]:
    """name -> (spec, weights, input shape) for every network of the seed articles."""
    nets = {}
    # 000: the robot arm, 10 -> 128 -> 64 -> [4 softmax actions, 1 linear force].
    nets["robot_arm"] = build(1, 10, [
        ("fc1", "input", 128, "relu"), ("fc2", "fc1", 64, "relu"),
        ("action_output", "fc2", 4, "identity"), ("force_output", "fc2", 1, "identity")],
        [{"name": "action", "layer": "action_output", "output": "softmax"},
         {"name": "force", "layer": "force_output", "output": "identity"}]) + ((8, 10),)
    # 000: softmax over all six outputs, then zero where the mask is 0 (no renormalisation).
    nets["masked"] = build(2, 10, [("fc1", "input", 128, "relu"), ("fc2", "fc1", 6, "identity")],
        [{"name": "output", "layer": "fc2", "output": "masked_softmax",
          "mask": [1, 0, 1, 0, 0, 0], "renormalize": False}]) + ((8, 10),)
    # 000: hierarchical classifier, coarse 3, fine [2, 4, 3]; the joint distribution.
    nets["hierarchical"] = build(3, 10, [
        ("fc1", "input", 128, "relu"), ("fc2", "fc1", 64, "relu"), ("coarse_output", "fc2", 3, "identity"),
        ("fine_outputs.0", "fc2", 2, "identity"), ("fine_outputs.1", "fc2", 4, "identity"),
        ("fine_outputs.2", "fc2", 3, "identity")],
        [{"name": "coarse", "layer": "coarse_output", "output": "softmax"},
         {"name": "joint", "output": "hierarchical", "coarse": "coarse_output",
          "fine": ["fine_outputs.0", "fine_outputs.1", "fine_outputs.2"]}]) + ((8, 10),)
    # 002: multi-task, two branches from a 100-feature input: 5-way class softmax, 4-value box.
    nets["multitask"] = build(4, 100, [
        ("dense1", "input", 64, "relu"), ("logits_class", "dense1", 5, "identity"),
        ("dense2", "input", 128, "relu"), ("logits_loc", "dense2", 4, "identity")],
        [{"name": "class", "layer": "logits_class", "output": "softmax"},
         {"name": "box", "layer": "logits_loc", "output": "identity"}]) + ((8, 100),)
    # 002: the per-timestep network: an LSTM(64) trunk returning every step and
    # three 10-way softmax heads on its steps 0, 1 and 2 (`rnn[:, i, :]`).
    nets["timesteps"] = build_sequence(5, {"features": 16}, [
        {"name": "lstm", "kind": "lstm", "units": 64},
        *({"name": f"dense_{i}", "input": "lstm", "step": i, "units": 10} for i in range(3))],
        [{"name": f"output_{i}", "layer": f"dense_{i}", "output": "softmax"} for i in range(3)]) + ((2, 5, 16),)
    # A sequence tagger: token ids -> embedding(100, 16) -> LSTM(32) -> a 5-way
    # softmax on every step.
    nets["tagger"] = build_sequence(9, {"vocabulary": 100}, [
        {"name": "embedding", "kind": "embedding", "units": 16},
        {"name": "lstm", "kind": "lstm", "input": "embedding", "units": 32},
        {"name": "tags", "input": "lstm", "units": 5}],
        [{"name": "tags", "layer": "tags", "output": "softmax"}]) + ((2, 6),)
    # 000's robot arm with memory, for a control loop stepping it one tick at a
    # time (examples/c/control_loop.c): 10 sensors -> LSTM(32) -> per step a
    # 4-way softmax over actions and a linear force.
    nets["controller"] = build_sequence(10, {"features": 10}, [
        {"name": "lstm", "kind": "lstm", "units": 32},
        {"name": "action_output", "input": "lstm", "units": 4},
        {"name": "force_output", "input": "lstm", "units": 1}],
        [{"name": "action", "layer": "action_output", "output": "softmax"},
         {"name": "force", "layer": "force_output", "output": "identity"}]) + ((1, 8, 10),)
    # 001: digit classifier 784 -> 128 -> 10 softmax, and a sigmoid binary head 784 -> 64 -> 1.
    nets["digits"] = build(6, 784, [
        ("fc1", "input", 128, "relu"), ("fc2", "fc1", 10, "identity"),
        ("binary_fc1", "input", 64, "relu"), ("binary_fc2", "binary_fc1", 1, "identity")],
        [{"name": "digit", "layer": "fc2", "output": "softmax"},
         {"name": "is_target", "layer": "binary_fc2", "output": "sigmoid"}]) + ((4, 784),)
    # 002: a two-model ensemble averaging softmax probabilities (same heads, different weights).
    for k, seed in (("a", 7), ("b", 8)):
        nets[f"ensemble_{k}"] = build(seed, 10, [("fc1", "input", 32, "relu"), ("fc2", "fc1", 5, "identity")],
            [{"name": "probs", "layer": "fc2", "output": "softmax"}]) + ((8, 10),)
    return nets


def random_input(spec: dict, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """float32 features, or int64 token ids in [0, vocabulary) for an id model."""
    if is_id_model(spec):
        return rng.integers(0, spec["input"]["vocabulary"], shape, dtype=np.int64)
    return rng.standard_normal(shape).astype(np.float32)


def fixed_input(name: str, shape: tuple, spec: dict | None = None) -> np.ndarray:
    rng = np.random.default_rng(1000 + sum(map(ord, name)))
    return random_input(spec or {"input": {}}, shape, rng)


def main() -> None:
    import softmaxkit  # only here: the tests import seed_networks() without it
    out = HERE / "models"
    out.mkdir(exist_ok=True)
    for name, (spec, weights, shape) in seed_networks().items():
        softmaxkit.Model.from_weights(spec, weights).save(out / f"{name}.safetensors")
        np.save(out / f"{name}.input.npy", fixed_input(name, shape, spec))
        print(f"wrote {out / name}.safetensors  input {shape}")


if __name__ == "__main__":
    main()
