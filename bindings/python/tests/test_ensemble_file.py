"""An ensemble on disk (a JSON manifest naming one model file per member,
what ``python -m softmaxkit convert`` writes for a model that averages
sub-models), its DOT picture, and lengths from a padding id. Needs numpy
only."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import softmaxkit as smk
from softmaxkit import Ensemble, Model

rng = np.random.default_rng(7)


def _ensemble(mode="arithmetic"):
    spec = {"softmaxkit": 1, "input": {"features": 4},
            "layers": [{"name": "fc", "input": "input", "activation": "relu"}, {"name": "out", "input": "fc"},
                       {"name": "val", "input": "fc"}],
            "heads": [{"name": "p", "layer": "out", "output": "softmax"}, {"name": "v", "layer": "val", "output": "identity"}]}
    models = []
    for hidden in (5, 7, 9):
        w = {"fc.weight": rng.standard_normal((hidden, 4)), "fc.bias": rng.standard_normal(hidden),
             "out.weight": rng.standard_normal((3, hidden)), "val.weight": rng.standard_normal((2, hidden))}
        models.append(Model.from_weights(spec, w))
    return Ensemble(models, mode)


@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
def test_manifest_round_trip(tmp_path, mode):
    ens = _ensemble(mode)
    written = ens.save(tmp_path / "e.ensemble.json")
    assert [p.rsplit("/", 1)[-1] for p in written] == [
        "e.member0.safetensors", "e.member1.safetensors", "e.member2.safetensors", "e.ensemble.json"]
    manifest = json.loads((tmp_path / "e.ensemble.json").read_text())
    assert manifest["mode"] == mode and manifest["softmaxkit_ensemble"] == 1
    assert manifest["members"][1] == {"path": "e.member1.safetensors", "sha256": hashlib.sha256(
        (tmp_path / "e.member1.safetensors").read_bytes()).hexdigest()}
    again = smk.load_ensemble(tmp_path / "e.ensemble.json")
    assert isinstance(again, Ensemble) and again.mode == mode and len(again.models) == 3
    x = rng.standard_normal((6, 4)).astype(np.float32)
    want, got = ens(x), again(x)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    # Each member file is an ordinary model file (what C and Swift load).
    np.testing.assert_array_equal(Model.load(tmp_path / "e.member2.safetensors")(x)["v"], ens.models[2](x)["v"])


def test_manifest_paths_are_relative_to_it(tmp_path, monkeypatch):
    _ensemble().save(tmp_path / "e.json")
    monkeypatch.chdir("/")
    assert len(Ensemble.load(str(tmp_path / "e.json")).models) == 3
    assert (tmp_path / "e.member0.safetensors").exists()


def _write(tmp_path, **change):
    _ensemble().save(tmp_path / "e.json")
    m = json.loads((tmp_path / "e.json").read_text())
    m.update(change)
    (tmp_path / "e.json").write_text(json.dumps(m))
    return tmp_path / "e.json"


def test_a_missing_member_is_named(tmp_path):
    path = _write(tmp_path)
    (tmp_path / "e.member1.safetensors").unlink()
    with pytest.raises(smk.FileError, match=r'members\[1\] "e.member1.safetensors"'):
        Ensemble.load(path)


@pytest.mark.parametrize("change, message", [
    ({"mode": "median"}, r'mode "median" is unknown \(expected one of arithmetic, geometric, logits\)'),
    ({"softmaxkit_ensemble": 2}, "manifest version 2"),
    ({"members": []}, "non-empty list"),
    ({"members": [{"file": "x"}]}, r"members\[0\] must be a path"),
    ({"extra": 1}, r'unknown key\(s\) "extra"'),
    ({"padding_id": "0"}, "padding_id must be a non-negative integer"),
    ({"padding_id": 0}, "float features, not token ids"),
    ({"members": ["../e.member0.safetensors"]}, "leaves the manifest's folder"),
    ({"members": ["/etc/passwd"]}, "is absolute"),
    ({"members": ["a//b"]}, "empty component"),
    ({"members": ["a\\b"]}, "backslash"),
    ({"members": ["a\nb"]}, "control character"),
    ({"members": [""]}, "is empty"),
    ({"members": ["e.member0.safetensors"] * 1025}, "more than the 1024"),
    ({"members": [{"path": "e.member0.safetensors", "sha256": "xyz"}]}, "64 hexadecimal digits"),
    ({"softmaxkit_ensemble": "1"}, "manifest version"),
])
def test_bad_manifests_are_clear_errors(tmp_path, change, message):
    with pytest.raises(smk.ArgumentError, match=message):
        Ensemble.load(_write(tmp_path, **change))


def test_a_replaced_member_and_non_manifests_are_refused(tmp_path):
    path = _write(tmp_path)
    (tmp_path / "e.member0.safetensors").write_bytes((tmp_path / "e.member2.safetensors").read_bytes())
    with pytest.raises(smk.ArgumentError, match=r"members\[0\].*SHA-256 differs"):
        Ensemble.load(path)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(smk.ArgumentError, match="not an ensemble manifest"):
        Ensemble.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"mode": "arithmetic"}')
    with pytest.raises(smk.ArgumentError, match="no \"softmaxkit_ensemble\" key"):
        Ensemble.load(tmp_path / "y.json")
    # A member that is not a model file: its error, naming the member.
    m = json.loads(path.read_text())
    m["members"] = ["x.json"]
    path.write_text(json.dumps(m))
    with pytest.raises(smk.ArgumentError, match=r'members\[0\] "x.json"'):
        Ensemble.load(path)
    with pytest.raises(smk.FileError, match="absent.json: cannot read the ensemble manifest"):
        Ensemble.load(tmp_path / "absent.json")


def test_members_that_do_not_ensemble_are_refused(tmp_path):
    a = _ensemble()
    a.save(tmp_path / "e.json")
    other = Model.from_weights({"softmaxkit": 1, "input": {"features": 3}, "layers": [{"name": "o", "input": "input"}],
                                "heads": [{"name": "p", "layer": "o", "output": "softmax"}]},
                               {"o.weight": np.eye(3)})
    other.save(tmp_path / "e.member1.safetensors")
    m = json.loads((tmp_path / "e.json").read_text())
    del m["members"][1]["sha256"]
    (tmp_path / "e.json").write_text(json.dumps(m))
    with pytest.raises(smk.ArgumentError):
        Ensemble.load(tmp_path / "e.json")


def test_ensemble_to_dot():
    ens = _ensemble("geometric")
    dot = ens.to_dot()
    assert dot.startswith("digraph ensemble {\n") and dot.endswith("}\n")
    assert dot.count('"input" [shape=oval') == 1
    for k in range(3):
        assert f"subgraph cluster_member{k} {{" in dot
        assert f'"input" -> "m{k}:layer:fc"' in dot
        assert f'"m{k}:layer:fc" -> "m{k}:layer:out"' in dot
        assert f'"m{k}:head:p" -> "ensemble:p";' in dot
    assert '"ensemble:v" [shape=ellipse, label="v\\ngeometric mean [2]"];' in dot
    # Every node an edge names is declared.
    import re
    declared = set(re.findall(r'^\s*"([^"]+)" \[', dot, re.M))
    for a, b in re.findall(r'"([^"]+)" -> "([^"]+)"', dot):
        assert a in declared and b in declared, (a, b)


def _tagger(vocab=12, units=4):
    spec = {"softmaxkit": 1, "input": {"vocabulary": vocab},
            "layers": [{"name": "emb", "kind": "embedding", "input": "input"},
                       {"name": "rnn", "kind": "lstm", "input": "emb", "units": units, "sequence": True},
                       {"name": "out", "input": "rnn"}],
            "heads": [{"name": "tag", "layer": "out", "output": "softmax"}]}
    w = {"emb.weight": rng.standard_normal((vocab, 3)), "rnn.weight_ih_l0": rng.standard_normal((4 * units, 3)),
         "rnn.weight_hh_l0": rng.standard_normal((4 * units, units)), "rnn.bias_ih_l0": rng.standard_normal(4 * units),
         "rnn.bias_hh_l0": rng.standard_normal(4 * units), "out.weight": rng.standard_normal((5, units))}
    return Model.from_weights(spec, w)


def test_padding_lengths():
    ids = np.array([[3, 4, 0, 0], [5, 6, 7, 8], [0, 0, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(smk.model.padding_lengths(ids), [2, 4, 0, 1])
    with pytest.raises(smk.ArgumentError, match=r"ids\[1, 1\] is the padding id 0 before a non-padding id"):
        smk.model.padding_lengths(np.array([[1, 2, 3], [4, 0, 5]]))
    with pytest.raises(smk.ArgumentError, match=r"ids\[0, 0\]"):
        smk.model.padding_lengths(np.array([[0, 2, 3]]))


def test_padding_id_gives_lengths(tmp_path):
    m = _tagger()
    ids = rng.integers(1, 12, (3, 5))
    ids[0, 3:] = 0
    ids[2, 1:] = 0
    want = m(ids, lengths=[3, 5, 1])["tag"]
    plain = m(ids)["tag"]  # no padding id: zeros are ordinary tokens
    assert not np.array_equal(plain, want)
    m.padding_id = 0
    np.testing.assert_array_equal(m(ids)["tag"], want)
    np.testing.assert_array_equal(m(ids, lengths=[5, 5, 5])["tag"], plain)  # given lengths win
    with pytest.raises(smk.ArgumentError, match="padding id 0 before a non-padding id"):
        m(np.array([[1, 0, 2]]))
    # The manifest keeps it for an ensemble.
    ens = Ensemble([m, _tagger()])
    ens.padding_id = 0
    ens.save(tmp_path / "t.json")
    again = Ensemble.load(tmp_path / "t.json")
    assert again.padding_id == 0
    np.testing.assert_array_equal(again(ids)["tag"], ens(ids, lengths=[3, 5, 1])["tag"])


def test_a_fifo_member_or_manifest_is_refused_without_blocking(tmp_path):
    import os
    path = _write(tmp_path)
    (tmp_path / "e.member1.safetensors").unlink()
    os.mkfifo(tmp_path / "e.member1.safetensors")
    with pytest.raises(smk.FileError, match=r'members\[1\].*not a regular file'):
        Ensemble.load(path)
    os.mkfifo(tmp_path / "m.json")
    with pytest.raises(smk.FileError, match="not a regular file"):
        Ensemble.load(tmp_path / "m.json")
    with pytest.raises(smk.FileError, match="not a regular file"):
        Ensemble.load(tmp_path)  # a directory


def test_manifest_limits_and_duplicates(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"softmaxkit_ensemble": 1, "members": ["a"], "pad": "' + "x" * (1 << 20) + '"}')
    with pytest.raises(smk.ArgumentError, match="over 1048576 bytes"):
        Ensemble.load(path)
    path.write_text('{"softmaxkit_ensemble": 1, "softmaxkit_ensemble": 1, "members": ["a"]}')
    with pytest.raises(smk.ArgumentError, match="not an ensemble manifest"):
        Ensemble.load(path)


def test_members_in_a_subfolder_and_string_entries(tmp_path):
    ens = _ensemble()
    (tmp_path / "sub").mkdir()
    ens.save(tmp_path / "sub" / "e.json")
    m = json.loads((tmp_path / "sub" / "e.json").read_text())
    m["members"] = ["sub/" + e["path"] for e in m["members"]]  # plain paths, no sha256
    (tmp_path / "top.json").write_text(json.dumps(m))
    again = Ensemble.load(tmp_path / "top.json")
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(again(x)["p"], ens(x)["p"])
    assert again.mode == "arithmetic" and again.padding_id is None


def test_loaded_members_outlive_the_ensemble(tmp_path):
    import gc
    _ensemble("logits").save(tmp_path / "e.json")
    ens = Ensemble.load(tmp_path / "e.json")
    x = rng.standard_normal((2, 4)).astype(np.float32)
    want = ens.models[1](x)["v"]
    member = ens.models[1]
    del ens
    gc.collect()
    np.testing.assert_array_equal(member(x)["v"], want)
    import pickle
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(member))(x)["v"], want)


def test_the_sha256_matches_hashlib(tmp_path):
    # The library's SHA-256 of each member against Python's, on files of
    # several lengths around the 64-byte block edges (one model, padded
    # metadata changes its length).
    for k in range(3):
        _ensemble().save(tmp_path / f"s{k}.json")
        m = json.loads((tmp_path / f"s{k}.json").read_text())
        for e in m["members"]:
            assert e["sha256"] == hashlib.sha256((tmp_path / e["path"]).read_bytes()).hexdigest()


def test_save_refuses_a_padding_id_outside_the_vocabulary(tmp_path):
    ens = Ensemble([_tagger(), _tagger()])
    ens.padding_id = 12
    with pytest.raises(smk.ArgumentError, match=r"outside the vocabulary \[0, 12\)"):
        ens.save(tmp_path / "t.json")
    ens.padding_id = -3
    with pytest.raises(smk.ArgumentError, match="non-negative integer"):
        ens.save(tmp_path / "t.json")


def test_a_model_file_keeps_its_padding_id(tmp_path):
    m = _tagger()
    spec = m.spec
    spec["input"]["padding_id"] = 0
    padded = Model.from_weights(spec, m.weights)
    assert padded.padding_id == 0 and m.padding_id is None
    padded.save(tmp_path / "p.safetensors")
    again = Model.load(tmp_path / "p.safetensors")
    assert again.padding_id == 0 and again.spec["input"] == {"vocabulary": 12, "padding_id": 0}
    ids = rng.integers(1, 12, (2, 5))
    ids[0, 2:] = 0
    np.testing.assert_array_equal(again(ids)["tag"], m(ids, lengths=[2, 5])["tag"])
    # An ensemble of such models takes their common padding id (and keeps it in its manifest).
    ens = Ensemble([padded, again])
    assert ens.padding_id == 0 and Ensemble([padded, m]).padding_id is None
    ens.save(tmp_path / "pe.json")
    assert json.loads((tmp_path / "pe.json").read_text())["padding_id"] == 0
    np.testing.assert_array_equal(Ensemble.load(tmp_path / "pe.json")(ids)["tag"], ens(ids, lengths=[2, 5])["tag"])
    # Refused where it cannot mean anything.
    for bad, message in (({"vocabulary": 12, "padding_id": 12}, "outside the vocabulary"),
                         ({"features": 3, "padding_id": 0}, "only an input of token ids")):
        spec["input"] = bad
        with pytest.raises(smk.ArgumentError, match=message):
            Model.from_weights(spec, m.weights)


def test_padding_lengths_edge_cases():
    pl = smk.model.padding_lengths
    np.testing.assert_array_equal(pl(np.zeros((0, 3), np.int64)), np.zeros(0, np.int64))
    np.testing.assert_array_equal(pl(np.zeros((2, 0), np.int64)), [0, 0])
    np.testing.assert_array_equal(pl(np.array([[9, 7, 7], [7, 7, 7]], np.uint8), padding_id=7), [1, 0])
    with pytest.raises(smk.ArgumentError, match=r"ids\[0, 0\] is the padding id 7"):
        pl(np.array([[7, 7, 9]], np.uint8), padding_id=7)
    with pytest.raises(smk.ArgumentError, match="non-negative"):
        pl(np.array([[1, 2]]), padding_id=-1)
