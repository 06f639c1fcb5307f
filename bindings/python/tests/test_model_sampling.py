"""Sampling model heads in the forward call (Model(x, sample=..., seed=...),
Model.step, Ensemble): each sampled head draws exactly what softmaxkit.sample
draws on the head's logits with the documented row offset (head h: h * 2**48
+ row_offset) and temperature (sampling temperature times the head's), the
other heads are unchanged, and every bad request is a clear error."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import softmaxkit

ROOT = Path(__file__).resolve().parents[3]
RECURRENT = ROOT / "Tests" / "fixtures" / "recurrent"
MODELS = ROOT / "examples" / "models"
STRIDE = 1 << 48


def dense_model(output="softmax", **head):
    """8 features -> 16 relu -> 10 logits, heads: "action" (output), "raw" (identity)."""
    rng = np.random.default_rng(3)
    spec = {"softmaxkit": 1, "input": {"features": 8},
            "layers": [{"name": "fc1", "input": "input", "activation": "relu"},
                       {"name": "out", "input": "fc1"}],
            "heads": [{"name": "action", "layer": "out", "output": output, **head},
                      {"name": "raw", "layer": "out", "output": "identity"}]}
    w = {"fc1.weight": rng.standard_normal((16, 8)).astype(np.float32),
         "fc1.bias": rng.standard_normal(16).astype(np.float32),
         "out.weight": 2 * rng.standard_normal((10, 16)).astype(np.float32),
         "out.bias": rng.standard_normal(10).astype(np.float32)}
    return softmaxkit.Model.from_weights(spec, w)


X = np.random.default_rng(1).standard_normal((64, 8)).astype(np.float32)


def test_draws_equal_plain_sample_on_the_logits():
    m = dense_model()
    opts = dict(temperature=0.8, top_k=5, top_p=0.95, min_p=0.01)
    out = m(X, sample={"action": opts}, seed=42)
    logits = m(X)["raw"]
    np.testing.assert_array_equal(out["raw"], logits)  # other heads unchanged
    want = softmaxkit.sample(logits, seed=42, **opts)  # head 0: row offset 0
    assert out["action"].dtype == np.int64 and out["action"].shape == (64,)
    np.testing.assert_array_equal(out["action"], want)
    # Reproducible; another seed differs.
    np.testing.assert_array_equal(m(X, sample={"action": opts}, seed=42)["action"], want)
    assert (m(X, sample={"action": opts}, seed=43)["action"] != want).any()


def test_second_head_offset_and_log_probs():
    m = dense_model()
    # "raw" is identity: not samplable; sample "action" with num_samples and
    # log-probabilities, and a row offset.
    out = m(X, sample={"action": dict(num_samples=3, row_offset=5, return_log_probs=True)}, seed=9)
    idx, lp = out["action"]
    want, wlp = softmaxkit.sample(m(X)["raw"], num_samples=3, seed=9, row_offset=5, return_log_probs=True)
    assert idx.shape == (64, 3)
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(lp, wlp)


def test_head_temperature_multiplies():
    m = dense_model(temperature=2.0)
    out = m(X, sample={"action": dict(temperature=0.5)}, seed=5)
    np.testing.assert_array_equal(out["action"], softmaxkit.sample(m(X)["raw"], temperature=1.0, seed=5))
    greedy = m(X, sample={"action": dict(temperature=0)}, seed=5)["action"]
    np.testing.assert_array_equal(greedy, np.argmax(m(X)["raw"], axis=-1))


def test_masked_head_uses_its_mask():
    mask = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    m = dense_model("masked_softmax", mask=mask)
    got = m(X, sample={"action": {}}, seed=3)["action"]
    np.testing.assert_array_equal(got, softmaxkit.sample(m(X)["raw"], mask=np.array(mask, bool), seed=3))
    assert not np.isin(got, [1, 4, 8]).any()


def test_non_softmax_heads_and_bad_requests():
    m = dense_model()
    with pytest.raises(softmaxkit.Error, match='head "raw" has output "identity"'):
        m(X, sample={"raw": {}}, seed=1)
    for output in ("sigmoid",):
        with pytest.raises(softmaxkit.Error, match="only softmax, log_softmax and masked_softmax"):
            dense_model(output)(X, sample={"action": {}}, seed=1)
    with pytest.raises(ValueError, match="no head named 'nope'"):
        m(X, sample={"nope": {}}, seed=1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['topk'\]"):
        m(X, sample={"action": {"topk": 3}}, seed=1)
    with pytest.raises(ValueError, match="top_p must be in"):
        m(X, sample={"action": {"top_p": 1.5}}, seed=1)
    with pytest.raises(ValueError, match="temperature"):
        m(X, sample={"action": {"temperature": -1}}, seed=1)
    with pytest.raises(ValueError, match="without replacement exceeds"):
        m(X, sample={"action": {"num_samples": 11, "replacement": False}}, seed=1)
    with pytest.raises(ValueError, match="seed"):
        m(X, sample={"action": {}}, seed=-1)
    with pytest.raises(ValueError, match="sample must map"):
        m(X, sample=["action"], seed=1)


def test_per_step_heads_of_a_sequence_model():
    m = softmaxkit.Model.load(RECURRENT / "lstm_l1_uni_seq.safetensors")
    x = np.random.default_rng(2).standard_normal((3, 7, 4)).astype(np.float32)
    out = m(x, sample={"probs": dict(top_k=3), "logp": dict(temperature=1.5)}, seed=77)
    raw = m(x)["raw"]  # the identity head on the same layer: the logits
    assert out["probs"].shape == (3, 7) and out["logp"].shape == (3, 7)
    flat = raw.reshape(21, -1)
    np.testing.assert_array_equal(out["probs"].reshape(-1), softmaxkit.sample(flat, top_k=3, seed=77))
    np.testing.assert_array_equal(out["logp"].reshape(-1),
                                  softmaxkit.sample(flat, temperature=1.5, seed=77, row_offset=STRIDE))
    np.testing.assert_array_equal(out["raw"], raw)
    # One step alone (row offset b * steps + t) draws as in the batch.
    one = softmaxkit.sample(raw[1, 4], top_k=3, seed=77, row_offset=1 * 7 + 4)
    assert one == out["probs"][1, 4]


def test_padding_steps_give_minus_one():
    m = softmaxkit.Model.load(RECURRENT / "lstm_l1_uni_seq.safetensors")
    x = np.random.default_rng(4).standard_normal((2, 5, 4)).astype(np.float32)
    idx, lp = m(x, lengths=[3, 0], sample={"probs": dict(return_log_probs=True)}, seed=1)["probs"]
    assert (idx[0, 3:] == -1).all() and (idx[1] == -1).all() and np.isnan(lp[1]).all()
    assert (idx[0, :3] >= 0).all()


def test_token_model_and_streaming():
    tagger = softmaxkit.Model.load(RECURRENT / "tagger.safetensors")
    ids = np.array([[1, 2, 3], [4, 5, 6]])
    got = tagger(ids, sample={"tags": {}}, seed=8)["tags"]
    assert got.shape == (2, 3)
    # The tagger's only head is softmax: its logits are log(probs) up to a
    # per-row constant; draws agree except within rounding of a boundary.
    want = softmaxkit.sample(np.log(tagger(ids)["tags"]).reshape(6, -1), seed=8).reshape(2, 3)
    assert (got == want).mean() >= 5 / 6
    seq = softmaxkit.Model.load(RECURRENT / "lstm_l1_uni_seq.safetensors")
    x = np.random.default_rng(2).standard_normal((3, 4, 4)).astype(np.float32)
    state = seq.new_state(3)
    for t in range(4):
        out = seq.step(x[:, t], state, sample={"probs": dict(row_offset=t * 3)}, seed=6)
        assert out["probs"].shape == (3,)
        np.testing.assert_array_equal(out["probs"], softmaxkit.sample(out["raw"], seed=6, row_offset=t * 3))


def test_ensemble_samples_the_combined_distribution():
    a = softmaxkit.Model.load(MODELS / "ensemble_a.safetensors")
    b = softmaxkit.Model.load(MODELS / "ensemble_b.safetensors")
    x = np.random.default_rng(5).standard_normal((16, 10)).astype(np.float32)
    for mode in ("arithmetic", "geometric", "logits"):
        ens = softmaxkit.Ensemble([a, b], mode=mode)
        got = ens(x, sample={"probs": dict(top_p=0.9)}, seed=12)["probs"]
        want = softmaxkit.sample(np.log(ens(x)["probs"]), top_p=0.9, seed=12)
        np.testing.assert_array_equal(got, want)


def test_return_values_gives_the_head_values_beside_the_draws():
    m = dense_model()
    plain = m(X)
    out = m(X, sample={"action": dict(temperature=0.8, return_values=True)}, seed=4)
    idx, values = out["action"]
    np.testing.assert_array_equal(values, plain["action"])  # the probabilities, as without sample
    np.testing.assert_array_equal(idx, softmaxkit.sample(plain["raw"], temperature=0.8, seed=4))
    # With log-probabilities too: (indices, log_probs, values), the same draws.
    idx2, lp, values2 = m(X, sample={"action": dict(temperature=0.8, return_log_probs=True, return_values=True)},
                          seed=4)["action"]
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_array_equal(values2, plain["action"])
    _, wlp = softmaxkit.sample(plain["raw"], temperature=0.8, seed=4, return_log_probs=True)
    np.testing.assert_array_equal(lp, wlp)
    # False is the default (indices alone); a non-bool is refused.
    assert isinstance(m(X, sample={"action": dict(return_values=False)}, seed=4)["action"], np.ndarray)
    with pytest.raises(ValueError, match="return_values must be True or False"):
        m(X, sample={"action": dict(return_values=1)}, seed=4)


def test_return_values_on_steps_padding_and_ensembles():
    seq = softmaxkit.Model.load(RECURRENT / "lstm_l1_uni_seq.safetensors")
    x = np.random.default_rng(4).standard_normal((2, 5, 4)).astype(np.float32)
    idx, values = seq(x, lengths=[3, 0], sample={"probs": dict(return_values=True)}, seed=1)["probs"]
    np.testing.assert_array_equal(values, seq(x, lengths=[3, 0])["probs"])
    assert values.shape == (2, 5, values.shape[-1]) and (idx[1] == -1).all()
    state, ref = seq.new_state(2), seq.new_state(2)
    for t in range(3):
        idx, values = seq.step(x[:, t], state, sample={"probs": dict(return_values=True)}, seed=6)["probs"]
        np.testing.assert_array_equal(values, seq.step(x[:, t], ref)["probs"])
    a = softmaxkit.Model.load(MODELS / "ensemble_a.safetensors")
    b = softmaxkit.Model.load(MODELS / "ensemble_b.safetensors")
    ens = softmaxkit.Ensemble([a, b])
    xe = np.random.default_rng(5).standard_normal((16, 10)).astype(np.float32)
    idx, values = ens(xe, sample={"probs": dict(return_values=True)}, seed=12)["probs"]
    np.testing.assert_array_equal(values, ens(xe)["probs"])
    np.testing.assert_array_equal(idx, ens(xe, sample={"probs": {}}, seed=12)["probs"])
