"""``Optimizer`` base: a list of Parameters, per-parameter state, ``zero_grad`` and ``step``."""

from ..nn.module import Parameter


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer expects numpy_attn.nn.Parameter objects, got {type(p).__name__}")
        if lr < 0:
            raise ValueError(f"lr: expected a non-negative learning rate, got {lr}")
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
