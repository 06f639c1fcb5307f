"""Concurrency stress from Python: 8 threads x thousands of calls mixing every
function, both dtypes, several axes, out= and in place, on shared read-only
inputs, while another thread changes the thread count. ctypes releases the
GIL around each call, so the library really runs them at the same time; every
result must equal, bit for bit, the serial result computed first."""
import os
import threading

import numpy as np

import softmaxkit as smk

THREADS = 8
CALLS = int(os.environ.get("SMK_STRESS_ITERS", "4000"))


def run_on_threads(worker):
    """worker(k) for k in range(THREADS), each on its own thread; returns when all end."""
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _cases():
    rng = np.random.default_rng(7)
    cases = []
    for dtype in (np.float32, np.float64):
        for shape, axis in (((64, 300), -1), ((17, 33), 0), ((3, 65, 7), 1), ((2, 130, 16), -2), ((5, 9), -1)):
            x = (rng.standard_normal(shape) * 25).astype(dtype)
            x.reshape(-1)[::97] = -np.inf
            x.reshape(-1)[5::401] = np.nan
            x.setflags(write=False)
            cases.append(("softmax", x, axis, 1.3))
            cases.append(("log_softmax", x, axis, 0.6))
            cases.append(("logsumexp", x, axis, None))
            cases.append(("sigmoid", x, None, None))
            cases.append(("log_sigmoid", x, None, None))
    # large enough for the worker pool (2^19 elements)
    big = (rng.standard_normal((1024, 520)) * 10).astype(np.float32)
    big.setflags(write=False)
    cases.append(("softmax", big, -1, 1.0))
    cases.append(("logsumexp", big, 0, None))
    return cases


def _call(name, x, axis, t, out=None):
    f = getattr(smk, name)
    if name in ("softmax", "log_softmax"):
        return f(x, axis, temperature=t, out=out)
    if name == "logsumexp":
        return f(x, axis)
    return f(x, out=out)


def test_threads_agree_bit_for_bit_with_serial():
    cases = _cases()
    smk.set_num_threads(1)
    serial = [_call(*c) for c in cases]
    errors = []
    done = threading.Event()

    def worker(seed):
        rng = np.random.default_rng(seed)
        bad = 0
        for _ in range(CALLS):
            i = int(rng.integers(len(cases)))
            if cases[i][1].size >= (1 << 19) and rng.integers(8):
                i = int(rng.integers(len(cases) - 2))  # large calls less often
            name, x, axis, t = cases[i]
            if name != "logsumexp" and rng.integers(3) == 0:
                y = x.copy()  # in place on a private copy
                _call(name, y, axis, t, out=y)
            else:
                y = _call(name, x, axis, t)
            if y.tobytes() != serial[i].tobytes():
                bad += 1
        if bad:
            errors.append(f"thread {seed}: {bad} results differ from serial")

    def toggler():
        n = 1
        while not done.is_set():
            smk.set_num_threads(n)
            n = n % 3 + 1

    tog = threading.Thread(target=toggler)
    workers = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    try:
        tog.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        done.set()
        tog.join()
        smk.set_num_threads(0)
    assert not errors, errors
    for c, s in zip(cases, serial):  # the shared inputs were never written
        assert not c[1].flags.writeable


def test_error_messages_stay_per_thread():
    """A failing call on one thread never shows another thread's message."""
    barrier = threading.Barrier(THREADS)
    wrong = []

    def worker(k):
        barrier.wait()
        for _ in range(200):
            try:
                smk.softmax(np.ones(4), temperature=-(k + 1))
            except smk.ArgumentError as e:
                if f"got -{k + 1}.0" not in str(e):
                    wrong.append(str(e))
            else:
                wrong.append("no error")

    run_on_threads(worker)
    assert not wrong, wrong[:3]


def test_reduced_losses_from_many_threads():
    """Reduced losses come out of a per-thread 0-d buffer (losses.py): every
    thread's scalars equal the serial ones, and a scalar already returned
    keeps its value after later calls on the same thread."""
    rng = np.random.default_rng(11)
    cases = []
    for dtype in (np.float32, np.float64):
        for rows in (1, 3, 64):
            x = (rng.standard_normal((rows, 10)) * 5).astype(dtype)
            t = rng.integers(0, 10, rows)
            cases.append(("cross_entropy", x, t, "mean"))
            cases.append(("cross_entropy", x, t, "sum"))
            cases.append(("nll_loss", smk.log_softmax(x), t, "mean"))
    serial = [getattr(smk, f)(x, t, reduction=r) for f, x, t, r in cases]
    errors = []

    def worker(seed):
        r = np.random.default_rng(seed)
        held = []
        for _ in range(CALLS // 4):
            i = int(r.integers(len(cases)))
            f, x, t, red = cases[i]
            got = getattr(smk, f)(x, t, reduction=red)
            held.append((i, got))
            if len(held) > 8:
                j, old = held.pop(0)
                if not (old == serial[j] or (np.isnan(old) and np.isnan(serial[j]))):
                    errors.append((f, j, old, serial[j]))
            if not (got == serial[i] or (np.isnan(got) and np.isnan(serial[i]))):
                errors.append((f, i, got, serial[i]))

    run_on_threads(worker)
    assert not errors, errors[:5]
    assert all(np.ndim(v) == 0 and not isinstance(v, np.ndarray) for v in serial)
