#!/usr/bin/env python3
"""The aliasing promise of the C ABI, checked over every prototype of the header:

  for every function, for every pair of caller buffers where at least one is
  an output ((input, output) and (output, output)), a call with the two
  buffers partly overlapping is refused with SMK_ERROR_INVALID_ARGUMENT, a
  message naming the overlap, and nothing written (every byte of every buffer
  unchanged). Exact aliasing (in place) is not a partial overlap and is not
  tried here: each function's doc says where it is allowed.

The pairs come from the header's prototypes: a `const T *` parameter is an
input buffer, a `T *` one an output, `const T *const *` a table of input
buffers, `T *const *` a table of output buffers (each entry a buffer of its
own). Not paired: opaque handles (library memory) and `*_out` parameters (one
result written on success, after every input has been read).

A function with at least one such pair needs a recipe in RECIPES (valid
arguments for one call); a declared function without one fails the check, so
covering a new function is a decision. A recipe may list tables the library
copies whole before it writes anything (COPIED): an output overlapping one of
those is allowed, and the call must then give the same outputs as with
separate buffers.

Each pair is placed twice where the sizes allow: the second buffer 8 bytes
into the first, and at the last 8-byte boundary inside it (an overlap of one
element at the first buffer's end), in both orders.

Prints "N passed, N failed" and exits non-zero on any failure.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMK_OK, SMK_ERROR_INVALID_ARGUMENT = 0, 1
SENTINEL = 0xA5
passed = 0
failed = 0


def check(ok: bool, what: str) -> None:
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


# ---------------------------------------------------------------- the header

def parse_header(path: str) -> tuple[dict[str, tuple[str, list[tuple[str, str]]]], set[str]]:
    """name -> (return type, [(parameter type, parameter name)]), opaque type names."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    opaque = set(re.findall(r"typedef\s+struct\s+\w+\s+(\w+)\s*;", text))
    protos = {}
    for ret, name, params in re.findall(r"SMK_API\s+([^;(]*?)\b(smk_\w+)\s*\(([^)]*)\)", text, re.S):
        params = " ".join(params.split())
        plist = []
        if params not in ("", "void"):
            for p in params.split(","):
                m = re.match(r"^(.*?)\b(\w+)$", p.strip())
                plist.append((" ".join(m.group(1).replace("*", " * ").split()), m.group(2)))
        protos[name] = (" ".join(ret.split()), plist)
    return protos, opaque


def classify(ctype: str, name: str, opaque: set[str]) -> str:
    """scalar | handle | result | in | out | in_table | out_table."""
    toks = ctype.split()
    stars = toks.count("*")
    if stars == 0:
        return "scalar"
    base = [t for t in toks if t not in ("const", "*")]
    if base and base[0] in opaque:
        return "handle" if stars == 1 else "result"
    if name.endswith("_out"):
        return "result"
    first = toks.index("*")
    pointee_const = "const" in toks[:first]
    if stars == 2:
        return "in_table" if pointee_const else "out_table"
    return "in" if pointee_const else "out"


CTYPES = {"int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "int32_t": ctypes.c_int32, "int": ctypes.c_int, "uint32_t": ctypes.c_uint32,
          "float": ctypes.c_float, "double": ctypes.c_double, "smk_status": ctypes.c_int}


def ctype_of(ctype: str) -> type:
    if "*" in ctype:
        return ctypes.c_void_p
    t = ctype.replace("const", "").strip()
    if t in CTYPES:
        return CTYPES[t]
    if t.startswith("smk_"):  # an enum passed by value
        return ctypes.c_int
    raise SystemExit(f"check_overlap: no ctypes mapping for parameter type {ctype!r}")


# ---------------------------------------------------------------- recipes

class In:
    """An input buffer holding `data` (bytes)."""
    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)


class Out:
    """An output buffer of `size` bytes."""
    def __init__(self, size: int):
        self.data = None
        self.size = size


class Table:
    """A table of pointers to the buffers `entries` (all In or all Out)."""
    def __init__(self, entries: list):
        self.entries = entries
        self.size = 8 * len(entries)


def f32(v): return struct.pack(f"<{len(v)}f", *v)
def f64(v): return struct.pack(f"<{len(v)}d", *v)
def i64(v): return struct.pack(f"<{len(v)}q", *v)
def u8(v): return bytes(v)


def values(count: int, shift: float = 0.0) -> list[float]:
    """Distinct, deterministic, moderate logits."""
    return [((i * 7) % 11 - 5) * 0.37 + i * 0.01 + shift for i in range(count)]


def f16(v): return struct.pack(f"<{len(v)}e", *v)
def bf16(v): return b"".join(struct.pack("<f", x)[2:] for x in v)


class Precision:
    def __init__(self, suffix: str):
        # float16 / bfloat16 functions take float32 weights and give float32
        # losses and log-probabilities (wpack, wsize).
        # (functions without a precision suffix get the float64 one, as before)
        self.pack = {"f32": f32, "f16": f16, "bf16": bf16}.get(suffix, f64)
        self.size = {"f32": 4, "f16": 2, "bf16": 2}.get(suffix, 8)
        self.wpack = f32 if suffix in ("f32", "f16", "bf16") else f64
        self.wsize = 4 if suffix in ("f32", "f16", "bf16") else 8


O, N, I = 3, 5, 2              # (outer, n, inner) of every kernel recipe
C = O * N * I                  # elements of a full tensor
R = O * I                      # reduced elements (one per fibre)
K = 3


def extents():
    return {"outer": O, "n": N, "inner": I}


def normalizer(F, **extra):
    return {"x": In(F.pack(values(C))), "y": Out(C * F.size), **extents(), **extra}


def chunk_finish(F):
    return {"x": In(F.pack(values(C))), "max": In(f64([2.0] * R)), "sum": In(f64([3.0 + i for i in range(R)])),
            "y": Out(C * F.size), **extents(), "temperature": 1.0}


def masked_chunk_finish(F):
    return {**chunk_finish(F), "temperature": None, "mask": In(u8([(i * 5) % 3 != 0 for i in range(C)])), "mask_count": C}


def ce_chunk(F):
    return {"logits": In(F.pack(values(C))), "max": In(f64([2.0] * R)), "sum": In(f64([3.0 + i for i in range(R)])),
            "weight": In(F.pack([0.5 + 0.25 * c for c in range(N)])), "loss": Out(R * 8), **extents(),
            "offset": 0, "classes": N, "label_smoothing": 0.1}


def elementwise(F):
    return {"x": In(F.pack(values(C))), "y": Out(C * F.size), "count": C}


def masked(F, **extra):
    return {"x": In(F.pack(values(C))), "mask": In(u8([(i * 5) % 3 != 0 for i in range(C)])), "y": Out(C * F.size),
            **extents(), "mask_count": C, **extra}


def loss_options(reduction: int) -> bytes:
    # smk_loss_options: size, ignore_index, label_smoothing, reduction (+ padding)
    return struct.pack("<QqdiI", 32, -100, 0.0, reduction, 0)


def class_loss(F, probs_target: bool, nll: bool = False):
    args = {("log_probs" if nll else "logits"): In(F.pack([v - 3 for v in values(C)] if nll else values(C))),
            "target": In(F.pack([1.0 / N] * C) if probs_target else i64([(r * 2) % N for r in range(R)])),
            "weight": In(F.wpack([0.5 + 0.25 * c for c in range(N)])),
            "loss": Out(R * F.wsize)}
    if not nll:
        args["dlogits"] = Out(C * F.size)
    return {**args, **extents(), "options": In(loss_options(0))}


def sample_options(draws: int) -> bytes:
    # smk_sample_options: size, temperature, top_k, top_p, min_p, num_samples,
    # row_offset, replacement (+ padding)
    return struct.pack("<QdqddqQiI", 64, 0.8, 0, 0.9, 0.0, draws, 0, 1, 0)


def backward(F):
    return {"y": In(F.pack([0.1 + 0.01 * i for i in range(C)])), "dy": In(F.pack(values(C))),
            "dx": Out(C * F.size), **extents()}


def forward_args(owner: str, handle, lib) -> dict:
    """smk_model_forward / smk_ensemble_forward on 3 rows of `handle`'s model."""
    model = handle
    if owner == "ensemble":
        m = ctypes.c_void_p()
        assert lib.smk_ensemble_model(handle, ctypes.c_int64(0), ctypes.byref(m)) == SMK_OK
        model = m
    feats, heads = ctypes.c_int64(), ctypes.c_int64()
    assert lib.smk_model_input_features(model, ctypes.byref(feats)) == SMK_OK
    assert lib.smk_model_head_count(model, ctypes.byref(heads)) == SMK_OK
    outs = []
    for h in range(heads.value):
        size = ctypes.c_int64()
        assert lib.smk_model_head_size(model, ctypes.c_int64(h), ctypes.byref(size)) == SMK_OK
        outs.append(Out(O * size.value * 4))
    return {owner: handle, "x": In(f32(values(O * feats.value))), "batch": O, "steps": 1,
            "features": feats.value, "outputs": Table(outs), "output_count": heads.value}


# name (without the _f32/_f64 suffix) -> (recipe(F, fixtures), tables copied before any write).
# Tables marked copied are read whole into the library's own memory first
# (the header says so for each), so an output overlapping them is harmless.
RECIPES = {
    "smk_softmax": (lambda F, _: normalizer(F, temperature=1.0), ()),
    "smk_log_softmax": (lambda F, _: normalizer(F, temperature=1.0), ()),
    "smk_logsumexp": (lambda F, _: {"x": In(F.pack(values(C))), "y": Out(R * F.size), **extents()}, ()),
    "smk_softmax_state": (lambda F, _: {"x": In(F.pack(values(C))), "max": Out(R * 8), "sum": Out(R * 8),
                                        **extents(), "temperature": 1.0}, ()),
    "smk_softmax_state_merge": (lambda F, _: {"max_in": In(f64(values(2 * R))),
                                              "sum_in": In(f64([1.0 + 0.5 * i for i in range(2 * R)])),
                                              "max_out": Out(R * 8), "sum_out": Out(R * 8),
                                              "parts": 2, "count": R, "temperature": 1.0}, ()),
    "smk_softmax_finish": (lambda F, _: chunk_finish(F), ()),
    "smk_log_softmax_finish": (lambda F, _: chunk_finish(F), ()),
    "smk_logsumexp_finish": (lambda F, _: {"max": In(f64(values(R))), "sum": In(f64([1.0 + i for i in range(R)])),
                                           "y": Out(R * F.size), "count": R}, ()),
    "smk_sigmoid": (lambda F, _: elementwise(F), ()),
    "smk_log_sigmoid": (lambda F, _: elementwise(F), ()),
    "smk_logit": (lambda F, _: elementwise(F), ()),
    "smk_logsumexp_weighted": (lambda F, _: {"x": In(F.pack(values(C))), "b": In(F.pack([1.0 - 0.5 * (i % 3) for i in range(C)])),
                                             "y": Out(R * F.size), "sign": Out(R * F.size), **extents()}, ()),
    "smk_masked_softmax": (lambda F, _: masked(F, renormalize=1), ()),
    "smk_masked_log_softmax": (lambda F, _: masked(F), ()),
    "smk_partitioned": (lambda F, _: {"x": In(F.pack(values(C))),
                                      "layout": In(struct.pack("<qiIqiI", 2, 1, 0, 3, 3, 0)),
                                      "y": Out(C * F.size), **extents(), "layout_count": 2}, ("layout",)),
    "smk_segment_softmax": (lambda F, _: {"x": In(F.pack(values(C))), "offsets": In(i64([0, 2, 2, 5])),
                                          "y": Out(C * F.size), **extents(), "offset_count": 4}, ("offsets",)),
    "smk_hierarchical_softmax": (lambda F, _: {"coarse": In(F.pack(values(O * 2))), "fine": In(F.pack(values(O * N, 1))),
                                               "sizes": In(i64([2, 3])), "y": Out(O * N * F.size), "batch": O,
                                               "groups": 2, "fine_width": N, "conditional": 0}, ("sizes",)),
    "smk_ensemble_mean": (lambda F, _: {"members": Table([In(F.pack([0.02 * (i + 1) for i in range(C)])),
                                                          In(F.pack([0.03 * (i + 1) for i in range(C)]))]),
                                        "y": Out(C * F.size), "member_count": 2, **extents(), "mode": 1},
                          ("members",)),
    "smk_argmax": (lambda F, _: {"x": In(F.pack(values(C))), "index": Out(R * 8), **extents()}, ()),
    "smk_hardmax": (lambda F, _: normalizer(F), ()),
    "smk_topk": (lambda F, _: {"x": In(F.pack(values(C))), "values": Out(O * K * I * F.size),
                               "indices": Out(O * K * I * 8), **extents(), "k": K}, ()),
    "smk_softmax_topk": (lambda F, _: {"x": In(F.pack(values(C))), "probs": Out(O * K * I * F.size),
                                       "indices": Out(O * K * I * 8), **extents(), "k": K, "temperature": 1.0}, ()),
    "smk_sample": (lambda F, _: {"logits": In(F.pack(values(C))), "mask": In(u8([i % 4 != 1 for i in range(C)])),
                                 "indices": Out(R * 2 * 8), "log_probs": Out(R * 2 * F.wsize), **extents(),
                                 "mask_count": C, "options": In(sample_options(2)), "seed": 7}, ("options",)),
    "smk_cross_entropy": (lambda F, _: class_loss(F, False), ("options",)),
    "smk_cross_entropy_probs": (lambda F, _: class_loss(F, True), ("options",)),
    "smk_nll_loss": (lambda F, _: class_loss(F, False, nll=True), ("options",)),
    "smk_binary_cross_entropy_with_logits": (
        lambda F, _: {"logits": In(F.pack(values(C))), "target": In(F.pack([(i % 3) / 2 for i in range(C)])),
                      "weight": In(F.wpack([1 + 0.1 * i for i in range(C)])),
                      "pos_weight": In(F.wpack([0.5 * (c + 1) for c in range(N)])),
                      "loss": Out(C * F.wsize), "count": C, "classes": N, "reduction": 0}, ()),
    "smk_softmax_backward": (lambda F, _: backward(F), ()),
    "smk_log_softmax_backward": (lambda F, _: backward(F), ()),
    "smk_sigmoid_backward": (lambda F, _: {**backward(F), "outer": None, "n": None, "inner": None, "count": C}, ()),
    "smk_model_forward": (lambda F, fx: forward_args("model", fx.model, fx.lib), ("outputs",)),
    "smk_ensemble_forward": (lambda F, fx: forward_args("ensemble", fx.ensemble, fx.lib), ("outputs",)),
    # lengths are copied into the library's memory before any write.
    "smk_model_forward_lengths": (lambda F, fx: {**forward_args("model", fx.model, fx.lib), "lengths": In(i64([1, 0, 1]))},
                                  ("outputs", "lengths")),
    "smk_model_forward_ids": (lambda F, fx: ids_args(fx.tagger, fx.lib), ("outputs", "lengths")),
    "smk_model_step": (lambda F, fx: step_args(fx), ("outputs",)),
    "smk_model_step_ids": (lambda F, fx: step_ids_args(fx, "model"), ()),
    "smk_ensemble_forward_lengths": (lambda F, fx: {**forward_args("ensemble", fx.ensemble, fx.lib),
                                                    "lengths": In(i64([1, 0, 1]))}, ("outputs", "lengths")),
    "smk_ensemble_forward_ids": (lambda F, fx: {**{k: v for k, v in ids_args(fx.tagger, fx.lib).items() if k != "model"},
                                                "ensemble": tagger_ensemble(fx)}, ("outputs", "lengths")),
    "smk_ensemble_step": (lambda F, fx: ensemble_step_args(fx), ("outputs",)),
    "smk_ensemble_step_ids": (lambda F, fx: step_ids_args(fx, "ensemble"), ()),
    "smk_masked_softmax_lengths": (lambda F, _: {"x": In(F.pack(values(C))), "lengths": In(i64([(r * 2) % (N + 1) for r in range(R)])),
                                                 "y": Out(C * F.size), **extents(), "lengths_count": R, "renormalize": 1}, ()),
    "smk_masked_log_softmax_lengths": (lambda F, _: {"x": In(F.pack(values(C))), "lengths": In(i64([(r * 2) % (N + 1) for r in range(R)])),
                                                     "y": Out(C * F.size), **extents(), "lengths_count": R}, ()),
    # The chunked kernels' merges and masked / cross-entropy passes.
    "smk_topk_merge": (lambda F, _: {"values": In(F.pack(values(C))), "indices": In(i64(list(range(C)))),
                                     "values_out": Out(O * K * I * F.size), "indices_out": Out(O * K * I * 8),
                                     **extents(), "k": K}, ()),
    "smk_masked_softmax_state": (lambda F, _: {"x": In(F.pack(values(C))),
                                               "mask": In(u8([(i * 5) % 3 != 0 for i in range(C)])),
                                               "max": Out(R * 8), "sum": Out(R * 8), **extents(), "mask_count": C}, ()),
    "smk_masked_softmax_finish": (lambda F, _: masked_chunk_finish(F), ()),
    "smk_masked_log_softmax_finish": (lambda F, _: masked_chunk_finish(F), ()),
    "smk_cross_entropy_chunk": (lambda F, _: {**ce_chunk(F), "target": In(i64([(r * 2) % N for r in range(R)])),
                                              "target_weight": Out(R * 8), "ignore_index": -100}, ()),
    "smk_cross_entropy_probs_chunk": (lambda F, _: {**ce_chunk(F), "target": In(F.pack([1.0 / N] * C))}, ()),
    # Half precision (the _f16 / _bf16 functions; the others share the float recipes).
    "smk_half_to_float": (lambda F, _: {"x": In(F.pack(values(C))), "y": Out(C * 4), "count": C}, ()),
    "smk_half_from_float": (lambda F, _: {"x": In(f32(values(C))), "y": Out(C * F.size), "count": C}, ()),
    # Typed model forwards: float16 input, bfloat16 outputs (and the reverse
    # for steps), so the spans of 2-byte elements are what is checked.
    "smk_model_forward_typed": (lambda F, fx: {**typed_args(forward_args("model", fx.model, fx.lib), 2, 3),
                                               "lengths": In(i64([1, 0, 1]))}, ("outputs", "lengths")),
    "smk_ensemble_forward_typed": (lambda F, fx: {**typed_args(forward_args("ensemble", fx.ensemble, fx.lib), 3, 2),
                                                  "lengths": In(i64([1, 1, 0]))}, ("outputs", "lengths")),
    "smk_model_step_typed": (lambda F, fx: typed_args(step_args(fx), 3, 2, x="x_t"), ("outputs",)),
    "smk_ensemble_step_typed": (lambda F, fx: typed_args(ensemble_step_args(fx), 0, 3, x="x_t"), ("outputs",)),
}


def typed_args(args: dict, x_dtype: int, output_dtype: int, x: str = "x") -> dict:
    """A float32 forward recipe re-typed: its input as smk_dtype x_dtype, its
    outputs as output_dtype (2 and 3 are the 2-byte float16 and bfloat16)."""
    vals = list(struct.unpack(f"<{args[x].size // 4}f", args[x].data))
    pack = {0: f32, 2: f16, 3: bf16}
    size = {0: 4, 2: 2, 3: 2}
    outs = Table([Out(o.size // 4 * size[output_dtype]) for o in args["outputs"].entries])
    return {**args, x: In(pack[x_dtype](vals)), "x_dtype": x_dtype, "outputs": outs, "output_dtype": output_dtype}


def tagger_ensemble(fx):
    """An ensemble of the tagger fixture with itself (made once)."""
    if getattr(fx, "tagger_ens", None) is None:
        fx.tagger_ens = ctypes.c_void_p()
        table = (ctypes.c_void_p * 2)(fx.tagger.value, fx.tagger.value)
        assert fx.lib.smk_ensemble_create(table, ctypes.c_int64(2), 0, ctypes.byref(fx.tagger_ens)) == SMK_OK
    return fx.tagger_ens


def embedding_model(fx):
    """A model of token ids without recurrence (embedding, dense, softmax):
    its steps carry nothing, so every call of a step gives the same outputs,
    as the copied-table comparison needs (made once)."""
    if getattr(fx, "emb_model", None) is None:
        lib = fx.lib
        spec = (b'{"softmaxkit": 1, "input": {"vocabulary": 11}, "layers": [{"name": "emb", "kind": "embedding"},'
                b' {"name": "fc", "input": "emb"}], "heads": [{"name": "p", "layer": "fc", "output": "softmax"}]}')
        b = ctypes.c_void_p()
        assert lib.smk_model_builder_create(spec, ctypes.byref(b)) == SMK_OK
        for name, shape in ((b"emb.weight", (11, 4)), (b"fc.weight", (3, 4))):
            n = shape[0] * shape[1]
            data = (ctypes.c_float * n)(*[0.1 * ((7 * i) % 13 - 6) for i in range(n)])
            dims = (ctypes.c_int64 * 2)(*shape)
            assert lib.smk_model_builder_add_f32(b, name, data, dims, ctypes.c_int64(2)) == SMK_OK
        fx.emb_model = ctypes.c_void_p()
        assert lib.smk_model_builder_build(b, ctypes.byref(fx.emb_model)) == SMK_OK
        lib.smk_model_builder_free(b)
        fx.emb_ensemble = ctypes.c_void_p()
        table = (ctypes.c_void_p * 2)(fx.emb_model.value, fx.emb_model.value)
        assert lib.smk_ensemble_create(table, ctypes.c_int64(2), 0, ctypes.byref(fx.emb_ensemble)) == SMK_OK
    return fx.emb_model


def step_ids_args(fx, owner: str) -> dict:
    """smk_model_step_ids / smk_ensemble_step_ids on 3 rows of a model of
    token ids (or its ensemble with itself); the state is made once."""
    model = embedding_model(fx)
    key = f"ids_state_{owner}"
    if getattr(fx, key, None) is None:
        st = ctypes.c_void_p()
        if owner == "model":
            assert fx.lib.smk_model_state_create(model, ctypes.c_int64(O), ctypes.byref(st)) == SMK_OK
        else:
            assert fx.lib.smk_ensemble_state_create(fx.emb_ensemble, ctypes.c_int64(O), ctypes.byref(st)) == SMK_OK
        setattr(fx, key, st)
    args = {"ids": In(i64([(3 * i) % 11 for i in range(O)])), "batch": O, "outputs": Table([Out(O * 3 * 4)]),
            "output_count": 1, "state": getattr(fx, key)}
    if owner == "model":
        return {**args, "model": model}
    return {**args, "ensemble": fx.emb_ensemble}


def ensemble_step_args(fx) -> dict:
    """smk_ensemble_step on 3 rows of the two-member ensemble (state made once)."""
    args = forward_args("ensemble", fx.ensemble, fx.lib)
    del args["steps"]
    if getattr(fx, "ens_state", None) is None:
        fx.ens_state = ctypes.c_void_p()
        assert fx.lib.smk_ensemble_state_create(fx.ensemble, ctypes.c_int64(O), ctypes.byref(fx.ens_state)) == SMK_OK
    x = args.pop("x")
    return {**args, "state": fx.ens_state, "x_t": x}


def step_args(fx) -> dict:
    """smk_model_step on 3 rows of the multitask model (its state made once)."""
    args = forward_args("model", fx.model, fx.lib)
    del args["steps"]
    if getattr(fx, "state", None) is None:
        fx.state = ctypes.c_void_p()
        assert fx.lib.smk_model_state_create(fx.model, ctypes.c_int64(O), ctypes.byref(fx.state)) == SMK_OK
    x = args.pop("x")
    return {**args, "state": fx.state, "x_t": x}


def ids_args(model, lib) -> dict:
    """smk_model_forward_ids on 3 rows of 2 steps of the tagger fixture."""
    heads = ctypes.c_int64()
    assert lib.smk_model_head_count(model, ctypes.byref(heads)) == SMK_OK
    outs = []
    for h in range(heads.value):
        size = ctypes.c_int64()
        assert lib.smk_model_head_size(model, ctypes.c_int64(h), ctypes.byref(size)) == SMK_OK
        outs.append(Out(O * 2 * size.value * 4))
    return {"model": model, "ids": In(i64([(3 * i) % 11 for i in range(O * 2)])), "batch": O, "steps": 2,
            "lengths": In(i64([2, 1, 2])), "outputs": Table(outs), "output_count": heads.value}



def sampled_tables(lib, model, rows: int, draws: int = 2) -> dict:
    """Every head of `model` sampled (`draws` per row) with its outputs written too."""
    heads = ctypes.c_int64()
    assert lib.smk_model_head_count(model, ctypes.byref(heads)) == SMK_OK
    outs = []
    for h in range(heads.value):
        size = ctypes.c_int64()
        assert lib.smk_model_head_size(model, ctypes.c_int64(h), ctypes.byref(size)) == SMK_OK
        outs.append(Out(rows * size.value * 4))
    n = heads.value
    return {"sample_options": Table([In(sample_options(draws)) for _ in range(n)]), "seed": 11,
            "outputs": Table(outs), "indices": Table([Out(rows * draws * 8) for _ in range(n)]),
            "log_probs": Table([Out(rows * draws * 4) for _ in range(n)]), "output_count": n}


def single_head_model(fx):
    """A model whose every head can be sampled (ensemble_a: one softmax head)."""
    if getattr(fx, "softmax_model", None) is None:
        fx.softmax_model = ctypes.c_void_p()
        path = os.path.join(ROOT, "examples", "models", "ensemble_a.safetensors")
        assert fx.lib.smk_model_load(path.encode(), ctypes.byref(fx.softmax_model)) == SMK_OK
        fx.softmax_state = ctypes.c_void_p()
        assert fx.lib.smk_model_state_create(fx.softmax_model, ctypes.c_int64(O), ctypes.byref(fx.softmax_state)) == SMK_OK
    return fx.softmax_model


# Sampled forwards: the options, lengths and pointer tables are copied before any write.
RECIPES.update({
    "smk_model_forward_sampled": (
        lambda F, fx: {"model": single_head_model(fx), "x": In(f32(values(O * 10))), "batch": O, "steps": 1, "features": 10,
                       "lengths": In(i64([1, 0, 1])), **sampled_tables(fx.lib, single_head_model(fx), O)},
        ("sample_options", "sample_options[0]", "lengths", "outputs", "indices", "log_probs")),
    "smk_model_forward_ids_sampled": (
        lambda F, fx: {"model": fx.tagger, "ids": In(i64([(3 * i) % 11 for i in range(O * 2)])), "batch": O, "steps": 2,
                       "lengths": In(i64([2, 1, 2])), **sampled_tables(fx.lib, fx.tagger, O * 2)},
        ("sample_options", "sample_options[0]", "lengths", "outputs", "indices", "log_probs")),
    "smk_model_step_sampled": (
        lambda F, fx: {"model": single_head_model(fx), "state": fx.softmax_state, "x_t": In(f32(values(O * 10))), "batch": O,
                       "features": 10, **sampled_tables(fx.lib, single_head_model(fx), O)},
        ("sample_options", "sample_options[0]", "outputs", "indices", "log_probs")),
    "smk_ensemble_forward_sampled": (
        lambda F, fx: {"ensemble": fx.ensemble, "x": In(f32(values(O * 10))), "batch": O, "steps": 1, "features": 10,
                       **sampled_tables(fx.lib, single_head_model(fx), O)},
        ("sample_options", "sample_options[0]", "outputs", "indices", "log_probs")),
})

# The chunked cross-entropy gradient: every input read before grad is written.
RECIPES.update({
    "smk_cross_entropy_grad_chunk": (
        lambda F, _: {**{k: v for k, v in ce_chunk(F).items() if k != "loss"},
                      "target": In(i64([(r * 2) % N for r in range(R)])), "grad": Out(C * F.size),
                      "ignore_index": -100, "divisor": 2.5}, ()),
})

def ensemble_state(fx):
    """A state of the two-member ensemble for 3 rows (made once; its members
    carry nothing from step to step, so every call gives the same outputs)."""
    if getattr(fx, "ens_state", None) is None:
        fx.ens_state = ctypes.c_void_p()
        assert fx.lib.smk_ensemble_state_create(fx.ensemble, ctypes.c_int64(O), ctypes.byref(fx.ens_state)) == SMK_OK
    return fx.ens_state


# Ensembles sampled with lengths, on token ids and one step at a time.
RECIPES.update({
    "smk_ensemble_forward_lengths_sampled": (
        lambda F, fx: {"ensemble": fx.ensemble, "x": In(f32(values(O * 10))), "batch": O, "steps": 1, "features": 10,
                       "lengths": In(i64([1, 0, 1])), **sampled_tables(fx.lib, single_head_model(fx), O)},
        ("sample_options", "sample_options[0]", "lengths", "outputs", "indices", "log_probs")),
    "smk_ensemble_forward_ids_sampled": (
        lambda F, fx: {"ensemble": tagger_ensemble(fx), "ids": In(i64([(3 * i) % 11 for i in range(O * 2)])), "batch": O,
                       "steps": 2, "lengths": In(i64([2, 1, 2])), **sampled_tables(fx.lib, fx.tagger, O * 2)},
        ("sample_options", "sample_options[0]", "lengths", "outputs", "indices", "log_probs")),
    "smk_padding_lengths": (
        lambda F, fx: {"ids": In(i64([3, 4, 0, 0, 5, 6, 7, 8, 1, 0, 0, 0])), "batch": O, "steps": 4, "padding_id": 0,
                       "lengths": Out(O * 8)},
        ()),
    "smk_ensemble_step_sampled": (
        lambda F, fx: {"ensemble": fx.ensemble, "state": ensemble_state(fx), "x_t": In(f32(values(O * 10))), "batch": O,
                       "features": 10, **sampled_tables(fx.lib, single_head_model(fx), O)},
        ("sample_options", "sample_options[0]", "outputs", "indices", "log_probs")),
})


class Fixtures:
    """Handles the model recipes need, made once."""
    def __init__(self, lib):
        self.lib = lib
        models = os.path.join(ROOT, "examples", "models")
        self.model = ctypes.c_void_p()
        check(lib.smk_model_load(os.path.join(models, "multitask.safetensors").encode(), ctypes.byref(self.model)) == SMK_OK,
              "fixture: smk_model_load(multitask)")
        members = []
        for name in ("ensemble_a", "ensemble_b"):
            m = ctypes.c_void_p()
            check(lib.smk_model_load(os.path.join(models, f"{name}.safetensors").encode(), ctypes.byref(m)) == SMK_OK,
                  f"fixture: smk_model_load({name})")
            members.append(m)
        self.tagger = ctypes.c_void_p()
        tagger = os.path.join(ROOT, "Tests", "fixtures", "recurrent", "tagger.safetensors")
        check(lib.smk_model_load(tagger.encode(), ctypes.byref(self.tagger)) == SMK_OK, "fixture: smk_model_load(tagger)")
        self.ensemble = ctypes.c_void_p()
        table = (ctypes.c_void_p * 2)(*[m.value for m in members])
        check(lib.smk_ensemble_create(table, ctypes.c_int64(2), 0, ctypes.byref(self.ensemble)) == SMK_OK,
              "fixture: smk_ensemble_create")
        for m in members:
            lib.smk_model_free(m)


# ---------------------------------------------------------------- the engine

def buffers_of(params, args):
    """[(label, buffer, role)] for every paired buffer, table entries included."""
    out = []
    for kind, pname in params:
        a = args[pname]
        if kind in ("in", "out"):
            out.append((pname, a, kind))
        elif kind in ("in_table", "out_table"):
            out.append((pname, a, "in"))
            for k, e in enumerate(a.entries):
                out.append((f"{pname}[{k}]", e, "in" if kind == "in_table" else "out"))
    return out


class Layout:
    """Where each buffer lives for one call: separate blocks, or one shared arena for a pair."""
    def __init__(self, bufs, pair=None):
        self.blocks = []      # ctypes arrays kept alive
        self.addr = {}        # label -> address
        placed = {}
        if pair is not None:
            (la, a), (lb, b), shift = pair
            arena = (ctypes.c_uint64 * ((max(a.size, shift + b.size) + 7) // 8))()
            self.blocks.append(arena)
            base = ctypes.addressof(arena)
            placed = {la: base, lb: base + shift}
        for label, buf, _ in bufs:
            if label in placed:
                self.addr[label] = placed[label]
                continue
            block = (ctypes.c_uint64 * ((buf.size + 7) // 8 or 1))()
            self.blocks.append(block)
            self.addr[label] = ctypes.addressof(block)

    def fill(self, bufs):
        # Sentinel everywhere first, then inputs (an input wins the bytes it
        # shares with an output, so the arguments stay valid), tables last.
        for block in self.blocks:
            ctypes.memset(ctypes.addressof(block), SENTINEL, ctypes.sizeof(block))
        for label, buf, role in bufs:
            if role == "in" and not isinstance(buf, Table):
                ctypes.memmove(self.addr[label], buf.data, buf.size)
        for label, buf, role in bufs:
            if isinstance(buf, Table):
                ptrs = struct.pack(f"<{len(buf.entries)}Q", *[self.addr[f"{label}[{k}]"] for k in range(len(buf.entries))])
                ctypes.memmove(self.addr[label], ptrs, len(ptrs))

    def snapshot(self) -> list[bytes]:
        return [bytes(block) for block in self.blocks]

    def read(self, label, size) -> bytes:
        return ctypes.string_at(self.addr[label], size)


def call(lib, fname, params_full, args, layout):
    fn = getattr(lib, fname)
    fn.restype = ctypes.c_int
    fn.argtypes = [ctype_of(t) for t, _ in params_full]
    argv = []
    for (t, pname), in zip(params_full):
        a = args[pname]
        if isinstance(a, (In, Out, Table)):
            argv.append(layout.addr[pname])
        else:
            argv.append(a)
    return fn(*argv)


def placements(a, b):
    """Shifts putting b partly over a: 8 bytes in, and at a's last 8-byte boundary."""
    shifts = {8, ((a.size - 1) // 8) * 8}
    return sorted(s for s in shifts if 0 < s < a.size)


def check_function(lib, fname, params_full, opaque, recipe, copied, fixtures):
    F = Precision(fname.rsplit("_", 1)[1])
    args = {k: v for k, v in recipe(F, fixtures).items() if v is not None}
    names = [n for _, n in params_full]
    check(sorted(args) == sorted(names), f"{fname}: recipe arguments {sorted(args)} != header parameters {sorted(names)}")
    if sorted(args) != sorted(names):
        return
    params = [(classify(t, n, opaque), n) for t, n in params_full]
    for kind, n in params:
        a = args[n]
        want = {"in": In, "out": Out, "in_table": Table, "out_table": Table}.get(kind)
        if want is not None and not isinstance(a, want):
            check(False, f"{fname}: recipe gives {n} as {type(a).__name__}, the header makes it {kind}")
            return
        if kind in ("in_table", "out_table"):
            entry = In if kind == "in_table" else Out
            if not all(isinstance(e, entry) for e in a.entries):
                check(False, f"{fname}: entries of {n} must be {entry.__name__}")
                return
    bufs = buffers_of(params, args)

    # The recipe is valid: separate buffers succeed.
    base = Layout(bufs)
    base.fill(bufs)
    status = call(lib, fname, params_full, args, base)
    check(status == SMK_OK, f"{fname}: recipe call with separate buffers returned {status}: "
          f"{lib.smk_last_error_message().decode()}")
    if status != SMK_OK:
        return
    outputs = [(label, buf) for label, buf, role in bufs if role == "out"]
    expected = {label: base.read(label, buf.size) for label, buf in outputs}

    for ia, (la, a, ra) in enumerate(bufs):
        for lb, b, rb in bufs[ia + 1:]:
            if ra != "out" and rb != "out":
                continue
            if la == lb.split("[")[0] or lb == la.split("[")[0]:
                # a table and one of its own entries
                allowed = True
            else:
                allowed = la in copied or lb in copied
            tried = 0
            for (l1, b1), (l2, b2) in (((la, a), (lb, b)), ((lb, b), (la, a))):
                for shift in placements(b1, b2):
                    tried += 1
                    what = f"{fname}: {l2} placed {shift} bytes into {l1}"
                    lay = Layout(bufs, ((l1, b1), (l2, b2), shift))
                    lay.fill(bufs)
                    if allowed:
                        # copied first: the call must not notice the overlap
                        st = call(lib, fname, params_full, args, lay)
                        check(st == SMK_OK, f"{what} (a table copied before any write): returned {st}")
                        if st == SMK_OK:
                            # outputs are compared unless one was itself overwritten by a
                            # table's bytes after the call (it never is: tables are inputs)
                            for label, buf in outputs:
                                check(lay.read(label, buf.size) == expected[label],
                                      f"{what} (a table copied before any write): {label} differs from separate buffers")
                        continue
                    before = lay.snapshot()
                    st = call(lib, fname, params_full, args, lay)
                    msg = lib.smk_last_error_message().decode() if st != SMK_OK else ""
                    check(st == SMK_ERROR_INVALID_ARGUMENT and "overlap" in msg,
                          f"{what}: expected SMK_ERROR_INVALID_ARGUMENT naming the overlap, got {st} {msg!r}")
                    check(lay.snapshot() == before, f"{what}: the refused call wrote to its buffers")
            check(tried > 0, f"{fname}: {la} and {lb} are too small to overlap partly: enlarge the recipe")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", required=True)
    ap.add_argument("--header", required=True)
    args = ap.parse_args()
    protos, opaque = parse_header(args.header)
    check(len(protos) > 0, "no prototypes found in the header")
    lib = ctypes.CDLL(os.path.abspath(args.library))
    lib.smk_last_error_message.restype = ctypes.c_char_p
    for name in ("smk_model_load", "smk_ensemble_create", "smk_ensemble_model", "smk_model_input_features",
                 "smk_model_head_count", "smk_model_head_size", "smk_model_free", "smk_ensemble_free",
                 "smk_model_state_create"):
        getattr(lib, name).argtypes = [ctype_of(t) for t, _ in protos[name][1]]
    fixtures = Fixtures(lib)
    covered = uncovered = 0
    for fname, (_, params_full) in protos.items():
        kinds = [classify(t, n, opaque) for t, n in params_full]
        n_bufs = sum(1 for k in kinds if k in ("in", "out")) + sum(2 for k in kinds if k.endswith("_table"))
        has_out = any(k in ("out", "out_table") for k in kinds)
        if not has_out or n_bufs < 2:
            uncovered += 1  # nothing to pair: no caller buffer written, or only one buffer
            continue
        key = re.sub(r"_(f32|f64|f16|bf16)$", "", fname)
        if key not in RECIPES:
            check(False, f"{fname} has (input, output) buffer pairs but no recipe in {os.path.basename(__file__)} "
                  f"RECIPES: add one (valid arguments for one call) so its overlaps are checked")
            continue
        recipe, copied = RECIPES[key]
        covered += 1
        check_function(lib, fname, params_full, opaque, recipe, set(copied), fixtures)
    lib.smk_model_free(fixtures.model)
    lib.smk_ensemble_free(fixtures.ensemble)
    print(f"check_overlap: {covered} functions with buffer pairs checked, {uncovered} without pairs; "
          f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
