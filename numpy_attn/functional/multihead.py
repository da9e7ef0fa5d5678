"""Multi-head attention pieces: input projections, heads split and merged with einsum, the mask merge.

With H heads of size d = E / H, the seed's einsum spelling (b batch, n query, m key, h head):

    Q, K, V = split(q), split(k), split(v)                    (B, T, E) -> (B, T, H, d)
    scores  = einsum('bnhd,bmhd->bhnm', Q, K) / sqrt(d)       (B, H, L, S)
    A       = softmax(scores over m)
    out     = einsum('bhnm,bmhd->bnhd', A, V).reshape(B, L, E)

(The seed wrote 'bnmh,bmhd->bndh'; the output must be 'bnhd' so that the reshape puts each head's d
values side by side: 'bndh' interleaves the heads.) The code computes the same sums as one batched
``matmul`` per product on (B, H, T, d) views, through ``scaled_dot_product_attention``: einsum without
``optimize`` loops in C over all five indices and runs far below the BLAS rate of matmul, which does the
identical sum over d (scores) or m (out) for each (b, h).
"""

import numpy as np

from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from ..kernels.workspace import as_workspace
from .linear import linear, linear_backward


def split_heads(x, num_heads):
    """(B, T, H*d) -> (B, H, T, d): einsum('bthd->bhtd'), a view, no copy. Its backward is ``merge_heads``."""
    B, T, E = x.shape
    return np.einsum("bthd->bhtd", x.reshape(B, T, num_heads, E // num_heads))


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H*d): einsum('bhtd->bthd') then one copy. Its backward is ``split_heads``."""
    B, H, T, d = x.shape
    return np.einsum("bhtd->bthd", x).reshape(B, T, H * d)


def multi_head_attention(q, k, v, num_heads, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None,
                         workspace=None):
    """Attention in each of ``num_heads`` heads, heads merged: out = merge(SDPA(split(q), split(k), split(v))).

    q: (B, L, E), k: (B, S, E), v: (B, S, Ev), E and Ev divisible by num_heads; the projections are
    done already. attn_mask: SDPA's convention (bool True = takes part, float added), broadcastable
    to (B, H, L, S). scale defaults to 1/sqrt(E / num_heads); workspace: see
    ``scaled_dot_product_attention``. Returns (out: (B, L, Ev), cache); ``cache.weights`` is A: (B, H, L, S).
    """
    for x, name in ((q, "query"), (k, "key"), (v, "value")):
        if np.ndim(x) != 3 or np.shape(x)[-1] % num_heads:
            raise ValueError(f"{name}: expected (B, T, D) with D divisible by num_heads={num_heads}, "
                             f"got shape {np.shape(x)}")
    heads = [split_heads(x, num_heads) for x in (q, k, v)]
    out, cache = scaled_dot_product_attention(*heads, attn_mask, dropout_p, is_causal, scale, rng, workspace)
    return merge_heads(out), cache


def multi_head_attention_backward(grad_out, cache, workspace=None):
    """grad_out: (B, L, Ev) -> (dq: (B, L, E), dk: (B, S, E), dv: (B, S, Ev)); workspace as in the forward."""
    num_heads = cache.weights.shape[1]
    grads = scaled_dot_product_attention_backward(split_heads(grad_out, num_heads), cache, workspace)  # out = merge(...)
    return tuple(merge_heads(g) for g in grads)  # heads = split(x): the inverse of a split is a merge


def in_projection(query, key, value, weights, bias=None, workspace=None):
    """q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v.

    weights: the packed ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v], or a tuple (W_q: (E, E),
    W_k: (E, kdim), W_v: (E, vdim)); bias: the packed (3E,) or None.
    query: (*, E), key: (*, kdim), value: (*, vdim). Returns ((q, k, v), cache).
    workspace: a ``Workspace`` to keep q, k, v in (they are then its arrays, valid until the next call).

    Self-attention (query is key is value, packed weights): one product x W^T, (*, 3E), then three
    column views. Row block i of W gives column block i of x W^T, so the numbers are the same as three
    separate products; one wide BLAS call is faster.
    """
    packed, ws = not isinstance(weights, tuple), as_workspace(workspace)
    blocks = np.split(weights, 3) if packed else weights
    biases = (None,) * 3 if bias is None else np.split(bias, 3)
    if packed and query is key and key is value:
        x, (x2, _, has_bias) = linear(query, weights, bias, out=_rows_for(ws, "qkv", query, weights))
        E = weights.shape[1]
        # The backward's caches are those of the three products the wide one stands for, all on the same x.
        return (x[..., :E], x[..., E:2 * E], x[..., 2 * E:]), ([(x2, w, has_bias) for w in blocks], packed)
    outs, caches = zip(*(linear(x, w, b, out=_rows_for(ws, name, x, w))
                         for name, x, w, b in zip("qkv", (query, key, value), blocks, biases)))
    return outs, (caches, packed)


def in_projection_backward(grads, cache):
    """grads: (dq, dk, dv) -> (d_query, d_key, d_value, d_weights, d_bias).

    d_weights has the structure of ``weights`` (a (3E, E) array or a tuple of three); d_bias is (3E,) or
    None. Each projection's backward is ``linear_backward``'s, also after the forward's one wide product
    (joining dq, dk, dv into one (N, 3E) gradient for one wide product back would cost a pass over them).
    The three input gradients are returned separately even when query is key is value: that array's
    gradient is their sum (d_query + d_key + d_value), which the caller forms.
    """
    caches, packed = cache
    results = [linear_backward(g, c) for g, c in zip(grads, caches)]
    d_inputs = [r[0] for r in results]
    d_weights = tuple(r[1] for r in results)
    d_bias = None if results[0][2] is None else np.concatenate([r[2] for r in results])
    return (*d_inputs, np.concatenate(d_weights) if packed else d_weights, d_bias)


def _rows_for(workspace, name, x, weight):
    """A kept array for y = linear(x, W): x's leading shape, W's rows as the last dim, matmul's dtype."""
    return workspace.empty(name, np.shape(x)[:-1] + (len(weight),), np.result_type(np.asarray(x), weight))


def merge_masks(attn_mask, key_padding_mask, is_causal, batch, num_heads, L, S, dtype):
    """``nn.MultiheadAttention``'s masks as one additive bias, broadcastable to (B, H, L, S).

    PyTorch's MHA convention (the opposite of SDPA's for bools): a **bool** mask is True where the
    key is *not allowed* (bias -inf); a **float** mask is added. attn_mask: (L, S) or (B*H, L, S);
    key_padding_mask: (B, S), True = that key is padding. The two are summed (PyTorch turns each into
    a float mask and adds them). is_causal: with attn_mask given it is only a hint that attn_mask is
    causal (PyTorch's meaning) and attn_mask is used; without one, the causal mask is built (PyTorch
    raises there). Returns the bias or None.
    """
    bias = None
    if attn_mask is not None:
        bias = _as_additive(attn_mask, "attn_mask", dtype)
        if bias.shape == (L, S):
            pass
        elif bias.shape == (batch * num_heads, L, S):
            bias = bias.reshape(batch, num_heads, L, S)
        else:
            raise ValueError(f"attn_mask: expected shape ({L}, {S}) or ({batch * num_heads}, {L}, {S}) "
                             f"= (L, S) or (B*num_heads, L, S), got {bias.shape}")
    elif is_causal:
        bias = np.where(np.tri(L, S, dtype=bool), 0.0, -np.inf).astype(dtype)  # hide key j > query i
    if key_padding_mask is not None:
        pad = _as_additive(key_padding_mask, "key_padding_mask", dtype)
        if pad.shape != (batch, S):
            raise ValueError(f"key_padding_mask: expected shape ({batch}, {S}) = (B, S), got {pad.shape}")
        pad = pad.reshape(batch, 1, 1, S)  # the same keys are padding for every head and every query
        bias = pad if bias is None else bias + pad
    return bias


def _as_additive(mask, name, dtype):
    m = np.asarray(mask)
    if m.dtype == bool:
        return np.where(m, -np.inf, 0.0).astype(dtype)  # True = not allowed
    if m.dtype.kind != "f":
        raise TypeError(f"{name}: expected a bool or floating-point array, got dtype {m.dtype}")
    if np.isnan(m).any() or np.isposinf(m).any():
        raise ValueError(f"{name}: a float mask may hold finite values and -inf, got NaN or +inf")
    return m.astype(dtype, copy=False)
