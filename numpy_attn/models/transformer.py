"""A small Transformer encoder classifier (seed 001's suggested upgrade; seed 004's positional encoding).

    z0 = x W_in^T + b_in + PE               (B, T, d_model)  PE(pos, 2i) = sin(pos / 10000^(2i/d)), ...
    z_l = EncoderLayer_l(z_{l-1})           pre-LayerNorm: z + MHA(LN(z)), then z + FF(LN(z))
    z = LayerNorm(z_L); alpha, context = attention pooling of z; prob = sigmoid(w . context + b)

The layers are ``numpy_attn.nn.TransformerEncoderLayer(norm_first=True)``, keyed like
``torch.nn.TransformerEncoderLayer`` (``layers.0.self_attn.in_proj_weight``, ``layers.0.linear1.weight``, ...).
"""

import numpy as np

from .._validate import as_generator
from ..nn import LayerNorm, Linear, PositionalEncoding, Sequential, TransformerEncoderLayer
from .pooled import PooledClassifier


class TransformerClassifier(PooledClassifier):
    def __init__(self, input_dim=1, d_model=64, nhead=4, num_layers=2, dim_feedforward=128, max_len=5000,
                 dtype=np.float32, rng=None):
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
        self._build_head(d_model, dtype, rng)

    def encode(self, x):
        return self.norm(self.layers(self.pos_encoding(self.input_proj(x))))

    def head_weights(self, x):
        """Each head's self-attention weights in the first layer: x (B, T, C) -> (B, heads, T, T)."""
        first = self.layers[0]
        a = first.norm1(self.pos_encoding(self.input_proj(x)))
        return first.self_attn(a, a, a, need_weights=True, average_attn_weights=False)[1]

    def encode_backward(self, grad_z):
        grad = self.layers.backward(self.norm.backward(grad_z))
        return self.input_proj.backward(self.pos_encoding.backward(grad))
