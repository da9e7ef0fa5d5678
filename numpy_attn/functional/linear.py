"""Affine map: y = x W^T + b, the counterpart of ``torch.nn.functional.linear``.

    y = x W^T + b                  x: (*, in), W: (out, in), b: (out,), y: (*, out)

Backward, for the upstream gradient g = dL/dy: (*, out):

    dL/dx = g W                    (*, in)
    dL/dW = sum over rows of g^T x (out, in)
    dL/db = sum over rows of g     (out,)

Its fast twin is ``numpy_attn.kernels.linear``.
"""

from .._validate import as_float_array, check_last_dim


def linear(x, weight, bias=None):
    """y = x W^T + b. x: (*, in_features), weight: (out_features, in_features), bias: (out_features,) or None.

    Returns y: (*, out_features) and the cache for ``linear_backward``.
    """
    x = as_float_array(x, "linear input", min_ndim=1)
    check_last_dim(x, "linear input", weight.shape[1])
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y, (x, weight, bias is not None)


def linear_backward(grad_out, cache):
    """grad_out: (*, out_features) -> (grad_x: (*, in), grad_weight: (out, in), grad_bias: (out,) or None)."""
    x, weight, has_bias = cache
    grad_x = grad_out @ weight  # y = x W^T  ->  dy/dx = W
    rows_x = x.reshape(-1, x.shape[-1])  # every leading index is one row: (N, in)
    rows_g = grad_out.reshape(-1, weight.shape[0])  # (N, out)
    grad_weight = rows_g.T @ rows_x  # y_n = W x_n  ->  dL/dW = sum_n g_n x_n^T
    grad_bias = rows_g.sum(axis=0) if has_bias else None  # y_n = ... + b  ->  dL/db = sum_n g_n
    return grad_x, grad_weight, grad_bias
