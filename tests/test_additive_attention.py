"""Additive attention pooling and Bahdanau attention against PyTorch autograd (float64) and finite differences."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import FD_TOL, arrays, assert_close, tensor, torch_vjp, upstream_grads
from numpy_attn import functional as F
from numpy_attn import nn
from numpy_attn.gradcheck import check_function, check_module
from torch_ref import attention as ref
from torch_ref.convert import numpy_to_torch, torch_to_numpy


def bool_masks(shape):
    return hnp.arrays(bool, shape, elements=st.booleans())


def maybe_upstream(data, shape, label):
    """A random upstream gradient, or None (the output is not used downstream)."""
    return data.draw(st.none() | upstream_grads(shape), label=label)


def torch_pool(h, e, mask):
    alpha = ref.masked_softmax(e, None if mask is None else torch.as_tensor(mask))
    return torch.sum(alpha.unsqueeze(-1) * h, dim=1), alpha


# --- attention_pool --------------------------------------------------------------------------------

@given(data=st.data(), b=st.integers(1, 4), t=st.integers(1, 7), d=st.integers(1, 5),
       score_scale=st.sampled_from([1.0, 30.0, 300.0]), masked=st.booleans())
def test_attention_pool_matches_torch(data, b, t, d, score_scale, masked):
    h = data.draw(arrays((b, t, d)), label="h")
    e = data.draw(arrays((b, t), -score_scale, score_scale), label="e")
    mask = data.draw(bool_masks((b, t)), label="mask") if masked else None
    (context, alpha), cache = F.attention_pool(h, e, mask)
    g_context = data.draw(upstream_grads((b, d)), label="grad_context")
    g_alpha = maybe_upstream(data, (b, t), "grad_alpha")
    grad_h, grad_e = F.attention_pool_backward((g_context, g_alpha), cache)

    th, te = tensor(h), tensor(e)
    t_context, t_alpha = torch_pool(th, te, mask)
    t_grad_h, t_grad_e = torch_vjp([t_context, t_alpha], [th, te], [g_context, g_alpha])
    assert_close(context, t_context, name="context", scale=np.abs(h).max())
    assert_close(alpha, t_alpha, name="alpha")
    assert_close(grad_h, t_grad_h, name="grad_h")
    # grad_e = a (g - sum a g) cancels: measure against the size of g (|a| <= 1)
    g_scale = np.abs(h).max() * np.abs(g_context).max() * d + (0 if g_alpha is None else np.abs(g_alpha).max())
    assert_close(grad_e, t_grad_e, name="grad_e", scale=g_scale)


def test_attention_pool_fully_masked_rows_are_zero_and_leave_other_rows_alone():
    rng = np.random.default_rng(0)
    h, e = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5))
    mask = np.array([[True, False, True, True, False], [False] * 5, [True] * 5])
    (context, alpha), cache = F.attention_pool(h, e, mask)
    grad_h, grad_e = F.attention_pool_backward((rng.standard_normal((3, 4)), rng.standard_normal((3, 5))), cache)
    assert np.all(context[1] == 0) and np.all(alpha[1] == 0)
    assert np.all(grad_h[1] == 0) and np.all(grad_e[1] == 0)
    assert np.isfinite(grad_h).all() and np.isfinite(grad_e).all()
    (context0, alpha0), _ = F.attention_pool(h[:1, mask[0]], e[:1, mask[0]])  # row 0 with its hidden steps dropped
    assert_close(context[0], context0[0], name="context row 0")
    assert_close(alpha[0, mask[0]], alpha0[0], name="alpha row 0")
    assert np.all(alpha[0, ~mask[0]] == 0)


def test_attention_pool_one_kept_step_copies_it_and_blocks_the_score_gradient():
    rng = np.random.default_rng(1)
    h, e = rng.standard_normal((2, 6, 3)), 1e3 * rng.standard_normal((2, 6))
    mask = np.zeros((2, 6), dtype=bool)
    mask[0, 4] = mask[1, 0] = True
    (context, alpha), cache = F.attention_pool(h, e, mask)
    assert np.array_equal(alpha, mask.astype(float))
    assert np.array_equal(context, h[[0, 1], [4, 0]])
    _, grad_e = F.attention_pool_backward((rng.standard_normal((2, 3)), rng.standard_normal((2, 6))), cache)
    assert np.all(grad_e == 0)  # a single-element softmax is constant


def test_attention_pool_is_stable_for_huge_scores():
    e = np.array([[1e300, -1e300, 0.0]])
    (_, alpha), _ = F.attention_pool(np.ones((1, 3, 2)), e)
    assert np.array_equal(alpha, [[1.0, 0.0, 0.0]])


def test_attention_pool_finite_differences():
    rng = np.random.default_rng(2)
    mask = np.array([[True, True, False, True], [False, True, True, True]])
    errors = check_function(lambda h, e: F.attention_pool(h, e, mask), F.attention_pool_backward,
                            [rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4))])
    assert max(errors.values()) < FD_TOL, errors


def test_attention_pool_keeps_float32():
    (context, alpha), cache = F.attention_pool(np.ones((2, 3, 4), np.float32), np.zeros((2, 3), np.float32))
    grad_h, grad_e = F.attention_pool_backward((np.ones((2, 4), np.float32), None), cache)
    assert {context.dtype, alpha.dtype, grad_h.dtype, grad_e.dtype} == {np.dtype(np.float32)}


@pytest.mark.parametrize("h, e, mask, error", [
    (np.ones((2, 3)), np.ones((2, 3)), None, "expected a 3-D array"),
    (np.ones((2, 3, 4)), np.ones((2, 4)), None, r"expected shape \(2, 3\)"),
    (np.ones((2, 3, 4)), np.ones((2, 3), np.float32), None, "does not match"),
    (np.ones((2, 3, 4)), np.ones((2, 3)), np.ones((2, 3)), "bool"),
    (np.ones((2, 3, 4)), np.ones((2, 3)), np.ones((3, 2), bool), r"expected shape \(2, 3\)"),
])
def test_attention_pool_rejects_bad_input(h, e, mask, error):
    with pytest.raises((ValueError, TypeError), match=error):
        F.attention_pool(h, e, mask)


# --- nn.AdditiveAttention --------------------------------------------------------------------------

@settings(max_examples=15)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 6), d=st.integers(1, 5), attn=st.integers(1, 6),
       masked=st.booleans(), seed=st.integers(0, 2**16))
def test_additive_attention_module_matches_torch(data, b, t, d, attn, masked, seed):
    np_mod = nn.AdditiveAttention(d, attn, dtype=np.float64, rng=seed)
    t_mod = numpy_to_torch(np_mod, ref.AdditiveAttention(d, attn).double())
    h = data.draw(arrays((b, t, d)), label="h")
    mask = data.draw(bool_masks((b, t)), label="mask") if masked else None
    context, alpha = np_mod(h, mask)
    g_context = data.draw(upstream_grads((b, d)), label="grad_context")
    g_alpha = maybe_upstream(data, (b, t), "grad_alpha")
    grad_h = np_mod.backward(g_context, g_alpha)

    th = tensor(h)
    t_context, t_alpha = t_mod(th, None if mask is None else torch.as_tensor(mask))
    names, params = zip(*t_mod.named_parameters())
    t_grad_h, *t_grad_params = torch_vjp([t_context, t_alpha], [th, *params], [g_context, g_alpha])
    assert_close(context, t_context, name="context", scale=np.abs(h).max())
    assert_close(alpha, t_alpha, name="alpha")
    # Gradients are sums of upstream entries times O(1 + |h|) factors; judged against that size, since
    # some are exactly zero in exact maths (h = 0 makes every score equal, and the softmax VJP sums to 0).
    upstream = max(np.abs(g_context).max(), 0.0 if g_alpha is None else np.abs(g_alpha).max())
    assert_close(grad_h, t_grad_h, name="grad_h", scale=upstream)
    np_params = dict(np_mod.named_parameters())
    for name, g in zip(names, t_grad_params):
        assert_close(np_params[name].grad, g, name=f"grad {name}", scale=upstream * (1 + np.abs(h).max()) * b * t)


@settings(max_examples=15)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 6), d=st.integers(1, 5), attn=st.integers(1, 6),
       masked=st.booleans(), seed=st.integers(0, 2**16))
def test_additive_attention_module_under_no_grad_matches_torch(data, b, t, d, attn, masked, seed):
    """Under nn.no_grad the scorer's three layers run as one kernel (``kernels.additive_scores``): the context and
    the weights against PyTorch as with grad, and a backward after it is refused."""
    np_mod = nn.AdditiveAttention(d, attn, dtype=np.float64, rng=seed)
    t_mod = numpy_to_torch(np_mod, ref.AdditiveAttention(d, attn).double())
    h = data.draw(arrays((b, t, d)), label="h")
    mask = data.draw(bool_masks((b, t)), label="mask") if masked else None
    with nn.no_grad():
        context, alpha = np_mod(h, mask)
    with torch.no_grad():
        t_context, t_alpha = t_mod(tensor(h), None if mask is None else torch.as_tensor(mask))
    assert_close(context, t_context, name="context", scale=np.abs(h).max())
    assert_close(alpha, t_alpha, name="alpha")
    with pytest.raises(RuntimeError, match=r"after a forward under nn.no_grad\(\)"):
        np_mod.backward(np.ones((b, d)))


def test_additive_attention_module_finite_differences():
    rng = np.random.default_rng(3)
    module = nn.AdditiveAttention(3, 4, dtype=np.float64, rng=0)
    mask = np.array([[True, True, False, True, True], [True, False, False, False, False]])
    errors = check_module(module, rng.standard_normal((2, 5, 3)), mask, n_outputs=2)
    assert max(errors.values()) < FD_TOL, errors
    # b2 shifts every score of a row alike and the softmax cancels it: its gradient is 0 up to rounding
    assert abs(module[2].bias.grad).max() < 1e-12


def test_additive_attention_loads_the_seed_state_dict():
    """The module is its scorer (keys 0.*, 2.*): inside the seed's model, named ``attention``, the keys are
    the seed's ``attention.0.weight`` ..."""
    torch.manual_seed(0)
    seed_model = ref.AdditiveAttention(64, 64)  # the seed's BiLSTM(32) output is 2 * 32 = 64 wide
    module = torch_to_numpy(seed_model, nn.AdditiveAttention(64))
    assert list(module.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    h = np.random.default_rng(0).standard_normal((2, 7, 64)).astype(np.float32)
    context, alpha = module(h)
    t_context, t_alpha = seed_model(torch.as_tensor(h))
    assert_close(context, t_context, tol=1e-5, name="float32 context")
    assert_close(alpha, t_alpha, tol=1e-5, name="float32 alpha")


def test_additive_attention_module_errors():
    module = nn.AdditiveAttention(4, 8, rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.ones((1, 4), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        module(np.ones((1, 3, 4)))  # float64 into a float32 module
    with pytest.raises(ValueError, match="last dimension 4"):
        module(np.ones((1, 3, 5), np.float32))
    with nn.no_grad():  # the fused scorer checks the same
        with pytest.raises(TypeError, match="AdditiveAttention h: dtype"):
            module(np.ones((1, 3, 4)))
        with pytest.raises(ValueError, match="AdditiveAttention h: expected last dimension 4"):
            module(np.ones((1, 3, 5), np.float32))


# --- Bahdanau attention ------------------------------------------------------------------------------

def draw_valid_lens(data, kind, b, lq, lk):
    if kind == "none":
        return None
    shape = (b,) if kind == "per batch" else (b, lq)
    return data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, lk)), label="valid_lens")


@settings(max_examples=20)
@given(data=st.data(), b=st.integers(1, 3), lq=st.integers(1, 4), lk=st.integers(1, 5), dq=st.integers(1, 4),
       dk=st.integers(1, 4), dv=st.integers(1, 4), hidden=st.integers(1, 5),
       lens_kind=st.sampled_from(["none", "per batch", "per query"]), seed=st.integers(0, 2**16))
def test_bahdanau_attention_matches_torch(data, b, lq, lk, dq, dk, dv, hidden, lens_kind, seed):
    t_mod = ref.BahdanauAttention(dk, dq, hidden).double()
    np_mod = nn.BahdanauAttention(dk, dq, hidden, dtype=np.float64, rng=seed)
    numpy_to_torch(np_mod, t_mod)
    q, k, v = (data.draw(arrays(s), label=n) for s, n in [((b, lq, dq), "q"), ((b, lk, dk), "k"), ((b, lk, dv), "v")])
    lens = draw_valid_lens(data, lens_kind, b, lq, lk)
    w = [np_mod.W_q.weight.data, np_mod.W_k.weight.data, np_mod.w_v.weight.data]
    (out, weights), cache = F.bahdanau_attention(q, k, v, *w, valid_lens=lens)
    g_out = data.draw(upstream_grads(out.shape), label="grad_output")
    g_weights = maybe_upstream(data, weights.shape, "grad_weights")
    grads = F.bahdanau_attention_backward((g_out, g_weights), cache)

    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    t_out = t_mod(tq, tk, tv, None if lens is None else torch.as_tensor(lens))
    params = [t_mod.W_q.weight, t_mod.W_k.weight, t_mod.w_v.weight]
    t_grads = torch_vjp([t_out, t_mod.attention_weights], [tq, tk, tv] + params, [g_out, g_weights])
    assert_close(out, t_out, name="output", scale=np.abs(v).max())
    assert_close(weights, t_mod.attention_weights, name="weights")
    g_scale = np.abs(g_out).max() * (1 + np.abs(v).max()) * lk + (0 if g_weights is None else np.abs(g_weights).max())
    g_scale *= 1 + max(np.abs(q).max(), np.abs(k).max())  # the weight gradients carry a factor q or k
    for name, g, tg in zip(["queries", "keys", "values", "W_q", "W_k", "w_v"], grads, t_grads):
        assert_close(g, tg, name=f"grad {name}", scale=g_scale)


def test_bahdanau_valid_len_zero_gives_zero_weights_and_output():
    module = nn.BahdanauAttention(3, 2, 4, dtype=np.float64, rng=0)
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 6))
    out = module(q, k, v, valid_lens=np.array([[0, 2, 5], [1, 0, 0]]))
    w = module.attention_weights
    assert np.all(w[0, 0] == 0) and np.all(out[0, 0] == 0) and np.all(w[1, 1:] == 0)
    assert np.all(w[0, 1, 2:] == 0) and np.allclose(w[0, 1, :2].sum(), 1.0)
    assert np.array_equal(w[1, 0], [1, 0, 0, 0, 0]) and np.allclose(out[1, 0], v[1, 0])
    grad_q, grad_k, grad_v = module.backward(rng.standard_normal(out.shape))
    assert np.all(grad_q[0, 0] == 0) and np.isfinite(grad_k).all() and np.all(grad_v[1, 1:] == 0)


@pytest.mark.parametrize("lens", [None, np.array([2, 4]), np.array([[1, 4, 2], [3, 0, 1]])])
def test_bahdanau_finite_differences(lens):
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 2)),
              rng.standard_normal((5, 2)), rng.standard_normal((5, 3)), rng.standard_normal((1, 5))]
    errors = check_function(lambda *a: F.bahdanau_attention(*a, valid_lens=lens), F.bahdanau_attention_backward,
                            inputs)
    assert max(errors.values()) < FD_TOL, errors


def test_bahdanau_dropout_finite_differences_with_a_fixed_mask():
    rng = np.random.default_rng(6)
    inputs = [rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 2)),
              rng.standard_normal((5, 2)), rng.standard_normal((5, 3)), rng.standard_normal((1, 5))]
    # the same seed on every call: the same dropout mask for the forward, the backward and every difference
    forward = lambda *a: F.bahdanau_attention(*a, dropout_p=0.5, training=True, rng=7)  # noqa: E731
    (out, weights), _ = forward(*inputs)
    (out_eval, _), _ = F.bahdanau_attention(*inputs)
    assert not np.allclose(out, out_eval)  # the dropout really acted
    errors = check_function(forward, F.bahdanau_attention_backward, inputs)
    assert max(errors.values()) < FD_TOL, errors


def test_bahdanau_module_finite_differences_and_state_dict():
    module = nn.BahdanauAttention(3, 2, 4, dropout=0.3, dtype=np.float64, rng=0).eval()
    assert list(module.state_dict()) == ["W_k.weight", "W_q.weight", "w_v.weight"]
    assert set(module.state_dict()) == set(ref.BahdanauAttention(3, 2, 4, dropout=0.3).state_dict())
    rng = np.random.default_rng(8)
    errors = check_module(module, rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 3)),
                          rng.standard_normal((2, 4, 5)), np.array([3, 1]))
    assert max(errors.values()) < FD_TOL, errors


@pytest.mark.parametrize("shapes, lens, error", [
    (((2, 3, 2), (2, 4, 3), (2, 4, 5)), np.array([5, 1]), "out of range"),
    (((2, 3, 2), (2, 4, 3), (2, 4, 5)), np.array([1, 1, 1]), r"expected shape \(2,\) or \(2, 3\)"),
    (((2, 3, 2), (2, 4, 3), (2, 4, 5)), np.array([1.0, 2.0]), "integer"),
    (((2, 3, 2), (2, 4, 3), (2, 5, 5)), None, "values"),
    (((2, 3, 2), (1, 4, 3), (1, 4, 5)), None, "keys"),
    (((2, 3, 3), (2, 4, 3), (2, 4, 5)), None, "last dimension 2"),
])
def test_bahdanau_rejects_bad_input(shapes, lens, error):
    module = nn.BahdanauAttention(3, 2, 4, dtype=np.float64, rng=0)
    with pytest.raises((ValueError, TypeError, IndexError), match=error):
        module(*(np.ones(s) for s in shapes), valid_lens=lens)
