"""Variants over a middle axis (inner > 1) against softmax on the same axis,
through the Python API (one thread; best of the repeats).

    PYTHONPATH=bindings/python python3 Benchmarks/bench_strided.py
"""
from __future__ import annotations

import time

import numpy as np

import softmaxkit as smk
from softmaxkit import _lib


def best(fn, repeats: int = 15) -> float:
    fn()
    b = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t0)
    return b * 1e6


def main() -> None:
    _lib.lib.smk_set_num_threads(1)
    x = np.random.default_rng(0).normal(size=(64, 1000, 32)).astype(np.float32)
    pattern = (np.arange(1000) % 3 != 0)[:, None]
    mask = np.ascontiguousarray(np.broadcast_to(pattern, x.shape), dtype=np.uint8)
    target = np.zeros((64, 32), np.int64)
    cases = {
        "softmax": lambda: smk.softmax(x, 1),
        "masked_softmax (full uint8 mask)": lambda: smk.masked_softmax(x, mask, 1),
        "masked_softmax ((1000, 1) pattern)": lambda: smk.masked_softmax(x, pattern, 1),
        "segment_softmax (2 groups)": lambda: smk.segment_softmax(x, [0, 500, 1000], 1),
        "topk (k=8)": lambda: smk.topk(x, 8, 1),
        "softmax_topk (k=8)": lambda: smk.softmax_topk(x, 8, 1),
        "softmax_backward": lambda: smk.softmax_backward(x, x, 1),
        "cross_entropy [64, 1000, 32]": lambda: smk.cross_entropy(x, target),
    }
    # Three rounds through every case, each case's best kept: on a shared
    # machine a slow spell then hits every case alike, softmax included.
    got = {name: float("inf") for name in cases}
    for _ in range(3):
        for name, fn in cases.items():
            got[name] = min(got[name], best(fn))
    print("[64, 1000, 32] f32 over axis 1, 1 thread (best of 3 rounds)")
    for name, us in got.items():
        print(f"  {name:36s} {us:8.0f} us   {us / got['softmax']:5.2f}x softmax")


if __name__ == "__main__":
    main()
