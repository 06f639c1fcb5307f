"""A plain numpy forward pass of a softmaxkit model spec: the float64
reference the tests compare against (and, in float32, the numpy baseline of
Benchmarks/bench_models.py). Written from the spec's definitions, sharing no
code with the library."""
from __future__ import annotations

import math

import numpy as np


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "silu":
        return z / (1 + np.exp(-z))
    if name == "gelu":
        return 0.5 * z * (1 + _erf(z / math.sqrt(2)))
    if name == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
    raise ValueError(name)


def softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    e = np.exp((z - z.max(axis=-1, keepdims=True)) / t)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    s = (z - z.max(axis=-1, keepdims=True)) / t
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def layers(spec: dict, weights: dict, x: np.ndarray, dtype=np.float64) -> dict[str, np.ndarray]:
    vals = {"input": x.astype(dtype)}
    for l in spec["layers"]:
        w = np.asarray(weights[l["name"] + ".weight"], dtype)
        z = vals[l.get("input", "input")] @ w.T
        b = weights.get(l["name"] + ".bias")
        if b is not None:
            z = z + np.asarray(b, dtype)
        vals[l["name"]] = activation(l.get("activation", "identity"), z)
    return vals


def head(h: dict, vals: dict) -> np.ndarray:
    kind = h["output"]
    if kind == "hierarchical":
        pc = softmax(vals[h["coarse"]])
        return np.concatenate([pc[..., g:g + 1] * softmax(vals[f]) for g, f in enumerate(h["fine"])], axis=-1)
    z = vals[h["layer"]]
    if kind == "identity":
        return z
    if kind == "softmax":
        return softmax(z, h.get("temperature", 1.0))
    if kind == "log_softmax":
        return log_softmax(z, h.get("temperature", 1.0))
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if kind == "masked_softmax":
        keep = np.asarray(h["mask"]) != 0
        if h.get("renormalize", True):
            # Softmax over the kept positions alone (a NaN or an all -inf set
            # of kept logits gives NaN there, as plain softmax); masked
            # positions are exactly 0, and a fully masked row is all 0.
            if not keep.any():
                return np.zeros_like(z)
            out = np.zeros_like(z)
            out[..., keep] = softmax(z[..., keep])
            return out
        return np.where(keep, softmax(z), 0)
    if kind == "partitioned":
        parts, o = [], 0
        for width, act in h["segments"]:
            seg = z[..., o:o + width]
            parts.append({"identity": seg, "softmax": softmax(seg) if width else seg,
                          "log_softmax": log_softmax(seg) if width else seg,
                          "sigmoid": 1 / (1 + np.exp(-seg)), "tanh": np.tanh(seg)}[act])
            o += width
        return np.concatenate(parts, axis=-1)
    raise ValueError(kind)


def forward(spec: dict, weights: dict, x: np.ndarray, dtype=np.float64) -> dict[str, np.ndarray]:
    vals = layers(spec, weights, x, dtype)
    return {h["name"]: head(h, vals) for h in spec["heads"]}
