"""Inverted dropout: zero each element with probability p and scale the survivors by 1 / (1 - p)."""

import numpy as np

from .._validate import as_float_array, as_generator, check_probability


def dropout(x, p=0.5, training=True, rng=None):
    """y = x * mask / (1 - p), mask_i ~ Bernoulli(1 - p) drawn from ``rng`` (a Generator or a seed).

    In eval mode or with p = 0 it is the identity; with p = 1 every element is zeroed.
    x: any shape. Returns y and the cache (the scaled mask, or None for the identity).
    """
    x = as_float_array(x, "dropout input")
    check_probability(p, "dropout p")
    if not training or p == 0.0:
        return x, None
    mask = dropout_mask(x.shape, p, x.dtype, rng)
    return x * mask, mask


def dropout_mask(shape, p, dtype, rng=None):
    """The scaled mask of ``dropout``: 1 / (1 - p) where kept (probability 1 - p), 0 where dropped.

    shape: the shape of the input; p: the drop probability (checked by the caller); rng: a Generator or a seed.
    """
    keep = as_generator(rng).random(shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return keep.astype(dtype) * np.dtype(dtype).type(scale)


def dropout_backward(grad_out, cache):
    mask = cache
    return grad_out if mask is None else grad_out * mask  # dy/dx = mask / (1 - p), the same mask as forward
