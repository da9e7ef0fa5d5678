"""Scaled dot-product attention (the textbook, its kernel and the module) against PyTorch autograd (float64) and
finite differences; the kernel's tiles, threads and workspace against PyTorch and against one thread.

Error scales (see helpers.py): ``out`` is a convex combination of the rows of v, so its rounding is
measured against max|v|; the three input gradients are measured together against the largest entry of
(dq, dk, dv), the normwise error of the full gradient: a part that is zero by the maths (dq and dk when
S = 1, where the softmax of one score is constant) holds rounding noise of the size of the others' terms.
"""

import math
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import FD_TOL, arrays, assert_close, floats, num_threads, tensor, torch_vjp, upstream_grads
from numpy_attn import functional as F
from numpy_attn import kernels as K
from numpy_attn import nn
from numpy_attn.gradcheck import check_function, relative_error
from numpy_attn.kernels import attention as sdpa_module
from numpy_attn.kernels.workspace import Workspace

# The textbook op and its fast twin, called the same way: the behaviour tests run on both.
twins = pytest.mark.parametrize("impl", [F, K], ids=["textbook", "kernel"])

MASK_KINDS = ["none", "bool", "sparse bool", "float", "causal"]


def integer_arrays(shape, bound=1000):
    """Integer-valued floats in [-bound, bound]: with a power-of-4 scale every score q k^T * scale is
    exact in float64 on both sides, so huge logits test the softmax's stability, not the rounding of
    the (ill-conditioned) scores."""
    return hnp.arrays(np.float64, shape, elements=st.integers(-bound, bound).map(float))


def stretchable_to(draw, shape, label, min_dims=0):
    """A shape that broadcasts to ``shape`` without enlarging it: leading dims dropped, others set to 1."""
    ndim = draw(st.integers(min(min_dims, len(shape)), len(shape)), label=f"{label} ndim")
    kept = shape[len(shape) - ndim:]
    ones = draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim), label=f"{label} ones")
    return tuple(1 if one else n for n, one in zip(kept, ones))


def keep_one_key_per_row(draw, shape):
    """One key index per mask row, (..., 1): the key that stays visible in that row."""
    return draw(hnp.arrays(np.int64, shape[:-1] + (1,), elements=st.integers(0, shape[-1] - 1)), label="kept key")


def draw_mask(draw, kind, shape, every_row_sees_a_key=True):
    """A mask of SDPA's conventions (bool True = takes part; float added, -inf hides) of ``shape``."""
    if kind == "bool":
        mask = draw(hnp.arrays(bool, shape, elements=st.booleans()), label="bool mask")
    elif kind == "sparse bool":  # hide almost everything
        mask = np.zeros(shape, dtype=bool)
    else:
        mask = draw(hnp.arrays(np.float64, shape, elements=st.just(-np.inf) | floats()), label="float mask")
    if every_row_sees_a_key:
        np.put_along_axis(mask, keep_one_key_per_row(draw, shape), True if mask.dtype == bool else 0.0, axis=-1)
    return mask


@st.composite
def sdpa_problems(draw, every_row_sees_a_key=True, kinds=MASK_KINDS):
    """q, k, v with broadcasting batch dims, a mask, a scale and an upstream gradient."""
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), label="batch")
    q_batch, k_batch, v_batch = (stretchable_to(draw, batch, f"{n} batch") for n in "qkv")
    L, S, E, Ev = (draw(st.integers(1, 5), label=n) for n in ("L", "S", "E", "Ev"))
    large = draw(st.booleans(), label="large logits")
    qk = integer_arrays if large else arrays
    q = draw(qk(q_batch + (L, E)), label="q")
    k = draw(qk(k_batch + (S, E)), label="k")
    v = draw(arrays(v_batch + (S, Ev)), label="v")
    scale = draw(st.sampled_from([1.0, 0.25, 1 / 16]) if large else st.none() | floats(0.05, 3.0), label="scale")
    scores_shape = np.broadcast_shapes(q_batch, k_batch) + (L, S)  # a mask may not enlarge q k^T (nor in PyTorch)
    kind = draw(st.sampled_from(kinds), label="mask kind")
    mask = None
    if kind not in ("none", "causal"):
        # at least (L, S): torch 2.13 fails on a 1-D mask with 4-D inputs (IndexError on dim -2); 1-D masks
        # are covered by the finite-difference test below
        mask_shape = stretchable_to(draw, scores_shape, "mask shape", min_dims=2)
        mask = draw_mask(draw, kind, mask_shape, every_row_sees_a_key)
    grad_out = draw(upstream_grads(np.broadcast_shapes(q_batch, k_batch, v_batch) + (L, Ev)), label="grad_out")
    return dict(q=q, k=k, v=v, attn_mask=mask, is_causal=kind == "causal", scale=scale), grad_out


def torch_sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """PyTorch's SDPA on leaf tensors; returns (out, (tq, tk, tv))."""
    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    mask = None if attn_mask is None else torch.as_tensor(attn_mask)
    return TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, is_causal=is_causal, scale=scale), (tq, tk, tv)


def torch_weights(q, k, attn_mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + bias) written out in PyTorch, with SDPA's mask conventions."""
    q, k = torch.as_tensor(q), torch.as_tensor(k)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q * scale) @ k.transpose(-1, -2)
    if is_causal:
        attn_mask = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
    if attn_mask is not None:
        mask = torch.as_tensor(attn_mask)
        scores = scores.masked_fill(~mask, -torch.inf) if mask.dtype == torch.bool else scores + mask
    return torch.softmax(scores, dim=-1)


def assert_matches_torch(args, grad_out, impl):
    """out, dq, dk, dv of ``impl`` (F or K) against torch's scaled_dot_product_attention; returns our cache."""
    out, cache = impl.scaled_dot_product_attention(**args)
    dq, dk, dv = impl.scaled_dot_product_attention_backward(grad_out, cache)
    t_out, inputs = torch_sdpa(**args)
    t_grads = torch_vjp(t_out, inputs, [grad_out])
    grad_scale = max(np.abs(t.numpy()).max() for t in t_grads)
    assert_close(out, t_out, name="out", scale=np.abs(args["v"]).max())
    for name, g, t in zip(("dq", "dk", "dv"), (dq, dk, dv), t_grads):
        assert_close(g, t, name=name, scale=grad_scale)
    return cache


# --- against PyTorch ---------------------------------------------------------------------------------

@twins
@given(problem=sdpa_problems())
def test_sdpa_matches_torch(impl, problem):
    args, grad_out = problem
    cache = assert_matches_torch(args, grad_out, impl)
    expected = torch_weights(args["q"], args["k"], args["attn_mask"], args["is_causal"], args["scale"])
    assert_close(cache.weights, expected.expand(cache.weights.shape), name="weights")


# Tile budgets in bytes that cut these small float64 problems into tiles of one row, a few rows, or groups
# of whole (L, S) matrices with a shorter last group: every tiling must give PyTorch's numbers.
SMALL_TILES = st.sampled_from([8, 24, 40, 64, 200])


@settings(max_examples=40)
@given(problem=sdpa_problems(), tile_bytes=SMALL_TILES)
def test_sdpa_matches_torch_in_any_tiling(problem, tile_bytes):
    args, grad_out = problem
    with mock.patch.object(sdpa_module, "TILE_BYTES", tile_bytes):
        assert_matches_torch(args, grad_out, K)


@pytest.mark.parametrize("tile_bytes", [8, 24, 200, 1000])  # 1 row, 2 rows, whole matrices, 2 matrices a tile
@pytest.mark.parametrize("sparse_mask", [False, True])
def test_sdpa_row_blocks_and_sparse_masks_match_torch(tile_bytes, sparse_mask):
    """Not drawn, so every run has it: L = 7 query rows cut into row blocks whose dk and dv add up, S = 6
    keys, q and k of unit size (dq and dk well away from zero), and a mask that leaves each row few keys
    (one forced, each other at 15%) and one row none."""
    rng = np.random.default_rng(11)
    q, k, v = rng.standard_normal((2, 3, 7, 4)), rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 5))
    mask = None
    if sparse_mask:
        mask = rng.random((2, 3, 7, 6)) < 0.15
        np.put_along_axis(mask, rng.integers(0, 6, (2, 3, 7, 1)), True, axis=-1)  # a key for every row
        mask[..., 3, :] = False  # and one row that sees none
    grad_out = rng.standard_normal((2, 3, 7, 5))
    with mock.patch.object(sdpa_module, "TILE_BYTES", tile_bytes):
        assert_matches_torch(dict(q=q, k=k, v=v, attn_mask=mask), grad_out, K)


@twins
@settings(max_examples=15)
@given(problem=sdpa_problems(every_row_sees_a_key=False, kinds=["bool", "sparse bool", "float"]))
def test_sdpa_fully_masked_rows_match_torchs_safe_softmax(impl, problem):
    """PyTorch 2.13's SDPA also gives zero output (and zero gradients) on a row whose keys are all hidden,
    so the two compare directly, hidden rows included."""
    args, grad_out = problem
    assert_matches_torch(args, grad_out, impl)


@twins
def test_sdpa_fully_masked_rows_are_zero_with_zero_gradients_through_them(impl):
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2))
    mask = rng.random((2, 4, 5)) < 0.6
    mask[:, :, 0] = True
    mask[0, 1] = mask[1, 3] = False  # query 1 of batch 0 and query 3 of batch 1 see no key
    out, cache = impl.scaled_dot_product_attention(q, k, v, mask)
    g = rng.standard_normal(out.shape)
    dq, dk, dv = impl.scaled_dot_product_attention_backward(g, cache)
    assert np.all(out[0, 1] == 0) and np.all(out[1, 3] == 0)
    assert np.all(cache.weights[0, 1] == 0) and np.all(cache.weights[1, 3] == 0)
    assert np.all(dq[0, 1] == 0) and np.all(dq[1, 3] == 0)
    assert all(np.isfinite(x).all() for x in (out, dq, dk, dv))
    # the upstream gradient of a hidden row reaches nothing: change it and dk, dv stay the same
    g2 = g.copy()
    g2[0, 1] = g2[1, 3] = 100.0
    _, dk2, dv2 = impl.scaled_dot_product_attention_backward(g2, cache)
    np.testing.assert_array_equal(dk2, dk)
    np.testing.assert_array_equal(dv2, dv)
    # a float mask of -inf gives the same
    out_f, _ = impl.scaled_dot_product_attention(q, k, v, np.where(mask, 0.0, -np.inf))
    np.testing.assert_array_equal(out_f, out)


@twins
def test_sdpa_huge_logits_stay_finite_and_pick_the_best_key(impl):
    q = np.array([[[1e150, 0.0], [-1e150, 0.0]]])
    k = np.array([[[1e150, 0.0], [-1e150, 0.0], [0.0, 1e150]]])
    v = np.array([[[1.0], [2.0], [3.0]]])
    out, cache = impl.scaled_dot_product_attention(q, k, v)  # scores up to 1e300 / sqrt(2)
    dq, dk, dv = impl.scaled_dot_product_attention_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(cache.weights, [[[1, 0, 0], [0, 1, 0]]])
    np.testing.assert_array_equal(out, [[[1.0], [2.0]]])
    assert all(np.isfinite(x).all() for x in (dq, dk, dv))


# --- causal ----------------------------------------------------------------------------------------

@settings(max_examples=15)
@given(data=st.data(), b=st.integers(1, 3), L=st.integers(1, 6), S=st.integers(1, 6), e=st.integers(1, 4),
       j=st.integers(0, 5))
@twins
def test_causal_hides_the_future(impl, data, b, L, S, e, j):
    """Changing key/value j leaves the outputs of queries i < j unchanged (bit for bit: their weight on j is
    exactly 0), and keys no query may see (j >= L) get exactly zero gradient."""
    j = j % S
    q, k, v = (data.draw(arrays(s), label=n) for n, s in (("q", (b, L, e)), ("k", (b, S, e)), ("v", (b, S, e))))
    out, cache = impl.scaled_dot_product_attention(q, k, v, is_causal=True)
    k2, v2 = k.copy(), v.copy()
    k2[:, j] += data.draw(arrays((b, e), 1.0, 5.0), label="dk")
    v2[:, j] += data.draw(arrays((b, e), 1.0, 5.0), label="dv")
    out2, _ = impl.scaled_dot_product_attention(q, k2, v2, is_causal=True)
    np.testing.assert_array_equal(out2[:, :j], out[:, :j])
    grad_out = data.draw(upstream_grads(out.shape), label="grad_out")
    _, dk, dv = impl.scaled_dot_product_attention_backward(grad_out, cache)
    assert np.all(dk[:, L:] == 0) and np.all(dv[:, L:] == 0)


@twins
def test_causal_is_the_lower_triangular_bool_mask(impl):
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 4))
    out, cache = impl.scaled_dot_product_attention(q, k, v, is_causal=True)
    out_m, _ = impl.scaled_dot_product_attention(q, k, v, np.tri(5, 3, dtype=bool))
    np.testing.assert_array_equal(out, out_m)
    assert np.all(np.triu(cache.weights, 1) == 0)  # key j > query i gets no weight (top-left aligned)


# --- dropout ---------------------------------------------------------------------------------------

def qkv(rng, shape=(2, 4, 5, 3)):
    return tuple(rng.standard_normal(shape) for _ in range(3))


@twins
def test_dropout_mask_is_reproducible_with_a_fixed_rng(impl):
    q, k, v = qkv(np.random.default_rng(2))
    out1, c1 = impl.scaled_dot_product_attention(q, k, v, dropout_p=0.4, rng=11)
    out2, c2 = impl.scaled_dot_product_attention(q, k, v, dropout_p=0.4, rng=np.random.default_rng(11))
    out3, c3 = impl.scaled_dot_product_attention(q, k, v, dropout_p=0.4, rng=12)
    np.testing.assert_array_equal(c1.dropout_mask, c2.dropout_mask)
    np.testing.assert_array_equal(out1, out2)
    assert not np.array_equal(c1.dropout_mask, c3.dropout_mask)
    assert set(np.unique(c1.dropout_mask)) == {0.0, 1 / 0.6}  # inverted dropout: kept weights scaled by 1/(1-p)
    np.testing.assert_allclose(out1, (c1.weights * c1.dropout_mask) @ v, rtol=1e-14)


@settings(max_examples=10)
@given(data=st.data(), p=st.sampled_from([0.2, 0.5, 0.9]), seed=st.integers(0, 2**16),
       tile_bytes=st.none() | SMALL_TILES)
@twins
def test_dropout_backward_matches_torch_with_the_same_mask(impl, data, p, seed, tile_bytes):
    """PyTorch draws its own masks; give it ours: out = (softmax(q k^T * scale) * mask) v."""
    q, k, v = (data.draw(arrays((2, 3, 4)), label=n) for n in "qkv")
    with mock.patch.object(sdpa_module, "TILE_BYTES", tile_bytes or sdpa_module.TILE_BYTES):
        out, cache = impl.scaled_dot_product_attention(q, k, v, dropout_p=p, rng=seed)
        g = data.draw(upstream_grads(out.shape), label="grad_out")
        grads = impl.scaled_dot_product_attention_backward(g, cache)
    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    t_out = (torch_weights(tq, tk) * torch.as_tensor(cache.dropout_mask)) @ tv
    t_grads = torch_vjp(t_out, [tq, tk, tv], [g])
    grad_scale = max(np.abs(t.numpy()).max() for t in t_grads)
    assert_close(out, t_out, name="out", scale=np.abs(v).max() / (1 - p))
    for name, ours, theirs in zip(("dq", "dk", "dv"), grads, t_grads):
        assert_close(ours, theirs, name=name, scale=grad_scale)


def test_dropout_backward_finite_differences_with_the_same_mask():
    q, k, v = qkv(np.random.default_rng(3))
    forward = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, rng=7)  # noqa: E731
    assert 0 < (forward(q, k, v)[1].dropout_mask == 0).mean() < 1  # the mask really drops and keeps
    errors = check_function(forward, F.scaled_dot_product_attention_backward, [q, k, v])
    assert max(errors.values()) < FD_TOL, errors


def test_dropout_zero_and_eval_mode_are_the_identity():
    q, k, v = qkv(np.random.default_rng(4))
    out0, c0 = K.scaled_dot_product_attention(q, k, v)
    out_p0, c_p0 = K.scaled_dot_product_attention(q, k, v, dropout_p=0.0, rng=5)
    assert c_p0.dropout_mask is None
    np.testing.assert_array_equal(out_p0, out0)
    module = nn.ScaledDotProductAttention(dropout_p=0.7, rng=5)
    module.eval()
    out_eval, w_eval = module(q, k, v)
    np.testing.assert_array_equal(out_eval, out0)
    np.testing.assert_array_equal(w_eval, c0.weights)
    module.train()
    out_train, w_train = module(q, k, v)
    assert np.any(w_train == 0) and not np.array_equal(out_train, out0)
    np.testing.assert_allclose(out_train, w_train @ v, rtol=1e-14)  # the returned weights mixed the values


# --- the module ------------------------------------------------------------------------------------

@settings(max_examples=15)
@given(problem=sdpa_problems())
def test_sdpa_module_is_the_kernel(problem):
    args, grad_out = problem
    args = dict(args)
    module = nn.ScaledDotProductAttention(scale=args.pop("scale"))
    out, weights = module(**args)
    grads = module.backward(grad_out)
    f_out, cache = K.scaled_dot_product_attention(**args, scale=module.scale)
    np.testing.assert_array_equal(out, f_out)
    np.testing.assert_array_equal(weights, cache.weights)
    for g, f in zip(grads, K.scaled_dot_product_attention_backward(grad_out, cache)):
        np.testing.assert_array_equal(g, f)


# --- finite differences ----------------------------------------------------------------------------

@pytest.mark.parametrize("shapes, mask, is_causal, scale", [
    (((2, 3, 4), (2, 5, 4), (2, 5, 2)), None, False, None),
    (((2, 3, 4), (1, 5, 4), (5, 2)), np.array([[True, False, True, False, False]] * 3), False, None),  # broadcast
    (((2, 3, 4), (2, 5, 4), (2, 5, 3)), np.array([0.0, -np.inf, 1.5, -0.5, -np.inf]), False, 0.7),
    (((3, 6, 2), (3, 4, 2), (3, 4, 3)), None, True, None),  # causal with L > S
])
@twins
def test_sdpa_finite_differences(impl, shapes, mask, is_causal, scale):
    rng = np.random.default_rng(5)
    forward = lambda q, k, v: impl.scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal, scale=scale)  # noqa
    inputs = [rng.standard_normal(s) for s in shapes]
    errors = check_function(forward, impl.scaled_dot_product_attention_backward, inputs)
    assert max(errors.values()) < FD_TOL, errors


# --- dtype and bad input ---------------------------------------------------------------------------

@twins
def test_sdpa_keeps_float32(impl):
    q, k, v = (x.astype(np.float32) for x in qkv(np.random.default_rng(6)))
    out, cache = impl.scaled_dot_product_attention(q, k, v, np.ones((5, 5), bool), scale=0.3)
    grads = impl.scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert {out.dtype, cache.weights.dtype, *(g.dtype for g in grads)} == {np.dtype(np.float32)}
    out64, _ = impl.scaled_dot_product_attention(*(x.astype(np.float64) for x in (q, k, v)), scale=0.3)
    assert relative_error(out, out64) < 1e-6


ONES = np.ones((2, 3, 4))


@pytest.mark.parametrize("q, k, v, kwargs, error", [
    (np.ones(4), ONES, ONES, {}, "query: expected at least 2 dimension"),
    (ONES, np.ones((2, 3, 5)), ONES, {}, r"key: expected last dimension 4 \(query's E\)"),
    (ONES, ONES, np.ones((2, 2, 4)), {}, r"value: expected 3 rows \(key's S\)"),
    (ONES, ONES, ONES.astype(np.float32), {}, "value: dtype float32 does not match query's dtype float64"),
    (ONES.astype(int), ONES, ONES, {}, "query: expected a floating-point array"),
    (np.full((2, 3, 4), np.nan), ONES, ONES, {}, "query: contains NaN or inf"),
    (np.ones((3, 3, 4)), ONES, ONES, {}, "batch dims .* do not broadcast"),
    (ONES, ONES, ONES, dict(attn_mask=np.ones((3, 4), bool)), r"attn_mask: expected a shape broadcastable to"),
    (ONES, ONES, ONES, dict(attn_mask=np.ones((3, 2, 3, 3), bool)), "broadcastable to"),  # would enlarge the batch
    (ONES, ONES, ONES, dict(attn_mask=np.ones((3, 3), int)), "attn_mask: expected a bool or floating-point"),
    (ONES, ONES, ONES, dict(attn_mask=np.full((3, 3), np.nan)), r"got NaN or \+inf"),
    (ONES, ONES, ONES, dict(attn_mask=np.full((3, 3), np.inf)), r"got NaN or \+inf"),
    (ONES, ONES, ONES, dict(attn_mask=np.ones((3, 3), bool), is_causal=True), "attn_mask and is_causal"),
    (ONES, ONES, ONES, dict(dropout_p=1.5), r"dropout_p: expected a probability in \[0, 1\]"),
])
@twins
def test_sdpa_rejects_bad_input(impl, q, k, v, kwargs, error):
    with pytest.raises((ValueError, TypeError), match=error):
        impl.scaled_dot_product_attention(q, k, v, **kwargs)


def test_sdpa_module_errors():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.ScaledDotProductAttention().backward(ONES)
    with pytest.raises(ValueError, match="dropout_p: expected a probability"):
        nn.ScaledDotProductAttention(dropout_p=-0.1)


# --- tiles and the weights buffer ---------------------------------------------------------------------

@given(batch=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), L=st.integers(1, 6), S=st.integers(1, 6),
       tile_bytes=st.integers(1, 2000))
def test_tiles_cover_every_query_row_of_every_matrix_once_and_groups_share_no_matrix(batch, L, S, tile_bytes):
    with mock.patch.object(sdpa_module, "TILE_BYTES", tile_bytes):
        groups = sdpa_module._tile_groups(batch, L, S, 8)
    seen = np.zeros(batch + (L,), int)
    owners = np.zeros(batch, int)  # how many groups touch each (L, S) matrix
    for group in groups:
        touched = np.zeros(batch, bool)
        for tile in group:
            seen[tile] += 1
            touched[tile[:-1]] = True
        owners += touched
    assert (seen == 1).all()
    assert (owners == 1).all()  # so threads that take whole groups never add into the same dk[n], dv[n]


@settings(max_examples=30)
@given(problem=sdpa_problems(every_row_sees_a_key=False), tile_bytes=SMALL_TILES, threads=st.sampled_from([2, 3]),
       p=st.sampled_from([0.0, 0.5]))
def test_threads_give_the_numbers_of_one_thread(problem, tile_bytes, threads, p):
    """Tiles shared out among threads (numpy_attn.kernels.parallel) are the same calls on the same data: bit for bit."""
    args, grad_out = problem
    results = []
    with mock.patch.object(sdpa_module, "TILE_BYTES", tile_bytes):
        for n in (1, threads):
            with num_threads(n):
                out, cache = K.scaled_dot_product_attention(**args, dropout_p=p, rng=5)
                results.append((out, cache.weights, *K.scaled_dot_product_attention_backward(grad_out, cache)))
    for name, one, many in zip(("out", "weights", "dq", "dk", "dv"), *results):
        np.testing.assert_array_equal(many, one, err_msg=name)


def test_a_workspace_keeps_its_arrays_and_gives_the_fresh_numbers():
    """With a Workspace the forward and backward write into kept arrays (the same ones for the same shapes,
    the front of them for smaller ones); every number is the one a call without it gives, over changing
    shapes and masks."""
    rng = np.random.default_rng(8)
    ws = Workspace()
    seen = []
    for shape, causal in [((2, 3, 5, 4), True), ((2, 3, 5, 4), False), ((1, 7, 2), True), ((2, 3, 5, 4), True)]:
        q, k, v, g = (rng.standard_normal(shape) for _ in range(4))
        out, cache = K.scaled_dot_product_attention(q, k, v, is_causal=causal, workspace=ws)
        grads = K.scaled_dot_product_attention_backward(g, cache, workspace=ws)
        want_out, want_cache = K.scaled_dot_product_attention(q, k, v, is_causal=causal)
        want_grads = K.scaled_dot_product_attention_backward(g, want_cache)
        for a, b in zip((out, cache.weights, *grads), (want_out, want_cache.weights, *want_grads)):
            np.testing.assert_array_equal(a, b)
        seen.append((shape, cache.weights, grads[1]))
    assert seen[1][1] is seen[0][1] and np.shares_memory(seen[1][2], seen[0][2])  # same shape: the same arrays
    assert seen[2][1].shape == (1, 7, 7) and np.shares_memory(seen[2][1], seen[0][1])  # smaller: the kept ones' front
    assert np.shares_memory(seen[3][2], seen[0][2])  # the first shape again: the first arrays


@pytest.mark.parametrize("q_shape, kv_shape", [((2, 0, 4), (2, 3)), ((0, 2, 4), (0, 3)), ((3, 0, 2, 4), (3, 0, 3)),
                                               ((2, 3, 4), (2, 0)), ((3, 4), (0,)), ((2, 1, 4), (1, 0))])
@twins
@pytest.mark.parametrize("is_causal", [False, True])
def test_no_query_rows_no_keys_or_an_empty_batch_give_the_outputs_of_torch(impl, q_shape, kv_shape, is_causal):
    """No query rows or an empty batch: out and dq are empty, dk and dv zero (no query used a key). No keys
    (S = 0): every row attends to nothing, as a fully masked row: out and dq zero, A (..., L, 0). As PyTorch."""
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal(q_shape), rng.standard_normal(kv_shape + (4,)), rng.standard_normal(kv_shape + (5,))
    out, cache = impl.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    g = rng.standard_normal(out.shape)
    grads = impl.scaled_dot_product_attention_backward(g, cache)
    assert cache.weights.shape == out.shape[:-1] + (k.shape[-2],)
    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    t_out = TF.scaled_dot_product_attention(tq, tk, tv, is_causal=is_causal)
    t_grads = torch_vjp(t_out, [tq, tk, tv], [g])
    for name, ours, theirs in zip(("out", "dq", "dk", "dv"), (out, *grads), (t_out, *t_grads)):
        assert ours.shape == tuple(theirs.shape), name
        np.testing.assert_array_equal(ours, theirs.detach().numpy(), err_msg=name)
