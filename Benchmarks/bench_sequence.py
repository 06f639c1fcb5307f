#!/usr/bin/env python3
"""A whole sequence through an LSTM with a per-step softmax head, on 1 thread:
x [64, 100, 64] float32 -> LSTM(64 -> 128) -> Linear(128 -> 10) -> softmax,
every step. PyTorch (nn.LSTM batch_first + nn.Linear + softmax under
inference_mode), ONNX Runtime (the same module exported with torch.onnx, 1
intra-op thread) and softmaxkit's Model.__call__ (the same weights). Every
library is checked against torch's probabilities before it is timed; the
libraries' rounds are interleaved (one round of each in turn) so that a
change in the machine's load reaches all of them alike. Reports the best
and the median round, wall clock and the calling thread's CPU time, in
milliseconds per forward, and softmaxkit's speed-up against each peer.

    PYTHONPATH=bindings/python /path/to/python-with-torch-and-onnxruntime Benchmarks/bench_sequence.py [--rounds N]
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import softmaxkit  # noqa: E402

B, T, F, H, C = 64, 100, 64, 128, 10


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(F, H, batch_first=True)
        self.fc = nn.Linear(H, C)

    def forward(self, x):
        out, _ = self.lstm(x)
        return torch.softmax(self.fc(out), -1)


def one_round(fn, calls):
    """Seconds per call of `calls` calls: wall clock and thread CPU time."""
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls, (time.thread_time() - c0) / calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=5, help="forwards per round")
    args = ap.parse_args()
    torch.set_num_threads(1)
    softmaxkit.set_num_threads(1)
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(B, T, F)
    with torch.inference_mode():
        want = net(x).numpy()
    versions = [f"torch {torch.__version__}"]

    def torch_fwd():
        with torch.inference_mode():
            return net(x)
    libs = {"torch": torch_fwd}

    try:
        import onnxruntime as ort
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "seq.onnx")
            torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["probs"], dynamo=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        np.testing.assert_allclose(sess.run(None, feed)[0], want, atol=1e-5)
        libs["onnxruntime"] = lambda: sess.run(None, feed)
        versions.append(f"onnxruntime {ort.__version__}")
    except ImportError:
        print("onnxruntime not installed: skipped")

    spec = {"softmaxkit": 1, "input": {"features": F},
            "layers": [{"name": "lstm", "kind": "lstm", "units": H, "sequence": True},
                       {"name": "fc", "input": "lstm"}],
            "heads": [{"name": "probs", "layer": "fc", "output": "softmax"}]}
    model = softmaxkit.Model.from_weights(spec, {k: v.numpy() for k, v in net.state_dict().items()})
    xs = np.ascontiguousarray(x.numpy())
    got = model(xs)["probs"]
    np.testing.assert_allclose(np.asarray(got).reshape(want.shape), want, atol=1e-5)
    libs["softmaxkit"] = lambda: model(xs)
    versions.append(f"softmaxkit {softmaxkit.version()}")

    for fn in libs.values():  # warm up
        fn(); fn()
    wall = {k: [] for k in libs}
    cpu = {k: [] for k in libs}
    for _ in range(args.rounds):
        for name, fn in libs.items():
            w, c = one_round(fn, args.calls)
            wall[name].append(w * 1e3)
            cpu[name].append(c * 1e3)

    print("; ".join(versions))
    print(f"[{B}, {T}, {F}] -> LSTM({H}) -> per-step softmax({C}), whole sequence, 1 thread; "
          f"{args.rounds} interleaved rounds of {args.calls} forwards; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'library':<14}{'best ms':>9}{'median ms':>11}{'best CPU ms':>13}{'median CPU ms':>15}")
    for name in libs:
        print(f"  {name:<14}{min(wall[name]):9.2f}{statistics.median(wall[name]):11.2f}"
              f"{min(cpu[name]):13.2f}{statistics.median(cpu[name]):15.2f}")
    s = "softmaxkit"
    for peer in (p for p in libs if p != s):
        print(f"  softmaxkit vs {peer}: {min(wall[peer]) / min(wall[s]):.2f}x (best), "
              f"{statistics.median(wall[peer]) / statistics.median(wall[s]):.2f}x (median), "
              f"{statistics.median(cpu[peer]) / statistics.median(cpu[s]):.2f}x (median CPU)")


if __name__ == "__main__":
    main()
