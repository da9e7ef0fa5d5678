"""Per-series z-normalisation of padded series, the UCR / UEA archives' convention."""

import numpy as np

from .._validate import as_float_array
from .series import check_lengths


def znormalize(X, lengths):
    """Z-normalise each series and channel over its own valid steps: x' = (x - mean) / std.

    X: (N, T, C) float; lengths: (N,) integers in [1, T]. Returns (N, T, C) in X's dtype.
    For series n and channel c, mean and std (population, ddof=0) run over the steps t < lengths[n], so every
    series lands on the same scale and a classifier sees its shape, not its level or amplitude. The padding
    steps t >= lengths[n] stay 0, and a channel that is constant over its valid steps (any series of length 1)
    becomes 0 rather than NaN.

    The other common choice, one mean and scale per channel fitted on the training split and applied to every
    split, is ``fit_scaler`` in ``numpy_attn/tasks/preprocessing.py``.
    """
    X = as_float_array(X, "znormalize X", ndim=3)
    lengths = np.asarray(lengths)
    check_lengths(lengths, "znormalize lengths", X.shape)
    x = X.astype(np.float64)
    valid = (np.arange(X.shape[1]) < lengths[:, None])[:, :, None]  # (N, T, 1)
    count = lengths[:, None, None]  # (N, 1, 1)
    mean = np.where(valid, x, 0.0).sum(axis=1, keepdims=True) / count  # (N, 1, C)
    centred = np.where(valid, x - mean, 0.0)  # (N, T, C), 0 on padding
    std = np.sqrt((centred**2).sum(axis=1, keepdims=True) / count)  # (N, 1, C)
    # constant: max == min, exact (a computed std of equal values can come out a rounding error above 0)
    high = np.max(x, axis=1, keepdims=True, where=valid, initial=-np.inf)
    low = np.min(x, axis=1, keepdims=True, where=valid, initial=np.inf)
    constant = high == low  # (N, 1, C)
    return np.where(constant, 0.0, centred / np.where(constant, 1.0, std)).astype(X.dtype)
