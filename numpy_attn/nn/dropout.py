"""``nn.Dropout``: active in training mode, the identity in eval mode."""

from .. import functional as F
from .._validate import as_generator, check_probability
from .module import Module


class Dropout(Module):
    """forward(x) -> x * mask / (1 - p); the mask comes from ``rng`` (a Generator or a seed)."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        check_probability(p, "Dropout p")
        self.p = p
        self.rng = as_generator(rng)

    def forward(self, x):
        out, mask = F.dropout(x, self.p, self.training, self.rng)
        self._cache = (mask,)  # a tuple, so an identity pass (mask None) still counts as a forward
        return out

    def backward(self, grad_out):
        return F.dropout_backward(grad_out, self._saved()[0])

    def extra_repr(self):
        return f"p={self.p}"
