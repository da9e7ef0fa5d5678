"""``nn.LayerNorm``: normalise over the trailing ``normalized_shape`` dims, then scale and shift."""

import numpy as np

from .. import kernels as K
from .._validate import as_float_array, check_dtype
from . import init
from .module import Module


class LayerNorm(Module):
    """weight (ones) and bias (zeros): normalized_shape. forward(x: (*, *normalized_shape)) -> same shape."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = tuple(np.atleast_1d(normalized_shape).tolist())
        self.eps = eps
        self.weight = init.constant(self.normalized_shape, 1.0, dtype) if elementwise_affine else None
        self.bias = init.constant(self.normalized_shape, 0.0, dtype) if elementwise_affine and bias else None

    def forward(self, x):
        x = as_float_array(x, "LayerNorm input", finite=False)  # K.layer_norm checks the values
        if self.weight is not None:
            check_dtype(x, "LayerNorm input", self.weight.dtype)
        out, self._cache = K.layer_norm(
            x, self.normalized_shape,
            None if self.weight is None else self.weight.data,
            None if self.bias is None else self.bias.data, self.eps,
        )
        return out

    def backward(self, grad_out):
        grad_x, grad_w, grad_b = K.layer_norm_backward(grad_out, self._saved())
        if self.weight is not None:
            self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"
