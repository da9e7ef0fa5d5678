"""The head every anomaly classifier shares: additive attention pooling over time, then a logistic unit.

    e_t = w2 . tanh(W1 z_t + b1) + b2       self.attention = nn.AdditiveAttention(D, 64)
    alpha = softmax_t(e),  context = sum_t alpha_t z_t
    prob = sigmoid(w . context + b)         self.classifier = Sequential(Linear(D, 1), Sigmoid())

The names are seed 001's (``attention.0.weight``, ``classifier.0.weight``), so its PyTorch checkpoints load.
A subclass supplies the encoder: ``encode(x) -> z: (B, T, D)`` and ``encode_backward(grad_z) -> grad_x``.
"""

import numpy as np

from .._validate import as_float_array, as_generator, check_dtype
from ..kernels import parallel
from ..nn import AdditiveAttention, Linear, Module, Sequential, Sigmoid


class PooledClassifier(Module):
    """forward(x: (B, T, C)) -> (prob: (B,), alpha: (B, T)); backward(grad_prob, grad_alpha=None) -> grad_x."""

    def _build_head(self, d, dtype, rng):
        rng = as_generator(rng)
        self.attention = AdditiveAttention(d, 64, dtype=dtype, rng=rng)
        self.classifier = Sequential(Linear(d, 1, dtype=dtype, rng=rng), Sigmoid())

    @parallel.own_cores()  # large products (the scorer's Linear(D, 64) over B*T rows) on this package's threads
    def forward(self, x):
        x = as_float_array(x, f"{type(self).__name__} input", ndim=3)
        check_dtype(x, f"{type(self).__name__} input", self.dtype)
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"{type(self).__name__} input: expected (B, T, {self.input_dim}), got shape {x.shape}")
        z = self.encode(x)                                           # (B, T, D)
        context, alpha = self.attention(z)                           # (B, D), (B, T)
        prob = self.classifier(context)[:, 0]                        # (B,)
        return prob, alpha

    @parallel.own_cores()
    def backward(self, grad_prob, grad_alpha=None):
        grad_context = self.classifier.backward(np.asarray(grad_prob, dtype=self.dtype)[:, None])
        return self.encode_backward(self.attention.backward(grad_context, grad_alpha))

    @property
    def dtype(self):
        return self.classifier[0].weight.dtype
