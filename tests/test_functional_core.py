"""Core functional pairs against PyTorch autograd (float64) and against finite differences; where an op has a
fast twin in numpy_attn.kernels, both the textbook and the kernel are checked against PyTorch."""

import re
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import FD_TOL, arrays, assert_close, shapes, tensor, torch_vjp, upstream_grads
from numpy_attn import functional as F
from numpy_attn import kernels as K
from numpy_attn._validate import check_finite
from numpy_attn.gradcheck import check_function
from numpy_attn.kernels import rows as _rows
from numpy_attn.kernels.softmax import softmax_into

TWINS = {"textbook": F, "kernel": K}  # an op and its fast twin, called the same way


def upstream_like(data, shape):
    return data.draw(upstream_grads(shape), label="upstream gradient")


# --- linear -------------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", TWINS)
@given(data=st.data(), lead=shapes(1, 3), n_in=st.integers(1, 6), n_out=st.integers(1, 6), bias=st.booleans())
def test_linear_matches_torch(impl, data, lead, n_in, n_out, bias):
    x = data.draw(arrays(lead + (n_in,)))
    w = data.draw(arrays((n_out, n_in)))
    b = data.draw(arrays((n_out,))) if bias else None
    out, cache = TWINS[impl].linear(x, w, b)
    g = upstream_like(data, out.shape)
    gx, gw, gb = TWINS[impl].linear_backward(g, cache)

    tx, tw = tensor(x), tensor(w)
    tb = tensor(b) if bias else None
    tout = TF.linear(tx, tw, tb)
    grads = torch_vjp(tout, [tx, tw] + ([tb] if bias else []), [g])
    mx, mw, mg = np.abs(x).max(), np.abs(w).max(), np.abs(g).max()
    assert_close(out, tout, name="out", scale=mx * mw)
    assert_close(gx, grads[0], name="grad_x", scale=mg * mw)
    assert_close(gw, grads[1], name="grad_weight", scale=mg * mx)
    if bias:
        assert_close(gb, grads[2], name="grad_bias")
    else:
        assert gb is None


def test_linear_finite_differences():
    rng = np.random.default_rng(1)
    errors = check_function(F.linear, F.linear_backward,
                            [rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)])
    assert max(errors.values()) < FD_TOL, errors


# --- elementwise activations --------------------------------------------------------------------

ACTIVATIONS = {
    "sigmoid": (F.sigmoid, F.sigmoid_backward, torch.sigmoid),
    "tanh": (F.tanh, F.tanh_backward, torch.tanh),
    "relu": (F.relu, F.relu_backward, torch.relu),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@given(data=st.data(), shape=shapes(1, 4))
def test_activation_matches_torch(name, data, shape):
    fn, fn_backward, torch_fn = ACTIVATIONS[name]
    x = data.draw(arrays(shape, -40, 40))  # wide enough to saturate sigmoid and tanh
    out, cache = fn(x)
    g = upstream_like(data, shape)
    tx = tensor(x)
    tout = torch_fn(tx)
    assert_close(out, tout, name=f"{name} out")
    # 1 - t^2 and s (1 - s) are formed from outputs of size ~1 and cancel where they saturate
    assert_close(fn_backward(g, cache), torch_vjp(tout, [tx], [g])[0], name=f"{name} grad", scale=np.abs(g).max())


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_finite_differences(name):
    fn, fn_backward, _ = ACTIVATIONS[name]
    x = np.random.default_rng(2).standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep relu's kink at 0 out of the finite-difference stencil
    assert check_function(fn, fn_backward, [x])[0] < FD_TOL


def test_sigmoid_is_exact_in_the_far_tails():
    x = np.array([-800.0, -40.0, 40.0, 800.0])
    out, _ = F.sigmoid(x)
    assert np.isfinite(out).all()
    assert_close(out, torch.sigmoid(torch.tensor(x)), tol=1e-15, name="sigmoid tails")


# --- softmax and log-softmax --------------------------------------------------------------------

SOFTMAXES = {
    "softmax": (F.softmax, F.softmax_backward, torch.softmax),
    "softmax kernel": (K.softmax, K.softmax_backward, torch.softmax),
    "log_softmax": (F.log_softmax, F.log_softmax_backward, torch.log_softmax),
}


@pytest.mark.parametrize("name", SOFTMAXES)
@given(data=st.data(), shape=shapes(1, 4), scale=st.sampled_from([1.0, 1e2, 1e4]))
def test_softmax_matches_torch_any_axis(name, data, shape, scale):
    """Each block size in turn (the kernel's): over the last axis, blocks of one row, of a few rows, all rows."""
    fn, fn_backward, torch_fn = SOFTMAXES[name]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = data.draw(arrays(shape)) * scale
    g = upstream_like(data, shape)
    tx = tensor(x)
    tout = torch_fn(tx, dim=axis)
    grad = torch_vjp(tout, [tx], [g])[0]
    for block_bytes in (8, 100, 1 << 20):
        with mock.patch.object(_rows, "BLOCK_BYTES", block_bytes):
            out, cache = fn(x, axis=axis)
            dx = fn_backward(g, cache)
        assert_close(out, tout, name=f"{name} out", scale=1.0)
        assert_close(dx, grad, name=f"{name} grad", scale=np.abs(g).max() * g.shape[axis])


@pytest.mark.parametrize("block_bytes", [8, 100, 1 << 20])
def test_softmax_in_row_blocks_matches_torch(block_bytes):
    """Rows of 5 float64 (40 bytes): blocks of one row, of two rows, and all 12 rows in one block."""
    rng = np.random.default_rng(11)
    x, g = rng.standard_normal((3, 4, 5)) * 3, rng.standard_normal((3, 4, 5))
    tx = tensor(x)
    tout = torch.softmax(tx, dim=-1)
    with mock.patch.object(_rows, "BLOCK_BYTES", block_bytes):
        out, cache = K.softmax(x)
        dx = K.softmax_backward(g, cache)
    assert_close(out, tout, name="softmax out", scale=1.0)
    assert_close(dx, torch_vjp(tout, [tx], [g])[0], name="softmax grad", scale=np.abs(g).max() * 5)


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_finite_differences(name):
    fn, fn_backward, _ = SOFTMAXES[name]
    x = np.random.default_rng(3).standard_normal((3, 4, 5))
    assert check_function(lambda x: fn(x, axis=1), fn_backward, [x])[0] < FD_TOL


@pytest.mark.parametrize("impl", TWINS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_at_extreme_logits(impl, dtype):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0], [-1e4, -1e4, -1e4, -1e4 + 2.0]], dtype=dtype)
    probs, _ = TWINS[impl].softmax(x)
    logp, _ = F.log_softmax(x)
    assert probs.dtype == dtype and logp.dtype == dtype
    e = np.e
    # Exact values from the shift-invariance: row 0 is softmax([0, -2e4, -1e4, -1]), row 1 softmax([0,0,0,2]).
    expected = np.array([[e / (e + 1), 0.0, 0.0, 1 / (e + 1)], [1, 1, 1, e * e]]) / np.array([[1.0], [3 + e * e]])
    tol = 10 * np.finfo(dtype).eps
    assert_close(probs, expected, tol=tol, name="softmax at 1e4")
    assert_close(logp[1], np.log(expected[1]), tol=tol, name="log_softmax at 1e4")
    assert logp[0, 1] == pytest.approx(-2e4 - np.log1p(1 / e), rel=float(tol))  # pytest 9: a float, not np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S", [1, 2, 64])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_into_is_the_softmax_with_and_without_the_shift(dtype, S, axis):
    """A block within +-limit skips the row-max shift, any other block takes it; both are the softmax.
    Blocks: rows at the limit and across it; a row just above it (S exp(s) would overflow unshifted);
    one below it (exp(s) subnormal or zero unshifted); hidden keys. Against float64 from the same inputs,
    each entry within (S + 4 + 2 * (limit + 20)) eps relative (the rounding of s - m, exp, the row sum,
    the reciprocal and the product), or below the smallest normal float where float32 underflows."""
    info = np.finfo(dtype)
    limit = min(-np.log(info.tiny), np.log(info.max / S)) - 1.0
    spread = np.linspace(0.0, 20.0, S)
    blocks = [[np.full(S, limit), np.full(S, -limit), np.linspace(-limit, limit, S)],
              [np.full(S, np.log(info.max / S) + 0.5)],
              [np.log(info.tiny) - 0.5 - spread],
              [np.r_[-np.inf, np.zeros(S - 1)], np.full(S, -np.inf)]]
    for rows in blocks + [sum(blocks, [])]:
        block = np.array(rows, dtype=dtype)
        got = softmax_into(block.copy(), np.empty_like(block)) if axis == -1 else \
            softmax_into(block.T.copy(), np.empty_like(block.T), axis=0).T  # the rows as columns
        exact = block.astype(np.float64)
        with np.errstate(invalid="ignore"):
            e = np.exp(exact - np.max(exact, axis=-1, keepdims=True))
            want = np.nan_to_num(e / e.sum(axis=-1, keepdims=True))  # a fully hidden row: 0
        np.testing.assert_allclose(got, want, rtol=(S + 4 + 2 * (limit + 20)) * info.eps, atol=info.tiny)


@pytest.mark.parametrize("impl", TWINS)
@pytest.mark.parametrize("shape, axis", [((0, 3), -1), ((3, 0), -1), ((3, 0), 0), ((0, 3), 0)])
def test_softmax_of_an_empty_batch_or_over_no_entries_is_empty_as_torch(impl, shape, axis):
    a, cache = TWINS[impl].softmax(np.zeros(shape), axis)
    assert a.shape == tuple(torch.softmax(torch.zeros(shape), axis).shape) == shape
    assert TWINS[impl].softmax_backward(np.zeros(shape), cache).shape == shape


# --- layer norm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", TWINS)
@given(data=st.data(), lead=shapes(1, 2), norm=shapes(1, 2, min_side=2), affine=st.booleans(),
       block_bytes=st.sampled_from([8, 100, 1 << 20]))
def test_layer_norm_matches_torch(impl, data, lead, norm, affine, block_bytes):
    """block_bytes (the kernel's): blocks of one row, of a few rows, and all rows in one block."""
    x = data.draw(arrays(lead + norm))
    w = data.draw(arrays(norm)) if affine else None
    b = data.draw(arrays(norm)) if affine else None
    g = upstream_like(data, x.shape)
    with mock.patch.object(_rows, "BLOCK_BYTES", block_bytes):
        out, cache = TWINS[impl].layer_norm(x, norm, w, b, eps=1e-5)
        gx, gw, gb = TWINS[impl].layer_norm_backward(g, cache)
    leaves = [tensor(x)] + ([tensor(w), tensor(b)] if affine else [])
    tout = TF.layer_norm(leaves[0], norm, *(leaves[1:] if affine else [None, None]), eps=1e-5)
    grads = torch_vjp(tout, leaves, [g])
    axes = tuple(range(len(lead), x.ndim))
    rstd = 1.0 / np.sqrt(x.var(axis=axes) + 1e-5)
    d = g * w if affine else g
    assert_close(out, tout, name="out", scale=rstd.max() * np.abs(x).max())
    assert_close(gx, grads[0], name="grad_x", scale=rstd.max() * np.abs(d).max() * 3)
    if affine:
        rows = int(np.prod(lead))  # xhat = (x - mean) rstd carries rounding of size rstd max|x| u
        assert_close(gw, grads[1], name="grad_weight", scale=rows * np.abs(g).max() * rstd.max() * np.abs(x).max())
        assert_close(gb, grads[2], name="grad_bias", scale=rows * np.abs(g).max())


@pytest.mark.parametrize("impl", TWINS)
@pytest.mark.parametrize("shape, norm", [((0, 4), (4,)), ((2, 0, 3, 4), (3, 4)), ((3, 0), (0,))])
def test_layer_norm_of_an_empty_batch_or_over_no_entries_is_empty_as_torch(impl, shape, norm):
    x, w, b = np.zeros(shape), np.ones(norm), np.zeros(norm)
    leaves = [tensor(a) for a in (x, w, b)]
    grads = torch_vjp(TF.layer_norm(leaves[0], norm, leaves[1], leaves[2]), leaves, [np.ones(shape)])
    out, cache = TWINS[impl].layer_norm(x, norm, w, b)
    assert out.shape == shape
    for got, want in zip(TWINS[impl].layer_norm_backward(np.ones(shape), cache), grads):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("impl", TWINS)
def test_softmax_backward_refuses_a_gradient_of_the_wrong_shape(impl):
    _, cache = TWINS[impl].softmax(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"softmax grad_out: expected shape \(2, 3\) \(the output's\), got \(3,\)"):
        TWINS[impl].softmax_backward(np.ones(3), cache)  # would broadcast silently


@pytest.mark.parametrize("impl", TWINS)
def test_layer_norm_refuses_parameters_and_gradients_of_the_wrong_shape(impl):
    x, ln = np.ones((2, 3, 4)), TWINS[impl]
    with pytest.raises(ValueError, match=r"weight: expected shape \(3, 4\) \(normalized_shape\), got \(4,\)"):
        ln.layer_norm(x, (3, 4), np.ones(4))  # would broadcast silently
    with pytest.raises(ValueError, match=r"layer_norm bias: expected shape \(4,\) \(normalized_shape\), got \(1,\)"):
        ln.layer_norm(x, 4, np.ones(4), np.ones(1))
    _, cache = ln.layer_norm(x, 4, np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2, 3, 4\) \(the input's\), got \(3, 4\)"):
        ln.layer_norm_backward(np.ones((3, 4)), cache)


def test_layer_norm_finite_differences():
    rng = np.random.default_rng(4)
    errors = check_function(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), F.layer_norm_backward,
                            [rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))])
    assert max(errors.values()) < FD_TOL, errors


# --- dropout ------------------------------------------------------------------------------------

def test_dropout_identity_when_p_is_zero_or_in_eval():
    x = np.random.default_rng(5).standard_normal((4, 6))
    for p, training in [(0.0, True), (0.7, False)]:
        out, cache = F.dropout(x, p, training, rng=0)
        assert out is x
        g = np.ones_like(x) * 3.0
        assert F.dropout_backward(g, cache) is g


def test_dropout_mask_comes_from_the_generator_and_backward_reuses_it():
    x = np.random.default_rng(6).standard_normal((50, 40))
    out1, mask1 = F.dropout(x, 0.3, rng=np.random.default_rng(11))
    out2, _ = F.dropout(x, 0.3, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(out1, out2)
    kept = mask1 != 0
    np.testing.assert_allclose(out1[kept], x[kept] / 0.7, rtol=1e-15)
    assert (out1[~kept] == 0).all()
    g = np.random.default_rng(7).standard_normal(x.shape)
    np.testing.assert_allclose(F.dropout_backward(g, mask1), g * kept / 0.7, rtol=1e-15)
    # the kept share is Binomial(2000, 0.7)/2000: its std is 0.0102, so 0.05 is a 5-sigma band
    assert abs(kept.mean() - 0.7) < 0.05


def test_dropout_p_one_zeroes_everything():
    out, mask = F.dropout(np.ones((3, 3)), 1.0, rng=0)
    assert (out == 0).all() and (F.dropout_backward(np.ones((3, 3)), mask) == 0).all()


def test_dropout_finite_differences_with_a_fixed_mask():
    x = np.random.default_rng(8).standard_normal((4, 5))
    assert check_function(lambda x: F.dropout(x, 0.4, rng=3), F.dropout_backward, [x])[0] < FD_TOL


# --- embedding ----------------------------------------------------------------------------------

@given(data=st.data(), n=st.integers(1, 6), d=st.integers(1, 4), idx_shape=shapes(1, 3),
       use_padding=st.booleans())
def test_embedding_matches_torch_and_accumulates_repeats(data, n, d, idx_shape, use_padding):
    w = data.draw(arrays((n, d)))
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, n - 1)), label="indices")
    pad = data.draw(st.integers(0, n - 1)) if use_padding else None
    out, cache = F.embedding(idx, w, pad)
    g = upstream_like(data, out.shape)
    tw = tensor(w)
    tout = TF.embedding(torch.tensor(idx), tw, padding_idx=pad)
    assert_close(out, tout, name="out")
    assert_close(F.embedding_backward(g, cache), torch_vjp(tout, [tw], [g])[0], name="grad_weight")


def test_embedding_repeated_index_sums_its_gradients():
    w = np.zeros((3, 2))
    _, cache = F.embedding(np.array([1, 1, 2, 1]), w)
    g = np.array([[1.0, 2.0], [10.0, 20.0], [5.0, 5.0], [100.0, 200.0]])
    np.testing.assert_array_equal(F.embedding_backward(g, cache), [[0, 0], [111, 222], [5, 5]])


def test_embedding_rejects_bad_indices():
    w = np.zeros((3, 2))
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(np.array([0, 3]), w)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(np.array([0.0, 1.0]), w)


# --- losses -------------------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


def _check_loss(data, ours, ours_backward, theirs, x, target, reduction, loss_scale=0.0, grad_cancels=False, **kw):
    """grad_cancels: the gradient is a difference of terms up to the upstream gradient's size (p - q), which
    may cancel to 0; it is then compared relative to that size."""
    loss, cache = ours(x, target, reduction=reduction, **kw)
    tx = tensor(x)
    ttarget = torch.tensor(target) if np.asarray(target).dtype.kind in "iu" else tensor(target, False)
    tloss = theirs(tx, ttarget, reduction=reduction, **kw)
    g = upstream_like(data, np.shape(loss))
    assert_close(loss, tloss, name="loss", scale=loss_scale)
    grad_scale = np.abs(g).max(initial=0) if grad_cancels else 0.0
    assert_close(ours_backward(g, cache), torch_vjp(tloss, [tx], [g])[0], name="grad_input", scale=grad_scale)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=shapes(1, 3))
def test_mse_loss_matches_torch(reduction, data, shape):
    x, y = data.draw(arrays(shape)), data.draw(arrays(shape))
    _check_loss(data, F.mse_loss, F.mse_loss_backward, TF.mse_loss, x, y, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=shapes(1, 3))
def test_binary_cross_entropy_matches_torch(reduction, data, shape):
    # probabilities drawn in [0, 1], endpoints included: the -100 clamp and the 1e-12 clamp are exercised
    p = data.draw(arrays(shape, 0.0, 1.0))
    y = data.draw(arrays(shape, 0.0, 1.0))
    _check_loss(data, F.binary_cross_entropy, F.binary_cross_entropy_backward, TF.binary_cross_entropy,
                p, y, reduction)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    loss, _ = F.binary_cross_entropy(np.array([0.0, 1.0]), np.array([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(loss, [100.0, 100.0])
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(np.array([1.5]), np.array([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=shapes(1, 3))
def test_bce_with_logits_matches_torch(reduction, data, shape):
    x = data.draw(arrays(shape, -1e3, 1e3))
    y = data.draw(arrays(shape, 0.0, 1.0))
    # PyTorch forms the loss as (1 - y) x + m + log(exp(-m) + exp(-x - m)), m = max(-x, 0): terms of size |x|
    # cancel, so its rounding is u |x|; ours uses log1p and is accurate to u relative (see the test below).
    scale = np.abs(x).max() * (x.size if reduction == "sum" else 1)
    _check_loss(data, F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_backward,
                TF.binary_cross_entropy_with_logits, x, y, reduction, loss_scale=scale)


def test_bce_with_logits_is_accurate_where_the_loss_is_tiny():
    import math
    x = np.array([-13.0, -40.0, 30.0])
    loss, _ = F.binary_cross_entropy_with_logits(x, np.array([0.0, 0.0, 1.0]), reduction="none")
    expected = [math.log1p(math.exp(-13.0)), math.log1p(math.exp(-40.0)), math.log1p(math.exp(-30.0))]
    assert_close(loss, expected, tol=4e-16, name="tiny losses")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), n=st.integers(1, 6), c=st.integers(1, 5), scale=st.sampled_from([1.0, 1e3]),
       label_smoothing=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)))
def test_cross_entropy_matches_torch(reduction, data, n, c, scale, label_smoothing):
    x = data.draw(arrays((n, c))) * scale
    target = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    if n > 1:
        target[data.draw(st.integers(0, n - 1))] = -100  # one ignored row; mean divides by the rest
    # smoothing sums -log p over every class: terms up to scale |x| each, so the rounding is relative to them
    loss_scale = label_smoothing * np.abs(x).max(initial=0) * (n if reduction == "sum" else 1)
    _check_loss(data, F.cross_entropy, F.cross_entropy_backward, TF.cross_entropy, x, target, reduction,
                loss_scale=loss_scale, grad_cancels=label_smoothing > 0, label_smoothing=label_smoothing)


def test_cross_entropy_label_smoothing_is_the_smoothed_targets_cross_entropy():
    x, t, e = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]]), np.array([2, 1]), 0.3
    q = np.full((2, 3), e / 3) + (1 - e) * np.eye(3)[t]                  # (1 - e) onehot + e / C
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    loss, cache = F.cross_entropy(x, t, reduction="none", label_smoothing=e)
    assert_close(loss, -(q * logp).sum(axis=1), tol=1e-15, name="loss")
    assert_close(F.cross_entropy_backward(np.ones(2), cache), np.exp(logp) - q, tol=1e-15, name="grad")
    for bad in (-0.1, 1.5, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="label_smoothing"):
            F.cross_entropy(x, t, label_smoothing=bad)


@pytest.mark.parametrize("loss, backward, target", [
    (F.mse_loss, F.mse_loss_backward, lambda r: r.standard_normal((3, 4))),
    (F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_backward, lambda r: r.random((3, 4))),
])
def test_loss_finite_differences(loss, backward, target):
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((3, 4)), target(rng)
    assert check_function(lambda x: loss(x, y), backward, [x])[0] < FD_TOL


def test_cross_entropy_and_bce_finite_differences():
    rng = np.random.default_rng(10)
    x, t = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    assert check_function(lambda x: F.cross_entropy(x, t), F.cross_entropy_backward, [x])[0] < FD_TOL
    assert check_function(lambda x: F.cross_entropy(x, t, label_smoothing=0.2), F.cross_entropy_backward,
                          [x])[0] < FD_TOL
    p, y = rng.uniform(0.1, 0.9, (3, 4)), rng.random((3, 4))
    assert check_function(lambda p: F.binary_cross_entropy(p, y), F.binary_cross_entropy_backward, [p])[0] < FD_TOL


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error, match", [
    (np.array([[1, 2]]), TypeError, "floating-point"),
    (np.array([[1 + 2j, 0]]), TypeError, "floating-point"),
    (np.array([[np.nan, 0.0]]), ValueError, "NaN"),
    (np.array([[np.inf, 0.0]]), ValueError, r"NaN or \+?inf"),
])
def test_bad_values_are_refused_with_a_clear_message(bad, error, match):
    for fn in (F.tanh, F.softmax, F.sigmoid, lambda x: F.linear(x, np.ones((3, 2))), lambda x: F.layer_norm(x, 2)):
        with pytest.raises(error, match=match):
            fn(bad)


@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
       bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_check_finite_finds_every_nan_or_inf_and_passes_finite_values_whose_sum_overflows(data, dtype, shape, bad):
    """check_finite tests one sum of all entries first: finite values near the float's largest (their sum
    overflows) must still pass, and one NaN or inf anywhere, in a strided view too, must be found."""
    big = float(np.finfo(dtype).max)
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-big, big, width=np.dtype(dtype).itemsize * 8)))
    view = x.T  # reversed axes: strided for 2 or more dims
    check_finite(view, "x")  # no error
    if x.size == 0:
        return
    index = data.draw(st.tuples(*(st.integers(0, n - 1) for n in view.shape)))
    view[index] = bad
    with pytest.raises(ValueError, match=re.escape(f"x: contains NaN or inf (first at index {index})")):
        check_finite(view, "x")


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"expected last dimension 3, got shape \(2, 4\)"):
        F.linear(np.ones((2, 4)), np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\).*got \(3, 2\)"):
        F.mse_loss(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(np.ones(2), np.ones(2), reduction="avg")
    with pytest.raises(ValueError, match="trailing shape"):
        F.layer_norm(np.ones((2, 3)), 4)
