"""Ensembles of sequence models (whole sequences with lengths and token ids,
per-step and final-state heads) against the member-by-member combination
computed here; streaming (models with id inputs, heads on selected steps,
ensembles) against whole-sequence forward."""
from __future__ import annotations


import numpy as np
import pytest

import softmaxkit

from recurrent_members import load, perturbed


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def combine(outs: list[dict], mode: str) -> dict:
    """The ensemble of heads probs (softmax), logp (log_softmax), raw
    (identity, the logits both read) from the members' outputs."""
    probs = np.stack([o["probs"] for o in outs]).astype(np.float64)
    raw = np.stack([o["raw"] for o in outs]).astype(np.float64)
    logp = np.stack([o["logp"] for o in outs]).astype(np.float64)
    if mode == "arithmetic":
        return {"probs": probs.mean(0), "logp": np.log(np.exp(logp).mean(0)), "raw": raw.mean(0)}
    if mode == "geometric":
        g = np.exp(np.log(probs).mean(0))
        m = logp.mean(0)
        return {"probs": g / g.sum(-1, keepdims=True), "logp": m - np.log(np.exp(m).sum(-1, keepdims=True)),
                "raw": raw.mean(0)}
    r = raw.mean(0)
    return {"probs": softmax(r), "logp": np.log(softmax(r)), "raw": r}


CASES = ["lstm_l1_uni_seq", "lstm_l2_bi_seq_lengths", "lstm_l2_uni_final", "gru_l2_uni_seq", "gru_l2_bi_final_lengths"]


@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
@pytest.mark.parametrize("name", CASES)
def test_ensemble_matches_members(name, mode):
    a = load(name)
    members = [a, perturbed(a, 1), perturbed(a, 2)]
    ens = softmaxkit.Ensemble(members, mode)
    x = np.random.default_rng(3).standard_normal((3, 5, a.features)).astype(np.float32)
    for lengths in (None, np.array([5, 2, 0])):
        got = ens(x, lengths=lengths)
        want = combine([m(x, lengths=lengths) for m in members], mode)
        for h in ("probs", "logp", "raw"):
            assert got[h].shape == want[h].shape
            if lengths is not None and a.heads[0].per_step:
                # padding steps: exactly as a model sets them
                pad = -np.inf if h == "logp" else 0.0
                assert (got[h][1, 2:] == pad).all() and (got[h][2] == pad).all()
                valid = np.arange(5)[None, :] < lengths[:, None]
                np.testing.assert_allclose(got[h][valid], want[h][valid], atol=2e-5, rtol=1e-5, err_msg=f"{name} {mode} {h}")
            else:
                w = want[h]
                if lengths is not None:  # a zero-length row: the zero state's outputs
                    np.testing.assert_allclose(got[h][:2], w[:2], atol=2e-5, rtol=1e-5)
                    continue
                np.testing.assert_allclose(got[h], w, atol=2e-5, rtol=1e-5, err_msg=f"{name} {mode} {h}")


@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
@pytest.mark.parametrize("name", ["lstm_l1_uni_seq", "gru_l2_uni_seq", "lstm_l2_uni_final"])
def test_ensemble_streaming_matches_forward(name, mode):
    a = load(name)
    ens = softmaxkit.Ensemble([a, perturbed(a, 4)], mode)
    x = np.random.default_rng(5).standard_normal((2, 4, a.features)).astype(np.float32)
    whole = ens(x)
    state = ens.new_state(2)
    for _ in range(2):  # again after reset()
        for t in range(4):
            out = ens.step(x[:, t], state)
            for h in a.heads:
                want = whole[h.name][:, t] if h.per_step else (whole[h.name] if t == 3 else None)
                if want is not None:
                    np.testing.assert_allclose(out[h.name], want, atol=2e-5, rtol=1e-5)
        state.reset()


def test_ensemble_of_tagger_ids():
    a = load("tagger")
    members = [a, perturbed(a, 6)]
    ids = np.random.default_rng(7).integers(0, a.vocabulary, (3, 6))
    lengths = np.array([6, 3, 0])
    for mode in ("arithmetic", "geometric", "logits"):
        ens = softmaxkit.Ensemble(members, mode)
        got = ens(ids, lengths=lengths)["tags"]
        outs = [m(ids, lengths=lengths)["tags"].astype(np.float64) for m in members]
        valid = np.arange(6)[None, :] < lengths[:, None]
        assert (got[~valid] == 0).all()
        if mode == "arithmetic":
            want = np.mean(outs, 0)
        elif mode == "geometric":
            g = np.exp(np.log(outs).mean(0))
            want = g / g.sum(-1, keepdims=True)
        else:
            want = None  # the tagger has no logits head: checked against streaming below
        if want is not None:
            np.testing.assert_allclose(got[valid], want[valid], atol=2e-5, rtol=1e-5)
        # streaming on ids gives the whole-sequence values
        whole = ens(ids)["tags"]
        state = ens.new_state(3)
        for t in range(6):
            np.testing.assert_allclose(ens.step(ids[:, t], state)["tags"], whole[:, t], atol=2e-5, rtol=1e-5)


def test_model_streaming_ids():
    m = load("tagger")
    ids = np.random.default_rng(8).integers(0, m.vocabulary, (2, 5))
    whole = m(ids)["tags"]
    state = m.new_state(2)
    for t in range(5):
        np.testing.assert_allclose(m.step(ids[:, t], state)["tags"], whole[:, t], atol=1e-6, rtol=0)
    one = m.new_state(1)
    assert m.step(int(ids[0, 0]), one)["tags"].shape == (m.heads[0].size,)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m.step(np.array([0, 11]), state)
    with pytest.raises(ValueError, match="integers"):
        m.step(np.zeros(2, np.float32), state)
    with pytest.raises(ValueError, match="batch 2"):
        m.step(np.zeros(3, np.int64), state)


def test_streaming_selected_steps():
    """The per-timestep network: heads on steps 0, 1, 2 and -1 of an LSTM."""
    m = load("seed_timesteps")
    x = np.random.default_rng(9).standard_normal((4, 5, m.features)).astype(np.float32)
    whole = m(x)
    # the step -1 head alone, to run the forward on fewer than 3 steps
    spec = m.spec
    spec["layers"] = [l for l in spec["layers"] if not l["name"].startswith("head_")]
    spec["heads"] = [h for h in spec["heads"] if h["name"] == "last"]
    last_only = softmaxkit.Model.from_weights(spec, {k: v for k, v in m.weights.items() if not k.startswith("head_")})
    state = m.new_state(4)
    for _ in range(2):
        assert not any(state.ready(h.name) for h in m.heads)
        for t in range(5):
            out = m.step(x[:, t], state)
            expected = {f"step_{t}"} if t < 3 else set()
            assert set(out) == expected | {"last"}, (t, sorted(out))
            for i in range(3):
                assert state.ready(f"step_{i}") == (i == t)
            if t < 3:
                np.testing.assert_allclose(out[f"step_{t}"], whole[f"step_{t}"], atol=1e-6, rtol=0)
            # step -1: the newest step, as a forward over the steps so far
            np.testing.assert_allclose(out["last"], last_only(x[:, :t + 1])["last"], atol=1e-6, rtol=0)
        state.reset()
    with pytest.raises(ValueError, match="unknown head"):
        state.ready("nope")


def test_ensemble_streaming_selected_steps():
    m = load("seed_timesteps")
    ens = softmaxkit.Ensemble([m, perturbed(m, 10)], "geometric")
    x = np.random.default_rng(11).standard_normal((2, 3, m.features)).astype(np.float32)
    whole = ens(x)
    state = ens.new_state(2)
    for t in range(3):
        out = ens.step(x[:, t], state)
        assert set(out) == {f"step_{t}", "last"}
        np.testing.assert_allclose(out[f"step_{t}"], whole[f"step_{t}"], atol=2e-5, rtol=1e-5)


def test_ensemble_errors():
    a, tagger = load("lstm_l1_uni_seq"), load("tagger")
    with pytest.raises(ValueError, match="token ids"):
        softmaxkit.Ensemble([a, tagger])
    with pytest.raises(ValueError, match="differs"):
        softmaxkit.Ensemble([a, load("lstm_l2_uni_final")])
    with pytest.raises(softmaxkit.Error, match="bidirectional"):
        softmaxkit.Ensemble([load("lstm_l1_bi_seq")] * 2).new_state(1)
    ens = softmaxkit.Ensemble([a, a])
    state = ens.new_state(2)
    with pytest.raises(ValueError, match="an ensemble"):
        a.step(np.zeros((2, 4), np.float32), state)
    with pytest.raises(ValueError, match="a model"):
        ens.step(np.zeros((2, 4), np.float32), a.new_state(2))
    with pytest.raises(ValueError, match="another ensemble"):
        softmaxkit.Ensemble([a, a]).step(np.zeros((2, 4), np.float32), state)
    with pytest.raises(ValueError, match="lengths"):
        ens(np.zeros((2, 3, 4), np.float32), lengths=[1, 4])


@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
def test_ensemble_of_one_model_twice_streams_as_the_model(mode):
    """The same model twice: each member slot carries its own state."""
    m = load("tagger")
    ens = softmaxkit.Ensemble([m, m], mode)
    ids = np.random.default_rng(12).integers(0, m.vocabulary, (2, 4))
    whole = m(ids)["tags"]
    state = ens.new_state(2)
    for t in range(4):
        np.testing.assert_allclose(ens.step(ids[:, t], state)["tags"], whole[:, t], atol=2e-6, rtol=1e-5)
