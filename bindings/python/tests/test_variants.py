"""masked, partitioned, segment and hierarchical softmax and ensemble_mean
against float64 references, the example networks' output layers,
and every bad input that reaches them."""
import numpy as np
import pytest

import softmaxkit as smk
import references as ref

RNG = np.random.default_rng(3)
SHAPES_AXES = [((7,), -1), ((5, 33), -1), ((5, 9), 0), ((3, 4, 5), 1), ((2, 17, 3), 1)]


@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
@pytest.mark.parametrize("renormalize", [True, False])
def test_masked_softmax_matches_reference(shape, axis, renormalize):
    x = RNG.normal(scale=8, size=shape)
    mask = RNG.random(shape) > 0.4
    got = smk.masked_softmax(x, mask, axis, renormalize=renormalize)
    np.testing.assert_allclose(got, ref.masked_softmax(x, mask, axis, renormalize), rtol=1e-13, atol=0)
    np.testing.assert_allclose(smk.masked_log_softmax(x, mask, axis), ref.masked_log_softmax(x, mask, axis),
                               rtol=1e-13, atol=1e-13)
    g32 = smk.masked_softmax(x.astype(np.float32), mask, axis, renormalize=renormalize)
    assert g32.dtype == np.float32
    want = ref.masked_softmax(x.astype(np.float32), mask, axis, renormalize)
    np.testing.assert_allclose(g32, want, rtol=1e-5, atol=1e-37)


def test_masked_pattern_broadcast_and_nonfinite():
    x = np.array([[np.nan, 1.0, np.inf, 2.0, -np.inf], [0.0, 0.0, 0.0, 0.0, 0.0]])
    pattern = np.array([0, 1, 0, 1, 0], bool)
    y = smk.masked_softmax(x, pattern)
    assert (y[:, [0, 2, 4]] == 0).all() and not np.isnan(y).any()
    np.testing.assert_allclose(y[0, [1, 3]], ref.softmax([1.0, 2.0]), rtol=1e-15)
    # a [B, 1] mask broadcasts along the class axis: fully masked row -> zeros, log -> -inf
    rowmask = np.array([[1], [0]])
    assert (smk.masked_softmax(x[:, [1, 3]], rowmask)[1] == 0).all()
    assert (smk.masked_log_softmax(x[:, [1, 3]], rowmask)[1] == -np.inf).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inner", [1, 5, 16, 32, 70])
def test_masked_pattern_along_a_middle_axis_equals_the_full_mask(dtype, inner):
    # A mask of shape (n, 1) over axis 1 of (B, n, inner) varies only along
    # the axis: it goes to the library as one n-long pattern (no expanded
    # copy), and must give the full mask's bits, nonfinite unselected logits
    # and an all-masked pattern included.
    x = RNG.normal(size=(3, 9, inner)).astype(dtype)
    for pattern in (np.array([1, 0, 1, 1, 0, 0, 1, 0, 1], bool), np.zeros(9, bool)):
        x[:, ~pattern] = np.where(RNG.random(x[:, ~pattern].shape) < 0.5, np.inf, np.nan)
        m = pattern[:, None]
        full = np.broadcast_to(m, x.shape).copy()
        for renormalize in (True, False):
            a = smk.masked_softmax(x, m, axis=1, renormalize=renormalize)
            b = smk.masked_softmax(x, full, axis=1, renormalize=renormalize)
            assert np.array_equal(a, b, equal_nan=True)
        assert np.array_equal(smk.masked_log_softmax(x, m, axis=1), smk.masked_log_softmax(x, full, axis=1))
        if pattern.any():
            y = smk.masked_softmax(x, m, axis=1)
            assert (y[:, ~pattern] == 0).all() and not np.isnan(y).any()
            np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)


def test_masked_seed_000_network():
    # softmax over all 6 outputs, then keep indices 0 and 2
    z = RNG.normal(size=(4, 6))
    mask = [1, 0, 1, 0, 0, 0]
    got = smk.masked_softmax(z, mask, renormalize=False)
    np.testing.assert_allclose(got, ref.softmax(z) * np.array(mask), rtol=1e-14, atol=0)


def test_masked_out_and_noncontiguous():
    x = RNG.normal(size=(6, 8))[:, ::2]
    out = np.empty((6, 4))
    r = smk.masked_softmax(x, [1, 1, 0, 1], out=out)
    assert r is out
    np.testing.assert_allclose(out, ref.masked_softmax(x, [1, 1, 0, 1]), rtol=1e-14)
    with pytest.raises(smk.ArgumentError, match="read-only"):
        ro = np.empty((6, 4)); ro.flags.writeable = False
        smk.masked_softmax(x, [1, 1, 0, 1], out=ro)
    with pytest.raises(smk.ArgumentError, match="dtype"):
        smk.masked_softmax(x, [1, 1, 0, 1], out=np.empty((6, 4), np.float32))


def test_masked_bad_mask_shape():
    with pytest.raises(smk.ArgumentError, match="mask of shape"):
        smk.masked_softmax(np.zeros((3, 4)), [1, 0, 1])
    with pytest.raises(ValueError, match="mask"):
        smk.masked_log_softmax(np.zeros((3, 4)), np.ones((4, 3)))
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.masked_softmax(np.zeros((3, 4)), np.ones((3, 4)), axis=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_larger_than_the_cache_equals_row_by_row(dtype):
    # As partitioned below: streaming stores past 3/4 of the last-level
    # cache, exponentials in scratch, and rows of odd width; the bits must
    # be those of one row at a time, in place too.
    rows = 6_000_000 // 4099 if dtype == np.float32 else 3_000_000 // 4099
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(rows, 4099)) * 4).astype(dtype)
    mask = rng.random((rows, 4099)) < 0.7
    x[5, 100] = np.nan
    mask[6] = False
    checks = (0, 5, 6, rows // 2, rows - 1)
    for fn, kw in ((smk.masked_softmax, {}), (smk.masked_softmax, {"renormalize": False}), (smk.masked_log_softmax, {})):
        big = fn(x, mask, **kw)
        inplace = x.copy()
        fn(inplace, mask, out=inplace, **kw)
        np.testing.assert_array_equal(inplace, big)
        for r in checks:
            np.testing.assert_array_equal(big[r], fn(x[r:r + 1], mask[r:r + 1], **kw)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partitioned_larger_than_the_cache_equals_row_by_row(dtype):
    # Past 3/4 of the last-level cache (24 MB here) y is written with
    # streaming stores and softmax segments keep their exponentials in
    # scratch; rows of odd width put the vector-unaligned ends of every
    # segment through the scalar path. The bits must be those of the same
    # rows one call at a time (plain stores).
    rows = 6_000_000 // 4099 if dtype == np.float32 else 3_000_000 // 4099
    x = (np.random.default_rng(3).normal(size=(rows, 4099)) * 4).astype(dtype)
    x[5, 100] = np.nan
    x[7, 3000] = 1e4
    x[9, 2500] = -np.inf
    layout = [(2000, "softmax"), (1000, "sigmoid"), (99, "identity"), (1000, "log_softmax")]
    big = smk.partitioned(x, layout)
    for r in (0, 5, 7, 9, rows // 2, rows - 1):
        np.testing.assert_array_equal(big[r], smk.partitioned(x[r:r + 1], layout)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_place", [False, True])
def test_partitioned_short_segments_of_long_rows(dtype, in_place):
    # Rows too long for the short-row plan with normalized segments short
    # enough for the short-row kernel: those run over tiles of rows, striding
    # (segments of 1, 5, 16, 17, 33 and 64 lanes, at unaligned offsets, with
    # a long segment, sigmoid, tanh and identity between them; short sigmoid
    # and identity segments stride too); an odd row count leaves a partial
    # tile and a lone last row. Each row must equal the same row alone (one
    # call of one row) and the references; sigmoid segments equal sigmoid()
    # bit for bit (huge, infinite and NaN inputs included), identity the input.
    layout = [(5, "softmax"), (3, "identity"), (17, "log_softmax"), (64, "softmax"), (1, "softmax"),
              (7, "sigmoid"), (100, "softmax"), (16, "log_softmax"), (2, "tanh"), (33, "softmax"),
              (40, "sigmoid"), (1, "identity"), (150, "sigmoid")]
    n = sum(w for w, _ in layout)
    x = (RNG.normal(size=(301, n)) * 5).astype(dtype)
    x[4, 1] = np.nan        # a NaN row in a 5-wide segment
    x[6, 8:25] = -np.inf    # an all -inf log_softmax segment: NaN
    x[8, 30] = 1e4
    x[10, 90:97] = [np.inf, -np.inf, np.nan, 1e4, -1e4, 89.0, -750.0]  # the 7-wide sigmoid segment
    x[11, 250:260] = [np.inf, -np.inf, np.nan, 1e4, -1e4, 89.0, -750.0, 0.0, -0.0, 30.0]  # the 40-wide one
    want = [smk.partitioned(x[r:r + 1], layout)[0] for r in range(x.shape[0])]
    if in_place:
        got = x.copy()
        smk.partitioned(got, layout, out=got)
    else:
        got = smk.partitioned(x, layout)
    np.testing.assert_array_equal(got, np.array(want))
    # (atol: log-softmax values near 0 carry the absolute error of the row's log-sum)
    tol = dict(rtol=3e-6, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    o = 0
    for w, act in layout:
        seg = x[:, o:o + w].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            ref_seg = {"softmax": lambda v: ref.softmax(v), "log_softmax": lambda v: ref.log_softmax(v),
                       "identity": lambda v: v, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh}[act](seg)
        np.testing.assert_allclose(got[:, o:o + w], ref_seg, **tol)
        if act == "sigmoid":
            np.testing.assert_array_equal(got[:, o:o + w], smk.sigmoid(np.ascontiguousarray(x[:, o:o + w])))
        if act == "identity":
            np.testing.assert_array_equal(got[:, o:o + w], x[:, o:o + w])
        o += w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partitioned_short_segments_of_rows_longer_than_a_tile(dtype):
    # Rows over 8 KB make a tile of one row: the short segments must still
    # run (fuzz_abi found identity segments left unwritten).
    layout = [(3, "identity"), (7, "sigmoid"), (5, "softmax"), (2100, "log_softmax"), (4, "identity")]
    n = sum(w for w, _ in layout)
    x = RNG.normal(size=(5, n)).astype(dtype)
    y = np.full_like(x, np.nan)
    smk.partitioned(x, layout, out=y)
    np.testing.assert_array_equal(y[:, :3], x[:, :3])
    np.testing.assert_array_equal(y[:, 3:10], smk.sigmoid(np.ascontiguousarray(x[:, 3:10])))
    np.testing.assert_allclose(y[:, 10:15], ref.softmax(x[:, 10:15].astype(np.float64)),
                               rtol=3e-6 if dtype == np.float32 else 1e-13)
    np.testing.assert_array_equal(y[:, -4:], x[:, -4:])


def test_partitioned_seed_000_actions_and_force():
    z = RNG.normal(size=(3, 9))
    layout = [(4, "softmax"), (1, "identity"), (2, "sigmoid"), (1, "tanh"), (1, "log_softmax")]
    y = smk.partitioned(z, layout)
    np.testing.assert_allclose(y[:, :4], ref.softmax(z[:, :4]), rtol=1e-14)
    assert (y[:, 4] == z[:, 4]).all()
    np.testing.assert_allclose(y[:, 5:7], 1 / (1 + np.exp(-z[:, 5:7])), rtol=1e-14)
    np.testing.assert_allclose(y[:, 7], np.tanh(z[:, 7]), rtol=1e-14)
    assert (y[:, 8] == 0).all()
    # axis 0 of [9, 3]
    yt = smk.partitioned(z.T.copy(), layout, axis=0)
    np.testing.assert_allclose(yt, y.T, rtol=1e-15)
    assert smk.variants.ACTIVATIONS == ("identity", "softmax", "log_softmax", "sigmoid", "tanh")


def test_partitioned_bad_layouts():
    z = np.zeros((2, 5))
    with pytest.raises(smk.ArgumentError, match="widths sum to 4"):
        smk.partitioned(z, [(3, "softmax"), (1, "identity")])
    with pytest.raises(smk.ArgumentError, match="activation must be one of"):
        smk.partitioned(z, [(5, "relu6")])
    with pytest.raises(smk.ArgumentError, match="negative width"):
        smk.partitioned(z, [(6, "softmax"), (-1, "identity")])
    with pytest.raises(smk.ArgumentError, match="pairs"):
        smk.partitioned(z, [5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segment_softmax_matches_groups(dtype):
    x = RNG.normal(scale=5, size=(3, 10)).astype(dtype)
    offsets = [0, 3, 3, 4, 10]
    y = smk.segment_softmax(x, offsets)
    assert y.dtype == dtype
    for a, b in zip(offsets[:-1], offsets[1:]):
        if b > a:
            np.testing.assert_allclose(y[:, a:b], ref.softmax(x[:, a:b]), rtol=1e-5 if dtype == np.float32 else 1e-14)
    # along axis 0 of the transpose
    np.testing.assert_allclose(smk.segment_softmax(x.T, offsets, axis=0), y.T, rtol=1e-6)


def test_segment_bad_offsets():
    x = np.zeros((2, 6))
    for bad, what in [([1, 6], "start at 0"), ([0, 3, 5], "end at the axis length 6"),
                      ([0, 4, 2, 6], "never decrease"), ([], "at least one")]:
        with pytest.raises(smk.ArgumentError, match=what):
            smk.segment_softmax(x, np.array(bad, dtype=np.int64))
    with pytest.raises(smk.ArgumentError, match="integers"):
        smk.segment_softmax(x, [0.0, 6.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hierarchical_joint_and_conditional(dtype):
    sizes = [3, 1, 5]
    coarse = RNG.normal(size=(4, 3)).astype(dtype)
    fine = RNG.normal(size=(4, 9)).astype(dtype)
    joint = smk.hierarchical_softmax(coarse, fine, sizes)
    cond = smk.hierarchical_softmax(coarse, fine, sizes, conditional=True)
    pc = ref.softmax(coarse)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    start = 0
    for k, s in enumerate(sizes):
        pf = ref.softmax(fine[:, start:start + s])
        np.testing.assert_allclose(cond[:, start:start + s], pf, rtol=tol)
        np.testing.assert_allclose(joint[:, start:start + s], pc[:, k:k + 1] * pf, rtol=tol)
        start += s
    np.testing.assert_allclose(joint.sum(1), 1, rtol=tol)
    assert smk.hierarchical_softmax(coarse[0], fine[0], sizes).shape == (9,)


def test_hierarchical_bad_sizes():
    with pytest.raises(smk.ArgumentError, match="sizes sum to 8 but fine_width is 9"):
        smk.hierarchical_softmax(np.zeros((2, 3)), np.zeros((2, 9)), [3, 1, 4])
    with pytest.raises(smk.ArgumentError, match="sizes has 2 groups"):
        smk.hierarchical_softmax(np.zeros((2, 3)), np.zeros((2, 9)), [4, 5])
    with pytest.raises(smk.ArgumentError, match=r"sizes\[1\] must be >= 1"):
        smk.hierarchical_softmax(np.zeros((2, 3)), np.zeros((2, 9)), [4, 0, 5])
    with pytest.raises(smk.ArgumentError, match="rows"):
        smk.hierarchical_softmax(np.zeros((2, 3)), np.zeros((3, 9)), [3, 3, 3])


def test_ensemble_modes_seed_002():
    logits = RNG.normal(size=(5, 4, 6))            # 5 members, batch 4, 6 classes
    probs = ref.softmax(logits)
    np.testing.assert_allclose(smk.ensemble_mean(probs), probs.mean(0), rtol=1e-15)
    geo = np.exp(np.log(probs).mean(0))
    np.testing.assert_allclose(smk.ensemble_mean(probs, mode="geometric"), geo / geo.sum(-1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(smk.ensemble_mean(logits, mode="logits"), ref.softmax(logits.mean(0)), rtol=1e-14)
    # members on another axis, and as a list
    np.testing.assert_allclose(smk.ensemble_mean(np.moveaxis(probs, 0, 1), axis=1), probs.mean(0), rtol=1e-15)
    np.testing.assert_allclose(smk.ensemble_mean(list(probs.astype(np.float32))), probs.mean(0), rtol=1e-6)


def test_ensemble_bad_members():
    with pytest.raises(smk.ArgumentError, match="mismatched shapes"):
        smk.ensemble_mean([np.zeros((2, 3)), np.zeros((3, 2))])
    with pytest.raises(smk.ArgumentError, match="mode must be one of"):
        smk.ensemble_mean([np.zeros(3)], mode="median")
    with pytest.raises(smk.ArgumentError, match="at least one member"):
        smk.ensemble_mean([])
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.ensemble_mean(np.zeros((2, 3)), axis=2)


def test_seed_001_binary_head_sigmoid_equals_two_class_softmax():
    # one sigmoid output carries what a 2-way softmax over [z, 0] does
    z = RNG.normal(scale=5, size=(6, 1))
    two = smk.partitioned(np.concatenate([z, np.zeros_like(z)], 1), [(2, "softmax")])
    one = smk.partitioned(z, [(1, "sigmoid")])
    np.testing.assert_allclose(two[:, :1], one, rtol=1e-14)


@pytest.mark.parametrize("log", [False, True])
def test_mask_partly_under_out_is_refused_and_nothing_written(log):
    # One block holding the mask's bytes and, 8 bytes in, the output's floats:
    # the kernel read mask bytes it had already overwritten.
    block = np.zeros(80, np.uint8)
    block[:16] = [1, 0, 1, 1] * 4
    mask, out = block[:16], block[8:72].view(np.float32)
    before = block.copy()
    x = np.linspace(-1, 1, 16).astype(np.float32)
    f = smk.masked_log_softmax if log else smk.masked_softmax
    with pytest.raises(smk.ArgumentError, match="overlap"):
        f(x, mask, out=out)
    assert np.array_equal(block, before)
