"""``nn.TransformerEncoderLayer``: self-attention and a feed-forward block, each with a residual and a
LayerNorm, with PyTorch's attribute names (``self_attn``, ``linear1``, ``linear2``, ``norm1``, ``norm2``).

    norm_first (pre-LN):  x = x + SA(LN1(x));   x = x + FF(LN2(x))
    otherwise (post-LN):  x = LN1(x + SA(x));   x = LN2(x + FF(x))
    SA(x) = dropout1(MHA(x, x, x)),  FF(x) = dropout2(linear2(dropout(relu(linear1(x)))))
"""

import numpy as np

from .._validate import as_generator
from .activation import ReLU
from .multihead import MultiheadAttention, self_attention_grad
from .container import Sequential
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .layer_norm import LayerNorm


class TransformerEncoderLayer(Module):
    """forward(src: (B, T, d_model) if batch_first else (T, B, d_model), src_mask=None,
    src_key_padding_mask=None, is_causal=False) -> same shape; masks as in ``MultiheadAttention``.
    backward(grad) -> grad_src. Only the 'relu' activation (PyTorch's default) is provided."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        if activation != "relu":
            raise ValueError(f"TransformerEncoderLayer activation: only 'relu' is provided, got {activation!r}")
        rng = as_generator(rng)
        self.norm_first = norm_first
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype, rng=rng)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=rng)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        self.activation = ReLU()
        # The feed-forward block as one chain (it holds no new parameters, only references), so its
        # backward is the chain's; registered under a private name it adds no state_dict keys.
        object.__setattr__(self, "_ff", Sequential(self.linear1, self.activation, self.dropout, self.linear2,
                                                   self.dropout2))

    def _sa(self, x, src_mask, src_key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=src_key_padding_mask, attn_mask=src_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _sa_backward(self, grad):
        return self_attention_grad(self.self_attn.backward(self.dropout1.backward(grad)))  # x: query, key, value

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        masks = (src_mask, src_key_padding_mask, is_causal)
        if self.norm_first:
            x = src + self._sa(self.norm1(src), *masks)
            return x + self._ff(self.norm2(x))
        x = self.norm1(src + self._sa(src, *masks))
        return self.norm2(x + self._ff(x))

    def backward(self, grad):
        if self.norm_first:
            grad_x = grad + self.norm2.backward(self._ff.backward(grad))  # out = x + FF(LN2(x))
            return grad_x + self.norm1.backward(self._sa_backward(grad_x))  # x = src + SA(LN1(src))
        grad_x = self.norm2.backward(grad)  # out = LN2(x + FF(x))
        grad_x = grad_x + self._ff.backward(grad_x)
        grad_src = self.norm1.backward(grad_x)  # x = LN1(src + SA(src))
        return grad_src + self._sa_backward(grad_src)
