"""softmaxkit.dask on float16 and ml_dtypes.bfloat16 Dask arrays, on a real
dask.distributed cluster (2 worker processes), against the in-memory half
calls: softmax, log_softmax, logsumexp, cross_entropy (float32 losses, half
gradient), topk, softmax_topk and sample. Skipped without Dask or ml_dtypes.

A reduction axis held in one chunk runs the in-memory half call on each
block: bit for bit. A chunked axis widens each half chunk to float32
(exactly, as the library's half kernels do), runs the float32 chunk
kernels and rounds the outputs into the half type once: the float32 values
differ from the in-memory kernel's by the order of the sum (a few float32
ulp), so after rounding they are equal or one half ulp apart. topk (values
and indices), softmax_topk's indices and sample's draws are exact whatever
the chunking."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as sk

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
ml_dtypes = pytest.importorskip("ml_dtypes")
import softmaxkit.dask as skd  # noqa: E402
from dask_setup import client, logits  # noqa: E402,F401  (client: the module's cluster fixture)

HALVES = [np.float16, ml_dtypes.bfloat16]
#: One unit in the last place, relative (float16: 10 fraction bits; bfloat16: 7).
ULP = {np.dtype(np.float16): 2.0 ** -10, np.dtype(ml_dtypes.bfloat16): 2.0 ** -7}


def half_close(got, want, exact):
    """Equal, or (a chunked axis) at most one half ulp apart."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact:
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
        return
    g, w = got.astype(np.float64), want.astype(np.float64)
    # float16 has subnormals below 2^-14: there one ulp is 2^-24.
    tiny = 2.0 ** -24 if want.dtype == np.float16 else 0.0
    np.testing.assert_array_less(np.abs(g - w), ULP[want.dtype] * np.abs(w) * 1.0001 + tiny + 1e-300)


CASES = [((6, 40), (6, 40), -1), ((6, 40), (2, 20), -1), ((7, 41), (3, (1, 7, 13, 20)), 1),
         ((4, 9, 5), (2, 2, 3), 1)]


@pytest.mark.parametrize("shape,chunks,axis", CASES)
@pytest.mark.parametrize("dtype", HALVES)
def test_normalizers(client, shape, chunks, axis, dtype):
    x = logits(shape, dtype)
    d = da.from_array(x, chunks=chunks)
    exact = d.numblocks[axis % x.ndim] == 1
    lazy = [skd.softmax(d, axis), skd.log_softmax(d, axis), skd.softmax(d, axis, temperature=0.7),
            skd.logsumexp(d, axis), skd.logsumexp(d, axis, keepdims=True)]
    want = [sk.softmax(x, axis), sk.log_softmax(x, axis), sk.softmax(x, axis, temperature=0.7),
            np.asarray(sk.logsumexp(x, axis)), np.asarray(sk.logsumexp(x, axis, keepdims=True))]
    for got, w in zip(dask.compute(*lazy), want):
        assert lazy[0].dtype == dtype
        half_close(np.asarray(got), w, exact)


@pytest.mark.parametrize("chunks", [(6, 40), (2, 7), (3, (1, 2, 37))])
@pytest.mark.parametrize("dtype", HALVES)
def test_topk_and_softmax_topk(client, chunks, dtype):
    x = logits((6, 40), dtype, seed=1)
    x[0, :5] = x[0, 5]  # ties: the lower index first
    d = da.from_array(x, chunks=chunks)
    v, i = dask.compute(*skd.topk(d, 4))
    wv, wi = sk.topk(x, 4)
    half_close(v, wv, True)
    np.testing.assert_array_equal(i, wi)
    p, j = dask.compute(*skd.softmax_topk(d, 4, temperature=0.9))
    wp, wj = sk.softmax_topk(x, 4, temperature=0.9)
    np.testing.assert_array_equal(j, wj)
    half_close(p, wp, d.numblocks[1] == 1)


@pytest.mark.parametrize("chunks", [(4, 30), (3, 7), (1, (1, 2, 27))])
@pytest.mark.parametrize("dtype", HALVES)
def test_cross_entropy_loss_and_grad(client, chunks, dtype):
    x = logits((8, 30), dtype, seed=2)
    t = np.random.default_rng(3).integers(0, 30, 8)
    t[2] = -100
    w = np.linspace(0.5, 2.0, 30)
    d = da.from_array(x, chunks=chunks)
    one = d.numblocks[1] == 1
    for red in ("none", "mean", "sum"):
        for kw in ({}, {"weight": w, "label_smoothing": 0.1}):
            loss, g = skd.cross_entropy(d, t, reduction=red, return_grad=True, **kw)
            plain = skd.cross_entropy(d, t, reduction=red, **kw)
            assert loss.dtype == np.float32 and plain.dtype == np.float32 and g.dtype == dtype
            loss, g, plain = dask.compute(loss, g, plain)
            wl, wg = sk.cross_entropy(x, t, reduction=red, return_grad=True, **kw)
            wl = np.asarray(wl)
            assert np.asarray(loss).dtype == wl.dtype == np.float32
            if one and red == "none":
                np.testing.assert_array_equal(loss, wl)
            else:
                np.testing.assert_allclose(loss, wl, rtol=2e-5, atol=1e-6)
            np.testing.assert_array_equal(plain, loss)
            # The gradient of the summed losses is the in-memory call itself on
            # one chunk; the mean's divisor, or a chunked class axis, rounds once
            # more into the half type.
            half_close(g, wg, one and red != "mean")


@pytest.mark.parametrize("dtype", HALVES)
def test_sample_same_draws(client, dtype):
    x = logits((9, 50), dtype, seed=4)
    want = sk.sample(x, seed=7, top_p=0.9, return_log_probs=True)
    for chunks in ((9, 50), (2, 13), (1, 50)):
        got = dask.compute(*skd.sample(da.from_array(x, chunks=chunks), seed=7, top_p=0.9, return_log_probs=True))
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[1].dtype == want[1].dtype
