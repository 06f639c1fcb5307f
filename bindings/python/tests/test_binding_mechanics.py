"""The binding's lean call path (softmaxkit/_arrays.prepare): its caches must
never answer for a different call. Extents are cached per (shape, axis) with a
last-call memo, data-pointer objects per array address, partition layouts,
loss options and model input plans per value; each test here changes exactly
what a stale cache would get wrong."""
import gc
import threading

import numpy as np
import pytest
import scipy.special as sp

import softmaxkit as smk
from softmaxkit import _arrays

RNG = np.random.default_rng(99)


def test_same_buffer_reshaped_gets_the_new_extents():
    buf = RNG.normal(size=24)
    for shape in [(4, 6), (6, 4), (2, 12), (24,), (2, 3, 4), (4, 6)]:
        x = buf.reshape(shape)  # same data address, new shape
        np.testing.assert_allclose(smk.softmax(x), sp.softmax(x, axis=-1), rtol=1e-13)
        np.testing.assert_allclose(smk.softmax(x, axis=0), sp.softmax(x, axis=0), rtol=1e-13)


def test_alternating_shapes_and_axes_never_reuse_an_entry():
    xs = [RNG.normal(size=s) for s in [(3, 5), (5, 3), (3, 5, 2), (15,)]]
    for _ in range(3):
        for x in xs:
            for axis in [-1, 0, None] + ([1] if x.ndim > 1 else []):
                np.testing.assert_allclose(smk.softmax(x, axis), sp.softmax(x, axis=axis), rtol=1e-13)
                want = sp.logsumexp(x, axis=axis)
                got = smk.logsumexp(x, axis)
                assert got.shape == np.shape(want)
                np.testing.assert_allclose(got, want, rtol=1e-13)


def test_axis_equal_in_value_but_not_an_integer_is_refused_after_the_integer_was_cached():
    x = RNG.normal(size=(3, 4))
    smk.softmax(x, axis=1)
    smk.softmax(x, axis=1)  # now in the memo and the cache
    for bad in (1.0, 1.5, "1", [1]):
        with pytest.raises(smk.ArgumentError, match="axis"):
            smk.softmax(x, axis=bad)
    with pytest.raises(smk.ArgumentError, match="axis"):
        smk.argmax(x, axis=1.0)
    # numpy integers and bools are integers (operator.index), as before
    np.testing.assert_array_equal(smk.softmax(x, axis=np.int64(1)), smk.softmax(x, axis=1))
    np.testing.assert_array_equal(smk.softmax(x, axis=np.int32(0)), smk.softmax(x, axis=0))


def test_extents_cache_overflow_keeps_answers_right():
    for n in range(1, _arrays._cache.limit + 40):
        x = np.full((1, n), 0.5, np.float32)
        y = smk.softmax(x)
        assert y.shape == (1, n)
        np.testing.assert_allclose(y, 1.0 / n, rtol=2e-6)
    assert len(_arrays._cache) <= _arrays._cache.limit


def test_pointer_objects_follow_whatever_array_is_at_an_address():
    # Arrays die and new ones (other sizes, other data) take their addresses:
    # every result must still come from its own input.
    seen = set()
    for k in range(300):
        n = 1 + k % 17
        x = RNG.normal(size=(2, n))
        seen.add(id(x))
        np.testing.assert_allclose(smk.softmax(x), sp.softmax(x, axis=-1), rtol=1e-13)
        del x
        gc.collect() if k % 50 == 0 else None
    assert len(seen) < 300  # addresses were reused, so the per-address objects were


def test_pointer_cache_overflow():
    keep = [RNG.normal(size=3) for _ in range(_arrays._aliases.limit + 50)]
    for x in keep:
        np.testing.assert_allclose(smk.softmax(x), sp.softmax(x), rtol=1e-13)
    assert len(_arrays._aliases) <= _arrays._aliases.limit


def _pointer_cases():
    """(description, array) pairs covering numpy's own allocations, views,
    reallocation and memory from other allocators."""
    import mmap
    a = np.arange(12, dtype=np.float64)
    yield "fresh", a
    yield "2-d", np.zeros((3, 4), np.float32)
    yield "slice view", a[3:]
    yield "strided view", a[::2]
    yield "reshaped view", a.reshape(3, 4)[1]
    yield "transposed", np.zeros((3, 4)).T
    yield "0-d", np.array(1.5)
    yield "empty", np.empty(0, np.float32)
    yield "frombuffer over bytearray", np.frombuffer(bytearray(64), np.float64)
    yield "frombuffer over bytearray, offset", np.frombuffer(bytearray(64), np.float32, count=4, offset=12)
    m = mmap.mmap(-1, 4096)
    yield "frombuffer over anonymous mmap", np.frombuffer(m, np.float32)
    yield "ndarray over mmap, offset", np.ndarray((8,), np.float64, buffer=m, offset=64)
    big = np.zeros(1 << 22, np.uint8)  # its own mmap in glibc
    yield "large", big
    yield "view of a view", big[10:][5:][::3]


def test_data_pointer_read_agrees_with_ctypes_data():
    # The import-time self-check found an offset on this interpreter; the
    # address read must agree with numpy's own answer for every kind of array.
    assert _arrays.DATA_OFFSET is not None
    for what, arr in _pointer_cases():
        assert _arrays.data_pointer_object(arr).value == arr.ctypes.data, what
        assert _arrays.ptr(arr).value == arr.ctypes.data, what
        assert _arrays.ptr(arr).value == arr.ctypes.data, what + " (cached)"


def test_data_pointer_follows_numpy_reallocation():
    # resize() moves the data in place of the same object: the cached pointer
    # object reads the object's field at call time, so it follows.
    a = np.zeros(4, np.float64)
    before = _arrays.ptr(a)
    assert before.value == a.ctypes.data
    a.resize(1 << 20, refcheck=False)  # forces a new allocation
    assert _arrays.ptr(a).value == a.ctypes.data
    assert before.value == a.ctypes.data  # the same object, read again
    a.resize(3, refcheck=False)
    assert _arrays.ptr(a).value == a.ctypes.data
    np.testing.assert_allclose(smk.softmax(a), [1 / 3] * 3, rtol=1e-15)


def test_data_pointer_self_check_refuses_a_wrong_offset(monkeypatch):
    # The self-check compares each candidate offset with ctypes.data: an
    # offset that reads something else (the shape pointer, the dimensions) is
    # never chosen, so the probe must reject every offset but the true one.
    true = _arrays.DATA_OFFSET
    for off in (16, 24, 32, 40):
        probe = np.zeros(3, np.float32)
        agrees = _arrays._from_address(id(probe) + off).value == probe.ctypes.data
        assert agrees == (off == true), off


def test_integers_out_of_the_c_range_are_refused_not_wrapped():
    x = RNG.normal(size=(2, 4))
    # A partition width of 2**64 + 4 would wrap to 4 and pass.
    with pytest.raises(smk.ArgumentError, match="width"):
        smk.partitioned(x, [(2**64 + 4, "softmax")])
    with pytest.raises(smk.ArgumentError, match="width"):
        smk.partitioned(x, [(2**63, "softmax"), (-(2**63) + 4, "identity")])
    # ignore_index 2**63 would wrap to -2**63.
    t = np.array([0, 1])
    with pytest.raises(smk.ArgumentError, match="ignore_index"):
        smk.cross_entropy(x, t, ignore_index=2**63)
    with pytest.raises(smk.ArgumentError, match="ignore_index"):
        smk.nll_loss(x, t, ignore_index=-(2**63) - 1)
    assert np.isfinite(smk.cross_entropy(x, t, ignore_index=2**63 - 1))  # the largest int64 is fine
    # An unsigned target of 2**64 - 100 would wrap to -100 (the default ignore_index).
    with pytest.raises(smk.ArgumentError, match="target"):
        smk.cross_entropy(x, np.array([0, 2**64 - 100], np.uint64))
    with pytest.raises(smk.ArgumentError, match="target"):
        smk.nll_loss(x, np.array([0, 2**64 - 100], np.uint64))
    assert smk.cross_entropy(x, np.array([0, 3], np.uint64)) == smk.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(smk.ArgumentError, match="offsets"):
        smk.segment_softmax(x, np.array([0, 2**64 - 1, 4], np.uint64))
    with pytest.raises(smk.ArgumentError, match="sizes"):
        smk.hierarchical_softmax(np.zeros((1, 2)), np.zeros((1, 4)), np.array([2**63 + 2, 2**63 + 2], np.uint64))
    with pytest.raises(smk.ArgumentError):
        smk.topk(x, 2**64 + 1)


def test_set_num_threads_refuses_values_outside_int32():
    before = smk.get_num_threads()
    try:
        for bad in (2**32 + 3, 2**31, -(2**31) - 1):
            with pytest.raises(smk.ArgumentError):
                smk.set_num_threads(bad)
            assert smk.get_num_threads() == before  # unchanged, not 3
        with pytest.raises(smk.ArgumentError):
            smk.set_num_threads(2.5)
        smk.set_num_threads(np.int64(2))
        assert smk.get_num_threads() == 2
    finally:
        smk.set_num_threads(0)


def test_every_cache_is_the_bounded_helper():
    from softmaxkit import _cache, losses, variants
    caches = [_arrays._cache, _arrays._aliases, variants._layouts, losses._options_cache]
    spec = {"softmaxkit": 1, "input": {"features": 2}, "layers": [{"name": "out", "input": "input"}],
            "heads": [{"name": "y", "layer": "out", "output": "softmax"}]}
    caches.append(smk.Model.from_weights(spec, {"out.weight": np.eye(2)})._plans)
    for c in caches:
        assert isinstance(c, _cache.BoundedCache)
    c = _cache.BoundedCache(3)
    for k in range(10):
        c.put(k, k)
        assert len(c) <= 3 and c.get(k) == k


def test_in_place_and_out_still_checked_on_the_lean_path():
    x = RNG.normal(size=(4, 5))
    y = x.copy()
    assert smk.softmax(y, out=y) is y
    np.testing.assert_allclose(y, sp.softmax(x, axis=-1), rtol=1e-13)
    out = np.empty((4, 5), np.float32)
    with pytest.raises(smk.ArgumentError, match="dtype"):
        smk.masked_softmax(x, [1, 0, 1, 1, 0], out=out)
    with pytest.raises(smk.ArgumentError, match="read-only"):
        ro = np.empty_like(x)
        ro.flags.writeable = False
        smk.partitioned(x, [(5, "softmax")], out=ro)
    with pytest.raises(smk.ArgumentError, match="contiguous"):
        smk.segment_softmax(x, [0, 2, 5], out=np.empty((5, 4)).T)


def test_temperature_that_is_not_a_number():
    with pytest.raises(smk.ArgumentError, match="temperature"):
        smk.softmax(np.ones(3), temperature="hot")
    with pytest.raises(smk.ArgumentError, match="temperature"):
        smk.softmax_topk(np.ones(3, np.float32), 1, temperature=None)
    np.testing.assert_allclose(smk.softmax(np.array([0.0, 1.0]), temperature=2),
                               sp.softmax([0.0, 0.5]), rtol=1e-13)


def test_layout_cache_keys_on_the_width_type():
    x = RNG.normal(size=(3, 5))
    want = smk.partitioned(x, [(4, "softmax"), (1, "identity")])
    np.testing.assert_array_equal(smk.partitioned(x, [(4, "softmax"), (1, "identity")]), want)  # cached
    with pytest.raises(smk.ArgumentError, match="width"):
        smk.partitioned(x, [(4.0, "softmax"), (1, "identity")])
    np.testing.assert_array_equal(smk.partitioned(x, [[4, "softmax"], [1, "identity"]]), want)  # lists: uncached
    np.testing.assert_array_equal(smk.partitioned(x, ((np.int64(4), "softmax"), (1, "identity"))), want)
    other = smk.partitioned(x, [(1, "identity"), (4, "softmax")])
    assert not np.array_equal(other, want)
    with pytest.raises(smk.ArgumentError, match="activation"):
        smk.partitioned(x, [(4, "softmax"), (1, "relu")])
    with pytest.raises(smk.ArgumentError):
        smk.partitioned(x, [(4, "softmax")])  # widths must sum to 5: the library says so


def test_loss_options_cache_keys_on_every_setting():
    x = RNG.normal(size=(6, 4))
    t = np.array([0, 1, 2, 3, 1, 1])
    base = smk.cross_entropy(x, t)
    smoothed = smk.cross_entropy(x, t, label_smoothing=0.1)
    assert base != smoothed
    assert smk.cross_entropy(x, t) == base and smk.cross_entropy(x, t, label_smoothing=0.1) == smoothed
    assert smk.cross_entropy(x, t, ignore_index=1) != base
    assert smk.cross_entropy(x, t, reduction="sum") == pytest.approx(6 * base)
    smk.cross_entropy(x, t, ignore_index=1)
    with pytest.raises(smk.ArgumentError, match="ignore_index"):
        smk.cross_entropy(x, t, ignore_index=1.0)
    with pytest.raises(smk.ArgumentError, match="reduction"):
        smk.cross_entropy(x, t, reduction="avg")
    with pytest.raises(smk.ArgumentError, match="label_smoothing"):
        smk.cross_entropy(x, t, label_smoothing="a lot")


def test_backward_whole_array_axis_none():
    y = sp.softmax(RNG.normal(size=(3, 4)))  # over all 12 elements
    dy = RNG.normal(size=(3, 4))
    want = y * (dy - (dy * y).sum())
    np.testing.assert_allclose(smk.softmax_backward(y, dy, axis=None), want, rtol=1e-12, atol=1e-15)
    s = sp.expit(RNG.normal(size=7))
    np.testing.assert_allclose(smk.sigmoid_backward(s, np.ones(7)), s * (1 - s), rtol=1e-13)


def _calls():
    """(name, function) pairs over several shapes, so threads keep replacing
    each other's memo entry and pointer objects."""
    rng = np.random.default_rng(5)
    out = []
    for shape in [(7, 9), (9, 7), (2, 3, 9), (1, 10)]:
        for dt in (np.float32, np.float64):
            x = (rng.standard_normal(shape) * 3).astype(dt)
            n = shape[-1]
            mask = np.arange(n) % 3 != 1
            out += [
                ("softmax", lambda x=x: smk.softmax(x)),
                ("softmax axis 0", lambda x=x: smk.softmax(x, 0)),
                ("log_softmax", lambda x=x: smk.log_softmax(x, temperature=0.7)),
                ("logsumexp", lambda x=x: smk.logsumexp(x, 0)),
                ("sigmoid", lambda x=x: smk.sigmoid(x)),
                ("masked", lambda x=x, m=mask: smk.masked_softmax(x, m)),
                ("masked log", lambda x=x, m=mask: smk.masked_log_softmax(x, m)),
                ("partitioned", lambda x=x, n=n: smk.partitioned(x, [(n - 2, "softmax"), (2, "sigmoid")])),
                ("segment", lambda x=x, n=n: smk.segment_softmax(x, [0, 3, n])),
                ("hardmax", lambda x=x: smk.hardmax(x)),
                ("argmax", lambda x=x: smk.argmax(x, 0)),
                ("topk", lambda x=x: smk.topk(x, 3)),
                ("softmax_topk", lambda x=x: smk.softmax_topk(x, 2, temperature=2.0)),
                ("softmax_backward", lambda x=x: smk.softmax_backward(x, x)),
                ("sigmoid_backward", lambda x=x: smk.sigmoid_backward(x, x)),
            ]
            if len(shape) == 2:
                t = np.arange(shape[0]) % n
                out += [
                    ("cross_entropy", lambda x=x, t=t: smk.cross_entropy(x, t, return_grad=True)),
                    ("nll", lambda x=x, t=t: smk.nll_loss(x, t, reduction="none")),
                    ("bce", lambda x=x: smk.binary_cross_entropy_with_logits(x, (x > 0).astype(x.dtype))),
                    ("hierarchical", lambda x=x, n=n: smk.hierarchical_softmax(x[:, :2], x, [n - 4, 4])),
                    ("ensemble", lambda x=x: smk.ensemble_mean([x, x[::-1].copy()], mode="logits")),
                ]
    return out


def _flat(r):
    if isinstance(r, tuple):
        return b"".join(np.asarray(v).tobytes() for v in r)
    return np.asarray(r).tobytes()


def test_every_wrapper_from_many_threads_equals_serial():
    calls = _calls()
    serial = [_flat(f()) for _, f in calls]
    bad = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for _ in range(1500):
            i = int(rng.integers(len(calls)))
            if _flat(calls[i][1]()) != serial[i]:
                bad.append(calls[i][0])

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad, sorted(set(bad))


def test_model_input_plans_follow_the_shape():
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(root / "examples"))
    import model_reference as ref
    from make_models import seed_networks
    spec, weights, _ = seed_networks()["robot_arm"]
    model = smk.Model.from_weights(spec, weights)
    for shape in [(10,), (3, 10), (2, 5, 10), (0, 10), (3, 10), (1, 10), (10,)]:
        x = RNG.normal(size=shape).astype(np.float32)
        got = model(x)
        want = ref.forward(spec, weights, x.reshape(-1, 10))
        for name, size in (("action", 4), ("force", 1)):
            assert got[name].shape == shape[:-1] + (size,)
            assert got[name].dtype == np.float32 and got[name].flags.c_contiguous
            np.testing.assert_allclose(got[name].reshape(-1, size), want[name], rtol=1e-4, atol=1e-5)
    a, b = model(np.ones((2, 10), np.float32)), model(np.ones((2, 10), np.float32))
    assert a["action"] is not b["action"]  # every call gets fresh outputs
    a["action"][:] = 7
    assert not (b["action"] == 7).any()
    for bad in [(3, 9), (9,), (2, 2, 2, 10)]:
        with pytest.raises(smk.ArgumentError):
            model(np.ones(bad, np.float32))
    with pytest.raises(smk.ArgumentError, match="real numbers"):
        model(np.array([["a"] * 10]))


def test_default_thread_count_follows_affinity_and_environment():
    import os
    import subprocess
    import sys
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no sched_setaffinity on this system")
    code = ("import os, sys; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "import softmaxkit as s; print(s.get_num_threads()); s.set_num_threads(3); print(s.get_num_threads()); "
            "s.set_num_threads(0); print(s.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "SOFTMAXKIT_NUM_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["1", "3", "1"]  # pinned to one core: one thread by default
    env["SOFTMAXKIT_NUM_THREADS"] = "5"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["5", "3", "5"]  # the environment wins over the affinity


# Recycled outputs (_arrays.recycled_empty): large new outputs reuse the
# memory of earlier ones once nothing references them. A reuse while anything
# (the output or any view of it) is alive would be a silent wrong answer.
LARGE = (2048, 4096)  # float32: exactly RECYCLE_MIN_BYTES


def _address(a):
    return a.__array_interface__["data"][0]


@pytest.mark.skipif(not _arrays._RECYCLE, reason="recycling is off in this interpreter")
def test_recycled_outputs_are_never_shared_while_referenced():
    smk.release_buffers()
    x = RNG.normal(size=LARGE).astype(np.float32)
    assert np.float32(0).nbytes * x.size >= _arrays.RECYCLE_MIN_BYTES
    want = sp.softmax(x.astype(np.float64), axis=-1)
    y1 = smk.softmax(x)
    y2 = smk.log_softmax(x)
    assert not np.shares_memory(y1, y2)
    row = y1[7]  # a view keeps y1's buffer in use after y1 itself is gone
    del y1
    y3 = smk.softmax(x * 2)
    assert not np.shares_memory(row, y3) and not np.shares_memory(y2, y3)
    np.testing.assert_allclose(row, want[7], rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(np.exp(y2), want, rtol=2e-5, atol=1e-30)
    # Once released, the next output of that size takes the memory again,
    # and is right (the buffer is overwritten, never read).
    freed = _address(row) - 7 * row.nbytes  # the start of y1
    del row
    y4 = smk.softmax(x)
    assert _address(y4) == freed  # the idle buffer, not a new one
    np.testing.assert_allclose(y4, want, rtol=2e-6, atol=1e-30)
    assert len(_arrays._recycled) <= _arrays.RECYCLE_SLOTS
    del y2, y3, y4
    smk.release_buffers()
    assert _arrays._recycled == []


@pytest.mark.skipif(not _arrays._RECYCLE, reason="recycling is off in this interpreter")
def test_a_released_output_is_reused_and_other_dtypes_and_shapes_are_right():
    smk.release_buffers()
    x = RNG.normal(size=LARGE).astype(np.float32)
    a = _address(smk.softmax(x))  # dropped at once: its buffer is idle
    y = smk.softmax(x)
    assert _address(y) == a
    # Same byte count, other dtype and shape: float64 of half the elements.
    x64 = RNG.normal(size=(1024, 4096))
    z = smk.log_softmax(x64)
    assert z.dtype == np.float64 and z.shape == (1024, 4096) and z.flags.c_contiguous and z.flags.writeable
    assert not np.shares_memory(y, z)
    np.testing.assert_allclose(z, x64 - sp.logsumexp(x64, axis=-1, keepdims=True), rtol=1e-13, atol=1e-13)
    del y, z
    smk.release_buffers()


def test_recycling_can_be_turned_off():
    import os
    import subprocess
    import sys
    code = ("import numpy as np, softmaxkit as s; from softmaxkit import _arrays as a; "
            "x = np.ones((2048, 4096), np.float32); s.softmax(x); print(a._RECYCLE, len(a._recycled))")
    env = dict(os.environ, SOFTMAXKIT_RECYCLE="0", PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "0"]


@pytest.mark.skipif(not _arrays._RECYCLE, reason="recycling is off in this interpreter")
def test_recycled_outputs_from_many_threads_stay_distinct():
    smk.release_buffers()
    xs = [np.full(LARGE, float(t), np.float32) + RNG.normal(size=LARGE[1]).astype(np.float32) for t in range(3)]
    wants = [smk.softmax(x) for x in xs]
    errors = []

    def worker(t):
        try:
            for _ in range(4):
                y = smk.softmax(xs[t])
                held = [smk.log_softmax(xs[t]) for _ in range(2)]  # more outputs than slots, all alive
                if not np.array_equal(y, wants[t]) or any(np.shares_memory(y, h) for h in held):
                    errors.append(t)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    del wants
    smk.release_buffers()
