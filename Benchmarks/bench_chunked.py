#!/usr/bin/env python3
"""The chunked normalizer's kernels against the in-memory softmax on the same
bytes: a float32 array of rows x classes, its class axis split into chunks;
the chunked route runs smk_softmax_state_f32 on every chunk, one
smk_softmax_state_merge per row block, then smk_softmax_finish_f32 (or the
log-softmax finish) on every chunk: two reads of x, one write of y, as a
Dask graph does it. The masked rows do the same with
smk_masked_softmax_state_f32 / smk_masked_(log_)softmax_finish_f32 and a
full-shape mask against smk_masked_(log_)softmax_f32; the cross-entropy row
runs the states, the merge and smk_cross_entropy_chunk_f32 (label smoothing
0.1, so every class is read) against smk_cross_entropy_f32 (reduction none). Single-threaded (SOFTMAXKIT_NUM_THREADS=1), best of
--repeat. Pass --baseline LIB to time another build of the library's chunked
kernels beside this one.

    python3 Benchmarks/bench_chunked.py [--lib .build/release/libsoftmaxkit.so] [--baseline OLD.so]
"""
from __future__ import annotations

import argparse
import ctypes as C
import os
import time

import numpy as np

os.environ.setdefault("SOFTMAXKIT_NUM_THREADS", "1")

P, I64, F32, F64 = C.c_void_p, C.c_int64, C.c_float, C.c_double
REDUCTION_NONE = 0


class LossOptions(C.Structure):
    _fields_ = [("size", C.c_uint64), ("ignore_index", C.c_int64), ("label_smoothing", C.c_double),
                ("reduction", C.c_int32)]


def bind(path: str):
    lib = C.CDLL(path)
    for name, args in [("smk_softmax_f32", [P, P, I64, I64, I64, F32]),
                       ("smk_log_softmax_f32", [P, P, I64, I64, I64, F32]),
                       ("smk_softmax_state_f32", [P, P, P, I64, I64, I64, F32]),
                       ("smk_softmax_state_merge", [P, P, P, P, I64, I64, F64]),
                       ("smk_softmax_finish_f32", [P, P, P, P, I64, I64, I64, F32]),
                       ("smk_log_softmax_finish_f32", [P, P, P, P, I64, I64, I64, F32]),
                       ("smk_masked_softmax_f32", [P, P, P, I64, I64, I64, I64, C.c_int]),
                       ("smk_masked_log_softmax_f32", [P, P, P, I64, I64, I64, I64]),
                       ("smk_masked_softmax_state_f32", [P, P, P, P, I64, I64, I64, I64]),
                       ("smk_masked_softmax_finish_f32", [P, P, P, P, P, I64, I64, I64, I64]),
                       ("smk_masked_log_softmax_finish_f32", [P, P, P, P, P, I64, I64, I64, I64]),
                       ("smk_cross_entropy_chunk_f32", [P, P, P, P, P, P, P, I64, I64, I64, I64, I64, I64, F64])]:
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = C.c_int
    if hasattr(lib, "smk_set_num_threads"):
        lib.smk_set_num_threads(1)
    return lib


def best(fn, repeat: int) -> float:
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def chunked(lib, chunks, y_chunks, parts, rows, log):
    ms = np.empty((parts, rows)), np.empty((parts, rows))
    for p, c in enumerate(chunks):
        assert lib.smk_softmax_state_f32(c.ctypes.data, ms[0][p].ctypes.data, ms[1][p].ctypes.data,
                                         rows, c.shape[1], 1, 1.0) == 0
    m, s = np.empty(rows), np.empty(rows)
    assert lib.smk_softmax_state_merge(ms[0].ctypes.data, ms[1].ctypes.data, m.ctypes.data, s.ctypes.data,
                                       parts, rows, 1.0) == 0
    fin = lib.smk_log_softmax_finish_f32 if log else lib.smk_softmax_finish_f32
    for c, y in zip(chunks, y_chunks):
        assert fin(c.ctypes.data, m.ctypes.data, s.ctypes.data, y.ctypes.data, rows, c.shape[1], 1, 1.0) == 0


def masked_chunked(lib, chunks, masks, y_chunks, parts, rows, log):
    ms = np.empty((parts, rows)), np.empty((parts, rows))
    for p, (c, k) in enumerate(zip(chunks, masks)):
        assert lib.smk_masked_softmax_state_f32(c.ctypes.data, k.ctypes.data, ms[0][p].ctypes.data,
                                                ms[1][p].ctypes.data, rows, c.shape[1], 1, k.size) == 0
    m, s = np.empty(rows), np.empty(rows)
    assert lib.smk_softmax_state_merge(ms[0].ctypes.data, ms[1].ctypes.data, m.ctypes.data, s.ctypes.data,
                                       parts, rows, 1.0) == 0
    fin = lib.smk_masked_log_softmax_finish_f32 if log else lib.smk_masked_softmax_finish_f32
    for c, k, y in zip(chunks, masks, y_chunks):
        assert fin(c.ctypes.data, k.ctypes.data, m.ctypes.data, s.ctypes.data, y.ctypes.data,
                   rows, c.shape[1], 1, k.size) == 0


def ce_chunked(lib, chunks, target, parts, rows, classes):
    ms = np.empty((parts, rows)), np.empty((parts, rows))
    for p, c in enumerate(chunks):
        assert lib.smk_softmax_state_f32(c.ctypes.data, ms[0][p].ctypes.data, ms[1][p].ctypes.data,
                                         rows, c.shape[1], 1, 1.0) == 0
    m, s = np.empty(rows), np.empty(rows)
    assert lib.smk_softmax_state_merge(ms[0].ctypes.data, ms[1].ctypes.data, m.ctypes.data, s.ctypes.data,
                                       parts, rows, 1.0) == 0
    loss, part, tw = np.zeros(rows), np.empty(rows), np.empty(rows)
    off = 0
    for c in chunks:
        assert lib.smk_cross_entropy_chunk_f32(c.ctypes.data, m.ctypes.data, s.ctypes.data, target.ctypes.data,
                                               None, part.ctypes.data, tw.ctypes.data, rows, c.shape[1], 1,
                                               off, classes, -100, 0.1) == 0
        loss += part
        off += c.shape[1]
    return loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--lib", default=os.path.join(root, ".build", "release", "libsoftmaxkit.so"))
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--classes", type=int, default=256 * 1024)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    x = (np.random.default_rng(0).standard_normal((a.rows, a.classes)) * 4).astype(np.float32)
    cut = a.classes // a.parts
    chunks = [np.ascontiguousarray(x[:, p * cut:(p + 1) * cut]) for p in range(a.parts)]
    ys = [np.empty_like(c) for c in chunks]
    mask = (np.random.default_rng(1).random((a.rows, a.classes)) > 0.3).astype(np.uint8)
    mchunks = [np.ascontiguousarray(mask[:, p * cut:(p + 1) * cut]) for p in range(a.parts)]
    target = np.random.default_rng(2).integers(0, a.classes, a.rows).astype(np.int64)
    y = np.empty_like(x)
    mib = x.nbytes / 2**20
    print(f"float32 {a.rows} x {a.classes} ({mib:.0f} MiB), class axis in {a.parts} chunks, one thread, best of {a.repeat}")
    libs = [("this build", bind(a.lib))] + ([("baseline", bind(a.baseline))] if a.baseline else [])
    for label, lib in libs:
        for log in (False, True):
            name = "log_softmax" if log else "softmax"
            whole = lib.smk_log_softmax_f32 if log else lib.smk_softmax_f32
            tw = best(lambda: whole(x.ctypes.data, y.ctypes.data, a.rows, a.classes, 1, 1.0), a.repeat)
            tc = best(lambda: chunked(lib, chunks, ys, a.parts, a.rows, log), a.repeat)
            print(f"{label:10s} {name:11s}  in-memory {tw * 1e3:7.2f} ms ({mib / 1024 / tw:5.2f} GiB/s)   "
                  f"chunked {tc * 1e3:7.2f} ms ({mib / 1024 / tc:5.2f} GiB/s)   chunked/in-memory {tc / tw:5.2f}")
        for log in (False, True):
            name = "masked_log" if log else "masked"
            if log:
                whole = lambda: lib.smk_masked_log_softmax_f32(x.ctypes.data, mask.ctypes.data, y.ctypes.data,
                                                               a.rows, a.classes, 1, mask.size)
            else:
                whole = lambda: lib.smk_masked_softmax_f32(x.ctypes.data, mask.ctypes.data, y.ctypes.data,
                                                           a.rows, a.classes, 1, mask.size, 1)
            tw = best(whole, a.repeat)
            tc = best(lambda: masked_chunked(lib, chunks, mchunks, ys, a.parts, a.rows, log), a.repeat)
            print(f"{label:10s} {name:11s}  in-memory {tw * 1e3:7.2f} ms ({mib / 1024 / tw:5.2f} GiB/s)   "
                  f"chunked {tc * 1e3:7.2f} ms ({mib / 1024 / tc:5.2f} GiB/s)   chunked/in-memory {tc / tw:5.2f}")
        opts = LossOptions()
        lib.smk_loss_options_init(C.byref(opts))
        opts.label_smoothing, opts.reduction = 0.1, REDUCTION_NONE
        ce = lib.smk_cross_entropy_f32
        ce.argtypes = [P, P, P, P, P, I64, I64, I64, C.POINTER(LossOptions)]
        ce.restype = C.c_int
        out = np.empty(a.rows, np.float32)

        def whole_ce():
            assert ce(x.ctypes.data, target.ctypes.data, None, out.ctypes.data, None, a.rows, a.classes, 1,
                      C.byref(opts)) == 0
        tw = best(whole_ce, a.repeat)
        np.testing.assert_allclose(ce_chunked(lib, chunks, target, a.parts, a.rows, a.classes), out, rtol=1e-4)
        tc = best(lambda: ce_chunked(lib, chunks, target, a.parts, a.rows, a.classes), a.repeat)
        print(f"{label:10s} {'cross_ent':11s}  in-memory {tw * 1e3:7.2f} ms ({mib / 1024 / tw:5.2f} GiB/s)   "
              f"chunked {tc * 1e3:7.2f} ms ({mib / 1024 / tc:5.2f} GiB/s)   chunked/in-memory {tc / tw:5.2f}")


if __name__ == "__main__":
    main()
