"""The fast twin of ``numpy_attn.functional.attention``: scaled dot-product attention and its backward,
the same maths (masks, causal, dropout, fully masked rows, no keys) computed tile by tile on every core.

Tricks, in words:
- the (L, S) work runs tile by tile, each tile sized to stay in the CPU caches while the scores, the
  softmax and A v are done with it: a group of whole (L, S) matrices of about TILE_BYTES when matrices
  are small; else one matrix, cut into blocks of query rows when it is larger than ROW_BLOCK_TILES tiles
  (FlashAttention's tiling, without its online softmax: a tile holds whole rows, so its softmax is the
  softmax of those rows). Whole-array passes would stream A through memory once per pass; tiles write it
  once and read it once;
- tiles of different matrices touch different memory, so they are shared out among the cores
  (``parallel.share_out``), each computed by the same calls as on one thread;
- q is scaled (L x E) instead of the scores (L x S); the softmax is written over the scores in place
  (``softmax.softmax_into``);
- the backward's row sums need no (L, S) pass: r_i = sum_j P_ij dP_ij = g_i . out_i (FlashAttention's D);
- a ``Workspace`` keeps A, q * scale and out from call to call, so a large A is not fresh memory (and
  page faults) at every step; outputs keep q's memory order, so heads split from (B, L, E) merge back
  as a view;
- when neither a backward nor the weights will be wanted (``keep_weights=False``: ``nn.no_grad`` with
  need_weights=False, as ``predict`` runs the models), each tile's scores and softmax live in a tile-sized
  array of its thread's, in the cache, and A is never written out: memory of one tile per thread instead of
  (..., L, S), which at long sequences is what a batch of 256 cannot hold.
"""

import math
import threading
from typing import NamedTuple

import numpy as np

from .._validate import check_probability
from ..functional.attention import check_qkv, sum_to_shape
from ..functional.dropout import dropout_mask
from ..functional.masks import attention_bias, check_bias_shape
from .parallel import share_out
from .softmax import softmax_into
from .workspace import as_workspace


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


# See the module docstring: the bytes of one tile, and the most tiles one matrix may be before its rows are cut.
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
                                 workspace=None, keep_weights=True):
    """``functional.scaled_dot_product_attention``: out = dropout(softmax(q k^T * scale + bias)) v.

    Arguments and results as the textbook's (``cache.weights`` holds A (..., L, S), the leading dims those
    of q, k and v broadcast), plus workspace: a ``Workspace`` to keep A, q * scale and out in from call to
    call; the returned out and the cache are then its arrays, valid until the next call with it.
    keep_weights: False when no backward follows and A is not wanted: A is then computed a tile at a time and
    not kept, the cache is None, and out is the same numbers.
    """
    q, k, v = check_qkv(q, k, v)
    check_probability(dropout_p, "dropout_p")
    L, E, S = q.shape[-2], q.shape[-1], k.shape[-2]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)  # a Python float keeps float32 float32
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    bias = attention_bias(attn_mask, is_causal, L, S, q.dtype)
    if bias is not None:
        check_bias_shape(bias, attn_mask, batch + (L, S))
        bias = np.broadcast_to(bias, batch + (L, S))

    ws = as_workspace(workspace)
    # scaling q (L x E) is cheaper than scaling the scores (L x S); same product
    q_scaled = np.multiply(q, scale, out=ws.empty_like("q_scaled", q))
    qs, ks, vs = (np.broadcast_to(x, batch + x.shape[-2:]) for x in (q_scaled, k, v))  # views, no copies
    weights = ws.empty("weights", batch + (L, S), q.dtype) if keep_weights else None
    # Outputs keep q's memory order (empty_like, order "K"): for heads split from a (B, L, E) array that is
    # (B, L, H, d), so merging the heads back is a view and not a copy.
    out = ws.empty_like("out", qs, shape=batch + (L, v.shape[-1]))
    mask = None if dropout_p == 0.0 else dropout_mask(batch + (L, S), dropout_p, q.dtype, rng)

    def forward_tiles(tiles):
        for tile in tiles:
            n = tile[:-1]  # the batch part of the index: keys and values have all S rows
            a = weights[tile] if keep_weights else _tile_scores(ws, qs[tile].shape[:-1] + (S,), q.dtype)
            np.matmul(qs[tile], np.swapaxes(ks[n], -1, -2), out=a)  # scores: einsum('...le,...se->...ls')
            if bias is not None:
                a += bias[tile]
            softmax_into(a, a)  # in place: the scores become A
            np.matmul(a if mask is None else a * mask[tile], vs[n], out=out[tile])  # out = P v

    share_out(forward_tiles, _tile_groups(batch, L, S, q.dtype.itemsize))
    return out, AttentionCache(q_scaled, k, v, weights, mask, out, scale, q.shape) if keep_weights else None


def _tile_scores(workspace, shape, dtype):
    """An array for one tile's scores, kept in the workspace for the calling thread: the threads computing
    tiles at once each write their own."""
    return workspace.empty(f"tile scores, thread {threading.get_ident()}", shape, dtype)


def scaled_dot_product_attention_backward(grad_out, cache, workspace=None):
    """``functional.scaled_dot_product_attention_backward``: grad_out (..., L, Ev) -> (dq, dk, dv).
    workspace: as in the forward (it may be the forward's: the names differ); dq, dk, dv are then its arrays.

        dv = P^T g                                     out = P v
        dP = g v^T;  dA = dP * mask                    P = A * mask (no mask without dropout)
        dS = A * (dA - r),  r_i = sum_j A_ij dA_ij     A = softmax(S) over keys
        dq = dS k * scale;  dk = dS^T (q * scale)      S = (q * scale) k^T + bias

    The row sums need no (L, S) pass: r_i = sum_j P_ij (g_i . v_j) = g_i . out_i (FlashAttention's D).
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
    return sum_to_shape(dq, q_shape), sum_to_shape(dk, k.shape), sum_to_shape(dv, v.shape)
