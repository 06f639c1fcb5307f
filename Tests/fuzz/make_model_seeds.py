#!/usr/bin/env python3
"""Writes the seed corpus of Tests/fuzz/fuzz_model_load.c into
Tests/fuzz/corpus/fuzz_model_load/: one small valid model in the schema of
include/softmaxkit.h (safetensors, architecture under the "softmaxkit"
metadata key) and the malformed files of docs/DESIGN.md "Bad input" made from
it. Byte 0 of each seed is the harness's mode: 0 = spec from the file's
metadata, 1 = a side-file spec_json, NUL, then the file."""
import hashlib
import json
import os
import struct

SPEC = {"softmaxkit": 1, "input": {"features": 4},
        "layers": [{"name": "fc1", "input": "input", "activation": "relu"},
                   {"name": "out", "input": "fc1"}],
        "heads": [{"name": "probs", "layer": "out", "output": "softmax"},
                  {"name": "logp", "layer": "out", "output": "log_softmax", "temperature": 2.0}]}
TENSORS = [("fc1.weight", [5, 4]), ("fc1.bias", [5]), ("out.weight", [3, 5]), ("out.bias", [3])]


def safetensors(tensors=TENSORS, spec=SPEC, dtype="F32", header_patch=None, data_patch=None, header_len=None):
    header, data, off = {}, b"", 0
    if spec is not None:
        header["__metadata__"] = {"softmaxkit": json.dumps(spec)}
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        blob = struct.pack(f"<{n}f", *[((i * 7) % 11 - 5) / 10 for i in range(n)])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        data += blob
        off += len(blob)
    if header_patch:
        header_patch(header)
    h = json.dumps(header).encode()
    if isinstance(header_patch, bytes):
        h = header_patch
    if data_patch:
        data = data_patch(data)
    return struct.pack("<Q", len(h) if header_len is None else header_len) + h + data


def seeds():
    good = safetensors()
    yield b"\0" + good
    # truncated at every kind of position
    for cut in (0, 1, 7, 8, 9, 20, len(good) // 2, len(good) - 5, len(good) - 1):
        yield b"\0" + good[:cut]
    yield b"\0" + struct.pack("<Q", 1 << 40) + good[8:]            # header length past the end
    yield b"\0" + struct.pack("<Q", (1 << 64) - 1) + good[8:]      # header length overflows
    yield b"\0" + struct.pack("<Q", 200_000_000) + good[8:]        # huge header
    yield b"\0" + struct.pack("<Q", 9) + b"not json!"              # not JSON
    yield b"\0" + struct.pack("<Q", 4) + b"\xff\xfe{}"             # not UTF-8
    yield b"\0" + safetensors(header_patch=lambda h: h["fc1.bias"].update(data_offsets=[0, 20]))      # overlap
    yield b"\0" + safetensors(header_patch=lambda h: h["out.bias"].update(data_offsets=[200, 212]))   # out of bounds
    yield b"\0" + safetensors(header_patch=lambda h: h["out.bias"].update(data_offsets=[12, 8]))     # reversed
    yield b"\0" + safetensors(header_patch=lambda h: h["fc1.weight"].update(shape=[5, 5]))          # wrong byte count
    yield b"\0" + safetensors(header_patch=lambda h: h["fc1.weight"].update(dtype="Q7"))            # unknown dtype
    yield b"\0" + safetensors(header_patch=lambda h: h["fc1.weight"].update(shape=[1 << 40, 1 << 40]))  # overflow
    yield b"\0" + safetensors(header_patch=lambda h: h["fc1.weight"].update(shape=[-1, 4]))
    yield b"\0" + safetensors(tensors=TENSORS[:3])                                                # missing tensor
    yield b"\0" + safetensors(tensors=[("fc1.weight", [5, 4]), ("fc1.bias", [5]), ("out.weight", [3, 6]),
                                       ("out.bias", [3])])                                        # shapes do not chain
    yield b"\0" + safetensors(spec=None)                                                          # no spec
    raw = safetensors()
    hl = struct.unpack("<Q", raw[:8])[0]
    h = raw[8:8 + hl]
    dup = h[:-1] + b', "fc1.bias": ' + json.dumps({"dtype": "F32", "shape": [5], "data_offsets": [80, 100]}).encode() + b"}"
    yield b"\0" + struct.pack("<Q", len(dup)) + dup + raw[8 + hl:]                               # duplicate name
    for bad in ({"softmaxkit": 2}, {**SPEC, "layers": [{"name": "out", "input": "out"}]},         # cycle
                {**SPEC, "heads": [{"name": "h", "layer": "nope", "output": "softmax"}]},
                {**SPEC, "heads": [{"name": "h", "layer": "out", "output": "masked_softmax", "mask": [1, 0]}]},
                {**SPEC, "heads": [{"name": "h", "layer": "out", "output": "partitioned",
                                    "segments": [[2, "softmax"], [2, "sigmoid"]]}]},
                {**SPEC, "input": {"features": -4}}):
        yield b"\0" + safetensors(spec=bad)
        yield b"\1" + json.dumps(bad).encode() + b"\0" + safetensors(spec=None)
    yield b"\1" + json.dumps(SPEC).encode() + b"\0" + safetensors(spec=None)                     # side file
    yield b"\1" + b'{"softmaxkit": 1, "layers": [' + b"\0" + good                                # truncated JSON
    yield b"\0" + safetensors(dtype="F64")
    yield b"\0" + safetensors(dtype="F16")


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_model_load")
    os.makedirs(out, exist_ok=True)
    n = 0
    for s in seeds():
        with open(os.path.join(out, "seed-" + hashlib.sha1(s).hexdigest()[:16]), "wb") as f:
            f.write(s)
        n += 1
    print(f"wrote {n} seeds to {out}")


if __name__ == "__main__":
    main()
