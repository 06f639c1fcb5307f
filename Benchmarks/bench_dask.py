#!/usr/bin/env python3
"""softmaxkit.dask against Dask's own expression of the same math, on a
LocalCluster of 1 and 2 worker processes, reading float32 logits from .npy
stores on disk (or, with --store zarr, Zarr arrays chunked as the Dask
arrays, zarr's default compressor; zarr comes from PyPI and is needed only
here):

  softmax_topk over a 256k class axis split into chunks (rows x classes);
  cross_entropy over a batch split into chunks.

For each: wall time of the compute, the graph's task count, and the bytes
read from the store (counted by the store's reader in every worker, so a
block read twice counts twice; for Zarr the decoded bytes, the compressed
size on disk is printed with the store).

    PYTHONPATH=bindings/python python3 Benchmarks/bench_dask.py [--dir /tmp/smk-dask] [--topk-gib 8] [--ce-gib 4]
        [--store npy|zarr]

The stores are sized in GiB (the row count follows); pick sizes larger than
the page cache can keep to measure reads from disk. They are deleted at the
end unless --keep.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np


class Store:
    """A read-only .npy file for da.from_array that logs every read's byte
    count to a side file (appends of one line are atomic), so reads made in
    any worker process are counted."""

    def __init__(self, path: str, log: str):
        self.path, self.log = path, log
        mm = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = mm.shape, mm.dtype, mm.ndim

    def __getitem__(self, idx):
        block = np.array(np.load(self.path, mmap_mode="r")[idx])
        with open(self.log, "a") as f:
            f.write(f"{block.nbytes}\n")
        return block


class ZarrStore(Store):
    """Store's counting reader over a Zarr array."""

    def __init__(self, path: str, log: str):
        import zarr
        self.path, self.log = path, log
        z = zarr.open_array(path, mode="r")
        self.shape, self.dtype, self.ndim = z.shape, z.dtype, z.ndim

    def __getitem__(self, idx):
        import zarr
        block = np.asarray(zarr.open_array(self.path, mode="r")[idx])
        with open(self.log, "a") as f:
            f.write(f"{block.nbytes}\n")
        return block


def disk_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def read_bytes(log: str) -> int:
    if not os.path.exists(log):
        return 0
    with open(log) as f:
        return sum(int(line) for line in f if line.strip())


def make(path: str, shape: tuple, seed: int, chunks: tuple | None = None) -> None:
    """Writes the logits as .npy, or as a Zarr array of `chunks` when given."""
    if os.path.exists(path):
        return
    if chunks is not None:
        import zarr
        z = zarr.open_array(path, mode="w", shape=shape, chunks=chunks, dtype="float32")
        rng = np.random.default_rng(seed)
        step = chunks[0] * max(1, (64 << 20) // (chunks[0] * shape[1] * 4))
        for r in range(0, shape[0], step):
            z[r:r + step] = rng.standard_normal((min(step, shape[0] - r), shape[1]), dtype=np.float32) * 4
        return
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(seed)
    step = max(1, (64 << 20) // (shape[1] * 4))
    for r in range(0, shape[0], step):
        block = rng.standard_normal((min(step, shape[0] - r), shape[1]), dtype=np.float32)
        block *= 4
        mm[r:r + step] = block
    mm.flush()
    del mm


def dask_softmax_topk(x, k):
    import dask.array as da
    m = x.max(axis=1, keepdims=True)
    e = da.exp(x - m)
    p = e / e.sum(axis=1, keepdims=True)
    return da.topk(p, k, axis=1), da.argtopk(p, k, axis=1)


def dask_cross_entropy(x, t):
    import dask.array as da
    m = x.max(axis=1, keepdims=True)
    lse = da.log(da.exp(x - m).sum(axis=1)) + m[:, 0]
    picked = da.blockwise(lambda xb, tb: np.take_along_axis(xb, tb[:, None], 1)[:, 0], "i", x, "ij", t, "i",
                          concatenate=True, dtype=x.dtype)
    return (lse - picked).mean()


def run(client, label, build, log):
    import dask
    if os.path.exists(log):
        os.remove(log)
    out = build()
    graph = dask.base.collections_to_expr(out).__dask_graph__() if hasattr(dask.base, "collections_to_expr") else None
    tasks = len(dict(graph)) if graph is not None else sum(len(o.__dask_graph__()) for o in out)
    t0 = time.perf_counter()
    res = dask.compute(*out)
    dt = time.perf_counter() - t0
    return label, dt, tasks, read_bytes(log), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "smk-dask-bench"))
    ap.add_argument("--topk-gib", type=float, default=8.0, help="size of the softmax_topk store")
    ap.add_argument("--ce-gib", type=float, default=4.0, help="size of the cross_entropy store")
    ap.add_argument("--classes", type=int, default=256 * 1024)
    ap.add_argument("--class-chunk", type=int, default=32 * 1024)
    ap.add_argument("--row-chunk", type=int, default=256)
    ap.add_argument("--ce-classes", type=int, default=64)
    ap.add_argument("--batch-chunk", type=int, default=1 << 20)
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--store", choices=("npy", "zarr"), default="npy", help="the on-disk format of the logits")
    args = ap.parse_args()

    args.rows = max(1, int(args.topk_gib * 2**30) // (args.classes * 4))
    args.batch = max(1, int(args.ce_gib * 2**30) // (args.ce_classes * 4))
    os.makedirs(args.dir, exist_ok=True)
    ext = ".zarr" if args.store == "zarr" else ".npy"
    big = os.path.join(args.dir, f"logits_{args.rows}x{args.classes}{ext}")
    ce = os.path.join(args.dir, f"ce_{args.batch}x{args.ce_classes}{ext}")
    target = np.random.default_rng(3).integers(0, args.ce_classes, args.batch)
    try:
        zarr_chunks = args.store == "zarr"
        make(big, (args.rows, args.classes), 1, (args.row_chunk, args.class_chunk) if zarr_chunks else None)
        make(ce, (args.batch, args.ce_classes), 2, (args.batch_chunk, args.ce_classes) if zarr_chunks else None)
        bench(args, big, ce, target)
    finally:
        if not args.keep:
            for f in (big, ce, os.path.join(args.dir, "reads.log")):
                if os.path.isdir(f):
                    shutil.rmtree(f)
                elif os.path.exists(f):
                    os.remove(f)


def bench(args, big, ce, target) -> None:
    import dask.array as da
    from distributed import Client, LocalCluster

    import softmaxkit as sk
    import softmaxkit.dask as skd

    log = os.path.join(args.dir, "reads.log")
    reader = ZarrStore if args.store == "zarr" else Store
    print(f"softmax_topk store: {big} ({disk_size(big) / 2**20:.0f} MiB on disk), "
          f"chunks ({args.row_chunk}, {args.class_chunk})")
    print(f"cross_entropy store: {ce} ({disk_size(ce) / 2**20:.0f} MiB on disk), "
          f"chunks ({args.batch_chunk}, {args.ce_classes})")

    for w in [int(v) for v in args.workers.split(",")]:
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            sk.set_num_threads(1)
            client.run(sk.set_num_threads, 1)

            def xb():
                return da.from_array(reader(big, log), chunks=(args.row_chunk, args.class_chunk))

            def xc():
                return da.from_array(reader(ce, log), chunks=(args.batch_chunk, args.ce_classes))

            tch = da.from_array(target, chunks=args.batch_chunk)
            rows = [
                run(client, "softmax_topk  softmaxkit.dask", lambda: skd.softmax_topk(xb(), args.k, -1), log),
                run(client, "softmax_topk  dask expression", lambda: dask_softmax_topk(xb(), args.k), log),
                run(client, "cross_entropy softmaxkit.dask", lambda: (skd.cross_entropy(xc(), tch),), log),
                run(client, "cross_entropy dask expression", lambda: (dask_cross_entropy(xc(), tch),), log),
            ]
            for label, dt, tasks, nbytes, _ in rows:
                print(f"workers={w}  {label}: {dt:7.3f} s  tasks {tasks:5d}  read {nbytes / 2**30:6.2f} GiB", flush=True)
            p0, i0 = rows[0][4]
            p1, i1 = rows[1][4]
            np.testing.assert_allclose(p0, p1, rtol=1e-5)
            # Ranks may swap where two logits give the same float32 probability in
            # Dask's expression (it ranks probabilities; the library ranks logits).
            swapped = i0 != i1
            if swapped.any():
                np.testing.assert_allclose(p0[swapped], p1[swapped], rtol=1e-6)
                print(f"workers={w}  {int(swapped.sum())} of {i0.size} ranks hold other indices of equal "
                      f"float32 probability in the two results", flush=True)
            np.testing.assert_allclose(rows[2][4][0], rows[3][4][0], rtol=1e-5)


if __name__ == "__main__":
    main()
