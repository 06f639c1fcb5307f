"""Half precision from Python, 1 thread: softmaxkit's float16 and bfloat16
softmax, log_softmax, softmax_topk and cross_entropy against the same
softmaxkit op on float32, PyTorch's float16 / bfloat16 on CPU (if it
imports), and a copy of the same half-precision bytes (np.copyto into a
preallocated array: the floor of a kernel that reads and writes them once).

    python Benchmarks/bench_half.py [--seconds S] [--shapes 64x32000,4096x32000,1024x1000]

Needs numpy and ml_dtypes (bfloat16); PyTorch optional. The process pins
itself to one CPU and sets SOFTMAXKIT_NUM_THREADS=1 and torch's threads to 1
before anything loads. Every peer of a row is timed interleaved (each sample
runs each once, in rotating order); the median per call is reported in µs.
Columns: smk half, smk float32 (same op, float32 input), torch half, copy
of the half bytes, then f32/half (softmaxkit's gain from half the bytes),
torch/smk (above 1: softmaxkit faster) and smk/copy.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from statistics import median

os.environ["SOFTMAXKIT_NUM_THREADS"] = "1"
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[v] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bindings", "python"))
import softmaxkit as smk  # noqa: E402

try:
    import ml_dtypes  # noqa: E402
except ImportError:
    sys.exit("bench_half: needs ml_dtypes (pip install ml_dtypes)")
try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None

OPS = ["softmax", "log_softmax", "softmax_topk", "cross_entropy"]
TOPK = 8


def smk_op(op):
    if op == "softmax":
        return lambda x, t: smk.softmax(x)
    if op == "log_softmax":
        return lambda x, t: smk.log_softmax(x)
    if op == "softmax_topk":
        return lambda x, t: smk.softmax_topk(x, TOPK)
    return lambda x, t: smk.cross_entropy(x, t)


def torch_op(op):
    if op == "softmax":
        return lambda x, t: torch.softmax(x, -1)
    if op == "log_softmax":
        return lambda x, t: torch.log_softmax(x, -1)
    if op == "softmax_topk":
        return lambda x, t: torch.topk(torch.softmax(x, -1), TOPK, -1)
    return lambda x, t: F.cross_entropy(x, t)


def timed(fns, seconds):
    """Median seconds per call of each fn, sampled interleaved."""
    for f in fns:
        f()
    one = max(1e-6, min(_once(f) for f in fns))
    reps = max(1, int(0.02 / one))
    samples = [[] for _ in fns]
    end = time.perf_counter() + seconds
    k = 0
    while time.perf_counter() < end or len(samples[0]) < 5:
        order = list(range(len(fns)))
        order = order[k % len(order):] + order[:k % len(order)]
        for i in order:
            t0 = time.perf_counter()
            for _ in range(reps):
                fns[i]()
            samples[i].append((time.perf_counter() - t0) / reps)
        k += 1
    return [median(s) for s in samples]


def _once(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--shapes", default="64x32000,4096x32000,1024x1000")
    ap.add_argument("--ops", default=",".join(OPS))
    a = ap.parse_args()
    print(f"softmaxkit {smk.__version__} ({smk.cpu_path() if hasattr(smk, 'cpu_path') else ''}), numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'absent'}; 1 thread; µs per call (median)\n")
    print("| op | shape | dtype | smk half | smk f32 | torch half | copy half | f32/half | torch/smk | smk/copy |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for shape_s in a.shapes.split(","):
        shape = tuple(int(v) for v in shape_s.split("x"))
        x32 = (rng.standard_normal(shape) * 4).astype(np.float32)
        target = rng.integers(0, shape[-1], shape[0])
        for op in a.ops.split(","):
            for name, dt, tdt in (("float16", np.float16, "float16"), ("bfloat16", ml_dtypes.bfloat16, "bfloat16")):
                xh = x32.astype(dt)
                xf = xh.astype(np.float32)
                copy_dst = np.empty_like(xh)
                f = smk_op(op)
                fns = [lambda: f(xh, target), lambda: f(xf, target), lambda: np.copyto(copy_dst, xh)]
                th = None
                if torch is not None:
                    try:
                        tx = torch.from_numpy(xf).to(getattr(torch, tdt))
                        tt = torch.from_numpy(target)
                        g = torch_op(op)
                        g(tx, tt)
                        th = lambda: g(tx, tt)  # noqa: E731
                        fns.append(th)
                    except (RuntimeError, TypeError) as e:
                        print(f"<!-- torch {op} {name}: {e} -->")
                times = timed(fns, a.seconds)
                h, s32, cp = times[:3]
                tt_ = times[3] if th else float("nan")
                print(f"| {op} | {shape_s} | {name} | {h * 1e6:.1f} | {s32 * 1e6:.1f} | {tt_ * 1e6:.1f} | {cp * 1e6:.1f} | "
                      f"{s32 / h:.2f} | {tt_ / h:.2f} | {h / cp:.2f} |", flush=True)
                del xh, xf, copy_dst
        del x32


if __name__ == "__main__":
    main()
