"""A plain numpy forward pass of a softmaxkit model spec (dense, LSTM, GRU
and embedding layers, step selection; no lengths): the float64
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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _cell(kind: str, x: np.ndarray, h: np.ndarray, c: np.ndarray, w: dict) -> tuple[np.ndarray, np.ndarray]:
    """One step of PyTorch's LSTM (gates i, f, g, o) or GRU (r, z, n) cell."""
    gi = x @ w["ih"].T + w["bi"]
    gh = h @ w["hh"].T + w["bh"]
    if kind == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c), c
    ri, zi, ni = np.split(gi, 3, axis=-1)
    rh, zh, nh = np.split(gh, 3, axis=-1)
    r, z = _sigmoid(ri + rh), _sigmoid(zi + zh)
    n = np.tanh(ni + r * nh)
    return (1 - z) * n + z * h, c


def recurrent(l: dict, weights: dict, x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """An "lstm" / "gru" layer over x [B, T, F] (zero initial state, no
    padding): every step [B, T, H * dirs], or the final state [B, H * dirs]."""
    name, kind = l["name"], l["kind"]
    dirs = ("", "_reverse") if l.get("bidirectional", False) else ("",)
    B, T = x.shape[:2]
    finals = []
    for k in range(l.get("num_layers", 1)):
        outs, finals = [], []
        for sfx in dirs:
            w = {"ih": weights[f"{name}.weight_ih_l{k}{sfx}"], "hh": weights[f"{name}.weight_hh_l{k}{sfx}"]}
            w = {key: np.asarray(v, dtype) for key, v in w.items()}
            G = w["hh"].shape[0]
            for key, t in (("bi", "bias_ih"), ("bh", "bias_hh")):
                b = weights.get(f"{name}.{t}_l{k}{sfx}")
                w[key] = np.zeros(G, dtype) if b is None else np.asarray(b, dtype)
            H = w["hh"].shape[1]
            h, c = np.zeros((B, H), dtype), np.zeros((B, H), dtype)
            seq = np.zeros((B, T, H), dtype)
            for t in (range(T - 1, -1, -1) if sfx else range(T)):
                h, c = _cell(kind, x[:, t], h, c, w)
                seq[:, t] = h
            outs.append(seq)
            finals.append(h)
        x = np.concatenate(outs, axis=-1)
    return x if l.get("sequence", True) else np.concatenate(finals, axis=-1)


def layers(spec: dict, weights: dict, x: np.ndarray, dtype=np.float64) -> dict[str, np.ndarray]:
    ids = "vocabulary" in spec["input"]
    vals = {"input": np.asarray(x) if ids else x.astype(dtype)}
    for l in spec["layers"]:
        kind = l.get("kind", "dense")
        inp = vals[l.get("input", "input")]
        if kind == "embedding":
            vals[l["name"]] = np.asarray(weights[l["name"] + ".weight"], dtype)[inp]
            continue
        if kind in ("lstm", "gru"):
            vals[l["name"]] = recurrent(l, weights, inp, dtype)
            continue
        if "step" in l:
            inp = inp[:, l["step"], :]
        w = np.asarray(weights[l["name"] + ".weight"], dtype)
        z = inp @ w.T
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
