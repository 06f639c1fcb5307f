"""Vector-Jacobian products of softmax, log_softmax and sigmoid, given the
forward outputs (PyTorch's ``_softmax_backward_data`` and friends). `y` and
`dy` of one float16 or ``ml_dtypes.bfloat16`` dtype give dx in that dtype
(float32 or wider inside, rounded once); other dtypes as elsewhere."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _lib
from ._arrays import prepare, ptr
from ._common import as_inputs, half_inputs, same_shape

__all__ = ["softmax_backward", "log_softmax_backward", "sigmoid_backward"]

_check = _lib.check
_SOFTMAX_BACKWARD = _lib.kernel("smk_softmax_backward")
_LOG_SOFTMAX_BACKWARD = _lib.kernel("smk_log_softmax_backward")
_SIGMOID_BACKWARD = _lib.kernel("smk_sigmoid_backward")


def _backward(fns: tuple, y: Any, dy: Any, axis: Any, elementwise: bool = False) -> np.ndarray:
    # y and dy of one float16 / bfloat16 dtype keep it (float32 inside).
    halves = half_inputs(y, dy)
    a, d = halves if halves else as_inputs((y, "y"), (dy, "dy"))
    same_shape(a, d, ("y", "dy"))
    a, dx, yp, dxp, e, k = prepare(a, axis, half=halves is not None)
    if elementwise:  # axis None: the entry's n is the element count
        status = fns[k](yp, ptr(d), dxp, e[1])
    else:
        status = fns[k](yp, ptr(d), dxp, e[0], e[1], e[2])
    if status:
        _check(status)
    return dx


def softmax_backward(y: Any, dy: Any, axis: int = -1) -> np.ndarray:
    """``dx = y * (dy - sum(dy * y, axis))`` for ``y = softmax(x, axis)``."""
    return _backward(_SOFTMAX_BACKWARD, y, dy, axis)


def log_softmax_backward(y: Any, dy: Any, axis: int = -1) -> np.ndarray:
    """``dx = dy - exp(y) * sum(dy, axis)`` for ``y = log_softmax(x, axis)``."""
    return _backward(_LOG_SOFTMAX_BACKWARD, y, dy, axis)


def sigmoid_backward(y: Any, dy: Any) -> np.ndarray:
    """``dx = dy * y * (1 - y)`` element-wise for ``y = sigmoid(x)``."""
    return _backward(_SIGMOID_BACKWARD, y, dy, None, elementwise=True)
