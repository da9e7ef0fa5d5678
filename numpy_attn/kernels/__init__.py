"""The speed wing: the fast twins of eight textbook ops, with the same call signatures plus what speed needs
(a ``workspace=`` to keep arrays from call to call, an ``out=``), and their machinery.

Each kernel computes exactly its textbook twin in ``numpy_attn.functional`` (the tests check them equal,
outputs and every gradient); its docstring describes each trick in words. ``numpy_attn.nn`` runs these.

- ``tanh``, ``linear``, ``softmax``, ``layer_norm``, ``attention`` (scaled dot-product), ``multihead``, ``lstm``,
  and ``additive_attention`` (attention pooling's scorer, for inference);
- the machinery: ``parallel`` (work shared out among threads), ``workspace`` (arrays kept from call to
  call), ``blas`` (the BLAS's thread count), ``rows`` (work block by block over rows).

The measured gain of each trick is in docs/performance.md, with the benchmark command that reproduces it.
"""

from .activation import tanh, tanh_backward
from .additive_attention import additive_scores
from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from .layer_norm import layer_norm, layer_norm_backward
from .linear import linear, linear_backward
from .lstm import lstm, lstm_backward
from .multihead import in_projection, in_projection_backward, multi_head_attention, multi_head_attention_backward
from .softmax import softmax, softmax_backward
