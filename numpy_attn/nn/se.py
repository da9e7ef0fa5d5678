"""``SEGate``: squeeze-and-excitation (Hu et al. 2018) for sequences, seed 003's gate done per channel.

    s = mean over time of x          (squeeze)             (B, C)
    g = sigmoid(W2 relu(W1 s + b1) + b2)   (excitation)    (B, C), each in (0, 1)
    y = x * g, broadcast over time   (rescale)             (B, T, C)

The choice against the seed: the seed averaged over the FEATURE axis (``AvgPool1d(kernel_size=512)`` on
(B, T, 512)), one number per time step, then blew that single number up with ``Linear(1, 512)``, so the
gate could not tell the features apart. SE squeezes the axis it does NOT gate: averaging over time
gives one summary per channel, and the gate reweights channels from what the whole sequence holds.
``dim=2`` on (B, T, C) swaps the roles and gates time steps from their feature means (the seed's
squeeze), but then ``channels`` must equal T.
"""

import numpy as np

from .._validate import as_float_array, as_generator, check_dtype
from .activation import ReLU, Sigmoid
from .container import Sequential
from .linear import Linear
from .module import Module


class SEGate(Module):
    """y = x * sigmoid(fc(mean of x over ``dim``)), the gate broadcast back over ``dim``.

    fc = Sequential(Linear(channels, channels // reduction), ReLU(), Linear(channels // reduction, channels),
    Sigmoid()), keys ``fc.0.weight``, ``fc.0.bias``, ``fc.2.weight``, ``fc.2.bias`` (hidden size at least 1).
    x: (B, T, C) with the default dim=1 (squeeze over time, gate channels); dim=2 squeezes the last axis
    and gates axis 1 instead. forward -> y (shape of x); backward(grad_y) -> grad_x.
    """

    def __init__(self, channels, reduction=4, dim=1, dtype=np.float32, rng=None):
        super().__init__()
        if dim not in (1, 2, -1):
            raise ValueError(f"SEGate dim: expected 1 (time of (B, T, C)) or 2 / -1, got {dim}")
        rng = as_generator(rng)
        hidden = max(1, channels // reduction)
        self.channels, self.reduction, self.dim = channels, reduction, dim % 3
        self.fc = Sequential(Linear(channels, hidden, dtype=dtype, rng=rng), ReLU(),
                             Linear(hidden, channels, dtype=dtype, rng=rng), Sigmoid())

    def forward(self, x):
        x = as_float_array(x, "SEGate input", ndim=3)
        check_dtype(x, "SEGate input", self.fc[0].weight.dtype)
        gate_axis = 3 - self.dim  # the other non-batch axis
        if x.shape[gate_axis] != self.channels:
            raise ValueError(f"SEGate input: expected {self.channels} channels on axis {gate_axis}, "
                             f"got shape {x.shape}")
        g = np.expand_dims(self.fc(x.mean(axis=self.dim)), self.dim)  # squeeze, excite    (B, 1, C)
        self._cache = (x, g)
        return x * g  # rescale: every step of channel c by g_c

    def backward(self, grad_y):
        x, g = self._saved()
        grad_g = (grad_y * x).sum(axis=self.dim)  # y = x * g, g shared over dim          (B, C)
        grad_s = np.expand_dims(self.fc.backward(grad_g), self.dim)  # through the excitation
        return grad_y * g + grad_s / x.shape[self.dim]  # direct path + s = mean(x): ds/dx = 1/T
