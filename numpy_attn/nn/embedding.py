"""``nn.Embedding``: a lookup table of ``num_embeddings`` rows of size ``embedding_dim``."""

import numpy as np

from .. import functional as F
from . import init
from .module import Module


class Embedding(Module):
    """weight: (num_embeddings, embedding_dim) ~ N(0, 1), the padding row zeroed.

    forward(indices: integer (*)) -> (*, embedding_dim); backward(grad) adds into weight.grad and
    returns None (indices have no gradient).
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32, rng=None):
        super().__init__()
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.weight = init.normal((num_embeddings, embedding_dim), dtype, rng)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices):
        out, self._cache = F.embedding(indices, self.weight.data, self.padding_idx)
        return out

    def backward(self, grad_out):
        self.weight.accumulate(F.embedding_backward(grad_out, self._saved()))
        return None

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
