"""nn.LSTM against torch.nn.LSTM (float32): forward+backward and forward alone.

The seed's shape: batch 32, length 500, input 1, hidden 32, bidirectional, batch_first; then hidden 128,
and a longer sequence. Forward alone is timed under ``no_grad`` on both sides (``nn.no_grad``: the kernel
keeps one step's gates instead of all T; torch's fastest inference path).
The textbook column runs ``functional.lstm`` / ``lstm_backward`` (a loop over ``lstm_cell``) on the same
weights, both directions of one layer, as ``nn.LSTM`` runs the kernel.
"""

import numpy as np
import torch

from numpy_attn import functional as F
from numpy_attn import nn

from .harness import Case


def _models(b, t, d_in, hidden, num_layers):
    """A NumPy LSTM, a torch LSTM holding the same weights, an input and an upstream gradient (float32)."""
    model = nn.LSTM(d_in, hidden, num_layers, batch_first=True, bidirectional=True, rng=0)
    ref = torch.nn.LSTM(d_in, hidden, num_layers, batch_first=True, bidirectional=True)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, t, d_in)).astype(np.float32)
    grad = rng.standard_normal((b, t, 2 * hidden)).astype(np.float32)
    return model, ref, x, grad


def _numpy(b, t, d_in, hidden, num_layers, backward):
    model, _, x, grad = _models(b, t, d_in, hidden, num_layers)

    def step():
        model.zero_grad()
        model(x)
        model.backward(grad)

    def forward():
        with nn.no_grad():
            model(x)

    return step if backward else forward


def _textbook(b, t, d_in, hidden, backward):
    """One bidirectional layer by the textbook functions: the directions stacked as ``nn.LSTM`` stacks them."""
    model, _, x, grad = _models(b, t, d_in, hidden, 1)
    w_ih, w_hh, bias = model._stacked_weights(0)
    seq = np.swapaxes(x, 0, 1)  # (T, B, I)
    xs = np.stack([seq, seq[::-1]])  # the reverse direction reads the sequence backwards
    h0 = np.zeros((2, b, hidden), np.float32)
    g = np.stack(np.split(np.swapaxes(grad, 0, 1), 2, axis=-1))
    g[1] = g[1][::-1]

    def step():
        _, cache = F.lstm(xs, h0, h0, w_ih, w_hh, bias)
        if backward:
            F.lstm_backward(g, None, None, cache)

    return step


def _torch(b, t, d_in, hidden, num_layers, backward, device):
    _, ref, x, grad = _models(b, t, d_in, hidden, num_layers)
    ref = ref.to(device)
    x, grad = torch.from_numpy(x).to(device), torch.from_numpy(grad).to(device)

    def step():
        ref.zero_grad()
        out, _ = ref(x)
        out.backward(grad)

    def forward():
        with torch.no_grad():
            ref(x)

    return step if backward else forward


def _case(b, t, d_in, hidden, num_layers=1, backward=True):
    what = "fwd+bwd" if backward else "fwd"
    layers = f", {num_layers} layers" if num_layers > 1 else ""
    args = (b, t, d_in, hidden, num_layers, backward)
    # per step and direction: 4H x (in + H) multiply-adds forward, twice that backward
    flops = 2 * 2 * t * b * 4 * hidden * (d_in + hidden) * (3 if backward else 1) * num_layers
    textbook = (lambda: _textbook(b, t, d_in, hidden, backward)) if num_layers == 1 else None
    return Case(f"BiLSTM {what}", f"x ({b},{t},{d_in}), H={hidden}{layers}",
                lambda: _numpy(*args), lambda dev: _torch(*args, dev), flops=flops, textbook=textbook)


CASES = [
    _case(32, 500, 1, 32),
    _case(32, 500, 1, 32, backward=False),
    _case(32, 500, 1, 128),
    _case(32, 2000, 1, 32),
    _case(32, 500, 64, 64, num_layers=2),
]
