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

An encoder that reads each of C channels on its own returns z: (B, C, T, D), one state per (channel, step)
pair. The pooling then runs over all C T pairs, so the weights say in which channel the evidence lies as
well as when:

    alpha_{c,t} = softmax over (c, t) of e_{c,t},   context = sum_{c,t} alpha_{c,t} z_{c,t}
    alpha_t = sum_c alpha_{c,t}   (B, T): the attention over time that forward returns, still summing to 1

and ``channel_weights`` returns alpha_{c,t} itself (B, C, T).
"""

import numpy as np

from .._validate import as_float_array, as_generator, check_dtype
from ..kernels import parallel
from ..nn import AdditiveAttention, Linear, Module, Sequential, Sigmoid
from ..nn.lstm import as_lengths


def keep_mask(lengths, steps):
    """(B, T) bool, True where t < lengths[b] (the step takes part); None when every step of every series takes
    part (lengths None, or all of them T): a mask would hide nothing, and applying it (the padding set to 0, a
    bias of zeros added to every attention score) would change no number and cost a pass each time."""
    if lengths is None:
        return None
    keep = np.arange(steps) < np.asarray(lengths)[:, None]
    return None if keep.all() else keep


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

    def _input(self, x, lengths):
        """Check x (B, T, C) and lengths; return (x with its padding set to 0, lengths, keep (B, T) or None)."""
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
        return x, lengths, keep

    def _pool(self, z, keep):
        """Attention pooling of z (B, T, D), or of z (B, C, T, D) over its C T (channel, step) pairs ->
        (context (B, D), alpha (B, T) or (B, C, T))."""
        if z.ndim == 3:
            return self.attention(z, keep)
        B, C, T, D = z.shape
        context, alpha = self.attention(z.reshape(B, C * T, D), None if keep is None else np.tile(keep, (1, C)))
        return context, alpha.reshape(B, C, T)

    @parallel.own_cores()  # large products (the scorer's Linear(D, 64) over B*T rows) on this package's threads
    def forward(self, x, lengths=None):
        x, lengths, keep = self._input(x, lengths)
        z = self.encode(x, lengths)                                  # (B, T, D) or (B, C, T, D)
        context, alpha = self._pool(z, keep)                         # (B, D), (B, T) or (B, C, T)
        out = self.classifier(context)                               # (B, 1) or (B, K)
        self._cache = keep, alpha.shape
        alpha = alpha if alpha.ndim == 2 else alpha.sum(axis=1)      # alpha_t = sum_c alpha_{c,t}
        return (out[:, 0] if self.num_classes is None else out), alpha

    @parallel.own_cores()
    def channel_weights(self, x, lengths=None):
        """The pooling weights alpha_{c,t} (B, C, T) of an encoder that reads each channel on its own; for one
        that reads the channels together, alpha (B, T) as (B, 1, T). Runs a forward (its cache replaced)."""
        x, lengths, keep = self._input(x, lengths)
        alpha = self._pool(self.encode(x, lengths), keep)[1]
        return alpha if alpha.ndim == 3 else alpha[:, None]

    @parallel.own_cores()
    def backward(self, grad_out, grad_alpha=None):
        keep, alpha_shape = self._cache  # keep: None without lengths
        grad_out = np.asarray(grad_out, dtype=self.dtype)
        grad_context = self.classifier.backward(grad_out[:, None] if self.num_classes is None else grad_out)
        if grad_alpha is not None and len(alpha_shape) == 3:      # alpha_t = sum_c alpha_{c,t}: copied to each c
            grad_alpha = np.broadcast_to(np.asarray(grad_alpha)[:, None], alpha_shape).reshape(alpha_shape[0], -1)
        grad_z = self.attention.backward(grad_context, grad_alpha)  # (B, T, D), or (B, C T, D) for channels
        grad_x = self.encode_backward(grad_z.reshape(alpha_shape + grad_z.shape[-1:]))
        return grad_x if keep is None else grad_x * keep[..., None]  # x -> where(keep, x, 0)

    @property
    def dtype(self):
        return self.classifier[0].weight.dtype
