"""The dispatching library against a native build, op by op: runs
bench_variants.py under each library (alternating, several rounds, keeping
each op's best time) and prints the ratio dispatch / native per op and shape,
their median and the worst op.

    python3 Benchmarks/bench_dispatch.py --native .build/release/libsoftmaxkit.so \\
        --dispatch .build-dist/libsoftmaxkit.so [--cpu avx512] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(r"^  (.+?)\s+([0-9.]+) us ")
SHAPES = [("64x32000", ["--rows", "64", "--cols", "32000"]),
          ("256x128", ["--rows", "256", "--cols", "128"]),
          ("64x10", ["--rows", "64", "--cols", "10", "--k", "5"])]


def run(library: str, cpu: str | None, args: list[str], repeats: int, dtype: str) -> dict[str, float]:
    env = dict(os.environ, SOFTMAXKIT_LIBRARY=os.path.abspath(library),
               PYTHONPATH=os.path.join(HERE, "..", "bindings", "python"))
    env.pop("SOFTMAXKIT_CPU", None)
    if cpu:
        env["SOFTMAXKIT_CPU"] = cpu
    out = subprocess.run([sys.executable, os.path.join(HERE, "bench_variants.py"), *args, "--dtype", dtype,
                          "--repeats", str(repeats), "--threads", "1"],
                         env=env, check=True, capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m and not m.group(1).startswith("softmax then"):
            times.setdefault(m.group(1).strip(), float(m.group(2)))  # softmax_topk: its first line
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--native", required=True)
    ap.add_argument("--dispatch", required=True)
    ap.add_argument("--cpu", default=None, help="SOFTMAXKIT_CPU for the dispatching library")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--shapes", default=",".join(s for s, _ in SHAPES), help="comma-separated, of " + " ".join(s for s, _ in SHAPES))
    a = ap.parse_args()
    ratios = []
    print(f"dispatch ({a.cpu or 'auto'}) / native, {a.dtype}, 1 thread, best of {a.rounds} rounds x {a.repeats}")
    for shape, args in (x for x in SHAPES if x[0] in a.shapes.split(",")):
        best = {"native": {}, "dispatch": {}}
        for _ in range(a.rounds):
            for which, lib, cpu in (("native", a.native, None), ("dispatch", a.dispatch, a.cpu)):
                for op, us in run(lib, cpu, args, a.repeats, a.dtype).items():
                    best[which][op] = min(us, best[which].get(op, us))
        for op, n in best["native"].items():
            d = best["dispatch"].get(op)
            if d is None:
                continue
            ratios.append((d / n, f"{op} {shape}"))
            print(f"  {shape:9s} {op:42s} native {n:9.1f} us  dispatch {d:9.1f} us  {d / n:5.2f}")
    worst = max(ratios)
    print(f"median ratio {statistics.median(r for r, _ in ratios):.3f} over {len(ratios)} op/shapes; "
          f"worst {worst[0]:.2f} ({worst[1]}); best {min(ratios)[0]:.2f} ({min(ratios)[1]})")


if __name__ == "__main__":
    main()
