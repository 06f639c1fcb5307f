"""masked_softmax / masked_log_softmax with per-fibre `lengths=` instead of a
mask: the same values as the mask-built call on every axis and dtype, and a
clear error for each bad length (negative, above n, wrong count, not
integers), nothing written."""
from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as smk


def mask_from_lengths(shape, axis, lengths):
    """The full-shape mask (j < lengths[fibre]) the lengths stand for."""
    ax = axis % len(shape)
    j = np.arange(shape[ax]).reshape([-1 if i == ax else 1 for i in range(len(shape))])
    return j < np.expand_dims(np.asarray(lengths), ax)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((4, 7), -1), ((3, 6, 5), 1), ((2, 3, 9), -1), ((5, 2, 3), 0), ((1, 1), -1)])
@pytest.mark.parametrize("renormalize", [True, False])
def test_lengths_equal_the_mask_they_stand_for(dtype, shape, axis, renormalize):
    rng = np.random.default_rng(sum(shape) + axis)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    ax = axis % len(shape)
    fibres = shape[:ax] + shape[ax + 1:]
    lengths = rng.integers(0, shape[ax] + 1, fibres)
    lengths.flat[0] = 0  # an empty fibre
    lengths.flat[-1] = shape[ax]  # a full one
    mask = mask_from_lengths(shape, axis, lengths)
    got = smk.masked_softmax(x, axis=axis, lengths=lengths, renormalize=renormalize)
    want = smk.masked_softmax(x, mask, axis=axis, renormalize=renormalize)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # padding: exactly 0
    got_log = smk.masked_log_softmax(x, axis=axis, lengths=lengths)
    np.testing.assert_allclose(got_log, smk.masked_log_softmax(x, mask, axis=axis), rtol=1e-6, atol=0)
    # Padding is exactly 0 / -inf whatever the logits there (NaN, inf).
    x[~mask] = np.nan
    assert np.all(smk.masked_softmax(x, axis=axis, lengths=lengths)[~mask] == 0)
    assert np.all(smk.masked_log_softmax(x, axis=axis, lengths=lengths)[~mask] == -np.inf)
    # Flat lengths (one per fibre, in C order) give the same result.
    np.testing.assert_array_equal(smk.masked_softmax(x, axis=axis, lengths=lengths.ravel()),
                                  smk.masked_softmax(x, axis=axis, lengths=lengths))


def test_lengths_in_place_and_out():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = smk.masked_softmax(x, lengths=[1, 2, 4])
    out = np.empty_like(x)
    assert smk.masked_softmax(x, lengths=[1, 2, 4], out=out) is out
    np.testing.assert_array_equal(out, want)
    smk.masked_softmax(x, lengths=[1, 2, 4], out=x)
    np.testing.assert_array_equal(x, want)
    assert want[0].tolist() == [1, 0, 0, 0]


@pytest.mark.parametrize("lengths,match", [
    ([1, -1, 2], r"lengths\[1\] is -1"),
    ([1, 5, 2], r"lengths\[1\] is 5 but must be in \[0, 4\]"),
    ([1, 2], "fibres"),
    ([1, 2, 3, 4], "fibres"),
    ([[1, 2, 3]], "fibres"),
    ([1.0, 2.0, 3.0], "integers"),
])
@pytest.mark.parametrize("log", [False, True])
def test_bad_lengths_are_clear_errors_and_write_nothing(lengths, match, log):
    x = np.ones((3, 4), np.float32)
    out = np.full_like(x, 7.0)
    fn = smk.masked_log_softmax if log else smk.masked_softmax
    with pytest.raises(smk.ArgumentError, match=match):
        fn(x, lengths=lengths, out=out)
    assert np.all(out == 7.0)


def test_mask_and_lengths_together_or_neither_are_refused():
    x = np.ones((2, 3))
    with pytest.raises(smk.ArgumentError, match="not both"):
        smk.masked_softmax(x, [1, 0, 1], lengths=[1, 2])
    with pytest.raises(smk.ArgumentError, match="mask or lengths"):
        smk.masked_softmax(x)
