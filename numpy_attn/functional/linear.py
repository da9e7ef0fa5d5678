"""Affine map: y = x W^T + b, the counterpart of ``torch.nn.functional.linear``."""

import numpy as np

from .._validate import as_float_array, check_last_dim


def linear(x, weight, bias=None):
    """y = x W^T + b.

    x: (*, in_features), weight: (out_features, in_features), bias: (out_features,) or None
    returns y: (*, out_features) and the cache for ``linear_backward``.
    """
    x = as_float_array(x, "linear input", min_ndim=1)
    check_last_dim(x, "linear input", weight.shape[1])
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out, (x, weight, bias is not None)


def linear_backward(grad_out, cache):
    """grad_out: (*, out_features) -> (grad_x: (*, in), grad_weight: (out, in), grad_bias: (out,) or None)."""
    x, weight, has_bias = cache
    grad_x = grad_out @ weight  # dy/dx = W
    # Leading dims are a batch: flatten them so the weight gradient is one matrix product (sum over rows).
    g2 = grad_out.reshape(-1, weight.shape[0])
    grad_weight = g2.T @ x.reshape(-1, weight.shape[1])  # dy/dW = sum_n g_n x_n^T
    grad_bias = g2.sum(axis=0) if has_bias else None  # dy/db = sum_n g_n
    return grad_x, grad_weight, grad_bias
