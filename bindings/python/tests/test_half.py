"""Half precision from Python: float16 and ml_dtypes.bfloat16 in and out of
softmax, log_softmax, logsumexp, softmax_topk, cross_entropy, sigmoid,
log_sigmoid, masked_softmax, masked_log_softmax, argmax and topk, compared
with a float64 reference rounded once to half (at most 1 ulp), their edge
cases, and the refusals (wrong dtypes, bfloat16 without ml_dtypes)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import softmaxkit as smk
from softmaxkit import ArgumentError

try:
    import ml_dtypes
    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # bfloat16 cases are skipped
    ml_dtypes = None
    BF16 = None

F16 = np.dtype(np.float16)
HALVES = [F16] + ([BF16] if BF16 is not None else [])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def round_half(v: np.ndarray, dt: np.dtype) -> np.ndarray:
    """float64 values rounded once, to nearest even, into `dt` (written from
    the formats' definitions, not through float32)."""
    v = np.asarray(v, np.float64)
    mant, emin, emax = (11, -14, 15) if dt == F16 else (8, -126, 127)
    a = np.abs(v)
    with np.errstate(all="ignore"):
        e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
        e = np.where(np.ldexp(1.0, e.astype(int)) > a, e - 1, e)          # log2 can be off by one
        e = np.where(np.ldexp(1.0, (e + 1).astype(int)) <= a, e + 1, e)
        e = np.maximum(e, emin)                                            # subnormals share emin's quantum
        q = np.ldexp(1.0, (e - (mant - 1)).astype(int))
        r = np.rint(a / q) * q                                             # rint: ties to even
        big = np.ldexp(2.0 - 2.0 ** (1 - mant), emax)
        r = np.where((r > big) | np.isinf(a), np.inf, r)
        r = np.copysign(np.where(np.isnan(v), np.nan, r), v)
    return r.astype(np.float32).astype(dt)  # exact: r is representable in dt


def ulps(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in ulps between two half arrays (NaN must meet NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    assert np.array_equal(np.isnan(fa), np.isnan(fb)), "NaN positions differ"
    ia = a.view(np.uint16).astype(np.int64)
    ib = b.view(np.uint16).astype(np.int64)
    oa = np.where(ia & 0x8000, -(ia & 0x7FFF), ia)
    ob = np.where(ib & 0x8000, -(ib & 0x7FFF), ib)
    d = np.abs(oa - ob)[~np.isnan(fa)]
    return int(d.max()) if d.size else 0


def ref_softmax(x, axis=-1, t=1.0):
    x = x.astype(np.float64) / t
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - m)
        return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1, t=1.0):
    x = x.astype(np.float64) / t
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def ref_logsumexp(x, axis=-1):
    x = x.astype(np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.squeeze(m, axis) + np.log(np.exp(x - np.where(np.isfinite(m), m, 0)).sum(axis=axis))
    return r


def random_half(dt, shape, scale=10.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(np.float32).astype(dt)


# ---------------------------------------------------------------- the reference itself

def test_reference_rounding_matches_numpy_float16():
    # numpy rounds float64 to float16 directly (correctly): the reference must agree.
    rng = np.random.default_rng(5)
    v = np.concatenate([rng.standard_normal(100000) * 10.0 ** rng.integers(-9, 5, 100000),
                        [65504, 65519.99, 65520, -65520, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 1e-9, 0.0, -0.0]])
    with np.errstate(over="ignore"):
        assert np.array_equal(round_half(v, F16).view(np.uint16), v.astype(F16).view(np.uint16))


# ---------------------------------------------------------------- accuracy

SHAPES = [((7, 1000), -1), ((3, 33, 5), 1), ((2, 32000), -1), ((64, 10), -1), ((4, 3), 0)]


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("t", [1.0, 0.7])
def test_normalizers_within_one_ulp(dt, shape, axis, t):
    x = random_half(dt, shape, seed=len(shape) + shape[0])
    for fn, ref in ((smk.softmax, ref_softmax), (smk.log_softmax, ref_log_softmax)):
        y = fn(x, axis=axis, temperature=t)
        assert y.dtype == dt and y.shape == x.shape
        assert ulps(y, round_half(ref(x, axis, t), dt)) <= 1, fn.__name__
    lse = smk.logsumexp(x, axis=axis)
    assert lse.dtype == dt
    assert ulps(lse, round_half(ref_logsumexp(x, axis), dt)) <= 1


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_softmax_topk_matches_softmax(dt):
    x = random_half(dt, (6, 1000), 8.0, seed=3)
    p, i = smk.softmax_topk(x, 5)
    assert p.dtype == dt and i.dtype == np.int64
    ref = round_half(ref_softmax(x), dt)
    assert ulps(p, np.take_along_axis(ref, i, axis=-1)) <= 1
    assert np.all(np.diff(np.take_along_axis(x.astype(np.float64), i, -1), axis=-1) <= 0)
    # Over a middle axis.
    x3 = random_half(dt, (2, 50, 3), seed=4)
    p3, i3 = smk.softmax_topk(x3, 4, axis=1)
    assert p3.dtype == dt
    assert ulps(p3, np.take_along_axis(round_half(ref_softmax(x3, 1), dt), i3, axis=1)) <= 1


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy(dt, reduction):
    x = random_half(dt, (9, 1000), seed=7)
    t = (np.arange(9) * 97) % 1000
    t[3] = -100
    w = (0.5 + (np.arange(1000) % 7) * 0.25).astype(np.float32)
    loss, grad = smk.cross_entropy(x, t, weight=w, reduction=reduction, return_grad=True)
    assert grad.dtype == dt and grad.shape == x.shape
    lp = ref_log_softmax(x)
    keep = t != -100
    per = np.zeros(9)
    per[keep] = -w[t[keep]] * lp[keep, t[keep]]
    if reduction == "none":
        assert loss.dtype == np.float32
        np.testing.assert_allclose(loss, per, rtol=1e-6, atol=0)
        denom = 1.0
    else:
        assert np.asarray(loss).dtype == np.float32
        denom = w[t[keep]].sum() if reduction == "mean" else 1.0
        np.testing.assert_allclose(loss, per.sum() / denom, rtol=1e-6)
    g = np.zeros((9, 1000))
    p = ref_softmax(x)
    for r in np.nonzero(keep)[0]:
        g[r] = w[t[r]] * (p[r] - (np.arange(1000) == t[r]))
    assert ulps(grad, round_half(g / denom, dt)) <= 1


# ---------------------------------------------------------------- edge cases

@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_edge_rows(dt):
    inf, nan = np.inf, np.nan
    x = np.array([[1, nan, 2, 3], [-inf, 1, -inf, 2], [-inf] * 4, [65504, -65504, 65504, 0],
                  [5.96e-8, -5.96e-8, 6.0e-5, 0], [0, -20, -12, -16], [100, -100, 50, 0]]).astype(np.float32).astype(dt)
    with np.errstate(invalid="ignore"):
        y = smk.softmax(x)
        ly = smk.log_softmax(x)
        lse = smk.logsumexp(x)
    assert ulps(y, round_half(ref_softmax(x), dt)) <= 1
    assert ulps(ly, round_half(ref_log_softmax(x), dt)) <= 1
    assert ulps(lse, round_half(ref_logsumexp(x), dt)) <= 1
    assert np.isnan(y[0].astype(np.float32)).all() and np.isnan(y[2].astype(np.float32)).all()
    assert y[1, 0] == 0 and y[1, 2] == 0
    assert lse[2].astype(np.float32) == -np.inf
    if dt == F16:
        assert y[5, 1] == 0                               # e^-20: below float16's subnormals
        assert 0 < y[5, 2] < np.finfo(np.float16).tiny    # e^-12: a float16 subnormal
        assert lse[3] == np.float16(65504)                # 65504 + log 2 rounds down


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_in_place_and_out(dt):
    x = random_half(dt, (5, 40), seed=11)
    want = smk.softmax(x)
    z = x.copy()
    assert smk.softmax(z, out=z) is z
    assert np.array_equal(z.view(np.uint16), want.view(np.uint16))
    out = np.empty_like(x)
    smk.log_softmax(x, out=out)
    assert np.array_equal(out.view(np.uint16), smk.log_softmax(x).view(np.uint16))


def test_tuple_axes_keep_float16():
    x = random_half(F16, (3, 4, 5), seed=2)
    y = smk.softmax(x, axis=(0, 2))
    assert y.dtype == F16
    ref = np.moveaxis(ref_softmax(np.moveaxis(x, 1, 0).reshape(4, 15)).reshape(4, 3, 5), 0, 1)
    assert ulps(y, round_half(ref, F16)) <= 1
    assert smk.logsumexp(x, axis=(1, 2)).dtype == F16


def test_big_endian_and_strided_float16():
    x = random_half(F16, (6, 30), seed=9)
    want = smk.softmax(x)
    assert np.array_equal(smk.softmax(x.astype(">f2")).view(np.uint16), want.view(np.uint16))
    assert np.array_equal(smk.softmax(np.asfortranarray(x)), want)


# ---------------------------------------------------------------- refusals

def test_wrong_out_dtype_is_refused():
    x = random_half(F16, (2, 8))
    with pytest.raises(ArgumentError, match="dtype"):
        smk.softmax(x, out=np.empty((2, 8), np.float32))
    with pytest.raises(ArgumentError, match="dtype"):
        smk.softmax(x.astype(np.float32), out=np.empty((2, 8), F16))
    if BF16 is not None:
        with pytest.raises(ArgumentError, match="dtype"):
            smk.softmax(x.astype(BF16), out=np.empty((2, 8), F16))


def test_bad_arguments_on_half():
    x = random_half(F16, (2, 8))
    with pytest.raises(ArgumentError):
        smk.softmax(x, temperature=0)
    with pytest.raises(ArgumentError):
        smk.softmax_topk(x, 9)
    with pytest.raises(ArgumentError, match="outside"):
        smk.cross_entropy(x, np.array([0, 8]))
    with pytest.raises(ArgumentError):
        smk.cross_entropy(x, np.array([0, 1]), weight=np.ones(7))


def test_bfloat16_without_ml_dtypes_is_a_clear_error():
    class TorchLikeBFloat16:
        dtype = "torch.bfloat16"

        def __array__(self, *a, **k):
            raise TypeError("Got unsupported ScalarType BFloat16")

    with pytest.raises(ArgumentError, match="pip install ml_dtypes"):
        smk.softmax(TorchLikeBFloat16())


def test_import_needs_numpy_only():
    code = textwrap.dedent("""
        import sys
        sys.modules["ml_dtypes"] = None   # importing it would fail
        import numpy as np, softmaxkit as smk
        y = smk.softmax(np.array([1, 2, 3], np.float16))
        assert y.dtype == np.float16
        assert "ml_dtypes" not in sys.modules or sys.modules["ml_dtypes"] is None
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_half_types_are_distinct(tmp_path):
    # Passing a bfloat16 buffer to a float16 function does not compile.
    src = tmp_path / "mix.c"
    src.write_text('#include "softmaxkit.h"\n'
                   'int f(const smk_bf16 *x, smk_f16 *y) { return smk_softmax_f16(x, y, 1, 2, 1, 1.0f); }\n')
    out = subprocess.run(["cc", "-std=c99", "-Werror", "-fsyntax-only", "-I", os.path.join(ROOT, "include"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "smk_bf16" in out.stderr
    src.write_text('#include "softmaxkit.h"\n'
                   'int f(const smk_f16 *x, smk_f16 *y) { return smk_softmax_f16(x, y, 1, 2, 1, 1.0f); }\n')
    out = subprocess.run(["cc", "-std=c99", "-Werror", "-fsyntax-only", "-I", os.path.join(ROOT, "include"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------- sigmoid, masked, argmax, top-k

def all_halves(dt):
    """Every 16-bit pattern of `dt`."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(dt)


def ref_sigmoid(x):
    with np.errstate(invalid="ignore"):  # ml_dtypes warns casting NaN
        x = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def ref_log_sigmoid(x):
    with np.errstate(invalid="ignore"):  # ml_dtypes warns casting NaN
        x = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_sigmoid_every_half_value(dt):
    x = all_halves(dt)
    for fn, ref in ((smk.sigmoid, ref_sigmoid), (smk.log_sigmoid, ref_log_sigmoid)):
        y = fn(x)
        assert y.dtype == dt and y.shape == x.shape
        assert ulps(y, round_half(ref(x), dt)) <= 1, fn.__name__
    big = np.array([-np.inf, -65504, 65504, np.inf]).astype(np.float32).astype(dt)
    assert smk.sigmoid(big).astype(np.float32).tolist() == [0, 0, 1, 1]
    assert smk.log_sigmoid(big)[1] == big[1]
    z = x.reshape(256, 256).copy()
    assert smk.sigmoid(z, out=z) is z
    assert np.array_equal(z.reshape(-1).view(np.uint16), smk.sigmoid(x).view(np.uint16))


def ref_masked(x, mask, axis, mode):
    """mode: 'renorm', 'then_mask' or 'log' (float64 reference)."""
    x = np.moveaxis(x.astype(np.float64), axis, -1)
    m = np.moveaxis(np.broadcast_to(mask, np.moveaxis(x, -1, axis).shape), axis, -1).astype(bool)
    sel = x if mode == "then_mask" else np.where(m, x, -np.inf)
    nan = np.isnan(sel).any(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.max(np.where(np.isnan(sel), -np.inf, sel), -1, keepdims=True)
        e = np.exp(sel - mx)
        s = np.nansum(e, -1, keepdims=True)
        out = (sel - mx) - np.log(s) if mode == "log" else e / s
    out = np.where(nan | (mx == -np.inf), np.nan, out)
    out = np.where(m, out, -np.inf if mode == "log" else 0.0)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape,axis", [((7, 1000), -1), ((3, 33, 5), 1), ((2, 32000), -1), ((4, 3), 0)])
def test_masked_within_one_ulp(dt, shape, axis):
    rng = np.random.default_rng(len(shape) + shape[0])
    x = random_half(dt, shape, 12.0, seed=shape[0])
    full = rng.random(shape) < 0.7
    full[0] = False                                  # a fully masked slice
    pattern = rng.random(shape[axis]) < 0.6
    pattern[0] = True
    for mask in (full, pattern if axis in (-1, len(shape) - 1) else None):
        if mask is None:
            continue
        for mode in ("renorm", "then_mask", "log"):
            if mode == "log":
                y = smk.masked_log_softmax(x, mask, axis)
            else:
                y = smk.masked_softmax(x, mask, axis, renormalize=mode == "renorm")
            assert y.dtype == dt and y.shape == x.shape
            assert ulps(y, round_half(ref_masked(x, mask, axis, mode), dt)) <= 1, mode


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
def test_masked_edge_rows(dt):
    inf, nan = np.inf, np.nan
    x = np.array([[1, nan, 2, 3], [1, nan, 2, 3], [-inf, 1, -inf, 2], [5, 6, 7, 8], [-inf, -inf, 3, -inf],
                  [65504, -65504, 65504, 0], [0, -20, -12, -16]]).astype(np.float32).astype(dt)
    m = np.array([[1, 0, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1], [1, 1, 0, 1], [1, 1, 1, 1]], bool)
    y = smk.masked_softmax(x, m)
    ly = smk.masked_log_softmax(x, m)
    assert ulps(y, round_half(ref_masked(x, m, -1, "renorm"), dt)) <= 1
    assert ulps(ly, round_half(ref_masked(x, m, -1, "log"), dt)) <= 1
    f = y.astype(np.float32)
    assert f[0, 1] == 0 and not np.isnan(f[0]).any()                 # NaN unselected: ignored
    assert np.isnan(f[1, [0, 1, 3]]).all() and f[1, 2] == 0          # NaN selected
    assert (f[3] == 0).all() and (ly[3].astype(np.float32) == -inf).all()  # fully masked
    assert np.isnan(f[4, [0, 1, 3]]).all() and f[4, 2] == 0          # selected all -inf
    if dt == F16:
        assert y[6, 1] == 0                                          # e^-20 underflows in float16


@pytest.mark.parametrize("dt", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape,axis,k", [((6, 1000), -1, 5), ((2, 50, 3), 1, 4), ((4, 7), -1, 7), ((2, 20000), -1, 9)])
def test_argmax_topk_exact(dt, shape, axis, k):
    rng = np.random.default_rng(shape[0] * 10 + k)
    # Few distinct values (ties to the lower index), NaN, -inf and -0.
    v = np.floor(rng.random(shape) * 30) - 15
    u = rng.random(shape)
    v = np.where(u < 0.01, np.nan, np.where(u < 0.02, -np.inf, np.where(u < 0.03, -0.0, v)))
    x = v.astype(np.float32).astype(dt)
    a = smk.argmax(x, axis)
    vals, idx = smk.topk(x, k, axis)
    assert a.dtype == np.int64 and vals.dtype == dt and idx.dtype == np.int64
    # Reference: NaN first, then larger, ties by index (a stable sort of -x with NaN as -inf).
    key = np.where(np.isnan(v), -np.inf, -v)
    order = np.argsort(key, axis=axis, kind="stable")
    want = np.take(order, np.arange(k), axis=axis)
    assert np.array_equal(idx, want)
    assert np.array_equal(a, np.take(order, 0, axis=axis))
    assert np.array_equal(vals.view(np.uint16), np.take_along_axis(x, idx, axis).view(np.uint16))
    np.testing.assert_array_equal(a, np.argmax(v, axis))             # numpy agrees (NaN first)


def test_new_half_ops_refuse_bad_arguments():
    x = random_half(F16, (2, 8))
    with pytest.raises(ArgumentError):
        smk.topk(x, 9)
    with pytest.raises(ArgumentError):
        smk.argmax(np.zeros((3, 0), F16))
    with pytest.raises(ArgumentError):
        smk.masked_softmax(x, np.ones(5, bool))
    with pytest.raises(ArgumentError, match="dtype"):
        smk.sigmoid(x, out=np.empty((2, 8), np.float32))
    with pytest.raises(ArgumentError, match="dtype"):
        smk.masked_log_softmax(x, np.ones(8, bool), out=np.empty((2, 8), np.float64))
