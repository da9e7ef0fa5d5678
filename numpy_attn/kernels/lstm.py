"""The fast twin of ``numpy_attn.functional.lstm``: the whole-sequence LSTM and its BPTT, the same maths
(``functional.lstm`` gives the equations), both directions of a layer in one loop with few NumPy calls
per step (or one loop each, on threads of their own, below). Each trick is described where it is used:

- the weights are augmented to W = [W_hh | W_ih | b], so one product per step gives the whole
  pre-activation, bias included, and one product gives dL/dh_{t-1} with dL/dx_t (``_augmented_weights``);
- the i, f, o rows are negated, so that one exp, one add and one divide give the three sigmoid gates,
  sigmoid(a) = 1 / (1 + exp(-a)): NumPy's float32 exp is vectorised and its tanh much less so
  (docs/performance.md), and this form is accurate to the last bits for every a, where
  0.5 tanh(a / 2) + 0.5 rounds a tiny sigmoid to 0;
- the gates are reordered [g | i | f | o] and every per-step array is kept with the batch last, so each
  gate is one contiguous block and each ufunc call runs on contiguous same-shape operands;
- without a cache (``nn.no_grad``) and at large sizes (``_threaded``), the directions run one loop each,
  on threads of their own (``parallel.share_out``): the directions never meet, so the two loops make the
  same calls on the same numbers as the one loop with the BLAS on one thread (as ``fit``, ``predict`` and
  the models' forwards run it; more BLAS threads may round the one loop's products differently in the last
  bit, ``blas.py``);
- the backward walks the sequence in blocks of time steps and does each block's whole-array work (the
  local derivatives, the weight gradient) while the block is in the CPU's cache, with a ufunc buffer
  the size of one gate row (``_row_buffer``);
- a ``Workspace`` keeps the per-step arrays from call to call, and the per-step views of them that the
  loops walk (``Workspace.derived``): a few hundred views a call, made once;
- ``copy_output`` lays the directions' outputs side by side as a layer's (T, B, D*H) output a few steps
  at a time, so the transpose this is (the loop keeps the batch last) runs in the cache.
"""

from functools import partial

import numpy as np

from .._validate import as_float_array
from ..functional.lstm import check_lstm_grads, check_lstm_shapes
from .parallel import get_num_threads, share_out
from .workspace import as_workspace


# The sequence pass keeps every per-step array with the batch last, (..., D, B), the gates outermost:
# a step's gates are z_t (4, H, D, B), so each gate z_t[k] is one contiguous (H, D, B) block. NumPy runs a
# ufunc on contiguous same-shape operands without building an iterator, which the strided gate views of
# a (B, 4H) layout need at every one of a step's 7-9 calls.
# The gates are ordered [g | i | f | o] there (PyTorch's rows are i, f, g, o): the sigmoid gates i, f, o are
# then one block, and so are g, i, f, the three whose gradient is dL/dc_t times a local factor.
LOOP_ORDER = [2, 0, 1, 3]  # loop gate k is PyTorch's gate LOOP_ORDER[k]


def _augmented_weights(weight_ih, weight_hh, bias, negate_sigmoid_rows=False):
    """W = [W_hh | W_ih | b] (D, 4H, K), K = H + I (+ 1 with a bias), rows in loop order, so that
    a_t = W [h_{t-1}; x_t; 1]: one product per step gives the whole pre-activation, bias included (no
    separate input projection and no add per step), and in the backward W^T dL/da_t gives dL/dx_t with
    dL/dh_{t-1}, and sum_t dL/da_t [h_{t-1}; x_t; 1]^T every weight and bias gradient at once.

    negate_sigmoid_rows: negate the i, f, o rows, so that the product gives the exponents of
    sigmoid(a) = 1 / (1 + exp(-a)): the forward then gets the three sigmoid gates from one exp. Negating
    is exact.
    """
    D, _, H = weight_hh.shape
    columns = [weight_hh, weight_ih] + ([bias[..., None]] if bias is not None else [])
    w = np.concatenate(columns, axis=-1).reshape(D, 4, H, -1)[:, LOOP_ORDER]  # fancy indexing: a new array
    if negate_sigmoid_rows:
        w[:, 1:] *= -1
    return w.reshape(D, 4 * H, -1)


# Under no_grad, a layer's directions each run their own loop on a thread of their own from THREADED_GATE_VALUES
# values per gate and direction (H * B) up: a thread then holds Python's lock only between calls of several
# microseconds, and the two loops overlap. Below it, the hand-offs of the lock between the threads at every
# call cost more than the overlap saves. And only over THREADED_STEPS steps or more: waking the other thread
# costs more than a few steps save (a padded batch's segments of one or two steps). docs/performance.md has
# the figures.
THREADED_GATE_VALUES = 1 << 12
THREADED_STEPS = 16


def _threaded(H, B, T):
    """Whether work on T steps of (H, B) gates per direction is worth one thread per direction."""
    return H * B >= THREADED_GATE_VALUES and T >= THREADED_STEPS and get_num_threads() > 1


def _batch_last(a):
    """(D, ..., B, H) -> (..., H, D, B): a view, in the loops' layout."""
    return np.moveaxis(a, (0, -2), (-2, -1))


def lstm(x, h0, c0, weight_ih, weight_hh, bias=None, workspace=None, keep_cache=True):
    """``functional.lstm``: run D independent LSTMs over a sequence, all read forward in time, in one loop.

    D = 1 is one LSTM; a bidirectional layer is D = 2, the reverse direction fed the time-reversed input.
    Stacking makes each step's product one batched matmul instead of D of them. Without keep_cache and at
    large sizes (``_threaded``) each direction runs its own loop on a thread of its own instead.

    x: (D, T, B, I); h0, c0: (D, B, H); weight_ih: (D, 4H, I); weight_hh: (D, 4H, H);
    bias: (D, 4H) = b_ih + b_hh (the two biases only ever appear summed), or None.
    workspace: a ``Workspace`` to keep the per-step arrays in (the cache and ``out`` are its arrays, valid
    until the next ``lstm`` call with it), or None for fresh ones.
    keep_cache: False when no backward will follow (``nn.no_grad``): the gates, c_t and tanh(c_t) of a step
    are then written over the last step's (one step's arrays, and two of c, in use in turn) instead of
    being kept for all T, so they stay in the cache; the outputs are the same numbers.
    Returns ((out (D, T, B, H) with out[:, t] = h_t, h_n (D, B, H), c_n (D, B, H)), cache), cache None
    without keep_cache.
    """
    x = as_float_array(x, "lstm input", ndim=4)
    D, T, B, I = x.shape
    H = weight_hh.shape[-1]
    check_lstm_shapes(x.shape, H, weight_ih, weight_hh, bias, h0, c0)
    dtype, ws = x.dtype, as_workspace(workspace)
    w = _augmented_weights(weight_ih, weight_hh, bias, negate_sigmoid_rows=True)  # (D, 4H, K)
    u = ws.empty("lstm u", (T + 1, w.shape[-1], D, B), dtype)  # u[t] = [h_{t-1}; x_t; 1], and u[T, :H] = h_T
    u[:, H + I:] = 1
    u[:T, H:H + I] = _batch_last(x)
    u[T, H:] = 0  # no x_T: zeros keep the row finite
    u[0, :H] = _batch_last(h0)
    kept = T if keep_cache else 1  # the steps whose gates and tanh(c_t) are kept
    if keep_cache or D == 1 or not _threaded(H, B, T):
        loops = [slice(0, D)]  # every direction in one loop
    else:  # each direction its own loop, on its own thread
        loops = [slice(d, d + 1) for d in range(D)]
    # Each loop's cells c[t] = c_{t-1}: c0, c_1, ..., c_T (kept: in turn), gates z[t] = [g | i | f | o] of
    # step t, and tanh(c_t); the arrays of a direction's own loop are named after it.
    names = ["" if len(loops) == 1 else f", direction {rows.start}" for rows in loops]
    arrays = [_loop_arrays(ws, name, kept, H, rows.stop - rows.start, B, dtype) for name, rows in zip(names, loops)]
    steps = []  # each loop's per-step views, kept with its arrays
    for name, rows, (c, z, tanh_c, _) in zip(names, loops, arrays):
        c[0] = _batch_last(c0[rows])
        steps.append(ws.derived("lstm steps" + name, (u, c, z, tanh_c),
                                partial(_step_views, u[:, :, rows], c, z, tanh_c, T)))
    share_out(lambda group: [_forward_steps(w[rows], steps[n], arrays[n][3]) for n, rows in group],
              [[(n, rows)] for n, rows in enumerate(loops)])
    out = np.moveaxis(u[1:, :H], (1, 2, 3), (3, 0, 2))  # (D, T, B, H), a view
    c_n = np.concatenate([np.moveaxis(c[T % len(c)], 0, -1) for c, *_ in arrays])  # (D, B, H), new
    c, z, tanh_c, _ = arrays[0]  # with keep_cache, the one loop's
    cache = (x.shape, weight_ih, weight_hh, bias, z, u, c, tanh_c) if keep_cache else None
    return (out, out[:, -1].copy(), c_n), cache


def _loop_arrays(ws, suffix, kept, H, D, B, dtype):
    """A loop's cells (kept + 1, H, D, B), gates (kept, 4, H, D, B), tanh(c_t) (kept, H, D, B) and a scratch
    (H, D, B) for i * g, kept in the workspace under names ending in ``suffix``."""
    return (ws.empty("lstm c" + suffix, (kept + 1, H, D, B), dtype),
            ws.empty("lstm z" + suffix, (kept, 4, H, D, B), dtype),
            ws.empty("lstm tanh_c" + suffix, (kept, H, D, B), dtype),
            ws.empty("lstm ig" + suffix, (H, D, B), dtype))


def _step_views(u, c, z, tanh_c, T):
    """Every step's views for ``_forward_steps``, made once (a loop body of NumPy calls only): u (T + 1, K, D, B)
    holds [h_{t-1}; x_t; 1] and gets each h_t in u[t + 1, :H]; c, z, tanh_c as ``_loop_arrays``. Step t's are
    z_t as (D, 4H, B) and u_t as (D, K, B) for the product, the gates g, i, f, o and the sigmoid block
    [i | f | o] of z_t, c_{t-1}, c_t, tanh(c_t) and h_t's place."""
    H, kept = c.shape[1], len(z)
    D, B = u.shape[2:]
    z_mm = list(z.reshape(kept, 4 * H, D, B).transpose(0, 2, 1, 3))
    gates = [(*z_t, z_t[1:]) for z_t in z]
    cells = list(c)
    return list(zip(_steps(z_mm, T), u.transpose(0, 2, 1, 3), _steps(gates, T), _steps(cells, T),
                    _steps(cells, T, 1), _steps(list(tanh_c), T), u[1:, :H]))


def _forward_steps(w, steps, ig):
    """The steps of one loop over D directions: w (D, 4H, K) with the sigmoid rows negated, steps from
    ``_step_views`` (c_0 = c0 and h_0 = h0 in place), ig the loop's scratch for i * g."""
    one = ig.dtype.type(1)
    with np.errstate(over="ignore"):  # exp(-a) = inf for a very negative a: 1 / (1 + inf) = 0, the right gate
        for z_m, u_m, (g, i, f, o, sig), c_prev, c_t, tc_t, h_t in steps:
            np.matmul(w, u_m, out=z_m)  # every direction's W [h_{t-1}; x_t; 1] at once: [a_g | -a_i | -a_f | -a_o]
            np.tanh(g, out=g)
            np.exp(sig, out=sig)  # one exp for the three sigmoid gates
            np.add(sig, one, out=sig)
            np.divide(one, sig, out=sig)  # 1 / (1 + exp(-a)) = sigmoid(a): z_t = [g | i | f | o]
            np.multiply(f, c_prev, out=c_t)
            np.multiply(i, g, out=ig)
            np.add(c_t, ig, out=c_t)  # c_t = f * c_{t-1} + i * g
            np.tanh(c_t, out=tc_t)
            np.multiply(o, tc_t, out=h_t)  # h_t = o * tanh(c_t), written where step t+1 reads it


def _steps(a, T, shift=0):
    """The T per-step items a[t + shift] (t = 0 .. T-1) of a list that holds every step, or, when it holds
    fewer (``lstm`` without keep_cache), the same few in turn: a[(t + shift) % len(a)]."""
    return a[shift:shift + T] if len(a) >= T + shift else [a[(t + shift) % len(a)] for t in range(T)]


# copy_output copies about this many bytes of the kernel's output per block of steps, both directions
# together (half of it per call when each direction is copied on its own thread): a few steps at the seed's
# shape (B = 32), one step at a batch of 256.
COPY_BYTES = 1 << 15


def copy_output(out_d, out):
    """out[t, b, d*H:(d+1)*H] = direction d's h at time t: a layer's output from ``lstm``'s, the reverse
    direction (d = 1, which read the sequence backwards) put back in time order.

    out_d: (D, T, B, H), ``lstm``'s out, each direction in its reading order; out: (T, B, D*H), any strides.
    out_d is a view of the loop's (T, H, D, B) steps, so this is a transpose: copied whole, NumPy walks the
    output row by row and reads the loop's array back from memory once for every series; a block of steps of
    about COPY_BYTES is read while it is in the cache (docs/performance.md has the figures). At large sizes
    (``_threaded``) each direction is copied on a thread of its own, with or without grad.
    """
    D, T, B, H = out_d.shape
    share_out(lambda group: [_copy_direction(out_d, out, d) for d in group],
              [[d] for d in range(D)] if _threaded(H, B, T) else [list(range(D))])


def _copy_direction(out_d, out, d):
    """``copy_output`` of direction d alone (0 forward, 1 reverse) into its columns of out."""
    D, T, B, H = out_d.shape
    step = max(1, COPY_BYTES // (D * B * H * out_d.itemsize))
    columns = slice(d * H, (d + 1) * H)
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        # the reverse direction's reading steps T-1-t for times t0 .. t1-1
        out[t0:t1, :, columns] = out_d[d, t0:t1] if d == 0 else out_d[d, T - t1:T - t0][::-1]


def _local_derivatives(gates, c_prev, tanh_c, coef, dc_dh):
    """For one block, the factors of BPTT that do not depend on the carried gradients, in place.

    gates: (L, 4, H, D, B), [g | i | f | o]; c_prev, tanh_c: (L, H, D, B). Writes
    coef (L, 4, H, D, B): dL/da_k = (dL/dc_t for g, i, f; dL/dh_t for o) * coef_k, from
        c_t = f c_{t-1} + i g, h_t = o tanh(c_t), sigmoid' = s (1 - s), tanh' = 1 - tanh^2;
    dc_dh (L, H, D, B) = o (1 - tanh(c_t)^2): dL/dc_t gains dL/dh_t * dc_dh through h_t = o * tanh(c_t).
    """
    g, i, _, o = gates.swapaxes(0, 1)
    sig, d_sig = gates[:, 1:], coef[:, 1:]
    np.subtract(1, sig, out=d_sig)
    d_sig *= sig  # s (1 - s): sigmoid' of the i, f, o blocks
    d_g = coef[:, 0]
    np.multiply(g, g, out=d_g)
    np.subtract(1, d_g, out=d_g)  # 1 - g^2: tanh' of the g block
    d_g *= i  # da_g = dc_t * i * tanh'(a_g)
    coef[:, 1] *= g  # da_i = dc_t * g * sigmoid'(a_i)
    coef[:, 2] *= c_prev  # da_f = dc_t * c_{t-1} * sigmoid'(a_f)
    coef[:, 3] *= tanh_c  # da_o = dh_t * tanh(c_t) * sigmoid'(a_o)
    np.multiply(tanh_c, tanh_c, out=dc_dh)
    np.subtract(1, dc_dh, out=dc_dh)
    dc_dh *= o


def _row_buffer(row):
    """The ufunc buffer size (in elements) for ``_local_derivatives``: one gate row, rounded up to 16s.

    Most of its operands are one gate of L steps, (L, H, D, B) views of rows of H*D*B elements spaced
    4*H*D*B apart. With NumPy's default buffer of 8192 elements, a ufunc over rows shorter than that
    copies them through its buffer; a buffer of one row lets it run nearly as on contiguous data. Same
    arithmetic, element by element.
    """
    return max(16, -(-row // 16) * 16)


# The backward walks the sequence in blocks of BLOCK steps and does each block's whole-array work (the
# local derivatives, the weight gradient) next to its steps, while that block is in the CPU cache: one
# block of its arrays is about 1 MB at the seed's shape (D=2, B=32, H=32). The sum over time is the same
# sum, grouped by block.
BLOCK = 16


def lstm_backward(grad_out, grad_h_n, grad_c_n, cache, workspace=None):
    """``functional.lstm_backward``: BPTT, walking the steps backwards carrying dL/dh_t and dL/dc_t.

    grad_out: (D, T, B, H) or None; grad_h_n, grad_c_n: (D, B, H) or None (None: zero).
    workspace: as in ``lstm`` (it may be the forward's: the names differ); grad_x is a view into it.
    Returns (grad_x (D, T, B, I), grad_h0 (D, B, H), grad_c0 (D, B, H), grad_weight_ih (D, 4H, I),
    grad_weight_hh (D, 4H, H), grad_bias (D, 4H) or None); grad_bias is the gradient of b_ih and of b_hh.
    """
    x_shape, weight_ih, weight_hh, bias, z, u, c, tanh_c = cache
    D, T, B, I = x_shape
    H = weight_hh.shape[-1]
    check_lstm_grads((D, T, B, H), grad_out, grad_h_n, grad_c_n)
    dtype, ws = z.dtype, as_workspace(workspace)
    w_t = _augmented_weights(weight_ih, weight_hh, bias).transpose(0, 2, 1)  # (D, K, 4H)
    K = w_t.shape[1]
    # gu[t] = dL/du_t = dL/d[h_{t-1}; x_t; 1]; gu[T, :H] = dL/dh_T from h_n
    gu = ws.empty("lstm_backward gu", (T + 1, K, D, B), dtype)
    gu[T, :H] = 0 if grad_h_n is None else _batch_last(grad_h_n)
    dc = np.zeros((H, D, B), dtype)  # dL/dc_t, carried
    if grad_c_n is not None:
        dc[...] = _batch_last(grad_c_n)
    dh, tmp = ws.empty("lstm_backward dh", (2, H, D, B), dtype)
    grad_w = np.zeros((D, 4 * H, K), dtype)  # dL/dW, W = [W_hh | W_ih | b] as in _augmented_weights
    # Per-block work arrays, reused: sized for a full block, sliced for a shorter last one.
    coefs = ws.empty("lstm_backward coef", (2, BLOCK, 4, H, D, B), dtype)
    carried = ws.empty("lstm_backward dc_dh", (2, BLOCK, H, D, B), dtype)
    (coef, grad_a), (dc_dh, go) = coefs, carried
    ga_rows = ws.empty("lstm_backward ga_rows", (D, 4 * H, BLOCK * B), dtype)
    u_rows = ws.empty("lstm_backward u_rows", (D, K, BLOCK * B), dtype)
    # Per-step views made once, and kept from call to call (the loop body is NumPy calls only): by block row k,
    # and by step t.
    block_views = ws.derived("lstm_backward blocks", (coefs, carried), lambda: list(zip(
        go, dc_dh, coef[:, :3], grad_a[:, :3], coef[:, 3], grad_a[:, 3],
        grad_a.reshape(BLOCK, 4 * H, D, B).transpose(0, 2, 1, 3))))
    step_views = ws.derived("lstm_backward steps", (gu, z),
                            lambda: list(zip(gu[1:, :H], z[:, 2], gu.transpose(0, 2, 1, 3))))
    for t0 in reversed(range(0, T, BLOCK)):
        blk = slice(t0, min(t0 + BLOCK, T))
        L = blk.stop - t0
        callers_buffer = np.setbufsize(_row_buffer(H * D * B))
        try:
            _local_derivatives(z[blk], c[blk], tanh_c[blk], coef[:L], dc_dh[:L])
        finally:  # the caller's buffer size again, whatever happened
            np.setbufsize(callers_buffer)
        go[:L] = 0 if grad_out is None else _batch_last(grad_out[:, blk])
        for (go_t, dcdh_t, coef_c, ga_c, coef_o, ga_o, ga_m), (dh_next, f_t, gu_m) in reversed(
                list(zip(block_views[:L], step_views[blk]))):
            np.add(dh_next, go_t, out=dh)  # dL/dh_t: h_t feeds out[t] and step t+1
            np.multiply(dh, dcdh_t, out=tmp)
            np.add(dc, tmp, out=dc)  # dL/dc_t, complete: c_t reaches L through c_{t+1} and through h_t
            np.multiply(coef_c, dc, out=ga_c)  # dL/d[a_g, a_i, a_f]
            np.multiply(coef_o, dh, out=ga_o)  # dL/da_o
            np.multiply(dc, f_t, out=dc)  # d/dc_{t-1}: c_t = f * c_{t-1} + i * g
            np.matmul(w_t, ga_m, out=gu_m)  # dL/d[h_{t-1}; x_t; 1] = W^T dL/da_t, every direction at once
        # The block's weight gradient, sum_t dL/da_t u_t^T, as one product over the (t, b) pairs of each
        # direction: the rows are first gathered direction-major, (D, rows, L*B), so the pairs are contiguous.
        ga_b, u_b = ga_rows[..., :L * B], u_rows[..., :L * B]
        ga_b.reshape(D, 4 * H, L, B)[...] = grad_a[:L].reshape(L, 4 * H, D, B).transpose(2, 1, 0, 3)
        u_b.reshape(D, K, L, B)[...] = u[blk].transpose(2, 1, 0, 3)
        grad_w += ga_b @ u_b.transpose(0, 2, 1)
    grad_w = grad_w.reshape(D, 4, H, K)[:, np.argsort(LOOP_ORDER)].reshape(D, 4 * H, K)  # back to i, f, g, o
    grad_x = np.moveaxis(gu[:T, H:H + I], (1, 2, 3), (3, 0, 2))  # (D, T, B, I), a view
    grad_bias = grad_w[..., H + I] if bias is not None else None
    grad_h0, grad_c0 = (np.moveaxis(a, 0, -1).copy() for a in (gu[0, :H], dc))
    return grad_x, grad_h0, grad_c0, grad_w[..., H:H + I], grad_w[..., :H], grad_bias
