"""``nn.Softmax``: the kernel of ``functional.softmax`` as a module."""

from .. import kernels as K
from .module import Module


class Softmax(Module):
    """y = softmax(x) over ``dim`` (required: PyTorch's implicit dim is deprecated)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        out, self._cache = K.softmax(x, axis=self.dim)
        return out

    def backward(self, grad_out):
        return K.softmax_backward(grad_out, self._saved())

    def extra_repr(self):
        return f"dim={self.dim}"
