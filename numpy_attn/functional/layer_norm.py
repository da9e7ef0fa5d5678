"""Layer normalisation over the trailing ``normalized_shape`` dims (``torch.nn.functional.layer_norm``).

Each row x (the D = prod(normalized_shape) trailing values) is normalised on its own:

    mu = mean(x),  var = mean((x - mu)^2)        (biased variance, as PyTorch)
    xhat = (x - mu) / sqrt(var + eps)
    y = xhat * weight + bias                     weight, bias: normalized_shape

Backward, with d = g * weight the gradient reaching xhat and rstd = 1 / sqrt(var + eps):

    dx = rstd * (d - mean(d) - xhat * mean(d * xhat))   the two means are the paths through mu and var
    dweight = sum over rows of g * xhat,  dbias = sum over rows of g

Its fast twin is ``numpy_attn.kernels.layer_norm``.
"""

import math

import numpy as np

from .._validate import as_float_array


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """x: (*, *normalized_shape); weight, bias: normalized_shape or None. Returns y (shape of x) and the cache."""
    x, normalized_shape = check_layer_norm_args(x, normalized_shape, weight, bias)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))  # the normalised dims
    mu = _mean(x, axes)
    centred = x - mu
    var = _mean(centred * centred, axes)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = centred * rstd
    y = xhat if weight is None else xhat * weight
    y = y if bias is None else y + bias
    return y, (xhat, rstd, weight, bias is not None, axes)


def layer_norm_backward(grad_out, cache):
    """grad_out: shape of x -> (grad_x, grad_weight, grad_bias); the last two are None where there was none."""
    xhat, rstd, weight, has_bias, axes = cache
    grad_out = np.asarray(grad_out)
    if grad_out.shape != xhat.shape:
        raise ValueError(f"layer_norm grad_out: expected shape {xhat.shape} (the input's), got {grad_out.shape}")
    rows = tuple(range(xhat.ndim - len(axes)))  # the leading dims: one row each
    d = grad_out if weight is None else grad_out * weight  # y = xhat * weight + bias  ->  dL/dxhat
    mean_d = _mean(d, axes)  # path through mu
    mean_dx = _mean(d * xhat, axes)  # path through var
    grad_x = rstd * (d - mean_d - xhat * mean_dx)  # xhat = (x - mu) * rstd
    grad_weight = None if weight is None else (grad_out * xhat).sum(axis=rows)  # dy/dweight = xhat
    grad_bias = grad_out.sum(axis=rows) if has_bias else None  # dy/dbias = 1
    return grad_x, grad_weight, grad_bias


def check_layer_norm_args(x, normalized_shape, weight, bias):
    """x as a float array whose trailing dims are ``normalized_shape``, and that shape as a tuple; weight and
    bias None or float arrays of exactly that shape (no silent broadcasting). Returns (x, normalized_shape)."""
    normalized_shape = tuple(np.atleast_1d(normalized_shape).tolist())
    x = as_float_array(x, "layer_norm input")
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm input: expected trailing shape {normalized_shape}, got shape {x.shape}")
    for p, name in ((weight, "weight"), (bias, "bias")):
        if p is not None and as_float_array(p, f"layer_norm {name}").shape != normalized_shape:
            raise ValueError(f"layer_norm {name}: expected shape {normalized_shape} (normalized_shape), "
                             f"got {np.shape(p)}")
    return x, normalized_shape


def _mean(a, axes):
    """The mean over ``axes``, kept as size-1 dims; 0 over no entries (D = 0), where NumPy's mean warns."""
    count = math.prod(a.shape[i] for i in axes)
    return a.sum(axis=axes, keepdims=True) / max(count, 1)
