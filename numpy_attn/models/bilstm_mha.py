"""BiLSTM + multi-head self-attention (seed 001's suggested upgrade), then attention pooling.

    h = BiLSTM(x)                           (B, T, 2H)
    z = LayerNorm(h + MHA(h, h, h))         (B, T, 2H)   the heads let each step look at the whole series
    alpha, context = attention pooling of z; prob = sigmoid(w . context + b), or K logits

With lengths, the BiLSTM reads each series as a packed sequence and the heads' padded keys are hidden
(``key_padding_mask``), so no step attends to padding; the pooling keeps each series' own steps.
"""

import numpy as np

from .._validate import as_generator
from ..nn import LSTM, LayerNorm, MultiheadAttention
from ..nn.multihead import self_attention_grad
from .pooled import PooledClassifier, keep_mask


class BiLSTMMHAClassifier(PooledClassifier):
    def __init__(self, input_dim=1, hidden_dim=32, num_heads=4, num_classes=None, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        d = 2 * hidden_dim
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.lstm = LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True, dtype=dtype, rng=rng)
        self.mha = MultiheadAttention(d, num_heads, batch_first=True, dtype=dtype, rng=rng)
        self.norm = LayerNorm(d, dtype=dtype)
        self._build_head(d, num_classes, dtype, rng)

    def _attend(self, x, lengths, **weights):
        """(h, MHA(h, h, h)) for h = BiLSTM(x), padded keys hidden."""
        h = self.lstm(x, lengths=lengths)[0]
        keep = keep_mask(lengths, x.shape[1])
        return h, self.mha(h, h, h, key_padding_mask=None if keep is None else ~keep, **weights)

    def encode(self, x, lengths=None):
        h, (a, _) = self._attend(x, lengths, need_weights=False)
        return self.norm(h + a)

    def head_weights(self, x, lengths=None):
        """Each head's self-attention weights for x: (B, T, C) -> (B, heads, T, T), for plotting."""
        return self._attend(x, lengths, need_weights=True, average_attn_weights=False)[1][1]

    def encode_backward(self, grad_z):
        grad_s = self.norm.backward(grad_z)                          # z = LayerNorm(s), s = h + a
        grad_h = grad_s + self_attention_grad(self.mha.backward(grad_s))  # s = h + MHA(h, h, h): h four ways
        return self.lstm.backward(grad_h)[0]
