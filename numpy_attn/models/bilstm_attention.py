"""Seed 001's classifier: a BiLSTM reads the series, additive attention pools it, a logistic unit decides.

    h = BiLSTM(x)                           (B, T, 2H)
    alpha = softmax_t(w2 . tanh(W1 h_t + b1) + b2),  context = sum_t alpha_t h_t
    prob = sigmoid(w . context + b)         (B,)      or, with num_classes=K, logits = W context + b  (B, K)

With lengths, the BiLSTM reads each series as a packed sequence (``nn.LSTM``'s lengths) and the pooling
keeps its own steps (``pooled.py``).

state_dict keys are exactly those of the seed's PyTorch ``AttentionModel`` (``lstm.weight_ih_l0``, ...,
``attention.0.weight``, ``attention.2.weight``, ``classifier.0.weight``), so its checkpoints load as they are.
"""

import numpy as np

from .._validate import as_generator
from ..nn import LSTM
from .pooled import PooledClassifier


class BiLSTMAttentionClassifier(PooledClassifier):
    def __init__(self, input_dim=1, hidden_dim=32, num_classes=None, dtype=np.float32, rng=None):
        super().__init__()
        rng = as_generator(rng)
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.lstm = LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True, dtype=dtype, rng=rng)
        self._build_head(2 * hidden_dim, num_classes, dtype, rng)

    def encode(self, x, lengths=None):
        return self.lstm(x, lengths=lengths)[0]

    def encode_backward(self, grad_h):
        return self.lstm.backward(grad_h)[0]
