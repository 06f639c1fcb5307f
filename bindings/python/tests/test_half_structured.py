"""Half precision from Python for the structured operations: hardmax,
partitioned, segment_softmax, hierarchical_softmax and masked_softmax /
masked_log_softmax with lengths keep float16 and ml_dtypes.bfloat16,
within 1 ulp of a float64 reference rounded once to half; their edge cases
and the refusals of bad arguments."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as smk
from softmaxkit import ArgumentError
from test_half import F16, HALVES, random_half, ref_log_softmax, ref_softmax, round_half, ulps

SHAPES = [((7, 40), -1), ((3, 12, 5), 1), ((33, 300), -1), ((6, 4), 0)]


def along(f, x, axis):
    """`f` (of a 1-D float64 fibre and its flat index) over every fibre of x along axis."""
    xm = np.moveaxis(x.astype(np.float64), axis, -1)
    flat = xm.reshape(-1, xm.shape[-1])
    out = np.stack([f(row, k) for k, row in enumerate(flat)]) if flat.shape[0] else flat
    return np.moveaxis(out.reshape(xm.shape), -1, axis)


WORST: dict = {}


def close(got, want, dt, name):
    assert got.dtype == dt
    d = ulps(got, round_half(want, dt))
    WORST[(name, dt.name)] = max(WORST.get((name, dt.name), 0), d)
    assert d <= 1, f"{name} {dt.name}: {d} ulps"


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape,axis", SHAPES)
def test_within_one_ulp(dt, shape, axis):
    x = random_half(dt, shape, 4.0, seed=len(shape) * 100 + shape[0])
    n = shape[axis]
    # hardmax: exact 0 and 1.
    h = smk.hardmax(x, axis)
    assert h.dtype == dt
    assert np.array_equal(h.astype(np.float64), along(lambda r, _: (np.arange(n) == np.argmax(r)).astype(float), x, axis))
    # partitioned: every activation and a zero width.
    w = n // 5
    layout = [(w, "softmax"), (0, "log_softmax"), (w, "log_softmax"), (w, "sigmoid"), (w, "tanh"), (n - 4 * w, "identity")]

    def part(r, _):
        return np.concatenate([ref_softmax(r[:w]), ref_log_softmax(r[w:2 * w]), 1 / (1 + np.exp(-r[2 * w:3 * w])),
                               np.tanh(r[3 * w:4 * w]), r[4 * w:]])
    close(smk.partitioned(x, layout, axis), along(part, x, axis), dt, "partitioned")
    # segment softmax with an empty group.
    off = [0, n // 3, n // 3, n - 1, n]
    seg = along(lambda r, _: np.concatenate([ref_softmax(r[a:b]) if b > a else r[a:b]
                                             for a, b in zip(off, off[1:])]), x, axis)
    close(smk.segment_softmax(x, off, axis), seg, dt, "segment_softmax")
    # lengths: 0, n and between; the three modes.
    fibres = int(np.prod(shape)) // n
    lens = (np.arange(fibres) * 7) % (n + 1)
    lshape = np.moveaxis(np.empty(shape), axis, -1).shape[:-1]

    def masked(r, k, mode):
        ln = lens[k]
        if mode == 1:
            return np.where(np.arange(n) < ln, ref_softmax(r), 0.0)
        head = (ref_log_softmax if mode == 2 else ref_softmax)(r[:ln]) if ln else r[:0]
        return np.concatenate([head, np.full(n - ln, -np.inf if mode == 2 else 0.0)])
    lens_shaped = lens.reshape(lshape)
    close(smk.masked_softmax(x, axis=axis, lengths=lens_shaped), along(lambda r, k: masked(r, k, 0), x, axis), dt,
          "masked_softmax_lengths")
    close(smk.masked_softmax(x, axis=axis, lengths=lens_shaped, renormalize=False),
          along(lambda r, k: masked(r, k, 1), x, axis), dt, "masked_softmax_lengths(renormalize=False)")
    close(smk.masked_log_softmax(x, axis=axis, lengths=lens_shaped), along(lambda r, k: masked(r, k, 2), x, axis), dt,
          "masked_log_softmax_lengths")


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("batch,sizes", [(5, [1, 3, 4]), (40, [7, 1, 30]), (1, [2])])
def test_hierarchical_within_one_ulp(dt, batch, sizes):
    coarse = random_half(dt, (batch, len(sizes)), 4.0, seed=1)
    fine = random_half(dt, (batch, sum(sizes)), 4.0, seed=2)
    pc = ref_softmax(coarse)
    cuts = np.cumsum([0] + sizes)
    cond = np.concatenate([ref_softmax(fine[:, a:b]) for a, b in zip(cuts, cuts[1:])], axis=1)
    joint = np.concatenate([ref_softmax(fine[:, a:b]) * pc[:, [g]] for g, (a, b) in enumerate(zip(cuts, cuts[1:]))], axis=1)
    close(smk.hierarchical_softmax(coarse, fine, sizes), joint, dt, "hierarchical_softmax")
    close(smk.hierarchical_softmax(coarse, fine, sizes, conditional=True), cond, dt, "hierarchical_softmax(conditional)")
    one = smk.hierarchical_softmax(coarse[0], fine[0], sizes)
    assert one.dtype == dt and one.shape == (sum(sizes),)


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_log_softmax_near_zero(dt):
    # One dominant logit per row: log-probabilities near 0 (float16
    # subnormals), where a float32 sum of 1 + small is a whole step off.
    rng = np.random.default_rng(3)
    x = np.where(np.arange(6) == 0, 0.0, -12.5 + rng.uniform(-0.5, 0.5, (64, 6))).astype(np.float32).astype(dt)
    want = ref_log_softmax(x)
    close(smk.partitioned(x, [(6, "log_softmax")]), want, dt, "partitioned(log_softmax near 0)")
    close(smk.masked_log_softmax(x, lengths=np.full(64, 6)), want, dt, "masked_log_softmax_lengths(near 0)")


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_edge_rows(dt):
    big = float(np.finfo(dt).max) if dt == F16 else 3.3895313892515355e38
    tiny = 2.0 ** -24 if dt == F16 else 2.0 ** -133
    rows = np.array([[big, -big, 0, 1], [np.nan, 1, 2, 3], [-np.inf, 0, -np.inf, 1],
                     [tiny, -tiny, 0, 3 * tiny], [0, -17, -18, -30]])
    with np.errstate(invalid="ignore", over="ignore"):
        x = rows.astype(np.float32).astype(dt)
    want = ref_softmax(x)
    close(smk.segment_softmax(x, [0, 4]), want, dt, "segment_softmax(edges)")
    close(smk.partitioned(x, [(4, "softmax")]), want, dt, "partitioned(edges)")
    close(smk.masked_softmax(x, lengths=[4] * 5), want, dt, "masked_softmax_lengths(edges)")
    close(smk.masked_log_softmax(x, lengths=[4] * 5), ref_log_softmax(x), dt, "masked_log_softmax_lengths(edges)")
    if dt == F16:  # exp(-17) is one float16 subnormal step, exp(-30) rounds to 0
        y = smk.segment_softmax(x, [0, 4])
        assert y[4].view(np.uint16)[1] == 1 and y[4].view(np.uint16)[3] == 0
    # Padding holding NaN and inf is exactly 0 / -inf; a zero length all 0 / -inf.
    with np.errstate(invalid="ignore"):
        p = np.array([[1, 2, np.nan, np.inf], [3, np.nan, 0, 0]]).astype(np.float32).astype(dt)
    s = smk.masked_softmax(p, lengths=[2, 0]).astype(np.float64)
    assert not np.isnan(s).any() and np.all(s[0, 2:] == 0) and np.all(s[1] == 0)
    ls = smk.masked_log_softmax(p, lengths=[2, 0]).astype(np.float64)
    assert np.all(ls[0, 2:] == -np.inf) and np.all(ls[1] == -np.inf)
    # hardmax: NaN wins at its first position, ties to the first.
    with np.errstate(invalid="ignore"):
        hx = np.array([[1, np.nan, 3], [2, 2, -np.inf]]).astype(np.float32).astype(dt)
    assert smk.hardmax(hx).astype(np.float64).tolist() == [[0, 1, 0], [1, 0, 0]]
    # hierarchical: a NaN coarse row is NaN, the other finite.
    with np.errstate(invalid="ignore"):
        c = np.array([[np.nan, 0], [0, 1]]).astype(np.float32).astype(dt)
    hy = smk.hierarchical_softmax(c, np.tile(np.arange(3), (2, 1)).astype(dt), [1, 2]).astype(np.float64)
    assert np.isnan(hy[0]).all() and np.isfinite(hy[1]).all()


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_out_and_in_place(dt):
    x = random_half(dt, (4, 9), 3.0)
    assert smk.hardmax(x).dtype == dt
    for f in (lambda a, out: smk.partitioned(a, [(4, "softmax"), (5, "log_softmax")], out=out),
              lambda a, out: smk.segment_softmax(a, [0, 3, 9], out=out),
              lambda a, out: smk.masked_softmax(a, lengths=[0, 3, 9, 4], out=out),
              lambda a, out: smk.masked_log_softmax(a, lengths=[0, 3, 9, 4], out=out)):
        want = f(x, None)
        y = np.empty_like(x)
        assert f(x, y) is y and np.array_equal(y.view(np.uint16), want.view(np.uint16))
        z = x.copy()
        f(z, z)  # in place
        assert np.array_equal(z.view(np.uint16), want.view(np.uint16))
        with pytest.raises(ArgumentError):
            f(x, np.empty(x.shape, np.float32))  # out must have the input's dtype


def test_mixed_and_other_dtypes_widen():
    x16 = random_half(F16, (2, 5))
    # hierarchical_softmax keeps half only when coarse and fine share it.
    assert smk.hierarchical_softmax(x16[:, :2], x16, [2, 3]).dtype == F16
    assert smk.hierarchical_softmax(x16[:, :2].astype(np.float32), x16, [2, 3]).dtype == np.float64
    assert smk.partitioned(x16.astype(np.int32), [(5, "softmax")]).dtype == np.float64


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_bad_arguments(dt):
    x = random_half(dt, (3, 4))
    with pytest.raises(ArgumentError):
        smk.masked_softmax(x, lengths=[1, 2])               # wrong count
    with pytest.raises(ArgumentError):
        smk.masked_log_softmax(x, lengths=[1, 5, 2])        # above n
    with pytest.raises(ArgumentError):
        smk.masked_softmax(x, lengths=[1, -1, 2])           # negative
    with pytest.raises(ArgumentError):
        smk.segment_softmax(x, [0, 3, 2, 4])                # decreasing
    with pytest.raises(ArgumentError):
        smk.segment_softmax(x, [0, 3])                      # not ending at n
    with pytest.raises(ArgumentError):
        smk.partitioned(x, [(3, "softmax")])                # widths do not sum to n
    with pytest.raises(ArgumentError):
        smk.partitioned(x, [(4, "softplus")])               # unknown activation
    with pytest.raises(ArgumentError):
        smk.hierarchical_softmax(x[:, :2], x, [2, 3])       # sizes do not sum to the fine width
    with pytest.raises(ArgumentError):
        smk.hierarchical_softmax(x[:, :2], x, [0, 4])       # a size < 1
    with pytest.raises(ArgumentError):
        smk.hardmax(x, axis=2)


def test_report_worst_ulps(capsys):
    # Runs last in this file (pytest keeps file order): the worst distances seen.
    with capsys.disabled():
        for (name, dt), d in sorted(WORST.items()):
            print(f"\nhalf structured {name} {dt}: worst {d} ulp", end="")
        print()
