"""Property tests (hypothesis) of the normalizers and element-wise functions.

Shapes of rank 1-3 whose reduced axis is 0..70 long or sits around the SIMD
widths (16 floats / 8 doubles per vector, two vectors per step); every axis;
float32 and float64; temperatures; finite values and values with NaN, +-inf
and magnitudes near the exp limits (+-88.7 float, +-709 double) and the
type's maximum. Checked: rows sum to 1, shift invariance, exp(log_softmax)
== softmax, agreement with scipy.special (softmax, logsumexp, expit,
log_expit), the NaN/inf rules of docs/DESIGN.md, in place == out of place, and the
same bits with 1 and 2 threads. Runs in well under a minute (max_examples).
"""
import math

import numpy as np
import scipy.special as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxkit as smk

SIMD_EDGES = [15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129]
DTYPES = st.sampled_from([np.float32, np.float64])
# float32: 16 lanes, float64: 8 lanes; kernels step two vectors at a time.
N = st.one_of(st.integers(0, 70), st.sampled_from(SIMD_EDGES))
OTHER = st.integers(0, 5)
TEMPERATURES = st.one_of(st.sampled_from([1.0, 0.5, 2.0, 0.1, 10.0, 0.7]),
                         st.floats(0.05, 20.0, allow_nan=False, allow_infinity=False))

COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def shape_and_axis(draw, min_n=0):
    """A shape of rank 1-3 and an axis (negative or not) whose length is N."""
    rank = draw(st.integers(1, 3))
    axis = draw(st.integers(-rank, rank - 1))
    shape = [draw(OTHER) for _ in range(rank)]
    shape[axis] = draw(N.filter(lambda n: n >= min_n))
    return tuple(shape), axis


def finite_values(dtype, scale=1e3):
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)


def special_values(dtype):
    big = float(np.finfo(dtype).max)
    lim = 88.7 if dtype == np.float32 else 709.0
    return st.one_of(
        finite_values(dtype, 50.0),
        st.sampled_from([math.inf, -math.inf, math.nan, lim, -lim, big, -big, 1e4, -1e4, 0.0, -0.0]),
    )


@st.composite
def arrays(draw, values="finite", min_n=0):
    dtype = draw(DTYPES)
    shape, axis = draw(shape_and_axis(min_n))
    elements = finite_values(dtype) if values == "finite" else special_values(dtype)
    x = draw(hnp.arrays(dtype, shape, elements=elements))
    return x, axis


def tol(dtype, n=1):
    """(rtol, atol) for one output element: a few hundred ulp of float32, or
    of float64, growing slowly with the row length."""
    if dtype == np.float32:
        return 2e-5 * (1 + n / 256), 1e-30
    return 1e-12 * (1 + n / 256), 1e-300


def reference_softmax(x, axis, t):
    """scipy's softmax of (x - max) / T in float64: shifting first keeps x / T
    from overflowing for logits near the dtype's maximum."""
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return sp.softmax((x - np.max(x, axis=axis, keepdims=True)) / t, axis=axis)


@settings(max_examples=500, **COMMON)
@given(arrays(), TEMPERATURES)
def test_rows_sum_to_one_and_match_scipy(xa, t):
    x, axis = xa
    y = smk.softmax(x, axis, temperature=t)
    assert y.dtype == x.dtype and y.shape == x.shape
    n = x.shape[axis]
    if x.size == 0:
        return
    rtol, atol = tol(x.dtype, n)
    np.testing.assert_allclose(y.sum(axis=axis, dtype=np.float64), 1.0, rtol=0, atol=rtol * 10)
    assert np.all(y >= 0) and np.all(y <= 1)
    np.testing.assert_allclose(y, reference_softmax(x, axis, t), rtol=rtol * 10, atol=atol + rtol)


@settings(max_examples=400, **COMMON)
@given(DTYPES, shape_and_axis(min_n=1), st.data(), st.integers(-10000, 10000), TEMPERATURES)
def test_shift_invariance(dtype, sa, data, shift, t):
    # Values on a 1/64 grid below 32 and integer shifts: x + shift is exact in
    # both dtypes, so any difference comes from the kernels.
    shape, axis = sa
    ints = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-2000, 2000)))
    x = (ints / 64.0).astype(dtype)
    xs = (x.astype(np.float64) + shift).astype(dtype)
    assert np.array_equal(xs.astype(np.float64) - shift, x.astype(np.float64))
    rtol, atol = tol(dtype, shape[axis])
    np.testing.assert_allclose(smk.softmax(xs, axis, temperature=t), smk.softmax(x, axis, temperature=t),
                               rtol=rtol, atol=atol)
    np.testing.assert_allclose(smk.log_softmax(xs, axis, temperature=t),
                               smk.log_softmax(x, axis, temperature=t), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(smk.logsumexp(xs, axis) - shift, smk.logsumexp(x, axis).astype(np.float64),
                               rtol=rtol, atol=rtol * (1 + abs(shift)))


@settings(max_examples=400, **COMMON)
@given(arrays(), TEMPERATURES)
def test_exp_log_softmax_is_softmax(xa, t):
    x, axis = xa
    ls = smk.log_softmax(x, axis, temperature=t)
    s = smk.softmax(x, axis, temperature=t)
    assert ls.dtype == x.dtype
    if x.size == 0:
        return
    assert np.all(ls <= 1e-6)
    rtol, atol = tol(x.dtype, x.shape[axis])
    # exp turns an absolute error of |ls| * eps into a relative one
    scale = 1 + np.abs(ls.astype(np.float64))
    np.testing.assert_allclose(np.exp(ls.astype(np.float64)), s, rtol=0,
                               atol=atol + float(np.max(rtol * scale * s)) + rtol * 1e-3)


@settings(max_examples=500, **COMMON)
@given(arrays(values="special"))
def test_logsumexp_matches_scipy(xa):
    x, axis = xa
    got = smk.logsumexp(x, axis)
    with np.errstate(all="ignore"):
        want = sp.logsumexp(x.astype(np.float64), axis=axis)
    rtol, _ = tol(x.dtype, x.shape[axis])
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)


@settings(max_examples=500, **COMMON)
@given(arrays(values="special"), TEMPERATURES)
def test_special_values_follow_design(xa, t):
    """NaN makes a row NaN; -inf entries get 0 (log: -inf) when the row has a
    finite max; an all -inf row is NaN; finite rows sum to 1."""
    x, axis = xa
    y = smk.softmax(x, axis, temperature=t)
    ly = smk.log_softmax(x, axis, temperature=t)
    xm = np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis]) if x.size else np.zeros((0, 1), x.dtype)
    ym = np.moveaxis(y, axis, -1).reshape(xm.shape)
    lm = np.moveaxis(ly, axis, -1).reshape(xm.shape)
    for row, yr, lr in zip(xm, ym, lm):
        if row.size == 0:
            continue
        if np.isnan(row).any() or np.all(row == -np.inf):
            assert np.isnan(yr).all() and np.isnan(lr).all()
        elif np.isfinite(row.max()):
            assert np.all(yr[row == -np.inf] == 0) and np.all(lr[row == -np.inf] == -np.inf)
            rtol, _ = tol(x.dtype, row.size)
            assert abs(float(yr.sum(dtype=np.float64)) - 1) <= 10 * rtol
            np.testing.assert_allclose(yr, reference_softmax(row, -1, t), rtol=10 * rtol,
                                       atol=10 * rtol)


@settings(max_examples=500, **COMMON)
@given(DTYPES.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, max_side=70),
                                            elements=special_values(dt))))
def test_sigmoid_in_unit_interval_and_matches_expit(x):
    y = smk.sigmoid(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    nan = np.isnan(x)
    assert np.array_equal(np.isnan(y), nan)
    assert np.all((y[~nan] >= 0) & (y[~nan] <= 1))
    rtol = 1e-6 if x.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, sp.expit(x.astype(np.float64)), rtol=rtol, atol=1e-38 if x.dtype == np.float32 else 1e-300,
                               equal_nan=True)


@settings(max_examples=500, **COMMON)
@given(DTYPES.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, max_side=70),
                                            elements=special_values(dt))))
def test_log_sigmoid_matches_log_expit(x):
    y = smk.log_sigmoid(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert np.all(y[~np.isnan(x)] <= 0)
    with np.errstate(all="ignore"):
        want = sp.log_expit(x.astype(np.float64))
    rtol = 2e-6 if x.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, want, rtol=rtol, atol=0, equal_nan=True)


@settings(max_examples=200, **COMMON)
@given(arrays(values="special"), TEMPERATURES)
def test_in_place_equals_out_of_place(xa, t):
    x, axis = xa
    for f in (smk.softmax, smk.log_softmax):
        want = f(x, axis, temperature=t)
        z = x.copy()
        f(z, axis, temperature=t, out=z)
        assert np.array_equal(z, want, equal_nan=True)
        assert np.array_equal(want.view(np.uint8), z.view(np.uint8))


LARGE = 1 << 19  # calls touching this many elements are split across threads


@settings(max_examples=10, **COMMON)
@given(DTYPES, st.sampled_from([1, 7, 16, 17, 64, 65, 300]), st.sampled_from([-1, 0]),
       st.integers(0, 2**32 - 1), st.booleans())
def test_same_bits_with_one_and_two_threads(dtype, n, axis, seed, specials):
    rng = np.random.default_rng(seed)
    rows = LARGE // n + 3
    shape = (rows, n) if axis == -1 else (n, rows)
    x = (rng.standard_normal(shape) * 30).astype(dtype)
    if specials:
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, 50)] = -np.inf
        flat[rng.integers(0, flat.size, 5)] = np.nan
        flat[rng.integers(0, flat.size, 5)] = np.inf
    results = []
    try:
        for threads in (1, 2):
            smk.set_num_threads(threads)
            assert smk.get_num_threads() == threads
            results.append([smk.softmax(x, axis, temperature=0.8), smk.log_softmax(x, axis),
                            smk.logsumexp(x, axis), smk.sigmoid(x), smk.log_sigmoid(x)])
    finally:
        smk.set_num_threads(0)
    for one, two in zip(*results):
        assert one.view(np.uint8).tobytes() == two.view(np.uint8).tobytes()

