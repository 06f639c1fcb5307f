"""SoftmaxKit: fast softmax variants and multi-head forward passes.

A thin ctypes binding of libsoftmaxkit (the same kernels C and Swift call).
Needs numpy and nothing else.
"""
from __future__ import annotations

from . import _lib
from ._errors import ArgumentError, Error, FileError, InternalError, OutOfMemoryError
from .functional import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from .variants import (ensemble_mean, hierarchical_softmax, masked_log_softmax, masked_softmax, partitioned,
                       segment_softmax)
from .selection import argmax, hardmax, softmax_topk, topk
from .sampling import sample
from .losses import binary_cross_entropy_with_logits, cross_entropy, nll_loss
from .backward import log_softmax_backward, sigmoid_backward, softmax_backward
from .model import Ensemble, Head, Model, State, load_ensemble
from ._arrays import INT32_MAX, INT32_MIN, integer, release_buffers
from . import special  # softmaxkit.special: scipy.special's softmax family, scipy's defaults

__version__ = "0.2.0"

__all__ = [
    "Error", "ArgumentError", "FileError", "OutOfMemoryError", "InternalError",
    "version", "cpu", "library_path", "set_num_threads", "get_num_threads", "release_buffers",
    "softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid",
    "masked_softmax", "masked_log_softmax", "partitioned", "segment_softmax", "hierarchical_softmax",
    "ensemble_mean", "hardmax", "argmax", "topk", "softmax_topk", "sample",
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits",
    "softmax_backward", "log_softmax_backward", "sigmoid_backward",
    "Model", "Ensemble", "Head", "State", "load_ensemble", "from_keras", "from_onnx",
]

library_path: str = _lib.library_path


def from_keras(model, *, heads=None):
    """A Model (or Ensemble) computing what the built Keras 3 `model`
    computes; see :mod:`softmaxkit.keras_import`. Needs ``keras`` only when
    called (``pip install 'softmaxkit[keras]'``)."""
    from .keras_import import from_keras as convert
    return convert(model, heads=heads)


def from_onnx(model, *, heads=None):
    """A Model (or Ensemble) computing what the ONNX graph `model` (a path
    or an ``onnx.ModelProto``) computes; see :mod:`softmaxkit.onnx_import`.
    Needs ``onnx`` only when called (``pip install 'softmaxkit[onnx]'``)."""
    from .onnx_import import from_onnx as convert
    return convert(model, heads=heads)


def version() -> str:
    """The version string of the loaded library ("MAJOR.MINOR.PATCH")."""
    return _lib.lib.smk_version_string().decode()


def cpu() -> str:
    """The CPU path the loaded kernels run: "avx512", "avx2", "sse2" (the
    x86-64 levels the shipped library chooses from at load, overridable with
    the environment variable ``SOFTMAXKIT_CPU`` set before the first call), or
    "generic"; "none" when the level asked for cannot run here (every call
    then raises the reason)."""
    return _lib.lib.smk_cpu_path().decode()


def set_num_threads(n: int) -> None:
    """Sets how many threads one call may use, process-wide; ``n < 1`` restores
    the default (``SOFTMAXKIT_NUM_THREADS``, else the cores this process may
    run on, i.e. its CPU affinity). Only
    calls over at least 2**19 elements are split; results never depend on it.
    `n` is an integer in the int32 range (ArgumentError otherwise)."""
    _lib.lib.smk_set_num_threads(integer(n, "n", INT32_MIN, INT32_MAX))


def get_num_threads() -> int:
    """How many threads one call may use."""
    return int(_lib.lib.smk_get_num_threads())
