"""The fast twin of ``numpy_attn.functional.activation``'s tanh: the same values, the same maths.

Trick, in words: NumPy's float32 ``tanh`` is one of its slower ufuncs (docs/performance.md), run over the
attention scorer's (B, T, 64) activations at every step, and its backward is three passes. Both run block by block
over rows (``rows.py``), the blocks shared out among the cores; each value is computed by the same calls,
in the same order, as in the textbook, so the results are equal to the last bit.
"""

import numpy as np

from .._validate import as_float_array
from .rows import as_rows, for_row_blocks


def tanh(x):
    """``functional.tanh``: t = tanh(x). x: any shape. Returns t and the cache (t itself)."""
    x = np.ascontiguousarray(as_float_array(x, "tanh input"))
    out = np.empty(x.shape, x.dtype)
    rows, out_rows = as_rows(x), as_rows(out)  # views: both are C-ordered
    for_row_blocks(lambda s: np.tanh(rows[s], out=out_rows[s]), rows)
    return out, out


def tanh_backward(grad_out, cache):
    """``functional.tanh_backward``: dx = grad_out * (1 - t^2)."""
    t = cache
    grad_out = np.ascontiguousarray(grad_out)
    if grad_out.shape != t.shape:
        raise ValueError(f"tanh grad_out: expected shape {t.shape} (the output's), got {grad_out.shape}")
    dx = np.empty(t.shape, np.result_type(grad_out, t))
    t_rows, g_rows, dx_rows = as_rows(t), as_rows(grad_out), as_rows(dx)

    def block(s):
        d = np.multiply(t_rows[s], t_rows[s], out=dx_rows[s])
        np.subtract(1.0, d, out=d)  # dt/dx = 1 - t^2
        np.multiply(g_rows[s], d, out=d)

    for_row_blocks(block, t_rows)
    return dx
