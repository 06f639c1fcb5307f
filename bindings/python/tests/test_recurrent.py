"""Recurrent models (LSTM, GRU, embeddings, step selection, lengths) against
PyTorch: the fixtures in Tests/fixtures/recurrent/ were written by
Tests/fixtures/make_recurrent.py with nn.LSTM / nn.GRU / nn.Embedding and
pack_padded_sequence; outputs agree within 2e-5 absolute. Also every bad
input of the id and lengths paths."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import softmaxkit

FIXTURES = Path(__file__).resolve().parents[3] / "Tests" / "fixtures" / "recurrent"
CASES = sorted(p.stem for p in FIXTURES.glob("*.txt"))


def read_fixture(name: str) -> dict[str, np.ndarray]:
    lines = (FIXTURES / f"{name}.txt").read_text().split("\n")
    out = {}
    for k in range(0, len(lines) - 1, 2):
        head = lines[k].split()
        shape = tuple(int(d) for d in head[2:])
        dtype = np.float32 if head[1] == "f32" else np.int64
        values = lines[k + 1].split()
        out[head[0]] = np.array([float(v) for v in values] if dtype is np.float32 else [int(v) for v in values],
                                dtype=dtype).reshape(shape)
    return out


def test_fixture_set_is_complete():
    assert len(CASES) == 25


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch(name):
    model = softmaxkit.Model.load(FIXTURES / f"{name}.safetensors")
    fx = read_fixture(name)
    lengths = fx.get("lengths")
    if "ids" in fx:
        got = model(fx["ids"], lengths=lengths)
        got32 = model(fx["ids"].astype(np.int32), lengths=lengths)
        for h in got:
            np.testing.assert_array_equal(got[h], got32[h])
    else:
        got = model(fx["x"], lengths=lengths)
    for h in model.heads:
        want = fx[f"out.{h.name}"]
        assert got[h.name].shape == want.shape, (name, h.name)
        np.testing.assert_allclose(got[h.name], want, atol=2e-5, rtol=0, err_msg=f"{name} {h.name}")


def test_head_shapes():
    seed = softmaxkit.Model.load(FIXTURES / "seed_timesteps.safetensors")
    assert [h.per_step for h in seed.heads] == [False] * 4
    out = seed(np.zeros((2, 3, 5), np.float32))
    assert all(v.shape == (2, 10) for v in out.values())
    seq = softmaxkit.Model.load(FIXTURES / "lstm_l1_uni_seq.safetensors")
    assert all(h.per_step for h in seq.heads)
    assert seq(np.zeros((2, 7, 4), np.float32))["probs"].shape == (2, 7, 5)
    assert seq(np.zeros((2, 4), np.float32))["probs"].shape == (2, 5)


def test_bad_inputs():
    seed = softmaxkit.Model.load(FIXTURES / "seed_timesteps.safetensors")
    with pytest.raises(ValueError, match='layer "head_2" reads step 2 but the input has 2 steps'):
        seed(np.zeros((1, 2, 5), np.float32))
    tagger = softmaxkit.Model.load(FIXTURES / "tagger.safetensors")
    assert tagger.vocabulary == 11 and tagger.features == 0
    with pytest.raises(ValueError, match=r"ids\[1, 0\] is 11, outside the vocabulary \[0, 11\)"):
        tagger(np.array([[1, 2], [11, 0]]))
    with pytest.raises(ValueError, match="ids must be integers"):
        tagger(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"lengths\[0\] is 3, outside \[0, 2\]"):
        tagger(np.array([[1, 2]]), lengths=[3])
    with pytest.raises(ValueError, match="one value per row"):
        tagger(np.array([[1, 2]]), lengths=[1, 1])
    seq = softmaxkit.Model.load(FIXTURES / "lstm_l1_uni_seq.safetensors")
    import ctypes
    outs = (ctypes.c_void_p * 3)()
    ids = np.zeros(2, np.int64)
    lib = softmaxkit._lib.lib
    assert lib.smk_model_forward_ids(seq._handle, ids.ctypes.data_as(ctypes.c_void_p), 1, 2, None, outs, 3) == 1
    assert b"not token ids" in lib.smk_last_error_message()
    assert softmaxkit.Ensemble([seq, seq]).vocabulary == 0  # sequence models ensemble
    # Nothing written on failure.
    out = np.full((1, 2, 5), 7.0, np.float32)
    import ctypes
    table = (ctypes.c_void_p * 3)(out.ctypes.data, out.ctypes.data + 0, out.ctypes.data)
    x = np.zeros((1, 2, 4), np.float32)
    lens = np.array([5], np.int64)
    st = softmaxkit._lib.lib.smk_model_forward_lengths(seq._handle, x.ctypes.data_as(ctypes.c_void_p), 1, 2, 4,
                                                       lens.ctypes.data_as(ctypes.c_void_p), table, 3)
    assert st != 0 and (out == 7).all()


def _lstm(kind="lstm", drop=(), add=None, ih_width=2, **extra):
    """A one-layer LSTM (F = 2, H = 1) under a dense softmax head, one part broken."""
    spec = {"softmaxkit": 1, "input": {"features": 2},
            "layers": [{"name": "rnn", "kind": kind, **extra}, {"name": "fc", "input": "rnn"}],
            "heads": [{"name": "p", "layer": "fc", "output": "softmax"}]}
    dirs = ("", "_reverse") if extra.get("bidirectional") else ("",)
    w = {}
    for sfx in dirs:
        w.update({f"rnn.weight_ih_l0{sfx}": np.zeros((4, ih_width), np.float32),
                  f"rnn.weight_hh_l0{sfx}": np.zeros((4, 1), np.float32),
                  f"rnn.bias_ih_l0{sfx}": np.zeros(4, np.float32), f"rnn.bias_hh_l0{sfx}": np.zeros(4, np.float32)})
    w["fc.weight"] = np.zeros((3, len(dirs)), np.float32)
    w.update(add or {})
    return softmaxkit.Model.from_weights(spec, {k: v for k, v in w.items() if k not in drop})


@pytest.mark.parametrize("make, error, words", [
    (lambda: _lstm("rnn2"), softmaxkit.ArgumentError, 'unknown value "rnn2"'),
    (lambda: _lstm(ih_width=3), ValueError, r'"rnn.weight_ih_l0" has shape \[4, 3\], expected \[4, 2\]'),
    (lambda: _lstm(units=2), ValueError, "units"),
    (lambda: _lstm(drop=("rnn.bias_hh_l0",)), softmaxkit.ArgumentError, "give both biases or neither"),
    (lambda: _lstm(add={"rnn.weight_hr_l0": np.zeros((1, 1), np.float32)}), softmaxkit.ArgumentError, "proj_size"),
    (lambda: _lstm(proj_size=1), softmaxkit.ArgumentError, "proj_size"),
    (lambda: _lstm(bidirectional=True, drop=("rnn.weight_ih_l0_reverse",)), softmaxkit.ArgumentError,
     'missing tensor "rnn.weight_ih_l0_reverse"'),
])
def test_bad_recurrent_layers(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_good_recurrent_layers_build():
    assert _lstm().heads[0].size == 3
    assert _lstm(bidirectional=True).heads[0].size == 3


def test_step_outside_the_input_counted_from_the_end():
    spec = {"softmaxkit": 1, "input": {"features": 2},
            "layers": [{"name": "rnn", "kind": "lstm"}, {"name": "first", "input": "rnn", "step": -3}],
            "heads": [{"name": "p", "layer": "first", "output": "softmax"}]}
    z = np.zeros
    model = softmaxkit.Model.from_weights(spec, {"rnn.weight_ih_l0": z((4, 2)), "rnn.weight_hh_l0": z((4, 1)),
                                                 "first.weight": z((3, 1))})
    assert model(np.zeros((1, 3, 2), np.float32))["p"].shape == (1, 3)
    with pytest.raises(ValueError, match='layer "first" reads step -3 but the input has 2 steps'):
        model(np.zeros((1, 2, 2), np.float32))


def test_zero_length_rows():
    model = softmaxkit.Model.load(FIXTURES / "lstm_l2_bi_seq_lengths.safetensors")
    x = np.random.default_rng(0).standard_normal((2, 4, 4)).astype(np.float32)
    out = model(x, lengths=[0, 4])
    assert (out["probs"][0] == 0).all() and np.isneginf(out["logp"][0]).all()
    full = model(x[1:])
    np.testing.assert_array_equal(out["probs"][1], full["probs"][0])


@pytest.mark.parametrize("name", ["lstm_l1_uni_seq", "gru_l2_uni_seq", "lstm_l2_uni_final"])
def test_streaming_matches_forward(name):
    model = softmaxkit.Model.load(FIXTURES / f"{name}.safetensors")
    x = read_fixture(name)["x"]
    whole = model(x)
    state = model.new_state(x.shape[0])
    for _ in range(2):  # again after reset()
        for t in range(x.shape[1]):
            out = model.step(x[:, t, :], state)
            for h in model.heads:
                if h.per_step:
                    np.testing.assert_allclose(out[h.name], whole[h.name][:, t, :], atol=1e-6, rtol=0)
                elif t == x.shape[1] - 1:
                    np.testing.assert_allclose(out[h.name], whole[h.name], atol=1e-6, rtol=0)
        state.reset()


def test_streaming_errors():
    uni = softmaxkit.Model.load(FIXTURES / "lstm_l1_uni_seq.safetensors")
    other = softmaxkit.Model.load(FIXTURES / "lstm_l1_uni_seq.safetensors")
    state = uni.new_state(2)
    with pytest.raises(ValueError, match="another model"):
        other.step(np.zeros((2, 4), np.float32), state)
    with pytest.raises(ValueError, match="batch 2"):
        uni.step(np.zeros((3, 4), np.float32), state)
    with pytest.raises(softmaxkit.Error, match="bidirectional"):
        softmaxkit.Model.load(FIXTURES / "lstm_l1_bi_seq.safetensors").new_state(1)
    seed = softmaxkit.Model.load(FIXTURES / "seed_timesteps.safetensors")
    seed.new_state(1)  # steps from the start and -1 stream
    spec = seed.spec
    spec["layers"][4]["step"] = -2
    with pytest.raises(softmaxkit.Error, match="counted from the end"):
        softmaxkit.Model.from_weights(spec, seed.weights).new_state(1)


@pytest.mark.parametrize("head", [
    {"output": "softmax", "temperature": 2.5}, {"output": "log_softmax", "temperature": 0.5},
    {"output": "sigmoid"}, {"output": "identity"},
    {"output": "masked_softmax", "mask": [0, 1, 1, 0, 1, 1]},
    {"output": "masked_softmax", "mask": [1, 0, 1, 0, 0, 0], "renormalize": False},
    {"output": "partitioned", "segments": [[2, "softmax"], [1, "sigmoid"], [1, "tanh"], [2, "log_softmax"]]},
    {"output": "hierarchical", "coarse": "c", "fine": ["f0", "f1"]},
])
def test_every_head_transform_per_step_and_final(head):
    """Each head transform on a per-step head ([B, T, C]) gives, step by step,
    what it gives on the final state of the steps so far; padding steps are 0
    (log_softmax: -inf) and the valid steps are unchanged by lengths."""
    rng = np.random.default_rng(12)
    hier = head["output"] == "hierarchical"
    layers = [{"name": "rnn", "kind": "gru", "units": 4}]
    w = {"rnn.weight_ih_l0": rng.standard_normal((12, 3)), "rnn.weight_hh_l0": rng.standard_normal((12, 4))}
    outs = {"c": 2, "f0": 2, "f1": 3} if hier else {"out": 6}
    for name, n in outs.items():
        layers.append({"name": name, "input": "rnn"})
        w[f"{name}.weight"], w[f"{name}.bias"] = rng.standard_normal((n, 4)), rng.standard_normal(n)
    h = {"name": "y", **head} if hier else {"name": "y", "layer": "out", **head}
    spec = {"softmaxkit": 1, "input": {"features": 3}, "layers": layers, "heads": [h]}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    seq = softmaxkit.Model.from_weights(spec, w)
    final_spec = {**spec, "layers": [dict(layers[0], sequence=False)] + layers[1:]}
    final = softmaxkit.Model.from_weights(final_spec, w)
    x = rng.standard_normal((3, 4, 3)).astype(np.float32)
    every = seq(x)["y"]
    assert every.shape[:2] == (3, 4) and seq.heads[0].per_step and not final.heads[0].per_step
    for t in range(4):
        np.testing.assert_allclose(every[:, t], final(x[:, :t + 1])["y"], atol=1e-6, rtol=0)
    padded = seq(x, lengths=[4, 2, 0])["y"]
    np.testing.assert_array_equal(padded[0], every[0])
    np.testing.assert_array_equal(padded[1, :2], every[1, :2])
    pad = -np.inf if head["output"] == "log_softmax" else 0.0
    assert (padded[1, 2:] == pad).all() and (padded[2] == pad).all()
