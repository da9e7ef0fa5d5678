"""``nn.Sequential``: modules applied in order; backward runs the chain in reverse."""

from .module import Module


class Sequential(Module):
    """Children are named '0', '1', ... so state_dict keys match PyTorch (``attention.0.weight``)."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for m in self:
            x = m(x)
        return x

    def backward(self, grad_out):
        for m in reversed(list(self)):  # chain rule: the last layer's input gradient feeds the one before
            grad_out = m.backward(grad_out)
        return grad_out
