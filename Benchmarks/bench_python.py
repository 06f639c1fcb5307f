"""Python-level benchmark: softmaxkit against numpy, scipy, PyTorch, JAX and
ONNX Runtime, each only if it imports.

    make bench-python BENCH_PYTHON=/path/to/venv/bin/python
    python Benchmarks/bench_python.py [--seconds S] [--threads 1|all|both]
                                      [--ops softmax,log_softmax] [--overhead]
                                      [--json results.json] [--svg chart.svg]
    python Benchmarks/bench_python.py --from-json results.json [--from-json run2.json] --svg chart.svg

Install the peers in a throwaway virtual environment outside the repository
(they are never dependencies of SoftmaxKit), for example

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install numpy scipy threadpoolctl torch "jax[cpu]" onnx onnxruntime

Method. Every (op, shape, dtype) is one group: each peer gets its input
prepared ahead in its own form (numpy array, torch tensor, jax device array),
is checked once against softmaxkit's answer, then all peers are timed
interleaved (each sample runs every peer once, in rotating order) and the
median per call over the samples is reported. With all cores, each peer's
sample follows SETTLE_S of its own untimed calls: thread pools that spin
after a call (ONNX Runtime's, OpenMP's) would otherwise take a core from the
peer timed next. Thread modes run in separate
child processes because JAX/XLA and OpenMP fix their pools at start-up:
"1 thread" pins the child to one CPU (sched_setaffinity) and sets
OMP/OPENBLAS/MKL threads to 1, torch.set_num_threads(1), ORT
intra_op_num_threads=1, XLA_FLAGS single-threaded Eigen, SOFTMAXKIT_NUM_THREADS=1;
"all cores" leaves every library at its default (= cores).

Output: markdown tables of µs per call, and "smk / best" = softmaxkit's time
over the fastest other peer's (below 1.0 means softmaxkit is faster).
--json saves every thread mode's results; --svg draws one chart from them
(softmax float32 on 1 thread unless --chart says otherwise: each peer's time
over softmaxkit's, by shape); --from-json prints and draws saved results
again without measuring, and merges several --stat min runs of one build.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import timeit
from statistics import median

SHAPES = [((1, 10), -1), ((64, 10), -1), ((256, 128), -1), ((1024, 1000), -1), ((8, 32000), -1),
          ((64, 32000), -1), ((4096, 4096), -1), ((64, 1000, 64), 1),
          # scipy.special's default (every element) and an axis set that is not adjacent.
          ((1024, 1000), None), ((64, 1000, 64), (0, 2))]
DTYPES = ["float32", "float64"]
OPS = ["softmax", "log_softmax"]
# Variants timed when the loaded softmaxkit has them (last-axis
# 2-D shapes only), against the same computation written in each peer.
VARIANTS = ["masked_softmax", "softmax_topk", "cross_entropy", "logsumexp_b"]
TOPK = 8
# smk.special: softmaxkit.special, the scipy.special drop-in, beside the main API.
PEERS = ["softmaxkit", "smk.special", "numpy", "scipy", "torch", "jax", "onnxruntime"]


def shape_name(shape, axis):
    s = "x".join(map(str, shape))
    return s if axis == -1 else f"{s} axis {axis}"


# --------------------------------------------------------------------------
# Child: one thread mode, prints JSON
# --------------------------------------------------------------------------

def single_thread_env(env):
    env = dict(env)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "SOFTMAXKIT_NUM_THREADS"):
        env[k] = "1"
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    return env


def mask_for(a):
    """A fixed mask for `a`: ~3/4 of the positions take part (uint8, 1 = kept)."""
    import numpy as np
    return (np.random.default_rng(1).random(a.shape) < 0.75).astype(np.uint8)


def target_for(a):
    """Class indices for the rows of a [B, C] logits array."""
    import numpy as np
    return np.random.default_rng(2).integers(0, a.shape[1], a.shape[0]).astype(np.int64)


def first(r):
    """The array to compare: the probabilities of a (values, indices) pair."""
    import numpy as np
    return np.asarray(r[0] if isinstance(r, (tuple, list)) or type(r).__name__ == "topk" else r)


def make_peers(threads_one):
    """name -> (module info, {op: factory(np_array, axis) -> zero-arg callable returning np-convertible})."""
    import numpy as np
    peers = {}

    import softmaxkit
    smk = {op: (lambda f: lambda a, axis: (lambda: f(a, axis)))(getattr(softmaxkit, op))
           for op in OPS if hasattr(softmaxkit, op)}
    if hasattr(softmaxkit, "masked_softmax"):
        smk["masked_softmax"] = lambda a, axis: (lambda m=mask_for(a): lambda: softmaxkit.masked_softmax(a, m, axis))()
    if hasattr(softmaxkit, "softmax_topk"):
        smk["softmax_topk"] = lambda a, axis: (lambda: softmaxkit.softmax_topk(a, TOPK, axis))
    if hasattr(softmaxkit, "cross_entropy"):
        smk["cross_entropy"] = lambda a, axis: (lambda t=target_for(a): lambda: softmaxkit.cross_entropy(a, t, axis=1))()
    if hasattr(softmaxkit, "logsumexp"):
        # Weights of 1, so every peer's answer is the unweighted one the main API computes.
        smk["logsumexp_b"] = lambda a, axis: (lambda: softmaxkit.logsumexp(a, axis))
    peers["softmaxkit"] = (getattr(softmaxkit, "__version__", "") or str(softmaxkit.version()), smk)
    try:
        import softmaxkit.special as sks
        peers["smk.special"] = (peers["softmaxkit"][0], {
            "softmax": lambda a, axis: (lambda: sks.softmax(a, axis)),
            "log_softmax": lambda a, axis: (lambda: sks.log_softmax(a, axis)),
            "logsumexp_b": lambda a, axis: (lambda b=np.ones_like(a): lambda: sks.logsumexp(a, axis, b=b))()})
    except ImportError:
        pass

    def np_softmax(x, axis):
        e = np.exp(x - x.max(axis, keepdims=True))
        e /= e.sum(axis, keepdims=True)
        return e

    def np_log_softmax(x, axis):
        s = x - x.max(axis, keepdims=True)
        s -= np.log(np.exp(s).sum(axis, keepdims=True))
        return s

    def np_masked(x, m, axis):
        e = np_softmax(np.where(m, x, -np.inf), axis)
        return np.where(m, e, 0)

    def np_topk(x, axis):
        p = np_softmax(x, axis)
        i = np.argpartition(-p, TOPK - 1, axis=axis)[:, :TOPK]
        v = np.take_along_axis(p, i, axis)
        o = np.argsort(-v, axis=axis, kind="stable")
        return np.take_along_axis(v, o, axis), np.take_along_axis(i, o, axis)

    def np_lse_b(x, b, axis):
        m = x.max(axis, keepdims=True)
        return np.log((b * np.exp(x - m)).sum(axis)) + m.squeeze(axis)

    def np_xent(x, t):
        m = x.max(1, keepdims=True)
        lse = np.log(np.exp(x - m).sum(1)) + m[:, 0]
        return (lse - x[np.arange(len(t)), t]).mean()

    peers["numpy"] = (np.__version__, {
        "softmax": lambda a, axis: (lambda: np_softmax(a, axis)),
        "log_softmax": lambda a, axis: (lambda: np_log_softmax(a, axis)),
        "masked_softmax": lambda a, axis: (lambda m=mask_for(a): lambda: np_masked(a, m, axis))(),
        "softmax_topk": lambda a, axis: (lambda: np_topk(a, axis)),
        "cross_entropy": lambda a, axis: (lambda t=target_for(a): lambda: np_xent(a, t))(),
        "logsumexp_b": lambda a, axis: (lambda b=np.ones_like(a): lambda: np_lse_b(a, b, axis))()})

    try:
        import scipy
        import scipy.special as sp
        peers["scipy"] = (scipy.__version__, {
            "softmax": lambda a, axis: (lambda: sp.softmax(a, axis=axis)),
            "log_softmax": lambda a, axis: (lambda: sp.log_softmax(a, axis=axis)),
            "logsumexp_b": lambda a, axis: (lambda b=np.ones_like(a): lambda: sp.logsumexp(a, axis, b=b))()})
    except ImportError:
        pass

    try:
        import torch
        torch.set_num_threads(1 if threads_one else os.cpu_count())
        torch.set_grad_enabled(False)

        def tfac(fn):
            def factory(a, axis):
                t = torch.from_numpy(a.copy())
                return lambda: fn(t, axis)
            return factory
        def t_masked(a, axis):
            t, m = torch.from_numpy(a.copy()), torch.from_numpy(mask_for(a).astype(bool))
            nm = ~m
            return lambda: torch.softmax(t.masked_fill(nm, float("-inf")), axis).masked_fill_(nm, 0)

        def t_topk(a, axis):
            t = torch.from_numpy(a.copy())
            return lambda: torch.topk(torch.softmax(t, axis), TOPK, dim=axis)

        def t_xent(a, axis):
            t, tg = torch.from_numpy(a.copy()), torch.from_numpy(target_for(a))
            return lambda: torch.nn.functional.cross_entropy(t, tg)

        peers["torch"] = (f"{torch.__version__} ({torch.get_num_threads()} threads)", {
            "softmax": tfac(torch.softmax), "log_softmax": tfac(torch.log_softmax),
            "masked_softmax": t_masked, "softmax_topk": t_topk, "cross_entropy": t_xent})
    except ImportError:
        pass

    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        import jax.numpy as jnp

        def jfac(fn):
            jitted = {}

            def factory(a, axis):
                key = (a.shape, a.dtype.str, axis)
                if key not in jitted:
                    jitted[key] = jax.jit(lambda x: fn(x, axis=axis))
                f = jitted[key]
                d = jax.device_put(jnp.asarray(a))
                f(d).block_until_ready()
                return lambda: f(d).block_until_ready()
            return factory
        def j_masked(a, axis):
            m = jax.device_put(jnp.asarray(mask_for(a).astype(bool)))
            f = jax.jit(lambda x, m: jnp.where(m, jax.nn.softmax(x, axis=axis, where=m), 0))
            d = jax.device_put(jnp.asarray(a))
            f(d, m).block_until_ready()
            return lambda: f(d, m).block_until_ready()

        def j_topk(a, axis):
            f = jax.jit(lambda x: jax.lax.top_k(jax.nn.softmax(x, axis=axis), TOPK))
            d = jax.device_put(jnp.asarray(a))
            jax.block_until_ready(f(d))
            return lambda: jax.block_until_ready(f(d))

        def j_xent(a, axis):
            tg = jax.device_put(jnp.asarray(target_for(a)))
            f = jax.jit(lambda x, t: jnp.mean(jax.nn.logsumexp(x, axis=1) -
                                              jnp.take_along_axis(x, t[:, None], axis=1)[:, 0]))
            d = jax.device_put(jnp.asarray(a))
            f(d, tg).block_until_ready()
            return lambda: f(d, tg).block_until_ready()

        peers["jax"] = (jax.__version__, {
            "softmax": jfac(jax.nn.softmax), "log_softmax": jfac(jax.nn.log_softmax),
            "masked_softmax": j_masked, "softmax_topk": j_topk, "cross_entropy": j_xent})
    except ImportError:
        pass

    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1 if threads_one else 0
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions = {}

        def ofac(op_type):
            def factory(a, axis):
                key = (op_type, a.ndim, a.dtype.str, axis)
                if key not in sessions:
                    et = TensorProto.FLOAT if a.dtype == np.float32 else TensorProto.DOUBLE
                    dims = [f"d{i}" for i in range(a.ndim)]
                    g = helper.make_graph(
                        [helper.make_node(op_type, ["x"], ["y"], axis=axis)], "g",
                        [helper.make_tensor_value_info("x", et, dims)],
                        [helper.make_tensor_value_info("y", et, dims)])
                    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
                    m.ir_version = min(m.ir_version, 10)
                    sessions[key] = ort.InferenceSession(m.SerializeToString(), so,
                                                         providers=["CPUExecutionProvider"])
                s = sessions[key]
                feed = {"x": a}
                return lambda: s.run(None, feed)[0]
            return factory
        peers["onnxruntime"] = (ort.__version__, {"softmax": ofac("Softmax"), "log_softmax": ofac("LogSoftmax")})
    except ImportError:
        pass
    return peers


def run_child(args):
    if args.threads == "1":
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import numpy as np
    peers = make_peers(args.threads == "1")
    ops = args.ops.split(",")
    if args.ops == ",".join(OPS):  # the default: plus every variant softmaxkit has
        missing = [v for v in VARIANTS if v not in peers["softmaxkit"][1]]
        ops += [v for v in VARIANTS if v not in missing]
        print(f"  variants not in this softmaxkit (n/a): {', '.join(missing) or 'none'}", file=sys.stderr)
    rng = np.random.default_rng(0)
    results = []
    info = {"peers": {k: v[0] for k, v in peers.items()}, "cpus": sorted(os.sched_getaffinity(0)),
            "softmaxkit_lacks": [v for v in VARIANTS if v not in peers["softmaxkit"][1]]}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: d.get(k) for k in ("internal_api", "num_threads", "architecture", "version")}
                               for d in threadpool_info()]
    except ImportError:
        pass
    for shape, axis in SHAPES:
        for dt in DTYPES:
            a = (rng.standard_normal(shape) * 4).astype(dt)
            for op in ops:
                if op in VARIANTS and (axis != -1 or len(shape) != 2):
                    continue
                calls, notes = {}, {}
                ref = None
                for name in PEERS:
                    if name not in peers or op not in peers[name][1]:
                        continue
                    try:
                        f = peers[name][1][op](a, axis)
                        r = first(f())
                    except Exception as e:  # a peer lacking this dtype/axis is n/a, not a failure
                        notes[name] = f"n/a ({type(e).__name__})"
                        continue
                    if ref is None:
                        ref = r
                    tol = 1e-4 if dt == "float32" else 1e-10
                    if r.dtype != a.dtype or not np.allclose(r, ref, rtol=tol, atol=tol, equal_nan=True):
                        notes[name] = f"mismatch ({r.dtype})"
                    calls[name] = f
                times = time_interleaved(calls, args.seconds, min if args.stat == "min" else median,
                                         settle=0.0 if args.threads == "1" else SETTLE_S)
                results.append({"op": op, "shape": shape_name(shape, axis), "dtype": dt,
                                "us": times, "notes": notes})
                print(f"  {args.threads:>3} {op:<12} {shape_name(shape, axis):<18} {dt}: " +
                      " ".join(f"{k}={v:.1f}" for k, v in times.items()), file=sys.stderr, flush=True)
    print(json.dumps({"info": info, "ops": ops, "results": results}))


# All cores: each peer's sample starts after this long of its own untimed
# calls. Thread pools spin after a call (ONNX Runtime's worker burns ~40 ms of
# CPU after each run, measured), so a library timed right after another ran
# on one core: softmaxkit's 2-thread 4096x4096 float32 softmax took 8.5 ms
# after an ONNX Runtime call against 5.6 ms alone. Applications run one
# library in a loop, which is what the settled sample measures.
SETTLE_S = 0.06


def time_interleaved(calls, seconds, stat=median, settle=0.0):
    """µs per call of each callable (median, or `stat`, of samples taken
    interleaved; with `settle`, each sample after that many seconds of the
    callable's own untimed calls)."""
    if not calls:
        return {}
    pc = time.perf_counter
    reps, per_call = {}, {}
    for name, f in calls.items():  # warm up and calibrate: a sample ~ seconds / 15 / peers
        n, t0 = 0, pc()
        while True:
            f(); n += 1
            dt = pc() - t0
            if dt > 0.02 or n >= 1000:
                break
        per_call[name] = dt / n
        reps[name] = max(1, int(seconds / 15 / len(calls) / per_call[name]))
    # 15 samples, fewer (at least 5) when single calls are slower than the budget.
    sample_s = sum(reps[k] * per_call[k] for k in calls)
    samples = max(5, min(15, int(seconds / sample_s))) if sample_s > 0 else 15
    names = list(calls)
    got = {k: [] for k in names}
    for s in range(samples):
        order = names[s % len(names):] + names[:s % len(names)]
        for name in order:
            f, r = calls[name], reps[name]
            t0 = pc()
            while pc() - t0 < settle:
                f()
            t0 = pc()
            for _ in range(r):
                f()
            got[name].append((pc() - t0) / r)
    return {k: 1e6 * stat(v) for k, v in got.items()}


# --------------------------------------------------------------------------
# Per-call overhead of the binding at 1x10
# --------------------------------------------------------------------------

def overhead():
    """Per-call cost at 1x10 float32: the pieces of softmax's lean path, then
    every wrapper's whole call (and torch's softmax when importable)."""
    import ctypes
    import numpy as np
    import softmaxkit as smk
    from softmaxkit import _arrays, _lib
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 10)).astype(np.float32)
    y = np.empty_like(a)
    fn = _lib.fast("smk_softmax_f32")
    e = _arrays.entry(a.shape, -1)
    pa, py, t1 = _arrays.ptr(a), _arrays.ptr(y), ctypes.c_float(1.0)
    mask = np.arange(10) % 3 != 0
    t = np.array([3])
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    from make_models import seed_networks
    spec, weights, _ = seed_networks()["robot_arm"]
    model = smk.Model.from_weights(spec, weights)
    pieces = [
        ("softmaxkit.softmax(a) (whole call)", lambda: smk.softmax(a)),
        ("softmaxkit.softmax(a, out=y) (whole call)", lambda: smk.softmax(a, out=y)),
        ("_arrays.prepare(a, -1) (checks, extents, np.empty, pointers)", lambda: _arrays.prepare(a, -1)),
        ("np.empty(a.shape, a.dtype)", lambda: np.empty(a.shape, a.dtype)),
        ("ptr(a) (cached per address)", lambda: _arrays.ptr(a)),
        ("a.flags.c_contiguous", lambda: a.flags.c_contiguous),
        ("ctypes call, every argument ready", lambda: fn(pa, py, e[0], e[1], e[2], t1)),
        ("empty lambda (timeit floor)", lambda: None),
    ]
    wrappers = [
        ("log_softmax", lambda: smk.log_softmax(a)),
        ("logsumexp", lambda: smk.logsumexp(a)),
        ("sigmoid", lambda: smk.sigmoid(a)),
        ("masked_softmax (bool mask, one row pattern)", lambda: smk.masked_softmax(a, mask)),
        ("masked_log_softmax", lambda: smk.masked_log_softmax(a, mask)),
        ("partitioned [(8, softmax), (2, sigmoid)]", lambda: smk.partitioned(a, [(8, "softmax"), (2, "sigmoid")])),
        ("segment_softmax [0, 4, 10]", lambda: smk.segment_softmax(a, [0, 4, 10])),
        ("hierarchical_softmax (2 groups)", lambda: smk.hierarchical_softmax(a[:, :2], a, [6, 4])),
        ("ensemble_mean (2 members)", lambda: smk.ensemble_mean([a, a])),
        ("hardmax", lambda: smk.hardmax(a)),
        ("argmax", lambda: smk.argmax(a)),
        ("topk k=3", lambda: smk.topk(a, 3)),
        ("softmax_topk k=3", lambda: smk.softmax_topk(a, 3)),
        ("cross_entropy", lambda: smk.cross_entropy(a, t)),
        ("nll_loss", lambda: smk.nll_loss(a, t)),
        ("binary_cross_entropy_with_logits", lambda: smk.binary_cross_entropy_with_logits(a, y)),
        ("softmax_backward", lambda: smk.softmax_backward(a, a)),
        ("sigmoid_backward", lambda: smk.sigmoid_backward(a, a)),
        ("Model forward, robot arm batch 1", lambda: model(a)),
    ]
    try:
        import torch
        torch.set_num_threads(1)
        ta = torch.from_numpy(a.copy())
        pieces.insert(0, ("torch.softmax(t, -1) (for comparison)", lambda: torch.softmax(ta, -1)))
    except ImportError:
        pass
    for title, rows in (("piece (1x10 float32)", pieces), ("whole call at 1x10 float32", wrappers)):
        # Interleaved rounds, the minimum per row: on a shared machine other
        # processes only ever add time, and interleaving spreads what they add.
        best = [float("inf")] * len(rows)
        for _ in range(25):
            for i, (name, f) in enumerate(rows):
                best[i] = min(best[i], timeit.timeit(f, number=2000) / 2000)
        print(f"| {title} | ns per call |")
        print("| --- | ---: |")
        for (name, f), per in zip(rows, best):
            print(f"| {name} | {per * 1e9:.0f} |")
        print()


# --------------------------------------------------------------------------
# Parent: runs the thread modes, prints tables
# --------------------------------------------------------------------------

def table(results, op, dt, peers):
    present = [p for p in PEERS if any(p in r["us"] or p in r["notes"] for r in results
                                       if r["op"] == op and r["dtype"] == dt)]
    lines = ["| shape | " + " | ".join(present) + " | best other | smk / best |",
             "| --- | " + " | ".join("---:" for _ in present) + " | --- | ---: |"]
    for r in results:
        if r["op"] != op or r["dtype"] != dt:
            continue
        cells = []
        for p in present:
            if p in r["us"]:
                note = " (" + r["notes"][p] + ")" if p in r["notes"] else ""
                cells.append(f"{r['us'][p]:.1f}{note}")
            else:
                cells.append(r["notes"].get(p, "n/a"))
        others = {p: t for p, t in r["us"].items() if p not in ("softmaxkit", "smk.special") and p not in r["notes"]}
        best = min(others, key=others.get) if others else None
        if best and "softmaxkit" in r["us"]:
            ratio = f"{r['us']['softmaxkit'] / others[best]:.2f}"
        else:
            ratio = "n/a"
        lines.append(f"| {r['shape']} | " + " | ".join(cells) + f" | {best or 'n/a'} | {ratio} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Saved results and the chart (plain SVG, no plotting library)
# --------------------------------------------------------------------------

CHART_COLOURS = {"numpy": "#4c72b0", "scipy": "#55a868", "torch": "#c44e52",
                 "jax": "#8172b2", "onnxruntime": "#ccb974"}


def chart_svg(saved, op="softmax", dtype="float32", mode=None):
    """An SVG of softmaxkit against each peer by shape: for one op, dtype and
    thread mode, one bar per peer and shape of the peer's time over
    softmaxkit's (right of the 1x line: softmaxkit is faster), on a log
    scale so that 2x faster and 2x slower are the same length."""
    import math
    from xml.sax.saxutils import escape
    modes = saved["modes"]
    mode = mode or next(iter(modes))
    data = modes[mode]
    rows = [r for r in data["results"] if r["op"] == op and r["dtype"] == dtype and "softmaxkit" in r["us"]]
    peers = [p for p in PEERS[1:] if p in CHART_COLOURS and any(p in r["us"] and p not in r["notes"] for r in rows)]
    ratios = [[(r["us"][p] / r["us"]["softmaxkit"]) if p in r["us"] and p not in r["notes"] else None
               for p in peers] for r in rows]
    flat = [v for row in ratios for v in row if v]
    lo = min([0.5] + flat)
    hi = max([2.0] + flat)
    lo_e, hi_e = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    left, right, top, bar, gap = 150, 40, 56, 9, 10
    width = 760
    plot_w = width - left - right
    group_h = bar * max(1, len(peers)) + gap
    legend_h = 62
    height = top + group_h * len(rows) + 34 + legend_h

    def x_of(v):
        return left + plot_w * (math.log2(v) - lo_e) / (hi_e - lo_e)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
           f'{escape(op)} {dtype}, {escape(mode)}: how many times faster SoftmaxKit is</text>',
           f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">'
           f'peer time / SoftmaxKit time per call from Python (log scale; right of 1x: SoftmaxKit faster)</text>']
    axis_y = top + group_h * len(rows)
    for e in range(lo_e, hi_e + 1):
        v = 2.0 ** e
        x = x_of(v)
        label = f"{v:g}x"
        colour, w = ("#000", 1.5) if e == 0 else ("#ddd", 1)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="{colour}" stroke-width="{w}"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle">{label}</text>')
    x1 = x_of(1.0)
    for i, (r, row) in enumerate(zip(rows, ratios)):
        y0 = top + i * group_h
        out.append(f'<text x="{left - 8}" y="{y0 + group_h / 2:.1f}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(r["shape"])}</text>')
        for j, (p, v) in enumerate(zip(peers, row)):
            if not v:
                continue
            y = y0 + j * bar
            xv = x_of(v)
            out.append(f'<rect x="{min(x1, xv):.1f}" y="{y}" width="{abs(xv - x1):.1f}" height="{bar - 1}" '
                       f'fill="{CHART_COLOURS.get(p, "#888")}"><title>{p} {escape(r["shape"])}: '
                       f'{r["us"][p]:.1f} µs, softmaxkit {r["us"]["softmaxkit"]:.1f} µs ({v:.2f}x)</title></rect>')
    ly = axis_y + 34
    lx = left
    for p in peers:
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{CHART_COLOURS.get(p, "#888")}"/>')
        out.append(f'<text x="{lx + 16}" y="{ly}">{p}</text>')
        lx += 28 + 8 * len(p)
    # When and under what load: a chart without its conditions invites misreading.
    header = saved.get("header", "").splitlines()
    dates = [line.split(", ")[-1] for line in header if line.startswith("python ")]
    loads = [line.split(": ")[1].split()[0] for line in header if line.startswith("load average at start")]
    if dates:
        note = dates[0] if len(dates) == 1 else f"fastest of {len(dates)} runs: " + ", ".join(dates)
        if loads:
            note += ", load average at start " + " and ".join(loads)
        versions = ", ".join(f"{p} {data['info']['peers'].get(p, '')}" for p in peers)
        for dy, line in ((22, note), (36, versions)):
            out.append(f'<text x="{width - 8}" y="{ly + dy}" text-anchor="end" fill="#555" font-size="10">'
                       f'{escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def merge_runs(runs):
    """One saved result from several runs of the same build: each peer's time
    per entry is its fastest over the runs. Only the minimum merges this way
    (a median of medians is not a median), so it is meant for --stat min runs
    on a shared machine, where other processes only ever add time."""
    if len(runs) == 1:
        return runs[0]
    merged = json.loads(json.dumps(runs[0]))
    merged["header"] = "\n\n".join(r.get("header", "") for r in runs) + \
        f"\n\n{len(runs)} runs merged: each entry is the fastest of the runs"
    for label, data in merged["modes"].items():
        index = {(r["op"], r["shape"], r["dtype"]): r for r in data["results"]}
        for other in runs[1:]:
            for r in other["modes"].get(label, {}).get("results", []):
                mine = index.get((r["op"], r["shape"], r["dtype"]))
                if mine is None:
                    continue
                for peer, t in r["us"].items():
                    if peer in mine["us"] and peer not in r["notes"]:
                        mine["us"][peer] = min(mine["us"][peer], t)
    return merged

def print_tables(saved):
    for label, data in saved["modes"].items():
        print(f"\n## {label}\n")
        print("peers: " + ", ".join(f"{k} {v}" for k, v in data["info"]["peers"].items()))
        print("variants softmaxkit lacks (n/a, not timed): " + (", ".join(data["info"]["softmaxkit_lacks"]) or "none"))
        for tp in data["info"].get("threadpools", []):
            print(f"threadpool: {tp}")
        for op in data["ops"]:
            for dt in DTYPES:
                print(f"\n### {op} {dt}, µs per call ({label})\n")
                print(table(data["results"], op, dt, data["info"]["peers"]))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=0.4, help="time budget per (op, shape, dtype) group")
    ap.add_argument("--threads", choices=["1", "all", "both"], default="both")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="per-call statistic over the samples; min on a loaded shared machine "
                         "(other processes only ever add time)")
    ap.add_argument("--overhead", action="store_true", help="only the per-call overhead breakdown at 1x10")
    ap.add_argument("--json", metavar="PATH", help="also save the results (every thread mode) as JSON")
    ap.add_argument("--svg", metavar="PATH", help="also draw the chart of softmaxkit against each peer by shape")
    ap.add_argument("--from-json", metavar="PATH", action="append",
                    help="measure nothing: print the tables of saved results (and draw --svg from them); "
                         "repeat it to merge runs of the same build: each entry is the fastest of the runs, "
                         "which is the --stat min statistic over all their samples")
    ap.add_argument("--chart", default="softmax,float32", metavar="OP,DTYPE",
                    help="the op and dtype the chart shows (default softmax,float32; 1 thread when measured)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.overhead:
        return overhead()
    if args.child:
        return run_child(args)
    chart_op, chart_dt = args.chart.split(",")
    if args.from_json:
        runs = []
        for path in args.from_json:
            with open(path) as f:
                runs.append(json.load(f))
        saved = merge_runs(runs)
        print(saved.get("header", ""))
        print_tables(saved)
        if args.svg:
            with open(args.svg, "w") as f:
                f.write(chart_svg(saved, chart_op, chart_dt))
        return
    modes = ["1", "all"] if args.threads == "both" else [args.threads]
    header = (f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
              f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}\n"
              f"load average at start: {open('/proc/loadavg').read().strip()}; statistic: {args.stat} of interleaved samples")
    print(header)
    saved = {"header": header, "modes": {}}
    for mode in modes:
        env = single_thread_env(os.environ) if mode == "1" else dict(os.environ)
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", mode,
               "--seconds", str(args.seconds), "--ops", args.ops, "--stat", args.stat]
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
        data = json.loads(out.strip().splitlines()[-1])
        label = "1 thread" if mode == "1" else f"all cores ({os.cpu_count()})"
        saved["modes"][label] = data
        print_tables({"modes": {label: data}})
    saved["load_average_at_end"] = open('/proc/loadavg').read().strip()
    print(f"\nload average at end: {saved['load_average_at_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(saved, f, indent=1)
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(chart_svg(saved, chart_op, chart_dt))

if __name__ == "__main__":
    main()
