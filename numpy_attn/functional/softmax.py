"""Softmax, masked softmax and log-softmax over any axis, stable for logits of any magnitude.

    a_i = exp(x_i - m) / sum_j exp(x_j - m)          m = max_j x_j (any shift cancels; this one keeps exp <= 1)
    log_softmax(x)_i = x_i - m - log sum_j exp(x_j - m)

Backward (vector-Jacobian products, g = dL/da):

    softmax:      da_i/dx_j = a_i (delta_ij - a_j)   ->  dx = a * (g - sum_j a_j g_j)
    log_softmax:  dl_i/dx_j = delta_ij - a_j         ->  dx = g - a * sum_j g_j

A row whose every entry is -inf (every position hidden) has no softmax (0/0). Here it is all zeros, so
nothing flows through it and no NaN appears. Its fast twin is ``numpy_attn.kernels.softmax``.
"""

import numpy as np

from .._validate import as_float_array, check_scores


def softmax(x, axis=-1):
    """a = softmax(x) over ``axis``. x: any shape, finite or -inf (hidden). Returns a (shape of x) and the cache."""
    x = as_float_array(x, "softmax input", min_ndim=1, finite=False)
    check_scores(x, "softmax input")
    if x.size == 0:  # an empty batch, or nothing to normalise over
        a = x.copy()
        return a, (a, axis)
    m = x.max(axis=axis, keepdims=True)
    m[np.isneginf(m)] = 0.0  # an all -inf row: exp(-inf - 0) = 0 everywhere
    e = np.exp(x - m)
    total = e.sum(axis=axis, keepdims=True)
    total[total == 0] = 1.0  # the all-hidden row: 0 / 1 = 0
    a = e / total
    return a, (a, axis)


def softmax_backward(grad_out, cache):
    """grad_out: dL/da, shape of a -> dL/dx = a * (g - sum(a * g)) over the softmax axis."""
    a, axis = cache
    grad_out = np.asarray(grad_out)
    if grad_out.shape != a.shape:
        raise ValueError(f"softmax grad_out: expected shape {a.shape} (the output's), got {grad_out.shape}")
    return a * (grad_out - (a * grad_out).sum(axis=axis, keepdims=True))


def masked_softmax(scores, keep, axis=-1):
    """a_i = keep_i exp(s_i - m) / sum_j keep_j exp(s_j - m), m = max of the kept s_j.

    Hidden positions get weight exactly 0 (not D2L's exp(-1e6)); a row with nothing kept gets all-zero
    weights instead of PyTorch's NaN, so its output is 0 and no gradient flows through it.
    scores: any shape; keep: bool broadcastable to scores (True = takes part), or None (all kept).
    Returns a (shape of scores) and the cache of ``softmax_backward``, whose VJP a * (g - sum(a g)) stays
    exact: a_i = 0 at every hidden position, so those terms drop out of both factors.
    """
    if keep is None:
        return softmax(scores, axis)
    return softmax(np.where(keep, scores, -np.inf), axis)  # hidden scores are -inf: exp gives 0 there


def log_softmax(x, axis=-1):
    """l = log_softmax(x) over ``axis``. x: any shape, finite. Returns l (shape of x) and the cache."""
    x = as_float_array(x, "log_softmax input", min_ndim=1)
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return out, (out, axis)


def log_softmax_backward(grad_out, cache):
    """dl_i/dx_j = delta_ij - softmax_j, so dx = g - softmax * sum(g)."""
    out, axis = cache
    return grad_out - np.exp(out) * grad_out.sum(axis=axis, keepdims=True)
