"""Reading and writing safetensors files with numpy alone (the format is an
8-byte little-endian header length, a JSON header, then the raw tensors).
Used by Model.save when the `safetensors` package is not installed, and by
the example and test scripts. The library does its own validated parsing;
this reader trusts its input and is only used on files this package wrote
or the library already accepted."""
from __future__ import annotations

import json
import struct
from typing import Mapping, Optional

import numpy as np

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}
_NAMES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16"}


def encode(tensors: Mapping[str, np.ndarray], metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """The bytes of a safetensors file holding `tensors` (F64, F32 or F16; other
    real dtypes are stored as F32) and the string map `metadata`."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, value in tensors.items():
        a = np.asarray(value)
        dt = a.dtype.newbyteorder("<") if a.dtype.kind == "f" else np.dtype("<f4")
        if dt not in _NAMES:
            dt = np.dtype("<f4")
        raw = np.ascontiguousarray(a, dtype=dt).tobytes()
        header[name] = {"dtype": _NAMES[dt], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def decode(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of safetensors bytes (F64/F32/F16 only)."""
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return out, meta


def save_file(tensors: Mapping[str, np.ndarray], path, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes `tensors` to `path`, through the `safetensors` package when it is
    installed, else with :func:`encode`."""
    try:
        from safetensors.numpy import save_file as st_save  # type: ignore
    except ImportError:
        st_save = None
    if st_save is not None:
        st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path), metadata=dict(metadata or {}))
        return
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata))
