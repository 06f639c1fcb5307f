#!/usr/bin/env python3
"""Writes the seed corpus of Tests/fuzz/fuzz_abi.c into Tests/fuzz/corpus/fuzz_abi/.

Each seed is one or two calls in the harness's byte language (see
take_extents, take_temperature, make_input and run_unary there): every
kernel with every pointer mode, SIMD-width rows, strided layouts, edge
extents, special temperatures and special values. The variant, selection,
loss and backward rows (run_masked ... run_backward, fuzz_args calls) get a
valid call of each shape and one seed per error class. Rerun after changing
the language; libFuzzer then grows the corpus from these (make fuzz,
fuzz-merge).
"""
import hashlib
import os
import struct

KERNELS = 10             # rows of KERNELS[] in fuzz_abi.c driven by run_unary
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


# ---- the fuzz_args families: row = FIRST_VARIANT + 2 * family + f64 ----------
FIRST_VARIANT = 10
FAMILIES = ["masked_softmax", "masked_log_softmax", "partitioned", "segment_softmax", "hierarchical_softmax",
            "ensemble_mean", "hardmax", "argmax", "topk", "softmax_topk", "cross_entropy", "cross_entropy_probs",
            "nll_loss", "binary_cross_entropy_with_logits", "softmax_backward", "log_softmax_backward",
            "sigmoid_backward"]
PRESENT, NULL, ABSENT = 200, 0, 0   # buf_place bytes: allocated, NULL (required), absent (optional)
NO_ALIAS = bytes([0])
EXACT = lambda pair=0: bytes([5, pair])                  # buf_alias: same start
PARTIAL = lambda pair=0, shift=1: bytes([7, pair, 1]) + struct.pack("<H", shift - 1)
FILL = values(0, 3, 0)                                   # a pattern, no explicit values
SPECIAL_FILL = values(0, 5, 1)                           # the special values in turn
NEG_INF_FILL = values(0, 7, 2)                           # -inf every 17th element


def row(family, f64):
    return bytes([FIRST_VARIANT + 2 * FAMILIES.index(family) + f64])


def small(outer, n):
    return bytes([0, outer, n])


def strided(outer, n, inner):
    return bytes([4, outer, n, inner])


def edge(a, b, c):
    return bytes([7, a, b, c])


def enum(v):
    """take_enum: valid values directly, anything else through the escape."""
    if 0 <= v < 3:
        return bytes([v])
    return bytes([240, v & 0x7F])  # an int8 in -128..127 (here positive: 3..127)


def variant_seeds():
    for f64 in (0, 1):
        for fam in ("masked_softmax", "masked_log_softmax"):
            soft = fam == "masked_softmax"
            flag = enum(1) if soft else b""
            for ext in (small(3, 17), small(2, 70), strided(2, 33, 5)):
                for how in (0, 3):                      # full mask, n-long pattern
                    for mask in (bytes([0, 1, 0]), bytes([1, 0, 0]), bytes([2, 9, 100])):  # all, none, some
                        for vals in (FILL, SPECIAL_FILL):
                            yield row(fam, f64) + ext + bytes([how]) + flag + bytes([PRESENT] * 3) + vals + mask + NO_ALIAS
            if soft:  # renormalize = 0: softmax over every position, then the mask
                yield row(fam, f64) + small(3, 40) + bytes([3]) + enum(0) + bytes([PRESENT] * 3) + FILL + bytes([2, 9, 100]) + NO_ALIAS
                yield row(fam, f64) + small(3, 40) + bytes([3]) + enum(5) + bytes([PRESENT] * 3) + FILL + bytes([2, 9, 100]) + NO_ALIAS
            base = row(fam, f64) + small(3, 20)
            yield base + bytes([6, 1, 0]) + flag + bytes([PRESENT] * 3) + FILL + bytes([0, 1, 0]) + NO_ALIAS  # mask_count wrong
            yield base + bytes([7, 4]) + flag + bytes([PRESENT] * 3) + FILL + NO_ALIAS                          # mask_count -1
            yield base + bytes([0]) + flag + bytes([PRESENT, NULL, PRESENT]) + FILL + NO_ALIAS                # mask NULL
            yield base + bytes([0]) + flag + bytes([NULL, PRESENT, PRESENT]) + bytes([0, 1, 0]) + NO_ALIAS    # x NULL
            yield base + bytes([0]) + flag + bytes([PRESENT] * 3) + FILL + bytes([2, 9, 100]) + EXACT()        # in place
            yield base + bytes([0]) + flag + bytes([PRESENT] * 3) + FILL + bytes([2, 9, 100]) + PARTIAL(0, 5)  # partial
            yield row(fam, f64) + edge(4, 1, 1) + bytes([0]) + flag + bytes([PRESENT] * 3) + NO_ALIAS          # negative extent

        # partitioned: layouts of (width byte, activation) pairs, then the
        # "last width = the rest of n" byte (< 160 applies it)
        def part(ext, segs, fix=200, bufs=(PRESENT,) * 3, vals=FILL, alias=NO_ALIAS, how=0):
            lc = bytes([len(segs) - 1])  # how < 5: 1 + byte % 6 segments
            return (row("partitioned", f64) + ext + bytes([how]) + lc + bytes(bufs) + vals
                    + bytes([1]) + b"".join(bytes([w]) + enum(act) for w, act in segs) + bytes([fix]) + alias)

        for vals in (FILL, SPECIAL_FILL, NEG_INF_FILL):
            yield part(small(3, 20), [(4, 1), (3, 0), (5, 3), (8, 4)], fix=0, vals=vals)           # the rest goes to the last
            yield part(strided(2, 20, 3), [(4, 2), (0, 1), (8, 1), (8, 3)], fix=0, vals=vals)
        yield part(small(2, 6), [(6, 1)], fix=0)                                                  # one segment = dense softmax
        yield part(small(2, 20), [(4, 1), (3, 0)])                                                # widths sum to 7 != 20
        yield part(small(2, 20), [(4, 1), (3, 9)], fix=0)                                         # activation 9
        yield part(small(2, 20), [(4, 1), (212, 1)], fix=200)                                     # width edge value -1
        yield part(small(2, 20), [(4, 1), (6, 2)], fix=0, bufs=(PRESENT, NULL, PRESENT))          # layout NULL
        yield part(small(2, 20), [(4, 1), (6, 2)], fix=0, alias=EXACT())
        yield part(small(2, 20), [(4, 1), (6, 2)], fix=0, alias=PARTIAL(0, 3))
        # many segments (how 6: 8 + byte segments), widths from the pattern past 40
        yield (row("partitioned", f64) + small(2, 79) + bytes([6, 50]) + bytes([PRESENT] * 3) + FILL
               + bytes([1]) + b"".join(bytes([j % 3, j % 5]) for j in range(40)) + bytes([0]) + NO_ALIAS)
        yield row("partitioned", f64) + small(2, 0) + bytes([5]) + bytes([PRESENT] * 3) + NO_ALIAS  # no segments, n = 0

        # segment softmax: offsets from steps, then one fault
        def seg(ext, steps, fault=0, extra=b"", bufs=(PRESENT,) * 3, alias=NO_ALIAS, vals=FILL):
            oc = len(steps) + 1
            return (row("segment_softmax", f64) + ext + bytes([0, oc - 1]) + bytes(bufs) + vals
                    + bytes([1, fault]) + bytes(steps) + extra + alias)

        for vals in (FILL, SPECIAL_FILL, NEG_INF_FILL):
            yield seg(small(3, 20), [3, 0, 5, 2], vals=vals)                  # an empty group
            yield seg(strided(2, 30, 4), [4, 4, 0, 1, 5, 3], vals=vals)
        yield seg(small(3, 20), [])                                            # one offset: n must be 0
        yield seg(small(3, 0), [])
        yield seg(small(3, 20), [3, 5], fault=10, extra=bytes([1]))            # starts at 1
        yield seg(small(3, 20), [3, 5], fault=11, extra=bytes([1]))            # ends past n
        yield seg(small(3, 20), [3, 5], fault=9, extra=bytes([1, 0]))          # decreasing
        yield seg(small(3, 20), [3, 5], fault=8, extra=bytes([2, 7]))          # INT64_MAX inside
        yield seg(small(3, 20), [3, 5], bufs=(PRESENT, NULL, PRESENT))         # offsets NULL
        yield row("segment_softmax", f64) + small(3, 20) + bytes([5]) + bytes([PRESENT] * 3) + FILL + NO_ALIAS  # offset_count 0
        yield seg(small(3, 20), [3, 5], alias=EXACT())
        yield seg(small(3, 20), [3, 5], alias=PARTIAL(0, 7))

        # hierarchical: (batch, groups), sizes, fine_width, conditional
        def hier(batch, sizes, fw=bytes([0]), cond=0, bufs=(PRESENT,) * 3, alias=NO_ALIAS, vals=FILL, size_buf=PRESENT):
            return (row("hierarchical_softmax", f64) + bytes([0, batch, len(sizes), size_buf, 1]) + bytes(sizes)
                    + fw + enum(cond) + bytes(bufs) + vals + vals + alias)

        for cond in (0, 1):
            for vals in (FILL, SPECIAL_FILL, NEG_INF_FILL):
                yield hier(3, [2, 0, 4, 1], cond=cond, vals=vals)            # sizes 3, 1, 5, 2
                yield hier(2, [5, 5, 5, 5, 5, 5], cond=cond, vals=vals)
        yield hier(3, [2, 200, 4])                                              # a size of 0
        yield hier(3, [2, 215, 4])                                              # a size of -1
        yield hier(3, [2, 1, 4], fw=bytes([6, 1]))                              # fine_width = sum + 1
        yield hier(3, [2, 1, 4], fw=bytes([7, 1]))                              # fine_width 1
        yield hier(3, [2, 1, 4], cond=7)                                        # conditional 7
        yield hier(3, [2, 1, 4], bufs=(NULL, PRESENT, PRESENT))                 # coarse NULL
        yield hier(3, [2, 1, 4], size_buf=NULL)                                # sizes NULL
        yield hier(3, [2, 1, 4], alias=EXACT(0))                                # y == fine
        yield hier(3, [2, 1, 4], alias=EXACT(1))                                # y over coarse
        yield hier(3, [2, 1, 4], alias=PARTIAL(0, 2))
        yield hier(0, [])                                                       # empty

        # ensemble mean: M members, mode, then each buffer's byte
        def ens(ext, m, mode, probs=1, alias=NO_ALIAS, bufs=None, dup=0):
            bufs = bufs or (PRESENT,) * (2 + m)
            return (row("ensemble_mean", f64) + ext + bytes([0, m - 1]) + enum(mode) + bytes(bufs)
                    + FILL * m + bytes([probs]) + alias + bytes([dup] * max(0, m - 1)))

        for mode in (0, 1, 2):
            for probs in (0, 1):
                yield ens(small(3, 17), 3, mode, probs)
                yield ens(strided(2, 9, 5), 2, mode, probs)
            yield ens(small(3, 17), 1, mode)
            yield ens(small(3, 17), 2, mode, dup=0)                             # the same member twice
            yield ens(small(3, 17), 2, mode, alias=EXACT(0))                    # y == members[0]
            yield ens(small(3, 17), 3, mode, alias=EXACT(2))                    # y == members[1]: refused
            yield ens(small(3, 17), 2, mode, alias=PARTIAL(0, 4))
        yield ens(small(3, 17), 3, 9)                                           # unknown mode
        yield row("ensemble_mean", f64) + small(3, 17) + bytes([5]) + enum(0) + bytes([PRESENT] * 2) + bytes([1]) + NO_ALIAS  # M = 0
        yield ens(small(3, 17), 3, 0, bufs=(PRESENT, PRESENT, PRESENT, NULL, PRESENT))  # a NULL member
        yield ens(small(3, 17), 2, 0, bufs=(NULL, PRESENT, PRESENT, PRESENT))   # members NULL
        yield row("ensemble_mean", f64) + small(3, 17) + bytes([7, 4]) + enum(0) + bytes([PRESENT] * 2) + NO_ALIAS  # M = -1

        # selection
        for fam in ("hardmax", "argmax", "topk", "softmax_topk"):
            topk = fam in ("topk", "softmax_topk")
            nbuf = 2 if not topk else 3
            for ext in (small(3, 17), small(2, 70), strided(2, 33, 5), small(1, 1)):
                for vals in (FILL, SPECIAL_FILL, NEG_INF_FILL, values(0, 9, 1)):
                    if topk:
                        for kk in (bytes([4]), bytes([0, 3]), bytes([5])):      # k = n, 3, 0
                            t = bytes([0]) if fam == "softmax_topk" else b""
                            yield row(fam, f64) + ext + kk + t + bytes([PRESENT] * nbuf) + vals + NO_ALIAS
                    else:
                        yield row(fam, f64) + ext + bytes([PRESENT] * nbuf) + vals + (b"" if fam == "argmax" else NO_ALIAS)
            ties = values(20, 1, 0, [(1, bytes([130]))] * 20)                 # 20 equal values
            if topk:
                t = bytes([0]) if fam == "softmax_topk" else b""
                yield row(fam, f64) + small(1, 20) + bytes([0, 5]) + t + bytes([PRESENT] * 3) + ties + NO_ALIAS
                yield row(fam, f64) + small(2, 20) + bytes([6, 1]) + t + bytes([PRESENT] * 3) + FILL + NO_ALIAS   # k = n + 1
                yield row(fam, f64) + small(2, 20) + bytes([6, 0]) + t + bytes([PRESENT] * 3) + FILL + NO_ALIAS   # k = -1
                yield row(fam, f64) + small(2, 20) + bytes([4]) + t + bytes([PRESENT] * 3) + FILL + EXACT()        # values == x
                yield row(fam, f64) + small(2, 20) + bytes([4]) + t + bytes([PRESENT, NULL, PRESENT]) + FILL + NO_ALIAS
                if fam == "softmax_topk":
                    for i in (0, 2, 4, 7, 13):                                 # temperatures 1, 2, 0, NaN, 1e-45
                        yield row(fam, f64) + small(2, 20) + bytes([4, 100, i]) + bytes([PRESENT] * 3) + FILL + NO_ALIAS
            else:
                yield row(fam, f64) + small(1, 20) + bytes([PRESENT] * nbuf) + ties + (b"" if fam == "argmax" else NO_ALIAS)
                yield row(fam, f64) + small(3, 0) + bytes([PRESENT] * nbuf) + (b"" if fam == "argmax" else NO_ALIAS)  # n = 0
                yield row(fam, f64) + small(3, 20) + bytes([NULL, PRESENT]) + (b"" if fam == "argmax" else NO_ALIAS)
            if fam == "hardmax":
                yield row(fam, f64) + small(3, 20) + bytes([PRESENT] * 2) + FILL + EXACT()
                yield row(fam, f64) + small(3, 20) + bytes([PRESENT] * 2) + FILL + PARTIAL(0, 9)

        # class losses: options bytes, then buffers
        def options(size=4, ignore=0, smoothing=b"\x00", reduction=1):
            return bytes([100, size, ignore]) + smoothing + enum(reduction)

        for fam in ("cross_entropy", "cross_entropy_probs", "nll_loss"):
            probs = fam == "cross_entropy_probs"
            grad = fam != "nll_loss"

            def loss(ext, opts=b"\x00", weight=ABSENT, dl=PRESENT, req=(PRESENT,) * 3, extra=FILL,
                     targets=bytes([0, 4]), alias=NO_ALIAS, prob=1):
                bufs = bytes([req[0], req[1], weight, req[2]]) + (bytes([dl]) if grad else b"")
                body = row(fam, f64) + ext + opts + bufs + FILL + (FILL if probs else b"")
                body += extra if weight == PRESENT else b""
                body += bytes([prob]) if probs else targets
                return body + (alias if grad else b"")

            for red in (0, 1, 2):
                for weight in (ABSENT, PRESENT):
                    for ext in (small(4, 5), strided(2, 5, 3), small(3, 70)):
                        yield loss(ext, options(reduction=red), weight=weight)
                        if fam != "nll_loss":
                            yield loss(ext, options(reduction=red, smoothing=bytes([6, 0])), weight=weight)  # 0.1
                            yield loss(ext, options(reduction=red, smoothing=bytes([6, 1])), weight=weight)  # 1.0
            yield loss(small(4, 5))                                                      # NULL options
            yield loss(small(4, 5), dl=ABSENT)                                           # no gradient
            yield loss(small(0, 5), options(reduction=1))                                # no samples: NaN mean
            yield loss(small(4, 0), options(reduction=0, ignore=0))                      # no classes
            yield loss(small(4, 5), options(size=1))                                     # options->size 16
            yield loss(small(4, 5), options(reduction=5))                                # unknown reduction
            yield loss(small(4, 5), req=(NULL, PRESENT, PRESENT))                        # logits NULL
            yield loss(small(4, 5), req=(PRESENT, PRESENT, NULL))                        # loss NULL
            for i in (5, 6, 7, 8, 9):                                                    # smoothing -0, -0.1, >1, NaN, inf
                yield loss(small(4, 5), options(smoothing=bytes([6, i])))
            if grad:
                yield loss(small(4, 5), alias=EXACT())                                   # dlogits == logits: refused
                yield loss(small(4, 5), alias=PARTIAL(0, 3))
            if not probs:
                yield loss(small(4, 5), targets=bytes([4, 1]) + bytes([0, 1, 7, 1, 0, 2, 6, 0]))     # a target of C
                yield loss(small(4, 5), targets=bytes([4, 1]) + bytes([0, 1, 7, 0, 0, 2, 6, 0]))     # a target of -1
                yield loss(small(4, 5), options(ignore=5), targets=bytes([4, 1]) + bytes([6, 0] * 4))  # all ignored (0)
                yield loss(small(4, 5), options(ignore=4), targets=bytes([4, 1]) + bytes([6, 0] * 4))  # ignore_index -1
                yield loss(small(4, 5), options(ignore=7), targets=bytes([4, 1]) + bytes([6, 0, 1, 1] * 2))  # ignore C

        # binary cross-entropy with logits: count, classes, reduction, buffers
        def bce(count, classes_how, red=1, bufs=(PRESENT, PRESENT, PRESENT, PRESENT, PRESENT), prob=1):
            return (row("binary_cross_entropy_with_logits", f64) + bytes([0]) + struct.pack("<H", count)
                    + classes_how + enum(red) + bytes(bufs) + FILL * 4 + bytes([prob]))

        for red in (0, 1, 2):
            for count in (0, 1, 12, 40, 257):
                yield bce(count, bytes([0, 3]), red)                                     # 4 classes dividing count
                yield bce(count, bytes([0, 3]), red, bufs=(PRESENT, PRESENT, ABSENT, ABSENT, PRESENT), prob=0)
        yield bce(12, bytes([3, 4]))                                                      # 5 classes, 12 not divisible
        yield bce(12, bytes([5]))                                                         # 0 classes
        yield bce(12, bytes([6, 4]))                                                      # classes -1
        yield bce(12, bytes([0, 3]), red=3)
        yield bce(12, bytes([0, 3]), bufs=(NULL, PRESENT, PRESENT, PRESENT, PRESENT))
        yield bce(12, bytes([0, 3]), bufs=(PRESENT, PRESENT, PRESENT, PRESENT, NULL))
        yield row("binary_cross_entropy_with_logits", f64) + bytes([6, 4])                 # count -1

        # backward
        for fam in ("softmax_backward", "log_softmax_backward", "sigmoid_backward"):
            for ext in ((bytes([0]) + struct.pack("<H", 40),) if fam == "sigmoid_backward" else
                        (small(3, 17), small(2, 70), strided(2, 33, 5))):
                for tr in (0, 1):
                    yield row(fam, f64) + ext + bytes([PRESENT] * 3) + FILL + SPECIAL_FILL + bytes([tr]) + NO_ALIAS
                yield row(fam, f64) + ext + bytes([PRESENT] * 3) + FILL + FILL + bytes([1]) + EXACT(0)   # dx == y
                yield row(fam, f64) + ext + bytes([PRESENT] * 3) + FILL + FILL + bytes([1]) + EXACT(1)   # dx == dy
                yield row(fam, f64) + ext + bytes([PRESENT] * 3) + FILL + FILL + bytes([1]) + PARTIAL(1, 3)
                yield row(fam, f64) + ext + bytes([PRESENT, NULL, PRESENT]) + FILL + bytes([1]) + NO_ALIAS
            yield row(fam, f64) + (bytes([6, 4]) if fam == "sigmoid_backward" else edge(0, 4, 1))     # count/extent -1


SAMPLE_ROW = 44  # smk_sample_f32; + 1 for _f64 (rows appended after the backward kernels)


def sample_seeds():
    """smk_sample: valid options of each kind, masks, -1 rows, every bad
    option, bad mask counts, NULL buffers and overlapping outputs, in the
    byte language of run_sample: extents, options given, the options (see
    take_sample_options), the seed, the mask mode, buffer placements, the
    mask and logits contents, the aliasing choice."""
    seed = struct.pack("<Q", 0x9E3779B97F4A7C15)
    here, null, absent = 200, 0, 0

    def opts(m=1, temp=0, topk=b"\x00", topp=0, minp=0, ns=b"\x00", offset=b"\x00"):
        return bytes([m, temp]) + topk + bytes([topp, minp]) + ns + offset

    def call(f64, ext=small(3, 10), given=1, o=None, mask=b"\x00", bufs=(here, here, here), mask_place=b"",
             mask_fill=b"", fill=b"\x00\x07\x00", alias=b"\x00"):
        o = opts() if o is None else o
        x, idx, lp = bufs
        return (bytes([SAMPLE_ROW + f64]) + ext + bytes([given]) + o + seed + mask + bytes([x]) + mask_place
                + bytes([idx, lp]) + mask_fill + fill + alias)

    for f64 in (0, 1):
        yield call(f64)                                                           # plain
        yield call(f64, given=0)                                                  # NULL options: defaults
        yield call(f64, o=opts(temp=1, topk=b"\x02\x02", topp=1, minp=1))         # T 0.5, top_k 3, top_p 0.9, min_p 0.1
        yield call(f64, o=opts(temp=3))                                           # greedy
        yield call(f64, o=opts(temp=5))                                           # -0.0: greedy
        yield call(f64, o=opts(m=0, ns=b"\x03\x02"))                              # 3 distinct draws
        yield call(f64, o=opts(m=0, ns=b"\x04", topk=b"\x02\x00"))                # n distinct draws, top_k 1: refused
        yield call(f64, o=opts(ns=b"\x03\x03", offset=b"\x01" + struct.pack("<Q", 2**63 + 5)))  # row offset
        yield call(f64, ext=strided(2, 7, 3), o=opts(ns=b"\x03\x01"))             # strided fibres, 2 draws
        yield call(f64, ext=small(2, 0))                                          # n 0: -1 rows
        yield call(f64, fill=b"\x00\x03\x01")                                     # special values: NaN, inf rows
        yield call(f64, fill=b"\x00\x03\x02")                                     # -inf sprinkled
        yield call(f64, fill=b"\x00\x03\x03")                                     # 1e35 scale
        yield call(f64, mask=b"\x03", mask_place=bytes([here]), mask_fill=b"\x02\x05\x80")  # full mask
        yield call(f64, mask=b"\x05", mask_place=bytes([here]), mask_fill=b"\x02\x09\x60")  # one pattern
        yield call(f64, mask=b"\x03", mask_place=bytes([here]), mask_fill=b"\x01\x00\x00")  # all masked: -1
        yield call(f64, mask=b"\x06\x01", mask_place=bytes([here]))               # mask count + 1
        yield call(f64, mask=b"\x06\x00", mask_place=bytes([here]))               # mask count -1
        yield call(f64, mask=b"\x03", mask_place=bytes([null]))                   # mask NULL, count > 0
        yield call(f64, bufs=(here, null, here))                                  # indices NULL
        yield call(f64, bufs=(null, here, here))                                  # logits NULL
        yield call(f64, bufs=(here, here, absent))                                # no log-probabilities
        for t in (6, 7, 8, 9, 10, 11, 12):                                        # -1, NaN, inf, 1e-300, 1e-40, 1e308, 5e-324
            yield call(f64, o=opts(temp=t))
        yield call(f64, o=opts(topk=b"\x05"))                                     # top_k -1
        for tp in (4, 5, 6, 7, 8, 9):                                             # top_p 1e-300, 0, -0.1, 1.5, NaN, inf
            yield call(f64, o=opts(topp=tp))
        for mp in (3, 4, 5, 6, 7):                                                # min_p 1, -0.1, 1.1, NaN, -inf
            yield call(f64, o=opts(minp=mp))
        yield call(f64, o=opts(ns=b"\x05\x01"))                                   # num_samples 0
        yield call(f64, o=opts(ns=b"\x06\x07"))                                   # num_samples INT64_MAX
        yield call(f64, o=opts(ns=b"\x06\x08"))                                   # num_samples INT64_MAX / 8
        yield call(f64, o=opts(m=3))                                              # replacement -1
        yield call(f64, o=opts(m=7))                                              # replacement 2
        yield call(f64, o=opts(m=0xF1) + b"\x08")                                 # size 8
        yield call(f64, ext=edge(7, 1, 1))                                        # outer INT64_MAX
        yield call(f64, alias=b"\x07\x00\x00\x03\x00")                            # log_probs over logits
        yield call(f64, alias=b"\x07\x00\x01\x02\x00")
        if f64:
            yield call(f64, alias=b"\x05\x01")                                    # indices on log_probs
            yield call(f64, alias=b"\x07\x02\x01\x01\x00")                        # indices over logits


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_abi")
    os.makedirs(out, exist_ok=True)
    n = 0
    for s in list(seeds()) + list(variant_seeds()) + list(sample_seeds()):
        name = "seed-" + hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(out, name), "wb") as f:
            f.write(s)
        n += 1
    print(f"wrote {n} seeds to {out}")


if __name__ == "__main__":
    main()
