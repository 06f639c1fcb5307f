"""Model and Ensemble calls on float16 / ml_dtypes.bfloat16 input and with
``dtype=``: half input gives bit for bit the float32 outputs of its widening
(``x.astype(float32)``), half outputs are bit for bit the float32 outputs
rounded to nearest even (numpy's and ml_dtypes' own conversions as the
references), on dense, sequence (with lengths), token-id and streaming
models and ensembles; bad dtypes are refused."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import softmaxkit as smk
from softmaxkit import ArgumentError
from test_half import F16, HALVES

F32 = np.dtype(np.float32)
ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "examples" / "models"
RECURRENT = ROOT / "Tests" / "fixtures" / "recurrent"


def half_input(shape, dt, seed=0):
    return np.random.default_rng(seed).uniform(-3, 3, shape).astype(dt)


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint32)


def same(got: dict, want: dict, dt) -> None:
    """`got` (dtype dt) is exactly `want` (float32) rounded into dt."""
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == dt and got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(bits(got[k]), bits(want[k].astype(dt)), err_msg=k)


@pytest.mark.parametrize("name", ["robot_arm", "multitask", "digits", "masked", "hierarchical", "controller"])
@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_dense_half_input_and_outputs(name, dt):
    model = smk.Model.load(MODELS / f"{name}.safetensors")
    x = half_input((5, model.features), dt)
    want = model(x.astype(F32))
    same(model(x, dtype=np.float32), want, F32)
    # half input gives outputs in its own dtype by default
    same(model(x), want, dt)
    for out in HALVES:
        same(model(x, dtype=out), want, out)
        same(model(x.astype(F32), dtype=out), want, out)
    # one row, [features]
    one = model(x[0])
    same(one, model(x[0].astype(F32)), dt)


def test_float_input_unchanged_and_float64_input():
    model = smk.Model.load(MODELS / "multitask.safetensors")
    x = half_input((4, model.features), F32)
    want = model(x)
    assert all(v.dtype == F32 for v in want.values())
    same(model(x.astype(np.float64), dtype="float16"), want, F16)
    same(model(x.tolist(), dtype=np.float16), want, F16)


@pytest.mark.parametrize("name", ["lstm_l1_uni_seq", "gru_l2_bi_final", "lstm_l2_bi_seq_lengths"])
@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_sequence_models_with_and_without_lengths(name, dt):
    model = smk.Model.load(RECURRENT / f"{name}.safetensors")
    x = half_input((3, 4, model.features), dt, seed=1)
    same(model(x, dtype=F32), model(x.astype(F32)), F32)
    same(model(x), model(x.astype(F32)), dt)
    lengths = [4, 0, 2]
    want = model(x.astype(F32), lengths)
    same(model(x, lengths), want, dt)
    same(model(x, lengths, dtype=F32), want, F32)
    same(model(x.astype(F32), lengths, dtype=F16), want, F16)


def test_token_id_model_gives_half_outputs():
    tagger = smk.Model.load(MODELS / "tagger.safetensors")
    ids = np.array([[1, 2, 3], [4, 0, 0]])
    want = tagger(ids, [3, 1])
    for out in HALVES:
        same(tagger(ids, [3, 1], dtype=out), want, out)
    with pytest.raises(ArgumentError, match="ids must be integers"):
        tagger(ids.astype(F16))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_steps_stream_half(dt):
    model = smk.Model.load(RECURRENT / "lstm_l1_uni_seq.safetensors")
    a, b, c = model.new_state(2), model.new_state(2), model.new_state(2)
    for t in range(4):
        x = half_input((2, model.features), dt, seed=10 + t)
        want = model.step(x.astype(F32), a)
        same(model.step(x, b), want, dt)
        same(model.step(x, c, dtype=F32), want, F32)
    ens = smk.Ensemble([model, model], mode="geometric")
    ea, eb = ens.new_state(1), ens.new_state(1)
    for t in range(3):
        x = half_input((model.features,), dt, seed=20 + t)
        same(ens.step(x, eb, dtype=F16), ens.step(x.astype(F32), ea), F16)


@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
def test_ensemble_half(mode):
    ens = smk.Ensemble([smk.Model.load(MODELS / "ensemble_a.safetensors"),
                        smk.Model.load(MODELS / "ensemble_b.safetensors")], mode=mode)
    for dt in HALVES:
        x = half_input((6, ens.features), dt, seed=3)
        want = ens(x.astype(F32))
        same(ens(x), want, dt)
        same(ens(x, dtype=F32), want, F32)
        for out in HALVES:
            same(ens(x.astype(F32), dtype=out), want, out)
    seq = smk.Ensemble([smk.Model.load(RECURRENT / "lstm_l1_uni_seq.safetensors")] * 2)
    x = half_input((2, 3, seq.features), F16, seed=4)
    same(seq(x, [3, 1]), seq(x.astype(F32), [3, 1]), F16)


def test_log_softmax_padding_and_nan_survive_rounding():
    model = smk.Model.load(RECURRENT / "lstm_l2_bi_seq_lengths.safetensors")
    x = half_input((2, 3, model.features), F16, seed=5)
    x[0, 0, 0] = np.nan
    want = model(x.astype(F32), [3, 1])
    got = model(x, [3, 1])
    same(got, want, F16)
    assert any(np.isnan(v[0]).all() for v in got.values())


def test_bad_dtypes_are_refused():
    model = smk.Model.load(MODELS / "multitask.safetensors")
    x = half_input((2, model.features), F16)
    for bad in (np.float64, np.int32, "complex64", np.bool_):
        with pytest.raises(ArgumentError, match="dtype must be float32, float16 or ml_dtypes.bfloat16"):
            model(x, dtype=bad)
        with pytest.raises(ArgumentError, match="dtype must be"):
            model.step(x, model.new_state(2), dtype=bad)
    with pytest.raises(ArgumentError, match="dtype must be|bfloat16"):
        model(x, dtype="not_a_dtype")
    with pytest.raises(ArgumentError, match="does not apply with sample"):
        rob = smk.Model.load(MODELS / "robot_arm.safetensors")
        rob(half_input((2, rob.features), F16), sample={"action": {}}, dtype=F16)
    with pytest.raises(ArgumentError, match="features"):
        model(half_input((2, model.features + 1), F16))
    with pytest.raises(ArgumentError, match="lengths"):
        model(half_input((2, 1, model.features), F16), lengths=[1, 1, 1])


def test_sampling_accepts_half_input():
    model = smk.Model.load(MODELS / "robot_arm.safetensors")
    x = half_input((3, model.features), F16, seed=6)
    head = next(h.name for h in model.heads if h.name == "action")
    a = model(x, sample={head: {}}, seed=9)
    b = model(x.astype(F32), sample={head: {}}, seed=9)
    np.testing.assert_array_equal(a[head], b[head])
