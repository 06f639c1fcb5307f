"""A/B two builds of libsoftmaxkit.so in one process, interleaved.

    python3 Benchmarks/ab_libraries.py OLD.so NEW.so f64 64 1000 64 [--op log_softmax] [--k 8] [--reps 15]

Loads both libraries (RTLD_LOCAL: each keeps its own symbols), then alternates
them: each repetition times five calls of A, then five of B, on the same
input and output arrays, and keeps the fastest of each five. Prints the best
and the median over the repetitions and B's time as a ratio of A's. On a shared
machine the ratio of interleaved runs is what to read (BENCHMARKS.md quotes
these as "ab"). Operations: softmax and log_softmax over extents (outer, n,
inner), and softmax_topk over rows (outer, n) with --k (inner must be 1).
The thread count is the libraries' default: set SOFTMAXKIT_NUM_THREADS=1 to
time one thread.
"""
import argparse
import ctypes
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("dtype", choices=["f32", "f64"])
    ap.add_argument("outer", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("inner", type=int)
    ap.add_argument("--op", default="softmax", choices=["softmax", "log_softmax", "softmax_topk"])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()

    dt = np.float64 if args.dtype == "f64" else np.float32
    scalar = ctypes.c_double if args.dtype == "f64" else ctypes.c_float
    x = np.random.default_rng(0).standard_normal((args.outer, args.n, args.inner)).astype(dt)
    ptr = lambda a: ctypes.c_void_p(a.ctypes.data)  # noqa: E731
    i64 = ctypes.c_int64
    if args.op == "softmax_topk":
        if args.inner != 1:
            ap.error("softmax_topk here takes rows: inner must be 1")
        probs = np.empty((args.outer, args.k), dt)
        idx = np.empty((args.outer, args.k), np.int64)
        call_args = (ptr(x), ptr(probs), ptr(idx), i64(args.outer), i64(args.n), i64(1), i64(args.k), scalar(1.0))
    else:
        y = np.empty_like(x)
        call_args = (ptr(x), ptr(y), i64(args.outer), i64(args.n), i64(args.inner), scalar(1.0))

    fns = []
    for path in (args.a, args.b):
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        f = getattr(lib, f"smk_{args.op}_{args.dtype}")
        f.restype = ctypes.c_int
        if f(*call_args) != 0:
            raise SystemExit(f"{path}: smk_{args.op}_{args.dtype} failed")
        fns.append(f)

    best = [[], []]
    for _ in range(args.reps):
        for j, f in enumerate(fns):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                f(*call_args)
                times.append(time.perf_counter() - t)
            best[j].append(min(times))
    med = [sorted(b)[len(b) // 2] for b in best]
    for j, path in enumerate((args.a, args.b)):
        print(f"{'AB'[j]} {path}: best {1e6 * min(best[j]):.1f} us, median {1e6 * med[j]:.1f} us")
    print(f"B / A: best {min(best[1]) / min(best[0]):.3f}, median {med[1] / med[0]:.3f}")


if __name__ == "__main__":
    main()
