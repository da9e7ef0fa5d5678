"""Multi-head attention written with einsum: input projections, heads split, scores, weighted sum.

With H heads of size d = E / H (b batch, n query, m key, h head):

    q, k, v = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v      (in_projection)
    Q, K, V = heads of q, k, v                               (B, T, E) -> (B, T, H, d), a reshape
    S   = einsum('bnhd,bmhd->bhnm', Q, K) * scale + bias     (B, H, L, S)   scale = 1/sqrt(d)
    A   = softmax(S) over m;  P = A * dropout mask
    out = einsum('bhnm,bmhd->bnhd', P, V).reshape(B, L, H * d)

The output must be 'bnhd', so that the reshape puts each head's d values side by side ('bndh' would
interleave the heads). Backward, with G = grad_out split into heads (B, L, H, dv):

    dV = einsum('bhnm,bnhd->bmhd', P, G)       out = P V, summed over n
    dP = einsum('bnhd,bmhd->bhnm', G, V)       out = P V, summed over d
    dA = dP * mask;  dS = A * (dA - sum_m A dA)
    dQ = einsum('bhnm,bmhd->bnhd', dS, K) * scale
    dK = einsum('bhnm,bnhd->bmhd', dS, Q) * scale

Every head is ``scaled_dot_product_attention`` on its own (B, L, d) slices. Its fast twin is
``numpy_attn.kernels.multihead``.
"""

import math
from typing import NamedTuple

import numpy as np

from .._validate import check_probability
from .attention import check_qkv
from .dropout import dropout_mask
from .linear import linear, linear_backward
from .masks import attention_bias, check_bias_shape
from .softmax import softmax, softmax_backward


class MultiheadCache(NamedTuple):
    """What the backward needs. ``weights`` (B, H, L, S) is the softmax A of every head (before dropout)."""

    Q: np.ndarray  # (B, L, H, d)
    K: np.ndarray  # (B, S, H, d)
    V: np.ndarray  # (B, S, H, dv)
    weights: np.ndarray  # A: (B, H, L, S)
    dropout_mask: object  # (B, H, L, S), or None without dropout
    scale: float


def split_heads(x, num_heads):
    """(B, T, H*d) -> (B, H, T, d): einsum('bthd->bhtd') on x viewed as (B, T, H, d); a view, no copy."""
    B, T, E = x.shape
    return np.einsum("bthd->bhtd", x.reshape(B, T, num_heads, E // num_heads))


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H*d): einsum('bhtd->bthd') then a reshape. The inverse of ``split_heads``."""
    B, H, T, d = x.shape
    return np.einsum("bhtd->bthd", x).reshape(B, T, H * d)


def multi_head_attention(q, k, v, num_heads, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None):
    """Attention in each of ``num_heads`` heads, heads merged, by the einsums of the module docstring.

    q: (B, L, E), k: (B, S, E), v: (B, S, Ev), E and Ev divisible by num_heads; the projections are done
    already. attn_mask: SDPA's convention (bool True = takes part, float added), broadcastable to
    (B, H, L, S). scale defaults to 1/sqrt(E / num_heads). Returns (out: (B, L, Ev), cache).
    """
    for x, name in ((q, "query"), (k, "key"), (v, "value")):
        if np.ndim(x) != 3 or np.shape(x)[-1] % num_heads:
            raise ValueError(f"{name}: expected (B, T, D) with D divisible by num_heads={num_heads}, "
                             f"got shape {np.shape(x)}")
    q, k, v = check_qkv(q, k, v)
    check_probability(dropout_p, "dropout_p")
    (B, L, E), S, H = q.shape, k.shape[1], num_heads
    Q, K, V = (x.reshape(x.shape[0], x.shape[1], H, x.shape[2] // H) for x in (q, k, v))  # heads split
    scale = 1.0 / math.sqrt(E // H) if scale is None else float(scale)  # a Python float keeps float32 float32
    scores = np.einsum("bnhd,bmhd->bhnm", Q, K) * scale  # (B, H, L, S)
    bias = attention_bias(attn_mask, is_causal, L, S, q.dtype)
    if bias is not None:
        check_bias_shape(bias, attn_mask, scores.shape)
        scores = scores + bias
    weights, _ = softmax(scores, axis=-1)  # A, over the keys m
    mask = None if dropout_p == 0.0 else dropout_mask(weights.shape, dropout_p, q.dtype, rng)
    p = weights if mask is None else weights * mask
    out = np.einsum("bhnm,bmhd->bnhd", p, V).reshape(B, L, v.shape[2])  # heads merged
    return out, MultiheadCache(Q, K, V, weights, mask, scale)


def multi_head_attention_backward(grad_out, cache):
    """grad_out: (B, L, Ev) -> (dq: (B, L, E), dk: (B, S, E), dv: (B, S, Ev))."""
    Q, K, V, weights, mask, scale = cache
    B, L, H = Q.shape[0], Q.shape[1], Q.shape[2]
    G = np.asarray(grad_out).reshape(B, L, H, V.shape[3])  # out = merge(heads)  ->  split g the same way
    p = weights if mask is None else weights * mask
    dV = np.einsum("bhnm,bnhd->bmhd", p, G)  # out = P V  ->  dV = P^T G per head
    dp = np.einsum("bnhd,bmhd->bhnm", G, V)  # ->  dP = G V^T per head
    da = dp if mask is None else dp * mask  # P = A * mask
    ds = softmax_backward(da, (weights, -1))  # A = softmax(S)
    dQ = np.einsum("bhnm,bmhd->bnhd", ds, K) * scale  # S = Q K^T * scale  ->  dQ = dS K * scale
    dK = np.einsum("bhnm,bnhd->bmhd", ds, Q) * scale  # ->  dK = dS^T Q * scale
    return tuple(d.reshape(d.shape[0], d.shape[1], -1) for d in (dQ, dK, dV))  # heads merged back


def in_projection(query, key, value, weights, bias=None):
    """q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v.

    weights: the packed ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v], or a tuple (W_q: (E, E),
    W_k: (E, kdim), W_v: (E, vdim)); bias: the packed (3E,) or None.
    query: (*, E), key: (*, kdim), value: (*, vdim). Returns ((q, k, v), cache).
    """
    packed = not isinstance(weights, tuple)
    blocks = np.split(weights, 3) if packed else weights
    biases = (None,) * 3 if bias is None else np.split(bias, 3)
    outs, caches = zip(*(linear(x, w, b) for x, w, b in zip((query, key, value), blocks, biases)))
    return outs, (caches, packed)


def in_projection_backward(grads, cache):
    """grads: (dq, dk, dv) -> (d_query, d_key, d_value, d_weights, d_bias).

    d_weights has the structure of ``weights`` (a (3E, E) array or a tuple of three); d_bias is (3E,) or
    None. When query is key is value (self-attention), that array's gradient is the sum
    d_query + d_key + d_value, which the caller forms.
    """
    caches, packed = cache
    results = [linear_backward(g, c) for g, c in zip(grads, caches)]  # each projection is a linear map
    d_inputs = [r[0] for r in results]
    d_weights = tuple(r[1] for r in results)
    d_bias = None if results[0][2] is None else np.concatenate([r[2] for r in results])
    return (*d_inputs, np.concatenate(d_weights) if packed else d_weights, d_bias)
