#!/usr/bin/env python3
"""Forward passes of the example networks: softmaxkit (through the Python
binding) vs numpy (OpenBLAS) and PyTorch when installed, all single-threaded,
at batch 1, 64 and 4096. numpy and PyTorch run the same float32 layers and
heads written out by hand (tests/model_reference.py), so every library does
the same arithmetic. Best of 7 rounds; microseconds per forward.

    PYTHONPATH=bindings/python python3 Benchmarks/bench_models.py [--quick]

With --wide, the wide network (Benchmarks/wide_net.py) at batch
4096 on --threads N threads (every library set to N): whole forward passes,
and the three matrix products alone through numpy's BLAS and torch, in
milliseconds and GFLOP/s.
"""
from __future__ import annotations

import os
import sys

# Every library on the same thread count (set before numpy loads its BLAS).
THREADS = 1
for i, a in enumerate(sys.argv):
    if a == "--threads" and i + 1 < len(sys.argv):
        THREADS = int(sys.argv[i + 1])
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
sys.path.insert(0, str(ROOT / "bindings" / "python" / "tests"))
sys.path.insert(0, str(ROOT / "examples"))
import softmaxkit  # noqa: E402
import model_reference as ref  # noqa: E402
from make_models import seed_networks  # noqa: E402
from wide_net import FLOPS_PER_ROW, wide_network  # noqa: E402

softmaxkit.set_num_threads(THREADS)
try:
    import torch  # type: ignore
    torch.set_num_threads(THREADS)
except ImportError:
    torch = None


def best_time(fn, budget: float, cpu: bool = False):
    """Best seconds per call over 7 rounds; with cpu, also the calling
    thread's CPU seconds (which preemption on a busy machine does not
    inflate: the fair figure on 1 thread)."""
    fn()
    calls, t = 1, 0.0
    while t < budget / 20:
        calls *= 2
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = time.perf_counter() - t0
    calls = max(1, int(calls * (budget / 7) / max(t, 1e-9)))
    best = best_cpu = float("inf")
    for _ in range(7):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
        best_cpu = min(best_cpu, (time.thread_time() - c0) / calls)
    return (best, best_cpu) if cpu else best


def torch_forward(spec, weights):
    """The spec as torch ops (nn.Linear semantics), float32."""
    W = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in weights.items()}
    acts = {"identity": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
            "gelu_tanh": lambda z: torch.nn.functional.gelu(z, approximate="tanh")}

    def run(x):
        with torch.inference_mode():
            vals = {"input": x}
            for l in spec["layers"]:
                vals[l["name"]] = acts[l.get("activation", "identity")](
                    torch.nn.functional.linear(vals[l.get("input", "input")], W[l["name"] + ".weight"], W.get(l["name"] + ".bias")))
            out = {}
            for h in spec["heads"]:
                k = h["output"]
                if k == "hierarchical":
                    pc = torch.softmax(vals[h["coarse"]], -1)
                    out[h["name"]] = torch.cat([pc[..., g:g + 1] * torch.softmax(vals[f], -1) for g, f in enumerate(h["fine"])], -1)
                elif k == "softmax":
                    out[h["name"]] = torch.softmax(vals[h["layer"]], -1)
                elif k == "masked_softmax":
                    out[h["name"]] = torch.softmax(vals[h["layer"]], -1) * torch.tensor(h["mask"], dtype=torch.float32)
                elif k == "sigmoid":
                    out[h["name"]] = torch.sigmoid(vals[h["layer"]])
                else:
                    out[h["name"]] = vals[h["layer"]]
            return out
    return run


def gemms_only(lib, x, weights):
    """The wide network's three products (no bias, activation or head) into
    preallocated outputs: what a BLAS does at its best."""
    names = ["fc1", "fc2", "classes", "box"]
    if lib == "numpy":
        ws = [np.ascontiguousarray(weights[n + ".weight"], np.float32).T for n in names[:2]]
        ws.append(np.concatenate([weights["classes.weight"], weights["box.weight"]]).astype(np.float32).T)
        outs = [np.empty((x.shape[0], w.shape[1]), np.float32) for w in ws]

        def run():
            a = x
            for w, o in zip(ws, outs):
                a = np.matmul(a, w, out=o)
        return run
    ws = [torch.from_numpy(np.asarray(weights[n + ".weight"], np.float32)).t() for n in names[:2]]
    ws.append(torch.from_numpy(np.concatenate([weights["classes.weight"], weights["box.weight"]]).astype(np.float32)).t())
    xt = torch.from_numpy(x)
    outs = [torch.empty((x.shape[0], w.shape[1])) for w in ws]

    def run():
        with torch.inference_mode():
            a = xt
            for w, o in zip(ws, outs):
                a = torch.mm(a, w, out=o)
    return run


def wide(batches, budget) -> None:
    """The wide network: whole forwards and BLAS products, ms and GFLOP/s."""
    spec, weights, shape = wide_network()
    model = softmaxkit.Model.from_weights(spec, weights)
    w32 = {k: np.asarray(v, np.float32) for k, v in weights.items()}
    tf = torch_forward(spec, weights) if torch else None
    print(f"wide network 512->1024->1024->[1000 softmax, 4], {FLOPS_PER_ROW / 1e6:.2f} MFLOP per row, "
          f"{THREADS} thread(s) for every library")
    print(f"{'batch':>6}  {'what':<34}{'ms':>9}{'GFLOP/s':>10}{'CPU ms':>9}")
    for b in batches:
        x = np.random.default_rng(0).standard_normal((b, shape[1])).astype(np.float32)
        got, want = model(x), ref.forward(spec, weights, x)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)
        rows = [("softmaxkit forward", lambda: model(x)),
                ("numpy forward (float32)", lambda: ref.forward(spec, w32, x, np.float32)),
                ("numpy matmul, 3 products only", gemms_only("numpy", x, weights))]
        if tf:
            xt = torch.from_numpy(x)
            rows += [("torch forward", lambda: tf(xt)), ("torch mm, 3 products only", gemms_only("torch", x, weights))]
        times, cpus = {}, {}
        for what, fn in rows:
            times[what], cpus[what] = best_time(fn, budget, cpu=True)
            print(f"{b:>6}  {what:<34}{times[what] * 1e3:>9.2f}{FLOPS_PER_ROW * b / times[what] * 1e-9:>10.1f}"
                  f"{cpus[what] * 1e3:>9.2f}")
        blas = min(t for w, t in times.items() if "products only" in w)
        line = f"{b:>6}  softmaxkit forward / best BLAS products: {times['softmaxkit forward'] / blas:.2f}x"
        if THREADS == 1:
            blas_cpu = min(t for w, t in cpus.items() if "products only" in w)
            line += f" (CPU time: {cpus['softmaxkit forward'] / blas_cpu:.2f}x)"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter timing budget")
    ap.add_argument("--batches", type=int, nargs="*", default=None, help="default 1 64 4096 (--wide: 4096)")
    ap.add_argument("--wide", action="store_true", help="the wide network against BLAS instead of the example networks")
    ap.add_argument("--threads", type=int, default=1, help="threads for every library (read before numpy loads)")
    args = ap.parse_args()
    budget = 0.1 if args.quick else 0.5
    if args.wide:
        print(f"softmaxkit {softmaxkit.version()}; numpy {np.__version__}" + (f"; torch {torch.__version__}" if torch else ""))
        wide(args.batches or [4096], max(budget, 2.0))
        return
    args.batches = args.batches or [1, 64, 4096]
    nets = seed_networks()
    cols = ["softmaxkit", "numpy"] + (["torch"] if torch else [])
    print(f"softmaxkit {softmaxkit.version()} ({softmaxkit.library_path}); numpy {np.__version__}"
          + (f"; torch {torch.__version__}" if torch else "; torch not installed"))
    print(f"{'network':<14}{'batch':>6}" + "".join(f"{c + ' us':>14}" for c in cols) + f"{'speed-up vs numpy':>20}")
    for name in ["robot_arm", "masked", "hierarchical", "multitask", "timesteps", "digits", "ensemble_a"]:
        spec, weights, shape = nets[name]
        model = softmaxkit.Model.from_weights(spec, weights)
        w32 = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        sequence = any(l.get("kind", "dense") != "dense" or "step" in l for l in spec["layers"])
        # torch_forward writes dense layers only: the LSTM network runs without it
        # (Benchmarks/bench_step_peers.py times torch's LSTM per step).
        tf = torch_forward(spec, weights) if torch and not sequence else None
        for b in args.batches:
            x = np.random.default_rng(0).standard_normal((b,) + tuple(shape[1:])).astype(np.float32)
            got, want = model(x), ref.forward(spec, weights, x)
            for k in want:  # every timing is of a correct forward pass
                np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)
            times = [best_time(lambda: model(x), budget), best_time(lambda: ref.forward(spec, w32, x, np.float32), budget)]
            if tf:
                xt = torch.from_numpy(x)
                times.append(best_time(lambda: tf(xt), budget))
            elif torch:
                times.append(float("nan"))
            print(f"{name:<14}{b:>6}" + "".join(f"{t * 1e6:>14.1f}" for t in times) + f"{times[1] / times[0]:>19.2f}x")


if __name__ == "__main__":
    main()
