"""The fast twin of ``numpy_attn.functional.multihead``: multi-head attention and the input projections.

Tricks, in words:
- the heads are (B, H, T, d) views of the projections (``functional.split_heads``), and each einsum of
  the textbook is the same sum computed as one batched matrix product per (b, h) by
  ``kernels.attention`` (einsum without ``optimize`` loops in C over all five indices, far below the
  BLAS rate); merging the heads back is a view when the output keeps the input's memory order;
- self-attention (query is key is value, packed weights) projects with one product x W^T, (*, 3E), then
  takes three column views: row block i of W gives column block i of x W^T, so the numbers are the same
  as three separate products, and one wide BLAS call is faster;
- a ``Workspace`` keeps q, k, v and the attention's arrays from call to call.
"""

import numpy as np

from ..functional.multihead import merge_heads, split_heads
from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from .linear import linear, linear_backwards
from .workspace import as_workspace


def multi_head_attention(q, k, v, num_heads, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None,
                         workspace=None, keep_weights=True):
    """``functional.multi_head_attention``: out = merge(SDPA(split(q), split(k), split(v))).

    Arguments and results as the textbook's; workspace and keep_weights: see ``kernels.attention``.
    Returns (out: (B, L, Ev), cache); ``cache.weights`` is A: (B, H, L, S); the cache is None without
    keep_weights.
    """
    for x, name in ((q, "query"), (k, "key"), (v, "value")):
        if np.ndim(x) != 3 or np.shape(x)[-1] % num_heads:
            raise ValueError(f"{name}: expected (B, T, D) with D divisible by num_heads={num_heads}, "
                             f"got shape {np.shape(x)}")
    heads = [split_heads(x, num_heads) for x in (q, k, v)]
    out, cache = scaled_dot_product_attention(*heads, attn_mask, dropout_p, is_causal, scale, rng, workspace,
                                              keep_weights)
    return merge_heads(out), cache


def multi_head_attention_backward(grad_out, cache, workspace=None):
    """``functional.multi_head_attention_backward``: grad_out (B, L, Ev) -> (dq, dk, dv); workspace as in
    the forward."""
    num_heads = cache.weights.shape[1]
    g = split_heads(grad_out, num_heads)  # out = merge(...): split g the same way
    grads = scaled_dot_product_attention_backward(g, cache, workspace)
    return tuple(merge_heads(g) for g in grads)  # heads = split(x): the inverse of a split is a merge


def in_projection(query, key, value, weights, bias=None, workspace=None):
    """``functional.in_projection``: q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v.

    Arguments and results as the textbook's, plus workspace: a ``Workspace`` to keep q, k, v in (they are
    then its arrays, valid until the next call). Self-attention takes one wide product (module docstring).
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
    """``functional.in_projection_backward``: (dq, dk, dv) -> (d_query, d_key, d_value, d_weights, d_bias).

    Each projection's backward is ``linear_backward``'s, also after the forward's one wide product
    (joining dq, dk, dv into one (N, 3E) gradient for one wide product back would cost a pass over them);
    the three are done together, their six products handed out among the threads at once.
    """
    caches, packed = cache
    results = linear_backwards(grads, caches)
    d_inputs = [r[0] for r in results]
    d_weights = tuple(r[1] for r in results)
    d_bias = None if results[0][2] is None else np.concatenate([r[2] for r in results])
    return (*d_inputs, np.concatenate(d_weights) if packed else d_weights, d_bias)


def _rows_for(workspace, name, x, weight):
    """A kept array for y = linear(x, W): x's leading shape, W's rows as the last dim, matmul's dtype."""
    return workspace.empty(name, np.shape(x)[:-1] + (len(weight),), np.result_type(np.asarray(x), weight))
