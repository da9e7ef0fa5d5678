"""Additive attention: a small tanh network scores each position, a softmax over the scores gives the
weights, and the output is the weighted sum of the values.

Two forms, sharing one masked softmax (``softmax.masked_softmax``):

- **attention pooling** (seed 001's time-series classifier; Raffel & Ellis 2015): one score per time
  step from any scorer, e_t = w2 . tanh(W1 h_t + b1) + b2, and the context sum_t alpha_t h_t.
  ``attention_pool`` takes the scores e, so the scoring network can be a plain ``nn.Sequential``
  (``attention.0.weight`` ... as in the seed's PyTorch model) whose backward receives ``grad_e``.
- **Bahdanau's query-key form** (Bahdanau et al. 2015; Dive into Deep Learning's ``AdditiveAttention``):
  score(q, k) = w_v . tanh(W_q q + W_k k) for every query against every key.

Mask convention everywhere: True (or "j < valid_len") means the position TAKES PART.
"""

import numpy as np

from .._validate import as_float_array, as_index_array, check_last_dim, check_ndim
from .activation import tanh, tanh_backward
from .dropout import dropout, dropout_backward
from .linear import linear, linear_backward
from .softmax import masked_softmax, softmax_backward


def _bool_mask(mask, shape, name):
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"{name}: expected a bool array (True = takes part), got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {mask.shape}")
    return mask


def _same_dtype(x, x_name, ref, ref_name):
    if x.dtype != ref.dtype:
        raise TypeError(f"{x_name}: dtype {x.dtype} does not match {ref_name}'s {ref.dtype}")


# --- attention pooling over time -------------------------------------------------------------------
def attention_pool(h, e, mask=None):
    """Pool a sequence into one vector with weights from its scores:

        alpha_t = softmax_t(e_t)  (over the kept steps),   context = sum_t alpha_t h_t

    h: (B, T, D) the values (e.g. BiLSTM outputs); e: (B, T) one score per step from any scorer, e.g.
    e_t = w2 . tanh(W1 h_t + b1) + b2; mask: (B, T) bool, True = the step takes part, or None.
    Returns ((context (B, D), alpha (B, T)), cache). A row with no step kept: alpha = 0, context = 0.
    """
    h = as_float_array(h, "attention_pool h", ndim=3)
    e = as_float_array(e, "attention_pool e", ndim=2)
    if e.shape != h.shape[:2]:
        raise ValueError(f"attention_pool e: expected shape {h.shape[:2]} (B, T of h), got {e.shape}")
    _same_dtype(e, "attention_pool e", h, "h")
    keep = _bool_mask(mask, h.shape[:2], "attention_pool mask")
    alpha, softmax_cache = masked_softmax(e, keep, axis=1)
    context = (alpha[:, None, :] @ h)[:, 0, :]  # (B, 1, T) @ (B, T, D): the sum over t as one batched matmul
    return (context, alpha), (h, alpha, softmax_cache)


def attention_pool_backward(grad_out, cache):
    """grad_out = (grad_context (B, D), grad_alpha (B, T) or None) -> (grad_h (B, T, D), grad_e (B, T)).

    grad_h is the direct path only (context depends on h linearly); when the scores e came from h as
    well, the scorer's backward of grad_e adds the second path.
    """
    grad_context, grad_alpha = grad_out
    h, alpha, softmax_cache = cache
    grad_h = alpha[:, :, None] * grad_context[:, None, :]  # context = sum_t alpha_t h_t: d/dh_t = alpha_t g
    grad_a = (h @ grad_context[:, :, None])[:, :, 0]  # d/dalpha_t = h_t . g          (B, T)
    if grad_alpha is not None:
        grad_a = grad_a + grad_alpha  # alpha is an output too: its own upstream gradient adds
    return grad_h, softmax_backward(grad_a, softmax_cache)  # alpha = masked softmax(e)


# --- Bahdanau's query-key additive attention ------------------------------------------------------
def _valid_keep(valid_lens, batch, n_queries, n_keys):
    """keep[b, i, j] = j < valid_lens[b] (or valid_lens[b, i]): (B, Lq or 1, Lk) bool, or None."""
    if valid_lens is None:
        return None
    lens = as_index_array(valid_lens, "valid_lens", n_keys + 1)
    check_ndim(lens, "valid_lens", (1, 2))
    if lens.shape not in ((batch,), (batch, n_queries)):
        raise ValueError(f"valid_lens: expected shape ({batch},) or ({batch}, {n_queries}), got {lens.shape}")
    lens = lens[:, None] if lens.ndim == 1 else lens  # (B, 1): the same length for every query
    return np.arange(n_keys) < lens[:, :, None]


def bahdanau_attention(queries, keys, values, w_q, w_k, w_v, valid_lens=None,
                       dropout_p=0.0, training=False, rng=None):
    """Additive attention of every query against every key (D2L's ``AdditiveAttention``):

        score(q_i, k_j) = w_v . tanh(W_q q_i + W_k k_j),   a_i = softmax_j(score(q_i, k_j)),
        output_i = sum_j dropout(a)_ij v_j

    queries: (B, Lq, Dq), keys: (B, Lk, Dk), values: (B, Lk, Dv); w_q: (H, Dq), w_k: (H, Dk), w_v: (1, H)
    (the weights of PyTorch's bias-free ``Linear``s); valid_lens: None, (B,) or (B, Lq) integers in
    [0, Lk], key j takes part for query i iff j < valid_len; dropout on the weights, as in D2L.
    Returns ((output (B, Lq, Dv), weights (B, Lq, Lk)), cache); the weights are before dropout.
    A query with valid_len 0 gets zero weights and a zero output (D2L's -1e6 fill gives uniform ones).
    """
    queries = as_float_array(queries, "bahdanau_attention queries", ndim=3)
    keys = as_float_array(keys, "bahdanau_attention keys", ndim=3)
    values = as_float_array(values, "bahdanau_attention values", ndim=3)
    check_last_dim(queries, "bahdanau_attention queries", w_q.shape[1])
    check_last_dim(keys, "bahdanau_attention keys", w_k.shape[1])
    if keys.shape[0] != queries.shape[0] or values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"bahdanau_attention: expected queries (B, Lq, Dq), keys (B, Lk, Dk), values (B, Lk, Dv); "
                         f"got {queries.shape}, {keys.shape}, {values.shape}")
    batch, n_queries, n_keys = queries.shape[0], queries.shape[1], keys.shape[1]
    q, q_cache = linear(queries, w_q)  # W_q q_i                                     (B, Lq, H)
    k, k_cache = linear(keys, w_k)  # W_k k_j                                        (B, Lk, H)
    features, tanh_cache = tanh(q[:, :, None, :] + k[:, None, :, :])  # every pair    (B, Lq, Lk, H)
    scores, v_cache = linear(features, w_v)  # w_v . features                         (B, Lq, Lk, 1)
    keep = _valid_keep(valid_lens, batch, n_queries, n_keys)
    weights, softmax_cache = masked_softmax(scores[..., 0], keep, axis=-1)  #         (B, Lq, Lk)
    dropped, dropout_cache = dropout(weights, dropout_p, training, rng)
    output = dropped @ values  #                                                        (B, Lq, Dv)
    cache = (values, dropped, dropout_cache, softmax_cache, v_cache, tanh_cache, q_cache, k_cache)
    return (output, weights), cache


def bahdanau_attention_backward(grad_out, cache):
    """grad_out = (grad_output (B, Lq, Dv), grad_weights (B, Lq, Lk) or None)
    -> (grad_queries, grad_keys, grad_values, grad_w_q, grad_w_k, grad_w_v)."""
    grad_output, grad_weights = grad_out
    values, dropped, dropout_cache, softmax_cache, v_cache, tanh_cache, q_cache, k_cache = cache
    grad_values = dropped.transpose(0, 2, 1) @ grad_output  # output = dropped @ values     (B, Lk, Dv)
    grad_a = dropout_backward(grad_output @ values.transpose(0, 2, 1), dropout_cache)  # (B, Lq, Lk)
    if grad_weights is not None:
        grad_a = grad_a + grad_weights  # the weights are an output too
    grad_scores = softmax_backward(grad_a, softmax_cache)  # weights = masked softmax(scores)
    grad_features, grad_w_v, _ = linear_backward(grad_scores[..., None], v_cache)  # scores = features w_v^T
    grad_sum = tanh_backward(grad_features, tanh_cache)  # features = tanh(q_i + k_j)      (B, Lq, Lk, H)
    grad_queries, grad_w_q, _ = linear_backward(grad_sum.sum(axis=2), q_cache)  # q_i met every key j
    grad_keys, grad_w_k, _ = linear_backward(grad_sum.sum(axis=1), k_cache)  # k_j met every query i
    return grad_queries, grad_keys, grad_values, grad_w_q, grad_w_k, grad_w_v
