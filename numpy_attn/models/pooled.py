"""The head every classifier shares: additive attention pooling over time, then a linear classifier.

    e_t = w2 . tanh(W1 z_t + b1) + b2       self.attention = nn.AdditiveAttention(D, 64)
    alpha = softmax_t(e) over the series' own steps,  context = sum_t alpha_t z_t
    binary (num_classes None):  prob = sigmoid(w . context + b)   self.classifier = Sequential(Linear(D, 1), Sigmoid())
    K classes:                  logits = W context + b  (K,)      self.classifier = Sequential(Linear(D, K))

The names are seed 001's (``attention.0.weight``, ``classifier.0.weight``), so its PyTorch checkpoints load.
The K-class head gives logits, for ``CrossEntropyLoss`` (softmax and log in one stable step); two classes
may use either head: num_classes=None (the anomaly task's) or 2.

Variable length: a batch holds series of different lengths padded to the longest, ``lengths`` (B,) giving
each one's number of steps. The padded steps of x are set to 0 first (so no value there, however large,
reaches an operation), the encoder is told the lengths (the BiLSTM reads each series as a packed sequence,
self-attention hides the padded keys), and the pooling keeps only t < length: the outputs, the attention
and every gradient are those of the series alone.

A subclass supplies the encoder: ``encode(x, lengths) -> z: (B, T, D)`` and ``encode_backward(grad_z) -> grad_x``.
"""

import numpy as np

from .._validate import as_float_array, as_generator, check_dtype
from ..kernels import parallel
from ..nn import AdditiveAttention, Linear, Module, Sequential, Sigmoid
from ..nn.lstm import as_lengths


def keep_mask(lengths, steps):
    """(B, T) bool, True where t < lengths[b] (the step takes part); None for None (every step does)."""
    return None if lengths is None else np.arange(steps) < np.asarray(lengths)[:, None]


class PooledClassifier(Module):
    """forward(x: (B, T, C), lengths: (B,) ints in [1, T] or None) -> (out, alpha: (B, T), 0 at padded steps),
    out = P(class 1) (B,) with the binary head, logits (B, K) with K classes.
    backward(grad_out (shape of out), grad_alpha=None) -> grad_x (B, T, C), 0 at padded steps."""

    def _build_head(self, d, num_classes, dtype, rng):
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                        or num_classes < 2):
            raise ValueError(f"num_classes: expected None (a binary sigmoid head) or an integer >= 2, "
                             f"got {num_classes!r}")
        rng = as_generator(rng)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.attention = AdditiveAttention(d, 64, dtype=dtype, rng=rng)
        if num_classes is None:
            self.classifier = Sequential(Linear(d, 1, dtype=dtype, rng=rng), Sigmoid())
        else:
            self.classifier = Sequential(Linear(d, self.num_classes, dtype=dtype, rng=rng))

    @parallel.own_cores()  # large products (the scorer's Linear(D, 64) over B*T rows) on this package's threads
    def forward(self, x, lengths=None):
        who = type(self).__name__
        x = as_float_array(x, f"{who} input", ndim=3)
        check_dtype(x, f"{who} input", self.dtype)
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"{who} input: expected (B, T, {self.input_dim}), got shape {x.shape}")
        if lengths is not None:
            lengths = as_lengths(lengths, x.shape[0], x.shape[1], f"{who} lengths")
        keep = keep_mask(lengths, x.shape[1])                       # (B, T) or None
        if keep is not None:
            x = np.where(keep[..., None], x, x.dtype.type(0))      # the padding, whatever it held, is 0
        z = self.encode(x, lengths)                                  # (B, T, D)
        context, alpha = self.attention(z, keep)                     # (B, D), (B, T)
        out = self.classifier(context)                               # (B, 1) or (B, K)
        self._cache = keep
        return (out[:, 0] if self.num_classes is None else out), alpha

    @parallel.own_cores()
    def backward(self, grad_out, grad_alpha=None):
        keep = self._cache  # None without lengths
        grad_out = np.asarray(grad_out, dtype=self.dtype)
        grad_context = self.classifier.backward(grad_out[:, None] if self.num_classes is None else grad_out)
        grad_x = self.encode_backward(self.attention.backward(grad_context, grad_alpha))
        return grad_x if keep is None else grad_x * keep[..., None]  # x -> where(keep, x, 0)

    @property
    def dtype(self):
        return self.classifier[0].weight.dtype
