"""LSTM, PyTorch's equations: one cell step and a whole-sequence pass, each with its backward (BPTT).

With hidden size H, the weights hold the four gates' rows in PyTorch's order i, f, g, o:

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (B, 4H), split as [a_i | a_f | a_g | a_o]
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g                                 (B, H)
    h_t = o * tanh(c_t)                                       (B, H)

``lstm_cell`` is the plain step, written to be read; ``lstm`` runs a whole sequence with the same
maths arranged to make few NumPy calls per step (each trick is marked where it is used), and both
agree to rounding (tests/test_lstm.py checks them against each other and against PyTorch).
"""

import numpy as np

from .._validate import as_float_array
from .activations import sigmoid, sigmoid_backward, tanh_backward
from .linear import linear, linear_backward


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step: (h, c) -> (h', c') by the equations in the module docstring.

    x: (*, I); h, c: (*, H); weight_ih: (4H, I); weight_hh: (4H, H); bias_ih, bias_hh: (4H,) or None.
    Returns ((h', c'), cache), h' and c' of shape (*, H).
    """
    a_x, x_cache = linear(x, weight_ih, bias_ih)  # x W_ih^T + b_ih: (*, 4H)
    a_h, h_cache = linear(h, weight_hh, bias_hh)  # h W_hh^T + b_hh: (*, 4H)
    a_i, a_f, a_g, a_o = np.split(a_x + a_h, 4, axis=-1)
    i, f, o = sigmoid(a_i)[0], sigmoid(a_f)[0], sigmoid(a_o)[0]
    g = np.tanh(a_g)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    h_new = o * tanh_c
    return (h_new, c_new), (x_cache, h_cache, c, i, f, g, o, tanh_c)


def lstm_cell_backward(grad_h, grad_c, cache):
    """Gradients of one step, given grad_h = dL/dh' and grad_c = dL/dc' (None: zero), both (*, H).

    Returns (grad_x (*, I), grad_h (*, H), grad_c (*, H), grad_weight_ih (4H, I), grad_weight_hh (4H, H),
    grad_bias_ih (4H,) or None, grad_bias_hh (4H,) or None); the two bias gradients are equal (both are dL/da).
    """
    x_cache, h_cache, c, i, f, g, o, tanh_c = cache
    if grad_c is None:
        grad_c = np.zeros_like(c)
    grad_c = grad_c + grad_h * o * (1 - tanh_c * tanh_c)  # h' = o * tanh(c'): c' reaches L directly and via h'
    grad_o = grad_h * tanh_c  # h' = o * tanh(c')
    grad_i, grad_f, grad_g = grad_c * g, grad_c * c, grad_c * i  # c' = f * c + i * g
    grad_a = np.concatenate([  # through the gate nonlinearities, back to a = [a_i | a_f | a_g | a_o]
        sigmoid_backward(grad_i, i), sigmoid_backward(grad_f, f), tanh_backward(grad_g, g), sigmoid_backward(grad_o, o),
    ], axis=-1)
    grad_x, grad_w_ih, grad_b_ih = linear_backward(grad_a, x_cache)  # a = x W_ih^T + b_ih + ...
    grad_h_prev, grad_w_hh, grad_b_hh = linear_backward(grad_a, h_cache)  # a = ... + h W_hh^T + b_hh
    grad_c_prev = grad_c * f  # c' = f * c + ...: the cell-state gradient flows back through f
    return grad_x, grad_h_prev, grad_c_prev, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


def _tanh_form(hidden_size, shape, dtype):
    """scale, shift of ``shape`` (..., 4H): gates = tanh(scale * a) * scale + shift gives [i, f, g, o] from one tanh.

    sigmoid(a) = 0.5 * tanh(a / 2) + 0.5, so the i, f, o blocks take scale 0.5 and shift 0.5, while
    the g block (g = tanh(a)) takes scale 1 and shift 0. Halving is exact in binary floating point.
    They are spread to the full shape of a step's gates: a same-shape ufunc runs one long inner loop,
    where a broadcast (4H,) row costs one short loop per row (2.4 against 1.0 us per call, measured).
    """
    scale = np.full((4, hidden_size), 0.5, dtype)
    scale[2] = 1.0
    shift = np.full((4, hidden_size), 0.5, dtype)
    shift[2] = 0.0
    return (np.broadcast_to(a.reshape(-1), shape).copy() for a in (scale, shift))


# Both loops walk the sequence in blocks of BLOCK steps and do each block's whole-array work (input
# projections, gate derivatives, weight gradients) next to its steps, while that block is in the CPU cache:
# one block of the backward's arrays is about 1 MB at the seed's shape (S=2, B=32, H=32). The sums over
# time are the same sums, grouped by block.
BLOCK = 16


def _blocks(T):
    """slice(t0, t1) of each block of ``BLOCK`` steps, in time order."""
    return [slice(t0, min(t0 + BLOCK, T)) for t0 in range(0, T, BLOCK)]


def _steps(*arrays):
    """Per-step views of (S, L, ...) arrays, made once per block so the loop body is NumPy calls only."""
    return zip(*(list(a.swapaxes(0, 1)) for a in arrays))


def _check_shape(a, name, shape):
    if a is not None and a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")


def lstm(x, h0, c0, weight_ih, weight_hh, bias=None):
    """Run S independent LSTMs over a sequence, all read forward in time, in one loop.

    S = 1 is one LSTM; a bidirectional layer is S = 2, the reverse direction fed the time-reversed input.
    Stacking makes each step's recurrent products one batched matmul instead of S of them.

    x: (S, T, B, I); h0, c0: (S, B, H); weight_ih: (S, 4H, I); weight_hh: (S, 4H, H);
    bias: (S, 4H) = b_ih + b_hh (the two biases only ever appear summed), or None.
    Returns ((out (S, T, B, H) with out[:, t] = h_t, h_n (S, B, H), c_n (S, B, H)), cache).
    """
    x = as_float_array(x, "lstm input", ndim=4)
    S, T, B, I = x.shape
    H = weight_hh.shape[-1]
    for a, name, shape in [(weight_ih, "weight_ih", (S, 4 * H, I)), (weight_hh, "weight_hh", (S, 4 * H, H)),
                           (h0, "h0", (S, B, H)), (c0, "c0", (S, B, H)), (bias, "bias", (S, 4 * H))]:
        _check_shape(a, f"lstm {name}", shape)
    scale, shift = _tanh_form(H, (S, B, 4 * H), x.dtype)
    # The weights' rows are pre-multiplied by the scale, so z = scale * a comes out ready for the single tanh.
    w_ih_t = (weight_ih * scale[0, 0, :, None]).transpose(0, 2, 1)  # (S, I, 4H)
    w_hh_t = np.ascontiguousarray((weight_hh * scale[0, 0, :, None]).transpose(0, 2, 1))  # (S, H, 4H)
    z = np.empty((S, T, B, 4 * H), x.dtype)  # after step t, z[:, t] holds the gates [i | f | g | o]
    hs = np.empty((S, T + 1, B, H), x.dtype)  # hs[:, t] = h_{t-1}: h0, h_1, ..., h_T
    cs = np.empty_like(hs)
    hs[:, 0], cs[:, 0] = h0, c0
    tanh_c = np.empty((S, T, B, H), x.dtype)
    rec, ig = np.empty((S, B, 4 * H), x.dtype), np.empty((S, B, H), x.dtype)
    for blk in _blocks(T):
        L = blk.stop - blk.start
        z_blk = z[:, blk].reshape(S, L * B, 4 * H)
        # The block's input projections in one product (they do not depend on h): (S, L*B, I) @ (S, I, 4H).
        np.matmul(x[:, blk].reshape(S, L * B, I), w_ih_t, out=z_blk)
        if bias is not None:
            z_blk += (bias * scale[0, 0])[:, None, :]
        gate_views = np.split(z[:, blk], 4, axis=-1)
        for z_t, i, f, g, o, h_prev, c_prev, c_t, tc_t, h_t in _steps(
                z[:, blk], *gate_views, hs[:, blk], cs[:, blk], cs[:, blk.start + 1:blk.stop + 1], tanh_c[:, blk],
                hs[:, blk.start + 1:blk.stop + 1]):
            np.matmul(h_prev, w_hh_t, out=rec)  # both directions' h_{t-1} W_hh^T in one batched call
            np.add(z_t, rec, out=z_t)  # z = scale * a_t, the full pre-activation
            np.tanh(z_t, out=z_t)  # one tanh for all four gates (see _tanh_form)
            np.multiply(z_t, scale, out=z_t)
            np.add(z_t, shift, out=z_t)  # now [i | f | g | o]
            np.multiply(f, c_prev, out=c_t)
            np.multiply(i, g, out=ig)
            np.add(c_t, ig, out=c_t)  # c_t = f * c_{t-1} + i * g
            np.tanh(c_t, out=tc_t)
            np.multiply(o, tc_t, out=h_t)  # h_t = o * tanh(c_t)
    cache = (x, weight_ih, weight_hh, bias is not None, z, hs, cs, tanh_c)
    return (hs[:, 1:], hs[:, -1].copy(), cs[:, -1].copy()), cache


def _local_derivatives(gates, c_prev, tanh_c, coef, dc_dh, f):
    """For one block, the factors of BPTT that do not depend on the carried gradients, in place.

    gates: (S, L, B, 4, H), [i | f | g | o]; c_prev, tanh_c: (S, L, B, H). Writes
    coef (S, L, B, 4, H): dL/da_k = (dL/dc_t for i, f, g; dL/dh_t for o) * coef_k, from
        c_t = f c_{t-1} + i g, h_t = o tanh(c_t), sigmoid' = s (1 - s), tanh' = 1 - tanh^2;
    dc_dh (S, L, B, H) = o (1 - tanh(c_t)^2): dL/dc_t gains dL/dh_t * dc_dh through h_t = o * tanh(c_t);
    f (S, L, B, H): the forget gate, copied to a contiguous array for the step loop.
    """
    i, f_gate, g, o = (gates[..., k, :] for k in range(4))
    np.subtract(1, gates, out=coef)
    coef *= gates  # s (1 - s): sigmoid' of the i, f, o blocks
    dg = coef[..., 2, :]
    np.multiply(g, g, out=dg)
    np.subtract(1, dg, out=dg)  # 1 - g^2: tanh' of the g block
    coef[..., 0, :] *= g  # da_i = dc_t * g * sigmoid'(a_i)
    coef[..., 1, :] *= c_prev  # da_f = dc_t * c_{t-1} * sigmoid'(a_f)
    coef[..., 2, :] *= i  # da_g = dc_t * i * tanh'(a_g)
    coef[..., 3, :] *= tanh_c  # da_o = dh_t * tanh(c_t) * sigmoid'(a_o)
    np.multiply(tanh_c, tanh_c, out=dc_dh)
    np.subtract(1, dc_dh, out=dc_dh)
    dc_dh *= o
    np.copyto(f, f_gate)


def lstm_backward(grad_out, grad_h_n, grad_c_n, cache):
    """BPTT for ``lstm``: walk the steps backwards carrying dL/dh_t and dL/dc_t.

    grad_out: (S, T, B, H) or None; grad_h_n, grad_c_n: (S, B, H) or None (None: zero).
    Returns (grad_x (S, T, B, I), grad_h0 (S, B, H), grad_c0 (S, B, H), grad_weight_ih (S, 4H, I),
    grad_weight_hh (S, 4H, H), grad_bias (S, 4H) or None); grad_bias is the gradient of b_ih and of b_hh.
    """
    x, weight_ih, weight_hh, has_bias, gates, hs, cs, tanh_c = cache
    S, T, B, H = tanh_c.shape
    for a, name, shape in [(grad_out, "grad_out", (S, T, B, H)), (grad_h_n, "grad_h_n", (S, B, H)),
                           (grad_c_n, "grad_c_n", (S, B, H))]:
        _check_shape(a, f"lstm_backward {name}", shape)
    dtype = x.dtype
    gates = gates.reshape(S, T, B, 4, H)  # [i | f | g | o] of every step, a view
    dh = np.zeros((S, B, H), dtype) if grad_h_n is None else np.array(grad_h_n, dtype)
    dc = np.zeros((S, B, H), dtype) if grad_c_n is None else np.array(grad_c_n, dtype)
    go = np.zeros_like(tanh_c) if grad_out is None else grad_out
    grad_x = np.empty(x.shape, dtype)  # C order, so its blocks reshape to views
    grad_w_ih, grad_w_hh = np.zeros_like(weight_ih), np.zeros_like(weight_hh)
    grad_bias = np.zeros((S, 4 * H), dtype)
    # Per-block work arrays, reused: sized for a full block, sliced for a shorter last one.
    coef, grad_a = np.empty((2, S, BLOCK, B, 4, H), dtype)
    dc_dh, f = np.empty((2, S, BLOCK, B, H), dtype)
    tmp = np.empty((S, B, H), dtype)
    d4 = np.empty((S, B, 4, H), dtype)  # [dc | dc | dc | dh]: the carried gradient each gate's a_k sees
    for blk in reversed(_blocks(T)):
        L = blk.stop - blk.start
        coef_b, ga_b, dcdh_b, f_b = coef[:, :L], grad_a[:, :L], dc_dh[:, :L], f[:, :L]
        _local_derivatives(gates[:, blk], cs[:, blk], tanh_c[:, blk], coef_b, dcdh_b, f_b)
        for go_t, dcdh_t, coef_t, ga_t, f_t in reversed(list(_steps(go[:, blk], dcdh_b, coef_b, ga_b, f_b))):
            np.add(dh, go_t, out=dh)  # h_t feeds out[:, t] and step t+1
            np.multiply(dh, dcdh_t, out=tmp)
            np.add(dc, tmp, out=dc)  # dL/dc_t, complete
            # dL/da_t = [dc | dc | dc | dh] * coef_t: copying dc three times, then one contiguous multiply,
            # is cheaper than a multiply broadcasting dc over the gate axis (short inner loops).
            np.copyto(d4[:, :, :3], dc[:, :, None, :])
            np.copyto(d4[:, :, 3], dh)
            np.multiply(d4, coef_t, out=ga_t)
            np.multiply(dc, f_t, out=dc)  # d/dc_{t-1}: c_t = f * c_{t-1} + i * g
            np.matmul(ga_t.reshape(S, B, 4 * H), weight_hh, out=dh)  # d/dh_{t-1}: a_t = ... + h_{t-1} W_hh^T
        # The block's parameter and input gradients, one product each (the rows are (t, b) pairs).
        ga = ga_b.reshape(S, L * B, 4 * H)
        ga_t = ga.transpose(0, 2, 1)
        grad_w_hh += ga_t @ hs[:, blk].reshape(S, L * B, H)  # sum_t da_t^T h_{t-1}
        grad_w_ih += ga_t @ x[:, blk].reshape(S, L * B, -1)  # sum_t da_t^T x_t
        np.matmul(ga, weight_ih, out=grad_x[:, blk].reshape(S, L * B, -1))  # a_t = x_t W_ih^T + ...
        grad_bias += ga.sum(axis=1)  # a_t = ... + b_ih + b_hh
    return grad_x, dh, dc, grad_w_ih, grad_w_hh, grad_bias if has_bias else None
