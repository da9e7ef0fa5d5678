"""Modules that mirror ``torch.nn``: same constructor arguments, attribute names and state_dict keys,
plus an explicit ``backward``."""

from .activation import ReLU, Sigmoid, Softmax, Tanh
from .additive_attention import AdditiveAttention, BahdanauAttention
from .attention import MultiheadAttention, MultiHeadSelfAttention, ScaledDotProductAttention, SelfAttention
from .container import Sequential
from .dropout import Dropout
from .kernel_regression import NWKernelRegression
from .linear import Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import Module, Parameter
from .normalization import LayerNorm
from .positional import LearnedPositionalEncoding, PositionalEncoding
from .rnn import LSTM, LSTMCell
from .se import SEGate
from .sparse import Embedding
from .transformer import TransformerEncoderLayer
