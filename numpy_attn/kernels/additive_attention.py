"""The fast twin of attention pooling's scorer for inference: e = w2 . tanh(W1 h + b1) + b2 at every step,
the three layers of ``nn.AdditiveAttention``'s scorer (``functional.linear``, ``functional.tanh``,
``functional.linear``) in one pass over the rows.

Trick, in words: layer by layer, the scorer's (N, A) activations are written by the first product, read and
written by its bias and by the tanh, and read by the second product: four passes over N A numbers (12 MB for
``detect``'s batch of 256 windows of 183 steps), each streamed through memory. Row block by row block
(``rows.py``), a block's product, bias, tanh and scores are done while it is in the cache, and the blocks
are shared out among the cores, the tanh's with the products'. Each score is computed by the same calls as
layer by layer; only the BLAS may group a block's sums differently from the whole array's.

Nothing is kept for a backward: this is the scorer under ``nn.no_grad`` (``predict``, ``detect``), where
the layers' caches are not needed.
"""

import numpy as np

from .._validate import as_float_array, check_last_dim
from .rows import as_rows, for_row_blocks
from .workspace import as_workspace


def additive_scores(h, weight1, bias1, weight2, bias2, workspace=None):
    """e_n = w2 . tanh(W1 h_n + b1) + b2 for every row h_n: the scorer ``Linear(D, A)``, ``Tanh()``,
    ``Linear(A, 1)`` of ``nn.AdditiveAttention``, forward only.

    h: (*, D); weight1: (A, D), bias1: (A,), weight2: (1, A), bias2: (1,), nn.Linear's shapes.
    workspace: a ``Workspace`` to keep the (N, A) activations in from call to call, or None for fresh ones.
    Returns e: (*), one score per row of h.
    """
    h = as_float_array(h, "additive_scores h", min_ndim=1)
    check_last_dim(h, "additive_scores h", weight1.shape[1])
    rows = as_rows(np.ascontiguousarray(h))  # (N, D), the leading dims flattened
    hidden = as_workspace(workspace).empty("hidden", (len(rows), len(weight1)), rows.dtype)  # (N, A)
    e = np.empty(len(rows), rows.dtype)
    w1_t, w2 = weight1.T, weight2[0]

    def block(s):
        a = np.matmul(rows[s], w1_t, out=hidden[s])
        a += bias1  # W1 h + b1
        np.tanh(a, out=a)
        np.matmul(a, w2, out=e[s])  # w2 . tanh(W1 h + b1)
        e[s] += bias2

    for_row_blocks(block, hidden)
    return e.reshape(h.shape[:-1])
