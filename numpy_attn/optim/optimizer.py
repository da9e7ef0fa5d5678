"""``Optimizer`` base: a list of Parameters, per-parameter state, ``zero_grad`` and ``step``.

Hyper-parameters are checked as ``torch.optim`` checks them (a negative or NaN lr, eps, weight_decay or
momentum, a beta outside [0, 1)), and infinities are refused too: PyTorch accepts lr = inf, whose first
step turns every weight into inf or NaN.
"""

import math
from numbers import Real

from ..nn.module import Parameter


def check_hyperparameter(value, name, non_negative=True):
    """Refuse ``value`` with a ValueError naming ``name`` unless it is a finite real number (and >= 0 when
    ``non_negative``)."""
    if not (isinstance(value, Real) and math.isfinite(value) and (value >= 0 or not non_negative)):
        kind = "finite non-negative number" if non_negative else "finite number"
        raise ValueError(f"{name}: expected a {kind}, got {value!r}")


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer expects numpy_attn.nn.Parameter objects, got {type(p).__name__}")
        check_hyperparameter(lr, "lr")
        self.lr = lr
        self.state = {id(p): {} for p in self.params}

    def zero_grad(self):
        """``grad = None`` for every parameter (PyTorch's default ``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient; those with ``grad is None`` are skipped, as in PyTorch."""
        for p in self.params:
            if p.grad is not None:
                self._update(p, p.grad, self.state[id(p)])

    def _update(self, p, grad, state):
        raise NotImplementedError
