"""Elementwise nonlinearities and their derivatives, each written from its own output."""

import numpy as np

from .._validate import as_float_array


def sigmoid(x):
    """s = 1 / (1 + exp(-x)), evaluated without overflow. x: any shape."""
    x = as_float_array(x, "sigmoid input")
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
    return out, out


def sigmoid_backward(grad_out, cache):
    s = cache
    return grad_out * s * (1.0 - s)  # ds/dx = s (1 - s)


def tanh(x):
    """t = tanh(x). x: any shape."""
    out = np.tanh(as_float_array(x, "tanh input"))
    return out, out


def tanh_backward(grad_out, cache):
    t = cache
    return grad_out * (1.0 - t * t)  # dt/dx = 1 - t^2


def relu(x):
    """r = max(x, 0). x: any shape. The derivative at 0 is taken as 0, as in PyTorch."""
    x = as_float_array(x, "relu input")
    return np.maximum(x, 0), x > 0


def relu_backward(grad_out, cache):
    positive = cache
    return grad_out * positive  # dr/dx = 1 where x > 0, else 0
