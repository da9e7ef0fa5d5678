"""The fast twin of ``numpy_attn.functional.softmax``: softmax over any axis and its backward, the same maths.

Tricks, in words:
- over the last axis the rows go block by block (``rows.py``), so each block's passes (max, exp, sums,
  scale) find it in the CPU's cache instead of streaming a large array through memory once per pass, and
  the blocks are shared out among the cores;
- the scores are checked for NaN and +inf inside the blocks, and only in a block whose range the fast path
  below does not vouch for: a whole-array check would be one more pass through memory;
- ``softmax_into`` writes into a given array (attention's tiles reuse their scores' memory) and skips
  the max shift when every score of the block is small enough that exp can neither overflow nor
  underflow: any shift gives the same softmax, only the rounding differs;
- the row sums over the last axis are the BLAS product x 1, which sums in blocks;
- one reciprocal per row and a multiply instead of a divide per element.
"""

import numpy as np

from .._validate import NonFiniteError, as_float_array, check_scores
from ..functional.softmax import softmax_backward as textbook_softmax_backward
from .rows import as_rows, for_row_blocks


def softmax(x, axis=-1):
    """``functional.softmax``: a = softmax(x) over ``axis``. x: any shape, finite or -inf (hidden).
    Returns a (shape of x) and the cache."""
    x = as_float_array(x, "softmax input", min_ndim=1, finite=False)
    a = np.empty(x.shape, x.dtype)
    if not _is_last(axis, x.ndim):
        check_scores(x, "softmax input")
        return softmax_into(x, a, axis), (a, axis)
    rows, a_rows = as_rows(x), as_rows(a)  # a's is a view: a is C-ordered
    try:
        for_row_blocks(lambda s: softmax_into(rows[s], a_rows[s], check="softmax input"), rows)
    except NonFiniteError:
        check_scores(x, "softmax input")  # the same refusal, with the index in x rather than in a block
        raise
    return a, (a, axis)


def softmax_backward(grad_out, cache):
    """``functional.softmax_backward``: dx = a * (g - sum(a * g)); over the last axis block by block."""
    a, axis = cache
    if not _is_last(axis, a.ndim):
        return textbook_softmax_backward(grad_out, cache)  # over another axis: the whole-array passes
    grad_out = np.asarray(grad_out)
    if grad_out.shape != a.shape:
        raise ValueError(f"softmax grad_out: expected shape {a.shape} (the output's), got {grad_out.shape}")
    a_rows, g_rows = as_rows(a), as_rows(grad_out)
    dx = np.empty(a_rows.shape, np.result_type(a, grad_out))

    def block(s):
        d = np.subtract(g_rows[s], np.einsum("nd,nd->n", a_rows[s], g_rows[s])[:, None], out=dx[s])  # g - sum(a g)
        d *= a_rows[s]

    for_row_blocks(block, a_rows)
    return dx.reshape(a.shape)


def softmax_into(x, out, axis=-1, check=None):
    """Softmax of x over ``axis``, written into ``out`` (x itself for in place); rows all -inf become zeros.
    check: None, or a name: refuse NaN and +inf in x (``check_scores``) unless the range test below has
    already ruled them out.

    a_j = exp(s_j - m) / sum_i exp(s_i - m) for any shift m: it cancels. m = max_i s_i keeps exp <= 1, and
    costs a reduction per row and a subtraction. When every score of the block lies within +-limit (two
    reductions over the whole block, much cheaper than one per row), m = 0 is as safe: S exp(limit) stays
    below the largest float, and exp(-limit) above the smallest normal one (the bound that matters when
    S <= 3); only the rounding differs. A row with every key hidden has m = -inf; m = 0 and a denominator
    of 1 give a = 0, as ``functional.softmax`` does.
    """
    if x.size == 0:  # an empty batch, or nothing to normalise over
        return out
    info = np.finfo(x.dtype)
    limit = min(-np.log(info.tiny), np.log(info.max / x.shape[axis])) - 1.0  # float32, S = 128: 82.9
    if -limit <= x.min() and x.max() <= limit:  # False for NaN too
        np.exp(x, out=out)
        dead = None
    else:
        if check is not None:
            check_scores(x, check)
        m = x.max(axis=axis, keepdims=True)
        dead = np.isneginf(m)
        m[dead] = 0.0
        np.exp(np.subtract(x, m, out=out), out=out)
    total = _sums(out, axis)
    if dead is not None:
        total[dead] = 1.0
    out *= np.reciprocal(total)  # one reciprocal per row, then a multiply: cheaper than a divide
    return out


def _sums(x, axis):
    """x.sum(axis, keepdims=True), over the last axis as the BLAS product x 1 (which sums in blocks, where
    .sum adds each row's numbers one by one; the same sum, grouped differently)."""
    if not _is_last(axis, x.ndim):
        return x.sum(axis=axis, keepdims=True)
    return x @ np.ones((x.shape[-1], 1), x.dtype)


def _is_last(axis, ndim):
    """Whether ``axis`` (negative counts from the end) is the last of ``ndim`` axes."""
    return axis % ndim == ndim - 1
