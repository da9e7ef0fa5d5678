"""Modules that mirror ``torch.nn``: same constructor arguments, attribute names and state_dict keys,
plus an explicit ``backward``."""

from .activation import ReLU, Sigmoid, Softmax, Tanh
from .additive_attention import AdditiveAttention, BahdanauAttention
from .container import Sequential
from .dropout import Dropout
from .kernel_regression import NWKernelRegression
from .linear import Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import Module, Parameter
from .normalization import LayerNorm
from .positional import LearnedPositionalEncoding, PositionalEncoding
from .se import SEGate
from .sparse import Embedding
