"""softmaxkit.sample: the committed fixture of draws (shared with the C and
Swift tests), the Philox stream reproduced in pure Python, chi-square
goodness of fit over 10**6 draws per case against the exact truncated
distribution, greedy against argmax, top_p boundaries, distinct draws,
thread counts and row offsets, rows with nothing to draw from, bad options.

Every test uses fixed seeds: the statistics are deterministic. A fit passes
when its chi-square p-value is at least 1e-4 (a correct sampler fails that
for one seed in 10,000; the seeds are fixed, so the outcome never changes
between runs).
"""
import math
import os

import numpy as np
import pytest
from scipy import stats

import softmaxkit as smk

SEED = 20261206
P_MIN = 1e-4
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Tests", "fixtures", "sampling_draws.txt")

# ------------------------------------------------------------------ the stream

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32)
    return c0, c1, c2, c3


def uniform(seed, row, draw):
    x = philox4x32_10((draw & MASK32, draw >> 32, row & MASK32, row >> 32), (seed & MASK32, seed >> 32))
    return ((x[1] << 32 | x[0]) >> 11) * 2.0 ** -53


def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10.
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert philox4x32_10((MASK32,) * 4, (MASK32, MASK32)) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
    assert philox4x32_10((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == \
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


def test_documented_stream_reproduces_the_draws():
    # The header's recipe, in Python: first index whose running probability exceeds u.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 7))
    seed, offset, draws = 0x1234_5678_9ABC_DEF0, 5, 8
    got = smk.sample(x, num_samples=draws, seed=seed, row_offset=offset)
    p = np.exp(x - x.max(axis=1, keepdims=True))
    checked = 0
    for r in range(20):
        cdf = np.cumsum(p[r]) / p[r].sum()
        for d in range(draws):
            u = uniform(seed, offset + r, d)
            if np.min(np.abs(cdf - u)) < 1e-9:
                continue  # within rounding of a boundary
            assert got[r, d] == int(np.searchsorted(cdf, u, side="right"))
            checked += 1
    assert checked > 150


# ------------------------------------------------------------------ the fixture

def fixture_logits(shape):
    q = np.arange(math.prod(shape), dtype=np.int64)
    return (((q * 7919 + 104729) % 1000) / 100.0 - 5.0).reshape(shape)


# Keep in step with Tests/c/test_sampling.c and SamplingTests.swift.
CASES = {
    "plain": dict(dtype=np.float32, shape=(3, 37), axis=-1, temperature=0.7, num_samples=6),
    "topk_topp": dict(dtype=np.float32, shape=(3, 37), axis=-1, top_k=5, top_p=0.9, num_samples=6),
    "minp_mask": dict(dtype=np.float32, shape=(3, 37), axis=-1, temperature=1.3, min_p=0.05, num_samples=6,
                      mask=np.arange(37) % 3 != 0),
    "distinct": dict(dtype=np.float32, shape=(3, 37), axis=-1, num_samples=4, replacement=False),
    "strided_f64": dict(dtype=np.float64, shape=(2, 37, 3), axis=1, top_p=0.8, num_samples=5, row_offset=7),
}


def read_fixture():
    with open(FIXTURE) as f:
        return {line.split()[0]: [int(v) for v in line.split()[1:]] for line in f if line.strip()}


@pytest.mark.parametrize("name", list(CASES))
def test_fixture_draws(name):
    c = dict(CASES[name])
    x = fixture_logits(c.pop("shape")).astype(c.pop("dtype"))
    got = smk.sample(x, seed=SEED, **c)
    assert got.ravel().tolist() == read_fixture()[name]


# ------------------------------------------------------------------ goodness of fit

def truncated(logits, temperature=1.0, top_k=None, top_p=None, min_p=None, mask=None):
    """The exact distribution the sampler draws from, in float64."""
    x = np.asarray(logits, dtype=np.float64)
    keep = np.ones(x.size, bool) if mask is None else np.asarray(mask, bool).copy()
    z = np.where(keep, x, -np.inf)
    w = np.exp((z - z.max()) / temperature)
    order = sorted(range(x.size), key=lambda j: (-w[j], j))
    if top_k:
        for j in order[top_k:]:
            keep[j] = False
        order = order[:top_k]
    w = np.where(keep, w, 0.0)
    if top_p is not None and top_p < 1:
        acc, total = 0.0, w.sum()
        for i, j in enumerate(order):
            acc += w[j]
            if acc >= top_p * total * (1 - 1e-9):
                for j2 in order[i + 1:]:
                    w[j2] = 0
                break
    if min_p:
        w = np.where(w >= min_p * w.max(), w, 0.0)
    return w / w.sum()


def chi_square_p(counts, probs):
    keep = probs > 0
    assert counts[~keep].sum() == 0, "drew a position of probability 0"
    expected = probs[keep] * counts.sum()
    return stats.chisquare(counts[keep], expected).pvalue


LOGITS10 = np.array([1.2, -0.3, 0.8, 2.1, -1.5, 0.0, 0.4, 1.9, -0.7, 0.9])
FITS = {
    "plain": dict(),
    "temperature": dict(temperature=0.6),
    "top_k": dict(top_k=4),
    "top_p": dict(top_p=0.8),
    "min_p": dict(min_p=0.3),
    "masked": dict(mask=np.array([1, 0, 1, 1, 0, 1, 1, 0, 1, 1], bool)),
    "all": dict(temperature=1.4, top_k=7, top_p=0.9, min_p=0.1),
}


@pytest.mark.parametrize("name", list(FITS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chi_square_many_draws_of_one_row(name, dtype):
    opts = FITS[name]
    x = LOGITS10.astype(dtype)
    draws = smk.sample(x, num_samples=10**6, seed=SEED, **opts)
    counts = np.bincount(draws, minlength=10)
    assert chi_square_p(counts, truncated(x, **opts)) >= P_MIN


@pytest.mark.parametrize("name", ["plain", "top_p", "masked"])
def test_chi_square_one_draw_per_row(name):
    # 10**6 rows of the same logits: the counter runs over rows instead of draws.
    opts = FITS[name]
    x = np.broadcast_to(LOGITS10.astype(np.float32), (10**6, 10))
    draws = smk.sample(x, seed=SEED + 1, **opts)
    counts = np.bincount(draws, minlength=10)
    assert chi_square_p(counts, truncated(LOGITS10.astype(np.float32), **opts)) >= P_MIN


def test_chi_square_wide_row_top_p():
    # A long row takes the radix-select path of top_p (no sort).
    rng = np.random.default_rng(11)
    x = rng.normal(size=3000).astype(np.float32)
    draws = smk.sample(x, top_p=0.5, num_samples=10**6, seed=SEED)
    p = truncated(x, top_p=0.5)
    counts = np.bincount(draws, minlength=3000)
    # Pool the positions into 40 bins of similar expected counts.
    kept = np.flatnonzero(p)
    assert counts[p == 0].sum() == 0
    bins = np.array_split(kept[np.argsort(p[kept])], 40)
    c = np.array([counts[b].sum() for b in bins])
    e = np.array([p[b].sum() for b in bins])
    assert stats.chisquare(c, e / e.sum() * c.sum()).pvalue >= P_MIN


def test_log_probs_are_those_of_the_truncated_distribution():
    for opts in FITS.values():
        x = LOGITS10
        idx, lp = smk.sample(x, num_samples=200, seed=SEED, return_log_probs=True, **opts)
        p = truncated(x, **opts)
        np.testing.assert_allclose(lp, np.log(p[idx]), rtol=0, atol=1e-12)
    idx, lp = smk.sample(LOGITS10.astype(np.float32), num_samples=50, seed=1, return_log_probs=True, top_k=3)
    assert lp.dtype == np.float32
    np.testing.assert_allclose(lp, np.log(truncated(LOGITS10.astype(np.float32), top_k=3)[idx]), atol=3e-6)


# ------------------------------------------------------------------ greedy, boundaries

def test_greedy_is_argmax():
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, size=(200, 33)).astype(np.float32)  # many ties: first maximum
    np.testing.assert_array_equal(smk.sample(x, temperature=0, seed=1), np.argmax(x, axis=1))
    np.testing.assert_array_equal(smk.sample(x, temperature=0, top_p=0.1, top_k=2, seed=9), np.argmax(x, axis=1))
    idx, lp = smk.sample(x, temperature=0, num_samples=3, seed=2, return_log_probs=True)
    assert (idx == np.argmax(x, axis=1)[:, None]).all() and (lp == 0).all()
    idx = smk.sample(x, temperature=0, num_samples=4, replacement=False, seed=2)
    np.testing.assert_array_equal(idx, smk.topk(x, 4)[1])
    x2 = rng.normal(size=(4, 9, 5))
    np.testing.assert_array_equal(smk.sample(x2, axis=1, temperature=0, seed=0), np.argmax(x2, axis=1))


@pytest.mark.parametrize("top_k", [None, 4])
def test_top_p_exactly_reaching_p_and_ties(top_k):
    n = 6 if top_k else 600  # (the long row goes through the radix select)
    def row(probs):
        x = np.full(n, -np.inf)
        x[:len(probs)] = np.log(probs)
        return x
    cases = [([0.5, 0.25, 0.125, 0.125], 0.75, {0, 1}),   # exactly reaching p: no third
             ([0.5, 0.25, 0.125, 0.125], 0.76, {0, 1, 2}),
             ([0.5, 0.25, 0.125, 0.125], 0.5, {0}),
             ([0.5, 0.25, 0.125, 0.125], 0.01, {0}),       # at least one
             ([0.4, 0.2, 0.2, 0.2], 0.6, {0, 1}),          # ties at the boundary: lower index
             ([0.4, 0.2, 0.2, 0.2], 0.61, {0, 1, 2}),
             ([0.25, 0.25, 0.25, 0.25], 0.5, {0, 1}),
             ([0.25, 0.25, 0.25, 0.25], 1.0, {0, 1, 2, 3})]
    for dtype in (np.float32, np.float64):
        for probs, p, want in cases:
            got = smk.sample(row(probs).astype(dtype), top_p=p, top_k=top_k, num_samples=4000, seed=SEED)
            assert set(np.unique(got).tolist()) == want, (probs, p, dtype)


def test_min_p_boundary():
    x = np.log(np.array([0.5, 0.25, 0.125, 0.125]))
    got = smk.sample(x, min_p=0.5, num_samples=4000, seed=SEED)  # 0.25 >= 0.5 * 0.5: kept
    assert set(np.unique(got).tolist()) == {0, 1}
    got = smk.sample(x, min_p=1.0, num_samples=100, seed=SEED)
    assert set(np.unique(got).tolist()) == {0}


# ------------------------------------------------------------------ without replacement

def test_without_replacement_is_distinct_and_sequential():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    rows = 200_000
    x = np.broadcast_to(np.log(p), (rows, 4))
    d = smk.sample(x, num_samples=2, replacement=False, seed=SEED)
    assert (d[:, 0] != d[:, 1]).all()
    pairs = d[:, 0] * 4 + d[:, 1]
    counts = np.bincount(pairs, minlength=16)
    expected = np.zeros(16)
    for i in range(4):
        for j in range(4):
            if i != j:
                expected[i * 4 + j] = p[i] * p[j] / (1 - p[i])
    assert chi_square_p(counts, expected) >= P_MIN
    full = smk.sample(np.log(p), num_samples=4, replacement=False, seed=3)
    assert sorted(full.tolist()) == [0, 1, 2, 3]
    wide = smk.sample(np.random.default_rng(1).normal(size=(3, 1000)), num_samples=500, replacement=False, seed=4)
    assert all(len(set(r)) == 500 for r in wide.tolist())


def test_without_replacement_log_probs_renormalize():
    p = np.array([0.5, 0.3, 0.2])
    idx, lp = smk.sample(np.log(p), num_samples=3, replacement=False, seed=8, return_log_probs=True)
    left = 1.0
    for j, l in zip(idx, lp):
        assert l == pytest.approx(math.log(p[j] / left), abs=1e-12)
        left -= p[j]


# ------------------------------------------------------------------ reproducibility

def test_same_draws_for_one_and_two_threads_and_alone():
    x = np.random.default_rng(2).normal(size=(64, 32000)).astype(np.float32)
    try:
        for opts in (dict(), dict(top_p=0.9), dict(top_k=50), dict(min_p=0.05, temperature=0.7)):
            smk.set_num_threads(1)
            a, la = smk.sample(x, num_samples=2, seed=SEED, return_log_probs=True, **opts)
            smk.set_num_threads(2)
            b, lb = smk.sample(x, num_samples=2, seed=SEED, return_log_probs=True, **opts)
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(la, lb)
            alone = smk.sample(x[41:42], num_samples=2, seed=SEED, row_offset=41, **opts)
            np.testing.assert_array_equal(alone[0], a[41])
    finally:
        smk.set_num_threads(0)


def test_shapes_and_axes():
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    assert smk.sample(x, seed=1).shape == (2, 5)
    assert smk.sample(x, axis=1, seed=1).shape == (2, 3)
    assert smk.sample(x, axis=1, num_samples=4, seed=1).shape == (2, 4, 3)
    assert smk.sample(x, axis=0, num_samples=1, seed=1).shape == (1, 5, 3)
    assert smk.sample(np.array([1.0, 2.0]), seed=None).shape == ()
    assert smk.sample(x, seed=1).dtype == np.int64
    # A strided axis draws what the same fibres draw laid out as rows.
    a = smk.sample(x, axis=1, num_samples=3, seed=5)
    b = smk.sample(np.ascontiguousarray(np.moveaxis(x, 1, -1)), num_samples=3, seed=5)
    np.testing.assert_array_equal(np.moveaxis(a, 1, -1), b)


def test_rows_with_nothing_to_draw_from():
    x = np.array([[1.0, 2.0, 3.0],
                  [-np.inf, -np.inf, -np.inf],
                  [1.0, np.nan, 0.0],
                  [0.0, np.inf, 1.0],
                  [0.0, 1.0, 2.0]])
    mask = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0]], bool)
    idx, lp = smk.sample(x, mask=mask, num_samples=2, seed=1, return_log_probs=True)
    assert (idx[1:] == -1).all() and np.isnan(lp[1:]).all()
    assert (idx[0] >= 0).all()
    # A NaN in a masked-out position does not matter; masked positions are never drawn.
    m2 = np.array([1, 0, 1], bool)
    d = smk.sample(np.broadcast_to(x[2], (1000, 3)), mask=m2, seed=2)
    assert set(np.unique(d).tolist()) <= {0, 2}
    assert (smk.sample(np.zeros((3, 0)), seed=1) == -1).all()
    assert (smk.sample(np.zeros((3, 0)), temperature=0, seed=1) == -1).all()
    assert smk.sample(np.array([-np.inf, 0.0, -np.inf]), num_samples=200, seed=3).tolist() == [1] * 200


@pytest.mark.parametrize("kwargs, words", [
    (dict(temperature=-1.0), "temperature"), (dict(temperature=float("nan")), "temperature"),
    (dict(temperature=float("inf")), "temperature"), (dict(temperature="hot"), "temperature"),
    (dict(top_k=-1), "top_k"), (dict(top_k=1.5), "top_k"),
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_p=float("nan")), "top_p"),
    (dict(min_p=-0.1), "min_p"), (dict(min_p=1.1), "min_p"),
    (dict(num_samples=0), "num_samples"), (dict(num_samples=2.0), "num_samples"),
    (dict(num_samples=6, replacement=False), "num_samples"),
    (dict(num_samples=3, replacement=False, top_k=2), "num_samples"),
    (dict(replacement="no"), "replacement"),
    (dict(seed=-1), "seed"), (dict(seed=1 << 64), "seed"), (dict(seed=1.5), "seed"),
    (dict(row_offset=-1), "row_offset"),
    (dict(axis=2), "axis"), (dict(mask=np.ones(4, bool)), "mask"),
])
def test_bad_options_are_clear_errors(kwargs, words):
    kwargs.setdefault("seed", 1)
    with pytest.raises(smk.ArgumentError, match=words):
        smk.sample(np.zeros((2, 5)), **kwargs)


def test_log_probs_of_a_subnormal_tail_drawn_without_replacement():
    # Drawing every position without replacement reaches weights e^-97, float32
    # subnormals: their log-probabilities stay <= 0 and the last position that
    # can be drawn (the only one left) has probability 1. The exponent alone disagreed with the
    # subnormal weights' total and gave log-probabilities up to +1.9e-4.
    x = np.array([-32, -32, -32, 87.6979141, 60.96875, -8.89583302, 96.625, -22.78125, -93.6666641,
                  70.6458359, 6.95833349, -70.28125, -92.9583359, 104.114586, -53.7083321, -60.1354179,
                  -89.8541641, 93.0520859, -62.75, -94.4583359, -14.677083], dtype=np.float32)
    for seed in range(20):
        idx, lp = smk.sample(x, num_samples=x.size, replacement=False, seed=seed, return_log_probs=True)
        drawn = idx >= 0  # weights below float32's smallest subnormal cannot be drawn: -1, NaN
        assert len(set(idx[drawn].tolist())) == drawn.sum() == 7  # the last, e^-97, a subnormal
        assert np.all(lp[drawn] <= 0), lp
        assert lp[drawn][-1] == 0 and np.all(np.isnan(lp[~drawn]))
