"""Multi-head attention: the functional pieces (split/merge heads, multi_head_attention, in_projection,
merge_masks) and the modules SelfAttention (seed 000), MultiHeadSelfAttention (seed 003) and
MultiheadAttention (``torch.nn.MultiheadAttention``), against PyTorch autograd (float64) and finite differences.

Gradients are compared part by part against the largest entry of the whole gradient (every input and
parameter of the test): the normwise error of the full gradient, as in ``numpy_attn.gradcheck``. Parts that
are zero by the maths (the key bias, which shifts every score of a row alike; q and k when S = 1) then
hold rounding noise of the size of the others' terms and are judged against those.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import FD_TOL, arrays, assert_close, floats, tensor, torch_vjp, upstream_grads
from numpy_attn import functional as F
from numpy_attn import kernels as K
from numpy_attn import nn
from numpy_attn.gradcheck import check_module
from numpy_attn.nn.multihead import self_attention_grad
from torch_ref import attention as ref
from torch_ref.convert import numpy_to_torch, torch_grads, torch_to_numpy

# The textbook op and its fast twin, called the same way: both are checked against PyTorch.
twins = pytest.mark.parametrize("impl", [F, K], ids=["textbook", "kernel"])


def assert_grads_close(ours, theirs):
    """{name: gradient} against {name: torch gradient}: the same names, each part within TORCH_TOL of the
    largest entry of all of them."""
    assert set(ours) == set(theirs), f"gradients for {sorted(ours)} != torch's {sorted(theirs)}"
    scale = max(np.abs(np.asarray(g)).max(initial=0.0) for g in theirs.values())
    for name, g in theirs.items():
        assert_close(ours[name], g, name=f"grad {name}", scale=scale)


def param_grads(module):
    return {name: p.grad for name, p in module.named_parameters()}


def torch_grads_by_name(outputs, upstream, module, **inputs):
    """{name: gradient of sum(outputs * upstream)} for the named input tensors and every parameter of ``module``."""
    names, params = zip(*module.named_parameters())
    return dict(zip(list(inputs) + list(names), torch_vjp(outputs, list(inputs.values()) + list(params), upstream)))


class Reseeded(nn.Module):
    """Runs ``inner`` with its dropout generator reset to ``seed`` on every forward: the same dropout mask
    each time, so central differences see the function the backward differentiates."""

    def __init__(self, inner, seed):
        super().__init__()
        self.inner, self.seed = inner, seed

    def forward(self, *inputs):
        self.inner.rng = np.random.default_rng(self.seed)
        return self.inner(*inputs)

    def backward(self, *grads):
        return self.inner.backward(*grads)


class SelfAttend(nn.Module):
    """x -> mha(x, x, x): one array as query, key and value (the fused in-projection); dx is the sum."""

    def __init__(self, mha):
        super().__init__()
        self.mha = mha

    def forward(self, x, **kwargs):
        return self.mha(x, x, x, **kwargs)

    def backward(self, grad):
        return sum(self.mha.backward(grad))


# --- split / merge heads -----------------------------------------------------------------------------

@settings(max_examples=10)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 4), h=st.integers(1, 4), d=st.integers(1, 3))
def test_split_and_merge_heads_are_torchs_view_and_transpose(data, b, t, h, d):
    x = data.draw(arrays((b, t, h * d)), label="x")
    heads = F.split_heads(x, h)
    np.testing.assert_array_equal(heads, torch.as_tensor(x).view(b, t, h, d).transpose(1, 2).numpy())
    np.testing.assert_array_equal(F.merge_heads(heads), x)


# --- functional multi-head attention -----------------------------------------------------------------

def torch_heads_attention(q, k, v, num_heads, keep=None):
    """The seed's einsum spelling, fixed: scores 'bnhd,bmhd->bhnm', output 'bhnm,bmhd->bnhd'."""
    (B, L, E), S = q.shape, k.shape[1]
    Q, K, V = q.view(B, L, num_heads, -1), k.view(B, S, num_heads, -1), v.view(B, S, num_heads, -1)
    weights = ref.masked_softmax(torch.einsum("bnhd,bmhd->bhnm", Q, K) / math.sqrt(E // num_heads), keep)
    return torch.einsum("bhnm,bmhd->bnhd", weights, V).reshape(B, L, -1), weights


@twins
@given(data=st.data(), b=st.integers(1, 3), L=st.integers(1, 4), S=st.integers(1, 4), h=st.integers(1, 3),
       d=st.integers(1, 3), dv=st.integers(1, 3), mask_shape=st.sampled_from(["none", "LS", "B1LS", "BHLS"]))
def test_multi_head_attention_matches_the_seed_einsum(impl, data, b, L, S, h, d, dv, mask_shape):
    """Bool masks True = takes part, rows with every key hidden included (zero on both sides)."""
    q, k, v = (data.draw(arrays(s), label=n) for n, s in (("q", (b, L, h * d)), ("k", (b, S, h * d)),
                                                          ("v", (b, S, h * dv))))
    shape = {"none": None, "LS": (L, S), "B1LS": (b, 1, L, S), "BHLS": (b, h, L, S)}[mask_shape]
    keep = None if shape is None else data.draw(hnp.arrays(bool, shape, elements=st.booleans()), label="keep")
    out, cache = impl.multi_head_attention(q, k, v, h, keep)
    g = data.draw(upstream_grads(out.shape), label="grad_out")
    grads = impl.multi_head_attention_backward(g, cache)

    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    t_out, t_weights = torch_heads_attention(tq, tk, tv, h, None if keep is None else torch.as_tensor(keep))
    t_grads = torch_vjp(t_out, [tq, tk, tv], [g])
    assert_close(out, t_out, name="out", scale=np.abs(v).max())
    assert_close(cache.weights, t_weights, name="weights")
    assert_grads_close(dict(zip("qkv", grads)), dict(zip("qkv", t_grads)))


# --- in-projection -----------------------------------------------------------------------------------

@twins
@given(data=st.data(), b=st.integers(1, 3), L=st.integers(1, 4), S=st.integers(1, 4), E=st.integers(1, 4),
       kdim=st.integers(1, 4), vdim=st.integers(1, 4), bias=st.booleans(),
       mode=st.sampled_from(["self", "packed", "separate"]))
def test_in_projection_matches_torch(impl, data, b, L, S, E, kdim, vdim, bias, mode):
    """mode 'self': one array as query, key and value (the fused product); 'packed': (3E, E) weights and
    three arrays; 'separate': W_q (E, E), W_k (E, kdim), W_v (E, vdim)."""
    if mode != "separate":
        kdim = vdim = E
    query = data.draw(arrays((b, L, E)), label="query")
    key, value = (query, query) if mode == "self" else (data.draw(arrays((b, S, kdim)), label="key"),
                                                        data.draw(arrays((b, S, vdim)), label="value"))
    if mode == "separate":
        weights = tuple(data.draw(arrays((E, n)), label=f"W_{c}") for c, n in zip("qkv", (E, kdim, vdim)))
    else:
        weights = data.draw(arrays((3 * E, E)), label="in_proj_weight")
    b_in = data.draw(arrays((3 * E,)), label="in_proj_bias") if bias else None
    (q, k, v), cache = impl.in_projection(query, key, value, weights, b_in)
    upstream = [data.draw(upstream_grads(x.shape), label=f"grad_{c}") for c, x in zip("qkv", (q, k, v))]
    d_query, d_key, d_value, d_w, d_b = impl.in_projection_backward(tuple(upstream), cache)

    t_in = [tensor(query)] if mode == "self" else [tensor(x) for x in (query, key, value)]
    t_w = [tensor(w) for w in weights] if mode == "separate" else [tensor(weights)]
    t_b = [tensor(b_in)] if bias else []
    t_blocks = t_w if mode == "separate" else t_w[0].chunk(3)
    t_biases = t_b[0].chunk(3) if bias else (None,) * 3
    t_x = t_in * 3 if mode == "self" else t_in
    t_qkv = [torch.nn.functional.linear(x, w, bb) for x, w, bb in zip(t_x, t_blocks, t_biases)]
    for name, ours, theirs in zip("qkv", (q, k, v), t_qkv):
        assert_close(ours, theirs, name=name)
    t_grads = torch_vjp(t_qkv, t_in + t_w + t_b, upstream)
    ours = {"query": d_query + d_key + d_value} if mode == "self" else dict(query=d_query, key=d_key, value=d_value)
    ours.update({f"W{i}": w for i, w in enumerate(d_w if mode == "separate" else [d_w])})
    if bias:
        ours["bias"] = d_b
    else:
        assert d_b is None
    names = (["query"] if mode == "self" else ["query", "key", "value"]) + [f"W{i}" for i in range(len(t_w))]
    assert_grads_close(ours, dict(zip(names + ["bias"] * bias, t_grads)))


def test_fused_in_projection_equals_three_separate_products():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 5, 4)), rng.standard_normal((12, 4)), rng.standard_normal(12)
    fused, fused_cache = K.in_projection(x, x, x, w, b)
    separate, separate_cache = K.in_projection(x, x.copy(), x.copy(), w, b)
    assert np.may_share_memory(fused[0], fused[2]) and not np.may_share_memory(separate[0], separate[2])  # one product
    for a, e in zip(fused, separate):
        assert_close(a, e)
    g = tuple(rng.standard_normal(a.shape) for a in fused)
    for name, a, e in zip(("d_query", "d_key", "d_value", "d_weights", "d_bias"),
                          K.in_projection_backward(g, fused_cache), K.in_projection_backward(g, separate_cache)):
        assert_close(a, e, name=name)


# --- merge_masks ---------------------------------------------------------------------------------------

def test_merge_masks_follows_multihead_attentions_conventions():
    B, H, L, S = 2, 3, 4, 5
    rng = np.random.default_rng(1)
    banned, padding = rng.random((L, S)) < 0.3, rng.random((B, S)) < 0.3  # True = not allowed / padding
    bias = F.merge_masks(banned, padding, False, B, H, L, S, np.float64)
    hidden = banned[None, None] | padding[:, None, None, :]
    np.testing.assert_array_equal(np.broadcast_to(bias, (B, H, L, S)),
                                  np.broadcast_to(np.where(hidden, -np.inf, 0.0), (B, H, L, S)))
    # float masks add; a (B*H, L, S) mask is per batch element and head, batch-major as in PyTorch
    per_head, pad_f = rng.standard_normal((B * H, L, S)), rng.standard_normal((B, S))
    bias = F.merge_masks(per_head, pad_f, False, B, H, L, S, np.float64)
    for b, h in np.ndindex(B, H):
        np.testing.assert_array_equal(bias[b, h], per_head[b * H + h] + pad_f[b])
    # is_causal builds the causal mask when attn_mask is absent, and is only a hint beside one
    causal = F.merge_masks(None, None, True, B, H, L, S, np.float64)
    np.testing.assert_array_equal(causal, np.where(np.triu(np.ones((L, S), bool), 1), -np.inf, 0.0))
    np.testing.assert_array_equal(F.merge_masks(banned, None, True, B, H, L, S, np.float64),
                                  np.where(banned, -np.inf, 0.0))
    assert F.merge_masks(None, None, False, B, H, L, S, np.float64) is None


@pytest.mark.parametrize("attn_mask, key_padding_mask, error", [
    (np.zeros((4, 4), bool), None, r"attn_mask: expected shape \(4, 5\) or \(6, 4, 5\)"),
    (np.zeros((2, 4, 5), bool), None, r"attn_mask: expected shape \(4, 5\) or \(6, 4, 5\)"),
    (np.zeros((4, 5), int), None, "attn_mask: expected a bool or floating-point array"),
    (np.full((4, 5), np.nan), None, r"attn_mask: a float mask may hold finite values and -inf, got NaN"),
    (None, np.zeros((2, 4), bool), r"key_padding_mask: expected shape \(2, 5\) = \(B, S\)"),
    (None, np.zeros((2, 5), np.int8), "key_padding_mask: expected a bool or floating-point array"),
    (None, np.full((2, 5), np.inf), r"key_padding_mask: .* got NaN or \+inf"),
])
def test_merge_masks_rejects_bad_masks(attn_mask, key_padding_mask, error):
    with pytest.raises((ValueError, TypeError), match=error):
        F.merge_masks(attn_mask, key_padding_mask, False, 2, 3, 4, 5, np.float64)


# --- SelfAttention (seed 000) -------------------------------------------------------------------------

@settings(max_examples=15)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 5), d_in=st.integers(1, 4), dim_q=st.integers(1, 4),
       dim_v=st.integers(1, 5), mask=st.sampled_from(["none", "TT", "BTT", "causal"]), seed=st.integers(0, 2**16))
def test_self_attention_matches_torch(data, b, t, d_in, dim_q, dim_v, mask, seed):
    np_mod = nn.SelfAttention(d_in, dim_q, dim_v, dtype=np.float64, rng=seed)
    t_mod = numpy_to_torch(np_mod, ref.SelfAttention(d_in, dim_q, dim_v).double())
    x = data.draw(arrays((b, t, d_in)), label="x")
    keep = {"none": None, "causal": np.tri(t, dtype=bool)}.get(mask)
    if mask in ("TT", "BTT"):
        keep = data.draw(hnp.arrays(bool, (t, t) if mask == "TT" else (b, t, t), elements=st.booleans()), label="keep")
    out, weights = np_mod(x, is_causal=True) if mask == "causal" else np_mod(x, keep)
    g = data.draw(upstream_grads(out.shape), label="grad_out")
    np_mod.zero_grad()
    dx = np_mod.backward(g)

    tx = tensor(x)
    t_out, t_weights = t_mod(tx, None if keep is None else torch.as_tensor(keep))
    assert_close(out, t_out, name="out", scale=np.abs(t_mod.V(tx).detach().numpy()).max())
    assert_close(weights, t_weights, name="weights")
    assert_grads_close({**param_grads(np_mod), "x": dx}, torch_grads_by_name(t_out, [g], t_mod, x=tx))


def test_self_attention_finite_differences():
    rng = np.random.default_rng(2)
    module = nn.SelfAttention(3, 2, 5, dtype=np.float64, rng=0)  # dim_q != dim_v
    keep = rng.random((2, 4, 4)) < 0.6
    keep[:, :, 1] = True
    errors = check_module(module, rng.standard_normal((2, 4, 3)), keep, n_outputs=1)
    assert max(errors.values()) < FD_TOL, errors


# --- MultiHeadSelfAttention (seed 003) ---------------------------------------------------------------

@settings(max_examples=15)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 5), h=st.integers(1, 3), d=st.integers(1, 3),
       norm=st.booleans(), seed=st.integers(0, 2**16))
def test_multi_head_self_attention_matches_torch(data, b, t, h, d, norm, seed):
    D = h * d
    np_mod = nn.MultiHeadSelfAttention(D, h, dropout=0.3, norm=norm, dtype=np.float64, rng=seed).eval()
    t_mod = numpy_to_torch(np_mod, ref.MultiHeadSelfAttention(D, h, dropout=0.3, norm=norm).double().eval())
    if norm:  # LayerNorm starts as the identity affine map: give it values that matter
        np_mod.norm.weight.data = data.draw(arrays((D,)), label="norm.weight")
        np_mod.norm.bias.data = data.draw(arrays((D,)), label="norm.bias")
        numpy_to_torch(np_mod, t_mod)
    x = data.draw(arrays((b, t, D)), label="x")
    y, weights = np_mod(x)
    g = data.draw(upstream_grads(y.shape), label="grad_y")
    dx = np_mod.backward(g)

    tx = tensor(x)
    t_y, t_weights = t_mod(tx)
    # y mixes v = h W_v^T, so its rounding is relative to the terms of that sum; with the norm, h's own
    # terms are |x - mean| / sqrt(var + eps) with x - mean rounded relative to |x| (it cancels when a row
    # is constant: h ~ 0 there, computed as exactly 0 by PyTorch and as u |x| / sqrt(eps) here).
    h_terms = np.abs(x)
    if norm:
        ln = np_mod.norm
        h_terms = h_terms / np.sqrt(x.var(axis=-1, keepdims=True) + ln.eps) * np.abs(ln.weight.data) \
            + np.abs(ln.bias.data)
    assert_close(y, t_y, name="y", scale=(h_terms @ np.abs(np_mod.value.weight.data).T).max())
    assert_close(weights, t_weights, name="weights")
    assert_grads_close({**param_grads(np_mod), "x": dx}, torch_grads_by_name(t_y, [g], t_mod, x=tx))


@pytest.mark.parametrize("norm", [True, False])
def test_multi_head_self_attention_finite_differences(norm):
    rng = np.random.default_rng(3)
    module = nn.MultiHeadSelfAttention(6, 2, norm=norm, dtype=np.float64, rng=1)
    if norm:
        module.norm.weight.data = rng.standard_normal(6)
        module.norm.bias.data = rng.standard_normal(6)
    errors = check_module(module, rng.standard_normal((2, 4, 6)), n_outputs=1)
    assert max(errors.values()) < FD_TOL, errors


def test_multi_head_self_attention_dropout_finite_differences_and_eval_identity():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 6))
    module = nn.MultiHeadSelfAttention(6, 3, dropout=0.3, dtype=np.float64, rng=1)
    _, weights = Reseeded(module, 9)(x)
    assert np.any(weights == 0)  # the training forward drops weights
    errors = check_module(Reseeded(module, 9), x, n_outputs=1)
    assert max(errors.values()) < FD_TOL, errors
    y_eval, w_eval = module.eval()(x)
    y_plain, w_plain = nn.MultiHeadSelfAttention(6, 3, dtype=np.float64, rng=1)(x)  # same init, no dropout
    np.testing.assert_array_equal(y_eval, y_plain)
    np.testing.assert_array_equal(w_eval, w_plain)


# --- MultiheadAttention vs torch.nn.MultiheadAttention ----------------------------------------------

def mha_pair(E, H, seed, biases=None, **kwargs):
    """Our module (float64) and torch's with the same state. The biases (PyTorch starts them at zero) get
    ``biases`` = (in_proj_bias, out_proj.bias), or normal draws from ``seed``."""
    np_mod = nn.MultiheadAttention(E, H, dtype=np.float64, rng=seed, **kwargs)
    if np_mod.in_proj_bias is not None:
        rng = np.random.default_rng(seed)
        np_mod.in_proj_bias.data, np_mod.out_proj.bias.data = biases or (rng.standard_normal(3 * E),
                                                                         rng.standard_normal(E))
    t_mod = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, **kwargs)
    return np_mod, numpy_to_torch(np_mod, t_mod)


def draw_mha_mask(draw, kind, shape, j, label):
    """MHA's convention (bool True = not allowed; float added, -inf hides), key j left visible."""
    if kind == "bool":
        mask = draw(hnp.arrays(bool, shape, elements=st.booleans()), label=label)
        dense = draw(st.booleans(), label=f"{label} hides all but key {j}")
        mask = np.ones(shape, bool) if dense else mask
        mask[..., j] = False
    else:
        mask = draw(hnp.arrays(np.float64, shape, elements=st.just(-np.inf) | floats()), label=label)
        mask[..., j] = 0.0
    return mask


@st.composite
def mha_problems(draw):
    """A module config and inputs for nn.MultiheadAttention; every query keeps at least one key (torch gives
    NaN for a query that sees none, tested on its own below)."""
    H, head_dim = draw(st.integers(1, 3), label="num_heads"), draw(st.integers(1, 3), label="head_dim")
    E = H * head_dim
    kdim, vdim = (draw(st.none() | st.integers(1, 5), label=n) for n in ("kdim", "vdim"))
    config = dict(E=E, H=H, bias=draw(st.booleans(), label="bias"), batch_first=draw(st.booleans(), label="bf"),
                  kdim=kdim, vdim=vdim)
    unbatched = draw(st.booleans(), label="unbatched")
    B = 1 if unbatched else draw(st.integers(1, 3), label="B")
    L, S = draw(st.integers(1, 4), label="L"), draw(st.integers(1, 4), label="S")

    attn_kind = draw(st.sampled_from(["none", "bool", "float", "causal"]), label="attn_mask kind")
    j = 0 if attn_kind == "causal" else draw(st.integers(0, S - 1), label="visible key")
    attn_mask, is_causal = None, attn_kind == "causal"
    if is_causal:  # is_causal is a hint beside the causal mask itself (PyTorch needs both)
        future = np.triu(np.ones((L, S), bool), 1)
        attn_mask = future if draw(st.booleans(), label="bool causal") else np.where(future, -np.inf, 0.0)
    elif attn_kind != "none":
        per_head = draw(st.booleans(), label="(B*H, L, S) mask")
        shape = ((B * H,) if per_head else ()) + (L, S)
        attn_mask = draw_mha_mask(draw, attn_kind, shape, j, "attn_mask")
    same_kind = "float" if attn_mask is not None and attn_mask.dtype != bool else "bool"  # PyTorch warns on a mix
    pad_kind = draw(st.sampled_from(["none", same_kind]), label="kpm kind")
    kpm = None if pad_kind == "none" else draw_mha_mask(draw, pad_kind, (S,) if unbatched else (B, S), j, "kpm")

    def batched(T, D):
        return (T, D) if unbatched else (B, T, D) if config["batch_first"] else (T, B, D)
    inputs = (draw(arrays(batched(L, E)), label="query"), draw(arrays(batched(S, kdim or E)), label="key"),
              draw(arrays(batched(S, vdim or E)), label="value"))
    kwargs = dict(key_padding_mask=kpm, need_weights=draw(st.booleans(), label="need_weights"), attn_mask=attn_mask,
                  average_attn_weights=draw(st.booleans(), label="average"), is_causal=is_causal)
    biases = (draw(arrays((3 * E,)), label="in_proj_bias"), draw(arrays((E,)), label="out_proj.bias"))
    return config, biases, inputs, kwargs, draw(upstream_grads(batched(L, E)), label="grad_out")


def torch_mask(mask):
    return None if mask is None else torch.as_tensor(mask)


def out_scale(np_mod, value):
    """The size of the terms summed into the output: out = (A (value W_v^T + b_v)) W_o^T + b_o, |A| rows sum to 1."""
    E = np_mod.embed_dim
    w_v = np_mod.in_proj_weight.data[2 * E:] if np_mod._qkv_same_embed_dim else np_mod.v_proj_weight.data
    biases = (0.0, 0.0) if np_mod.in_proj_bias is None else (np.abs(np_mod.in_proj_bias.data[2 * E:]).max(),
                                                             np.abs(np_mod.out_proj.bias.data).max())
    context = np.abs(value).max() * np.abs(w_v).max() * w_v.shape[1] + biases[0]
    return context * np.abs(np_mod.out_proj.weight.data).max() * E + biases[1]


def run_both(np_mod, t_mod, inputs, kwargs, grad_out):
    """Forward and backward on both sides; returns ((out, weights, grads), (t_out, t_weights, t_grads))."""
    out, weights = np_mod(*inputs, **kwargs)
    np_mod.zero_grad()
    d_inputs = np_mod.backward(grad_out)
    t_inputs = [tensor(x) for x in inputs]
    t_kwargs = {k: torch_mask(v) if k in ("attn_mask", "key_padding_mask") else v for k, v in kwargs.items()}
    t_out, t_weights = t_mod(*t_inputs, **t_kwargs)
    ours = {**dict(zip(("query", "key", "value"), d_inputs)), **param_grads(np_mod)}
    theirs = torch_grads_by_name(t_out, [grad_out], t_mod, **dict(zip(("query", "key", "value"), t_inputs)))
    return (out, weights, ours), (t_out, t_weights, theirs)


@given(problem=mha_problems())
def test_multihead_attention_matches_torch(problem):
    config, biases, inputs, kwargs, grad_out = problem
    config = dict(config)
    E, H = config.pop("E"), config.pop("H")
    np_mod, t_mod = mha_pair(E, H, 0, biases, **config)
    (out, weights, ours), (t_out, t_weights, theirs) = run_both(np_mod, t_mod, inputs, kwargs, grad_out)
    assert_close(out, t_out, name="attn_output", scale=out_scale(np_mod, inputs[2]))
    if kwargs["need_weights"]:
        assert_close(weights, t_weights, name="attn_weights")
    else:
        assert weights is None and t_weights is None
    assert_grads_close(ours, theirs)


@settings(max_examples=15)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 4), h=st.integers(1, 3), d=st.integers(1, 3),
       batch_first=st.booleans(), bias=st.booleans(), padded=st.booleans())
def test_multihead_self_attention_gradient_is_the_sum_of_the_three(data, b, t, h, d, batch_first, bias, padded):
    """mha(x, x, x): x.grad in PyTorch = grad_query + grad_key + grad_value here (the fused projection)."""
    biases = (data.draw(arrays((3 * h * d,)), label="in_proj_bias"), data.draw(arrays((h * d,)), label="out_proj.bias"))
    np_mod, t_mod = mha_pair(h * d, h, 1, biases, bias=bias, batch_first=batch_first)
    x = data.draw(arrays((b, t, h * d) if batch_first else (t, b, h * d)), label="x")
    kpm = None
    if padded:
        kpm = data.draw(hnp.arrays(bool, (b, t), elements=st.booleans()), label="kpm")
        kpm[:, 0] = False
    out, _ = np_mod(x, x, x, key_padding_mask=kpm)
    (q_cache, _, v_cache), _ = np_mod._saved()[0]
    assert q_cache[0] is v_cache[0]  # the fused projection: one x for all three
    g = data.draw(upstream_grads(out.shape), label="grad_out")
    np_mod.zero_grad()
    grads = np_mod.backward(g)
    dx = sum(grads)
    np.testing.assert_array_equal(self_attention_grad(grads), dx)  # the helper's in-place sum: the same numbers
    tx = tensor(x)
    t_out, _ = t_mod(tx, tx, tx, key_padding_mask=torch_mask(kpm))
    assert_close(out, t_out, name="attn_output", scale=out_scale(np_mod, x))
    assert_grads_close({"x": dx, **param_grads(np_mod)}, torch_grads_by_name(t_out, [g], t_mod, x=tx))


def test_multihead_fully_padded_batch_element_gives_out_proj_bias_where_torch_gives_nan():
    """Batch element 1 is all padding, so its queries see no key. PyTorch's need_weights=True path gives
    NaN there; ours gives zero attention (the output is out_proj.bias) and zero weights, and the other batch
    elements match. PyTorch's need_weights=False path (its SDPA) gives the same as ours everywhere."""
    rng = np.random.default_rng(5)
    np_mod, t_mod = mha_pair(6, 2, 2)
    query, key, value = rng.standard_normal((4, 3, 6)), rng.standard_normal((5, 3, 6)), rng.standard_normal((5, 3, 6))
    kpm = rng.random((3, 5)) < 0.4
    kpm[:, 2] = False
    kpm[1] = True
    g = rng.standard_normal((4, 3, 6))
    inputs = (query, key, value)

    kwargs = dict(key_padding_mask=kpm, need_weights=True, average_attn_weights=False)
    (out, weights, ours), (t_out, t_weights, _) = run_both(np_mod, t_mod, inputs, kwargs, g)
    assert torch.isnan(t_out[:, 1]).all() and torch.isnan(t_weights[1]).all()
    np.testing.assert_array_equal(out[:, 1], np.broadcast_to(np_mod.out_proj.bias.data, (4, 6)))
    assert np.all(weights[1] == 0)
    assert all(np.isfinite(grad).all() for grad in ours.values())
    assert np.all(ours["query"][:, 1] == 0) and np.all(ours["key"][:, 1] == 0) and np.all(ours["value"][:, 1] == 0)
    keep = [0, 2]
    assert_close(out[:, keep], t_out[:, keep], name="attn_output of the other batch elements")
    assert_close(weights[keep], t_weights[keep], name="attn_weights of the other batch elements")

    kwargs["need_weights"] = False
    (out2, _, ours2), (t_out2, _, theirs2) = run_both(np_mod, t_mod, inputs, kwargs, g)
    np.testing.assert_array_equal(out2, out)
    assert_close(out2, t_out2, name="attn_output (PyTorch's SDPA path)")
    assert_grads_close(ours2, theirs2)


@pytest.mark.parametrize("L, B, S", [(4, 0, 5), (0, 3, 5), (4, 3, 0)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_empty_batch_no_queries_or_no_keys_match_torch(L, B, S, need_weights):
    """An empty batch or no query rows give empty outputs; no keys (S = 0) give out_proj.bias (each query
    attends to nothing) and zero input gradients: PyTorch's numbers, parameter gradients included."""
    rng = np.random.default_rng(6)
    np_mod, t_mod = mha_pair(6, 2, 3)
    inputs = (rng.standard_normal((L, B, 6)), rng.standard_normal((S, B, 6)), rng.standard_normal((S, B, 6)))
    g = rng.standard_normal((L, B, 6))
    (out, weights, ours), (t_out, t_weights, theirs) = run_both(np_mod, t_mod, inputs, dict(need_weights=need_weights), g)
    assert out.shape == tuple(t_out.shape)
    assert_close(out, t_out, name="attn_output")  # empty, or out_proj.bias exactly
    if need_weights:
        assert weights.shape == tuple(t_weights.shape)
    assert_grads_close(ours, theirs)


# --- state_dict and init ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, dict(bias=False), dict(kdim=3, vdim=5), dict(kdim=3, vdim=5, bias=False),
                                    dict(vdim=7)])
def test_multihead_state_dict_matches_torch(kwargs):
    ours = nn.MultiheadAttention(8, 2, rng=0, **kwargs).state_dict()
    theirs = torch.nn.MultiheadAttention(8, 2, **kwargs).state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, tuple(v.shape)) for k, v in theirs.items()]
    assert all(v.dtype == np.float32 for v in ours.values())


@pytest.mark.parametrize("kdim, vdim", [(None, None), (24, 40)])
def test_multihead_init_follows_torchs_rules(kdim, vdim):
    """xavier_uniform in-projections U(-a, a), a = sqrt(6 / (fan_in + fan_out)); out_proj.weight
    U(-1/sqrt(E), 1/sqrt(E)) (nn.Linear's); every bias zero."""
    E = 64
    module = nn.MultiheadAttention(E, 4, kdim=kdim, vdim=vdim, rng=0)
    bounds = {"out_proj.weight": 1 / math.sqrt(E)}
    if kdim is None:
        bounds["in_proj_weight"] = math.sqrt(6 / (3 * E + E))
    else:
        bounds.update({"q_proj_weight": math.sqrt(6 / (E + E)), "k_proj_weight": math.sqrt(6 / (E + kdim)),
                       "v_proj_weight": math.sqrt(6 / (E + vdim))})
    state = module.state_dict()
    for name, bound in bounds.items():
        w = state[name]
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.97 * bound, name  # fills U(-a, a)
        assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.05, name  # the std of U(-a, a) is a / sqrt(3)
    assert np.all(state["in_proj_bias"] == 0) and np.all(state["out_proj.bias"] == 0)
    again = nn.MultiheadAttention(E, 4, kdim=kdim, vdim=vdim, rng=0).state_dict()
    assert all(np.array_equal(state[k], again[k]) for k in state)  # seeded


def test_multihead_state_dict_round_trip():
    t_mod = torch.nn.MultiheadAttention(6, 3, kdim=4, vdim=5, dtype=torch.float64)
    torch.nn.init.normal_(t_mod.in_proj_bias)
    np_mod = torch_to_numpy(t_mod, nn.MultiheadAttention(6, 3, kdim=4, vdim=5, dtype=np.float64, rng=1))
    for key, value in t_mod.state_dict().items():
        np.testing.assert_array_equal(np_mod.state_dict()[key], value.numpy())
    back = numpy_to_torch(np_mod, torch.nn.MultiheadAttention(6, 3, kdim=4, vdim=5, dtype=torch.float64))
    for key, value in t_mod.state_dict().items():
        assert torch.equal(back.state_dict()[key], value)
    rng = np.random.default_rng(6)
    q, k, v = rng.standard_normal((3, 2, 6)), rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 5))
    out, _ = np_mod(q, k, v)
    assert_close(out, t_mod(*(tensor(x, False) for x in (q, k, v)))[0], name="attn_output after loading")
    with pytest.raises(ValueError, match=r"missing keys: \['v_proj_weight'\]"):
        np_mod.load_state_dict({k: v for k, v in np_mod.state_dict().items() if k != "v_proj_weight"})


# --- finite differences ---------------------------------------------------------------------------------

def test_multihead_finite_differences_kdim_vdim_and_masks():
    rng = np.random.default_rng(7)
    module, _ = mha_pair(6, 2, 3, kdim=4, vdim=3)
    query, key, value = rng.standard_normal((3, 2, 6)), rng.standard_normal((5, 2, 4)), rng.standard_normal((5, 2, 3))
    kpm = np.array([[False, True, False, False, True], [False, False, True, True, True]])
    attn_mask = np.where(rng.random((3, 5)) < 0.3, -np.inf, rng.standard_normal((3, 5)))
    attn_mask[:, 0] = 0.0
    errors = check_module(module, query, key, value, kpm, True, attn_mask, False, n_outputs=1)
    assert max(errors.values()) < FD_TOL, errors


def test_multihead_finite_differences_self_attention_batch_first():
    rng = np.random.default_rng(8)
    module, _ = mha_pair(6, 3, 4, batch_first=True)
    errors = check_module(SelfAttend(module), rng.standard_normal((2, 4, 6)), n_outputs=1)
    assert max(errors.values()) < FD_TOL, errors


def test_multihead_dropout_finite_differences_and_eval_identity():
    rng = np.random.default_rng(9)
    module, _ = mha_pair(4, 2, 5, dropout=0.4)
    x = rng.standard_normal((3, 2, 4))
    _, weights = Reseeded(module, 3)(x, x, x, None, True, None, False)
    assert np.any(weights == 0)  # the returned weights are the dropped ones, as in PyTorch
    errors = check_module(Reseeded(module, 3), x, x.copy(), x.copy(), n_outputs=1)
    assert max(errors.values()) < FD_TOL, errors
    plain, _ = mha_pair(4, 2, 5)
    out_eval, w_eval = module.eval()(x, x, x)
    out_plain, w_plain = plain(x, x, x)
    np.testing.assert_array_equal(out_eval, out_plain)
    np.testing.assert_array_equal(w_eval, w_plain)


# --- gradient accumulation ------------------------------------------------------------------------------

def test_multihead_gradients_accumulate_over_two_backward_calls_as_in_torch():
    rng = np.random.default_rng(10)
    np_mod, t_mod = mha_pair(6, 2, 6, kdim=4)
    batches = [(rng.standard_normal((3, 2, 6)), rng.standard_normal((5, 2, 4)), rng.standard_normal((5, 2, 6)),
                rng.standard_normal((3, 2, 6))) for _ in range(2)]
    singles = []
    for q, k, v, g in batches:  # each call on its own
        np_mod.zero_grad()
        np_mod(q, k, v)
        np_mod.backward(g)
        singles.append(param_grads(np_mod))
    np_mod.zero_grad()
    for q, k, v, g in batches:  # both calls, without zero_grad between
        np_mod(q, k, v)
        np_mod.backward(g)
        t_out, _ = t_mod(*(tensor(x, False) for x in (q, k, v)))
        (t_out * tensor(g, False)).sum().backward()
    accumulated = param_grads(np_mod)
    for name in accumulated:
        assert_close(accumulated[name], singles[0][name] + singles[1][name], name=f"accumulated {name}")
    assert_grads_close(accumulated, torch_grads(t_mod))


def test_multihead_keeps_float32_and_agrees_with_float64():
    rng = np.random.default_rng(11)
    module = nn.MultiheadAttention(6, 2, kdim=4, rng=0)  # float32 by default, as in PyTorch
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((3, 2, 6), (5, 2, 4), (5, 2, 6)))
    out, weights = module(q, k, v, key_padding_mask=np.array([[False] * 4 + [True]] * 2))
    grads = module.backward(np.ones_like(out))
    dtypes = {out.dtype, weights.dtype, *(g.dtype for g in grads), *(p.grad.dtype for p in module.parameters())}
    assert dtypes == {np.dtype(np.float32)}
    wide = nn.MultiheadAttention(6, 2, kdim=4, dtype=np.float64, rng=0)
    wide.load_state_dict(module.state_dict())
    out64, _ = wide(*(x.astype(np.float64) for x in (q, k, v)), key_padding_mask=np.array([[False] * 4 + [True]] * 2))
    assert_close(out, out64, tol=1e-5, name="float32 attn_output")


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, call, error", [
    (lambda: nn.MultiheadAttention(6, 4), None, "embed_dim 6 is not divisible by num_heads 4"),
    (lambda: nn.MultiheadAttention(6, 0), None, "must be positive"),
    (lambda: nn.MultiheadAttention(6, 2, dropout=2.0), None, r"dropout: expected a probability in \[0, 1\]"),
    (lambda: nn.MultiHeadSelfAttention(6, 4), None, "embed_dim 6 is not divisible by num_heads 4"),
    (None, lambda m: m(np.ones(6), np.ones(6), np.ones(6)), "query: expected a 2-D or 3-D array"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 6)), np.ones((3, 6))), "key: expected a 3-D array"),
    (None, lambda m: m(np.ones((2, 1, 5)), np.ones((3, 1, 6)), np.ones((3, 1, 6))),
     "query: expected last dimension 6"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 1, 6)), np.ones((3, 1, 6), np.float32)),
     "value: dtype float32 does not match the module's dtype float64"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 1, 6)), np.ones((4, 1, 6))),
     r"value: expected leading shape \(3, 1\)"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 2, 6)), np.ones((3, 2, 6))),
     "key: batch size 2 differs from query's 1"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 1, 6)), np.ones((3, 1, 6)), attn_mask=np.ones((3, 2), bool)),
     r"attn_mask: expected shape \(2, 3\) or \(2, 2, 3\)"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 1, 6)), np.ones((3, 1, 6)), attn_mask=np.ones((2, 3), int)),
     "attn_mask: expected a bool or floating-point array"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 1, 6)), np.ones((3, 1, 6)),
                       key_padding_mask=np.full((1, 3), np.nan)), "key_padding_mask: .* got NaN"),
    (None, lambda m: m(np.ones((2, 1, 6)), np.ones((3, 1, 6)), np.ones((3, 1, 6)),
                       key_padding_mask=np.zeros((3, 1), bool)), r"key_padding_mask: expected shape \(1, 3\)"),
    (None, lambda m: m.backward(np.ones((2, 1, 6))), "MultiheadAttention.backward.. called before forward"),
])
def test_multihead_attention_rejects_bad_input(build, call, error):
    with pytest.raises((ValueError, TypeError, RuntimeError), match=error):
        module = build() if build else nn.MultiheadAttention(6, 2, dtype=np.float64, rng=0)
        call(module)


@pytest.mark.parametrize("call, error", [
    (lambda m: m(np.ones((2, 6))), "MultiHeadSelfAttention input: expected a 3-D array"),
    (lambda m: m(np.ones((2, 3, 5), np.float32)), "MultiHeadSelfAttention input: expected last dimension 6"),
    (lambda m: m(np.ones((2, 3, 6))), "MultiHeadSelfAttention input: dtype float64 does not match the module's"),
    (lambda m: m.backward(np.ones((2, 3, 6), np.float32)), "MultiHeadSelfAttention.backward.. called before"),
])
def test_multi_head_self_attention_rejects_bad_input(call, error):
    with pytest.raises((ValueError, TypeError, RuntimeError), match=error):
        call(nn.MultiHeadSelfAttention(6, 2, rng=0))


@pytest.mark.parametrize("call, error", [
    (lambda m: m(np.ones((3, 4))), "SelfAttention input: expected a 3-D array"),
    (lambda m: m(np.ones((2, 3, 5), np.float32)), "SelfAttention input: expected last dimension 4"),
    (lambda m: m(np.ones((2, 3, 4))), "SelfAttention input: dtype float64 does not match the module's dtype float32"),
    (lambda m: m(np.ones((2, 3, 4), np.float32), np.ones((3, 2), bool)), "attn_mask: expected a shape broadcastable"),
    (lambda m: m.backward(np.ones((2, 3, 5), np.float32)), r"SelfAttention.backward\(\) called before forward"),
])
def test_self_attention_rejects_bad_input(call, error):
    with pytest.raises((ValueError, TypeError, RuntimeError), match=error):
        call(nn.SelfAttention(4, 2, 5, rng=0))


@twins
def test_multi_head_attention_functional_rejects_indivisible_dims(impl):
    with pytest.raises(ValueError, match=r"value: expected \(B, T, D\) with D divisible by num_heads=2"):
        impl.multi_head_attention(np.ones((1, 2, 4)), np.ones((1, 3, 4)), np.ones((1, 3, 5)), 2)


def test_multihead_reuses_its_private_weights_and_never_ones_it_handed_out():
    """A later call may write A into the last call's buffer, but only where no caller holds that array;
    the numbers are those of a fresh module either way."""
    rng = np.random.default_rng(12)
    model = nn.MultiheadAttention(4, 2, batch_first=True, dtype=np.float64, rng=3)
    fresh = nn.MultiheadAttention(4, 2, batch_first=True, dtype=np.float64, rng=3)
    x1, x2, x3, g = (rng.standard_normal((2, 3, 4)) for _ in range(4))
    model(x1, x1, x1, need_weights=False)
    buffer = model._cache[1].weights
    model(x2, x2, x2, need_weights=False)
    assert model._cache[1].weights is buffer  # private: reused
    _, handed_out = model(x2, x2, x2, average_attn_weights=False)
    kept = handed_out.copy()
    out3, _ = model(x3, x3, x3)
    assert model._cache[1].weights is not handed_out
    np.testing.assert_array_equal(handed_out, kept)  # the caller's array is untouched
    grads = model.backward(g)
    expected_out, _ = fresh(x3, x3, x3)
    np.testing.assert_array_equal(out3, expected_out)
    for ours, theirs in zip(grads, fresh.backward(g)):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("self_attention", [True, False])
def test_multihead_workspace_gives_a_fresh_modules_numbers_and_leaves_returned_arrays_alone(self_attention):
    """The module keeps its internal arrays (projections, A, context, dq, dk, dv) from call to call: over
    changing shapes each round gives bit for bit what a fresh module gives, parameter gradients
    included, and what earlier rounds returned stays as it was."""
    rng = np.random.default_rng(13)
    kwargs = dict(batch_first=True, dtype=np.float64) if self_attention else dict(kdim=3, vdim=5, dtype=np.float64)
    model = nn.MultiheadAttention(4, 2, rng=4, **kwargs)
    kept = []
    for b, L, S in [(2, 3, 3), (2, 3, 3), (1, 6, 6), (2, 3, 3)]:
        fresh = nn.MultiheadAttention(4, 2, **kwargs)
        fresh.load_state_dict(model.state_dict())
        if self_attention:
            q = rng.standard_normal((b, L, 4))
            inputs, g = (q, q, q), rng.standard_normal((b, L, 4))
        else:
            inputs = tuple(rng.standard_normal((S if d != 4 else L, b, d)) for d in (4, 3, 5))
            g = rng.standard_normal((L, b, 4))
        results = []
        for m in (model, fresh):
            m.zero_grad()
            out, weights = m(*inputs)
            results.append([out, weights, *m.backward(g), *(p.grad for _, p in m.named_parameters())])
        for ours, theirs in zip(*results):
            np.testing.assert_array_equal(ours, theirs)
        kept.append((results[0][:5], [a.copy() for a in results[0][:5]]))
    for returned, copies in kept:
        for a, b in zip(returned, copies):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_under_no_grad_gives_the_same_output_and_refuses_a_backward(need_weights):
    """Under nn.no_grad nothing is kept for a backward, and without need_weights A is computed a tile at a time
    and not kept (kernels.attention, keep_weights=False): the output and weights are the same bit for bit, with
    padding and in training mode's dropout (the same draws from the same seed); a backward after it is refused
    with a message that names no_grad; outside the block the module keeps its cache again."""
    x = np.random.default_rng(8).standard_normal((3, 7, 4))
    padding = np.zeros((3, 7), bool)
    padding[1, 5:] = True
    model, twin = (nn.MultiheadAttention(4, 2, dropout=0.3, batch_first=True, dtype=np.float64, rng=8)
                   for _ in range(2))
    model.rng = np.random.default_rng(9)
    want = model(x, x, x, key_padding_mask=padding, need_weights=need_weights)
    twin.rng = np.random.default_rng(9)
    with nn.no_grad():
        got = twin(x, x, x, key_padding_mask=padding, need_weights=need_weights)
    assert ("weights" in twin._workspace._arrays) == need_weights  # A kept only when it is returned
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match=r"MultiheadAttention.backward\(\) called before forward\(\), or after a "
                                           r"forward under nn.no_grad\(\)"):
        twin.backward(np.ones_like(got[0]))
    out, _ = twin(x, x, x, need_weights=need_weights)
    assert np.abs(self_attention_grad(twin.backward(np.ones_like(out)))).max() > 0
