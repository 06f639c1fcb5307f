"""Inputs above the library's parallel threshold (2^19 elements) run rows on
several threads: the results must equal the references and the same calls
made with one thread."""
import ctypes

import numpy as np
import pytest

import softmaxkit as smk
from softmaxkit import _lib
import references as ref

RNG = np.random.default_rng(17)
X = RNG.normal(scale=4, size=(96, 8192))          # 786432 elements > 2^19


def one_thread(fn):
    old = _lib.lib.smk_get_num_threads()
    _lib.lib.smk_set_num_threads(1)
    try:
        return fn()
    finally:
        _lib.lib.smk_set_num_threads(old)


CASES = {
    "masked_softmax": lambda x: smk.masked_softmax(x, np.arange(x.shape[1]) % 3 != 0),
    "masked_log_softmax": lambda x: smk.masked_log_softmax(x, np.arange(x.shape[1]) % 3 != 0),
    "partitioned": lambda x: smk.partitioned(x, [(4096, "softmax"), (4096, "sigmoid")]),
    "segment_softmax": lambda x: smk.segment_softmax(x, [0, 100, 4000, 8192]),
    "hierarchical": lambda x: smk.hierarchical_softmax(x[:, :2], x, [4096, 4096]),
    "hardmax": lambda x: smk.hardmax(x),
    "argmax": lambda x: smk.argmax(x),
    "topk": lambda x: smk.topk(x, 8),
    "softmax_topk": lambda x: smk.softmax_topk(x, 8),
    "cross_entropy": lambda x: smk.cross_entropy(x, np.arange(x.shape[0]) % x.shape[1], return_grad=True),
    "softmax_backward": lambda x: smk.softmax_backward(ref.softmax(x), x),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_threaded_equals_one_thread(name):
    many = CASES[name](X)
    one = one_thread(lambda: CASES[name](X))
    for a, b in zip(many if isinstance(many, tuple) else (many,), one if isinstance(one, tuple) else (one,)):
        np.testing.assert_array_equal(a, b)


def test_threaded_matches_references():
    np.testing.assert_allclose(CASES["masked_softmax"](X), ref.masked_softmax(X, np.arange(8192) % 3 != 0), rtol=1e-13)
    p, i = CASES["softmax_topk"](X)
    np.testing.assert_array_equal(i, np.argsort(-X, axis=1, kind="stable")[:, :8])
    np.testing.assert_allclose(p, np.take_along_axis(ref.softmax(X), i, 1), rtol=1e-13)
    loss, _ = CASES["cross_entropy"](X)
    np.testing.assert_allclose(loss, ref.cross_entropy(X, np.arange(96) % 8192), rtol=1e-13)
    np.testing.assert_array_equal(CASES["argmax"](X), np.argmax(X, 1))
