"""softmaxkit.chunked: a row split into chunks, states merged in any tree,
finished per chunk, equals the whole-row kernels; bad arguments refused."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import chunked as ch


def _run(x, cuts, axis, t):
    parts = [np.take(x, np.arange(a, b), axis=axis) for a, b in zip(cuts, cuts[1:])]
    st = [ch.softmax_state(p, axis, temperature=t) for p in parts]
    # A two-level tree: pairs first, then the pairs' results.
    lvl = [ch.merge_states([a[0] for a in st[i:i + 2]], [a[1] for a in st[i:i + 2]], temperature=t)
           for i in range(0, len(st), 2)]
    m, s = ch.merge_states([a[0] for a in lvl], [a[1] for a in lvl], temperature=t)
    y = np.concatenate([ch.softmax_finish(p, m, s, axis, temperature=t) for p in parts], axis=axis)
    ly = np.concatenate([ch.log_softmax_finish(p, m, s, axis, temperature=t) for p in parts], axis=axis)
    return y, ly, m, s


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 4e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("cuts", [[0, 20], [0, 1, 20], [0, 7, 8, 20], [0, 3, 6, 9, 12, 15, 17, 19, 20]])
def test_chunks_equal_whole_rows(dtype, rtol, cuts):
    x = (np.random.default_rng(0).standard_normal((3, 20, 2)) * 5).astype(dtype)
    for t in (1.0, 0.5):
        y, ly, m, s = _run(x, cuts, 1, t)
        np.testing.assert_allclose(y, sk.softmax(x, 1, temperature=t), rtol=rtol, atol=1e-30)
        np.testing.assert_allclose(ly, sk.log_softmax(x, 1, temperature=t), rtol=rtol)
    _, _, m, s = _run(x, cuts, 1, 1.0)
    np.testing.assert_allclose(ch.logsumexp_finish(m, s, dtype)[:, 0], sk.logsumexp(x, 1), rtol=rtol)


def test_edge_rows_are_exact():
    x = np.array([[1, np.nan, 2, 3], [-np.inf] * 4, [np.inf, 1, 2, 3], [-np.inf, 1, -np.inf, 900]], np.float32)
    y, ly, m, s = _run(x, [0, 1, 3, 4], 1, 1.0)
    np.testing.assert_array_equal(y, sk.softmax(x))
    np.testing.assert_array_equal(ly, sk.log_softmax(x))
    np.testing.assert_array_equal(ch.logsumexp_finish(m, s, np.float32)[:, 0], sk.logsumexp(x))


def test_bad_arguments():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(sk.ArgumentError):
        ch.softmax_state(x, 1, temperature=0.0)
    with pytest.raises(sk.ArgumentError):
        ch.merge_states([], [])
    m, s = ch.softmax_state(x, 1)
    with pytest.raises(sk.ArgumentError):
        ch.softmax_finish(x, m[:1], s, 1)
    with pytest.raises(sk.ArgumentError):
        ch.logsumexp_finish(m, s, np.int32)


def _pieces(x, cuts, axis):
    return [np.take(x, np.arange(a, b), axis=axis) for a, b in zip(cuts, cuts[1:])]


def _merged_state(parts, axis, masks=None):
    if masks is None:
        st = [ch.softmax_state(p, axis) for p in parts]
    else:
        st = [ch.masked_softmax_state(p, mk, axis) for p, mk in zip(parts, masks)]
    return ch.merge_states([a[0] for a in st], [a[1] for a in st])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((4, 23), 1), ((3, 23, 2), 1), ((23, 3), 0)])
@pytest.mark.parametrize("k", [1, 4, 9])
def test_topk_merge_equals_whole_row_topk(dtype, shape, axis, k):
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, shape).astype(dtype)  # many ties, across chunks too
    x[(slice(0, 1),) * len(shape)] = np.nan
    np.put(x, [5, 17], np.nan)  # NaN in later chunks: ranks first, ties to the lower index
    cuts = [0, 4, 5, 13, 23]
    cand_v, cand_i = [], []
    for a, p in zip(cuts, _pieces(x, cuts, axis)):
        v, i = sk.topk(p, min(k, p.shape[axis]), axis)
        cand_v.append(v)
        cand_i.append(i + a)
    v, i = ch.topk_merge(np.concatenate(cand_v, axis), np.concatenate(cand_i, axis), k, axis)
    wv, wi = sk.topk(x, k, axis)
    np.testing.assert_array_equal(i, wi)
    np.testing.assert_array_equal(v, wv)


def test_topk_merge_bad_arguments():
    v = np.zeros((2, 4), np.float32)
    with pytest.raises(sk.ArgumentError):
        ch.topk_merge(v, np.zeros((2, 4), np.int64), 5, 1)
    with pytest.raises(sk.ArgumentError):
        ch.topk_merge(v, np.zeros((2, 3), np.int64), 2, 1)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 4e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("pattern", [False, True])
def test_masked_chunks_equal_in_memory(dtype, rtol, pattern):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((5, 20)) * 4).astype(dtype)
    mask = rng.random(20 if pattern else (5, 20)) > 0.3
    if not pattern:
        mask[0] = False          # a fully masked row
        mask[1, :10] = False     # a chunk with nothing selected
    x[2, ~(mask if pattern else mask[2])] = np.nan   # unselected NaN is never read
    x[3, ~(mask if pattern else mask[3])] = np.inf
    cuts = [0, 3, 10, 11, 20]
    parts = _pieces(x, cuts, 1)
    mparts = _pieces(np.broadcast_to(mask, x.shape), cuts, 1) if not pattern else \
        [mask[a:b] for a, b in zip(cuts, cuts[1:])]
    m, s = _merged_state(parts, 1, mparts)
    y = np.concatenate([ch.masked_softmax_finish(p, mk, m, s, 1) for p, mk in zip(parts, mparts)], 1)
    ly = np.concatenate([ch.masked_log_softmax_finish(p, mk, m, s, 1) for p, mk in zip(parts, mparts)], 1)
    want, lwant = sk.masked_softmax(x, mask), sk.masked_log_softmax(x, mask)
    np.testing.assert_allclose(y, want, rtol=rtol, atol=1e-30)
    # log-softmax near 0: (x - m) - log(s) cancels; an absolute bound of a
    # few ulp of the terms (the in-memory kernel subtracts in the input type).
    np.testing.assert_allclose(ly, lwant, rtol=rtol, atol=1e-6 if dtype == np.float32 else 1e-13)
    sel = np.broadcast_to(mask, x.shape)
    assert (y[~sel] == 0).all() and (ly[~sel] == -np.inf).all()  # exact, whatever x holds there
    # renormalize=False: states of the whole rows, the same finishing kernel.
    clean = np.where(np.isfinite(x), x, 0).astype(dtype)
    cparts = _pieces(clean, cuts, 1)
    m2, s2 = _merged_state(cparts, 1)
    y2 = np.concatenate([ch.masked_softmax_finish(p, mk, m2, s2, 1) for p, mk in zip(cparts, mparts)], 1)
    np.testing.assert_allclose(y2, sk.masked_softmax(clean, mask, renormalize=False), rtol=rtol, atol=1e-30)


def test_masked_chunk_bad_mask():
    x = np.ones((2, 4), np.float32)
    with pytest.raises(sk.ArgumentError):
        ch.masked_softmax_state(x, np.ones(3, bool), 1)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("kw", [{}, {"weight": True}, {"label_smoothing": 0.15}, {"weight": True, "label_smoothing": 0.3},
                                {"ignore_index": 2}])
def test_cross_entropy_chunks_sum_to_in_memory(dtype, rtol, kw):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((7, 19)) * 3).astype(dtype)
    t = rng.integers(0, 19, 7)
    t[[1, 4]] = kw.get("ignore_index", -100)
    w = np.linspace(0.5, 2.0, 19).astype(dtype) if kw.get("weight") else None
    kwargs = dict(ignore_index=kw.get("ignore_index", -100), label_smoothing=kw.get("label_smoothing", 0.0))
    cuts = [0, 5, 6, 14, 19]
    parts = _pieces(x, cuts, 1)
    m, s = _merged_state(parts, 1)
    loss, den = np.zeros(7), np.zeros(7)
    for a, b, p in zip(cuts, cuts[1:], parts):
        part, tw = ch.cross_entropy_chunk(p, m, s, t, 1, offset=a, classes=19,
                                          weight=None if w is None else w[a:b], **kwargs)
        assert part.dtype == np.float64 and part.shape == (7,)
        loss += part
        den += tw
    want = sk.cross_entropy(x, t, weight=w, reduction="none", **kwargs)
    np.testing.assert_allclose(loss, want, rtol=rtol, atol=1e-6)
    assert (loss[[1, 4]] == 0).all()
    np.testing.assert_allclose(loss.sum() / den.sum(), sk.cross_entropy(x, t, weight=w, **kwargs), rtol=rtol)
    # probability targets over the same split
    p = rng.random((7, 19)).astype(dtype)
    p /= p.sum(1, keepdims=True)
    ploss = sum(ch.cross_entropy_chunk(c, m, s, q, 1, offset=a, classes=19, weight=None if w is None else w[a:b],
                                       label_smoothing=kwargs["label_smoothing"])[0]
                for a, b, c, q in zip(cuts, cuts[1:], parts, _pieces(p, cuts, 1)))
    np.testing.assert_allclose(ploss, sk.cross_entropy(x, p, weight=w, reduction="none",
                                                       label_smoothing=kwargs["label_smoothing"]), rtol=rtol, atol=1e-6)


def test_cross_entropy_chunk_bad_arguments():
    x = np.zeros((2, 4), np.float32)
    m, s = ch.softmax_state(x, 1)
    with pytest.raises(sk.ArgumentError):   # target outside [0, classes): refused in every chunk
        ch.cross_entropy_chunk(x, m, s, np.array([0, 9]), 1, offset=0, classes=8)
    with pytest.raises(sk.ArgumentError):   # the chunk's classes not inside [0, classes)
        ch.cross_entropy_chunk(x, m, s, np.array([0, 1]), 1, offset=6, classes=8)
    with pytest.raises(sk.ArgumentError):
        ch.cross_entropy_chunk(x, m, s, np.array([0, 1]), 1, offset=0, classes=8, label_smoothing=1.5)
    with pytest.raises(sk.ArgumentError):
        ch.cross_entropy_chunk(x, m, s, np.array([0, 1]), 1, offset=0, classes=8, weight=np.ones(3))


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 4e-6), (np.float64, 1e-13)])
def test_row_and_column_paths_agree(dtype, rtol):
    # Contiguous rows take the vector path, a middle axis the strided one:
    # the same fibres through both.
    x = (np.random.default_rng(10).standard_normal((6, 300)) * 6).astype(dtype)
    x[1, 7] = np.nan
    x[2] = -np.inf
    x[3, 5] = np.inf
    x[4, 9] = -np.inf
    m1, s1 = ch.softmax_state(x, 1, temperature=0.7)
    m2, s2 = ch.softmax_state(np.ascontiguousarray(x.T), 0, temperature=0.7)
    np.testing.assert_array_equal(m1[:, 0], m2[0])
    np.testing.assert_allclose(s1[:, 0], s2[0], rtol=rtol)
    assert np.isnan(m1[1, 0]) and np.isnan(s1[1, 0])  # NaN state: (NaN, NaN)
    assert m1[2, 0] == -np.inf and s1[2, 0] == 0
    assert m1[3, 0] == np.inf and np.isnan(s1[3, 0])
    y1 = ch.softmax_finish(x, m1, s1, 1, temperature=0.7)
    y2 = ch.softmax_finish(np.ascontiguousarray(x.T), m2, s2, 0, temperature=0.7).T
    np.testing.assert_allclose(y1, y2, rtol=rtol * 4, atol=1e-30)
    np.testing.assert_array_equal(np.isnan(y1), np.isnan(y2))
    l1 = ch.log_softmax_finish(x, m1, s1, 1, temperature=0.7)
    l2 = ch.log_softmax_finish(np.ascontiguousarray(x.T), m2, s2, 0, temperature=0.7).T
    np.testing.assert_allclose(l1, l2, rtol=rtol * 4, atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 4e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("pattern", [False, True])
def test_masked_row_and_column_paths_agree(dtype, rtol, pattern):
    # The masked state and finish: contiguous rows (vector path) against a
    # middle axis (strided path) on the same fibres, the edge rows included,
    # lengths that leave a vector tail, and the finish in place.
    rng = np.random.default_rng(11)
    n = 301
    x = (rng.standard_normal((8, n)) * 6).astype(dtype)
    mask = rng.random(n if pattern else (8, n)) > 0.35
    sel = np.broadcast_to(mask, x.shape)
    x[0, ~sel[0]] = np.nan          # unselected NaN and inf are never read
    x[1, ~sel[1]] = np.inf
    x[2, np.flatnonzero(sel[2])[3]] = np.nan    # a selected NaN: (NaN, NaN)
    x[3, sel[3]] = -np.inf                      # all selected -inf: (-inf, 0)
    x[4, np.flatnonzero(sel[4])[5]] = np.inf    # a selected +inf: (+inf, NaN)
    x[5, np.flatnonzero(sel[5])[:4]] = -np.inf
    if not pattern:
        mask[6] = False                         # nothing selected: (-inf, 0)
    xt = np.ascontiguousarray(x.T)
    mt = mask[:, None] if pattern else np.ascontiguousarray(mask.T)
    m1, s1 = ch.masked_softmax_state(x, mask, 1)
    m2, s2 = ch.masked_softmax_state(xt, mt, 0)
    np.testing.assert_array_equal(m1[:, 0], m2[0])
    np.testing.assert_allclose(s1[:, 0], s2[0], rtol=rtol)
    assert np.isnan(m1[2, 0]) and np.isnan(s1[2, 0])
    assert m1[3, 0] == -np.inf and s1[3, 0] == 0
    assert m1[4, 0] == np.inf and np.isnan(s1[4, 0])
    if not pattern:
        assert m1[6, 0] == -np.inf and s1[6, 0] == 0
    for fin, atol, fill in ((ch.masked_softmax_finish, 1e-30, 0.0),
                            (ch.masked_log_softmax_finish, 1e-5 if dtype == np.float32 else 1e-12, -np.inf)):
        y1 = fin(x, mask, m1, s1, 1)
        y2 = fin(xt, mt, m2, s2, 0).T
        np.testing.assert_allclose(y1, y2, rtol=rtol * 4, atol=atol)
        np.testing.assert_array_equal(np.isnan(y1), np.isnan(y2))
        assert (y1[~sel] == fill).all()
        inplace = x.copy()
        fin(inplace, mask, m1, s1, 1, out=inplace)
        np.testing.assert_array_equal(inplace, y1)
    # Against the in-memory masked kernels on the finite rows.
    ok = [7] + ([6] if pattern else [])
    want = sk.masked_softmax(x[ok], mask if pattern else mask[ok])
    np.testing.assert_allclose(ch.masked_softmax_finish(x, mask, m1, s1, 1)[ok], want, rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("n", [1, 3, 8, 13, 300])
def test_cross_entropy_chunk_row_and_column_paths_agree(dtype, rtol, n):
    # The contiguous-row path of the cross-entropy part (vector blocks and a
    # tail) against the strided path, class and probability targets, with
    # weights and smoothing, and a NaN and an empty state.
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((6, n)) * 3).astype(dtype)
    x[1, 0] = np.nan
    m, s = ch.softmax_state(x, 1)
    m[2], s[2] = -np.inf, 0.0
    mt, st = m.T.copy(), s.T.copy()
    w = np.linspace(0.5, 2.0, n).astype(dtype)
    t = rng.integers(0, n + 5, 6)
    t[3] = -100
    p = rng.random((6, n)).astype(dtype)
    for kw in ({}, {"weight": w}, {"label_smoothing": 0.2}, {"weight": w, "label_smoothing": 0.4}):
        a, ta = ch.cross_entropy_chunk(x, m, s, t, 1, offset=2, classes=n + 5, **kw)
        b, tb = ch.cross_entropy_chunk(np.ascontiguousarray(x.T), mt, st, t, 0, offset=2, classes=n + 5, **kw)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_array_equal(ta, tb)
        assert a[3] == 0 and np.isnan(a[1]) == (kw.get("label_smoothing", 0) > 0 or 2 <= t[1] < 2 + n)
        pa, _ = ch.cross_entropy_chunk(x, m, s, p, 1, offset=2, classes=n + 5, **kw)
        pb, _ = ch.cross_entropy_chunk(np.ascontiguousarray(x.T), mt, st, np.ascontiguousarray(p.T), 0,
                                       offset=2, classes=n + 5, **kw)
        np.testing.assert_allclose(pa, pb, rtol=rtol, atol=1e-12)
        assert np.isnan(pa[1]) and np.isnan(pa[2])
