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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_blocks_of_every_width(dtype):
    """inner = 213 runs the column kernels' pairs of four-vector blocks,
    a lone four-vector block, single vectors and a partial vector (for
    either vector width); special columns sit in both blocks of a pair."""
    x = RNG.normal(scale=2, size=(2, 30, 213))
    x[:, :, 3] = -np.inf                      # all -inf: NaN (0/0)
    x[1, 7, 70] = np.nan                      # NaN: NaN column
    x[0, 4, 100] = np.inf                     # +inf max: NaN column
    x[:, 2, 130] = -np.inf                    # some -inf: 0 there
    x[:, 5, 140] = -1e30                      # huge spread: the full-range exp
    x[:, 9, 200] = 60.0                       # a dominant logit in the tail
    big = 100.0 if dtype == np.float32 else 800.0
    x[:, 11, [40, 75, 110, 180]] = big        # exp overflows unless the block's own max shifts it
    x = x.astype(dtype)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    with np.errstate(invalid="ignore", over="ignore"):
        want = ref.softmax(x, 1)
        want_log = ref.log_softmax(x, 1)
    np.testing.assert_allclose(smk.softmax(x, 1), want, **tol)
    np.testing.assert_allclose(smk.log_softmax(x, 1), want_log, **tol)
    for f, want_f in ((smk.softmax, want), (smk.log_softmax, want_log)):  # in place
        out = x.copy()
        f(out, 1, out=out)
        np.testing.assert_allclose(out, want_f, **tol)
    x[0, 4, 100] = 1.0                        # (+inf: masked softmax's NaN row, as softmax's; references.py differs)
    pattern = (np.arange(30) % 4 != 1)[:, None]
    full = RNG.random(x.shape) > 0.3
    full[:, :, 50] = False                    # a fully masked column: all 0
    for mask in (pattern, full):
        with np.errstate(invalid="ignore", over="ignore"):
            want_m = ref.masked_softmax(x, mask, 1)
        got = smk.masked_softmax(x, mask, 1)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want_m, **tol)
    assert np.all(smk.masked_softmax(x, full, 1)[:, :, 50] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 5, 8, 16, 17])
def test_column_topk_against_last_axis(dtype, k):
    # topk and softmax_topk over a middle axis run down the columns (k <= 16:
    # a floor from group maxima, then the rows reaching it; k = 17 gathers
    # fibres): every column must match the same fibre moved last, indices
    # bit for bit (NaN first, ties to the lower row), on columns with NaN,
    # +-inf, an all -inf column, half -inf columns, many ties and constant
    # columns, over widths that leave partial lane blocks.
    n = 300
    for inner in (3, 16, 37):
        x = np.round(RNG.normal(scale=2, size=(3, n, inner)), 1).astype(dtype)
        x[0, 7, 0] = np.nan
        x[0, 100:102, 1] = np.nan
        x[1, 5, 0] = np.inf
        x[1, 9, 1] = -np.inf
        x[2, :, 0] = -np.inf                 # all -inf: NaN probabilities
        x[2, : n // 2, 1] = -np.inf          # below the floor, or the only candidates
        x[1, :, 2] = 1.5                     # constant: every row ties
        if inner > 3:
            x[0, :, 3] = np.round(x[0, :, 3])  # few distinct values
        last = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        v, i = smk.topk(x, k, 1)
        vr, ir = smk.topk(last, k, -1)
        np.testing.assert_array_equal(np.moveaxis(i, 1, -1), ir)
        np.testing.assert_array_equal(np.moveaxis(v, 1, -1), vr)
        with np.errstate(all="ignore"):
            p, pi = smk.softmax_topk(x, k, 1, temperature=0.7)
            pr, pir = smk.softmax_topk(last, k, -1, temperature=0.7)
            want = np.take_along_axis(ref.softmax(x.astype(np.float64) / 0.7, 1), i, 1)
        np.testing.assert_array_equal(np.moveaxis(pi, 1, -1), pir)
        tol = dict(rtol=2e-6, atol=1e-30) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(np.moveaxis(p, 1, -1), pr, **tol)
        finite = np.isfinite(want)
        np.testing.assert_allclose(p[finite], want[finite], **tol)
        assert np.isnan(p[2, :, 0]).all() and np.isnan(p[0, :, 0]).all()
