"""Scaled dot-product attention: ``torch.nn.functional.scaled_dot_product_attention`` with its backward.

    S   = q k^T * scale + bias            (..., L, S)   scale = 1/sqrt(E) unless given
    A   = softmax(S) over keys            (..., L, S)   row i: how much query i looks at each key
    P   = A * mask                        (..., L, S)   dropout; P = A when dropout_p = 0
    out = P v                             (..., L, Ev)

q: (..., L, E), k: (..., S, E), v: (..., S, Ev); the leading (batch) dims broadcast as in ``np.matmul``.
Masks follow SDPA's convention (``masks.py``): a bool ``attn_mask`` is True where the key takes part,
a float one is added, ``is_causal`` hides the future.

Fully masked rows (every key of query i hidden): softmax would be 0/0. Here that row of A is **zero**,
so its output is zero and every gradient through it is zero, never NaN: a NaN would silently poison a
whole training run. PyTorch's SDPA math backend does the same (its "safe softmax");
``torch.nn.MultiheadAttention`` with ``need_weights=True`` returns NaN there instead. With no keys at all
(S = 0) every row is such a row: out and dq are zero, A is (..., L, 0), as in PyTorch.

Its fast twin is ``numpy_attn.kernels.attention``.
"""

import math
from typing import NamedTuple

import numpy as np

from .._validate import as_float_array, check_probability
from .dropout import dropout_mask
from .masks import attention_bias, check_bias_shape
from .softmax import softmax, softmax_backward


class AttentionCache(NamedTuple):
    """What the backward needs. ``weights`` (..., L, S) is the softmax A (before dropout): plot it."""

    q: np.ndarray  # (..., L, E)
    k: np.ndarray  # (..., S, E)
    v: np.ndarray  # (..., S, Ev)
    weights: np.ndarray  # A: (..., L, S)
    dropout_mask: object  # keep / (1 - p), (..., L, S); None without dropout
    scale: float


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None):
    """out = dropout(softmax(q k^T * scale + bias)) v. Returns (out: (..., L, Ev), cache).

    attn_mask: bool (True = takes part) or float (added), broadcastable to (..., L, S); None for none.
    dropout_p: drop probability on the weights A, drawn from ``rng`` (always applied when > 0, as in
    PyTorch: pass 0 in eval mode). The mask is a constant: it gets no gradient.
    """
    q, k, v = check_qkv(q, k, v)
    check_probability(dropout_p, "dropout_p")
    L, E, S = q.shape[-2], q.shape[-1], k.shape[-2]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)  # a Python float keeps float32 float32
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])  # one A per output matrix
    scores = np.broadcast_to((q @ np.swapaxes(k, -1, -2)) * scale, batch + (L, S))  # S = q k^T * scale
    bias = attention_bias(attn_mask, is_causal, L, S, q.dtype)
    if bias is not None:
        check_bias_shape(bias, attn_mask, batch + (L, S))
        scores = scores + bias  # -inf where a key is hidden
    weights, _ = softmax(scores, axis=-1)  # A: a hidden key gets exp(-inf) = 0
    mask = None if dropout_p == 0.0 else dropout_mask(weights.shape, dropout_p, q.dtype, rng)
    p = weights if mask is None else weights * mask  # P = A * mask
    out = p @ v  # out = P v
    return out, AttentionCache(q, k, v, weights, mask, scale)


def scaled_dot_product_attention_backward(grad_out, cache):
    """grad_out g: (..., L, Ev) -> (dq, dk, dv), each of the shape of its input (broadcast dims summed)."""
    q, k, v, weights, mask, scale = cache
    p = weights if mask is None else weights * mask
    dv = np.swapaxes(p, -1, -2) @ grad_out  # out = P v  ->  dv = P^T g
    dp = grad_out @ np.swapaxes(v, -1, -2)  # out = P v  ->  dP = g v^T
    da = dp if mask is None else dp * mask  # P = A * mask  ->  dA = dP * mask
    ds = softmax_backward(da, (weights, -1))  # A = softmax(S)  ->  dS = A * (dA - sum_j A_j dA_j)
    dq = (ds @ k) * scale  # S = q k^T * scale  ->  dq = dS k * scale
    dk = (np.swapaxes(ds, -1, -2) @ q) * scale  # ->  dk = dS^T q * scale
    return sum_to_shape(dq, q.shape), sum_to_shape(dk, k.shape), sum_to_shape(dv, v.shape)


def check_qkv(q, k, v):
    """q: (..., L, E), k: (..., S, E), v: (..., S, Ev), one float dtype, batch dims that broadcast."""
    q = as_float_array(q, "query", min_ndim=2)
    k = as_float_array(k, "key", min_ndim=2)
    v = as_float_array(v, "value", min_ndim=2)
    for x, name in ((k, "key"), (v, "value")):
        if x.dtype != q.dtype:
            raise TypeError(f"{name}: dtype {x.dtype} does not match query's dtype {q.dtype}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"key: expected last dimension {q.shape[-1]} (query's E), got shape {k.shape}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"value: expected {k.shape[-2]} rows (key's S), got shape {v.shape}")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"query, key, value: batch dims {q.shape[:-2]}, {k.shape[:-2]}, {v.shape[:-2]} do not broadcast"
        ) from None
    return q, k, v


def sum_to_shape(grad, shape):
    """Sum a gradient over the dims its operand was broadcast along, giving back ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=tuple(range(lead)) + stretched).reshape(shape)
