"""softmaxkit.Model and Ensemble against a float64 numpy forward pass, every
malformed model file crafted byte by byte, hostile files and names (FIFOs,
devices, NUL, Unicode normalization, wrapping spec numbers), and the
library's serialization read back by the `safetensors` package."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import softmaxkit
from safetensors.numpy import load as st_load, save as st_save

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2] / "examples"))
import model_reference as ref  # noqa: E402
from make_models import random_input, seed_networks  # noqa: E402

# float32 forward vs float64 reference: probabilities and values of order 1.
TOL = dict(rtol=1e-5, atol=1e-5)
SEEDS = seed_networks()


def encode(tensors, metadata=None) -> bytes:
    """safetensors bytes written by the `safetensors` package."""
    return st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)


def write(tmp_path, name, spec, weights) -> Path:
    p = tmp_path / name
    p.write_bytes(encode(weights, {"softmaxkit": json.dumps(spec)}))
    return p


def check_against_reference(model, spec, weights, x):
    out = model(x)
    want = ref.forward(spec, weights, x)
    assert set(out) == set(want)
    for k in want:
        assert out[k].dtype == np.float32
        assert out[k].shape == want[k].shape, k
        np.testing.assert_allclose(out[k], want[k], **TOL, err_msg=k)


# MARK: the example networks

@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_network_file_matches_float64_reference(tmp_path, name):
    spec, weights, shape = SEEDS[name]
    x = random_input(spec, shape, np.random.default_rng(5))
    model = softmaxkit.Model.load(write(tmp_path, f"{name}.safetensors", spec, weights))
    check_against_reference(model, spec, weights, x)


@pytest.mark.parametrize("name", sorted(SEEDS))
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_seed_network_written_by_the_safetensors_package(tmp_path, name, dtype):
    # What a PyTorch user does: safetensors.torch.save_file(model.state_dict(),
    # path, metadata={"softmaxkit": ...}); safetensors.numpy writes the same
    # format. float16 weights are widened to float32 at load.
    st = pytest.importorskip("safetensors.numpy")
    spec, weights, shape = SEEDS[name]
    stored = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in weights.items()}
    path = tmp_path / f"{name}.safetensors"
    st.save_file(stored, str(path), metadata={"softmaxkit": json.dumps(spec)})
    x = random_input(spec, shape, np.random.default_rng(9))
    # The reference sees the weights as stored (float16 rounding included).
    check_against_reference(softmaxkit.Model.load(path), spec,
                            {k: v.astype(np.float64) for k, v in stored.items()}, x)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_network_from_weights_matches_float64_reference(name):
    spec, weights, shape = SEEDS[name]
    x = random_input(spec, (37,) + tuple(shape[1:]), np.random.default_rng(6))
    check_against_reference(softmaxkit.Model.from_weights(spec, weights), spec, weights, x)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_bundled_model_matches_reference(name):
    spec, weights, _ = SEEDS[name]
    root = HERE.parents[2] / "examples" / "models"
    model = softmaxkit.Model.load(root / f"{name}.safetensors")
    assert model.spec == json.loads(json.dumps(spec))
    check_against_reference(model, spec, weights, np.load(root / f"{name}.input.npy"))


def test_robot_arm_heads_and_shapes():
    spec, weights, _ = SEEDS["robot_arm"]
    m = softmaxkit.Model.from_weights(spec, weights)
    assert m.heads == [softmaxkit.Head("action", 4), softmaxkit.Head("force", 1)]
    assert m.features == 10 and m.parameter_count == 10 * 128 + 128 + 128 * 64 + 64 + 4 * 64 + 4 + 64 + 1
    out = m(np.ones(10))
    assert out["action"].shape == (4,) and out["force"].shape == (1,)
    np.testing.assert_allclose(out["action"].sum(), 1, rtol=1e-6)


def test_per_timestep_heads_read_their_steps():
    # The per-timestep example network: LSTM trunk, heads on steps 0, 1, 2.
    spec, weights, _ = SEEDS["timesteps"]
    m = softmaxkit.Model.from_weights(spec, weights)
    x = np.random.default_rng(1).standard_normal((4, 7, 16)).astype(np.float32)
    out = m(x)
    assert {k: v.shape for k, v in out.items()} == {f"output_{i}": (4, 10) for i in range(3)}
    np.testing.assert_allclose(out["output_0"].sum(axis=1), 1, rtol=1e-6)
    # The LSTM is causal: head i sees steps 0..i only.
    for k, v in m(x[:, :3]).items():
        np.testing.assert_allclose(v, out[k], rtol=1e-6, atol=1e-7)
    y = x.copy()
    y[:, 2] += 1
    changed = m(y)
    np.testing.assert_allclose(changed["output_1"], out["output_1"], rtol=1e-6, atol=1e-7)
    assert not np.allclose(changed["output_2"], out["output_2"])
    # Fewer steps than a head reads: a shape error naming the layer.
    with pytest.raises(softmaxkit.ArgumentError, match="dense_2"):
        m(x[:, :2])


def test_tagger_gives_a_distribution_per_token():
    spec, weights, _ = SEEDS["tagger"]
    m = softmaxkit.Model.from_weights(spec, weights)
    ids = np.random.default_rng(2).integers(0, 100, (3, 8))
    tags = m(ids)["tags"]
    assert tags.shape == (3, 8, 5)
    np.testing.assert_allclose(tags.sum(axis=-1), 1, rtol=1e-6)
    with pytest.raises(ValueError):
        m(np.full((1, 2), 100))  # outside the vocabulary


def test_masked_softmax_without_renormalisation_is_the_seed_variant():
    spec, weights, _ = SEEDS["masked"]
    m = softmaxkit.Model.from_weights(spec, weights)
    y = m(np.random.default_rng(2).standard_normal((50, 10)))["output"]
    assert np.all(y[:, [1, 3, 4, 5]] == 0)
    assert np.all(y.sum(axis=1) < 1)  # no renormalisation


def test_hierarchical_joint_sums_to_one_and_factorizes():
    spec, weights, _ = SEEDS["hierarchical"]
    m = softmaxkit.Model.from_weights(spec, weights)
    out = m(np.random.default_rng(3).standard_normal((20, 10)))
    joint, coarse = out["joint"], out["coarse"]
    np.testing.assert_allclose(joint.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.stack([joint[:, :2].sum(1), joint[:, 2:6].sum(1), joint[:, 6:].sum(1)], 1), coarse, atol=1e-6)


# MARK: activations, output kinds, dtypes

def small_spec(activation="identity", head=None, features=5, units=7):
    head = head or {"name": "y", "layer": "out", "output": "identity"}
    return {"softmaxkit": 1, "input": {"features": features},
            "layers": [{"name": "hidden", "input": "input", "activation": activation},
                       {"name": "out", "input": "hidden"}],
            "heads": [head]}, units


def small_weights(features=5, units=7, out=6, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return {"hidden.weight": rng.standard_normal((units, features)).astype(dtype),
            "hidden.bias": rng.standard_normal(units).astype(dtype),
            "out.weight": rng.standard_normal((out, units)).astype(dtype),
            "out.bias": rng.standard_normal(out).astype(dtype)}


@pytest.mark.parametrize("activation", ["identity", "relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu"])
def test_layer_activations_match_reference(activation):
    spec, _ = small_spec(activation)
    w = small_weights()
    # Wide inputs reach both tails of every activation and span SIMD tails.
    x = np.random.default_rng(9).uniform(-6, 6, (41, 5)).astype(np.float32)
    check_against_reference(softmaxkit.Model.from_weights(spec, w), spec, w, x)


@pytest.mark.parametrize("head", [
    {"name": "y", "layer": "out", "output": "softmax", "temperature": 2.5},
    {"name": "y", "layer": "out", "output": "log_softmax", "temperature": 0.5},
    {"name": "y", "layer": "out", "output": "sigmoid"},
    {"name": "y", "layer": "out", "output": "masked_softmax", "mask": [0, 1, 1, 0, 1, 1]},
    {"name": "y", "layer": "out", "output": "masked_softmax", "mask": [0, 0, 0, 0, 0, 0]},
    {"name": "y", "layer": "out", "output": "masked_softmax", "mask": [1, 0, 1, 0, 0, 0], "renormalize": False},
    {"name": "y", "layer": "out", "output": "partitioned",
     "segments": [[2, "softmax"], [1, "sigmoid"], [1, "tanh"], [2, "log_softmax"]]},
    {"name": "y", "layer": "out", "output": "partitioned", "segments": [[3, "identity"], [3, "softmax"]]},
])
def test_output_transforms_match_reference(head):
    spec, _ = small_spec(head=head)
    w = small_weights()
    x = np.random.default_rng(4).standard_normal((23, 5)).astype(np.float32)
    check_against_reference(softmaxkit.Model.from_weights(spec, w), spec, w, x)


def test_masked_positions_are_zero_even_for_nan_and_inf_logits():
    spec, _ = small_spec(head={"name": "y", "layer": "out", "output": "masked_softmax", "mask": [1, 0, 1, 1, 0, 1]})
    w = small_weights()
    w["out.bias"][1] = np.inf
    w["out.bias"][4] = np.nan
    y = softmaxkit.Model.from_weights(spec, w)(np.ones((3, 5)))["y"]
    assert np.all(y[:, [1, 4]] == 0) and np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)


def test_nan_input_propagates_and_is_not_an_error():
    spec, w, _ = SEEDS["robot_arm"]
    x = np.zeros((3, 10), np.float32)
    x[1, 4] = np.nan
    out = softmaxkit.Model.from_weights(spec, w)(x)
    assert np.all(np.isnan(out["action"][1])) and np.all(np.isfinite(out["action"][[0, 2]]))


@pytest.mark.parametrize("dtype", ["F64", "F16", "BF16"])
def test_weight_dtypes_are_read(tmp_path, dtype):
    spec, _ = small_spec(head={"name": "y", "layer": "out", "output": "softmax"})
    w = small_weights(dtype=np.float64)
    header, blobs, off = {"__metadata__": {"softmaxkit": json.dumps(spec)}}, [], 0
    used = {}
    for k, v in w.items():
        if dtype == "F64":
            raw = v.astype("<f8").tobytes()
            used[k] = v
        elif dtype == "F16":
            raw = v.astype("<f2").tobytes()
            used[k] = v.astype(np.float16).astype(np.float64)
        else:  # BF16: the top half of float32, truncated
            bits = v.astype("<f4").view("<u4") >> 16
            raw = bits.astype("<u2").tobytes()
            used[k] = (bits.astype("<u4") << 16).view("<f4").astype(np.float64)
        header[k] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    p = tmp_path / "w.safetensors"
    p.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    x = np.random.default_rng(1).standard_normal((9, 5)).astype(np.float32)
    check_against_reference(softmaxkit.Model.load(p), spec, used, x)


def test_save_round_trips(tmp_path):
    spec, w, _ = SEEDS["hierarchical"]
    m = softmaxkit.Model.from_weights(spec, w)
    m.save(tmp_path / "h.safetensors")
    m2 = softmaxkit.Model.load(tmp_path / "h.safetensors")
    x = np.random.default_rng(0).standard_normal((5, 10))
    for k, v in m(x).items():
        np.testing.assert_array_equal(v, m2(x)[k])
    m2.save(tmp_path / "h2.safetensors")  # a loaded model saves too
    assert softmaxkit.Model.load(tmp_path / "h2.safetensors").spec == m2.spec


def test_side_file_spec_replaces_metadata(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    p = tmp_path / "bare.safetensors"
    p.write_bytes(encode(w))
    with pytest.raises(ValueError, match="softmaxkit"):
        softmaxkit.Model.load(p)
    side = tmp_path / "spec.json"
    side.write_text(json.dumps(spec))
    for s in (spec, json.dumps(spec), str(side)):
        assert softmaxkit.Model.load(p, spec=s).heads[0].name == "action"


def test_many_threads_agree_with_serial():
    spec, w, _ = SEEDS["digits"]
    m = softmaxkit.Model.from_weights(spec, w)
    x = np.random.default_rng(8).standard_normal((300, 784)).astype(np.float32)
    serial = m(x)
    bad = []

    def run():
        for _ in range(5):
            out = m(x)
            if any(not np.array_equal(out[k], serial[k]) for k in serial):
                bad.append(1)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


# MARK: ensembles

def test_ensemble_modes_match_numpy():
    spec_a, wa, _ = SEEDS["ensemble_a"]
    spec_b, wb, _ = SEEDS["ensemble_b"]
    a, b = softmaxkit.Model.from_weights(spec_a, wa), softmaxkit.Model.from_weights(spec_b, wb)
    x = np.random.default_rng(3).standard_normal((31, 10))
    pa, pb = ref.forward(spec_a, wa, x)["probs"], ref.forward(spec_b, wb, x)["probs"]
    la, lb = ref.layers(spec_a, wa, x)["fc2"], ref.layers(spec_b, wb, x)["fc2"]
    g = np.sqrt(pa * pb)
    want = {"arithmetic": (pa + pb) / 2, "geometric": g / g.sum(1, keepdims=True), "logits": ref.softmax((la + lb) / 2)}
    for mode, w in want.items():
        np.testing.assert_allclose(softmaxkit.Ensemble([a, b], mode=mode)(x)["probs"], w, **TOL, err_msg=mode)


def test_ensemble_sigmoid_and_identity_heads():
    spec, w, _ = SEEDS["digits"]
    w2 = {k: v * 0.9 for k, v in w.items()}
    m1, m2 = softmaxkit.Model.from_weights(spec, w), softmaxkit.Model.from_weights(spec, w2)
    x = np.random.default_rng(2).standard_normal((6, 784))
    p1, p2 = ref.forward(spec, w, x)["is_target"], ref.forward(spec, w2, x)["is_target"]
    g1, g0 = np.sqrt(p1 * p2), np.sqrt((1 - p1) * (1 - p2))
    np.testing.assert_allclose(softmaxkit.Ensemble([m1, m2], mode="geometric")(x)["is_target"], g1 / (g1 + g0), **TOL)


def test_ensemble_keeps_nan_rows_nan_in_every_mode():
    # A NaN logit gives a NaN softmax row; an ensemble of the model with
    # itself must give the same row in every mode, not zeros.
    spec = {"softmaxkit": 1, "input": {"features": 2}, "layers": [{"name": "a"}],
            "heads": [{"name": "p", "layer": "a", "output": "softmax"}]}
    m = softmaxkit.Model.from_weights(spec, {"a.weight": np.array([[1, 0], [0, 1], [1, 1]], np.float32)})
    x = np.array([[np.nan, 0.25], [1, 2]], np.float32)
    alone = m(x)["p"]
    assert np.isnan(alone[0]).all()
    for mode in ("arithmetic", "geometric", "logits"):
        y = softmaxkit.Ensemble([m, m], mode=mode)(x)["p"]
        assert np.isnan(y[0]).all(), mode
        np.testing.assert_allclose(y[1], alone[1], **TOL, err_msg=mode)


def test_ensemble_rejects_mismatched_models():
    a = softmaxkit.Model.from_weights(*SEEDS["ensemble_a"][:2])
    r = softmaxkit.Model.from_weights(*SEEDS["robot_arm"][:2])
    m = softmaxkit.Model.from_weights(*SEEDS["multitask"][:2])
    with pytest.raises(ValueError, match="head"):
        softmaxkit.Ensemble([a, r])
    with pytest.raises(ValueError, match="features"):
        softmaxkit.Ensemble([a, m])
    with pytest.raises(ValueError, match="mode"):
        softmaxkit.Ensemble([a, a], mode="median")
    with pytest.raises(ValueError):
        softmaxkit.Ensemble([])


# MARK: bad input: every malformed file, crafted

def raw(header, data: bytes = b"", length=None) -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def robot_file() -> bytes:
    spec, w, _ = SEEDS["robot_arm"]
    return encode(w, {"softmaxkit": json.dumps(spec)})


def tensor_header(spec=None, **tensors):
    h = {"__metadata__": {"softmaxkit": json.dumps(spec or small_spec()[0])}}
    h.update(tensors)
    return h


F32_7x5 = {"dtype": "F32", "shape": [7, 5]}


def load_bytes(b: bytes):
    return softmaxkit.Model.from_bytes(b)


@pytest.mark.parametrize("cut", [0, 4, 7, 8, 20, 200, -1])
def test_truncated_file(cut):
    data = robot_file()
    with pytest.raises(ValueError, match="truncated|past the end|not valid JSON"):
        load_bytes(data[:cut] if cut >= 0 else data[:-1])


@pytest.mark.parametrize("header,match", [
    (raw(b"{}", length=10_000), "past the end"),
    (raw(b"{}", length=2 ** 63), "100 MB"),
    (raw(b"{}" + b" " * 10, length=100_000_001), "100 MB"),
    (raw(b"\xff\xfe{}"), "UTF-8"),
    (raw(b"{\"a\": [1, 2"), "not valid JSON"),
    (raw(b"[1, 2, 3]"), "not a JSON object"),
    (raw(b"{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"x\": {}}", b"\0" * 4), "duplicate key \"x\""),
    (raw(b"[" * 100000), "nested deeper"),
])
def test_malformed_header(header, match):
    with pytest.raises(ValueError, match=match):
        load_bytes(header)


@pytest.mark.parametrize("entry,data,match", [
    ({"dtype": "F33", "shape": [7, 5], "data_offsets": [0, 140]}, 140, "unknown dtype \"F33\""),
    ({"dtype": "I64", "shape": [7, 5], "data_offsets": [0, 280]}, 280, "not a floating-point"),
    ({"dtype": "F32", "shape": [7, 5], "data_offsets": [0, 136]}, 140, "needs 140"),
    ({"dtype": "F32", "shape": [7, 5], "data_offsets": [4, 144]}, 140, "run past"),
    ({"dtype": "F32", "shape": [7, 5], "data_offsets": [140, 0]}, 140, "begin <= end"),
    ({"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 140]}, 140, "overflow"),
    ({"dtype": "F32", "shape": [7, -5], "data_offsets": [0, 140]}, 140, "non-negative"),
    ({"dtype": "F32", "shape": [7, 5]}, 140, "data_offsets"),
    ({"shape": [7, 5], "data_offsets": [0, 140]}, 140, "dtype"),
])
def test_bad_tensor_entries(entry, data, match):
    with pytest.raises(ValueError, match=match):
        load_bytes(raw(tensor_header(**{"hidden.weight": entry}), b"\0" * data))


def test_overlapping_offsets():
    h = tensor_header(**{"hidden.weight": dict(F32_7x5, data_offsets=[0, 140]),
                         "hidden.bias": {"dtype": "F32", "shape": [7], "data_offsets": [100, 128]}})
    with pytest.raises(ValueError, match="overlapping"):
        load_bytes(raw(h, b"\0" * 140))


def spec_error(tmp_path, spec, weights, match, exc=ValueError):
    with pytest.raises(exc, match=match):
        softmaxkit.Model.load(write(tmp_path, "m.safetensors", spec, weights))
    with pytest.raises(exc, match=match):
        softmaxkit.Model.from_weights(spec, weights)


def test_missing_weight(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    w = dict(w)
    del w["fc2.weight"]
    spec_error(tmp_path, spec, w, "missing tensor \"fc2.weight\"")


def test_unused_tensor(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    spec_error(tmp_path, spec, dict(w, **{"fc3.weight": np.zeros((2, 2), np.float32)}), "fc3.weight")


def test_shapes_that_do_not_chain(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    w = dict(w, **{"fc2.weight": np.zeros((64, 127), np.float32)})
    spec_error(tmp_path, spec, w, "do not chain")


def test_bias_of_wrong_shape(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    spec_error(tmp_path, spec, dict(w, **{"fc1.bias": np.zeros(127, np.float32)}), "fc1.bias")


@pytest.mark.parametrize("edit,match", [
    (lambda s: s["layers"][0].update(input="fc2"), "not an earlier layer"),   # a cycle fc1 -> fc2 -> fc1
    (lambda s: s["layers"][1].update(input="fc9"), "unknown layer \"fc9\""),
    (lambda s: s["layers"][0].update(activation="swish"), "activation: unknown value \"swish\""),
    (lambda s: s["layers"][0].update(units=99), "units"),
    (lambda s: s["layers"][0].update(color="red"), "spec.layers\\[0\\].color: unknown key"),
    (lambda s: s.update(softmaxkit=2), "schema version 2"),
    (lambda s: s.pop("heads"), "spec.heads: missing"),
    (lambda s: s["input"].update(features="ten"), "spec.input.features: must be an integer"),
    (lambda s: s["heads"][0].update(output="softplus"), "output: unknown value"),
    (lambda s: s["heads"][0].update(layer="nope"), "unknown layer \"nope\""),
    (lambda s: s["heads"][0].update(temperature=0), "temperature"),
    (lambda s: s["heads"][1].update(temperature=2.0), "temperature: not used"),
    (lambda s: s["heads"][1].update(name="action"), "duplicate head"),
    (lambda s: s["heads"][0].update(output="masked_softmax", mask=[1, 0, 1]), "mask: 3 entries"),
    (lambda s: s["heads"][0].update(output="masked_softmax", mask=[1, 0, 2, 1]), "0 or 1"),
    (lambda s: s["heads"][0].update(output="partitioned", segments=[[2, "softmax"], [1, "identity"]]), "sum to 3"),
    (lambda s: s["heads"][0].update(output="partitioned", segments=[[4, "relu"]]), "unknown activation"),
    (lambda s: s["heads"][0].update(output="hierarchical", layer=None), "layer: must be a string"),
    (lambda s: (s["heads"][0].pop("layer"), s["heads"][0].update(output="hierarchical", coarse="action_output",
                fine=["fc2"])), "4 units but there are 1 fine"),
])
def test_bad_spec(tmp_path, edit, match):
    spec, w, _ = SEEDS["robot_arm"]
    spec = json.loads(json.dumps(spec))
    edit(spec)
    spec_error(tmp_path, spec, w, match)


def test_metadata_not_json(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    p = tmp_path / "m.safetensors"
    p.write_bytes(encode(w, {"softmaxkit": "{layers: oops"}))
    with pytest.raises(ValueError, match="model spec is not valid JSON"):
        softmaxkit.Model.load(p)


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(OSError):
        softmaxkit.Model.load(tmp_path / "nope.safetensors")


def test_wrong_input_shapes():
    m = softmaxkit.Model.from_weights(*SEEDS["robot_arm"][:2])
    with pytest.raises(ValueError, match="11 features"):
        m(np.zeros((2, 11)))
    with pytest.raises(ValueError, match="shape"):
        m(np.zeros((2, 2, 2, 10)))
    with pytest.raises(ValueError, match="dtype"):
        m(np.array([["a"] * 10]))
    assert m(np.zeros((0, 10)))["action"].shape == (0, 4)
    # Non-contiguous and big-endian input is copied, never read wrongly.
    x = np.random.default_rng(0).standard_normal((6, 20))
    np.testing.assert_array_equal(m(x[:, ::2])["action"], m(np.ascontiguousarray(x[:, ::2]))["action"])
    np.testing.assert_array_equal(m(x[:, :10].astype(">f4"))["action"], m(x[:, :10].astype("<f4"))["action"])


def test_bad_weights_arguments():
    spec, w, _ = SEEDS["robot_arm"]
    with pytest.raises(ValueError, match="dtype"):
        softmaxkit.Model.from_weights(spec, dict(w, **{"fc1.bias": np.array(["x"] * 128)}))
    with pytest.raises(ValueError, match="spec"):
        softmaxkit.Model.from_weights(12, w)


def test_mutated_files_load_or_raise_never_crash():
    """Random byte flips in the header and data of a valid file: each either
    loads (a flip inside weight bytes) or raises softmaxkit.Error."""
    good = robot_file()
    (n,) = struct.unpack_from("<Q", good, 0)
    rng = np.random.default_rng(1234)
    outcomes = {"loaded": 0, "error": 0}
    for _ in range(600):
        b = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, 8 + n + 64))
            b[pos] = int(rng.integers(0, 256))
        try:
            m = softmaxkit.Model.from_bytes(bytes(b))
            m(np.zeros((2, 10), np.float32))
            outcomes["loaded"] += 1
        except softmaxkit.Error:
            outcomes["error"] += 1
    assert outcomes["error"] > 300 and outcomes["loaded"] > 0


def test_fused_sibling_layers_match_reference():
    """Siblings with the same input and activation are fused into one product
    (t1 with t3, h1 with h2); t2 differs in activation; h1 has no bias."""
    rng = np.random.default_rng(21)
    layers = [("t1", "input", 20, "relu"), ("h1", "t1", 3, "identity"), ("t2", "input", 17, "tanh"),
              ("t3", "input", 33, "relu"), ("h2", "t1", 5, "identity"), ("h3", "t3", 2, "identity")]
    widths = {"input": 9}
    w = {}
    for name, inp, units, _ in layers:
        w[name + ".weight"] = rng.standard_normal((units, widths[inp])).astype(np.float32) / 3
        if name != "h1":
            w[name + ".bias"] = rng.standard_normal(units).astype(np.float32)
        widths[name] = units
    spec = {"softmaxkit": 1, "input": {"features": 9},
            "layers": [{"name": n, "input": i, "activation": a} for n, i, _, a in layers],
            "heads": [{"name": "p", "layer": "h1", "output": "softmax"},
                      {"name": "q", "layer": "h2", "output": "log_softmax"},
                      {"name": "r", "layer": "h3", "output": "identity"},
                      {"name": "s", "layer": "t2", "output": "sigmoid"}]}
    x = rng.standard_normal((300, 9)).astype(np.float32)
    check_against_reference(softmaxkit.Model.from_weights(spec, w), spec, w, x)


@pytest.mark.parametrize("bias", [[0, 0, -np.inf, 0, 0, 0], [-np.inf] * 6])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the numpy reference's inf - inf
def test_softmax_heads_on_extreme_logits_match_reference(bias):
    """Logits equal to the input (identity weight) plus a bias of -inf entries:
    rows with NaN, huge values, -inf entries and all -inf rows, many rows so
    that the four-rows-at-a-time path and its tail both run."""
    spec = {"softmaxkit": 1, "input": {"features": 6}, "layers": [{"name": "id", "input": "input"}],
            "heads": [{"name": "p", "layer": "id", "output": "softmax"},
                      {"name": "lp", "layer": "id", "output": "log_softmax", "temperature": 3.0},
                      {"name": "m", "layer": "id", "output": "masked_softmax", "mask": [1, 1, 1, 0, 1, 0]},
                      {"name": "mf", "layer": "id", "output": "masked_softmax", "mask": [0, 1, 1, 0, 1, 1],
                       "renormalize": False}]}
    w = {"id.weight": np.eye(6, dtype=np.float32), "id.bias": np.array(bias, np.float32)}
    rng = np.random.default_rng(17)
    x = (rng.standard_normal((203, 6)) * 30).astype(np.float32)
    x[5, 1] = np.nan
    x[100] *= 1e6
    x[201, 4] = 88.7
    x[202, 0] = -88.7
    check_against_reference(softmaxkit.Model.from_weights(spec, w), spec, w, x)


def test_core_rejects_overlapping_outputs_through_the_c_abi():
    from softmaxkit.model import _FORWARD, _I64, _VP
    from softmaxkit._arrays import ptr
    m = softmaxkit.Model.from_weights(*SEEDS["robot_arm"][:2])
    x = np.zeros((4, 10), np.float32)
    block = np.zeros(64, np.float32)
    base = ptr(block).value
    # action [4, 4] at 0..15 and force [4, 1] at 12..15 overlap.
    outs = (_VP * 2)(base, base + 12 * 4)
    status = _FORWARD(m._handle, ptr(x), _I64(4), _I64(1), _I64(10), outs, _I64(2))
    assert status == 1 and b"overlap" in softmaxkit._lib.lib.smk_last_error_message()
    assert not block.any()  # nothing written


# MARK: the library is the one reader and writer of model files

def test_weights_come_from_the_library_in_their_stored_precision():
    spec, _ = small_spec()
    w32 = small_weights()
    m = softmaxkit.Model.from_weights(spec, w32)
    got = m.weights
    assert list(got) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]  # spec order
    for k, v in w32.items():
        assert got[k].dtype == np.float32 and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)
    got["out.bias"][:] = 99  # a copy: the model is unchanged
    np.testing.assert_array_equal(m.weights["out.bias"], w32["out.bias"])
    w64 = small_weights(dtype=np.float64)
    got = softmaxkit.Model.from_weights(spec, w64).weights
    for k, v in w64.items():
        assert got[k].dtype == np.float64
        np.testing.assert_array_equal(got[k], v)


def test_to_bytes_is_a_safetensors_file_the_package_reads(tmp_path):
    spec, w, _ = SEEDS["hierarchical"]
    m = softmaxkit.Model.from_weights(spec, w)
    data = m.to_bytes()
    tensors = st_load(data)
    assert set(tensors) == set(m.weights)
    for k, v in m.weights.items():
        np.testing.assert_array_equal(tensors[k], v)
    n = struct.unpack_from("<Q", data)[0]
    assert json.loads(json.loads(data[8:8 + n])["__metadata__"]["softmaxkit"]) == m.spec
    back = softmaxkit.Model.from_bytes(data)
    x = np.random.default_rng(3).standard_normal((4, 10)).astype(np.float32)
    for k, v in m(x).items():
        np.testing.assert_array_equal(back(x)[k], v)
    m.save(tmp_path / "m.safetensors")
    assert (tmp_path / "m.safetensors").read_bytes() == data  # save writes the same bytes


def test_save_to_an_unwritable_path_is_a_file_error(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    m = softmaxkit.Model.from_weights(spec, w)
    with pytest.raises(softmaxkit.FileError, match="nope"):
        m.save(tmp_path / "nope" / "m.safetensors")
    with pytest.raises(softmaxkit.ArgumentError, match="NUL"):
        m.save(str(tmp_path / "m\0.safetensors"))


def test_a_loaded_model_keeps_no_copy_of_the_file(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    p = write(tmp_path, "r.safetensors", spec, w)
    for m in (softmaxkit.Model.load(p), softmaxkit.Model.from_bytes(p.read_bytes()),
              softmaxkit.Model.load(p, spec=spec)):
        assert not [k for k, v in vars(m).items() if isinstance(v, (bytes, bytearray, memoryview))]


def _bf16_file(spec, w) -> bytes:
    header, blobs, off = {"__metadata__": {"softmaxkit": json.dumps(spec)}}, [], 0
    for k, v in w.items():
        raw = (np.asarray(v, "<f4").view("<u4") >> 16).astype("<u2").tobytes()
        header[k] = {"dtype": "BF16", "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def test_files_the_library_accepts_save_and_enumerate(tmp_path):
    # BF16 weights, and shapes and offsets written as 4.0 or 64e0: the
    # library accepts them, so weights and save must work on them too.
    spec, _ = small_spec()
    w = small_weights()
    files = {"bf16": _bf16_file(spec, w)}
    good = encode(w, {"softmaxkit": json.dumps(spec)})
    n = struct.unpack_from("<Q", good)[0]
    header = json.loads(good[8:8 + n])
    text = json.dumps(header)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape, offs = info["shape"], info["data_offsets"]
        text = text.replace(json.dumps({"dtype": info["dtype"], "shape": shape, "data_offsets": offs}),
                            '{"dtype": "%s", "shape": [%s], "data_offsets": [%de0, %d.0]}'
                            % (info["dtype"], ", ".join(f"{d}.0" for d in shape), offs[0], offs[1]))
    assert "e0" in text
    h = text.encode()
    files["float-spelled numbers"] = struct.pack("<Q", len(h)) + h + good[8 + n:]
    for what, data in files.items():
        try:
            m = softmaxkit.Model.from_bytes(data)
        except softmaxkit.Error:
            continue  # refused by the library: nothing to enumerate
        weights = m.weights
        assert set(weights) == set(w), what
        for k in w:
            assert weights[k].shape == w[k].shape, what
        m.save(tmp_path / "again.safetensors")
        again = softmaxkit.Model.load(tmp_path / "again.safetensors")
        for k, v in again.weights.items():
            np.testing.assert_array_equal(v, weights[k], err_msg=what)


def test_ensemble_modes_are_one_table():
    from softmaxkit import _common, model, variants
    assert variants.ENSEMBLE_MODES is _common.ENSEMBLE_MODES
    assert not hasattr(model, "_MODES")
    spec, w, _ = SEEDS["robot_arm"]
    m = softmaxkit.Model.from_weights(spec, w)
    for mode in _common.ENSEMBLE_MODES:
        assert softmaxkit.Ensemble([m], mode=mode).mode == mode
    with pytest.raises(softmaxkit.ArgumentError, match="mode"):
        softmaxkit.Ensemble([m], mode="median")


# MARK: hostile files, specs and names

def test_device_files_are_refused_before_reading(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    p = write(tmp_path, "r.safetensors", spec, w)
    for bad in ("/dev/zero", "/dev/urandom", str(tmp_path)):
        if not os.path.exists(bad):
            continue
        with pytest.raises(softmaxkit.FileError, match="not a regular file"):
            softmaxkit.Model.load(bad)
        with pytest.raises(softmaxkit.FileError, match="not a regular file"):
            softmaxkit.Model.load(bad, spec=spec)
        with pytest.raises(softmaxkit.FileError, match="not a regular file"):
            softmaxkit.Model.load(p, spec=bad)  # the side file too
    with pytest.raises(softmaxkit.ArgumentError, match="NUL"):
        softmaxkit.Model.load(str(p) + "\0.x")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS read from /proc")
def test_a_side_spec_load_reads_only_what_the_header_points_at(tmp_path):
    # A valid model followed by a 1 GB sparse tail, loaded with spec=: the
    # library reads the header and the tensor bytes (smk_model_load_spec);
    # reading the file whole for smk_model_load_memory took 2 GB. Peak RSS
    # measured in a child process.
    spec, w, _ = SEEDS["robot_arm"]
    p = tmp_path / "tail.safetensors"
    data = encode(w)  # no metadata: the architecture comes from spec=
    with open(p, "wb") as f:
        f.write(data)
        f.truncate(len(data) + (1 << 30))
    side = tmp_path / "spec.json"
    side.write_text(json.dumps(spec))
    code = f"""
import json, numpy as np, softmaxkit
def hwm():
    return int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
x = np.ones((2, {spec["input"]["features"]}), np.float32)
before = hwm()
a = softmaxkit.Model.load({str(p)!r}, spec={json.dumps(spec)!r})
b = softmaxkit.Model.load({str(p)!r}, spec={str(side)!r})
print("GROWTH_KB", hwm() - before)
for k, v in a(x).items():
    assert np.array_equal(v, b(x)[k]), k
"""
    r = _run_isolated(code)
    assert r.returncode == 0, r.stderr[-500:]
    growth = int(r.stdout.split("GROWTH_KB")[1].split()[0])
    assert growth < 48 * 1024, f"peak RSS grew by {growth} kB loading a model with a 1 GB tail"
    # The same model as from the bytes of the file without its tail.
    x = np.ones((2, spec["input"]["features"]), np.float32)
    whole = softmaxkit.Model.from_bytes(data, spec=spec)(x)
    for k, v in softmaxkit.Model.load(p, spec=spec)(x).items():
        np.testing.assert_array_equal(v, whole[k])


def test_a_side_spec_file_holding_nul_is_refused(tmp_path):
    # C would read the spec only up to the NUL: trailing text after it
    # would be ignored, not refused.
    spec, w, _ = SEEDS["robot_arm"]
    p = write(tmp_path, "r.safetensors", spec, w)
    side = tmp_path / "spec.json"
    side.write_bytes(json.dumps(spec).encode() + b"\0{not json")
    with pytest.raises(softmaxkit.ArgumentError, match="NUL"):
        softmaxkit.Model.load(p, spec=side)
    with pytest.raises(softmaxkit.ArgumentError, match="NUL"):
        softmaxkit.Model.from_bytes(p.read_bytes(), spec=str(side))


def _run_isolated(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `code` in a child interpreter (a hang or a crash must not take the
    test run with it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {timeout} s:\n{code}")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_hanging(tmp_path):
    spec, w, _ = SEEDS["robot_arm"]
    p = write(tmp_path, "r.safetensors", spec, w)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # Nobody writes the FIFO: opening it blocking would wait forever.
    code = f"""
import softmaxkit
for args in [({str(fifo)!r},), ({str(fifo)!r}, {json.dumps(spec)!r}), ({str(p)!r}, {str(fifo)!r})]:
    try:
        softmaxkit.Model.load(*args)
        print("ACCEPTED")
    except softmaxkit.FileError as e:
        print("REFUSED", e)
"""
    r = _run_isolated(code, timeout=15)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("REFUSED") == 3 and "not a regular file" in r.stdout, r.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_the_c_loader_refuses_a_fifo_without_hanging(tmp_path):
    # smk_model_load itself (what Model.load calls once its own check passed).
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code = f"""
import ctypes
from softmaxkit import _lib
h = ctypes.c_void_p()
print("STATUS", _lib.lib.smk_model_load({str(fifo).encode()!r}, ctypes.byref(h)))
"""
    r = _run_isolated(code, timeout=15)
    assert r.returncode == 0, r.stderr
    assert "STATUS 7" in r.stdout, r.stdout  # SMK_ERROR_IO


def test_segment_widths_that_wrap_past_2_to_the_64_are_refused():
    # Widths summing to 2**64 + 4 on a 4-unit layer (each below 2**53, so an
    # exact JSON integer): wrapping addition would see 4 and accept them, and
    # forward would trap. In a child process: a trap must fail this test,
    # not end the run.
    big = 9 * 10**15
    rest = 2**64 + 4 - 2049 * big
    spec = {"softmaxkit": 1, "input": {"features": 3}, "layers": [{"name": "out", "input": "input"}],
            "heads": [{"name": "y", "layer": "out", "output": "partitioned",
                       "segments": [[big, "softmax"]] * 2049 + [[rest, "identity"]]}]}
    assert sum(w for w, _ in spec["heads"][0]["segments"]) == 2**64 + 4
    code = f"""
import numpy as np, softmaxkit
spec = {spec!r}
try:
    m = softmaxkit.Model.from_weights(spec, {{"out.weight": np.ones((4, 3), np.float32)}})
except softmaxkit.ArgumentError as e:
    print("REFUSED", e)
else:
    m(np.ones((2, 3), np.float32))
    print("ACCEPTED")
"""
    r = _run_isolated(code)
    assert r.returncode == 0, f"the child died with {r.returncode}: {r.stderr[-500:]}"
    assert r.stdout.startswith("REFUSED"), r.stdout


@pytest.mark.parametrize("output", ["softmax", "log_softmax"])
@pytest.mark.parametrize("temperature", [1e-39, 1e-45, 1e-300])
def test_a_temperature_whose_inverse_overflows_float_is_refused(output, temperature):
    spec, _ = small_spec(head={"name": "y", "layer": "out", "output": output, "temperature": temperature})
    try:
        m = softmaxkit.Model.from_weights(spec, small_weights())
    except softmaxkit.ArgumentError as e:
        assert "temperature" in str(e)
        return
    out = m(np.ones((2, 5), np.float32))["y"]
    pytest.fail(f"accepted; outputs NaN: {bool(np.isnan(out).any())}")


def test_head_names_differing_after_a_nul_are_refused():
    spec, _ = small_spec()
    spec["heads"] = [{"name": "a\0x", "layer": "out", "output": "identity"},
                     {"name": "a\0y", "layer": "out", "output": "identity"}]
    with pytest.raises(softmaxkit.ArgumentError):
        softmaxkit.Model.from_weights(spec, small_weights())
    with pytest.raises(softmaxkit.ArgumentError):
        softmaxkit.Model.from_bytes(encode(small_weights(), {"softmaxkit": json.dumps(spec)}))


def test_tensor_names_holding_nul_are_refused():
    spec, _ = small_spec()
    w = small_weights()
    evil = dict(w, **{"out.weight\0evil": np.zeros_like(w["out.weight"])})
    with pytest.raises(softmaxkit.ArgumentError, match="NUL"):
        softmaxkit.Model.from_weights(spec, evil)  # refused by the binding, before C truncates it
    with pytest.raises(softmaxkit.ArgumentError):
        softmaxkit.Model.from_bytes(encode(evil, {"softmaxkit": json.dumps(spec)}))  # by the library


@pytest.mark.parametrize("value", [1e39, -1e300, np.finfo(np.float64).max])
def test_float64_weights_outside_float32_are_refused_naming_the_tensor(value):
    # They would become +-inf in the float32 model with no message.
    spec, _ = small_spec()
    w = small_weights(dtype=np.float64)
    w["out.weight"][1, 2] = value
    with pytest.raises(softmaxkit.ArgumentError, match="out.weight"):
        softmaxkit.Model.from_weights(spec, w)  # the builder
    with pytest.raises(softmaxkit.ArgumentError, match="out.weight"):
        softmaxkit.Model.from_bytes(encode(w, {"softmaxkit": json.dumps(spec)}))  # an F64 tensor in a file
    w["out.weight"][1, 2] = 3.4e38  # inside float32's range: kept
    softmaxkit.Model.from_weights(spec, w)


def test_names_compare_as_bytes_not_as_canonically_equivalent_text(tmp_path):
    nfc = unicodedata.normalize("NFC", "caf\u00e9")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd and nfc.encode() != nfd.encode()
    spec, _ = small_spec()
    spec["layers"][1]["name"] = nfc
    spec["heads"][0]["layer"] = nfc
    w = small_weights()
    w[nfd + ".weight"] = w.pop("out.weight")  # the tensor spelled in the other normalization
    w[nfd + ".bias"] = w.pop("out.bias")
    for build in (lambda: softmaxkit.Model.from_weights(spec, w),
                  lambda: softmaxkit.Model.from_bytes(encode(w, {"softmaxkit": json.dumps(spec)}))):
        try:
            m = build()
        except softmaxkit.ArgumentError:
            continue
        # Accepted: then what it saves must load back.
        m.save(tmp_path / "n.safetensors")
        softmaxkit.Model.load(tmp_path / "n.safetensors")
        pytest.fail("a spec name matched a tensor name with other bytes")


# MARK: the bundled sequence models against PyTorch

TORCH_FIXTURE = HERE.parents[2] / "Tests" / "fixtures" / "bundled_torch.npz"


@pytest.mark.parametrize("name", ["timesteps", "tagger", "controller"])
def test_bundled_sequence_model_gives_torch_outputs(name):
    # Tests/fixtures/bundled_torch.npz: the outputs of torch modules (nn.LSTM,
    # nn.Embedding, nn.Linear) loaded with each file's tensors by
    # load_state_dict(strict=True), on the bundled input
    # (examples/check_models_torch.py).
    root = HERE.parents[2] / "examples" / "models"
    want = {k.split(".", 1)[1]: v for k, v in np.load(TORCH_FIXTURE).items() if k.split(".", 1)[0] == name}
    got = softmaxkit.Model.load(root / f"{name}.safetensors")(np.load(root / f"{name}.input.npy"))
    assert want and got.keys() == want.keys()
    for head, w in want.items():
        assert got[head].shape == w.shape
        np.testing.assert_allclose(got[head], w, rtol=0, atol=2e-6, err_msg=head)


def test_streaming_the_controller_gives_its_forward_pass():
    root = HERE.parents[2] / "examples" / "models"
    m = softmaxkit.Model.load(root / "controller.safetensors")
    x = np.load(root / "controller.input.npy")
    whole = m(x)
    state = m.new_state(x.shape[0])
    for t in range(x.shape[1]):
        step = m.step(x[:, t], state)
        for head, v in whole.items():
            np.testing.assert_allclose(step[head], v[:, t], rtol=1e-6, atol=1e-6, err_msg=f"{head} step {t}")
