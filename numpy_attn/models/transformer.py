"""A small Transformer encoder classifier (seed 001's suggested upgrade; seed 004's positional encoding).

    z0 = x W_in^T + b_in + PE               (B, T, d_model)  PE(pos, 2i) = sin(pos / 10000^(2i/d)), ...
    z_l = EncoderLayer_l(z_{l-1})           pre-LayerNorm: z + MHA(LN(z)), then z + FF(LN(z))
    z = LayerNorm(z_L); alpha, context = attention pooling of z; prob = sigmoid(w . context + b), or K logits

With lengths, every layer hides the padded keys (``src_key_padding_mask``): a padded step still gets an
output of its own, but no real step attends to it and the pooling leaves it out.

The layers are ``numpy_attn.nn.TransformerEncoderLayer(norm_first=True)``, keyed like
``torch.nn.TransformerEncoderLayer`` (``layers.0.self_attn.in_proj_weight``, ``layers.0.linear1.weight``, ...).
"""

import numpy as np

from .._validate import as_generator
from ..nn import LayerNorm, Linear, PositionalEncoding, Sequential, TransformerEncoderLayer
from .pooled import PooledClassifier, keep_mask


class TransformerClassifier(PooledClassifier):
    def __init__(self, input_dim=1, d_model=64, nhead=4, num_layers=2, dim_feedforward=128, max_len=5000,
                 num_classes=None, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.input_dim = input_dim
        self.input_proj = Linear(input_dim, d_model, dtype=dtype, rng=rng)
        self.pos_encoding = PositionalEncoding(d_model, max_len=max_len, dtype=dtype)
        self.layers = Sequential(*[
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True,
                                    norm_first=True, dtype=dtype, rng=rng)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, dtype=dtype)
        self._build_head(d_model, num_classes, dtype, rng)

    def encode(self, x, lengths=None):
        keep = keep_mask(lengths, x.shape[1])
        z = self.pos_encoding(self.input_proj(x))
        for layer in self.layers:
            z = layer(z, src_key_padding_mask=None if keep is None else ~keep)
        return self.norm(z)

    def head_weights(self, x, lengths=None):
        """Each head's self-attention weights in the first layer: x (B, T, C) -> (B, heads, T, T)."""
        keep = keep_mask(lengths, x.shape[1])
        first = self.layers[0]
        a = first.norm1(self.pos_encoding(self.input_proj(x)))
        return first.self_attn(a, a, a, key_padding_mask=None if keep is None else ~keep, need_weights=True,
                               average_attn_weights=False)[1]

    def encode_backward(self, grad_z):
        grad = self.layers.backward(self.norm.backward(grad_z))  # each layer's backward, last to first
        return self.input_proj.backward(self.pos_encoding.backward(grad))
