"""Single-head attention modules, each returning its output and its attention weights.

- ``ScaledDotProductAttention``: ``functional.scaled_dot_product_attention`` as a module (dropout
  follows train/eval).
- ``SelfAttention``: Q, K, V projections of one input, single head, dim_q may differ from dim_v.

The multi-head modules are in ``multihead.py``.

Backward: each ``backward`` takes the gradient of the output only (the returned weights are for
reading and plotting; no gradient flows back through them).
"""

import numpy as np

from .. import kernels as K
from .._validate import as_generator, as_module_input, check_probability
from .linear import Linear
from .module import Module


class ScaledDotProductAttention(Module):
    """forward(q: (..., L, E), k: (..., S, E), v: (..., S, Ev), attn_mask=None, is_causal=False)
    -> (out: (..., L, Ev), weights: (..., L, S)).

    SDPA's mask convention (bool True = takes part; float added). ``weights`` are the ones that mixed
    the values: softmax A, times the dropout mask in training. backward(grad_out) -> (dq, dk, dv).
    """

    def __init__(self, dropout_p=0.0, scale=None, rng=None):
        super().__init__()
        check_probability(dropout_p, "ScaledDotProductAttention dropout_p")
        self.dropout_p, self.scale, self.rng = dropout_p, scale, as_generator(rng)

    def forward(self, q, k, v, attn_mask=None, is_causal=False):
        p = self.dropout_p if self.training else 0.0
        out, self._cache = K.scaled_dot_product_attention(q, k, v, attn_mask, p, is_causal, self.scale, self.rng)
        return out, used_weights(self._cache)

    def backward(self, grad_out):
        return K.scaled_dot_product_attention_backward(grad_out, self._saved())

    def extra_repr(self):
        return f"dropout_p={self.dropout_p}, scale={self.scale}"


class SelfAttention(Module):
    """Seed 000: Q = x W_Q^T + b_Q, K = x W_K^T + b_K, V = x W_V^T + b_V; out = softmax(Q K^T / sqrt(dim_q)) V.

    Parameters Q, K: Linear(input_dim, dim_q), V: Linear(input_dim, dim_v) (the seed's names).
    forward(x: (B, T, input_dim), attn_mask=None, is_causal=False) -> (out: (B, T, dim_v), weights: (B, T, T)),
    masks in SDPA's convention. backward(grad_out) -> dx: (B, T, input_dim).
    """

    def __init__(self, input_dim, dim_q, dim_v, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.dim_q, self.dim_k, self.dim_v = dim_q, dim_q, dim_v
        self.Q = Linear(input_dim, dim_q, dtype=dtype, rng=rng)
        self.K = Linear(input_dim, dim_q, dtype=dtype, rng=rng)
        self.V = Linear(input_dim, dim_v, dtype=dtype, rng=rng)

    def forward(self, x, attn_mask=None, is_causal=False):
        x = as_module_input(x, "SelfAttention input", 3, self.Q.in_features, self.Q.weight.dtype)
        out, self._cache = K.scaled_dot_product_attention(self.Q(x), self.K(x), self.V(x), attn_mask,
                                                          is_causal=is_causal)
        return out, self._cache.weights

    def backward(self, grad_out):
        dq, dk, dv = K.scaled_dot_product_attention_backward(grad_out, self._saved())
        return self.Q.backward(dq) + self.K.backward(dk) + self.V.backward(dv)  # x feeds all three: grads add


def used_weights(cache):
    """The weights that mixed the values: A, or A * dropout mask in training."""
    return cache.weights if cache.dropout_mask is None else cache.weights * cache.dropout_mask
