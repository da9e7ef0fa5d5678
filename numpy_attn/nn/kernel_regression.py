"""``NWKernelRegression``: Nadaraya-Watson regression with a learned kernel width (D2L 11.2)."""

import numpy as np

from .. import functional as F
from .._validate import as_generator, check_dtype
from .module import Module, Parameter


class NWKernelRegression(Module):
    """f(x_q) = sum_i softmax_i(-((x_q - x_qi) w)^2 / 2) y_qi with one trained width parameter.

    w: (1,) ~ U[0, 1), D2L's ``torch.rand((1,))``.
    forward(queries (Q,), keys (Q, K), values (Q, K)) -> f (Q,); the weights (Q, K) are kept in
    ``attention_weights`` for a heatmap. backward(grad_f (Q,)) -> (grad_queries, grad_keys, grad_values).
    """

    def __init__(self, dtype=np.float32, rng=None):
        super().__init__()
        self.w = Parameter(as_generator(rng).random((1,)).astype(dtype))
        self.attention_weights = None

    def forward(self, queries, keys, values):
        for name, x in (("queries", queries), ("keys", keys), ("values", values)):
            check_dtype(np.asarray(x), f"NWKernelRegression {name}", self.w.dtype)
        (f, self.attention_weights), self._cache = F.nadaraya_watson(queries, keys, values, self.w.data)
        return f

    def backward(self, grad_f):
        grad_queries, grad_keys, grad_values, grad_w = F.nadaraya_watson_backward((grad_f, None), self._saved())
        self.w.accumulate(grad_w)
        return grad_queries, grad_keys, grad_values
