"""The fast twin of ``numpy_attn.functional.layer_norm``: the same normalisation and backward.

Tricks, in words:
- every row of x, viewed as (N, D), is normalised on its own, so the work runs block by block over rows
  (``rows.py``): the passes a block takes (mean, centre, variance, scale, shift) find it in the CPU's
  cache instead of streaming the whole array through memory once per pass, and the blocks are shared out
  among the cores; the backward's weight and bias gradients are summed per block, then over the blocks
  in row order, so the sums do not depend on which thread took which block;
- the sums over a row are ``einsum("nd->n")`` and ``einsum("nd,nd->n")``: a sum of products with no
  (N, D) temporary, grouped in blocks. (A BLAS product with a column of ones would sum as fast, but
  OpenBLAS may put two threads on it outside ``parallel.own_cores`` and leave its worker spinning
  afterwards, see ``blas.py``; einsum stays on the calling thread);
- results are written in place into a few arrays made once, and the backward keeps one block-sized
  temporary per thread.
"""

import threading

import numpy as np

from ..functional.layer_norm import check_layer_norm_args
from .rows import as_rows, for_row_blocks


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``functional.layer_norm``: y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing dims.

    x: (*, *normalized_shape); weight, bias: normalized_shape or None. Returns y (shape of x) and the cache.
    """
    x, normalized_shape = check_layer_norm_args(x, normalized_shape, weight, bias)
    w, b = (None if p is None else np.asarray(p).reshape(-1) for p in (weight, bias))  # flat (D,)
    rows = as_rows(x, len(normalized_shape))  # (N, D)
    xhat, rstd = np.empty_like(rows), np.empty((len(rows), 1), x.dtype)
    params = [p for p in (w, b) if p is not None]
    out = np.empty(rows.shape, np.result_type(rows, *params)) if params else xhat
    inv_d = 1.0 / max(rows.shape[1], 1)

    def block(s):
        c = np.subtract(rows[s], _row_sums(rows[s]) * inv_d, out=xhat[s])  # x - mean
        r = rstd[s]
        np.einsum("nd,nd->n", c, c, out=r[:, 0])  # sum((x - mean)^2), with no (rows, D) temporary
        r *= inv_d  # var: the mean of the squares
        r += eps
        np.sqrt(r, out=r)
        np.reciprocal(r, out=r)  # rstd = 1 / sqrt(var + eps)
        c *= r  # xhat
        y = c if w is None else np.multiply(c, w, out=out[s])
        if b is not None:
            np.add(y, b, out=out[s])

    for_row_blocks(block, rows)
    return out.reshape(x.shape), (xhat, rstd, w, b is not None, x.shape, normalized_shape)


def layer_norm_backward(grad_out, cache):
    """``functional.layer_norm_backward``: (grad_x, grad_weight, grad_bias), None where there was none.

    With xhat = (x - mean) * rstd and d = grad_out * weight (the gradient reaching xhat),
    dx = rstd * (d - mean(d) - xhat * mean(d * xhat)): the two means are the paths through mean and var.
    """
    xhat, rstd, w, has_bias, shape, normalized_shape = cache
    grad_out = np.asarray(grad_out)
    if grad_out.shape != shape:
        raise ValueError(f"layer_norm grad_out: expected shape {shape} (the input's), got {grad_out.shape}")
    g = grad_out.reshape(xhat.shape)
    dx = np.empty(g.shape, np.result_type(g, xhat, *(() if w is None else (w,))))
    inv_d = 1.0 / max(xhat.shape[1], 1)
    partial = {}  # block start -> (its rows' dL/dweight, dL/dbias), summed over the blocks in row order below
    scratch = {}  # thread -> one block's temporary

    def block(s):
        xh, d = xhat[s], dx[s]
        tmp = scratch.get(threading.get_ident())
        if tmp is None or len(tmp) < len(xh):
            tmp = scratch[threading.get_ident()] = np.empty(xh.shape, dx.dtype)
        if w is None:
            np.copyto(d, g[s])
        else:
            np.multiply(g[s], w, out=d)  # d: y = xhat * weight + bias
        mean_d = _row_sums(d) * inv_d
        d -= np.multiply(xh, np.einsum("nd,nd->n", d, xh)[:, None] * inv_d, out=tmp[:len(xh)])  # xhat mean(d xhat)
        d -= mean_d
        d *= rstd[s]
        partial[s.start] = (None if w is None else np.einsum("nd,nd->d", g[s], xh),  # dy/dweight = xhat
                            np.einsum("nd->d", g[s]) if has_bias else None)  # dy/dbias = 1

    blocks = for_row_blocks(block, xhat)
    zero = np.zeros(xhat.shape[1], dx.dtype)
    grad_w = sum((partial[s.start][0] for s in blocks), zero) if w is not None else None
    grad_b = sum((partial[s.start][1] for s in blocks), zero) if has_bias else None
    return (dx.reshape(shape), *(None if p is None else p.reshape(normalized_shape) for p in (grad_w, grad_b)))


def _row_sums(rows):
    """(n, D) -> (n, 1): the sum of each row."""
    return np.einsum("nd->n", rows)[:, None]
