"""``nn.Linear``: y = x W^T + b with PyTorch's parameter names, shapes and initialisation."""

import math

import numpy as np

from .. import kernels as K
from .._validate import as_float_array, as_generator, check_dtype
from . import init
from .module import Module


class Linear(Module):
    """weight: (out_features, in_features), bias: (out_features,), both U(-1/sqrt(in), 1/sqrt(in)).

    forward(x: (*, in_features)) -> (*, out_features); backward(grad: (*, out_features)) -> (*, in_features).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = init.uniform((out_features, in_features), bound, dtype, rng)
        self.bias = init.uniform((out_features,), bound, dtype, rng) if bias else None

    def forward(self, x):
        x = as_float_array(x, "Linear input", min_ndim=1, finite=False)  # K.linear checks the values
        check_dtype(x, "Linear input", self.weight.dtype)
        out, self._cache = K.linear(x, self.weight.data, None if self.bias is None else self.bias.data)
        return out

    def backward(self, grad_out):
        grad_x, grad_w, grad_b = K.linear_backward(grad_out, self._saved())
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
