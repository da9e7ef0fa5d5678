"""Parameter-free elementwise layers, each a thin module around a functional pair: Tanh (its kernel twin),
Sigmoid, ReLU."""

from .. import functional as F
from .. import kernels as K
from .module import Module


class _Elementwise(Module):
    """forward(x) -> fn(x), backward(grad) -> fn_backward(grad); subclasses name the pair."""

    fn = fn_backward = None

    def forward(self, x):
        out, self._cache = type(self).fn(x)
        return out

    def backward(self, grad_out):
        return type(self).fn_backward(grad_out, self._saved())


class Tanh(_Elementwise):
    """y = tanh(x), any shape."""

    fn, fn_backward = staticmethod(K.tanh), staticmethod(K.tanh_backward)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)), any shape."""

    fn, fn_backward = staticmethod(F.sigmoid), staticmethod(F.sigmoid_backward)


class ReLU(_Elementwise):
    """y = max(x, 0), any shape."""

    fn, fn_backward = staticmethod(F.relu), staticmethod(F.relu_backward)
