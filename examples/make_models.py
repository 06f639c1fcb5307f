#!/usr/bin/env python3
"""Regenerates examples/models/*.safetensors: the seed networks with fixed
random weights (numpy, fixed seeds), each with its architecture in the
file's "softmaxkit" metadata, plus a fixed input per network
(examples/models/<name>.input.npy).

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
    # 002: per-timestep heads over [B, T, F]: three 10-way softmax outputs at every step
    # (the recurrent encoder is replaced by a per-step dense trunk).
    nets["timesteps"] = build(5, 16, [
        ("encoder", "input", 64, "tanh"), ("dense_0", "encoder", 10, "identity"),
        ("dense_1", "encoder", 10, "identity"), ("dense_2", "encoder", 10, "identity")],
        [{"name": f"output_{i}", "layer": f"dense_{i}", "output": "softmax"} for i in range(3)]) + ((2, 3, 16),)
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


def fixed_input(name: str, shape: tuple) -> np.ndarray:
    rng = np.random.default_rng(1000 + sum(map(ord, name)))
    return rng.standard_normal(shape).astype(np.float32)


def main() -> None:
    import softmaxkit  # only here: the tests import seed_networks() without it
    out = HERE / "models"
    out.mkdir(exist_ok=True)
    for name, (spec, weights, shape) in seed_networks().items():
        softmaxkit.Model.from_weights(spec, weights).save(out / f"{name}.safetensors")
        np.save(out / f"{name}.input.npy", fixed_input(name, shape))
        print(f"wrote {out / name}.safetensors  input {shape}")


if __name__ == "__main__":
    main()
