"""softmaxkit.special against scipy.special, the module it replaces by an
import swap: the same values (within rounding), shapes, scalars and
defaults on scipy's documented edge cases and on random inputs of every
dtype and axis combination; plus axis tuples in the main API."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import softmaxkit
from softmaxkit import special as sk

INF, NAN = np.inf, np.nan
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-12, atol=1e-14)}


def expected_dtype(x) -> np.dtype:
    """The package's rule: float32 stays float32, every other real input is float64."""
    dt = np.asarray(x).dtype
    return np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)


def scipy_ref(fn, x, *args, **kw):
    """scipy's answer computed in the dtype this package computes in (scipy
    keeps int8 -> float16 and float16 as float16; the package computes those
    in float64)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(np.asarray(x, expected_dtype(x)), *args, **kw)


def same(got, want, dtype=None):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype is not None:
        assert got.dtype == dtype, (got.dtype, dtype)
    np.testing.assert_allclose(got, want, equal_nan=True, **TOL[np.dtype(got.dtype)])


def same_cancelling(got, want, bound):
    """A weighted logsumexp against scipy's where weights of both signs may
    cancel: both lose about eps * sum|terms| / |sum terms| of relative
    accuracy in the total, exp(bound - want) with `bound` the logsumexp of
    the absolute weights, so that widens the tolerance."""
    got, want, bound = np.asarray(got), np.asarray(want), np.asarray(bound)
    assert got.shape == want.shape
    tol = TOL[np.dtype(got.dtype)]["rtol"] * 4
    finite = np.isfinite(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(got[np.isinf(want)], want[np.isinf(want)])
    with np.errstate(over="ignore"):
        slack = np.exp(np.minimum(bound[finite] - want[finite], 700))
    assert np.all(np.abs(got[finite] - want[finite]) <= tol * (1 + np.abs(want[finite])) * slack)


# ------------------------------------------------------------- documented edge cases

EDGE_ROWS = [
    [1.0, 2.0, 3.0],
    [1000.0, 1.0],
    [-INF, 0.0, 1.0],
    [-INF, -INF],
    [INF, 1.0],
    [INF, -INF],
    [INF, INF],
    [NAN, 1.0],
    [NAN, INF],
    [-1e308, 1e308],
    [0.0],
]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("row", EDGE_ROWS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalizer_edge_values_match_scipy(name, row, dtype):
    with np.errstate(over="ignore"):
        x = np.array(row, dtype)
    got = getattr(sk, name)(x)
    if name == "log_softmax" and np.isposinf(x).any():
        # The one value difference: a fibre holding +inf is all NaN, as the
        # main API, PyTorch and JAX give; scipy gives -inf beside the +inf.
        assert np.isnan(got).all()
        return
    same(got, scipy_ref(getattr(sp, name), x), np.dtype(dtype))


@pytest.mark.parametrize("row", EDGE_ROWS + [[]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_edge_values_match_scipy(row, dtype):
    with np.errstate(over="ignore"):
        x = np.array(row, dtype)
    got = sk.logsumexp(x)
    assert type(got) is np.dtype(dtype).type  # a numpy scalar, as scipy
    same(got, scipy_ref(sp.logsumexp, x))
    g, s = sk.logsumexp(x, return_sign=True)
    w, ws = scipy_ref(sp.logsumexp, x, return_sign=True)
    same(g, w)
    same(s, ws)


WEIGHTED = [
    ([1.0, 2.0], [1.0, -2.0]),        # negative total
    ([1.0, 2.0], [0.0, 0.0]),         # all weights zero
    ([1.0, 1.0], [1.0, -1.0]),        # exact cancellation
    ([INF, 1.0], [0.0, 1.0]),         # inf with weight 0 adds nothing
    ([NAN, 1.0], [0.0, 1.0]),         # NaN with weight 0 adds nothing
    ([1.0, 2.0], [NAN, 1.0]),         # NaN weight
    ([INF, 1.0], [1.0, 1.0]),
    ([INF, 1.0], [-1.0, 1.0]),
    ([INF, INF], [1.0, -1.0]),
    ([-INF, -INF], [1.0, 1.0]),
    ([1000.0, 0.0], [0.0, 1.0]),      # the unweighted max must not underflow the rest
    ([3.0, 2.0, 1.0], [2.0, 0.5, -0.25]),
    ([1.0, 2.0], [INF, 1.0]),
]


@pytest.mark.parametrize("a,b", WEIGHTED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_logsumexp_edge_values_match_scipy(a, b, dtype):
    a, b = np.array(a, dtype), np.array(b, dtype)
    same(sk.logsumexp(a, b=b), scipy_ref(sp.logsumexp, a, b=b), np.dtype(dtype))
    g, s = sk.logsumexp(a, b=b, return_sign=True)
    w, ws = scipy_ref(sp.logsumexp, a, b=b, return_sign=True)
    same(g, w)
    same(s, ws)


def test_negative_total_without_return_sign_is_nan():
    assert np.isnan(sk.logsumexp([1.0, 2.0], b=[1.0, -2.0]))
    v, s = sk.logsumexp([1.0, 2.0], b=[1.0, -2.0], return_sign=True)
    assert s == -1.0 and np.isclose(v, np.log(2 * np.e**2 - np.e))


def test_all_masked_fibre_with_infinite_element_is_minus_inf():
    # scipy gives NaN here (its fallback multiplies 0 * inf); a weight of 0
    # removes its element, as scipy documents for the finite case.
    v, s = sk.logsumexp([INF, 1.0], b=[0.0, 0.0], return_sign=True)
    assert v == -INF and s == 0.0


@pytest.mark.parametrize("fn", ["expit", "log_expit", "logit"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_edge_values_match_scipy(fn, dtype):
    x = np.array([-INF, -1e4, -40.0, -1.0, -1e-300, 0.0, 1e-8, 0.3, 0.31, 0.5, 0.64, 0.65, 0.99,
                  1.0, 1.5, 40.0, 1e4, INF, NAN], dtype)
    same(getattr(sk, fn)(x), scipy_ref(getattr(sp, fn), x), np.dtype(dtype))


# ------------------------------------------------------------- types and shapes

@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "expit", "log_expit", "logit"])
@pytest.mark.parametrize("value", [0.25, 3, True, np.float32(0.25), np.float64(0.25), np.int8(1), np.array(0.25)])
def test_scalars_give_numpy_scalars(name, value):
    got = getattr(sk, name)(value)
    want = scipy_ref(getattr(sp, name), value)
    assert np.ndim(got) == 0 and not isinstance(got, np.ndarray)
    assert got.dtype == expected_dtype(value)
    same(got, want)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "expit", "log_expit", "logit"])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.bool_, np.float16, np.float32, np.float64])
def test_dtypes(name, dtype):
    x = (np.arange(6).reshape(2, 3) % 2 if dtype == np.bool_ else np.arange(6).reshape(2, 3) / 8).astype(dtype)
    got = getattr(sk, name)(x)
    assert np.asarray(got).dtype == expected_dtype(x)
    same(got, scipy_ref(getattr(sp, name), x))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "expit", "log_expit", "logit"])
def test_array_likes(name):
    for x in ([0.1, 0.2], [[0.1], [0.7]], (0.5, 0.25)):
        same(getattr(sk, name)(x), scipy_ref(getattr(sp, name), x), np.dtype(np.float64))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "expit", "log_expit", "logit"])
def test_complex_is_a_type_error_naming_scipy(name):
    with pytest.raises(TypeError, match="scipy.special"):
        getattr(sk, name)(np.array([1 + 1j, 2]))


def test_complex_weights_are_a_type_error():
    with pytest.raises(TypeError, match="scipy.special"):
        sk.logsumexp([1.0, 2.0], b=[1j, 1])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_empty_normalizers_give_empty_results(name):
    # scipy raises (the maximum of nothing); the package's rule is an empty result.
    for shape, axis in [((0,), None), ((2, 0), 1), ((0, 3), (0, 1)), ((2, 0, 3), (0, 2))]:
        y = getattr(sk, name)(np.zeros(shape), axis=axis)
        assert y.shape == shape and y.dtype == np.float64


@pytest.mark.parametrize("shape,axis", [((0,), None), ((2, 0), 1), ((2, 0), 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_empty_logsumexp_matches_scipy(shape, axis, keepdims):
    x = np.zeros(shape)
    same(sk.logsumexp(x, axis=axis, keepdims=keepdims), sp.logsumexp(x, axis=axis, keepdims=keepdims))
    same(sk.logsumexp(x, axis=axis, keepdims=keepdims, return_sign=True),
         sp.logsumexp(x, axis=axis, keepdims=keepdims, return_sign=True))
    b = np.ones(shape)
    same(sk.logsumexp(x, axis=axis, b=b, keepdims=keepdims), sp.logsumexp(x, axis=axis, b=b, keepdims=keepdims))
    same(sk.logsumexp(x, axis=axis, b=b, keepdims=keepdims, return_sign=True),
         sp.logsumexp(x, axis=axis, b=b, keepdims=keepdims, return_sign=True))


@pytest.mark.parametrize("shape,axis,want", [((2, 0, 3), (0, 2), (0,)), ((2, 0, 3), (1, 2), (2,)),
                                             ((2, 0, 3), (0, 1), (3,)), ((2, 0), None, ())])
def test_empty_logsumexp_over_axis_tuples(shape, axis, want):
    # scipy 1.17 raises IndexError for these; the result is -inf, as for one axis.
    x = np.zeros(shape)
    for b in (None, np.ones(shape)):
        y = sk.logsumexp(x, axis=axis, b=b)
        assert np.shape(y) == want and np.all(y == -np.inf)
    assert np.all(softmaxkit.logsumexp(x, axis=axis) == -np.inf)


def test_defaults_reduce_every_element():
    x = np.arange(12.0).reshape(3, 4) / 5
    same(sk.softmax(x), sp.softmax(x))
    assert np.isclose(sk.softmax(x).sum(), 1.0)
    same(sk.log_softmax(x), sp.log_softmax(x))
    same(sk.logsumexp(x), sp.logsumexp(x))
    # The main API keeps its own default: the last axis.
    same(softmaxkit.softmax(x), sp.softmax(x, axis=-1))


@pytest.mark.parametrize("fn", ["expit", "log_expit", "logit"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_as_ufuncs(fn, dtype):
    x = np.linspace(0.05, 0.95, 7).astype(dtype)
    want = scipy_ref(getattr(sp, fn), x)
    out = np.empty_like(x)
    assert getattr(sk, fn)(x, out=out) is out
    same(out, want)
    out2 = np.empty_like(x)
    assert getattr(sk, fn)(x, (out2,)) is out2  # positional, a 1-tuple as ufuncs take
    same(out2, want)
    y = x.copy()
    assert getattr(sk, fn)(y, out=y) is y  # in place
    same(y, want)
    with pytest.raises(ValueError):
        getattr(sk, fn)(x, out=np.empty(3, dtype))
    with pytest.raises(ValueError):
        getattr(sk, fn)(x, out=(out, out))


def test_bad_axes_are_errors():
    x = np.zeros((2, 3, 4))
    # Lists are refused, as numpy and scipy refuse them.
    for bad in [3, -4, (0, 3), (1, 1), (0, -3), 1.0, (1.0,), "a", [0, 1], [1]]:
        for call in (lambda: sk.softmax(x, axis=bad), lambda: sk.logsumexp(x, axis=bad),
                     lambda: sk.logsumexp(x, axis=bad, b=x), lambda: softmaxkit.softmax(x, axis=bad),
                     lambda: softmaxkit.logsumexp(x, axis=bad)):
            with pytest.raises(ValueError):
                call()


def test_axis_tuple_of_floats_is_refused_after_the_ints_were_cached():
    x = np.zeros((2, 3, 4))
    for ax in [(0, 2), (1, 2)]:
        sk.softmax(x, axis=ax)
        softmaxkit.logsumexp(x, axis=ax)
        for bad in [tuple(float(a) for a in ax), (ax[0], float(ax[1]))]:
            with pytest.raises(ValueError, match="axis"):
                sk.softmax(x, axis=bad)
            with pytest.raises(ValueError, match="axis"):
                softmaxkit.logsumexp(x, axis=bad)
    same(sk.softmax(x, axis=(np.int64(0), np.int32(2))), sp.softmax(x, axis=(0, 2)))


def test_b_that_does_not_broadcast_is_an_error():
    with pytest.raises(ValueError, match="broadcast"):
        sk.logsumexp(np.zeros((2, 3)), b=np.ones(2))


def test_b_broadcasts_both_ways():
    a, b = np.arange(3.0), np.array([[1.0], [-0.5]])
    same(sk.logsumexp(a, b=b, axis=1, return_sign=True), sp.logsumexp(a, b=b, axis=1, return_sign=True))
    same(sk.logsumexp(a, b=2), sp.logsumexp(a, b=2))
    assert sk.logsumexp(np.float32([1, 2]), b=2).dtype == np.float32  # a Python scalar weight keeps float32


@pytest.mark.parametrize("shape,axis", [((3, 4, 5), (0, 2)), ((2, 1, 3, 2), (1, 3)), ((1, 3, 1, 2), (0, 2))])
def test_inputs_are_not_modified(shape, axis):
    # (1, 3) of (2, 1, 3, 2): moving the length-1 axis is a view of x, which
    # the in-place normalization once wrote into.
    x = np.random.default_rng(0).normal(size=shape)
    keep = x.copy()
    sk.softmax(x, axis=axis)
    sk.log_softmax(x, axis=axis)
    sk.logsumexp(x, axis=axis, b=x)
    softmaxkit.softmax(x, axis=axis)
    softmaxkit.log_softmax(x, axis=axis)
    assert np.array_equal(x, keep)


# ------------------------------------------------------------- random inputs, every axis set

def all_axes(nd: int):
    yield None
    for r in range(1, nd + 1):
        for c in itertools.combinations(range(nd), r):
            yield c[0] if r == 1 else c
            yield tuple(a - nd for a in reversed(c))  # negative, unsorted


SHAPES = [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_every_axis_set_matches_scipy(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = (rng.normal(size=shape) * 4).astype(dtype)
    b = rng.normal(size=shape).astype(dtype)
    for axis in all_axes(len(shape)):
        same(sk.softmax(x, axis=axis), scipy_ref(sp.softmax, x, axis=axis), expected_dtype(x))
        same(sk.log_softmax(x, axis=axis), scipy_ref(sp.log_softmax, x, axis=axis), expected_dtype(x))
        for keepdims in (False, True):
            same(sk.logsumexp(x, axis=axis, keepdims=keepdims), scipy_ref(sp.logsumexp, x, axis=axis, keepdims=keepdims))
            g = sk.logsumexp(x, axis=axis, b=b, keepdims=keepdims, return_sign=True)
            w = scipy_ref(sp.logsumexp, x, axis=axis, b=np.asarray(b, expected_dtype(b)), keepdims=keepdims,
                          return_sign=True)
            same(g[1], w[1])
            bound = scipy_ref(sp.logsumexp, x, axis=axis, b=np.abs(np.asarray(b, expected_dtype(b))), keepdims=keepdims)
            same_cancelling(g[0], w[0], bound)
        if axis is not None:
            # The main API: same semantics over the same axes.
            same(softmaxkit.softmax(x, axis=axis), scipy_ref(sp.softmax, x, axis=axis))
            same(softmaxkit.log_softmax(x, axis=axis), scipy_ref(sp.log_softmax, x, axis=axis))
            same(softmaxkit.logsumexp(x, axis=axis), np.asarray(scipy_ref(sp.logsumexp, x, axis=axis)))
            same(softmaxkit.logsumexp(x, axis=axis, keepdims=True), scipy_ref(sp.logsumexp, x, axis=axis, keepdims=True))


def test_main_api_axis_tuple_out_and_in_place():
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    want = sp.softmax(x, axis=(0, 2))
    out = np.empty_like(x)
    assert softmaxkit.softmax(x, axis=(0, 2), out=out) is out
    same(out, want)
    y = x.copy()
    softmaxkit.softmax(y, axis=(0, 2), out=y)
    same(y, want)
    y = x.copy()
    softmaxkit.softmax(y, axis=(1, 2), out=y)  # adjacent: one kernel call in place
    same(y, sp.softmax(x, axis=(1, 2)))


def test_columns_and_threads_weighted():
    # Fibres down columns (inner > 1) and calls large enough to split across threads.
    rng = np.random.default_rng(2)
    for shape, axis in [((3, 1000, 37), 1), ((600, 1024), 1), ((1024, 600), 0), ((5, 7, 300), (0, 1))]:
        for dtype in (np.float32, np.float64):
            x = (rng.normal(size=shape) * 3).astype(dtype)
            b = rng.uniform(0.1, 2, size=shape).astype(dtype)
            b[..., ::7] = 0
            same(sk.logsumexp(x, axis=axis, b=b), scipy_ref(sp.logsumexp, x, axis=axis, b=b))


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
                  elements=finite),
       st.data())
def test_random_inputs_match_scipy(x, data):
    nd = x.ndim
    axis = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                               st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    keepdims = data.draw(st.booleans())
    same(sk.softmax(x, axis=axis), scipy_ref(sp.softmax, x, axis=axis), x.dtype)
    same(sk.log_softmax(x, axis=axis), scipy_ref(sp.log_softmax, x, axis=axis), x.dtype)
    same(sk.logsumexp(x, axis=axis, keepdims=keepdims), scipy_ref(sp.logsumexp, x, axis=axis, keepdims=keepdims))
    # Positive weights: zeros and negatives have their own tests (scipy turns
    # an all-zero-weight fibre into NaN when some exp(a) overflows).
    b = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.sampled_from([0.25, 0.5, 1.0, 2.0])))
    same(sk.logsumexp(x, axis=axis, b=b, keepdims=keepdims), scipy_ref(sp.logsumexp, x, axis=axis, b=b, keepdims=keepdims))
    p = np.clip(np.abs(x) / 1e3, 0, 1).astype(x.dtype)
    for fn in ("expit", "log_expit", "logit"):
        same(getattr(sk, fn)(x if fn != "logit" else p), scipy_ref(getattr(sp, fn), x if fn != "logit" else p), x.dtype)
