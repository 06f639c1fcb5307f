"""softmaxkit.from_onnx against ONNX Runtime on graphs torch.onnx exported
(Tests/fixtures/import/, written by make_onnx_fixtures.py with ONNX
Runtime's outputs): a multi-head MLP, GELU, an LSTM with step heads and a
final-state head, a bidirectional GRU, an embedding tagger; and a zoo of
real exports holding a node SoftmaxKit does not run, each an error naming
it. The committed converted files are checked without onnx installed;
the conversions are skipped, saying so, where onnx is missing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import softmaxkit
from softmaxkit import Model

HERE = Path(__file__).resolve().parents[3] / "Tests" / "fixtures" / "import"
CASES = ["mlp_multihead", "mlp_gelu", "lstm_steps", "lstm_final", "gru_bidirectional", "embedding_tagger", "steps_folded"]
TOL = 1e-5


def read_case(case: str) -> tuple[np.ndarray, dict]:
    lines = (HERE / f"{case}.txt").read_text().splitlines()
    x, outs = None, {}
    for head, vals in zip(lines[0::2], lines[1::2]):
        name, kind, *dims = head.split()
        a = np.array(vals.split(), dtype=np.float32 if kind == "f32" else np.int64).reshape([int(d) for d in dims])
        if name.startswith("out."):
            outs[name[4:]] = a
        else:
            x = a
    return x, outs


def compare(model, case):
    x, want = read_case(case)
    got = model(x)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=TOL, rtol=0, err_msg=f"{case}.{name}")


@pytest.mark.parametrize("case", CASES)
def test_committed_conversion_equals_onnxruntime(case):
    compare(Model.load(HERE / f"{case}.safetensors"), case)


def test_sklearn_mlp_classifier():
    """skl2onnx's MLPClassifier graph: Cast, MatMul + Add, Relu, Softmax;
    its "label" output (ArgMax and a class lookup) dropped with heads=."""
    if not (HERE / "sklearn_mlp.txt").exists():
        pytest.skip("no scikit-learn fixture (make_onnx_fixtures.py found no skl2onnx)")
    compare(Model.load(HERE / "sklearn_mlp.safetensors"), "sklearn_mlp")
    pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    compare(softmaxkit.from_onnx(HERE / "sklearn_mlp.onnx", heads={"label": None}), "sklearn_mlp")
    with pytest.raises(ValueError, match=r"\(ArgMax\)"):
        softmaxkit.from_onnx(HERE / "sklearn_mlp.onnx")


@pytest.mark.parametrize("case", CASES)
def test_conversion_equals_onnxruntime(case):
    pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    model = softmaxkit.from_onnx(HERE / f"{case}.onnx")
    compare(model, case)
    assert model.spec == Model.load(HERE / f"{case}.safetensors").spec


def test_onnxruntime_still_agrees():
    """The reference outputs are ONNX Runtime's for the committed graphs."""
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install onnxruntime")
    for case in CASES:
        x, want = read_case(case)
        sess = ort.InferenceSession(str(HERE / f"{case}.onnx"), providers=["CPUExecutionProvider"])
        for r, name in zip(sess.run(None, {"x": x}), want):
            np.testing.assert_allclose(r, want[name], atol=TOL, rtol=0)


def test_specs_found_the_structure():
    steps = Model.load(HERE / "lstm_steps.safetensors").spec
    assert [l.get("kind", "dense") for l in steps["layers"]] == ["lstm", "dense", "dense", "dense"]
    assert [l.get("step") for l in steps["layers"][1:]] == [0, 1, 2]
    gru = Model.load(HERE / "gru_bidirectional.safetensors").spec
    assert {l.get("sequence") for l in gru["layers"] if l.get("kind") == "gru"} == {True, False}
    assert all(l.get("bidirectional") for l in gru["layers"] if l.get("kind") == "gru")
    gelu = Model.load(HERE / "mlp_gelu.safetensors").spec
    assert gelu["layers"][0]["activation"] == "gelu"
    tagger = Model.load(HERE / "embedding_tagger.safetensors")
    assert tagger.vocabulary == 50


@pytest.mark.parametrize("case, names", [
    ("zoo_conv", r"\(Conv\)"),
    ("zoo_layernorm", r"\(LayerNormalization\)|\(ReduceMean\)"),
    ("zoo_attention", r"\(Reshape\)"),
    ("zoo_leaky_relu", r"\(LeakyRelu\)"),
    ("zoo_softmax_axis", r"\(Softmax\).*axis"),
])
def test_zoo_errors_name_the_node(case, names):
    pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    with pytest.raises(ValueError, match=names) as e:
        softmaxkit.from_onnx(HERE / f"{case}.onnx")
    assert "node " in str(e.value)


def test_heads_override():
    pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    x, want = read_case("mlp_multihead")
    m = softmaxkit.from_onnx(HERE / "mlp_multihead.onnx",
                             heads={"action": {"output": "masked_softmax", "mask": [1, 1, 0, 1]}, "gate": None})
    assert [h.name for h in m.heads] == ["action", "force"]
    got = m(x)["action"]
    p = want["action"] * np.array([1, 1, 0, 1], np.float32)
    np.testing.assert_allclose(got, p / p.sum(1, keepdims=True), atol=TOL)
    with pytest.raises(ValueError, match="not a head"):
        softmaxkit.from_onnx(HERE / "mlp_multihead.onnx", heads={"nope": None})
    # A partitioned layout over the same logits: softmax on the first two, log-softmax on the rest.
    part = softmaxkit.from_onnx(HERE / "mlp_multihead.onnx", heads={
        "action": {"output": "partitioned", "segments": [[2, "softmax"], [2, "log_softmax"]]}})
    got = part(x)["action"]
    p = want["action"].astype(np.float64)
    np.testing.assert_allclose(got[:, :2], p[:, :2] / p[:, :2].sum(1, keepdims=True), atol=TOL)
    np.testing.assert_allclose(got[:, 2:], np.log(p[:, 2:] / p[:, 2:].sum(1, keepdims=True)), atol=TOL)


def test_convert_command_and_dot(tmp_path):
    pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    out = tmp_path / "m.safetensors"
    r = subprocess.run([sys.executable, "-m", "softmaxkit", "convert", str(HERE / "gru_bidirectional.onnx"), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = Model.load(out)
    compare(m, "gru_bidirectional")
    dot = m.to_dot()
    assert "gru 8 -> 12 x2 bidirectional" in dot and '"head:tags"' in dot and "log_softmax [5]" in dot
    bad = subprocess.run([sys.executable, "-m", "softmaxkit", "convert", str(HERE / "zoo_conv.onnx"), str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "Conv" in bad.stderr


def test_import_softmaxkit_does_not_import_the_frameworks():
    code = ("import sys, softmaxkit; softmaxkit.from_onnx; softmaxkit.from_keras; "
            "bad = [m for m in ('onnx', 'keras', 'onnxruntime', 'jax', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_to_dot_draws_the_tree():
    """Model.to_dot (smk_model_dot): the same text smk info --dot prints."""
    dot = Model.load(HERE / "lstm_steps.safetensors").to_dot()
    assert dot.startswith("digraph model {\n") and dot.endswith("}\n")
    assert '"input" [shape=oval, label="input\\n8 features"];' in dot
    assert '"layer:rnn_LSTM" [label="rnn_LSTM\\nlstm 8 -> 16\\nevery step"];' in dot
    assert '"layer:rnn_LSTM" -> "layer:heads_2_Gemm" [label="step 2"];' in dot
    assert '"head:step0" [shape=note, label="step0\\nsoftmax [10]\\none row per sequence"];' in dot
    ids = Model.load(HERE / "embedding_tagger.safetensors").to_dot()
    assert "token ids, vocabulary 50" in ids and "embedding 50 x 8" in ids
    spec = {"softmaxkit": 1, "input": {"features": 2},
            "layers": [{"name": 'a"b\\c'}, {"name": "f0"}, {"name": "f1"}],
            "heads": [{"name": "joint", "output": "hierarchical", "coarse": 'a"b\\c', "fine": ["f0", "f1"]}]}
    w = {'a"b\\c.weight': np.ones((2, 2), np.float32), "f0.weight": np.ones((1, 2), np.float32),
         "f1.weight": np.ones((3, 2), np.float32)}
    dot = Model.from_weights(spec, w).to_dot()
    assert '"layer:a\\"b\\\\c" -> "head:joint" [label="coarse"];' in dot
    assert '"layer:f1" -> "head:joint" [label="fine"];' in dot


def _graph(nodes, inits, out_shape=None):
    onnx = pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    from onnx import TensorProto, helper, numpy_helper
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_reshape_that_changes_the_width_is_refused():
    """[batch, 4] reshaped to [-1, 2] mixes rows: an error, never a model."""
    helper = pytest.importorskip("onnx.helper", reason="from_onnx needs onnx: pip install onnx")
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    m = _graph([helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="fc"),
                helper.make_node("Reshape", ["h", "s"], ["y"], name="fold")],
               {"w": w, "s": np.array([-1, 2], np.int64)})
    with pytest.raises(ValueError, match=r"'fold' \(Reshape\)"):
        softmaxkit.from_onnx(m)
    keep = _graph([helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="fc"),
                   helper.make_node("Reshape", ["h", "s"], ["y"], name="same")],
                  {"w": w, "s": np.array([-1, 4], np.int64)})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(softmaxkit.from_onnx(keep)(x)["y"], x @ w.T, rtol=1e-6)


def test_gemm_alpha_beta_and_activation_folding():
    helper = pytest.importorskip("onnx.helper", reason="from_onnx needs onnx: pip install onnx")
    w, b = np.arange(6, dtype=np.float32).reshape(3, 2) / 7, np.array([0.5, -1.0], np.float32)
    m = _graph([helper.make_node("Gemm", ["x", "w", "b"], ["h"], alpha=0.5, beta=2.0, name="fc"),
                helper.make_node("Tanh", ["h"], ["y"])], {"w": w, "b": b})
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(softmaxkit.from_onnx(m)(x)["y"], np.tanh(0.5 * x @ w + 2 * b), rtol=1e-5, atol=1e-6)
    shared = _graph([helper.make_node("Gemm", ["x", "w"], ["h"], name="fc"),
                     helper.make_node("Relu", ["h"], ["r"], name="act"),
                     helper.make_node("Add", ["h", "r"], ["y"], name="sum")], {"w": w})
    with pytest.raises(ValueError, match=r"'act' \(Relu\)"):
        softmaxkit.from_onnx(shared)


def _lstm_with_lens(kind="LSTM", direction="forward", lens_everywhere=True):
    """x [batch, steps, 3] -> LSTM/GRU with sequence_lens from a graph input
    -> a per-step softmax head and a final-state head."""
    onnx = pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    from onnx import TensorProto, helper, numpy_helper
    r = np.random.default_rng(3)
    H, F, D = 4, 3, 2 if direction == "bidirectional" else 1
    G = 4 if kind == "LSTM" else 3
    inits = {"W": r.standard_normal((D, G * H, F)), "R": r.standard_normal((D, G * H, H)),
             "B": r.standard_normal((D, 2 * G * H)), "w_step": r.standard_normal((D * H, 5)),
             "b_step": r.standard_normal(5), "w_fin": r.standard_normal((2, D * H)),
             "perm": np.array([1, 0, 2]), "ax1": np.array([1]), "ax0": np.array([0]),
             "fold": np.array([0, 0, -1])}
    extra = {"linear_before_reset": 1} if kind == "GRU" else {}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node(kind, ["xt", "W", "R", "B", "lens"], ["Y", "Yh"], hidden_size=H,
                              direction=direction, name="rnn", **extra),
             helper.make_node("Transpose", ["Y"], ["Yb"], perm=[2, 0, 1, 3]),
             helper.make_node("Reshape", ["Yb", "fold"], ["Yf"]),
             helper.make_node("MatMul", ["Yf", "w_step"], ["s0"]),
             helper.make_node("Add", ["s0", "b_step"], ["s1"]),
             helper.make_node("Softmax", ["s1"], ["steps"], axis=-1)]
    if D == 1:
        nodes += [helper.make_node("Squeeze", ["Yh", "ax0"], ["h"])]
    else:
        nodes += [helper.make_node("Gather", ["Yh", "i0"], ["h0"], axis=0),
                  helper.make_node("Gather", ["Yh", "i1"], ["h1"], axis=0),
                  helper.make_node("Concat", ["h0", "h1"], ["h"], axis=1)]
        inits.update(i0=np.array(0), i1=np.array(1))
    nodes += [helper.make_node("Gemm", ["h", "w_fin"], ["final"], transB=1, name="fin")]
    if not lens_everywhere:
        nodes += [helper.make_node(kind, ["xt", "W", "R", "B"], ["Y2", "Yh2"], hidden_size=H, direction=direction,
                                   name="rnn_unlensed", **extra),
                  helper.make_node("Squeeze", ["Yh2", "ax0"], ["h2"]),
                  helper.make_node("Gemm", ["h2", "w_fin"], ["final2"], transB=1)]
    outs = [helper.make_tensor_value_info("steps", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("final", TensorProto.FLOAT, None)]
    if not lens_everywhere:
        outs.append(helper.make_tensor_value_info("final2", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "steps", F]),
                                       helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"])], outs,
                          [numpy_helper.from_array(np.asarray(v, np.float32 if np.asarray(v).dtype.kind == "f"
                                                              else np.int64), k) for k, v in inits.items()])
    return onnx, helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("kind, direction", [("LSTM", "forward"), ("GRU", "forward"), ("LSTM", "bidirectional"),
                                             ("GRU", "bidirectional")])
def test_sequence_lens_input_becomes_lengths(kind, direction):
    """A graph input read as sequence_lens: the model's lengths. Valid steps
    and final states equal ONNX Runtime's; padding steps are 0."""
    onnx, m = _lstm_with_lens(kind, direction)
    ort = pytest.importorskip("onnxruntime", reason="the comparison needs onnxruntime: pip install onnxruntime")
    model = softmaxkit.from_onnx(m)
    assert model.lengths_input == "lens"
    x = np.random.default_rng(4).standard_normal((3, 6, 3)).astype(np.float32)
    lens = np.array([6, 2, 4], np.int32)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want_steps, want_final = sess.run(None, {"x": x, "lens": lens})
    got = model(x, lengths=lens)
    np.testing.assert_allclose(got["final"], want_final, atol=TOL, rtol=0)
    for b, n in enumerate(lens):
        np.testing.assert_allclose(got["steps"][b, :n], want_steps[b, :n], atol=TOL, rtol=0)
        assert not got["steps"][b, n:].any()


def test_sequence_lens_read_by_some_recurrent_nodes_only_is_refused():
    _, m = _lstm_with_lens(lens_everywhere=False)
    with pytest.raises(ValueError, match=r"'lens'.*not of 'rnn_unlensed'"):
        softmaxkit.from_onnx(m)


def test_listed_pass_through_and_activation_nodes_with_external_weights(tmp_path):
    """Identity, Dropout (inference), Flatten of [batch, features], Tanh, the
    Gelu node of opset 20 (exact and tanh forms) and a Sigmoid head, the
    weights in an external data file: equal to ONNX Runtime. A Dropout in
    training mode is refused, naming it."""
    onnx = pytest.importorskip("onnx", reason="from_onnx needs onnx: pip install onnx")
    ort = pytest.importorskip("onnxruntime", reason="the comparison needs onnxruntime: pip install onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    r = np.random.default_rng(5)
    inits = {"w1": r.standard_normal((3, 8)), "b1": r.standard_normal(8), "w2": r.standard_normal((8, 6)),
             "w3": r.standard_normal((6, 5)), "b3": r.standard_normal(5), "w4": r.standard_normal((8, 4)),
             "w5": r.standard_normal((4, 2)), "ratio": np.array(0.3), "train": np.array(False)}
    nodes = [helper.make_node("Identity", ["x"], ["xi"], name="same"),
             helper.make_node("Flatten", ["xi"], ["xf"], axis=1, name="flat"),
             helper.make_node("Gemm", ["xf", "w1", "b1"], ["h1"], name="fc1"),
             helper.make_node("Tanh", ["h1"], ["a1"], name="tanh"),
             helper.make_node("Dropout", ["a1", "ratio", "train"], ["d1"], name="drop"),
             helper.make_node("MatMul", ["d1", "w2"], ["h2"], name="fc2"),
             helper.make_node("Gelu", ["h2"], ["a2"], name="gelu"),
             helper.make_node("Gemm", ["a2", "w3", "b3"], ["h3"], name="fc3"),
             helper.make_node("LogSoftmax", ["h3"], ["logp"], axis=-1, name="head"),
             helper.make_node("MatMul", ["d1", "w4"], ["h4"], name="fc4"),
             helper.make_node("Gelu", ["h4"], ["a4"], approximate="tanh", name="gelu_tanh"),
             helper.make_node("MatMul", ["a4", "w5"], ["h5"], name="fc5"),
             helper.make_node("Sigmoid", ["h5"], ["gate"], name="head2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                          [helper.make_tensor_value_info("logp", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("gate", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v, np.float32 if np.asarray(v).dtype.kind == "f"
                                                              else np.asarray(v).dtype), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
    path = tmp_path / "external.onnx"
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="external.weights",
              size_threshold=0)
    assert (tmp_path / "external.weights").stat().st_size > 0
    x = r.standard_normal((4, 3)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    model = softmaxkit.from_onnx(path)
    assert sorted(l["activation"] for l in model.spec["layers"]) == ["gelu", "gelu_tanh", "identity", "identity",
                                                                     "tanh"]
    assert [h["output"] for h in model.spec["heads"]] == ["log_softmax", "sigmoid"]
    got = model(x)
    np.testing.assert_allclose(got["logp"], want[0], atol=TOL, rtol=0)
    np.testing.assert_allclose(got["gate"], want[1], atol=TOL, rtol=0)
    train = helper.make_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc"),
         helper.make_node("Dropout", ["h", "ratio", "on"], ["y"], name="drop_train")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(inits["w1"].astype(np.float32), "w1"),
         numpy_helper.from_array(np.array(0.3, np.float32), "ratio"), numpy_helper.from_array(np.array(True), "on")]),
        opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match=r"'drop_train' \(Dropout\).*training_mode"):
        softmaxkit.from_onnx(train)
