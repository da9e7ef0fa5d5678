"""Layer normalisation over the trailing ``normalized_shape`` dimensions (``torch.nn.functional.layer_norm``)."""

import numpy as np

from .._validate import as_float_array


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) var over the last dims.

    x: (*, *normalized_shape); weight, bias: normalized_shape or None. Returns y (shape of x) and the cache.
    """
    normalized_shape = tuple(np.atleast_1d(normalized_shape).tolist())
    x = as_float_array(x, "layer_norm input")
    k = len(normalized_shape)
    if x.shape[x.ndim - k:] != normalized_shape:
        raise ValueError(f"layer_norm input: expected trailing shape {normalized_shape}, got shape {x.shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    rstd = 1.0 / np.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)
    xhat = centered * rstd
    out = xhat if weight is None else xhat * weight
    if bias is not None:
        out = out + bias
    return out, (xhat, rstd, weight, bias is not None, axes)


def layer_norm_backward(grad_out, cache):
    """Returns (grad_x, grad_weight, grad_bias); the last two are None where there was none.

    With xhat = (x - mean) * rstd and d = grad_out * weight (the gradient reaching xhat),
    dx = rstd * (d - mean(d) - xhat * mean(d * xhat)): the two means are the paths through mean and var.
    """
    xhat, rstd, weight, has_bias, axes = cache
    lead = tuple(range(xhat.ndim - len(axes)))
    d = grad_out if weight is None else grad_out * weight  # y = xhat * weight + bias
    grad_x = rstd * (d - d.mean(axis=axes, keepdims=True) - xhat * (d * xhat).mean(axis=axes, keepdims=True))
    grad_weight = None if weight is None else (grad_out * xhat).sum(axis=lead)  # dy/dweight = xhat
    grad_bias = grad_out.sum(axis=lead) if has_bias else None  # dy/dbias = 1
    return grad_x, grad_weight, grad_bias
