"""LSTM, PyTorch's equations: one cell step and a whole sequence, each with its backward (BPTT).

With hidden size H, the weights hold the four gates' rows in PyTorch's order i, f, g, o:

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (B, 4H), split as [a_i | a_f | a_g | a_o]
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g                                 (B, H)
    h_t = o * tanh(c_t)                                       (B, H)

Backpropagation through time walks the steps backwards carrying dL/dh_t and dL/dc_t: h_t feeds the
output at t and step t+1, c_t feeds step t+1 through f. ``lstm`` is a plain loop over ``lstm_cell``
and ``lstm_backward`` a plain loop over ``lstm_cell_backward``. Its fast twin is ``numpy_attn.kernels.lstm``.
"""

import numpy as np

from .._validate import as_float_array
from .activation import sigmoid, sigmoid_backward, tanh_backward
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


def lstm(x, h0, c0, weight_ih, weight_hh, bias=None):
    """Run D independent LSTMs over a sequence, each read forward in time.

    D = 1 is one LSTM; a bidirectional layer is D = 2, the reverse direction fed the time-reversed input.
    x: (D, T, B, I); h0, c0: (D, B, H); weight_ih: (D, 4H, I); weight_hh: (D, 4H, H);
    bias: (D, 4H) = b_ih + b_hh (the two biases only ever appear summed), or None.
    Returns ((out (D, T, B, H) with out[:, t] = h_t, h_n (D, B, H), c_n (D, B, H)), cache).
    """
    x = as_float_array(x, "lstm input", ndim=4)
    D, T, B, I = x.shape
    H = weight_hh.shape[-1]
    check_lstm_shapes(x.shape, H, weight_ih, weight_hh, bias, h0, c0)
    out = np.empty((D, T, B, H), x.dtype)
    h_n, c_n = np.empty((2, D, B, H), x.dtype)
    steps = [[] for _ in range(D)]  # steps[d][t]: the cache of direction d's step t
    for d in range(D):
        h, c = h0[d], c0[d]
        b = None if bias is None else bias[d]
        for t in range(T):
            (h, c), step = lstm_cell(x[d, t], h, c, weight_ih[d], weight_hh[d], b)
            out[d, t] = h
            steps[d].append(step)
        h_n[d], c_n[d] = h, c
    return (out, h_n, c_n), (steps, x.shape, x.dtype, weight_ih.shape, weight_hh.shape, bias is not None)


def lstm_backward(grad_out, grad_h_n, grad_c_n, cache):
    """BPTT for ``lstm``. grad_out: (D, T, B, H) or None; grad_h_n, grad_c_n: (D, B, H) or None (None: zero).

    Returns (grad_x (D, T, B, I), grad_h0 (D, B, H), grad_c0 (D, B, H), grad_weight_ih (D, 4H, I),
    grad_weight_hh (D, 4H, H), grad_bias (D, 4H) or None); grad_bias is the gradient of b_ih and of b_hh.
    """
    steps, (D, T, B, I), dtype, w_ih_shape, w_hh_shape, has_bias = cache
    H = w_hh_shape[-1]
    check_lstm_grads((D, T, B, H), grad_out, grad_h_n, grad_c_n)
    grad_x = np.zeros((D, T, B, I), dtype)
    grad_h0, grad_c0 = np.zeros((2, D, B, H), dtype)
    grad_w_ih, grad_w_hh = np.zeros(w_ih_shape, dtype), np.zeros(w_hh_shape, dtype)
    grad_bias = np.zeros((D, 4 * H), dtype) if has_bias else None
    for d in range(D):
        dh = np.zeros((B, H), dtype) if grad_h_n is None else grad_h_n[d]  # dL/dh_T
        dc = np.zeros((B, H), dtype) if grad_c_n is None else grad_c_n[d]  # dL/dc_T
        for t in reversed(range(T)):
            if grad_out is not None:
                dh = dh + grad_out[d, t]  # h_t feeds out[t] and step t+1: the two gradients add
            dx, dh, dc, dw_ih, dw_hh, db, _ = lstm_cell_backward(dh, dc, steps[d][t])  # now dL/dh_{t-1}, dL/dc_{t-1}
            grad_x[d, t] = dx
            grad_w_ih[d] += dw_ih  # the same weights at every step: their gradients add over time
            grad_w_hh[d] += dw_hh
            if has_bias:
                grad_bias[d] += db
        grad_h0[d], grad_c0[d] = dh, dc
    return grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_bias


def check_lstm_shapes(x_shape, H, weight_ih, weight_hh, bias, h0, c0):
    """Every argument of ``lstm`` against x's (D, T, B, I) and the hidden size H."""
    D, T, B, I = x_shape
    for a, name, shape in [(weight_ih, "weight_ih", (D, 4 * H, I)), (weight_hh, "weight_hh", (D, 4 * H, H)),
                           (h0, "h0", (D, B, H)), (c0, "c0", (D, B, H)), (bias, "bias", (D, 4 * H))]:
        check_shape(a, f"lstm {name}", shape)


def check_lstm_grads(out_shape, grad_out, grad_h_n, grad_c_n):
    """The upstream gradients of ``lstm_backward`` against out's (D, T, B, H); None passes."""
    D, T, B, H = out_shape
    for a, name, shape in [(grad_out, "grad_out", (D, T, B, H)), (grad_h_n, "grad_h_n", (D, B, H)),
                           (grad_c_n, "grad_c_n", (D, B, H))]:
        check_shape(a, f"lstm_backward {name}", shape)


def check_shape(a, name, shape):
    """None passes; an array must have exactly ``shape``."""
    if a is not None and a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
