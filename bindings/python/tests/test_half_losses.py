"""Half precision from Python, continued: float16 and ml_dtypes.bfloat16 in
nll_loss, cross_entropy with probability targets,
binary_cross_entropy_with_logits, softmax / log_softmax / sigmoid backward,
ensemble_mean and sample. Half outputs against a float64 reference rounded
once to half (worst distance in ulps asserted), float32 losses against
float64, sampling against the float32 call on the widened logits (the same
draws), edge cases and refusals."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as smk
from softmaxkit import ArgumentError
from test_half import BF16, F16, HALVES, round_half, ulps

RNG = np.random.default_rng(20261206)


def ids(dt):
    return "f16" if dt == F16 else "bf16"


def halves(shape, dt, scale=3.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32).astype(dt)


def close_ulps(got, want64, dt, limit=1):
    """`got` (half) within `limit` ulps of `want64` rounded once, or within a
    float32 rounding of the terms where the result cancels (absolute
    `2^-20 * scale`)."""
    want = round_half(want64, dt)
    assert got.dtype == dt
    d = ulps(got, want)
    if d <= limit:
        return d
    err = np.abs(got.astype(np.float64) - want64)
    scale = np.max(np.abs(want64[np.isfinite(want64)])) if np.isfinite(want64).any() else 1.0
    half_ulp = np.abs(want.astype(np.float64)) * (2.0 ** -10 if dt == F16 else 2.0 ** -7)
    assert np.all((err <= half_ulp * 2 * limit) | (err <= 2.0 ** -20 * scale) | np.isnan(want64)), d
    return d


# ---------------------------------------------------------------- backward

def ref_softmax_backward(y, dy, axis):
    y, dy = y.astype(np.float64), dy.astype(np.float64)
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def ref_log_softmax_backward(y, dy, axis):
    y, dy = y.astype(np.float64), dy.astype(np.float64)
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


@pytest.mark.parametrize("dt", HALVES, ids=ids)
@pytest.mark.parametrize("shape,axis", [((16, 33), -1), ((3, 9, 5), 1), ((700, 64), -1), ((1, 1), -1)])
def test_backward_against_float64(dt, shape, axis):
    x = halves(shape, dt)
    y = smk.softmax(x, axis=axis)
    ly = smk.log_softmax(x, axis=axis)
    dy = halves(shape, dt, 1.0)
    got = smk.softmax_backward(y, dy, axis=axis)
    assert got.dtype == dt
    assert ulps(got, round_half(ref_softmax_backward(y, dy, axis), dt)) <= 1
    got = smk.log_softmax_backward(ly, dy, axis=axis)
    assert ulps(got, round_half(ref_log_softmax_backward(ly, dy, axis), dt)) <= 1
    s = smk.sigmoid(x)
    got = smk.sigmoid_backward(s, dy)
    s64 = s.astype(np.float64)
    assert ulps(got, round_half(dy.astype(np.float64) * s64 * (1 - s64), dt)) <= 1


@pytest.mark.parametrize("dt", HALVES, ids=ids)
def test_softmax_backward_cancellation(dt):
    # dy_j close to sum(dy * y): the float32 kernel's float32 sum was up to
    # 4 half ulps off here; the half kernel's double sum is within 1.
    x = halves((4000, 100), dt)
    y = smk.softmax(x)
    dy = (1.0 + 0.01 * RNG.standard_normal((4000, 100))).astype(np.float32).astype(dt)
    got = smk.softmax_backward(y, dy)
    assert ulps(got, round_half(ref_softmax_backward(y, dy, -1), dt)) <= 1


@pytest.mark.parametrize("dt", HALVES, ids=ids)
def test_backward_edges(dt):
    # NaN in a row makes that row NaN (as float32); other rows are untouched.
    y = np.array([[0.25, 0.75], [np.nan, 1.0]], dt)
    dy = np.array([[1.0, -1.0], [1.0, 1.0]], dt)
    dx = smk.softmax_backward(y, dy)
    assert np.all(np.isnan(dx[1].astype(np.float32))) and not np.isnan(dx[0].astype(np.float32)).any()
    # Largest finite half values: float32 inside, so no overflow before the rounding.
    big = 65504.0 if dt == F16 else float(np.finfo(np.float32).max) / 2
    yb = np.array([0.5, 0.5], dt)
    db = np.array([big, -big], dt)
    got = smk.softmax_backward(yb, db)
    want = ref_softmax_backward(yb, db, -1)
    close_ulps(got, want, dt)
    # Subnormal results: sigmoid backward of a tiny y stays a subnormal, as rounding says.
    tiny = np.array([2.0 ** -20, 2.0 ** -24, 0.0, 1.0], np.float64).astype(dt)
    got = smk.sigmoid_backward(tiny, np.ones(4, dt))
    t64 = tiny.astype(np.float64)
    assert ulps(got, round_half(t64 * (1 - t64), dt)) == 0
    # In place through out= is not offered; dx has the input's dtype and shape.
    assert got.dtype == dt and got.shape == (4,)


@pytest.mark.parametrize("dt", HALVES, ids=ids)
def test_backward_refusals(dt):
    y = np.zeros((2, 3), dt)
    with pytest.raises(ArgumentError):
        smk.softmax_backward(y, np.zeros((2, 4), dt))
    # Mixed dtypes are promoted (float64), never mixed in one half kernel.
    got = smk.softmax_backward(y, np.zeros((2, 3), np.float32))
    assert got.dtype == np.float64


# ---------------------------------------------------------------- losses

def ref_lsm(x, axis):
    x = x.astype(np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


@pytest.mark.parametrize("dt", HALVES, ids=ids)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nll_loss(dt, reduction):
    x = smk.log_softmax(halves((40, 7, 3), dt), axis=1)
    t = RNG.integers(0, 7, size=(40, 3))
    t[0, 0] = -100
    w = RNG.uniform(0.5, 2.0, 7).astype(np.float32)
    got = smk.nll_loss(x, t, weight=w, reduction=reduction)
    xf = x.astype(np.float64)
    tt = np.where(t == -100, 0, t)
    picked = np.take_along_axis(xf, tt[:, None, :], axis=1)[:, 0, :]
    per = np.where(t == -100, 0.0, -w.astype(np.float64)[tt] * picked)
    want = per if reduction == "none" else per.sum() / (np.where(t == -100, 0, w[tt]).sum() if reduction == "mean" else 1)
    got = np.asarray(got)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    # The same as the float32 call on the widened log-probabilities.
    np.testing.assert_allclose(got, smk.nll_loss(x.astype(np.float32), t, weight=w, reduction=reduction), rtol=1e-6)


@pytest.mark.parametrize("dt", HALVES, ids=ids)
@pytest.mark.parametrize("shape", [(50, 11), (6, 5, 4), (1, 70000)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_probs(dt, shape, reduction):
    x = halves(shape, dt)
    p = smk.softmax(halves(shape, dt), axis=1)   # probability targets in the logits' dtype
    w = RNG.uniform(0.5, 2.0, shape[1]).astype(np.float32)
    eps = 0.1
    loss, g = smk.cross_entropy(x, p, weight=w, label_smoothing=eps, reduction=reduction, return_grad=True)
    lsm = ref_lsm(x, 1)
    C = shape[1]
    wb = w.astype(np.float64).reshape((1, C) + (1,) * (len(shape) - 2))
    q = wb * ((1 - eps) * p.astype(np.float64) + eps / C)
    per = -(q * lsm).sum(axis=1)
    samples = per.size
    div = samples if reduction == "mean" else 1
    want = per if reduction == "none" else per.sum() / div
    loss = np.asarray(loss)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    gw = (q.sum(axis=1, keepdims=True) * np.exp(lsm) - q) / div
    assert g.dtype == dt
    close_ulps(g, gw, dt)


@pytest.mark.parametrize("dt", HALVES, ids=ids)
def test_cross_entropy_probs_edges(dt):
    big = 65504.0 if dt == F16 else 3.0e38
    x = np.array([[big, -big, 0.0], [1.0, np.nan, 0.0], [-np.inf, 0.0, 1.0]], dt)
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.0, 0.5, 0.5]], dt)
    loss, g = smk.cross_entropy(x, p, reduction="none", return_grad=True)
    lf, gf = smk.cross_entropy(x.astype(np.float32), p.astype(np.float32), reduction="none", return_grad=True)
    np.testing.assert_array_equal(loss, lf)
    assert ulps(g, round_half(gf.astype(np.float64), dt)) <= 1
    # A -inf logit with probability 0 is 0 * inf = NaN, as in PyTorch and the float32 kernel.
    assert loss[0] == 0 and np.isnan(loss[1]) and np.isnan(loss[2])
    # Mixed dtypes promote (the float64 kernel), as numpy does.
    l64 = smk.cross_entropy(x, p.astype(np.float32), reduction="none")
    assert np.asarray(l64).dtype == np.float64
    with pytest.raises(ArgumentError):
        smk.cross_entropy(x, p[:, :2].copy())


@pytest.mark.parametrize("dt", HALVES, ids=ids)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_binary_cross_entropy_with_logits(dt, reduction):
    x = halves((300, 9), dt, 6.0)
    y = RNG.uniform(0, 1, (300, 9)).astype(np.float32).astype(dt)
    w = RNG.uniform(0.5, 2, (300, 9)).astype(np.float32)
    pw = RNG.uniform(0.5, 3, 9).astype(np.float32)
    got = np.asarray(smk.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction=reduction))
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    sp = np.log1p(np.exp(-np.abs(xf))) + np.maximum(-xf, 0)
    per = w * ((1 - yf) * xf + (1 + (pw - 1) * yf) * sp)
    want = per if reduction == "none" else per.mean() if reduction == "mean" else per.sum()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    # Edge values: the largest finite half, a NaN; no pos_weight, no weight.
    big = 65504.0 if dt == F16 else 3.0e38
    xe = np.array([big, -big, np.nan, 0.0], dt)
    ye = np.array([0.0, 0.0, 1.0, 1.0], dt)
    le = smk.binary_cross_entropy_with_logits(xe, ye, reduction="none")
    lf = smk.binary_cross_entropy_with_logits(xe.astype(np.float32), ye.astype(np.float32), reduction="none")
    np.testing.assert_array_equal(le, lf)
    assert le[1] == 0 and np.isnan(le[2])
    with pytest.raises(ArgumentError):
        smk.binary_cross_entropy_with_logits(x, y[:10])
    assert np.isnan(smk.binary_cross_entropy_with_logits(np.zeros(0, dt), np.zeros(0, dt)))


# ---------------------------------------------------------------- ensembles

@pytest.mark.parametrize("dt", HALVES, ids=ids)
@pytest.mark.parametrize("mode", ["arithmetic", "geometric", "logits"])
def test_ensemble_mean(dt, mode):
    shape = (600, 60)
    if mode == "logits":
        members = [halves(shape, dt) for _ in range(3)]
    else:
        members = [smk.softmax(halves(shape, dt)) for _ in range(3)]
        members[1][0, 0] = 0  # a zero probability: 0 in the geometric mean
    got = smk.ensemble_mean(members, mode=mode)
    m = np.stack([a.astype(np.float64) for a in members])
    if mode == "arithmetic":
        want = m.mean(axis=0)
    else:
        with np.errstate(divide="ignore"):
            z = np.log(m).mean(axis=0) if mode == "geometric" else m.mean(axis=0)
        zmax = z.max(axis=-1, keepdims=True)
        e = np.exp(z - zmax)
        want = e / e.sum(axis=-1, keepdims=True)
    assert got.dtype == dt
    close_ulps(got, want, dt)
    # Stacked along an axis: the same result.
    assert ulps(smk.ensemble_mean(np.stack(members, axis=1), axis=1, mode=mode), got) == 0
    if mode == "geometric":
        assert got[0, 0] == 0


# ---------------------------------------------------------------- sampling

@pytest.mark.parametrize("dt", HALVES, ids=ids)
@pytest.mark.parametrize("kw", [
    {},
    {"temperature": 0.7, "top_k": 20, "top_p": 0.9},
    {"min_p": 0.05, "num_samples": 3},
    {"num_samples": 4, "replacement": False, "temperature": 1.5},
    {"temperature": 0.0},
    {"row_offset": 12345},
])
@pytest.mark.parametrize("shape,axis", [((1, 300), -1), ((1500, 50), -1), ((40, 30, 7), 1)])
def test_sample_equals_float32_on_widened_logits(dt, kw, shape, axis):
    x = halves(shape, dt)
    i16, l16 = smk.sample(x, axis=axis, seed=99, return_log_probs=True, **kw)
    i32, l32 = smk.sample(x.astype(np.float32), axis=axis, seed=99, return_log_probs=True, **kw)
    np.testing.assert_array_equal(i16, i32)
    assert l16.dtype == np.float32
    np.testing.assert_array_equal(l16, l32)


@pytest.mark.parametrize("dt", HALVES, ids=ids)
def test_sample_masks_and_edges(dt):
    x = halves((900, 40), dt)
    x[3] = -np.inf          # nothing to draw from: -1, NaN
    x[4, 7] = np.nan
    full = RNG.uniform(size=x.shape) > 0.3
    pattern = RNG.uniform(size=40) > 0.5
    for mask in (full, pattern):
        a = smk.sample(x, mask=mask, seed=5, num_samples=2, return_log_probs=True)
        b = smk.sample(x.astype(np.float32), mask=mask, seed=5, num_samples=2, return_log_probs=True)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    i = smk.sample(x, seed=1)
    assert i[3] == -1 and i[4] == -1
    with pytest.raises(ArgumentError):
        smk.sample(x, seed=1, top_p=0.0)
    with pytest.raises(ArgumentError):
        smk.sample(x, seed=1, num_samples=41, replacement=False)


@pytest.mark.parametrize("dt", HALVES, ids=ids)
def test_half_results_do_not_depend_on_the_thread_count(dt):
    x = halves((3000, 64), dt)
    dy = halves((3000, 64), dt, 1.0)
    p = smk.softmax(halves((3000, 64), dt))
    before = smk.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            smk.set_num_threads(n)
            out.append((smk.sample(x, seed=3, num_samples=2), smk.softmax_backward(p, dy),
                        smk.cross_entropy(x, p, return_grad=True, reduction="sum"),
                        smk.ensemble_mean([p, smk.softmax(x)], mode="geometric")))
    finally:
        smk.set_num_threads(before)
    (s1, b1, (l1, g1), e1), (s2, b2, (l2, g2), e2) = out
    np.testing.assert_array_equal(s1, s2)
    assert ulps(b1, b2) == 0 and ulps(g1, g2) == 0 and ulps(e1, e2) == 0
    assert l1 == l2
