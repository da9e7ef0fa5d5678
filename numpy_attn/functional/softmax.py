"""Softmax and log-softmax over any axis, stable for logits of any magnitude."""

import numpy as np

from .._validate import as_float_array


def softmax(x, axis=-1):
    """a_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (the shift cancels, so it is the same softmax).

    x: any shape; the sum runs over ``axis``. Returns a (same shape as x) and the cache.
    """
    x = as_float_array(x, "softmax input", min_ndim=1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # every exponent <= 0: no overflow
    a = e / e.sum(axis=axis, keepdims=True)
    return a, (a, axis)


def softmax_backward(grad_out, cache):
    """Vector-Jacobian product of softmax: dx = a * (g - sum(a * g))."""
    a, axis = cache
    return a * (grad_out - (a * grad_out).sum(axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """l_i = x_i - m - log sum_j exp(x_j - m), m = max_j x_j. x: any shape."""
    x = as_float_array(x, "log_softmax input", min_ndim=1)
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return out, (out, axis)


def log_softmax_backward(grad_out, cache):
    """dl_i/dx_j = delta_ij - softmax_j, so dx = g - softmax * sum(g)."""
    out, axis = cache
    return grad_out - np.exp(out) * grad_out.sum(axis=axis, keepdims=True)
