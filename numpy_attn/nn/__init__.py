"""Modules that mirror ``torch.nn``: same constructor arguments, attribute names and state_dict keys,
plus an explicit ``backward``."""

from .activation import ReLU, Sigmoid, Softmax, Tanh
from .container import Sequential
from .dropout import Dropout
from .linear import Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import Module, Parameter
from .normalization import LayerNorm
from .sparse import Embedding
