"""Sampling from logits against softmax of the same shape and against the
recipes users write today (numpy; PyTorch's softmax + sort + cumsum +
multinomial when torch imports), 1 thread, best of several rounds.

    PYTHONPATH=bindings/python python3 Benchmarks/bench_sampling.py [--rows 64] [--n 32000]

Prints ms per call for each case. The numpy recipes are the fastest
vectorized ones we know: plain = softmax, cumsum, one uniform per row and a
count of the running sums below it; top_k = argpartition, then that on the
k; top_p = a full argsort, cumsum, cut, renormalize, then the same.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import softmaxkit as smk  # noqa: E402


def best(fn, rounds: int = 7, seconds: float = 0.2) -> float:
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - t0 >= 0.02:
            break
        calls *= 2
    calls = max(1, int(calls * seconds / 0.02))
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t0) / calls)
    return min(out) * 1e3


def np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_draw(p, rng):
    c = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1)) * c[:, -1:]
    return (c <= u).sum(axis=1)


def np_plain(x, rng, t=1.0):
    return np_draw(np_softmax(x / t), rng)


def np_top_k(x, rng, k=50):
    part = np.argpartition(-x, k, axis=1)[:, :k]
    v = np.take_along_axis(x, part, axis=1)
    return np.take_along_axis(part, np_draw(np_softmax(v), rng)[:, None], axis=1)[:, 0]


def np_top_p(x, rng, p=0.9):
    order = np.argsort(-x, axis=1)
    probs = np.take_along_axis(np_softmax(x), order, axis=1)
    c = np.cumsum(probs, axis=1)
    keep = (c - probs) < p  # the smallest prefix that reaches p
    probs = np.where(keep, probs, 0)
    return np.take_along_axis(order, np_draw(probs, rng)[:, None], axis=1)[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--n", type=int, default=32000)
    args = ap.parse_args()
    smk.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(args.rows, args.n)) * 2).astype(np.float32)
    y = np.empty_like(x)
    print(f"{args.rows} x {args.n} float32, 1 thread, ms per call (best of 7)")
    rows = [
        ("softmax (ours)", lambda: smk.softmax(x, out=y)),
        ("sample plain T=1", lambda: smk.sample(x, seed=1)),
        ("sample plain T=0.8", lambda: smk.sample(x, temperature=0.8, seed=1)),
        ("sample top_p=0.9", lambda: smk.sample(x, top_p=0.9, seed=1)),
        ("sample top_k=50", lambda: smk.sample(x, top_k=50, seed=1)),
        ("sample min_p=0.05", lambda: smk.sample(x, min_p=0.05, seed=1)),
        ("numpy plain", lambda: np_plain(x, rng)),
        ("numpy top_p=0.9", lambda: np_top_p(x, rng)),
        ("numpy top_k=50", lambda: np_top_k(x, rng)),
    ]
    try:
        import torch  # noqa: F401
        torch.set_num_threads(1)
        tx = torch.from_numpy(x)

        def torch_top_p(p=0.9):
            probs = torch.softmax(tx, dim=-1)
            sp, si = torch.sort(probs, descending=True, dim=-1)
            c = torch.cumsum(sp, dim=-1)
            sp[(c - sp) > p] = 0
            return si.gather(-1, torch.multinomial(sp, 1))

        def torch_top_k(k=50):
            v, i = torch.topk(tx, k, dim=-1)
            return i.gather(-1, torch.multinomial(torch.softmax(v, dim=-1), 1))

        rows += [("torch plain", lambda: torch.multinomial(torch.softmax(tx, dim=-1), 1)),
                 ("torch top_p=0.9", torch_top_p), ("torch top_k=50", torch_top_k)]
    except ImportError:
        print("(torch not importable here: PyTorch rows skipped)")
    results = {}
    for name, fn in rows:
        results[name] = best(fn)
        print(f"  {name:24s} {results[name]:8.3f}")
    s = results["softmax (ours)"]
    print(f"sample plain / softmax: {results['sample plain T=1'] / s:.2f}x (T=0.8: {results['sample plain T=0.8'] / s:.2f}x)")
    for case in ("top_p=0.9", "top_k=50"):
        print(f"numpy {case} / sample {case}: {results['numpy ' + case] / results['sample ' + case]:.1f}x")
        if "torch " + case in results:
            print(f"torch {case} / sample {case}: {results['torch ' + case] / results['sample ' + case]:.1f}x")


if __name__ == "__main__":
    main()
