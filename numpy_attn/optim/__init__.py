"""Optimizers with PyTorch's exact update rules, so NumPy and PyTorch runs follow the same trajectory."""

from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD
