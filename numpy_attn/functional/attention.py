"""Scaled dot-product attention: ``torch.nn.functional.scaled_dot_product_attention`` with its backward.

    scores = (q * scale) k^T + bias        (..., L, S)   scale = 1/sqrt(E) unless given
    A      = softmax(scores) over keys     (..., L, S)   row i: how much query i looks at each key
    P      = dropout(A)                    (..., L, S)   P = A when dropout_p = 0
    out    = P v                           (..., L, Ev)

q: (..., L, E), k: (..., S, E), v: (..., S, Ev); the leading (batch) dims broadcast as in ``np.matmul``.

Masks (PyTorch's SDPA convention): a **boolean** ``attn_mask`` is True where the key *takes part*
(False: hidden, bias -inf); a **float** ``attn_mask`` is added to the scores (-inf hides). ``is_causal``
hides the future with ``tril(ones(L, S))``, aligned top-left as in PyTorch (query i sees keys 0..i);
giving both is an error, as in PyTorch (fold the causal mask into ``attn_mask`` instead).

Fully masked rows (every key of query i hidden): softmax would be 0/0. Here that row of A is **zero**,
so its output is zero and every gradient through it is zero, never NaN: a NaN would silently poison a
whole training run. PyTorch 2.13's SDPA math backend does the same (its "safe softmax");
``torch.nn.MultiheadAttention`` with ``need_weights=True`` returns NaN there instead. With no keys at all
(S = 0) every row is such a row: out and dq are zero, A is (..., L, 0), as in PyTorch.
"""

import math
from typing import NamedTuple

import numpy as np

from .._validate import as_float_array, check_probability
from ..kernels.parallel import share_out
from ..kernels.workspace import as_workspace
from .dropout import dropout_mask
from .softmax import softmax_into


class AttentionCache(NamedTuple):
    """What the backward needs. ``weights`` (..., L, S) is the softmax A (before dropout): plot it."""

    q_scaled: np.ndarray  # q * scale: (..., L, E)
    k: np.ndarray  # (..., S, E)
    v: np.ndarray  # (..., S, Ev)
    weights: np.ndarray  # A: (..., L, S)
    dropout_mask: object  # keep / (1 - p), (..., L, S); None without dropout
    out: np.ndarray  # (..., L, Ev), for the backward's row sums
    scale: float
    q_shape: tuple


# The (L, S) work runs tile by tile, each tile sized to stay in the CPU caches while scores, softmax and
# A v are done with it: a group of whole (L, S) matrices of about TILE_BYTES when matrices are small, else
# one matrix, cut into blocks of query rows when it is larger than ROW_BLOCK_TILES tiles (FlashAttention's
# tiling, without its online softmax: a tile holds whole rows, so its softmax is the softmax of those rows).
# At (8, 8, 1024, 1024) A is 268 MB; whole-array passes stream it through memory about seven times, tiles
# once to write it and once to read it. Tiles of different matrices touch different memory, so they are
# shared out among the cores (``numpy_attn/parallel.py``). A (1024, 1024) float32 matrix (4 MiB) is one
# tile: fewer and larger products, and no dk, dv sums over row blocks, run faster than four 1 MiB blocks
# (forward and backward at (8, 8, 1024, 32) on two threads: 133 and 202 ms against 144 and 224 ms,
# medians of 25 alternating calls in one process).
TILE_BYTES = 1 << 20
ROW_BLOCK_TILES = 4


def _tile_groups(batch, L, S, itemsize):
    """Index tuples of every tile into (*batch, L, ...) arrays (batch indices or slices, then a row slice),
    in groups: the tiles of one group are row blocks of the same matrices, different groups' tiles of different ones."""
    if L == 0 or 0 in batch:  # no query rows or an empty batch: nothing to compute
        return []
    row = max(S, 1) * itemsize  # with no keys (S = 0) a row still has its output to write
    matrix = L * row
    if matrix >= TILE_BYTES:  # one matrix at a time, whole or in blocks of query rows
        rows = max(1, ROW_BLOCK_TILES * TILE_BYTES // row)
        return [[n + (slice(r, r + rows),) for r in range(0, L, rows)] for n in np.ndindex(*batch)]
    # Whole matrices: the trailing batch dims that fit in a tile are taken whole, the dim before them in
    # chunks, the ones before that one index at a time.
    per, whole = TILE_BYTES // matrix, len(batch)
    while whole > 0 and batch[whole - 1] <= per:
        per //= batch[whole - 1]
        whole -= 1
    if whole == 0:
        return [[(slice(None),) * (len(batch) + 1)]]
    rest = (slice(None),) * (len(batch) - whole + 1)  # the whole trailing dims, then all rows
    return [[n + (slice(c, c + per),) + rest] for n in np.ndindex(*batch[:whole - 1])
            for c in range(0, batch[whole - 1], per)]


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None,
                                 workspace=None):
    """out = dropout(softmax(q k^T * scale + bias)) v. Returns (out: (..., L, Ev), cache).

    attn_mask: bool (True = takes part) or float (added), broadcastable to (..., L, S); None for none.
    dropout_p: drop probability on the weights A, drawn from ``rng`` (always applied when > 0, as in
    PyTorch: pass 0 in eval mode). The mask is a constant: it gets no gradient.
    ``cache.weights`` holds A (..., L, S), the leading dims those of q, k and v broadcast.
    workspace: a ``Workspace`` (``numpy_attn/workspace.py``) to keep A, q * scale and out in from call to
    call: fresh memory for a large A costs the operating system more than the softmax does (at
    (8, 8, 1024, 1024), about 0.5 s of page faults in 4 KiB pages). The returned out and the cache are
    then its arrays, valid until the next call with it.
    """
    q, k, v = _check_qkv(q, k, v)
    check_probability(dropout_p, "dropout_p")
    L, E, S = q.shape[-2], q.shape[-1], k.shape[-2]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)  # a Python float keeps float32 float32
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    bias = attention_bias(attn_mask, is_causal, L, S, q.dtype)
    if bias is not None:
        _check_mask_shape(bias, attn_mask, batch + (L, S))
        bias = np.broadcast_to(bias, batch + (L, S))

    ws = as_workspace(workspace)
    # scaling q (L x E) is cheaper than scaling the scores (L x S); same product
    q_scaled = np.multiply(q, scale, out=ws.empty_like("q_scaled", q))
    qs, ks, vs = (np.broadcast_to(x, batch + x.shape[-2:]) for x in (q_scaled, k, v))  # views, no copies
    weights = ws.empty("weights", batch + (L, S), q.dtype)
    # Outputs keep q's memory order (empty_like, order "K"): for heads split from a (B, L, E) array that is
    # (B, L, H, d), so merging the heads back is a view and not a copy.
    out = ws.empty_like("out", qs, shape=batch + (L, v.shape[-1]))
    mask = None if dropout_p == 0.0 else dropout_mask(weights.shape, dropout_p, q.dtype, rng)

    def forward_tiles(tiles):
        for tile in tiles:
            n = tile[:-1]  # the batch part of the index: keys and values have all S rows
            a = weights[tile]
            np.matmul(qs[tile], np.swapaxes(ks[n], -1, -2), out=a)  # scores: einsum('...le,...se->...ls')
            if bias is not None:
                a += bias[tile]
            softmax_into(a, a)  # in place: the scores become A
            np.matmul(a if mask is None else a * mask[tile], vs[n], out=out[tile])  # out = P v

    share_out(forward_tiles, _tile_groups(batch, L, S, q.dtype.itemsize))
    return out, AttentionCache(q_scaled, k, v, weights, mask, out, scale, q.shape)


def scaled_dot_product_attention_backward(grad_out, cache, workspace=None):
    """grad_out: (..., L, Ev) -> (dq, dk, dv), each of the shape of its input (broadcast dims summed).
    workspace: as in the forward (it may be the forward's: the names differ); dq, dk, dv are then its arrays.

        dv = P^T g                                     out = P v
        dP = g v^T;  dA = dP * mask                    P = A * mask (no mask without dropout)
        dS = A * (dA - r),  r_i = sum_j A_ij dA_ij     A = softmax(S) over keys
        dq = dS k * scale;  dk = dS^T (q * scale)      S = (q * scale) k^T + bias

    The row sums need no (L, S) pass: r_i = sum_j P_ij (g_i . v_j) = g_i . out_i (FlashAttention's D).
    (dP - r as one product [g | -r] [v | 1]^T was tried: its inner size Ev + 1 takes OpenBLAS over its
    threading threshold for small heads, and two threads on (128, 17) x (17, 128) ran 2x slower.)
    Tile by tile as the forward; dk and dv sum over the row blocks of their matrix.
    """
    q_scaled, k, v, weights, mask, out, scale, q_shape = cache
    batch, (L, S) = weights.shape[:-2], weights.shape[-2:]
    qs, ks, vs = (np.broadcast_to(x, batch + x.shape[-2:]) for x in (q_scaled, k, v))
    r = np.einsum("...le,...le->...l", grad_out, out)[..., None]  # r_i = g_i . out_i: (..., L, 1)
    ws = as_workspace(workspace)
    dq, dk, dv = (ws.empty_like(name, x) for name, x in (("dq", qs), ("dk", ks), ("dv", vs)))  # inputs' memory order
    dk[...], dv[...] = 0, 0  # sums over the row blocks of a matrix

    def backward_tiles(tiles):  # a group's tiles run on one thread: they add into the same dk[n], dv[n]
        for tile in tiles:
            n = tile[:-1]
            a, g = weights[tile], grad_out[tile]
            dv[n] += np.swapaxes(a if mask is None else a * mask[tile], -1, -2) @ g  # out = P v  ->  dv = P^T g
            ds = g @ np.swapaxes(vs[n], -1, -2)  # dP = g v^T
            if mask is not None:
                ds *= mask[tile]  # dA: P = A * mask
            ds -= r[tile]
            ds *= a  # softmax VJP, in place: dS = A * (dA - r); a hidden key has A = 0, so dS = 0
            np.matmul(ds, ks[n], out=dq[tile])  # S = (q * scale) k^T  ->  dq = dS k * scale (scale below)
            dk[n] += np.swapaxes(ds, -1, -2) @ qs[tile]  # dk = dS^T (q * scale)

    share_out(backward_tiles, _tile_groups(batch, L, S, weights.dtype.itemsize))
    dq *= scale
    return _sum_to_shape(dq, q_shape), _sum_to_shape(dk, k.shape), _sum_to_shape(dv, v.shape)


def attention_bias(attn_mask, is_causal, L, S, dtype):
    """The additive mask of SDPA's conventions: 0 where a key takes part, -inf where it is hidden.

    attn_mask: bool (True = takes part), float (added as is; -inf hides; NaN and +inf refused) or None.
    is_causal: hide key j > query i (``tril(ones(L, S))``). Returns None when nothing is masked.
    """
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask and is_causal=True: give one (PyTorch refuses both); "
                         "fold the causal mask into attn_mask")
    if is_causal:
        return np.where(np.tri(L, S, dtype=bool), 0.0, -np.inf).astype(dtype)  # tri: ones on and below the diagonal
    if attn_mask is None:
        return None
    m = np.asarray(attn_mask)
    if m.dtype == bool:
        return np.where(m, 0.0, -np.inf).astype(dtype)
    if m.dtype.kind != "f":
        raise TypeError(f"attn_mask: expected a bool or floating-point array, got dtype {m.dtype}")
    if np.isnan(m).any() or np.isposinf(m).any():
        raise ValueError("attn_mask: a float mask may hold finite values and -inf, got NaN or +inf")
    return m.astype(dtype, copy=False)


def _check_qkv(q, k, v):
    q = as_float_array(q, "query", min_ndim=2)
    k = as_float_array(k, "key", min_ndim=2)
    v = as_float_array(v, "value", min_ndim=2)
    for x, name in ((k, "key"), (v, "value")):
        if x.dtype != q.dtype:
            raise TypeError(f"{name}: dtype {x.dtype} does not match query's dtype {q.dtype}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"key: expected last dimension {q.shape[-1]} (query's E), got shape {k.shape}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"value: expected {k.shape[-2]} rows (key's S), got shape {v.shape}")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"query, key, value: batch dims {q.shape[:-2]}, {k.shape[:-2]}, {v.shape[:-2]} do not broadcast"
        ) from None
    return q, k, v


def _check_mask_shape(bias, attn_mask, scores_shape):
    shape = np.shape(attn_mask) if attn_mask is not None else bias.shape
    try:
        ok = np.broadcast_shapes(bias.shape, scores_shape) == scores_shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"attn_mask: expected a shape broadcastable to (..., L, S) = {scores_shape}, got {shape}")


def _sum_to_shape(grad, shape):
    """Sum a gradient over the dims its operand was broadcast along, giving back ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=tuple(range(lead)) + stretched).reshape(shape)
