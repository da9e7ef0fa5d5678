"""BiLSTM + multi-head self-attention (seed 001's suggested upgrade), then attention pooling.

    h = BiLSTM(x)                           (B, T, 2H)
    z = LayerNorm(h + MHA(h, h, h))         (B, T, 2H)   the heads let each step look at the whole series
    alpha, context = attention pooling of z; prob = sigmoid(w . context + b)
"""

import numpy as np

from .._validate import as_generator
from ..nn import LSTM, LayerNorm, MultiheadAttention
from ..nn.multihead import self_attention_grad
from .pooled import PooledClassifier


class BiLSTMMHAClassifier(PooledClassifier):
    def __init__(self, input_dim=1, hidden_dim=32, num_heads=4, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        d = 2 * hidden_dim
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.lstm = LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True, dtype=dtype, rng=rng)
        self.mha = MultiheadAttention(d, num_heads, batch_first=True, dtype=dtype, rng=rng)
        self.norm = LayerNorm(d, dtype=dtype)
        self._build_head(d, dtype, rng)

    def encode(self, x):
        h = self.lstm(x)[0]
        a, _ = self.mha(h, h, h, need_weights=False)
        return self.norm(h + a)

    def head_weights(self, x):
        """Each head's self-attention weights for x: (B, T, C) -> (B, heads, T, T), for plotting."""
        h = self.lstm(x)[0]
        return self.mha(h, h, h, need_weights=True, average_attn_weights=False)[1]

    def encode_backward(self, grad_z):
        grad_s = self.norm.backward(grad_z)                          # z = LayerNorm(s), s = h + a
        grad_h = grad_s + self_attention_grad(self.mha.backward(grad_s))  # s = h + MHA(h, h, h): h four ways
        return self.lstm.backward(grad_h)[0]
