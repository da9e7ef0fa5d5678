"""Additive attention modules: attention pooling over time (seed 001) and Bahdanau's query-key form (D2L).

The maths is in ``numpy_attn.functional.additive_attention``; these modules own the parameters under
PyTorch's names, so a PyTorch ``state_dict`` loads as it is.
"""

import numpy as np

from .. import functional as F
from .. import kernels as K
from .._validate import as_float_array, as_generator, check_dtype, check_last_dim
from ..kernels.workspace import Workspace
from .activation import Tanh
from .container import Sequential
from .dropout import Dropout
from .grad_mode import is_grad_enabled
from .linear import Linear
from .module import Module


class AdditiveAttention(Sequential):
    """Attention pooling of a sequence h: (B, T, D) into one vector (B, D):

        e_t = w2 . tanh(W1 h_t + b1) + b2,   alpha = softmax_t(e),   context = sum_t alpha_t h_t

    The module is its scorer, ``Sequential(Linear(input_dim, attn_dim), Tanh(), Linear(attn_dim, 1))``, so a
    classifier that names it ``attention`` has the seed's PyTorch keys ``attention.0.weight``,
    ``attention.0.bias``, ``attention.2.weight``, ``attention.2.bias``.

    forward(h: (B, T, D), mask: (B, T) bool or None, True = takes part) -> (context (B, D), alpha (B, T));
    a row with nothing kept gives context 0 and alpha 0.
    backward(grad_context (B, D), grad_alpha (B, T) or None) -> grad_h (B, T, D), both paths to h summed.
    """

    def __init__(self, input_dim, attn_dim=64, dtype=np.float32, rng=None):
        rng = as_generator(rng)
        super().__init__(Linear(input_dim, attn_dim, dtype=dtype, rng=rng), Tanh(),
                         Linear(attn_dim, 1, dtype=dtype, rng=rng))
        self.input_dim, self.attn_dim = input_dim, attn_dim
        self._workspace = Workspace()  # the scorer's activations under no_grad, kept from call to call

    def forward(self, h, mask=None):
        h = as_float_array(h, "AdditiveAttention h", ndim=3)
        if is_grad_enabled():
            e = super().forward(h)[..., 0]  # one score per step                          (B, T)
            (context, alpha), self._cache = F.attention_pool(h, e, mask)
            return context, alpha
        # No backward follows: the scorer's three layers in one pass over the rows, nothing kept.
        check_dtype(h, "AdditiveAttention h", self[0].weight.dtype)
        check_last_dim(h, "AdditiveAttention h", self.input_dim)
        first, last = self[0], self[2]
        e = K.additive_scores(h, first.weight.data, first.bias.data, last.weight.data, last.bias.data,
                              workspace=self._workspace)
        self._cache = None  # a backward now refuses, as after any forward under no_grad
        return F.attention_pool(h, e, mask)[0]

    def backward(self, grad_context, grad_alpha=None):
        grad_h, grad_e = F.attention_pool_backward((grad_context, grad_alpha), self._saved())
        return grad_h + super().backward(grad_e[..., None])  # h feeds the pooling and the scorer

    def extra_repr(self):
        return f"input_dim={self.input_dim}, attn_dim={self.attn_dim}"


class BahdanauAttention(Module):
    """Additive attention of queries against keys (D2L's ``AdditiveAttention``; Bahdanau et al. 2015):

        score(q, k) = w_v . tanh(W_q q + W_k k),   weights = softmax over the valid keys,
        output = dropout(weights) @ values

    W_q: Linear(query_size, num_hiddens), W_k: Linear(key_size, num_hiddens), w_v: Linear(num_hiddens, 1),
    all bias-free as in D2L (keys ``W_q.weight``, ``W_k.weight``, ``w_v.weight``).
    forward(queries (B, Lq, Dq), keys (B, Lk, Dk), values (B, Lk, Dv), valid_lens None, (B,) or (B, Lq))
    -> output (B, Lq, Dv); the weights (B, Lq, Lk), before dropout, are kept in ``attention_weights``.
    A query with valid_len 0 gets zero weights and a zero output (D2L: uniform weights).
    backward(grad_output (B, Lq, Dv)) -> (grad_queries, grad_keys, grad_values).
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout=0.0, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        # Linear children for PyTorch's names and init; forward hands their weights to the functional
        # pair, which needs all three at once (the tanh mixes every query with every key)
        self.W_k = Linear(key_size, num_hiddens, bias=False, dtype=dtype, rng=rng)
        self.W_q = Linear(query_size, num_hiddens, bias=False, dtype=dtype, rng=rng)
        self.w_v = Linear(num_hiddens, 1, bias=False, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.attention_weights = None

    def forward(self, queries, keys, values, valid_lens=None):
        dtype = self.w_v.weight.dtype
        for name, x in (("queries", queries), ("keys", keys), ("values", values)):
            check_dtype(np.asarray(x), f"BahdanauAttention {name}", dtype)
        (output, self.attention_weights), self._cache = F.bahdanau_attention(
            queries, keys, values, self.W_q.weight.data, self.W_k.weight.data, self.w_v.weight.data,
            valid_lens, self.dropout.p, self.training, self.dropout.rng)
        return output

    def backward(self, grad_output):
        grads = F.bahdanau_attention_backward((grad_output, None), self._saved())
        grad_queries, grad_keys, grad_values, grad_w_q, grad_w_k, grad_w_v = grads
        self.W_q.weight.accumulate(grad_w_q)
        self.W_k.weight.accumulate(grad_w_k)
        self.w_v.weight.accumulate(grad_w_v)
        return grad_queries, grad_keys, grad_values
