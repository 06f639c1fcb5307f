#!/usr/bin/env python3
"""Checks that the bundled sequence models are PyTorch networks: each file's
tensors load with `load_state_dict(strict=True)` into the torch modules below
(nn.LSTM with batch_first=True, nn.Embedding, nn.Linear), and those modules
give the library's outputs on the model's bundled input. Writes the torch
outputs to Tests/fixtures/bundled_torch.npz, which the Python tests compare
the bundled models against without PyTorch.

Needs torch and libsoftmaxkit (`make lib`):
    PYTHONPATH=bindings/python /path/to/python-with-torch examples/check_models_torch.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import json
import struct

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import softmaxkit  # noqa: E402


def load_file(path: str) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (F32), read without the library:
    8-byte header length, JSON header, raw little-endian data."""
    b = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + lo:8 + n + hi], "<f4").reshape(t["shape"]).copy()
    return out


class Timesteps(nn.Module):
    """The per-timestep network: an LSTM trunk returning every step, three
    10-way softmax heads on steps 0, 1 and 2 (Keras: Dense(10)(rnn[:, i, :]))."""
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 64, batch_first=True)
        self.dense_0, self.dense_1, self.dense_2 = (nn.Linear(64, 10) for _ in range(3))

    def forward(self, x):
        rnn, _ = self.lstm(x)
        heads = (self.dense_0, self.dense_1, self.dense_2)
        return {f"output_{i}": torch.softmax(d(rnn[:, i, :]), -1) for i, d in enumerate(heads)}


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(100, 16)
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.tags = nn.Linear(32, 5)

    def forward(self, ids):
        rnn, _ = self.lstm(self.embedding(ids))
        return {"tags": torch.softmax(self.tags(rnn), -1)}


class Controller(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(10, 32, batch_first=True)
        self.action_output = nn.Linear(32, 4)
        self.force_output = nn.Linear(32, 1)

    def forward(self, x):
        rnn, _ = self.lstm(x)
        return {"action": torch.softmax(self.action_output(rnn), -1), "force": self.force_output(rnn)}


NETWORKS = {"timesteps": Timesteps, "tagger": Tagger, "controller": Controller}


def main() -> int:
    torch.set_num_threads(1)
    fixture, worst = {}, 0.0
    for name, cls in NETWORKS.items():
        path = ROOT / "examples" / "models" / f"{name}.safetensors"
        net = cls().eval()
        net.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(path)).items()}, strict=True)
        x = np.load(ROOT / "examples" / "models" / f"{name}.input.npy")
        with torch.no_grad():
            want = {k: v.numpy() for k, v in net(torch.from_numpy(x)).items()}
        got = softmaxkit.Model.load(path)(x)
        assert got.keys() == want.keys(), (name, got.keys(), want.keys())
        for head, w in want.items():
            assert got[head].shape == w.shape, (name, head, got[head].shape, w.shape)
            diff = float(np.max(np.abs(got[head] - w)))
            worst = max(worst, diff)
            print(f"{name}.{head}: shape {list(w.shape)}, max |softmaxkit - torch| = {diff:.3g}")
            assert diff <= 2e-6, f"{name}.{head} differs from torch by {diff}"
            fixture[f"{name}.{head}"] = w
    out = ROOT / "Tests" / "fixtures" / "bundled_torch.npz"
    np.savez(out, **fixture)
    print(f"torch {torch.__version__}: every bundled sequence model agrees (max difference {worst:.3g}); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
