"""Reductions over a middle axis (inner > 1) go through tiles of up to 16
neighbouring fibres; these shapes cover several tiles, a partial last tile,
and an axis so long that the tile shrinks (70000 x 20: 14 fibres per tile)."""
import numpy as np
import pytest

import softmaxkit as smk
import references as ref

RNG = np.random.default_rng(23)


@pytest.mark.parametrize("shape", [(3, 50, 37), (2, 70000, 20)])
def test_middle_axis_against_references(shape):
    x = RNG.normal(scale=3, size=shape)
    n = shape[1]
    mask = (np.arange(n) % 5 != 2)[:, None]
    np.testing.assert_allclose(smk.masked_softmax(x, mask, 1), ref.masked_softmax(x, mask, 1), rtol=1e-12)
    full = RNG.random(shape) > 0.5
    np.testing.assert_allclose(smk.masked_log_softmax(x, full, 1), ref.masked_log_softmax(x, full, 1),
                               rtol=1e-12, atol=1e-12)
    half = n // 2
    seg = smk.segment_softmax(x, [0, half, n], 1)
    np.testing.assert_allclose(seg[:, :half], ref.softmax(x[:, :half], 1), rtol=1e-12)
    part = smk.partitioned(x, [(half, "log_softmax"), (n - half, "tanh")], 1)
    np.testing.assert_allclose(part[:, half:], np.tanh(x[:, half:]), rtol=1e-14)
    v, i = smk.topk(x, 3, 1)
    np.testing.assert_array_equal(i, np.moveaxis(np.argsort(-np.moveaxis(x, 1, -1), -1, kind="stable")[..., :3], -1, 1))
    p, pi = smk.softmax_topk(x, 3, 1)
    np.testing.assert_array_equal(pi, i)
    np.testing.assert_allclose(p, np.take_along_axis(ref.softmax(x, 1), i, 1), rtol=1e-12)
    np.testing.assert_array_equal(smk.argmax(x, 1), np.argmax(x, 1))
    t = RNG.integers(0, n, size=(shape[0], shape[2]))
    loss, g = smk.cross_entropy(x, t, return_grad=True)
    np.testing.assert_allclose(loss, ref.cross_entropy(x, t), rtol=1e-12)
    onehot = np.zeros(shape)
    np.put_along_axis(onehot, t[:, None, :], 1.0, 1)
    np.testing.assert_allclose(g, (ref.softmax(x, 1) - onehot) / t.size, rtol=1e-10, atol=1e-16)
    y = ref.softmax(x, 1)
    np.testing.assert_allclose(smk.softmax_backward(y, x, 1), y * (x - (x * y).sum(1, keepdims=True)),
                               rtol=1e-10, atol=1e-15)


def test_in_place_middle_axis():
    x = RNG.normal(size=(2, 40, 19))
    want = ref.masked_softmax(x, np.ones((40, 1)), 1)
    out = x.copy()
    smk.masked_softmax(out, np.ones((40, 1)), 1, out=out)
    np.testing.assert_allclose(out, want, rtol=1e-13)
