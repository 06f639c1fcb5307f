"""softmax_backward, log_softmax_backward and sigmoid_backward against the
Jacobians written out in numpy, on several axes and both dtypes."""
import numpy as np
import pytest

import softmaxkit as smk
import references as ref

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("shape,axis", [((9,), -1), ((4, 37), -1), ((5, 6), 0), ((3, 4, 5), 1)])
def test_softmax_and_log_softmax_backward(shape, axis):
    x = RNG.normal(scale=3, size=shape)
    dy = RNG.normal(size=shape)
    y = ref.softmax(x, axis)
    want = y * (dy - (dy * y).sum(axis, keepdims=True))
    np.testing.assert_allclose(smk.softmax_backward(y, dy, axis), want, rtol=1e-12, atol=1e-15)
    ls = ref.log_softmax(x, axis)
    wantl = dy - np.exp(ls) * dy.sum(axis, keepdims=True)
    np.testing.assert_allclose(smk.log_softmax_backward(ls, dy, axis), wantl, rtol=1e-12, atol=1e-14)
    g32 = smk.softmax_backward(y.astype(np.float32), dy.astype(np.float32), axis)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, want, rtol=1e-4, atol=1e-6)


def test_matches_finite_differences_of_softmax():
    x = RNG.normal(size=7)
    dy = RNG.normal(size=7)
    g = smk.softmax_backward(ref.softmax(x), dy)
    for j in range(7):
        e = np.zeros(7); e[j] = 1e-6
        fd = (dy @ ref.softmax(x + e) - dy @ ref.softmax(x - e)) / 2e-6
        assert abs(g[j] - fd) < 1e-8


def test_sigmoid_backward_and_bad_shapes():
    y = RNG.random((3, 4))
    dy = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(smk.sigmoid_backward(y, dy), dy * y * (1 - y), rtol=1e-15)
    with pytest.raises(smk.ArgumentError, match="dy has shape"):
        smk.softmax_backward(y, dy[:, :3])
    with pytest.raises(smk.ArgumentError, match="dy has shape"):
        smk.sigmoid_backward(y, dy.T)
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.log_softmax_backward(y, dy, axis=3)
