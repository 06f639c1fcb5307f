"""softmaxkit.dask.cross_entropy(return_grad=True) on a real
dask.distributed cluster (2 worker processes) against the in-memory
gradient, for a class axis in 1 to 8 chunks (uneven, single-element),
every reduction, weights, ignore_index and label smoothing; and the chunk
kernel (softmaxkit.chunked.cross_entropy_grad_chunk) on its own. Skipped
when Dask is not installed.

Tolerance: the chunk kernel computes each gradient element in double from
the row's merged state and rounds once; the in-memory kernel computes the
exponentials in the logits' dtype. They agree to
|got - want| <= ATOL * max|want| + RTOL * |want| (float32: 2e-6, 2e-5;
float64: 1e-13, 1e-11). A class axis held in one chunk with reduction
``none`` or ``sum`` is the in-memory call itself: bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import chunked as ch

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import softmaxkit.dask as skd  # noqa: E402
from dask_setup import client, logits  # noqa: E402,F401  (client: the module's cluster fixture)

TOL = {np.float32: (2e-6, 2e-5), np.float64: (1e-13, 1e-11)}


def grad_close(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    atol, rtol = TOL[want.dtype.type]
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(scale, 1e-30))


KWS = [{}, {"weight": np.linspace(0.5, 2.0, 30)}, {"label_smoothing": 0.1},
       {"weight": np.linspace(0.5, 2.0, 30), "label_smoothing": 0.2}, {"ignore_index": 3}]


@pytest.mark.parametrize("chunks", [(4, 30), (3, 7), (1, (1, 2, 10, 17)), (8, (4,) * 7 + (2,))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_matches_in_memory(client, chunks, dtype):
    x = logits((8, 30), dtype)
    t = np.random.default_rng(2).integers(0, 30, 8)
    t[[1, 5]] = -100
    d = da.from_array(x, chunks=chunks)
    lazy, want = [], []
    for reduction in ("none", "mean", "sum"):
        for kw in KWS:
            tt = np.where(t == -100, kw.get("ignore_index", -100), t)
            lazy.append(skd.cross_entropy(d, da.from_array(tt, chunks=3), reduction=reduction, return_grad=True, **kw))
            want.append(sk.cross_entropy(x, tt, reduction=reduction, return_grad=True, **kw))
    for i, ((gl, gg), (wl, wg)) in enumerate(zip(dask.compute(*lazy), want)):
        np.testing.assert_allclose(np.asarray(gl), np.asarray(wl), rtol=TOL[dtype][1] * 4,
                                   atol=1e-6 if dtype == np.float32 else 1e-13)
        # One class chunk and none/sum: the in-memory call itself. The mean's
        # divisor is applied by the chunk kernel (tolerance).
        if d.numblocks[1] == 1 and i // len(KWS) != 1:
            np.testing.assert_array_equal(gg, wg)
        else:
            grad_close(gg, wg)


def test_grad_spatial_class_axis_in_the_middle(client):
    x = logits((4, 9, 5), np.float64, seed=3)
    t = np.random.default_rng(5).integers(0, 9, (4, 5))
    t[0, 0] = -100
    d = da.from_array(x, chunks=(2, (1, 3, 5), 2))
    w = np.linspace(1.0, 3.0, 9)
    for red in ("none", "mean", "sum"):
        gl, gg = skd.cross_entropy(d, t, axis=1, weight=w, label_smoothing=0.3, reduction=red, return_grad=True)
        wl, wg = sk.cross_entropy(x, t, axis=1, weight=w, label_smoothing=0.3, reduction=red, return_grad=True)
        gl, gg = dask.compute(gl, gg)
        np.testing.assert_allclose(gl, wl, rtol=1e-12)
        grad_close(gg, wg)


def test_grad_every_target_ignored(client):
    x = logits((4, 10))
    t = np.full(4, -100)
    gl, gg = dask.compute(*skd.cross_entropy(da.from_array(x, chunks=(2, 3)), t, return_grad=True))
    wl, wg = sk.cross_entropy(x, t, return_grad=True)
    assert np.isnan(gl) and np.isnan(wl)
    np.testing.assert_array_equal(gg, wg)
    assert not gg.any()


def test_grad_one_sample_and_probability_targets(client):
    x = logits((12,), np.float64)
    gl, gg = dask.compute(*skd.cross_entropy(da.from_array(x, chunks=5), np.int64(4), label_smoothing=0.1,
                                             return_grad=True))
    wl, wg = sk.cross_entropy(x, np.int64(4), label_smoothing=0.1, return_grad=True)
    np.testing.assert_allclose(gl, wl, rtol=1e-12)
    grad_close(gg, wg)
    x = logits((6, 7), np.float64)
    p = np.random.default_rng(4).random((6, 7))
    p /= p.sum(axis=1, keepdims=True)
    d = da.from_array(x, chunks=(2, 7))
    for red in ("none", "mean", "sum"):
        gl, gg = dask.compute(*skd.cross_entropy(d, p, reduction=red, label_smoothing=0.1, return_grad=True))
        wl, wg = sk.cross_entropy(x, p, reduction=red, label_smoothing=0.1, return_grad=True)
        np.testing.assert_allclose(gl, wl, rtol=1e-12)
        grad_close(gg, wg)
    with pytest.raises(sk.ArgumentError, match="one chunk"):
        skd.cross_entropy(da.from_array(x, chunks=(2, 3)), p, return_grad=True)


def test_grad_bad_arguments(client):
    d = da.from_array(logits((4, 10)), chunks=(2, 5))
    with pytest.raises(sk.ArgumentError):
        skd.cross_entropy(d, np.array([0, 1, 10, 2]), return_grad=True)[1].compute()
    with pytest.raises(sk.ArgumentError):
        skd.cross_entropy(d, np.array([0, 1, 2, 3]), return_grad="yes")


def test_grad_chunk_kernel_parts_make_the_in_memory_gradient():
    """No Dask: the chunk kernel over each class chunk, from the merged
    state, concatenated, is the in-memory gradient."""
    for dtype in (np.float32, np.float64):
        x = logits((5, 23), dtype, seed=7)
        t = np.array([0, 22, -100, 11, 5])
        w = np.linspace(0.2, 1.7, 23)
        bounds = [0, 4, 5, 16, 23]
        parts = [x[:, a:b] for a, b in zip(bounds, bounds[1:])]
        states = [ch.softmax_state(p, 1) for p in parts]
        m, s = ch.merge_states([q[0] for q in states], [q[1] for q in states])
        for red, div in (("sum", 1.0), ("mean", float(w[t[t != -100]].sum()))):
            _, want = sk.cross_entropy(x, t, weight=w, label_smoothing=0.15, reduction=red, return_grad=True)
            got = np.concatenate([ch.cross_entropy_grad_chunk(p, m, s, t, 1, offset=a, classes=23, weight=w,
                                                              label_smoothing=0.15, divisor=div)
                                  for p, a in zip(parts, bounds)], axis=1)
            grad_close(got, want.astype(dtype))
    p = x[:, :4]
    with pytest.raises(sk.ArgumentError, match="divisor"):
        ch.cross_entropy_grad_chunk(p, m, s, t, 1, offset=0, classes=23, divisor=0.0)
    with pytest.raises(sk.ArgumentError, match="weight"):
        ch.cross_entropy_grad_chunk(p, m, s, t, 1, offset=0, classes=23, weight=w[:4])
    with pytest.raises(sk.ArgumentError):
        ch.cross_entropy_grad_chunk(p, m, s, t, 1, offset=20, classes=23)
    with pytest.raises(sk.ArgumentError):
        ch.cross_entropy_grad_chunk(p, m, s, np.array([0, 23, 1, 1, 1]), 1, offset=0, classes=23)
    bad_m = m.copy()
    bad_m[0] = np.nan
    g = ch.cross_entropy_grad_chunk(p, bad_m, s, t, 1, offset=0, classes=23)
    assert np.isnan(g[0]).all() and np.isfinite(g[1:]).all()
