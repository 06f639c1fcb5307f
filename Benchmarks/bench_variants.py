"""Times each softmax variant against plain softmax on the same shape, and
softmax_topk against softmax followed by topk (the speed targets of BENCHMARKS.md's status table).

Calls the C functions through the binding's ctypes declarations with
preallocated arrays, so Python overhead (~1 us) is small next to the
kernels. Prints the best time over repeats (noise on a shared machine only adds) and the ratio to softmax.

    PYTHONPATH=bindings/python python3 Benchmarks/bench_variants.py [--rows 64 --cols 32000]
"""
from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import numpy as np

from softmaxkit import _lib
from softmaxkit._arrays import ptr

L = _lib.lib


def timed_pair(fn, base, repeats: int) -> tuple[float, float]:
    """Best times of `fn` and `base`, run alternately so that both see the
    same machine load (the machine is shared: noise only adds, so take the min)."""
    fn(); base()
    a, b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); t1 = time.perf_counter(); base(); t2 = time.perf_counter()
        a.append(t1 - t0); b.append(t2 - t1)
    return min(a) * 1e6, min(b) * 1e6


def numpy_topk(p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    part = np.argpartition(-p, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(p, part, 1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(vals, order, 1), np.take_along_axis(part, order, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="smk_set_num_threads (0: the library default)")
    ap.add_argument("--k", type=int, default=16, help="k of the top-k cases (at most --cols)")
    a = ap.parse_args()
    L.smk_set_num_threads(a.threads)
    B, C, sfx = a.rows, a.cols, a.dtype
    dt = np.float32 if sfx == "f32" else np.float64
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(B, C)) * 4).astype(dt)
    y = np.empty_like(x)
    y2 = np.empty_like(x)
    f = lambda name: getattr(L, f"smk_{name}_{sfx}")  # noqa: E731
    pattern = (rng.random(C) > 0.3).astype(np.uint8)
    full = (rng.random((B, C)) > 0.3).astype(np.uint8)
    groups = 100
    sizes = np.full(groups, C // groups, np.int64)
    sizes[-1] += C - sizes.sum()
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    layout = (_lib.Partition * 3)((C // 2, 1), (C // 4, 3), (C - C // 2 - C // 4, 0))
    coarse = rng.normal(size=(B, groups)).astype(dt)
    targets = rng.integers(0, C, size=B).astype(np.int64)
    loss = np.empty(1, dt)
    opts = _lib.LossOptions()
    L.smk_loss_options_init(ctypes.byref(opts))
    k = min(a.k, C)
    vals = np.empty((B, k), dt)
    idx = np.empty((B, k), np.int64)
    amax = np.empty(B, np.int64)
    soft = y2  # softmax output reused by the two-step top-k
    T = dt(1.0)

    cases = {
        "softmax": lambda: f("softmax")(ptr(x), ptr(y), 1 * B, C, 1, T),
        "log_softmax": lambda: f("log_softmax")(ptr(x), ptr(y), B, C, 1, T),
        "masked_softmax (pattern)": lambda: f("masked_softmax")(ptr(x), ptr(pattern), ptr(y), B, C, 1, C, 1),
        "masked_softmax (full mask)": lambda: f("masked_softmax")(ptr(x), ptr(full), ptr(y), B, C, 1, B * C, 1),
        "masked_softmax (renormalize=0)": lambda: f("masked_softmax")(ptr(x), ptr(pattern), ptr(y), B, C, 1, C, 0),
        "masked_log_softmax": lambda: f("masked_log_softmax")(ptr(x), ptr(pattern), ptr(y), B, C, 1, C),
        "partitioned (softmax|sigmoid|identity)": lambda: f("partitioned")(ptr(x), layout, ptr(y), B, C, 1, 3),
        f"segment_softmax ({groups} groups)": lambda: f("segment_softmax")(ptr(x), ptr(offsets), ptr(y), B, C, 1, groups + 1),
        f"hierarchical_softmax ({groups} groups)": lambda: f("hierarchical_softmax")(ptr(coarse), ptr(x), ptr(sizes), ptr(y), B, groups, C, 0),
        "ensemble_mean logits (1 member)": lambda: f("ensemble_mean")((ctypes.c_void_p * 1)(x.ctypes.data), ptr(y), 1, B, C, 1, 2),
        "hardmax": lambda: f("hardmax")(ptr(x), ptr(y), B, C, 1),
        "argmax": lambda: f("argmax")(ptr(x), ptr(amax), B, C, 1),
        "cross_entropy (mean)": lambda: f("cross_entropy")(ptr(x), ptr(targets), None, ptr(loss), None, B, C, 1, ctypes.byref(opts)),
        "cross_entropy + grad": lambda: f("cross_entropy")(ptr(x), ptr(targets), None, ptr(loss), ptr(y), B, C, 1, ctypes.byref(opts)),
        "softmax_backward": lambda: f("softmax_backward")(ptr(x), ptr(x), ptr(y), B, C, 1),
        "log_softmax_backward": lambda: f("log_softmax_backward")(ptr(x), ptr(x), ptr(y), B, C, 1),
        f"topk (k={k})": lambda: f("topk")(ptr(x), ptr(vals), ptr(idx), B, C, 1, k),
        f"softmax then topk (k={k})": lambda: (f("softmax")(ptr(x), ptr(soft), B, C, 1, T),
                                               f("topk")(ptr(soft), ptr(vals), ptr(idx), B, C, 1, k)),
        f"softmax_topk (k={k})": lambda: f("softmax_topk")(ptr(x), ptr(vals), ptr(idx), B, C, 1, k, T),
        # What a numpy user writes without a top-k kernel: argpartition, then sort the k.
        f"softmax then numpy topk (k={k})": lambda: (f("softmax")(ptr(x), ptr(soft), B, C, 1, T),
                                                     numpy_topk(soft, k)),
    }
    print(f"[{B}, {C}] {sfx}, {L.smk_get_num_threads()} thread(s), best of {a.repeats}")
    for name, fn in cases.items():
        if name.startswith("softmax then"):
            continue
        if name.startswith("softmax_topk"):
            for base_name in (f"softmax then topk (k={k})", f"softmax then numpy topk (k={k})"):
                us, two_step = timed_pair(fn, cases[base_name], a.repeats)
                print(f"  {name:42s} {us:9.1f} us   {two_step / us:5.2f}x faster than {base_name.split(' (')[0]} ({two_step:.1f} us)")
            continue
        us, base = timed_pair(fn, cases["softmax"], a.repeats)
        print(f"  {name:42s} {us:9.1f} us   {us / base:5.2f}x softmax ({base:.1f} us)")


if __name__ == "__main__":
    main()
