"""Ensembles sampled with lengths, on token ids and one step at a time
(smk_ensemble_forward_lengths_sampled, smk_ensemble_forward_ids_sampled,
smk_ensemble_step_sampled): every draw equals softmaxkit.sample on the log
of the ensemble's output for the same call, with the head's stream rows
(head h: row_offset h * 2**48 + row_offset); padding steps and heads not
ready at a tick give -1."""
from __future__ import annotations


import numpy as np
import pytest

import softmaxkit

from recurrent_members import load, perturbed

STRIDE = 2 ** 48


def head_index(ens, name):
    return [h.name for h in ens.heads].index(name)


def expected(ens, values, name, seed, valid=None, **opts):
    """softmaxkit.sample on the log of a head's combined output, as the
    library draws it; rows outside `valid` are -1."""
    v = values.astype(np.float32)
    with np.errstate(divide="ignore"):  # padding steps hold probability 0
        logits = v if name == "logp" else np.log(v)
    off = opts.pop("row_offset", 0)
    want = softmaxkit.sample(logits.reshape(-1, v.shape[-1]), seed=seed, row_offset=head_index(ens, name) * STRIDE + off,
                             **opts).reshape(v.shape[:-1])
    if valid is not None:
        want[~valid] = -1
    return want


@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
def test_float_ensemble_with_lengths(mode):
    a = load("lstm_l1_uni_seq")
    ens = softmaxkit.Ensemble([a, perturbed(a, 3)], mode)
    x = np.random.default_rng(1).standard_normal((4, 6, a.features)).astype(np.float32)
    lengths = np.array([6, 2, 0, 5])
    plain = ens(x, lengths=lengths)
    valid = np.arange(6)[None, :] < lengths[:, None]
    out = ens(x, lengths=lengths, sample={"probs": dict(temperature=0.7), "logp": dict(row_offset=9)}, seed=21)
    np.testing.assert_array_equal(out["raw"], plain["raw"])
    np.testing.assert_array_equal(out["probs"], expected(ens, plain["probs"], "probs", 21, valid, temperature=0.7))
    np.testing.assert_array_equal(out["logp"], expected(ens, plain["logp"], "logp", 21, valid, row_offset=9))
    assert (out["probs"][~valid] == -1).all() and (out["probs"][valid] >= 0).all()
    # Reproducible by seed; another seed draws otherwise somewhere.
    again = ens(x, lengths=lengths, sample={"probs": dict(temperature=0.7)}, seed=21)["probs"]
    np.testing.assert_array_equal(again, out["probs"])
    # Values and log-probabilities beside the draws.
    idx, lp, values = ens(x, lengths=lengths, sample={"probs": dict(return_log_probs=True, return_values=True)},
                          seed=5)["probs"]
    np.testing.assert_array_equal(values, plain["probs"])
    assert np.isnan(lp[~valid]).all() and np.isfinite(lp[valid]).all()


def test_ids_ensemble_with_and_without_lengths():
    a = load("tagger")
    ens = softmaxkit.Ensemble([a, perturbed(a, 6)], "geometric")
    ids = np.random.default_rng(7).integers(0, a.vocabulary, (3, 5))
    lengths = np.array([5, 3, 0])
    valid = np.arange(5)[None, :] < lengths[:, None]
    got = ens(ids, lengths=lengths, sample={"tags": dict(num_samples=3)}, seed=8)["tags"]
    assert got.shape == (3, 5, 3)
    probs = ens(ids, lengths=lengths)["tags"]
    with np.errstate(divide="ignore"):
        want = softmaxkit.sample(np.log(probs.reshape(-1, probs.shape[-1])), num_samples=3, seed=8).reshape(3, 5, 3)
    want[~valid] = -1
    np.testing.assert_array_equal(got, want)
    full = ens(ids, sample={"tags": {}}, seed=8)["tags"]
    np.testing.assert_array_equal(full, expected(ens, ens(ids)["tags"], "tags", 8))
    with pytest.raises(softmaxkit.ArgumentError, match="vocabulary"):
        ens(np.full((1, 2), a.vocabulary), sample={"tags": {}}, seed=1)
    # The padding id derives lengths for sampling too.
    ens.padding_id = 0
    padded = ids.copy()
    padded[padded == 0] = 1
    padded[1, 3:] = 0
    derived = ens(padded, sample={"tags": {}}, seed=8)["tags"]
    np.testing.assert_array_equal(derived, ens(padded, lengths=[5, 3, 5], sample={"tags": {}}, seed=8)["tags"])


@pytest.mark.parametrize("mode", ["arithmetic", "logits"])
def test_ensemble_step_samples_the_step_output(mode):
    a = load("lstm_l1_uni_seq")
    ens = softmaxkit.Ensemble([a, perturbed(a, 4)], mode)
    x = np.random.default_rng(2).standard_normal((3, 4, a.features)).astype(np.float32)
    state, ref = ens.new_state(3), ens.new_state(3)
    for t in range(4):
        out = ens.step(x[:, t], state, sample={"probs": dict(row_offset=3 * t)}, seed=6)
        plain = ens.step(x[:, t], ref)
        np.testing.assert_array_equal(out["raw"], plain["raw"])
        np.testing.assert_array_equal(out["probs"], expected(ens, plain["probs"], "probs", 6, row_offset=3 * t))
    # A refused option leaves the state where it was (still at its start).
    fresh = ens.new_state(3)
    with pytest.raises(softmaxkit.ArgumentError):
        ens.step(x[:, 0], fresh, sample={"probs": dict(top_p=2.0)}, seed=1)
    np.testing.assert_array_equal(ens.step(x[:, 1], fresh)["raw"], ens.step(x[:, 1], ens.new_state(3))["raw"])
    with pytest.raises(softmaxkit.ArgumentError, match="no head named"):
        ens.step(x[:, 0], state, sample={"nope": {}}, seed=1)
    with pytest.raises(softmaxkit.Error, match="output"):
        ens.step(x[:, 0], state, sample={"raw": {}}, seed=1)  # identity: not a distribution


def test_step_of_a_head_not_ready_gives_minus_one():
    spec = {"softmaxkit": 1, "input": {"features": 3},
            "layers": [{"name": "rnn", "kind": "gru", "input": "input", "units": 4, "sequence": True},
                       {"name": "out", "input": "rnn", "step": 1}],
            "heads": [{"name": "p", "layer": "out", "output": "softmax"}]}
    rng = np.random.default_rng(3)

    def member():
        w = {"rnn.weight_ih_l0": rng.standard_normal((12, 3)), "rnn.weight_hh_l0": rng.standard_normal((12, 4)),
             "rnn.bias_ih_l0": rng.standard_normal(12), "rnn.bias_hh_l0": rng.standard_normal(12),
             "out.weight": rng.standard_normal((5, 4))}
        return softmaxkit.Model.from_weights(spec, w)

    ens = softmaxkit.Ensemble([member(), member()])
    state = ens.new_state(2)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    first = ens.step(x, state, sample={"p": dict(return_log_probs=True)}, seed=3)["p"]
    assert (first[0] == -1).all() and np.isnan(first[1]).all()  # step 1 not reached yet
    second = ens.step(x, state, sample={"p": {}}, seed=3)["p"]
    assert (second >= 0).all()


def test_step_sampling_on_ids_is_refused_clearly():
    a = load("tagger")
    ens = softmaxkit.Ensemble([a, a])
    with pytest.raises(softmaxkit.ArgumentError, match="token ids does not sample"):
        ens.step(np.array([1, 2]), ens.new_state(2), sample={"tags": {}}, seed=1)
