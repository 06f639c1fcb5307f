"""softmaxkit.chunked: a row split into chunks, states merged in any tree,
finished per chunk, equals the whole-row kernels; bad arguments refused."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import chunked as ch


def _run(x, cuts, axis, t):
    parts = [np.take(x, np.arange(a, b), axis=axis) for a, b in zip(cuts, cuts[1:])]
    st = [ch.softmax_state(p, axis, temperature=t) for p in parts]
    # A two-level tree: pairs first, then the pairs' results.
    lvl = [ch.merge_states([a[0] for a in st[i:i + 2]], [a[1] for a in st[i:i + 2]], temperature=t)
           for i in range(0, len(st), 2)]
    m, s = ch.merge_states([a[0] for a in lvl], [a[1] for a in lvl], temperature=t)
    y = np.concatenate([ch.softmax_finish(p, m, s, axis, temperature=t) for p in parts], axis=axis)
    ly = np.concatenate([ch.log_softmax_finish(p, m, s, axis, temperature=t) for p in parts], axis=axis)
    return y, ly, m, s


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 4e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("cuts", [[0, 20], [0, 1, 20], [0, 7, 8, 20], [0, 3, 6, 9, 12, 15, 17, 19, 20]])
def test_chunks_equal_whole_rows(dtype, rtol, cuts):
    x = (np.random.default_rng(0).standard_normal((3, 20, 2)) * 5).astype(dtype)
    for t in (1.0, 0.5):
        y, ly, m, s = _run(x, cuts, 1, t)
        np.testing.assert_allclose(y, sk.softmax(x, 1, temperature=t), rtol=rtol, atol=1e-30)
        np.testing.assert_allclose(ly, sk.log_softmax(x, 1, temperature=t), rtol=rtol)
    _, _, m, s = _run(x, cuts, 1, 1.0)
    np.testing.assert_allclose(ch.logsumexp_finish(m, s, dtype)[:, 0], sk.logsumexp(x, 1), rtol=rtol)


def test_edge_rows_are_exact():
    x = np.array([[1, np.nan, 2, 3], [-np.inf] * 4, [np.inf, 1, 2, 3], [-np.inf, 1, -np.inf, 900]], np.float32)
    y, ly, m, s = _run(x, [0, 1, 3, 4], 1, 1.0)
    np.testing.assert_array_equal(y, sk.softmax(x))
    np.testing.assert_array_equal(ly, sk.log_softmax(x))
    np.testing.assert_array_equal(ch.logsumexp_finish(m, s, np.float32)[:, 0], sk.logsumexp(x))


def test_bad_arguments():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(sk.ArgumentError):
        ch.softmax_state(x, 1, temperature=0.0)
    with pytest.raises(sk.ArgumentError):
        ch.merge_states([], [])
    m, s = ch.softmax_state(x, 1)
    with pytest.raises(sk.ArgumentError):
        ch.softmax_finish(x, m[:1], s, 1)
    with pytest.raises(sk.ArgumentError):
        ch.logsumexp_finish(m, s, np.int32)
