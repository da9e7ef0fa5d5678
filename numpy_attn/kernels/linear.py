"""The fast twin of ``numpy_attn.functional.linear``: y = x W^T + b and its backward, the same sums.

Tricks, in words:
- the leading dims are flattened into rows, so the product is one 2-D BLAS call instead of a loop of
  smaller batched ones;
- inside ``parallel.own_cores`` a large product is cut into one block per thread (``parallel.matmul``),
  and the backward's products are handed out as whole products (``parallel.matmuls``), those of several
  layers together (``linear_backwards``);
- with one output feature, dL/dx = g W is an outer product, which broadcasting computes without a
  matrix product of inner size 1;
- the bias gradient sum_n g_n is the BLAS product 1^T g, which sums in blocks instead of row by row.
"""

import numpy as np

from .._validate import as_float_array, check_last_dim
from .parallel import matmul, matmuls


def linear(x, weight, bias=None, out=None):
    """``functional.linear``: y = x W^T + b. x: (*, in), weight: (out, in), bias: (out,) or None.

    out: None, or a C-contiguous array of y's shape and dtype to write y into (from a ``Workspace``).
    Returns y: (*, out) and the cache for ``linear_backward``.
    """
    x = as_float_array(x, "linear input", min_ndim=1)
    check_last_dim(x, "linear input", weight.shape[1])
    # Leading dims are a batch of rows: one 2-D product over all of them, a single BLAS call.
    x2 = x.reshape(-1, weight.shape[1])
    y2 = matmul(x2, weight.T, out=None if out is None else out.reshape(len(x2), weight.shape[0]))
    if bias is not None:
        y2 += bias
    return y2.reshape(x.shape[:-1] + (weight.shape[0],)), (x2, weight, bias is not None)


def linear_backward(grad_out, cache):
    """``functional.linear_backward``: grad_out (*, out) -> (grad_x (*, in), grad_weight (out, in),
    grad_bias (out,) or None)."""
    return linear_backwards([grad_out], [cache])[0]


def linear_backwards(grads_out, caches):
    """``linear_backward`` of several layers at once: [(grad_x, grad_weight, grad_bias) for each layer]. Their
    products are handed out among the threads together (``parallel.matmuls``), so the threads wake once for
    all of them: the three projections of multi-head attention are six products of a few million
    multiply-adds, each too small to wake a thread for alone."""
    layers = [(g.reshape(-1, weight.shape[0]), x2, weight, has_bias)  # g2: (rows, out), rows as in linear
              for g, (x2, weight, has_bias) in zip(grads_out, caches)]
    products = []
    for g2, x2, weight, _ in layers:
        # dy/dx = W, except with one output feature, where g2 @ W is an outer product: broadcasting below
        products += ([(g2, weight)] if weight.shape[0] > 1 else []) + [(g2.T, x2)]  # dy/dW = sum_n g_n x_n^T
    results = iter(matmuls(*products))
    grads = []
    for g, (g2, _, weight, has_bias) in zip(grads_out, layers):
        grad_x = next(results) if weight.shape[0] > 1 else g2 * weight
        grad_weight = next(results)
        # dy/db = sum_n g_n, written 1^T g2: one BLAS product, which sums in blocks (.sum adds row by row)
        grad_bias = np.ones(len(g2), g2.dtype) @ g2 if has_bias else None
        grads.append((grad_x.reshape(g.shape[:-1] + (weight.shape[1],)), grad_weight, grad_bias))
    return grads
