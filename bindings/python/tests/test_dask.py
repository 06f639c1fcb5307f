"""softmaxkit.dask on a real dask.distributed cluster (2 worker processes):
every function against its in-memory twin for arrays chunked along every
axis, uneven and single-element chunks, a reduction axis in 1 to 8 chunks;
models and ensembles chunked by rows; a worker killed mid-compute; graph
sizes. Skipped when Dask is not installed."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import softmaxkit as sk

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import softmaxkit.dask as skd  # noqa: E402
from dask_setup import client, logits  # noqa: E402,F401  (client: the module's cluster fixture)

MODELS = Path(__file__).resolve().parents[3] / "examples" / "models"
# Exact where the reduction axis is one chunk; otherwise the order of the
# sum of exponentials differs from the in-memory kernel's (double sums).
RTOL = {np.float32: 4e-6, np.float64: 1e-13}


# (shape, chunks, axis): every axis chunked, uneven and single-element chunks,
# the reduction axis in 1, 2, 3, 5 and 8 chunks.
CASES = [
    ((6, 40), (6, 40), -1),          # one chunk: bit for bit
    ((6, 40), (2, 20), -1),          # 2 chunks along the axis
    ((7, 41), (3, (1, 7, 13, 20)), 1),   # uneven, single element
    ((5, 64), (5, 8), 1),            # 8 chunks
    ((4, 9, 5), (2, 2, 3), 1),       # middle axis, every axis chunked
    ((9, 4, 3), (1, 2, 1), 0),       # first axis, single-element chunks everywhere
    ((3, 5, 17), (3, 5, 4), 2),      # 5 chunks
]


def close(got, want, exact):
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=RTOL[want.dtype.type], atol=1e-7 if want.dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("shape,chunks,axis", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalizers_match_in_memory(client, shape, chunks, axis, dtype):
    x = logits(shape, dtype)
    d = da.from_array(x, chunks=chunks)
    exact = d.numblocks[axis % x.ndim] == 1
    lazy, want = [], []
    for t in (1.0, 0.6):
        lazy += [skd.softmax(d, axis, temperature=t), skd.log_softmax(d, axis, temperature=t)]
        want += [sk.softmax(x, axis, temperature=t), sk.log_softmax(x, axis, temperature=t)]
    for keep in (False, True):
        lazy.append(skd.logsumexp(d, axis, keepdims=keep))
        want.append(sk.logsumexp(x, axis, keepdims=keep))
    for got, w in zip(dask.compute(*lazy), want):
        assert got.dtype == dtype and got.shape == w.shape
        close(got, w, exact)


def test_edge_rows_agree_exactly(client):
    x = np.array([[1.0, np.nan, 2.0, 3.0], [-np.inf] * 4, [np.inf, 1.0, 2.0, 3.0],
                  [-np.inf, 1.0, -np.inf, 1000.0]], dtype=np.float32)
    d = da.from_array(x, chunks=(1, 1))
    for f in ("softmax", "log_softmax"):
        np.testing.assert_array_equal(getattr(skd, f)(d).compute(), getattr(sk, f)(x))
    np.testing.assert_array_equal(skd.logsumexp(d).compute(), sk.logsumexp(x))


@pytest.mark.parametrize("shape,chunks,axis", CASES)
def test_masked_softmax(client, shape, chunks, axis):
    x = logits(shape)
    mask = np.random.default_rng(3).random(shape) > 0.4
    mask[0] = False  # a fully masked row
    d = da.from_array(x, chunks=chunks)
    exact = d.numblocks[axis % x.ndim] == 1
    for ren in (True, False):
        close(skd.masked_softmax(d, mask, axis, renormalize=ren).compute(),
              sk.masked_softmax(x, mask, axis, renormalize=ren), exact)


@pytest.mark.parametrize("shape,chunks,axis", CASES)
@pytest.mark.parametrize("k", [1, 3])
def test_topk_and_softmax_topk(client, shape, chunks, axis, k):
    x = logits(shape, np.float64)
    x[..., 0] = 1.5
    x[..., -1] = 1.5  # ties across chunks go to the lower index
    d = da.from_array(x, chunks=chunks)
    v, i = skd.topk(d, k, axis)
    wv, wi = sk.topk(x, k, axis)
    np.testing.assert_array_equal(v.compute(), wv)
    np.testing.assert_array_equal(i.compute(), wi)
    p, j = skd.softmax_topk(d, k, axis, temperature=0.8)
    wp, wj = sk.softmax_topk(x, k, axis, temperature=0.8)
    np.testing.assert_array_equal(j.compute(), wj)
    close(p.compute(), wp, d.numblocks[axis % x.ndim] == 1)


@pytest.mark.parametrize("chunks", [(4, 30), (3, 7), (1, (1, 2, 10, 17))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_index_targets(client, chunks, dtype):
    x = logits((8, 30), dtype)
    t = np.random.default_rng(2).integers(0, 30, 8)
    t[[1, 5]] = -100
    w = np.linspace(0.5, 2.0, 30)
    d = da.from_array(x, chunks=chunks)
    lazy, want = [], []
    for reduction in ("none", "mean", "sum"):
        for kw in ({}, {"weight": w}, {"label_smoothing": 0.1}, {"weight": w, "label_smoothing": 0.2},
                   {"ignore_index": 3}):
            tt = np.where(t == -100, kw.get("ignore_index", -100), t)
            lazy.append(skd.cross_entropy(d, da.from_array(tt, chunks=3), reduction=reduction, **kw))
            want.append(np.asarray(sk.cross_entropy(x, tt, reduction=reduction, **kw)))
    for got, w_ in zip(dask.compute(*lazy), want):
        got = np.asarray(got)
        assert got.dtype == w_.dtype and got.shape == w_.shape
        np.testing.assert_allclose(got, w_, rtol=RTOL[dtype] * 10, atol=1e-6 if dtype == np.float32 else 1e-13)


def test_cross_entropy_probability_targets_and_spatial(client):
    x = logits((4, 6, 5), np.float64)
    p = np.random.default_rng(4).random((4, 6, 5))
    p /= p.sum(axis=1, keepdims=True)
    d = da.from_array(x, chunks=(2, 2, 3))
    for red in ("none", "mean", "sum"):
        got = skd.cross_entropy(d, p, axis=1, reduction=red, label_smoothing=0.1).compute()
        np.testing.assert_allclose(got, sk.cross_entropy(x, p, axis=1, reduction=red, label_smoothing=0.1),
                                   rtol=1e-12)
    t = np.random.default_rng(5).integers(0, 6, (4, 5))
    got = skd.cross_entropy(d, t, axis=1, reduction="none").compute()
    np.testing.assert_allclose(got, sk.cross_entropy(x, t, axis=1, reduction="none"), rtol=1e-12)


def test_cross_entropy_bad_target_is_an_error(client):
    x = da.from_array(logits((4, 10)), chunks=(2, 5))
    with pytest.raises(sk.ArgumentError):
        skd.cross_entropy(x, np.array([0, 1, 10, 2])).compute()


@pytest.mark.parametrize("chunks", [(5, 12), (2, 12), (1, 5), (3, 1)])
def test_sample_same_draws_whatever_the_chunking(client, chunks):
    x = logits((9, 12), np.float64)
    d = da.from_array(x, chunks=chunks)
    for kw in ({}, {"top_k": 4, "temperature": 0.7}, {"num_samples": 3, "replacement": False}):
        got = skd.sample(d, seed=1234, **kw).compute()
        np.testing.assert_array_equal(got, sk.sample(x, seed=1234, **kw))
    idx, lp = skd.sample(d, seed=7, return_log_probs=True, top_p=0.9)
    wi, wl = sk.sample(x, seed=7, return_log_probs=True, top_p=0.9)
    np.testing.assert_array_equal(idx.compute(), wi)
    np.testing.assert_array_equal(lp.compute(), wl)


def test_sample_with_a_mask(client):
    x = logits((8, 10), np.float64)
    mask = np.random.default_rng(6).random((8, 10)) > 0.5
    d = da.from_array(x, chunks=(3, 4))
    np.testing.assert_array_equal(skd.sample(d, mask=mask, seed=5).compute(), sk.sample(x, mask=mask, seed=5))


def test_sample_over_a_leading_axis_of_a_3d_array(client):
    x = logits((6, 4, 5), np.float32)
    d = da.from_array(x, chunks=(2, 1, 2))
    np.testing.assert_array_equal(skd.sample(d, axis=0, seed=9).compute(), sk.sample(x, axis=0, seed=9))
    np.testing.assert_array_equal(skd.sample(d, axis=1, seed=9).compute(), sk.sample(x, axis=1, seed=9))


def test_models_pickle_by_value_and_load_once():
    m = sk.Model.load(MODELS / "digits.safetensors")
    b = pickle.dumps(m)
    m2, m3 = pickle.loads(b), pickle.loads(b)
    assert m2 is m3
    x = np.load(MODELS / "digits.input.npy")
    for h, v in m(x).items():
        np.testing.assert_array_equal(m2(x)[h], v)
    e = sk.Ensemble([sk.Model.load(MODELS / "ensemble_a.safetensors"),
                     sk.Model.load(MODELS / "ensemble_b.safetensors")], mode="geometric")
    e2 = pickle.loads(pickle.dumps(e))
    xe = np.load(MODELS / "ensemble_a.input.npy")
    for h, v in e(xe).items():
        np.testing.assert_array_equal(e2(xe)[h], v)


def _loads():
    import softmaxkit.model as mm
    return mm.unpickle_loads


def test_forward_model_and_ensemble_chunked_by_rows(client):
    m = sk.Model.load(MODELS / "digits.safetensors")
    x = np.load(MODELS / "digits.input.npy").astype(np.float32)
    x = np.concatenate([x] * 5)
    before = sum(client.run(_loads).values())
    out = skd.forward(m, da.from_array(x, chunks=(3, x.shape[1])))
    want = m(x)
    assert set(out) == set(want)
    for h, v in want.items():
        np.testing.assert_array_equal(out[h].compute(), v)
    # Loaded at most once per worker process, whatever the chunk count.
    assert sum(client.run(_loads).values()) - before <= 2
    e = sk.Ensemble([sk.Model.load(MODELS / "ensemble_a.safetensors"),
                     sk.Model.load(MODELS / "ensemble_b.safetensors")])
    xe = np.load(MODELS / "ensemble_a.input.npy").astype(np.float32)
    oute = skd.forward(e, da.from_array(xe, chunks=(1, xe.shape[1])))
    for h, v in e(xe).items():
        np.testing.assert_array_equal(oute[h].compute(), v)


def test_forward_chunked_by_steps(client):
    # Dense layers on every step (a dense trunk, three per-step heads): the
    # steps are independent, so any chunking of them gives the same values.
    sys.path.insert(0, str(MODELS.parent))
    from make_models import build
    spec, weights = build(5, 16, [
        ("encoder", "input", 64, "tanh"), ("dense_0", "encoder", 10, "identity"),
        ("dense_1", "encoder", 10, "identity"), ("dense_2", "encoder", 10, "identity")],
        [{"name": f"output_{i}", "layer": f"dense_{i}", "output": "softmax"} for i in range(3)])
    m = sk.Model.from_weights(spec, weights)
    x = np.random.default_rng(1).standard_normal((4, 7, m.features)).astype(np.float32)
    out = skd.forward(m, da.from_array(x, chunks=(3, 2, m.features)))
    for h, v in m(x).items():
        np.testing.assert_array_equal(out[h].compute(), v)


@pytest.mark.parametrize("name", ["timesteps", "tagger", "controller"])
def test_forward_of_a_recurrent_model_keeps_each_sequence_whole(client, name):
    # A step depends on the steps before it: chunks along steps are joined,
    # so any chunking gives model(x) (per-sequence heads [batch, size]).
    m = sk.Model.load(MODELS / f"{name}.safetensors")
    rng = np.random.default_rng(3)
    if name == "tagger":
        x = rng.integers(0, 100, (5, 7))
        chunks = (2, 3)
    else:
        x = rng.standard_normal((5, 7, m.features)).astype(np.float32)
        chunks = (2, 3, m.features)
    out = skd.forward(m, da.from_array(x, chunks=chunks))
    for h, v in m(x).items():
        got = out[h].compute()
        assert got.shape == v.shape
        np.testing.assert_allclose(got, v, rtol=1e-6, atol=1e-7)


def _slow(block):
    time.sleep(0.05)
    return block


def test_worker_killed_mid_compute_gives_the_right_result(client):
    x = logits((64, 96), np.float64, seed=8)
    d = da.from_array(x, chunks=(4, 24)).map_blocks(_slow, dtype=x.dtype)
    fut = client.compute(skd.softmax(d, -1))
    time.sleep(0.3)
    assert not fut.done()  # the kill lands mid-compute
    pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    y = fut.result(timeout=120)
    np.testing.assert_allclose(y, sk.softmax(x, -1), rtol=1e-13, atol=1e-16)
    client.wait_for_workers(2, timeout=60)


def test_graph_size_is_about_three_tasks_a_chunk():
    x = da.zeros((16, 64 * 32), chunks=(4, 32), dtype=np.float32)  # 4 x 64 blocks
    blocks = x.npartitions
    y = skd.softmax(x, -1)
    own = len(y.__dask_graph__()) - len(x.__dask_graph__())
    # state + finish per chunk, merges: 64/8 + 1 per row block.
    assert own <= 2 * blocks + 4 * (64 // 8 + 1)
    assert own <= 3 * blocks
    v, i = skd.softmax_topk(x, 5, -1)
    assert len(v.__dask_graph__()) - len(x.__dask_graph__()) <= 3 * blocks


def test_import_softmaxkit_does_not_import_dask():
    code = "import sys, softmaxkit; assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(Path(sk.__file__).resolve().parents[1]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_bad_arguments(client):
    d = da.from_array(logits((4, 10)), chunks=(2, 5))
    with pytest.raises(sk.ArgumentError):
        skd.softmax(d, 2)
    with pytest.raises(sk.ArgumentError):
        skd.topk(d, 11)
    with pytest.raises(sk.ArgumentError):
        skd.topk(d, 2, None)   # the in-memory topk takes one axis
    with pytest.raises(sk.ArgumentError):
        skd.softmax(d, (1, -1))  # an axis twice
    with pytest.raises(sk.ArgumentError):
        skd.sample(d, row_offset=-1)
    with pytest.raises(sk.ArgumentError):
        skd.softmax(d, -1, temperature=0.0)
    with pytest.raises(sk.ArgumentError):
        skd.softmax_topk(d, 2, temperature=float("nan"))
    with pytest.raises(sk.ArgumentError):
        skd.cross_entropy(d, np.zeros(4, np.int64), reduction="avg")


@pytest.mark.parametrize("shape,chunks,axis", CASES)
def test_masked_log_softmax(client, shape, chunks, axis):
    x = logits(shape)
    mask = np.random.default_rng(3).random(shape) > 0.4
    mask[0] = False  # a fully masked row: -inf throughout
    x[np.logical_not(mask)] = np.nan  # unselected values are never read
    d = da.from_array(x, chunks=chunks)
    exact = d.numblocks[axis % x.ndim] == 1
    got = skd.masked_log_softmax(d, mask, axis).compute()
    want = sk.masked_log_softmax(x, mask, axis)
    assert (got[~mask] == -np.inf).all()
    if exact:
        np.testing.assert_array_equal(got, want)
    else:  # (x - m) - log(s) cancels near 0: an absolute bound of a few float32 ulp of the terms
        np.testing.assert_allclose(np.where(mask, got, 0), np.where(mask, want, 0), rtol=4e-6, atol=1e-6)


@pytest.mark.parametrize("axis", [None, (0, 2), (1, 2), (2, 0)])
def test_axis_none_and_tuples(client, axis):
    x = logits((4, 9, 5), np.float64)
    d = da.from_array(x, chunks=(2, 4, 3))
    lazy = [skd.softmax(d, axis), skd.log_softmax(d, axis, temperature=0.7),
            skd.logsumexp(d, axis), skd.logsumexp(d, axis, keepdims=True)]
    want = [sk.softmax(x, axis), sk.log_softmax(x, axis, temperature=0.7),
            np.asarray(sk.logsumexp(x, axis)), np.asarray(sk.logsumexp(x, axis, keepdims=True))]
    for got, w in zip(dask.compute(*lazy), want):
        assert got.shape == w.shape
        close(np.asarray(got), w, False)
    whole = da.from_array(x, chunks=(4, 9, 5))  # one block: the in-memory call itself
    np.testing.assert_array_equal(skd.softmax(whole, axis).compute(), sk.softmax(x, axis))


def test_masked_axis_none(client):
    x = logits((6, 7), np.float64)
    mask = np.random.default_rng(6).random((6, 7)) > 0.5
    d = da.from_array(x, chunks=(4, 3))
    for ren in (True, False):
        close(skd.masked_softmax(d, mask, None, renormalize=ren).compute(),
              sk.masked_softmax(x, mask, None, renormalize=ren), False)
    got = skd.masked_log_softmax(d, mask, None).compute()
    np.testing.assert_allclose(np.where(mask, got, 0), np.where(mask, sk.masked_log_softmax(x, mask, None), 0),
                               rtol=1e-13, atol=1e-13)


def test_cross_entropy_split_classes_probability_targets_with_weights(client):
    x = logits((6, 23), np.float32)
    p = np.random.default_rng(11).random((6, 23)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    w = np.linspace(0.2, 3.0, 23)
    d = da.from_array(x, chunks=(4, (5, 1, 9, 8)))
    for red in ("none", "mean", "sum"):
        got = skd.cross_entropy(d, p, weight=w, label_smoothing=0.2, reduction=red).compute()
        want = sk.cross_entropy(x, p, weight=w, label_smoothing=0.2, reduction=red)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_sample_row_offset(client):
    x = logits((8, 12), np.float64)
    d = da.from_array(x, chunks=(3, 12))
    got = skd.sample(d, seed=5, row_offset=40).compute()
    np.testing.assert_array_equal(got, sk.sample(x, seed=5, row_offset=40))
