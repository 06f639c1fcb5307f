"""softmax, log_softmax, logsumexp, sigmoid, log_sigmoid against scipy and
float64 references, on random and edge inputs, with every bad input of
docs/DESIGN.md that reaches them."""
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.special as sp

import softmaxkit as smk
from softmaxkit import _lib

RNG = np.random.default_rng(1234)
SHAPES_AXES = [((7,), -1), ((5, 9), -1), ((5, 9), 0), ((3, 4, 5), 1), ((3, 4, 5), -3),
               ((2, 33, 17), 2), ((64, 10), 1), ((1, 1000), -1), ((4, 1, 3), 1)]


@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_float64_matches_scipy(shape, axis):
    x = RNG.normal(scale=10, size=shape)
    np.testing.assert_allclose(smk.softmax(x, axis), sp.softmax(x, axis=axis), rtol=1e-13, atol=0)
    np.testing.assert_allclose(smk.log_softmax(x, axis), sp.log_softmax(x, axis=axis), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(smk.logsumexp(x, axis), sp.logsumexp(x, axis=axis), rtol=1e-13)


@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_float32_stays_float32_and_is_accurate(shape, axis):
    x = RNG.normal(scale=10, size=shape).astype(np.float32)
    y = smk.softmax(x, axis)
    assert y.dtype == np.float32
    want = sp.softmax(x.astype(np.float64), axis=axis)
    # float32 rounding of (x - max) alone moves exp by up to |x - max| * 2^-24
    # relative (~4e-6 for the spreads here): 1e-5 is the float32 contract.
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-37)
    lg = smk.log_softmax(x, axis)
    assert lg.dtype == np.float32
    np.testing.assert_allclose(lg, sp.log_softmax(x.astype(np.float64), axis=axis), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("n", list(range(0, 71)) + [127, 128, 129, 1023, 1024, 1025, 4097])
def test_every_row_length(n):
    x = RNG.normal(scale=5, size=(3, n))
    if n == 0:
        assert smk.softmax(x).shape == (3, 0)
        return
    np.testing.assert_allclose(smk.softmax(x), sp.softmax(x, axis=-1), rtol=1e-13)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(smk.softmax(x32), sp.softmax(x32.astype(np.float64), axis=-1), rtol=1e-5, atol=1e-38)


def test_axis_none_normalizes_everything_like_scipy():
    x = RNG.normal(size=(4, 6))
    np.testing.assert_allclose(smk.softmax(x, axis=None), sp.softmax(x), rtol=1e-13)
    np.testing.assert_allclose(smk.logsumexp(x, axis=None), sp.logsumexp(x), rtol=1e-13)


def test_temperature():
    x = RNG.normal(size=(6, 11))
    for t in (0.1, 0.5, 2.0, 50.0):
        np.testing.assert_allclose(smk.softmax(x, temperature=t), sp.softmax(x / t, axis=-1), rtol=1e-13)
        np.testing.assert_allclose(smk.log_softmax(x, temperature=t), sp.log_softmax(x / t, axis=-1),
                                   rtol=1e-13, atol=1e-13)


def test_properties():
    x = RNG.normal(scale=30, size=(50, 37))
    y = smk.softmax(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-14)
    np.testing.assert_allclose(smk.softmax(x + 1234.5), y, rtol=1e-11)
    np.testing.assert_allclose(np.exp(smk.log_softmax(x)), y, rtol=1e-13)


def test_seed_examples():
    # worked example: softmax of [0, 2, 4] and the offset example [0, 102, 104]
    np.testing.assert_allclose(smk.softmax([0.0, 2.0, 4.0]), [0.0159, 0.1173, 0.8668], atol=5e-5)
    np.testing.assert_allclose(smk.softmax([0.0, 102.0, 104.0]), sp.softmax([0.0, 102.0, 104.0]), rtol=1e-13)


def test_edge_values():
    assert smk.log_softmax(np.array([1000.0, 1.0])).tolist() == [0.0, -999.0]
    assert smk.log_softmax(np.array([1000.0, 1.0], np.float32)).tolist() == [0.0, -999.0]
    y = smk.softmax(np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]]))
    assert np.isnan(y[0]).all() and not np.isnan(y[1]).any()
    y = smk.softmax(np.array([-np.inf, 0.0, -np.inf, 1.0]))
    assert y[0] == 0 and y[2] == 0
    assert np.isnan(smk.softmax(np.full(5, -np.inf))).all()
    assert np.isnan(smk.log_softmax(np.full((2, 20), -np.inf))).all()
    for v in (88.7, -88.7, 88.72, -103.0):
        x = np.array([v, 0.0, -v / 2], np.float32)
        np.testing.assert_allclose(smk.softmax(x), sp.softmax(x.astype(np.float64)), rtol=2e-6, atol=1e-44)
    for v in (709.0, -709.0, 709.78, -745.0):
        x = np.array([v, 0.0, -v / 2])
        np.testing.assert_allclose(smk.softmax(x), sp.softmax(x), rtol=1e-13, atol=1e-320)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minus_inf_in_tail_and_whole_vector(dtype):
    x = RNG.normal(size=(2, 53)).astype(dtype)
    x[:, 16:32] = -np.inf   # one whole vector (16 floats / two of 8 doubles)
    x[:, 48:] = -np.inf     # the tail
    y = smk.softmax(x)
    assert (y[:, 16:32] == 0).all() and (y[:, 48:] == 0).all()
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-5)
    assert (smk.log_softmax(x)[:, 48:] == -np.inf).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_column_of_only_minus_inf_does_not_hide_a_wide_column(dtype):
    # Found by fuzz_abi: the all -inf column's NaN spread hid column 5's
    # spread of -93, which then took the normal-range exp and came out NaN.
    x = RNG.normal(scale=10, size=(2, 7, 34)).astype(dtype)
    # -inf column in lane 5 (low half), wide column in lane 13 (high half):
    # the halving reduction met them in one compare.
    x[1, :, 5] = -np.inf
    x[1, :, 13] = [-19.92, 19.485, -48.755, -5.795, 43.04, 14.265, 44.695]
    got = smk.logsumexp(x, axis=1)
    want = sp.logsumexp(x.astype(np.float64), axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(smk.softmax(x, axis=1)[1, :, 13], sp.softmax(x[1, :, 13].astype(np.float64)),
                               rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-30)


def test_logsumexp_edges_and_keepdims():
    assert smk.logsumexp(np.zeros((3, 0))).tolist() == [-np.inf] * 3
    assert smk.logsumexp(np.array([np.inf, 1.0])) == np.inf
    assert smk.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
    assert np.isnan(smk.logsumexp(np.array([1.0, np.nan])))
    x = RNG.normal(size=(3, 4, 5))
    np.testing.assert_allclose(smk.logsumexp(x, 1, keepdims=True), sp.logsumexp(x, axis=1, keepdims=True), rtol=1e-13)
    assert smk.logsumexp(x, 1).shape == (3, 5)


def test_sigmoid_matches_scipy():
    x = RNG.normal(scale=30, size=1001)
    np.testing.assert_allclose(smk.sigmoid(x), sp.expit(x), rtol=1e-15)
    np.testing.assert_allclose(smk.log_sigmoid(x), sp.log_expit(x), rtol=1e-14)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(smk.sigmoid(x32), sp.expit(x32.astype(np.float64)), rtol=3e-7, atol=1e-38)
    assert smk.sigmoid(np.array([1000.0, -1000.0, 0.0])).tolist() == [1.0, 0.0, 0.5]
    assert smk.log_sigmoid(np.array([-1e4])).tolist() == [-1e4]
    assert np.isnan(smk.sigmoid(np.array([np.nan], np.float32)))[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_blocks_with_inf_then_nan_take_the_full_range_path(dtype):
    # A NaN after an inf in the same block must not hide the inf (found by hypothesis).
    x = np.array([np.inf, 0, 0, 0, 0, 0, 0, 0, np.nan, 0] * 3 + [-np.inf, 100.0, -100.0], dtype)
    y = smk.sigmoid(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    np.testing.assert_allclose(y[~np.isnan(x)], sp.expit(x.astype(np.float64))[~np.isnan(x)], rtol=3e-7, atol=1e-44)


def test_rank0_and_empty():
    assert smk.softmax(np.float64(3.0)) == 1.0
    assert smk.softmax(3.0).shape == ()
    assert smk.softmax(np.array(3.0)).shape == ()
    assert smk.log_softmax(np.float32(3.0)).shape == ()
    assert smk.log_softmax(np.float32(3.0)) == 0.0
    assert smk.sigmoid(0.0).shape == ()
    assert smk.softmax(np.zeros((0, 4))).shape == (0, 4)
    assert smk.softmax(np.zeros((4, 0))).shape == (4, 0)
    assert smk.sigmoid(np.zeros(0)).shape == (0,)


def test_dtype_rules():
    assert smk.softmax([1, 2, 3]).dtype == np.float64          # ints become float64
    assert smk.softmax(np.array([1, 2], np.float16)).dtype == np.float16  # half precision is kept (computed in float32)
    assert smk.softmax(np.array([True, False])).dtype == np.float64
    be = np.array([1.0, 2.0, 3.0], dtype=">f8")                 # big-endian is converted, not misread
    np.testing.assert_allclose(smk.softmax(be), sp.softmax([1.0, 2.0, 3.0]), rtol=1e-15)
    with pytest.raises(smk.ArgumentError, match="real numbers"):
        smk.softmax(np.array([1 + 2j]))
    with pytest.raises(smk.ArgumentError):
        smk.softmax(np.array(["a", "b"]))


def test_non_contiguous_and_read_only_inputs():
    x = RNG.normal(size=(8, 10))
    for view in (x.T, x[:, ::2], x[::3]):
        np.testing.assert_allclose(smk.softmax(view), sp.softmax(view, axis=-1), rtol=1e-13)
    ro = x.copy()
    ro.flags.writeable = False
    np.testing.assert_allclose(smk.softmax(ro), sp.softmax(x, axis=-1), rtol=1e-13)


def test_out_rules():
    x = RNG.normal(size=(4, 5))
    out = np.empty_like(x)
    assert smk.softmax(x, out=out) is out
    np.testing.assert_allclose(out, sp.softmax(x, axis=-1), rtol=1e-13)
    inplace = x.copy()
    smk.softmax(inplace, out=inplace)
    np.testing.assert_allclose(inplace, out, rtol=0)
    with pytest.raises(smk.ArgumentError, match="dtype"):
        smk.softmax(x, out=np.empty((4, 5), np.float32))
    with pytest.raises(smk.ArgumentError, match="dtype"):
        smk.softmax(x, out=np.empty((4, 5), ">f8"))
    with pytest.raises(smk.ArgumentError, match="shape"):
        smk.softmax(x, out=np.empty((5, 4)))
    with pytest.raises(smk.ArgumentError, match="contiguous"):
        smk.softmax(x, out=np.empty((5, 4)).T)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(smk.ArgumentError, match="read-only"):
        smk.softmax(x, out=ro)
    with pytest.raises(smk.ArgumentError, match="ndarray"):
        smk.sigmoid(x, out=[0] * 20)


def test_partial_overlap_is_refused_and_nothing_written():
    buf = np.arange(12, dtype=np.float64)
    x, y = buf[:8], buf[2:10]
    with pytest.raises(smk.ArgumentError, match="overlap"):
        smk.softmax(x, out=y)
    assert buf.tolist() == list(range(12))


def test_subnormal_temperatures_are_refused_by_every_kernel_that_takes_one():
    # A float32 temperature of FLT_MIN / 2 (or a double that becomes one, or
    # rounds to 0) is refused as the header says, not used.
    f32, f64 = np.finfo(np.float32), np.finfo(np.float64)
    x32 = np.array([[1, 2, 3]], np.float32)
    x64 = x32.astype(np.float64)
    for x, bad in ((x32, float(f32.tiny) / 2), (x32, float(f32.smallest_subnormal)), (x32, 1e-39), (x32, 1e-46),
                   (x64, float(f64.tiny) / 2), (x64, 5e-324)):
        for fn in (lambda t: smk.softmax(x, temperature=t), lambda t: smk.log_softmax(x, temperature=t),
                   lambda t: smk.softmax_topk(x, 2, temperature=t)):
            with pytest.raises(smk.ArgumentError, match="temperature"):
                fn(bad)
    for x, tiny in ((x32, float(f32.tiny)), (x64, float(f64.tiny))):  # the smallest normal is kept
        assert np.isfinite(smk.softmax(x, temperature=tiny)).all()
        assert np.isfinite(smk.softmax_topk(x, 2, temperature=tiny)[0]).all()


def test_axis_errors():
    x = np.zeros((2, 3))
    for bad in (2, -3, 10):
        with pytest.raises(smk.ArgumentError, match="axis"):
            smk.softmax(x, axis=bad)
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.log_softmax(x, axis=1.5)
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.softmax(x, axis=[0])
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.softmax(np.float64(1.0), axis=1)
    assert smk.softmax(x, axis=np.int64(0)).shape == (2, 3)


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e300])
def test_temperature_errors(t):
    with pytest.raises(smk.ArgumentError, match="temperature"):
        smk.softmax(np.zeros(3, np.float32), temperature=t)
    if t != 1e300:
        with pytest.raises(ValueError, match="temperature"):
            smk.log_softmax(np.zeros(3), temperature=t)


def test_errors_are_value_errors_with_status():
    with pytest.raises(ValueError) as info:
        smk.softmax(np.zeros(3), temperature=0)
    assert isinstance(info.value, smk.Error)
    assert "SMK_ERROR_INVALID_ARGUMENT" in str(info.value)
    assert info.value.status == 1


def test_threads_agree_with_serial():
    x = RNG.normal(scale=5, size=(256, 300)).astype(np.float32)
    want = smk.softmax(x)
    bad = []

    def work():
        for _ in range(300):
            if not np.array_equal(smk.softmax(x), want):
                bad.append(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_version_and_refusal_of_other_major():
    assert smk.version() == smk.__version__
    assert _lib.lib.smk_version() // 10000 == _lib.ABI_MAJOR
    _lib.check_version(_lib.lib.smk_version(), "lib")
    with pytest.raises(ImportError, match="needs major version"):
        _lib.check_version(10000 * (_lib.ABI_MAJOR + 1), "libsoftmaxkit.so")


def test_missing_library_names_the_places_tried(tmp_path):
    code = "import softmaxkit"
    env = {"SOFTMAXKIT_LIBRARY": str(tmp_path / "nope.so"), "PATH": "/usr/bin:/bin"}
    # Copy the package somewhere without a build folder beside it.
    pkg = tmp_path / "softmaxkit"
    import shutil
    shutil.copytree(__import__("softmaxkit").__path__[0], pkg)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "nope.so (SOFTMAXKIT_LIBRARY): not found" in r.stderr and "tried" in r.stderr
