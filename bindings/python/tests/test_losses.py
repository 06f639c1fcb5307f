"""cross_entropy, nll_loss and binary_cross_entropy_with_logits against
PyTorch's formulas in numpy (references.py), gradients against finite
differences, the worked example, and every bad input."""
import numpy as np
import pytest

import softmaxkit as smk
import references as ref

RNG = np.random.default_rng(7)


def test_seed_003_worked_example():
    # softmax([0, 2, 4]) = [0.0159, 0.1173, 0.8668]; the true class is the third
    loss, grad = smk.cross_entropy(np.array([[0.0, 2.0, 4.0]]), [2], return_grad=True)
    assert abs(loss - np.log1p(np.exp(-2.0) + np.exp(-4.0))) < 1e-15   # -log(0.8668)
    np.testing.assert_allclose(grad[0], [0.0158762, 0.1173104, 0.8668134 - 1], atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(8, 5), (4, 6, 3), (2, 7, 2, 3)])
def test_cross_entropy_index_targets(shape, weighted, smoothing, reduction):
    x = RNG.normal(scale=3, size=shape)
    c = shape[1]
    t = RNG.integers(0, c, size=shape[:1] + shape[2:])
    t.flat[1] = -100
    w = RNG.random(c) + 0.5 if weighted else None
    got, g = smk.cross_entropy(x, t, weight=w, label_smoothing=smoothing, reduction=reduction, return_grad=True)
    want = ref.cross_entropy(x, t, weight=w, label_smoothing=smoothing, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    # gradient of the (summed) loss by central differences
    h = 1e-6
    for j in RNG.choice(x.size, 6, replace=False):
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += h
        xm.flat[j] -= h
        fd = (np.sum(ref.cross_entropy(xp, t, 1, w, -100, smoothing, reduction))
              - np.sum(ref.cross_entropy(xm, t, 1, w, -100, smoothing, reduction))) / (2 * h)
        assert abs(g.flat[j] - fd) < 1e-7
    g32 = smk.cross_entropy(x.astype(np.float32), t, weight=w, label_smoothing=smoothing, reduction=reduction)
    np.testing.assert_allclose(g32, want, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(reduction):
    x = RNG.normal(size=(5, 4, 3))
    p = ref.softmax(RNG.normal(size=(5, 4, 3)), 1)
    w = np.array([1.0, 2.0, 0.5, 1.5])
    got, g = smk.cross_entropy(x, p, weight=w, label_smoothing=0.1, reduction=reduction, return_grad=True)
    np.testing.assert_allclose(got, ref.cross_entropy(x, p, 1, w, label_smoothing=0.1, reduction=reduction), rtol=1e-13)
    xp = x.copy(); xp[0, 1, 2] += 1e-6
    xm = x.copy(); xm[0, 1, 2] -= 1e-6
    fd = (np.sum(ref.cross_entropy(xp, p, 1, w, -100, 0.1, reduction))
          - np.sum(ref.cross_entropy(xm, p, 1, w, -100, 0.1, reduction))) / 2e-6
    assert abs(g[0, 1, 2] - fd) < 1e-7


def test_cross_entropy_edge_cases():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert np.isnan(smk.cross_entropy(x, [-100, -100]))               # all ignored: NaN
    assert smk.cross_entropy(x, [-100, -100], reduction="sum") == 0
    np.testing.assert_allclose(smk.cross_entropy(x, [5, 1], ignore_index=5), -ref.log_softmax(x)[1, 1])
    np.testing.assert_allclose(smk.cross_entropy([1.0, 2.0, 3.0], 2), -ref.log_softmax([1.0, 2.0, 3.0])[2])
    big = np.array([[1000.0, -1000.0]])
    assert smk.cross_entropy(big, [1]) == 2000.0                         # no overflow
    assert np.isnan(smk.cross_entropy([[np.nan, 1.0]], [1]))


def test_nll_loss():
    lp = ref.log_softmax(RNG.normal(size=(6, 4, 2)), 1)
    t = RNG.integers(0, 4, size=(6, 2))
    w = np.array([0.5, 1.0, 2.0, 1.5])
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(smk.nll_loss(lp, t, weight=w, reduction=reduction),
                                   ref.cross_entropy(lp, t, 1, w, reduction=reduction), rtol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction):
    x = RNG.normal(scale=30, size=(5, 3))
    x[0, 0], x[1, 1] = 800, -800                                        # stable at the extremes
    y = RNG.random((5, 3))
    w = RNG.random((5, 1))
    pw = np.array([2.0, 0.5, 1.0])
    got = smk.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction=reduction)
    np.testing.assert_allclose(got, ref.bce_with_logits(x, y, w, pw, reduction), rtol=1e-13)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_without_cancellation(dtype):
    # A target near 1 whose pos_weight puts 1 + (p - 1) y within a hair of
    # 1 - y: term by term the two terms of about 0.98 cancel to 8.6e-8 and the
    # float result is wrong in its sixth digit. Exact value: mpmath, 50 digits.
    x = np.array([-700.0], dtype)
    y = np.array([np.float32(0.99859309196472168)], dtype)
    pw = np.array([np.float32(1.2345679e-10)], dtype)
    got = smk.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="none")
    exact = 8.629816588095405e-08
    if dtype == np.float32:
        assert got[0] == np.float32(exact)
    else:
        assert abs(got[0] - exact) <= 4 * np.finfo(np.float64).eps * exact


def test_bad_inputs():
    x = np.zeros((3, 4))
    with pytest.raises(smk.ArgumentError, match=r"target\[1\] = 4 is outside \[0, 4\)"):
        smk.cross_entropy(x, [0, 4, 1])
    with pytest.raises(smk.ArgumentError, match="outside"):
        smk.nll_loss(x, [0, -1, 1])
    with pytest.raises(smk.ArgumentError, match="weight has shape"):
        smk.cross_entropy(x, [0, 1, 2], weight=[1.0, 2.0])
    with pytest.raises(smk.ArgumentError, match="weight has shape"):
        smk.nll_loss(x, [0, 1, 2], weight=np.ones(5))
    for bad in (-0.1, float("nan"), 1.5):
        with pytest.raises(smk.ArgumentError, match="label_smoothing"):
            smk.cross_entropy(x, [0, 1, 2], label_smoothing=bad)
    with pytest.raises(smk.ArgumentError, match="reduction must be one of"):
        smk.cross_entropy(x, [0, 1, 2], reduction="avg")
    with pytest.raises(smk.ArgumentError, match="class-index target has shape"):
        smk.cross_entropy(x, [0, 1])
    with pytest.raises(smk.ArgumentError, match="probability target has shape"):
        smk.cross_entropy(x, np.zeros((3, 5)))
    with pytest.raises(smk.ArgumentError, match="integers"):
        smk.nll_loss(x, [0.0, 1.0, 2.0])
    with pytest.raises(smk.ArgumentError, match="pos_weight"):
        smk.binary_cross_entropy_with_logits(x, x, pos_weight=[1.0, 2.0])
    with pytest.raises(smk.ArgumentError, match="target has shape"):
        smk.binary_cross_entropy_with_logits(x, np.zeros(4))


def test_struct_layouts_match_the_header():
    import ctypes
    from softmaxkit import _lib
    o = _lib.LossOptions()
    _lib.lib.smk_loss_options_init(ctypes.byref(o))
    assert ctypes.sizeof(_lib.LossOptions) == o.size == 32      # sizeof(smk_loss_options)
    assert (o.ignore_index, o.label_smoothing, o.reduction) == (-100, 0.0, 1)
    assert ctypes.sizeof(_lib.Partition) == 16                   # sizeof(smk_partition)
    o.size = 8
    with pytest.raises(smk.ArgumentError, match="options->size"):
        _lib.check(_lib.lib.smk_cross_entropy_f64(None, None, None, None, None, 0, 3, 1, ctypes.byref(o)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 3, 4, 7, 33, 70])
def test_a_rows_loss_does_not_depend_on_how_many_rows_share_the_call(dtype, rows):
    # Short rows take their logs a chunk at a time; a chunk of one row once
    # took libm's log and larger ones the vector log (an ulp apart), so a
    # row's loss changed with the number of rows beside it.
    x = RNG.normal(scale=4, size=(rows, 16)).astype(dtype)
    t = RNG.integers(0, 16, size=rows)
    for grad in (False, True):
        whole = smk.cross_entropy(x, t, reduction="none", return_grad=grad)
        for r in range(rows):
            alone = smk.cross_entropy(x[r:r + 1], t[r:r + 1], reduction="none", return_grad=grad)
            if grad:
                np.testing.assert_array_equal(whole[0][r:r + 1], alone[0])
                np.testing.assert_array_equal(whole[1][r:r + 1], alone[1])
            else:
                np.testing.assert_array_equal(whole[r:r + 1], alone)
