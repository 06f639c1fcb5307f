"""docs/DESIGN.md's reliability inputs on the variant functions: -inf over a whole
SIMD vector or the tail, values at the exp limits (+-88.7 float32, +-709
float64), NaN, empty tensors, and numpy arrays that are big-endian,
non-contiguous or of other dtypes."""
import numpy as np
import pytest

import softmaxkit as smk
import references as ref


def special_rows(dtype):
    lim = 88.7 if dtype == np.float32 else 709.0
    n = 37                                          # a full vector, a partial tail
    rows = np.zeros((5, n))
    rows[0] = np.linspace(-3, 3, n)
    rows[1, :16] = -np.inf                          # one whole vector of -inf
    rows[1, 16:] = np.arange(n - 16)
    rows[2, 32:] = -np.inf                          # the SIMD tail is -inf
    rows[3] = np.where(np.arange(n) % 2 == 0, lim, -lim)
    rows[4] = lim + np.arange(n) * 0.01
    return rows.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_and_segment_at_limits(dtype):
    x = special_rows(dtype)
    mask = np.arange(x.shape[1]) % 4 != 3
    tol = 1e-5 if dtype == np.float32 else 1e-13
    got = smk.masked_softmax(x, mask)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref.masked_softmax(x.astype(np.float64), mask), rtol=tol, atol=1e-30)
    seg = smk.segment_softmax(x, [0, 16, 20, 37])
    for a, b in [(0, 16), (16, 20), (20, 37)]:
        part = x[:, a:b].astype(np.float64)
        finite = np.isfinite(part).any(1)
        np.testing.assert_allclose(seg[finite, a:b], ref.softmax(part[finite]), rtol=tol, atol=1e-30)
        assert np.isnan(seg[~finite, a:b]).all()            # an all -inf group is NaN, as softmax


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_selection_and_losses_at_limits(dtype):
    x = special_rows(dtype)
    p, i = smk.softmax_topk(x, 5)
    want = ref.softmax(x.astype(np.float64))
    np.testing.assert_array_equal(i, np.argsort(-x, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(p, np.take_along_axis(want, i, 1), rtol=1e-5 if dtype == np.float32 else 1e-13)
    np.testing.assert_array_equal(smk.argmax(x), np.argmax(x, 1))
    t = np.array([0, 20, 3, 0, 36])
    loss = smk.cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(loss, ref.cross_entropy(x.astype(np.float64), t, reduction="none"),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_nan_rows():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]])
    y = smk.masked_softmax(x, [1, 1, 0])
    assert np.isnan(y[0, :2]).all() and y[0, 2] == 0 and not np.isnan(y[1]).any()
    y = smk.masked_softmax(x, [1, 0, 1])
    assert not np.isnan(y).any()                    # the NaN is masked out
    assert np.isnan(smk.softmax_topk(x, 2)[0][0]).all()
    assert np.isnan(smk.cross_entropy(x, [0, 1], reduction="none")[0])


def test_empty_tensors():
    e = np.zeros((0, 5))
    assert smk.masked_softmax(e, [1, 0, 1, 1, 0]).shape == (0, 5)
    assert smk.segment_softmax(e, [0, 5]).shape == (0, 5)
    assert smk.partitioned(e, [(5, "softmax")]).shape == (0, 5)
    assert smk.topk(e, 2)[0].shape == (0, 2)
    assert smk.argmax(e).shape == (0,)
    assert smk.cross_entropy(e, np.zeros(0, np.int64), reduction="sum") == 0
    assert np.isnan(smk.cross_entropy(e, np.zeros(0, np.int64)))   # mean of nothing, as PyTorch
    assert smk.softmax_backward(e, e).shape == (0, 5)


def test_numpy_layouts_and_dtypes():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 12))
    big = x.astype(">f8")
    strided = np.asfortranarray(x)
    as_int = (x * 10).astype(np.int32)
    mask = [1, 0] * 6
    want = smk.masked_softmax(x, mask)
    np.testing.assert_array_equal(smk.masked_softmax(big, mask), want)
    np.testing.assert_array_equal(smk.masked_softmax(strided, mask), want)
    assert smk.masked_softmax(as_int, mask).dtype == np.float64
    np.testing.assert_array_equal(smk.topk(big, 3)[1], smk.topk(x, 3)[1])
    np.testing.assert_array_equal(smk.softmax_backward(strided, big), smk.softmax_backward(x, x))
    with pytest.raises(smk.ArgumentError, match="real numbers"):
        smk.segment_softmax(np.array([["a", "b"]]), [0, 2])
