"""The recurrent fixture models (Tests/fixtures/recurrent) and members made
from them, shared by the tests of ensembles of sequence models."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import softmaxkit

FIXTURES = Path(__file__).resolve().parents[3] / "Tests" / "fixtures" / "recurrent"


def load(name: str) -> softmaxkit.Model:
    """The fixture model `name`."""
    return softmaxkit.Model.load(FIXTURES / f"{name}.safetensors")


def perturbed(model: softmaxkit.Model, seed: int) -> softmaxkit.Model:
    """The same architecture with other weights (a second ensemble member)."""
    rng = np.random.default_rng(seed)
    w = {k: (v * 0.7 + 0.3 * rng.standard_normal(v.shape)).astype(v.dtype) for k, v in model.weights.items()}
    return softmaxkit.Model.from_weights(model.spec, w)
