#!/usr/bin/env python3
"""One streaming step of LSTM 64 -> 128 with a 10-way softmax head at batch 1,
on 1 thread, from Python: PyTorch's per-step call (nn.LSTM on a [1, 1, 64]
step with the carried (h, c), then nn.Linear and softmax), ONNX Runtime's
(the same step module exported with torch.onnx: inputs x, h, c; outputs
probs, h, c) and softmaxkit's Model.step (the same weights). Every library
is checked against torch's probabilities before it is timed. The C figure
without Python's call overhead is Benchmarks/bench_step_c.c.

    PYTHONPATH=bindings/python /path/to/python-with-torch-and-onnxruntime Benchmarks/bench_step_peers.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import softmaxkit  # noqa: E402

F, H, C = 64, 128, 10


class Step(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(F, H, batch_first=True)
        self.fc = nn.Linear(H, C)

    def forward(self, x, h, c):
        out, (h, c) = self.lstm(x, (h, c))
        return torch.softmax(self.fc(out[:, 0]), -1), h, c


def best_us(fn, budget=1.0):
    """Best microseconds per call over 7 rounds of budget / 7 seconds: wall
    clock, and this thread's CPU time (which a busy machine's preemption does
    not inflate; every library here computes on the calling thread)."""
    fn()
    calls, t = 1, 0.0
    while t < 0.02:
        calls *= 2
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = time.perf_counter() - t0
    calls = max(1, int(calls * (budget / 7) / t))
    best = best_cpu = float("inf")
    for _ in range(7):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
        best_cpu = min(best_cpu, (time.thread_time() - c0) / calls)
    return best * 1e6, best_cpu * 1e6


def main() -> None:
    torch.set_num_threads(1)
    softmaxkit.set_num_threads(1)
    torch.manual_seed(0)
    net = Step().eval()
    x = torch.randn(1, 1, F)
    zeros = torch.zeros(1, 1, H)
    with torch.no_grad():
        want, _, _ = net(x, zeros, zeros)
    rows = [f"torch {torch.__version__}"]

    # PyTorch: the step module with the state carried.
    state = [zeros.clone(), zeros.clone()]

    def torch_step():
        with torch.inference_mode():
            p, state[0], state[1] = net(x, state[0], state[1])
        return p
    results = {"torch": best_us(torch_step)}

    # ONNX Runtime on the exported step.
    try:
        import onnxruntime as ort
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "step.onnx")
            torch.onnx.export(net, (x, zeros, zeros), path, input_names=["x", "h", "c"],
                              output_names=["probs", "h_out", "c_out"], dynamo=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy(), "h": zeros.numpy(), "c": zeros.numpy()}
        p, _, _ = sess.run(None, feed)
        np.testing.assert_allclose(p, want.numpy(), atol=1e-5)

        def ort_step():
            p, feed["h"], feed["c"] = sess.run(None, feed)
        results["onnxruntime"] = best_us(ort_step)
        rows[0] += f"; onnxruntime {ort.__version__}"
    except ImportError:
        print("onnxruntime not installed: skipped")

    # softmaxkit: the same weights, named as the state_dict names them.
    spec = {"softmaxkit": 1, "input": {"features": F},
            "layers": [{"name": "lstm", "kind": "lstm", "units": H}, {"name": "fc", "input": "lstm"}],
            "heads": [{"name": "probs", "layer": "fc", "output": "softmax"}]}
    model = softmaxkit.Model.from_weights(spec, {k: v.numpy() for k, v in net.state_dict().items()})
    st = model.new_state(1)
    x1 = x.numpy().reshape(1, F)
    np.testing.assert_allclose(model.step(x1, st)["probs"], want.numpy(), atol=1e-5)
    results["softmaxkit (Python)"] = best_us(lambda: model.step(x1, st))

    print("; ".join(rows) + f"; softmaxkit {softmaxkit.version()}")
    print(f"one step of LSTM {F}->{H} + softmax({C}), batch 1, 1 thread (best of 7 rounds):")
    for name, (us, cpu) in results.items():
        print(f"  {name:<22}{us:8.2f} us per step (CPU {cpu:.2f} us)")


if __name__ == "__main__":
    main()
