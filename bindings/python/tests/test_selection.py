"""hardmax, argmax, topk and softmax_topk against numpy, the ordering rules
(first maximum wins, NaN highest), and bad k."""
import numpy as np
import pytest

import softmaxkit as smk
import references as ref

RNG = np.random.default_rng(5)


def ref_topk(x, k, axis):
    """Stable descending order: ties keep the lower index first."""
    order = np.argsort(-np.moveaxis(x, axis, -1), axis=-1, kind="stable")[..., :k]
    vals = np.take_along_axis(np.moveaxis(x, axis, -1), order, -1)
    return np.moveaxis(vals, -1, axis), np.moveaxis(order, -1, axis)


@pytest.mark.parametrize("shape,axis", [((9,), -1), ((4, 70), -1), ((6, 5), 0), ((3, 8, 4), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_hardmax_topk(shape, axis, dtype):
    x = np.round(RNG.normal(scale=3, size=shape)).astype(dtype)   # rounding makes ties
    idx = smk.argmax(x, axis)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, np.argmax(x, axis))
    h = smk.hardmax(x, axis)
    assert h.dtype == dtype
    np.testing.assert_array_equal(np.argmax(h, axis), np.argmax(x, axis))
    assert (h.sum(axis) == 1).all()
    k = min(3, x.shape[axis])
    v, i = smk.topk(x, k, axis)
    rv, ri = ref_topk(x, k, axis)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(v, rv)


def test_nan_ranks_highest_and_large_k():
    x = np.array([1.0, np.nan, 5.0, np.nan])
    assert smk.argmax(x) == np.argmax(x) == 1
    v, i = smk.topk(x, 3)
    assert list(i) == [1, 3, 2]
    y = np.floor(RNG.normal(scale=20, size=500))
    v, i = smk.topk(y, 200)                         # k > 64: the sorting path
    rv, ri = ref_topk(y, 200, -1)
    np.testing.assert_array_equal(i, ri)


@pytest.mark.parametrize("n", [1, 15, 64, 65, 1023, 1025, 32000])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_softmax_topk_equals_softmax_then_topk(n, temperature):
    x = RNG.normal(scale=6, size=(3, n))
    k = min(16, n)
    p, i = smk.softmax_topk(x, k, temperature=temperature)
    full = ref.softmax(x / temperature)
    rv, ri = ref_topk(full, k, -1)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(p, rv, rtol=1e-13)
    p32, i32 = smk.softmax_topk(x.astype(np.float32), k, temperature=temperature)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, np.take_along_axis(ref.softmax(x.astype(np.float32) / temperature), i32, -1),
                               rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [33, 128, 1000, 2500, 4096])
def test_softmax_topk_candidates_collected_in_the_exp_sum(dtype, n):
    # A row's first block collects the elements at or above a floor inside
    # its exp-sum loop and ranks them in registers; later blocks (rows over
    # 1024) collect those above the k-th while some enter (ascending rows:
    # every block), then only compare their max (descending rows); ties at
    # the floor that overflow the candidate buffer, NaN and all -inf blocks
    # take the one-by-one admission. Every row must come out in topk's order
    # with softmax's probabilities.
    rng = np.random.default_rng(11)
    kinds = [rng.uniform(-4, 4, n), rng.normal(size=n), np.round(rng.normal(scale=2, size=n)),
             np.full(n, 1.5), np.arange(n, dtype=float), -np.arange(n, dtype=float)]
    x = np.stack(kinds * 3).astype(dtype)
    x[1, 7] = np.nan
    x[2, : n // 2] = -np.inf
    x[8, n // 3] = np.inf
    if n > 1024:
        x[9, 1024:] = -np.inf   # a constant row whose later blocks are -inf
        x[16, -1] = np.nan      # an ascending row with a NaN in its last block
        x[17, -2] = np.nan      # a descending row: the NaN is only seen in the sum
    finite = ~np.isnan(x).any(1) & ~np.isposinf(x).any(1)  # rows with a finite max
    kmax = 32 if dtype == np.float32 else 16
    for k in sorted({1, 3, 8, kmax // 2 + 1, kmax, min(kmax + 5, n)}):
        p, i = smk.softmax_topk(x, k)
        np.testing.assert_array_equal(i, smk.topk(x, k)[1])
        want = np.take_along_axis(ref.softmax(x[finite].astype(np.float64)), i[finite], -1)
        np.testing.assert_allclose(p[finite], want, rtol=2e-5 if dtype == np.float32 else 1e-12)
        assert np.isnan(p[1]).all() and np.isnan(p[~finite]).all()


def test_softmax_topk_strided_axis():
    x = RNG.normal(size=(2, 50, 3))
    p, i = smk.softmax_topk(x, 4, axis=1)
    assert p.shape == (2, 4, 3)
    rv, ri = ref_topk(ref.softmax(x, 1), 4, 1)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(p, rv, rtol=1e-13)


def test_bad_k_and_empty_axis():
    x = np.zeros((2, 5))
    for fn in (smk.topk, smk.softmax_topk):
        with pytest.raises(smk.ArgumentError, match=r"k must be in 0\.\.\.5"):
            fn(x, 6)
        with pytest.raises(smk.ArgumentError, match="k must be"):
            fn(x, -1)
        with pytest.raises(smk.ArgumentError, match="integer"):
            fn(x, 2.5)
    with pytest.raises(smk.ArgumentError, match="temperature"):
        smk.softmax_topk(x, 2, temperature=0.0)
    with pytest.raises(smk.ArgumentError, match="empty"):
        smk.argmax(np.zeros((3, 0)))
    assert smk.topk(x, 0)[0].shape == (2, 0)


def test_seed_001_argmax_of_softmax_is_argmax_of_logits():
    # the predicted class is argmax(softmax(logits)) == argmax(logits)
    logits = RNG.normal(size=(8, 10))
    np.testing.assert_array_equal(smk.argmax(smk.softmax(logits)), smk.argmax(logits))
    np.testing.assert_array_equal(smk.argmax(smk.softmax(logits)), np.argmax(logits, 1))


def test_softmax_topk_nan_first_like_topk():
    p, i = smk.softmax_topk([1.0, np.nan, 3.0, 2.0], 2)
    assert np.isnan(p).all() and list(i) == list(smk.topk([1.0, np.nan, 3.0, 2.0], 2)[1]) == [1, 2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 37, 35), (3, 20, 16), (1, 17, 40), (2, 9, 7), (1, 64, 33)])
def test_middle_axis_fibres_give_the_last_axis_bits(dtype, shape):
    # Over a middle axis these kernels gather fibres through transposed tiles
    # (vector-sized squares, with partial edges in both directions): each
    # selection must equal, bit for bit, the same call on the axis moved
    # last. Probabilities and losses may differ by a few ulp: contiguous
    # short rows take register kernels with float sums.
    x = np.random.default_rng(7).normal(size=shape).astype(dtype) * 3
    x[0, 3, 1] = x[0, 5, 1]  # a tie: the lower index first on both paths
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    back = lambda a: np.moveaxis(a, -1, 1)
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-16)
    for k in (1, 5, shape[1]):
        v, i = smk.topk(x, k, axis=1)
        vl, il = smk.topk(xl, k, axis=-1)
        assert np.array_equal(v, back(vl)) and np.array_equal(i, back(il))
        p, j = smk.softmax_topk(x, k, axis=1)
        pl, jl = smk.softmax_topk(xl, k, axis=-1)
        assert np.array_equal(j, back(jl))
        np.testing.assert_allclose(p, back(pl), **tol)
    assert np.array_equal(smk.hardmax(x, axis=1), back(smk.hardmax(xl, axis=-1)))
    n = shape[1]
    layout = [(n // 2, "softmax"), (n // 4, "sigmoid"), (n - n // 2 - n // 4, "log_softmax")]
    np.testing.assert_allclose(smk.partitioned(x, layout, axis=1), back(smk.partitioned(xl, layout, axis=-1)), **tol)
    t = np.random.default_rng(8).integers(0, n, size=(shape[0], shape[2]))
    loss = smk.cross_entropy(x, t, axis=1, reduction="none")
    loss_l = smk.cross_entropy(xl.reshape(-1, n), t.reshape(-1), reduction="none").reshape(t.shape)
    np.testing.assert_allclose(loss, loss_l, **tol)
