"""float64 numpy references written from PyTorch's and the design's formulas
(PyTorch itself is not needed)."""
import numpy as np


def softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def masked_softmax(x, mask, axis=-1, renormalize=True):
    x = np.asarray(x, np.float64)
    mask = np.broadcast_to(np.asarray(mask) != 0, x.shape)
    if not renormalize:
        return np.where(mask, softmax(x, axis), 0.0)
    z = np.where(mask, x, -np.inf)
    m = np.max(z, axis=axis, keepdims=True)
    e = np.where(mask, np.exp(z - np.where(np.isfinite(m), m, 0)), 0.0)
    s = e.sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mask, e / s, 0.0)


def masked_log_softmax(x, mask, axis=-1):
    x = np.asarray(x, np.float64)
    mask = np.broadcast_to(np.asarray(mask) != 0, x.shape)
    z = np.where(mask, x, -np.inf)
    m = np.max(z, axis=axis, keepdims=True)
    mm = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        lse = np.log(np.where(mask, np.exp(z - mm), 0.0).sum(axis=axis, keepdims=True))
    return np.where(mask, x - mm - lse, -np.inf)


def cross_entropy(logits, target, axis=1, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean"):
    """torch.nn.functional.cross_entropy, transcribed from aten/src/ATen/native/LossNLL.cpp."""
    x = np.moveaxis(np.asarray(logits, np.float64), axis, -1)
    c = x.shape[-1]
    lsm = log_softmax(x, -1)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    eps = label_smoothing
    target = np.asarray(target)
    if target.dtype.kind == "f":
        t = np.moveaxis(target.astype(np.float64), axis, -1)
        t = t * (1 - eps) + eps / c
        per = -(lsm * t * w).sum(-1)
        if reduction == "none":
            return per
        return per.sum() / (per.size if reduction == "mean" else 1)
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    nll = -np.take_along_axis(lsm, safe[..., None], -1)[..., 0] * w[safe]
    nll = np.where(valid, nll, 0.0)
    if eps > 0:  # PyTorch adds the smoothing term only when label_smoothing > 0
        smooth = np.where(valid, -(lsm * w).sum(-1), 0.0)
        per = (1 - eps) * nll + eps / c * smooth
    else:
        per = nll
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return per.sum() / np.where(valid, w[safe], 0.0).sum()


def bce_with_logits(x, y, weight=None, pos_weight=None, reduction="mean"):
    """torch.nn.functional.binary_cross_entropy_with_logits (aten Loss.cpp)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    max_val = np.clip(-x, 0, None)
    if pos_weight is not None:
        log_weight = (np.asarray(pos_weight, np.float64) - 1) * y + 1
        loss = (1 - y) * x + log_weight * (np.log(np.exp(-max_val) + np.exp(-x - max_val)) + max_val)
    else:
        loss = (1 - y) * x + max_val + np.log(np.exp(-max_val) + np.exp(-x - max_val))
    if weight is not None:
        loss = loss * weight
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
