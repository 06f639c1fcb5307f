"""softmaxkit.from_keras against Keras' own predict: the networks of the
articles the library was built for, written in Keras 3 as the articles
write them (keras.ops.softmax for tf.nn.softmax), on the JAX backend.
Skipped, saying so, where keras or jax is not installed."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
pytest.importorskip("jax", reason="the Keras import tests run Keras on JAX: pip install 'jax[cpu]'")
keras = pytest.importorskip("keras", reason="the Keras import tests need keras 3: pip install keras")

import softmaxkit  # noqa: E402
from softmaxkit import Ensemble, Model  # noqa: E402
from keras_networks import ensemble, hierarchical, masked, member, multitask, partitioned, timesteps  # noqa: E402

TOL = 1e-5
rng = np.random.default_rng(2024)


def same(model, smk, x):
    ref = model.predict(x, verbose=0)
    ref = ref if isinstance(ref, (list, tuple)) else [ref]
    out = smk(x)
    assert len(out) == len(ref)
    for (name, got), r in zip(out.items(), ref):
        assert got.shape == r.shape, name
        np.testing.assert_allclose(got, r, atol=TOL, rtol=0, err_msg=name)
    return out


def test_multitask_branches():
    model = multitask()
    smk = softmaxkit.from_keras(model)
    assert isinstance(smk, Model)
    assert [h.name for h in smk.heads] == list(model.output_names)
    assert [h["output"] for h in smk.spec["heads"]] == ["softmax", "identity"]
    same(model, smk, rng.standard_normal((7, 100)).astype(np.float32))


def test_lstm_with_three_step_heads():
    model = timesteps()
    smk = softmaxkit.from_keras(model)
    assert [l.get("step") for l in smk.spec["layers"][1:]] == [0, 1, 2]
    out = same(model, smk, rng.standard_normal((4, 5, 8)).astype(np.float32))
    assert all(v.shape == (4, 10) for v in out.values())


def test_step_heads_of_a_model_loaded_from_a_keras_file(tmp_path):
    """A .keras file stores the step slice's key as a list: x[:, i, :] still
    converts after keras.saving.load_model (what `convert IN.keras` does)."""
    inputs = keras.Input(shape=(4, 3))
    rnn = keras.layers.LSTM(6, return_sequences=True)(inputs)
    model = keras.Model(inputs, [keras.ops.softmax(keras.layers.Dense(5)(rnn[:, i, :])) for i in (0, 2)])
    model.save(tmp_path / "steps.keras")
    again = keras.saving.load_model(tmp_path / "steps.keras")
    smk = softmaxkit.from_keras(again)
    assert [l.get("step") for l in smk.spec["layers"][1:]] == [0, 2]
    same(again, smk, rng.standard_normal((3, 4, 3)).astype(np.float32))


def test_two_model_ensemble_add_then_divide():
    model = ensemble()
    smk = softmaxkit.from_keras(model)
    assert isinstance(smk, Ensemble) and len(smk.models) == 2 and smk.mode == "arithmetic"
    same(model, smk, rng.standard_normal((9, 10)).astype(np.float32))


def test_average_layer_ensemble():
    a, b, c = member(8), member(12), member(16)
    inputs = keras.Input(shape=(10,))
    model = keras.Model(inputs, keras.layers.Average()([a(inputs), b(inputs), c(inputs)]))
    smk = softmaxkit.from_keras(model)
    assert isinstance(smk, Ensemble) and len(smk.models) == 3
    same(model, smk, rng.standard_normal((5, 10)).astype(np.float32))


def test_sum_not_divided_by_the_count_is_refused():
    a, b = member(8), member(8)
    inputs = keras.Input(shape=(10,))
    model = keras.Model(inputs, keras.ops.add(a(inputs), b(inputs)) / 3)
    with pytest.raises(ValueError, match="divided by 3"):
        softmaxkit.from_keras(model)


def test_partitioned_output_network():
    model = partitioned()
    smk = softmaxkit.from_keras(model)
    assert [h.name for h in smk.heads] == ["action_output", "force_output"]
    same(model, smk, rng.standard_normal((6, 10)).astype(np.float32))


def test_masked_softmax_network():
    model = masked()
    smk = softmaxkit.from_keras(model)
    head = smk.spec["heads"][0]
    assert head["output"] == "masked_softmax" and head["renormalize"] is False
    same(model, smk, rng.standard_normal((6, 10)).astype(np.float32))


def test_hierarchical_network_and_heads_override():
    model = hierarchical()
    smk = softmaxkit.from_keras(model)
    x_in = rng.standard_normal((5, 10)).astype(np.float32)
    out = same(model, smk, x_in)
    joint = softmaxkit.from_keras(model, heads={
        "coarse": None, "fine0": None, "fine1": None, "fine2": None,
        "joint": {"output": "hierarchical", "coarse": "coarse", "fine": ["fine0", "fine1", "fine2"]}})
    got = joint(x_in)["joint"]
    want = np.concatenate([out["coarse"][:, k:k + 1] * out[f"fine{k}"] for k in range(3)], axis=1)
    np.testing.assert_allclose(got, want, atol=TOL)
    hot = softmaxkit.from_keras(model, heads={"coarse": {"temperature": 2.0}})
    assert hot.spec["heads"][0] == {"name": "coarse", "layer": "coarse", "output": "softmax", "temperature": 2.0}
    p = hot(x_in)["coarse"]
    sharp = out["coarse"].astype(np.float64) ** 0.5  # softmax(z / 2) is the normalized square root of softmax(z)
    np.testing.assert_allclose(p, sharp / sharp.sum(1, keepdims=True), atol=TOL)


def test_sequential_with_noops_and_activation_layers():
    model = keras.Sequential([
        keras.Input(shape=(12,)),
        keras.layers.Dense(32), keras.layers.Activation("tanh"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(16, activation="gelu"),
        keras.layers.Dense(8, activation="silu"),
        keras.layers.Dense(5), keras.layers.Softmax(),
    ])
    smk = softmaxkit.from_keras(model)
    assert [h.name for h in smk.heads] == [model.layers[-1].name]
    assert [l["activation"] for l in smk.spec["layers"]] == ["tanh", "gelu", "silu", "identity"]
    same(model, smk, rng.standard_normal((4, 12)).astype(np.float32))


def test_log_softmax_and_sigmoid_heads_on_3d_input():
    inputs = keras.Input(shape=(5, 6))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    a = keras.ops.log_softmax(keras.layers.Dense(4)(h))
    b = keras.layers.TimeDistributed(keras.layers.Dense(2, activation="sigmoid"))(h)
    model = keras.Model(inputs, [a, b])
    smk = softmaxkit.from_keras(model)
    assert [h["output"] for h in smk.spec["heads"]] == ["log_softmax", "sigmoid"]
    same(model, smk, rng.standard_normal((3, 5, 6)).astype(np.float32))


def test_ops_sigmoid_and_activation_layers_as_head_transforms():
    inputs = keras.Input(shape=(6,))
    h = keras.layers.Activation("relu")(keras.layers.Dense(8)(inputs))
    a = keras.ops.sigmoid(keras.layers.Dense(3)(h))
    b = keras.layers.Activation("log_softmax")(keras.layers.Dense(4)(h))
    c = keras.layers.Softmax()(keras.layers.Dense(5)(h))
    model = keras.Model(inputs, [a, b, c])
    smk = softmaxkit.from_keras(model)
    assert [h["output"] for h in smk.spec["heads"]] == ["sigmoid", "log_softmax", "softmax"]
    same(model, smk, rng.standard_normal((3, 6)).astype(np.float32))


@pytest.mark.parametrize("seq", [True, False])
def test_gru_and_final_state(seq):
    inputs = keras.Input(shape=(7, 5))
    h = keras.layers.GRU(12, return_sequences=seq)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h))
    same(model, softmaxkit.from_keras(model), rng.standard_normal((3, 7, 5)).astype(np.float32))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional(kind):
    inputs = keras.Input(shape=(6, 5))
    rnn = getattr(keras.layers, kind)
    seq = keras.layers.Bidirectional(rnn(8, return_sequences=True))(inputs)
    last = keras.layers.Bidirectional(rnn(6))(seq)
    model = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax")(seq),
                                 keras.layers.Dense(2, activation="softmax")(last)])
    same(model, softmaxkit.from_keras(model), rng.standard_normal((3, 6, 5)).astype(np.float32))


def test_embedding_tagger():
    ids = keras.Input(shape=(None,), dtype="int32")
    e = keras.layers.Embedding(40, 8)(ids)
    h = keras.layers.LSTM(16, return_sequences=True)(e)
    model = keras.Model(ids, keras.layers.TimeDistributed(keras.layers.Dense(6, activation="softmax"))(h))
    smk = softmaxkit.from_keras(model)
    assert smk.vocabulary == 40
    x = rng.integers(0, 40, (3, 9)).astype(np.int32)
    np.testing.assert_allclose(smk(x)[smk.heads[0].name], model.predict(x, verbose=0), atol=TOL)


def test_nested_sequential_trunk():
    trunk = keras.Sequential([keras.Input(shape=(10,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(8, activation="relu")])
    inputs = keras.Input(shape=(10,))
    t = trunk(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax")(t), keras.layers.Dense(1)(t)])
    same(model, softmaxkit.from_keras(model), rng.standard_normal((4, 10)).astype(np.float32))


def test_gru_reset_after_false_is_a_clear_error():
    inputs = keras.Input(shape=(4, 3))
    model = keras.Model(inputs, keras.layers.GRU(5, reset_after=False, name="old_gru")(inputs))
    with pytest.raises(ValueError, match=r"old_gru.*GRU.*reset_after=False"):
        softmaxkit.from_keras(model)


@pytest.mark.parametrize("make, kind", [
    (lambda x: keras.layers.Conv1D(4, 3, name="bad")(x), "Conv1D"),
    (lambda x: keras.layers.LayerNormalization(name="bad")(keras.layers.Dense(4)(x)), "LayerNormalization"),
    (lambda x: keras.layers.MultiHeadAttention(2, 4, name="bad")(x, x), "MultiHeadAttention"),
    (lambda x: keras.layers.Dense(4, activation="elu", name="bad")(x), "elu"),
    (lambda x: keras.layers.LSTM(4, go_backwards=True, name="bad")(x), "go_backwards"),
])
def test_unsupported_layers_are_named(make, kind):
    inputs = keras.Input(shape=(6, 5))
    model = keras.Model(inputs, make(inputs))
    with pytest.raises(ValueError, match=f"'bad'.*{kind}|{kind}.*'bad'"):
        softmaxkit.from_keras(model)


def test_activation_after_a_shared_layer_is_refused():
    inputs = keras.Input(shape=(4,))
    d = keras.layers.Dense(3)(inputs)
    model = keras.Model(inputs, [d, keras.layers.Activation("relu", name="act")(d)])
    with pytest.raises(ValueError, match="'act'.*read elsewhere|'act'.*also read"):
        softmaxkit.from_keras(model)


def test_converted_model_saves_loads_and_draws(tmp_path):
    inputs = keras.Input(shape=(10,))
    h = keras.layers.Dense(8, activation="relu", name="trunk")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="choice")(h),
                                 keras.layers.Dense(1, name="value")(h)])
    smk = softmaxkit.from_keras(model)
    path = tmp_path / "m.safetensors"
    smk.save(path)
    again = Model.load(path)
    same(model, again, rng.standard_normal((2, 10)).astype(np.float32))
    dot = again.to_dot()
    assert dot.startswith("digraph") and '"layer:trunk"' in dot and '"head:choice"' in dot and "softmax [3]" in dot


def test_convert_command(tmp_path):
    import subprocess
    import sys
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="p")(inputs))
    src, dst = tmp_path / "m.keras", tmp_path / "m.safetensors"
    model.save(src)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    r = subprocess.run([sys.executable, "-m", "softmaxkit", "convert", str(src), str(dst)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(Model.load(dst)(x)["p"], model.predict(x, verbose=0), atol=TOL)


def test_convert_command_writes_an_ensemble_manifest(tmp_path):
    """A model averaging sub-models converts to a manifest plus one model
    file per member; softmaxkit.load_ensemble runs it as Keras does."""
    import subprocess
    import sys
    a, b = member(8), member(12)
    inputs = keras.Input(shape=(10,))
    model = keras.Model(inputs, keras.layers.Average()([a(inputs), b(inputs)]))
    src, dst = tmp_path / "e.keras", tmp_path / "e.safetensors"
    model.save(src)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    r = subprocess.run([sys.executable, "-m", "softmaxkit", "convert", str(src), str(dst)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "e.ensemble.json", "e.keras", "e.member0.safetensors", "e.member1.safetensors"]
    ens = softmaxkit.load_ensemble(tmp_path / "e.ensemble.json")
    assert isinstance(ens, Ensemble) and ens.mode == "arithmetic"
    same(model, ens, rng.standard_normal((4, 10)).astype(np.float32))
    dot = ens.to_dot()
    assert "cluster_member1" in dot and "arithmetic mean [3]" in dot


def _masked(kind, seq, bidi=False, stacked=False):
    ids = keras.Input(shape=(None,), dtype="int32")
    h = keras.layers.Embedding(30, 8, mask_zero=True)(ids)
    h = keras.layers.Dropout(0.5)(h)
    if stacked:
        h = getattr(keras.layers, kind)(6, return_sequences=True)(h)
    rnn = getattr(keras.layers, kind)(12, return_sequences=seq)
    h = keras.layers.Bidirectional(rnn)(h) if bidi else rnn(h)
    return keras.Model(ids, keras.layers.Dense(5, activation="softmax")(h))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("seq, bidi, stacked", [(False, False, False), (True, False, False), (False, True, False),
                                                (True, True, False), (True, False, True), (False, False, True)])
def test_mask_zero_is_lengths_of_trailing_padding(kind, seq, bidi, stacked):
    """Embedding(mask_zero=True): Keras' RNNs carry their state over the
    masked steps; for trailing padding those are the model's lengths. Final
    states and every real step equal Keras' predict; padding steps are 0."""
    model = _masked(kind, seq, bidi, stacked)
    smk = softmaxkit.from_keras(model)
    assert smk.padding_id == 0
    x = rng.integers(1, 30, (5, 7)).astype(np.int32)
    x[0, 4:] = 0
    x[1, 6:] = 0
    x[3, 1:] = 0
    x[4, :] = 0
    ref = model.predict(x, verbose=0)
    got = smk(x)[smk.heads[0].name]
    lens = [4, 6, 7, 1, 0]
    if not seq:
        np.testing.assert_allclose(got, ref, atol=TOL, rtol=0)
        return
    for b, n in enumerate(lens):
        np.testing.assert_allclose(got[b, :n], ref[b, :n], atol=TOL, rtol=0, err_msg=f"row {b}")
        assert not got[b, n:].any()


def test_mask_zero_with_padding_inside_a_row_is_a_clear_error():
    smk = softmaxkit.from_keras(_masked("LSTM", False))
    with pytest.raises(ValueError, match=r"ids\[1, 2\] is the padding id 0 before a non-padding id"):
        smk(np.array([[1, 2, 3, 4], [5, 6, 0, 7]], np.int32))
    # Explicit lengths still work (they take the place of the mask).
    x = np.array([[1, 2, 3, 0]], np.int32)
    np.testing.assert_allclose(smk(x, lengths=[3])[smk.heads[0].name], smk(x)[smk.heads[0].name])


def test_mask_zero_then_a_selected_step_is_refused():
    ids = keras.Input(shape=(6,), dtype="int32")
    h = keras.layers.LSTM(4, return_sequences=True)(keras.layers.Embedding(9, 3, mask_zero=True)(ids))
    model = keras.Model(ids, keras.layers.Dense(2, name="last")(h[:, 2, :]))
    with pytest.raises(ValueError, match="selects one step of a sequence masked by Embedding"):
        softmaxkit.from_keras(model)
