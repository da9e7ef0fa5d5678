"""Positional encodings: a table with one row per position, added to the inputs so that attention,
which is blind to order, can tell step t from step t'.

The sinusoidal table (Vaswani et al. 2017, seed 004) is fixed; a learned table is a parameter. Both are
added the same way, by ``add_positional_encoding``, whose backward also gives the table's gradient.
"""

import numpy as np

from .._validate import as_float_array, check_last_dim


def sinusoidal_encoding(max_len, d_model, dtype=np.float64):
    """The fixed table PE: (max_len, d_model),

        PE(pos, 2i) = sin(pos / 10000^(2i / d_model)),   PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model)).

    Each pair of columns is one frequency, from 1 (period 2 pi) down to 1/10000. An odd d_model has
    ceil(d/2) sine columns and floor(d/2) cosine ones: the last frequency has no cosine partner.
    """
    if max_len < 1 or d_model < 1:
        raise ValueError(f"sinusoidal_encoding: expected max_len >= 1 and d_model >= 1, got {max_len}, {d_model}")
    pos = np.arange(max_len, dtype=np.float64)[:, None]  #                       (max_len, 1)
    freq = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)  # 1 / 10000^(2i/d)  (ceil(d/2),)
    angle = pos * freq  #                                                         (max_len, ceil(d/2))
    pe = np.empty((max_len, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe.astype(dtype)


def add_positional_encoding(x, table, batch_first=True):
    """y[b, t] = x[b, t] + table[t]: the first T rows of the table, one per step.

    x: (B, T, d) when batch_first, else (T, B, d); table: (max_len, d) with T <= max_len.
    Returns y (shape of x) and the cache.
    """
    x = as_float_array(x, "positional encoding input", ndim=3)
    check_last_dim(x, "positional encoding input", table.shape[1])
    time_axis = 1 if batch_first else 0
    steps = x.shape[time_axis]
    if steps > table.shape[0]:
        raise ValueError(f"positional encoding input: sequence length {steps} (axis {time_axis} of shape "
                         f"{x.shape}) exceeds max_len {table.shape[0]}; build the encoding with a larger max_len")
    rows = table[:steps] if batch_first else table[:steps, None, :]  # broadcast over the batch axis
    return x + rows, (table.shape, table.dtype, batch_first)


def add_positional_encoding_backward(grad_out, cache):
    """grad_out: shape of y -> (grad_x = grad_out, grad_table (max_len, d)).

    Row t of the table was added to every sequence at step t, so it collects the sum over the batch;
    rows at or beyond T were not used and get 0.
    """
    shape, dtype, batch_first = cache
    grad_table = np.zeros(shape, dtype=dtype)
    per_step = grad_out.sum(axis=0 if batch_first else 1)  # y = x + table[t]: sum over the batch  (T, d)
    grad_table[: per_step.shape[0]] = per_step
    return grad_out, grad_table  # dy/dx = 1
