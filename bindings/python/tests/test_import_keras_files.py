"""The example Keras networks converted by softmaxkit.from_keras and committed
in Tests/fixtures/import/ (keras_*, written by make_keras_fixtures.py): each
converted file, read back with Model.load (the averaging network with
load_ensemble from its manifest), against Keras' predict outputs within 1e-5.
These need no Keras; the C (test_import.c) and Swift (ImportedModelTests)
tests read the same files. Where keras and jax are installed, the committed
Keras files are converted again and run by Keras, to show the committed
outputs are still Keras' own."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import softmaxkit
from softmaxkit import Ensemble, Model

HERE = Path(__file__).resolve().parents[3] / "Tests" / "fixtures" / "import"
CASES = ["multitask", "timesteps", "ensemble", "partitioned", "masked", "hierarchical"]
TOL = 1e-5


def read_case(case: str) -> tuple[np.ndarray, dict]:
    lines = (HERE / f"keras_{case}.txt").read_text().splitlines()
    x, outs = None, {}
    for head, vals in zip(lines[0::2], lines[1::2]):
        name, _, *dims = head.split()
        a = np.array(vals.split(), dtype=np.float32).reshape([int(d) for d in dims])
        if name.startswith("out."):
            outs[name[4:]] = a
        else:
            x = a
    return x, outs


def load(case: str):
    if case == "ensemble":
        return softmaxkit.load_ensemble(HERE / "keras_ensemble.ensemble.json")
    return Model.load(HERE / f"keras_{case}.safetensors")


def compare(model, case):
    x, want = read_case(case)
    got = model(x)
    assert list(got) == list(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], atol=TOL, rtol=0, err_msg=f"keras_{case}.{name}")


@pytest.mark.parametrize("case", CASES)
def test_committed_conversion_equals_keras(case):
    compare(load(case), case)


def test_committed_files_have_the_expected_structure():
    steps = Model.load(HERE / "keras_timesteps.safetensors").spec
    assert [l.get("kind", "dense") for l in steps["layers"]] == ["lstm", "dense", "dense", "dense"]
    assert [l.get("step") for l in steps["layers"][1:]] == [0, 1, 2]
    ens = load("ensemble")
    assert isinstance(ens, Ensemble) and len(ens.models) == 2 and ens.mode == "arithmetic"
    masked = Model.load(HERE / "keras_masked.safetensors").spec["heads"][0]
    assert masked["output"] == "masked_softmax" and masked["renormalize"] is False


@pytest.mark.parametrize("case", CASES)
def test_keras_still_agrees(case):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("jax", reason="Keras runs on JAX here: pip install 'jax[cpu]'")
    keras = pytest.importorskip("keras", reason="needs keras 3: pip install keras")
    source = keras.saving.load_model(HERE / f"keras_{case}.keras")
    x, want = read_case(case)
    ref = source.predict(x, verbose=0)
    ref = ref if isinstance(ref, (list, tuple)) else [ref]
    for (name, w), r in zip(want.items(), ref):
        np.testing.assert_allclose(r, w, atol=TOL, rtol=0, err_msg=f"keras_{case}.{name}")
    compare(softmaxkit.from_keras(source), case)
