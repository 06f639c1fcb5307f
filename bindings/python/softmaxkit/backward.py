"""Vector-Jacobian products of softmax, log_softmax and sigmoid, given the
forward outputs (PyTorch's ``_softmax_backward_data`` and friends)."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _lib
from ._arrays import F32, extents, ptr
from ._common import as_inputs, same_shape

__all__ = ["softmax_backward", "log_softmax_backward", "sigmoid_backward"]

_L = _lib.lib
_check = _lib.check


def _backward(table: tuple, y: Any, dy: Any, axis: int) -> np.ndarray:
    a, d = as_inputs((y, "y"), (dy, "dy"))
    same_shape(a, d, ("y", "dy"))
    outer, n, inner = extents(a.shape, axis)
    dx = np.empty(a.shape, a.dtype)
    _check((table[0] if a.dtype == F32 else table[1])(ptr(a), ptr(d), ptr(dx), outer, n, inner))
    return dx


def softmax_backward(y: Any, dy: Any, axis: int = -1) -> np.ndarray:
    """``dx = y * (dy - sum(dy * y, axis))`` for ``y = softmax(x, axis)``."""
    return _backward((_L.smk_softmax_backward_f32, _L.smk_softmax_backward_f64), y, dy, axis)


def log_softmax_backward(y: Any, dy: Any, axis: int = -1) -> np.ndarray:
    """``dx = dy - exp(y) * sum(dy, axis)`` for ``y = log_softmax(x, axis)``."""
    return _backward((_L.smk_log_softmax_backward_f32, _L.smk_log_softmax_backward_f64), y, dy, axis)


def sigmoid_backward(y: Any, dy: Any) -> np.ndarray:
    """``dx = dy * y * (1 - y)`` element-wise for ``y = sigmoid(x)``."""
    a, d = as_inputs((y, "y"), (dy, "dy"))
    same_shape(a, d, ("y", "dy"))
    dx = np.empty(a.shape, a.dtype)
    fn = _L.smk_sigmoid_backward_f32 if a.dtype == F32 else _L.smk_sigmoid_backward_f64
    _check(fn(ptr(a), ptr(d), ptr(dx), a.size))
    return dx
