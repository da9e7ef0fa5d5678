"""Positional encodings as modules: the fixed sinusoidal table (a buffer) and a learned one (a parameter).

Both compute dropout(x + table[:T]), as in PyTorch's Transformer tutorial.
"""

import numpy as np

from .. import functional as F
from .._validate import as_float_array, as_generator, check_dtype
from . import init
from .dropout import Dropout
from .module import Module


class _AddPositions(Module):
    """forward(x) -> dropout(x + table[:T]); backward(grad) -> grad_x. Subclasses say what the table is
    (``_table()``) and what its gradient does (``_table_grad(grad_table)``)."""

    def __init__(self, dropout, batch_first, rng):
        super().__init__()
        self.batch_first = batch_first
        self.dropout = Dropout(dropout, rng=rng)

    def forward(self, x):
        table = self._table()
        x = as_float_array(x, f"{type(self).__name__} input", ndim=3)
        check_dtype(x, f"{type(self).__name__} input", table.dtype)
        out, self._cache = F.add_positional_encoding(x, table, self.batch_first)
        return self.dropout(out)

    def backward(self, grad_out):
        grad_x, grad_table = F.add_positional_encoding_backward(self.dropout.backward(grad_out), self._saved())
        self._table_grad(grad_table)
        return grad_x


class PositionalEncoding(_AddPositions):
    """Adds the sinusoidal table PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same).

    pe: buffer (max_len, d_model), saved in the state_dict but not trained.
    forward(x: (B, T, d_model) if batch_first else (T, B, d_model)) -> same shape; T > max_len is an error.
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=True, dtype=np.float32, rng=None):
        super().__init__(dropout, batch_first, rng)
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", F.sinusoidal_encoding(max_len, d_model, dtype))

    def _table(self):
        return self.pe

    def _table_grad(self, grad_table):
        pass  # a fixed table: its gradient is not needed

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEncoding(_AddPositions):
    """Adds a trained table: one free vector per position (BERT, GPT-2).

    weight: (max_len, d_model) ~ N(0, 1), nn.Embedding's initialisation (the table is an embedding of
    the position index). Row t gets the gradient summed over the batch; rows >= T get none.
    forward(x: (B, T, d_model) if batch_first else (T, B, d_model)) -> same shape; T > max_len is an error.
    """

    def __init__(self, max_len, d_model, dropout=0.0, batch_first=True, dtype=np.float32, rng=None):
        rng = as_generator(rng)  # one stream for the init and the dropout masks
        super().__init__(dropout, batch_first, rng)
        self.max_len, self.d_model = max_len, d_model
        self.weight = init.normal((max_len, d_model), dtype, rng)

    def _table(self):
        return self.weight.data

    def _table_grad(self, grad_table):
        self.weight.accumulate(grad_table)

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"
