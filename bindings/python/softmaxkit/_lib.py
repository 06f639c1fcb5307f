"""Finds and loads libsoftmaxkit, declares every C function once, checks the version.

The declarations below mirror include/softmaxkit.h one for one, in header
order; Tests/abi/check_abi.py compares them with the header and the library's
exports. A symbol missing from the library fails the import, naming it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any, Callable

from ._errors import error_for

__all__ = ["lib", "library_path", "check", "DECLARATIONS", "ABI_MAJOR"]

# The major version of the C ABI this binding speaks.
ABI_MAJOR = 0

_c = ctypes
VP = _c.c_void_p
I64 = _c.c_int64
STATUS = _c.c_int  # smk_status is a C enum: int-sized

# (name, restype, argtypes), in include/softmaxkit.h order. The C prototype
# is the comment above each group.
DECLARATIONS: list[tuple[str, Any, list[Any]]] = [
    # uint32_t smk_version(void);
    ("smk_version", _c.c_uint32, []),
    # const char *smk_version_string(void);
    ("smk_version_string", _c.c_char_p, []),
    # const char *smk_status_string(smk_status status);
    ("smk_status_string", _c.c_char_p, [STATUS]),
    # const char *smk_last_error_message(void);
    ("smk_last_error_message", _c.c_char_p, []),
    # smk_status smk_softmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_softmax_f32", STATUS, [VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_softmax_f64", STATUS, [VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_log_softmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, float temperature);
    ("smk_log_softmax_f32", STATUS, [VP, VP, I64, I64, I64, _c.c_float]),
    ("smk_log_softmax_f64", STATUS, [VP, VP, I64, I64, I64, _c.c_double]),
    # smk_status smk_logsumexp_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner);
    ("smk_logsumexp_f32", STATUS, [VP, VP, I64, I64, I64]),
    ("smk_logsumexp_f64", STATUS, [VP, VP, I64, I64, I64]),
    # smk_status smk_sigmoid_f32(const float *x, float *y, int64_t count);
    ("smk_sigmoid_f32", STATUS, [VP, VP, I64]),
    ("smk_sigmoid_f64", STATUS, [VP, VP, I64]),
    # smk_status smk_log_sigmoid_f32(const float *x, float *y, int64_t count);
    ("smk_log_sigmoid_f32", STATUS, [VP, VP, I64]),
    ("smk_log_sigmoid_f64", STATUS, [VP, VP, I64]),
]


def _candidates() -> list[Path | str]:
    here = Path(__file__).resolve().parent
    found: list[Path | str] = []
    env = os.environ.get("SOFTMAXKIT_LIBRARY")
    if env:
        found.append(Path(env))
    found.append(here / "libsoftmaxkit.so")
    # A checkout of the repository: bindings/python/softmaxkit -> repo root.
    found.append(here.parents[2] / ".build" / "release" / "libsoftmaxkit.so")
    system = ctypes.util.find_library("softmaxkit")
    found.append(system or "libsoftmaxkit.so")
    return found


def _load() -> tuple[ctypes.CDLL, str]:
    tried = []
    for cand in _candidates():
        if isinstance(cand, Path) and not cand.exists():
            tried.append(f"{cand} (not found)")
            continue
        try:
            return ctypes.CDLL(str(cand)), str(cand)
        except OSError as e:  # wrong architecture, missing dependency, ...
            tried.append(f"{cand} ({e})")
    raise ImportError(
        "softmaxkit: could not load libsoftmaxkit.so; tried:\n  " + "\n  ".join(tried)
        + "\nBuild it with `make lib` or point SOFTMAXKIT_LIBRARY at it."
    )


lib, library_path = _load()

for _name, _restype, _argtypes in DECLARATIONS:
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        raise ImportError(f"softmaxkit: {library_path} lacks the symbol {_name}; "
                          "it is older than this binding") from None
    _fn.restype = _restype
    _fn.argtypes = _argtypes

def check_version(version: int, path: str, major: int = ABI_MAJOR) -> None:
    """Refuses a library whose major version differs from this binding's."""
    if version // 10000 != major:
        raise ImportError(
            f"softmaxkit: {path} has ABI version {version // 10000}.{version // 100 % 100}."
            f"{version % 100}, this binding needs major version {major}"
        )


check_version(lib.smk_version(), library_path)

_last_error: Callable[[], bytes] = lib.smk_last_error_message


def check(status: int) -> None:
    """Raises the exception for a nonzero status with this thread's message."""
    if status:
        raise error_for(status, _last_error().decode("utf-8", "replace"))
