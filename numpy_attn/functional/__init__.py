"""The textbook: every op and its backward in plain NumPy, ``op(...) -> (out, cache)`` and
``op_backward(grad_out, cache)``, written to be read.

Each topic lives in its own file with the forward and its backward side by side; each docstring gives the
equation and the shape of every array. The fast twins of linear, softmax, layer_norm, attention,
multi-head attention and the LSTM are in ``numpy_attn.kernels``; nothing here imports them.
"""

from .activation import relu, relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward
from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from .additive_attention import (attention_pool, attention_pool_backward, bahdanau_attention,
                                 bahdanau_attention_backward)
from .dropout import dropout, dropout_backward
from .embedding import embedding, embedding_backward
from .layer_norm import layer_norm, layer_norm_backward
from .kernel_regression import nadaraya_watson, nadaraya_watson_backward
from .linear import linear, linear_backward
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy,
    cross_entropy_backward,
    mse_loss,
    mse_loss_backward,
)
from .lstm import lstm, lstm_backward, lstm_cell, lstm_cell_backward
from .masks import attention_bias, merge_masks
from .multihead import (in_projection, in_projection_backward, merge_heads, multi_head_attention,
                        multi_head_attention_backward, split_heads)
from .positional import add_positional_encoding, add_positional_encoding_backward, sinusoidal_encoding
from .softmax import log_softmax, log_softmax_backward, masked_softmax, softmax, softmax_backward
