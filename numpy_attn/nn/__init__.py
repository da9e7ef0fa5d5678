"""Modules that mirror ``torch.nn``: same constructor arguments, attribute names and state_dict keys,
plus an explicit ``backward``. Modules whose op has a fast twin run it from ``numpy_attn.kernels``; the
maths of each is the textbook function of the same name in ``numpy_attn.functional``.

File names: a topic has the same file name on both sides of the mirror (``functional/lstm.py`` holds
the equations of ``nn/lstm.py``'s modules, ``functional/layer_norm.py`` those of ``nn/layer_norm.py``),
named by what it computes; files with no functional side are named as in ``torch.nn.modules``
(``container.py``, ``module.py``, ``transformer.py``).
"""

from .activation import ReLU, Sigmoid, Tanh
from .additive_attention import AdditiveAttention, BahdanauAttention
from .attention import ScaledDotProductAttention, SelfAttention
from .container import Sequential
from .dropout import Dropout
from .embedding import Embedding
from .grad_mode import is_grad_enabled, no_grad
from .kernel_regression import NWKernelRegression
from .layer_norm import LayerNorm
from .linear import Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .lstm import LSTM, LSTMCell
from .module import Module, Parameter
from .multihead import MultiheadAttention, MultiHeadSelfAttention
from .positional import LearnedPositionalEncoding, PositionalEncoding
from .se import SEGate
from .softmax import Softmax
from .transformer import TransformerEncoderLayer
from . import utils
