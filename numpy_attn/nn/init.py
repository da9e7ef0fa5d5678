"""Parameter initialisation with PyTorch's rules, drawn from a seedable ``numpy.random.Generator``."""

import math

import numpy as np

from .._validate import as_generator
from .module import Parameter


def uniform(shape, bound, dtype, rng):
    """A Parameter drawn from U(-bound, bound): PyTorch's rule for Linear (bound = 1/sqrt(fan_in)),
    LSTM (bound = 1/sqrt(hidden_size)) and their biases."""
    return Parameter(as_generator(rng).uniform(-bound, bound, size=shape).astype(dtype))


def xavier_uniform(shape, dtype, rng):
    """``torch.nn.init.xavier_uniform_``: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), (fan_out, fan_in) = shape."""
    return uniform(shape, math.sqrt(6.0 / (shape[0] + shape[1])), dtype, rng)


def normal(shape, dtype, rng):
    """A Parameter drawn from N(0, 1): PyTorch's rule for Embedding."""
    return Parameter(as_generator(rng).standard_normal(size=shape).astype(dtype))


def constant(shape, value, dtype):
    return Parameter(np.full(shape, value, dtype=dtype))
