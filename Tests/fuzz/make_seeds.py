#!/usr/bin/env python3
"""Writes the seed corpus of Tests/fuzz/fuzz_abi.c into Tests/fuzz/corpus/fuzz_abi/.

Each seed is one or two calls in the harness's byte language (see
take_extents, take_temperature, make_input and run_unary there): every
kernel with every pointer mode, SIMD-width rows, strided layouts, edge
extents, special temperatures and special values. Rerun after changing the
language; libFuzzer then grows the corpus from these (make fuzz, fuzz-merge).
"""
import hashlib
import os
import struct

KERNELS = 10             # rows of KERNELS[] in fuzz_abi.c
LOGSUMEXP = (4, 5)
ELEMENTWISE = (6, 7, 8, 9)
POINTER_MODES = range(12)  # separate x5, in place x2, y=x+k, x=y+k, x NULL, y NULL, both NULL


def values(n_from_bytes, seed, fill, vals=()):
    out = bytes([n_from_bytes % 256, seed % 256, fill])
    for cls, payload in vals:
        out += bytes([cls]) + payload
    return out


def call(kernel, extents, temperature=b"", mode=0, data=b"", tail=b""):
    """kernel byte, extents, temperature (normalizers only), pointer mode,
    input values, then the partial-overlap shift (modes 7 and 8)."""
    body = bytes([kernel]) + extents
    if kernel not in LOGSUMEXP and kernel not in ELEMENTWISE:
        body += temperature
    return body + bytes([mode]) + data + tail


def seeds():
    small = lambda outer, n: bytes([0, outer, n])                 # mode 0: (outer, n, 1)
    strided = lambda outer, n, inner: bytes([4, outer, n, inner])  # mode 4
    edge = lambda a, b, c: bytes([7, a, b, c])                     # mode 7: EDGE_EXTENTS indices
    t_one = bytes([0])
    t_table = lambda i: bytes([100, i])
    special = [(150, bytes([i])) for i in range(32)]               # SPECIAL_VALUES
    for k in range(KERNELS):
        if k in ELEMENTWISE:
            for count in (0, 1, 15, 16, 17, 33, 65, 257):
                for mode in POINTER_MODES:
                    # how byte 0: a u16 count; then the pointer mode and the values
                    yield bytes([k, 0]) + struct.pack("<H", count) + bytes([mode]) + values(32, count, 1, special) + b"\x05\x00"
            yield bytes([k, 6, 7, 0])      # count INT64_MAX, refused
            yield bytes([k, 6, 4, 3])      # count -1 (EDGE 4), refused
            yield bytes([k, 6, 18, 1])     # count 2^19, x NULL
            continue
        for n in (0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70):
            yield call(k, small(3, n), t_one, 0, values(min(3 * n, 255), n, 0, [(1, bytes([(128 + 7 * j) % 256])) for j in range(3 * n)]))
        for mode in POINTER_MODES:
            yield call(k, small(4, 37), t_table(1), mode, values(10, 5, 2, special[:10]), b"\x09\x00")
        for fill in range(4):
            yield call(k, strided(3, 65, 17), t_table(3), 0, values(0, 11, fill))
            yield call(k, bytes([6, 1, 70, 9]), t_one, fill % 2 * 5, values(0, 3, fill))  # > 64 rows strided
            yield call(k, bytes([5, 1]) + struct.pack("<H", 4100) + bytes([1]), t_one, 0, values(0, 7, fill))
        for a, b, c in ((7, 1, 1), (4, 1, 1), (6, 6, 6), (12, 12, 0), (13, 0, 13), (9, 1, 1), (8, 1, 1),
                        (16, 1, 1), (7, 0, 0), (0, 7, 0), (14, 1, 14), (18, 2, 1), (10, 1, 10)):
            for mode in (0, 1, 2, 3, 9, 10, 11):
                yield call(k, edge(a, b, c), t_one, mode)
        yield call(k, bytes([9]) + bytes(range(24)), t_one, 0)
        if k not in LOGSUMEXP:
            for i in range(21):  # every TEMPERATURES entry
                yield call(k, small(2, 20), t_table(i), 0, values(40, i, 0, special[:20] * 2))
            yield call(k, small(1, 40), bytes([230, 150, 5]), 0, values(0, 1, 3))  # temperature from a value: inf
    # two calls in one input: a failing call, then a good one on this thread
    yield call(0, small(1, 8), t_table(6), 0, values(0, 1, 0)) + call(1, small(2, 9), t_one, 0, values(0, 2, 0))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_abi")
    os.makedirs(out, exist_ok=True)
    n = 0
    for s in seeds():
        name = "seed-" + hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(out, name), "wb") as f:
            f.write(s)
        n += 1
    print(f"wrote {n} seeds to {out}")


if __name__ == "__main__":
    main()
