"""Seed 001's classifier: a BiLSTM reads the series, additive attention pools it, a logistic unit decides.

    h = BiLSTM(x)                           (B, T, 2H)
    alpha = softmax_t(w2 . tanh(W1 h_t + b1) + b2),  context = sum_t alpha_t h_t
    prob = sigmoid(w . context + b)         (B,)      or, with num_classes=K, logits = W context + b  (B, K)

With lengths, the BiLSTM reads each series as a packed sequence (``nn.LSTM``'s lengths) and the pooling
keeps its own steps (``pooled.py``).

Channel by channel (``channels=C > 1``): the input holds F features of each of C channels, feature-major,
x[..., f C + c] (the layout of ``anomaly.series_features``: [x_0 .. x_{C-1}, dx_0 .. dx_{C-1}], F = 2). One
BiLSTM, its weights shared, reads each channel's F features as a series of its own, and the pooling runs
over every (channel, step) pair (``pooled.py``):

    u_c = x[..., c::C]                      (B, T, F)    channel c's features
    h_c = BiLSTM(u_c)                       (B, T, 2H)   the same LSTM for every c: (B C, T, F) in one call
    alpha_{c,t} = softmax over (c, t),  context = sum_{c,t} alpha_{c,t} h_{c,t}

so a channel's anomaly reads as it does in a one-channel series, whatever the other channels do, and
``channel_weights`` tells in which channel the model found it. With C = 1 this is the model above.

state_dict keys are exactly those of the seed's PyTorch ``AttentionModel`` (``lstm.weight_ih_l0``, ...,
``attention.0.weight``, ``attention.2.weight``, ``classifier.0.weight``), so its checkpoints load as they are.
"""

import numpy as np

from .._validate import as_generator, as_int
from ..nn import LSTM
from .pooled import PooledClassifier


class BiLSTMAttentionClassifier(PooledClassifier):
    def __init__(self, input_dim=1, hidden_dim=32, num_classes=None, channels=1, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.channels = as_int(channels, "channels", 1)
        if input_dim % self.channels:
            raise ValueError(f"channels: input_dim {input_dim} is not a whole number of features for each of "
                             f"{self.channels} channels")
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.lstm = LSTM(input_dim // self.channels, hidden_dim, batch_first=True, bidirectional=True, dtype=dtype,
                         rng=rng)
        self._build_head(2 * hidden_dim, num_classes, dtype, rng)

    def encode(self, x, lengths=None):
        """(B, T, F C) -> h (B, T, 2H), or (B, C, T, 2H) channel by channel."""
        C = self.channels
        if C == 1:
            return self.lstm(x, lengths=lengths)[0]
        B, T, FC = x.shape
        u = x.reshape(B, T, FC // C, C).transpose(0, 3, 1, 2).reshape(B * C, T, FC // C)  # row b C + c: u_c of b
        h = self.lstm(u, lengths=None if lengths is None else np.repeat(lengths, C))[0]    # (B C, T, 2H)
        return h.reshape(B, C, T, -1)

    def encode_backward(self, grad_h):
        if self.channels == 1:
            return self.lstm.backward(grad_h)[0]
        B, C, T, D = grad_h.shape
        grad_u = self.lstm.backward(grad_h.reshape(B * C, T, D))[0]                          # (B C, T, F)
        return grad_u.reshape(B, C, T, -1).transpose(0, 2, 3, 1).reshape(B, T, -1)           # back to x[..., f C + c]
