"""Property tests (hypothesis) of the variants: masked, partitioned, segment
and hierarchical softmax, ensemble_mean, selection (argmax, hardmax, top-k,
softmax + top-k), cross-entropy and its gradient, the backward functions,
and model ensembles.

Shapes, axes, dtypes and value strategies are test_properties.py's (reduced
axis 0..70 and around the SIMD widths, rank 1-3, every axis, float32 and
float64); the float64 references are references.py's. Checked: the
invariants of docs/DESIGN.md (masked entries exactly 0 / -inf whatever their
logit, fully masked rows all 0, renormalize=False is softmax then zero, a
shared pattern equals the full mask, a single segment equals dense softmax,
every group and hierarchical joint sums to 1, joint = coarse softmax x
conditional, M identical members or models equal one, ties by lower index)
and agreement with the references within test_properties.tol.
"""
import functools
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import references as ref
import softmaxkit as smk
from test_properties import COMMON, DTYPES, N, OTHER, finite_values, shape_and_axis, special_values, tol

ACTIVATIONS = ["identity", "softmax", "log_softmax", "sigmoid", "tanh"]
MODELS = Path(__file__).resolve().parents[3] / "examples" / "models"


def close(got, want, dtype, n, scale=10):
    """got ~ want within `scale` x test_properties.tol for rows of length n."""
    rtol, atol = tol(dtype, n)
    np.testing.assert_allclose(got, want, rtol=scale * rtol, atol=atol + scale * rtol)


def fibres(a, axis):
    """The fibres of `a` along `axis` as rows of a 2-D array."""
    a = np.moveaxis(np.asarray(a), axis, -1)
    return a.reshape(-1, a.shape[-1]) if a.size else np.zeros((0, a.shape[-1]), a.dtype)


@st.composite
def array_on(draw, dtype, shape, scale=1e3):
    return draw(hnp.arrays(dtype, shape, elements=finite_values(dtype, scale)))


@st.composite
def partition(draw, n, min_width=0):
    """Widths >= min_width summing to n (the segments of a row)."""
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    widths = np.diff([0, *cuts, n]).tolist()
    return [w for w in widths if w >= min_width] if min_width > 0 else widths


# ------------------------------------------------------------------ masked

@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(), st.data())
def test_masked_softmax_invariants(dtype, sa, data):
    shape, axis = sa
    x = data.draw(array_on(dtype, shape, 50.0))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    # Masked-out logits may be anything, NaN and inf included: select, never multiply.
    junk = data.draw(hnp.arrays(dtype, shape, elements=special_values(dtype)))
    xj = np.where(mask, x, junk)
    y = smk.masked_softmax(xj, mask, axis)
    ly = smk.masked_log_softmax(xj, mask, axis)
    assert y.dtype == dtype and ly.dtype == dtype and y.shape == shape
    assert np.all(y[~mask] == 0) and np.all(ly[~mask] == -np.inf)
    assert not np.isnan(y).any() and not np.isnan(ly).any()
    if x.size == 0:
        return
    n = shape[axis]
    close(y, ref.masked_softmax(x, mask, axis), dtype, n)
    close(ly, ref.masked_log_softmax(x, mask, axis), dtype, n)
    for row, m, lrow in zip(fibres(y, axis), fibres(mask, axis), fibres(ly, axis)):
        if m.any():
            close(row.sum(dtype=np.float64), 1.0, dtype, n)
            close(np.exp(lrow[m].astype(np.float64)), row[m], dtype, n)
        else:
            assert np.all(row == 0) and np.all(lrow == -np.inf)  # fully masked: never NaN


@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(), st.data())
def test_masked_without_renormalizing_is_softmax_then_zero(dtype, sa, data):
    shape, axis = sa
    x = data.draw(array_on(dtype, shape, 50.0))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    got = smk.masked_softmax(x, mask, axis, renormalize=False)
    assert np.all(got[~mask] == 0)
    close(got, np.where(mask, smk.softmax(x, axis), 0), dtype, shape[axis], scale=1)


@settings(max_examples=100, **COMMON)
@given(DTYPES, st.integers(0, 5), N, st.data(), st.booleans())
def test_masked_shared_pattern_equals_full_mask(dtype, rows, n, data, renormalize):
    x = data.draw(hnp.arrays(dtype, (rows, n), elements=special_values(dtype)))
    pattern = data.draw(hnp.arrays(np.bool_, (n,)))
    full = np.broadcast_to(pattern, x.shape).copy()
    if renormalize:
        shared = smk.masked_softmax(x, pattern)
        assert np.array_equal(shared, smk.masked_softmax(x, full), equal_nan=True)
        assert np.array_equal(smk.masked_log_softmax(x, pattern), smk.masked_log_softmax(x, full), equal_nan=True)
    else:
        assert np.array_equal(smk.masked_softmax(x, pattern, renormalize=False),
                              smk.masked_softmax(x, full, renormalize=False), equal_nan=True)


# ------------------------------------------------------- partitioned rows

@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(min_n=1), st.data())
def test_partitioned_segments_equal_the_standalone_ops(dtype, sa, data):
    shape, axis = sa
    x = data.draw(array_on(dtype, shape, 50.0))
    widths = data.draw(partition(shape[axis]))
    acts = data.draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=len(widths), max_size=len(widths)))
    y = smk.partitioned(x, list(zip(widths, acts)), axis)
    assert y.dtype == dtype and y.shape == shape
    start = 0
    for w, act in zip(widths, acts):
        seg = np.take(x, range(start, start + w), axis=axis)
        got = np.take(y, range(start, start + w), axis=axis)
        start += w
        if act == "identity":
            assert np.array_equal(got, seg)
            continue
        want = {"softmax": lambda s: smk.softmax(s, axis), "log_softmax": lambda s: smk.log_softmax(s, axis),
                "sigmoid": smk.sigmoid, "tanh": lambda s: np.tanh(s.astype(np.float64))}[act](seg)
        close(got, want, dtype, w)


@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(min_n=1), st.data(), st.sampled_from(["softmax", "log_softmax"]))
def test_a_single_segment_is_the_dense_op(dtype, sa, data, act):
    shape, axis = sa
    x = data.draw(hnp.arrays(dtype, shape, elements=special_values(dtype)))
    dense = (smk.softmax if act == "softmax" else smk.log_softmax)(x, axis)
    close(smk.partitioned(x, [(shape[axis], act)], axis), dense, dtype, shape[axis], scale=1)


# --------------------------------------------------------- segment softmax

@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(), st.data())
def test_segment_softmax_groups(dtype, sa, data):
    shape, axis = sa
    n = shape[axis]
    x = data.draw(array_on(dtype, shape))
    offsets = np.cumsum([0, *data.draw(partition(n))])  # empty groups allowed
    y = smk.segment_softmax(x, offsets, axis)
    assert y.dtype == dtype and y.shape == shape
    for a, b in zip(offsets[:-1], offsets[1:]):
        if a == b:
            continue
        got = np.take(y, range(a, b), axis=axis)
        close(got, ref.softmax(np.take(x, range(a, b), axis=axis), axis), dtype, b - a)
        if got.size:
            close(got.sum(axis=axis, dtype=np.float64), 1.0, dtype, b - a)


@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(), st.data(), st.integers(0, 3), st.integers(0, 3))
def test_one_segment_is_dense_softmax(dtype, sa, data, empty_before, empty_after):
    shape, axis = sa
    n = shape[axis]
    x = data.draw(hnp.arrays(dtype, shape, elements=special_values(dtype)))
    offsets = [0] * (1 + empty_before) + [n] * (1 + empty_after)
    got = smk.segment_softmax(x, offsets, axis)
    close(got, smk.softmax(x, axis), dtype, n, scale=1)


# ---------------------------------------------------- hierarchical softmax

@settings(max_examples=100, **COMMON)
@given(DTYPES, st.integers(0, 6), st.data())
def test_hierarchical_joint_and_conditional(dtype, batch, data):
    sizes = data.draw(st.lists(st.one_of(st.integers(1, 9), st.sampled_from([15, 16, 17, 31, 32, 33])),
                               min_size=1, max_size=6))
    k, width = len(sizes), sum(sizes)
    coarse = data.draw(array_on(dtype, (batch, k), 50.0))
    fine = data.draw(array_on(dtype, (batch, width), 50.0))
    joint = smk.hierarchical_softmax(coarse, fine, sizes)
    cond = smk.hierarchical_softmax(coarse, fine, sizes, conditional=True)
    assert joint.dtype == dtype and joint.shape == (batch, width)
    if batch:
        close(joint.sum(axis=1, dtype=np.float64), 1.0, dtype, width)
    pc = ref.softmax(coarse, -1)
    start = 0
    for g, s in enumerate(sizes):
        c = cond[:, start:start + s]
        close(c, ref.softmax(fine[:, start:start + s], -1), dtype, s)
        if batch:
            close(c.sum(axis=1, dtype=np.float64), 1.0, dtype, s)
        close(joint[:, start:start + s], pc[:, g:g + 1] * c.astype(np.float64), dtype, width)
        start += s


# --------------------------------------------------------------- ensembles

@settings(max_examples=100, **COMMON)
@given(DTYPES, st.integers(1, 4), shape_and_axis(min_n=1), st.data())
def test_identical_members_equal_the_member(dtype, m, sa, data):
    shape, axis = sa
    z = data.draw(array_on(dtype, shape, 30.0))
    z = np.moveaxis(z, axis, -1)  # ensembles normalize over the last axis
    p = smk.softmax(z)
    n = z.shape[-1]
    for mode, member, want in [("arithmetic", p, p), ("geometric", p, p), ("logits", z, p)]:
        got = smk.ensemble_mean([member] * m, mode=mode)
        assert got.dtype == dtype and got.shape == z.shape
        close(got, want, dtype, n, scale=20)
        stacked = smk.ensemble_mean(np.stack([member] * m, axis=1), axis=1, mode=mode)
        assert np.array_equal(stacked, got, equal_nan=True)


@settings(max_examples=100, **COMMON)
@given(DTYPES, st.integers(1, 4), st.integers(0, 4), N.filter(lambda n: n >= 1), st.data())
def test_ensemble_mean_matches_reference(dtype, m, rows, n, data):
    zs = [data.draw(array_on(dtype, (rows, n), 20.0)) for _ in range(m)]
    ps = [ref.softmax(z).astype(dtype) for z in zs]
    p64 = np.array(ps, np.float64)
    close(smk.ensemble_mean(ps, mode="arithmetic"), p64.mean(axis=0), dtype, n * m)
    with np.errstate(divide="ignore"):
        g = np.exp(np.log(p64).mean(axis=0))
    with np.errstate(invalid="ignore"):
        close(smk.ensemble_mean(ps, mode="geometric"), g / g.sum(axis=-1, keepdims=True), dtype, n * m, scale=50)
    close(smk.ensemble_mean(zs, mode="logits"), ref.softmax(np.mean(np.array(zs, np.float64), axis=0)), dtype, n * m)


@functools.lru_cache(maxsize=None)
def bundled_model(name):
    return smk.Model.load(MODELS / f"{name}.safetensors")


def _dense_only(path) -> bool:
    spec = bundled_model(path.stem).spec
    return "vocabulary" not in spec["input"] and all(l.get("kind", "dense") == "dense" and "step" not in l
                                                     for l in spec["layers"])


# The bundled models of dense layers alone (ensembles take [batch, features] rows).
DENSE_MODELS = sorted(p.stem for p in MODELS.glob("*.safetensors") if _dense_only(p))


@st.composite
def model_and_input(draw):
    model = bundled_model(draw(st.sampled_from(DENSE_MODELS)))
    x = draw(hnp.arrays(np.float32, (draw(st.integers(0, 5)), model.features),
                        elements=st.floats(-4, 4, width=32)))
    return model, x


@settings(max_examples=30, **COMMON)
@given(model_and_input(), st.integers(1, 3), st.sampled_from(["arithmetic", "geometric", "logits"]))
def test_an_ensemble_of_identical_models_equals_the_model(mx, m, mode):
    model, x = mx
    want = model(x)
    got = smk.Ensemble([model] * m, mode=mode)(x)
    assert got.keys() == want.keys()
    for head in want:
        assert got[head].shape == want[head].shape
        # float32 outputs through double sums, exp and log: a few ulp
        np.testing.assert_allclose(got[head], want[head], rtol=2e-6, atol=2e-6, err_msg=f"{head} {mode}")


def test_geometric_ensemble_keeps_the_mass_of_a_masked_head_without_renormalizing():
    """Regression: rows of a renormalize=false masked head sum to the kept
    share (0.31 here); the geometric mean renormalized them to 1, so one
    model (or M identical ones) gave [0.46, 0, 0.54, 0, 0, 0] instead of
    [0.14, 0, 0.16, 0, 0, 0]. Found by the property above."""
    model = bundled_model("masked")
    x = np.zeros((1, model.features), np.float32)
    want = model(x)["output"]
    assert 0.1 < want.sum() < 0.9
    for m in (1, 2, 3):
        np.testing.assert_allclose(smk.Ensemble([model] * m, mode="geometric")(x)["output"], want, rtol=2e-6, atol=2e-6)


# --------------------------------------------------------------- selection

def ties(dtype):
    """Few distinct values, so ties are common; infinities and -0.0 too."""
    return st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e30, -1e30, np.inf, -np.inf]).map(dtype)


@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(min_n=1), st.data())
def test_argmax_hardmax_topk_follow_stable_argsort(dtype, sa, data):
    shape, axis = sa
    x = data.draw(hnp.arrays(dtype, shape, elements=ties(dtype)))
    order = np.argsort(-x, axis=axis, kind="stable")  # descending, ties by lower index
    first = np.take(order, [0], axis=axis)
    assert np.array_equal(smk.argmax(x, axis), np.squeeze(first, axis))
    assert np.array_equal(smk.argmax(x, axis), np.argmax(x, axis))
    h = smk.hardmax(x, axis)
    assert h.dtype == dtype
    onehot = np.zeros(shape, dtype)
    np.put_along_axis(onehot, first, 1, axis)
    assert np.array_equal(h, onehot)
    k = data.draw(st.integers(0, shape[axis]))
    v, i = smk.topk(x, k, axis)
    want_i = np.take(order, range(k), axis=axis)
    assert np.array_equal(i, want_i)
    assert np.array_equal(v, np.take_along_axis(x, want_i, axis))


@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(min_n=1), st.data(), st.sampled_from([1.0, 0.5, 2.0, 0.1]))
def test_softmax_topk_is_softmax_then_topk(dtype, sa, data, t):
    shape, axis = sa
    x = data.draw(array_on(dtype, shape, 30.0))
    k = data.draw(st.integers(0, shape[axis]))
    p, i = smk.softmax_topk(x, k, axis, temperature=t)
    # Ranked by the logits (ties by lower index), not by rounded probabilities.
    want_i = np.take(np.argsort(-x, axis=axis, kind="stable"), range(k), axis=axis)
    assert np.array_equal(i, want_i)
    close(p, np.take_along_axis(ref.softmax(x.astype(np.float64) / t, axis), want_i, axis), dtype, shape[axis])
    vs, _ = smk.topk(smk.softmax(x, axis, temperature=t), k, axis)
    close(p, vs, dtype, shape[axis])


# ------------------------------------------------------------ cross-entropy

def cross_entropy_grad(x, target, axis, weight, ignore_index, eps, reduction):
    """d loss / d logits in float64 from the closed form of PyTorch's loss
    (for "none", of the summed losses); checked against central differences
    of references.cross_entropy in test_cross_entropy_gradient_formula."""
    z = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    c = z.shape[-1]
    p = ref.softmax(z, -1)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    target = np.asarray(target)
    if target.dtype.kind == "f":
        t = np.moveaxis(target.astype(np.float64), axis, -1) * (1 - eps) + eps / c
        g = p * (t * w).sum(-1, keepdims=True) - t * w
        denom = g[..., 0].size if reduction == "mean" else 1
    else:
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        onehot = np.eye(c)[safe]
        g = (1 - eps) * w[safe][..., None] * (p - onehot) + eps / c * (w.sum() * p - w)
        g = np.where(valid[..., None], g, 0.0)
        denom = np.where(valid, w[safe], 0.0).sum() if reduction == "mean" else 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.moveaxis(g / denom, -1, axis)


@st.composite
def loss_case(draw):
    dtype = draw(DTYPES)
    rank = draw(st.integers(1, 3))
    c = draw(st.one_of(st.integers(1, 40), st.sampled_from([15, 16, 17, 31, 32, 33, 63, 64, 65])))
    shape = [draw(st.integers(0, 4)) for _ in range(rank)]
    axis = draw(st.integers(0, rank - 1)) if rank > 1 else 0
    shape[axis] = c
    x = draw(array_on(dtype, tuple(shape), 30.0))
    weight = draw(st.one_of(st.none(), hnp.arrays(np.float64, (c,), elements=st.floats(0.1, 3.0))))
    eps = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    ignore = draw(st.sampled_from([-100, -1, 0, c, 2]))
    sample = tuple(shape[:axis] + shape[axis + 1:])
    if draw(st.booleans()):
        target = draw(hnp.arrays(np.int64, sample, elements=st.sampled_from(sorted({*range(c), ignore}))))
    else:
        target = ref.softmax(draw(array_on(np.float64, tuple(shape), 5.0)), axis).astype(dtype)
    return x, target, axis, weight, ignore, eps, reduction


@settings(max_examples=100, **COMMON)
@given(loss_case())
def test_cross_entropy_matches_pytorch_formula(case):
    x, target, axis, weight, ignore, eps, reduction = case
    loss, grad = smk.cross_entropy(x, target, axis=axis, weight=weight, ignore_index=ignore,
                                   label_smoothing=eps, reduction=reduction, return_grad=True)
    want = ref.cross_entropy(x, target, axis, weight, ignore, eps, reduction)
    want_grad = cross_entropy_grad(x, target, axis, weight, ignore, eps, reduction)
    assert grad.dtype == x.dtype and grad.shape == x.shape
    c = x.shape[axis]
    rtol, atol = tol(x.dtype, c)
    scale = 1 + float(np.max(np.abs(x), initial=0))  # log-softmax errors grow with the logits
    if np.isnan(want).all() and np.size(want) == 1:
        assert np.isnan(loss)  # every target ignored: NaN, as PyTorch
        return
    np.testing.assert_allclose(loss, want, rtol=10 * rtol * scale, atol=10 * rtol * scale * c)
    finite = np.isfinite(want_grad)
    assert np.array_equal(np.isfinite(grad), finite)
    np.testing.assert_allclose(grad[finite], want_grad[finite], rtol=10 * rtol, atol=10 * rtol * scale)


@settings(max_examples=25, **COMMON)
@given(loss_case())
def test_cross_entropy_gradient_formula(case):
    """The closed form above against central differences of the reference."""
    x, target, axis, weight, ignore, eps, reduction = case
    x = x.astype(np.float64)
    g = cross_entropy_grad(x, target, axis, weight, ignore, eps, reduction)
    if not np.isfinite(g).all():
        return
    h = 1e-6
    for j in range(min(x.size, 8)):
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += h
        xm.flat[j] -= h
        fd = (np.sum(ref.cross_entropy(xp, target, axis, weight, ignore, eps, reduction))
              - np.sum(ref.cross_entropy(xm, target, axis, weight, ignore, eps, reduction))) / (2 * h)
        assert abs(g.flat[j] - fd) <= 1e-6 * (1 + abs(fd))


@settings(max_examples=60, **COMMON)
@given(DTYPES, st.data())
def test_cross_entropy_loss_alone_has_the_bits_of_the_loss_beside_its_gradient(dtype, data):
    """Without a gradient, weight or smoothing, short rows take their own loss
    loop (logZ - x[t]); its losses must equal, bit for bit, those computed
    beside the gradient: across chunks of 32 rows, ignored targets, and rows
    whose sum is not finite (NaN, inf, all -inf)."""
    c = data.draw(st.sampled_from([1, 2, 7, 10, 16, 17, 33, 64, 65]))
    rows = data.draw(st.integers(1, 100))
    x = data.draw(array_on(dtype, (rows, c), 30.0))
    for r in data.draw(st.lists(st.integers(0, rows - 1), max_size=3)):
        x[r, data.draw(st.integers(0, c - 1))] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if data.draw(st.booleans()):
        x[data.draw(st.integers(0, rows - 1))] = -np.inf
    ignore = data.draw(st.sampled_from([-100, 0, c]))
    target = data.draw(hnp.arrays(np.int64, (rows,), elements=st.sampled_from(sorted({*range(c), ignore}))))
    for reduction in ("none", "sum", "mean"):
        alone = smk.cross_entropy(x, target, ignore_index=ignore, reduction=reduction)
        beside, _ = smk.cross_entropy(x, target, ignore_index=ignore, reduction=reduction, return_grad=True)
        assert np.array_equal(alone, beside, equal_nan=True), (reduction, alone, beside)


@settings(max_examples=60, deadline=None)
@given(dtype=DTYPES, rows=st.integers(1, 7), n=st.sampled_from([33, 40, 65, 100, 128, 129, 1000, 1024]),
       data=st.data())
def test_softmax_topk_row_of_one_block_does_not_depend_on_the_rows_beside_it(dtype, rows, n, data):
    """Rows of one accumulation block are software-pipelined (row r is swept
    before row r - 1 is selected, pipelinedSoftmaxTopK): every row of a call
    gives the bits of the same row called alone, whatever its neighbours are
    (all -inf rows take the row kernel between pipelined ones; NaN, ties and
    infinities take the one-by-one admission)."""
    values = data.draw(st.sampled_from([finite_values(dtype), special_values(dtype)]))
    x = data.draw(hnp.arrays(dtype, (rows, n), elements=values))
    for r in data.draw(st.lists(st.integers(0, rows - 1), max_size=2)):
        x[r] = data.draw(st.sampled_from([-np.inf, 1.5]))  # all -inf, or all tied
    k = data.draw(st.integers(1, min(n, 40)))
    p, i = smk.softmax_topk(x, k)
    np.testing.assert_array_equal(i, smk.topk(x, k)[1])
    for r in range(rows):
        pr, ir = smk.softmax_topk(x[r:r + 1], k)
        np.testing.assert_array_equal(i[r:r + 1], ir, err_msg=f"row {r} of {rows}")
        np.testing.assert_array_equal(p[r:r + 1], pr, err_msg=f"row {r} of {rows}")


# ---------------------------------------------------------------- backward

@settings(max_examples=100, **COMMON)
@given(DTYPES, shape_and_axis(), st.data())
def test_backward_matches_formulas(dtype, sa, data):
    shape, axis = sa
    n = shape[axis]
    x = data.draw(array_on(dtype, shape, 30.0))
    dy = data.draw(array_on(dtype, shape, 10.0))
    y, ly, s = smk.softmax(x, axis), smk.log_softmax(x, axis), smk.sigmoid(x)
    y64, ly64, s64, d64 = (a.astype(np.float64) for a in (y, ly, s, dy))
    # Absolute bounds: the sums cancel, so relative error means little.
    bound = float(np.max(np.abs(d64), initial=0)) + 1
    close(smk.softmax_backward(y, dy, axis), y64 * (d64 - (d64 * y64).sum(axis, keepdims=True)), dtype, n,
          scale=10 * bound)
    close(smk.log_softmax_backward(ly, dy, axis), d64 - np.exp(ly64) * d64.sum(axis, keepdims=True), dtype, n,
          scale=10 * bound * max(n, 1))
    close(smk.sigmoid_backward(s, dy), d64 * s64 * (1 - s64), dtype, 1)
    for f, a in ((smk.softmax_backward, y), (smk.log_softmax_backward, ly)):
        assert f(a, dy, axis).dtype == dtype


@settings(max_examples=60, deadline=None)
@given(dtype=DTYPES, rows=st.integers(1, 11), n=st.sampled_from([1, 3, 8, 10, 16, 17, 20, 31, 33]),
       data=st.data())
def test_a_row_does_not_depend_on_the_rows_beside_it(dtype, rows, n, data):
    """Short rows run two or four side by side (ShortRows.swift): every row of
    a call gives the bits of the same row called alone, for each op on the
    short-row driver, in place and not."""
    values = data.draw(st.sampled_from([finite_values(dtype), special_values(dtype)]))
    x = data.draw(hnp.arrays(dtype, (rows, n), elements=values))
    mask = data.draw(hnp.arrays(np.uint8, (rows, n), elements=st.integers(0, 1)))
    k = data.draw(st.integers(1, n))
    target = data.draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, n - 1)))
    w = n // 2
    layout = [(w, "softmax"), (n - w, "sigmoid")] if w else [(n, "log_softmax")]
    log_layout = [(n - w, "log_softmax"), (w, "identity")]
    ops = {
        "softmax": lambda a, m, t: smk.softmax(a),
        "log_softmax": lambda a, m, t: smk.log_softmax(a, temperature=0.7),
        "masked_softmax": lambda a, m, t: smk.masked_softmax(a, m),
        "masked_softmax_plain": lambda a, m, t: smk.masked_softmax(a, m, renormalize=False),
        "masked_log_softmax": lambda a, m, t: smk.masked_log_softmax(a, m),
        "partitioned": lambda a, m, t: smk.partitioned(a, layout),
        "partitioned_log": lambda a, m, t: smk.partitioned(a, log_layout),
        "softmax_topk": lambda a, m, t: np.concatenate([v.astype(np.float64) for v in smk.softmax_topk(a, k)], axis=-1),
        "cross_entropy": lambda a, m, t: np.concatenate(
            [v.reshape(len(a), -1) for v in smk.cross_entropy(a, t, reduction="none", return_grad=True)], axis=-1),
        "cross_entropy_loss_alone": lambda a, m, t: smk.cross_entropy(a, t, reduction="none"),
    }
    for name, op in ops.items():
        whole = op(x, mask, target)
        for r in range(rows):
            alone = op(x[r:r + 1], mask[r:r + 1], target[r:r + 1])
            np.testing.assert_array_equal(whole[r:r + 1], alone, err_msg=f"{name}, row {r} of {rows}")
    for kind in ("softmax", "masked"):  # in place equals out of place
        y = x.copy()
        if kind == "softmax":
            smk.softmax(y, out=y)
            np.testing.assert_array_equal(y, smk.softmax(x))
        else:
            smk.masked_softmax(y, mask, out=y)
            np.testing.assert_array_equal(y, smk.masked_softmax(x, mask))
