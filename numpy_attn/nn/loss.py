"""Loss modules: ``loss(input, target) -> float`` and ``loss.backward() -> grad_input``."""

from .. import functional as F
from .module import Module


class _Loss(Module):
    """Wraps a functional loss pair. With reduction 'none' forward returns the per-element array and
    backward needs ``grad_output`` of that shape; otherwise forward returns a float."""

    fn = fn_backward = None

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        loss, self._cache = type(self).fn(input, target, reduction=self.reduction)
        return loss if self.reduction == "none" else float(loss)

    def backward(self, grad_output=None):
        """Gradient of the loss with respect to ``input``; ``grad_output`` defaults to 1."""
        return type(self).fn_backward(grad_output, self._saved())

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """mean (x - y)^2."""

    fn, fn_backward = staticmethod(F.mse_loss), staticmethod(F.mse_loss_backward)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities, logs clamped at -100 as in PyTorch."""

    fn, fn_backward = staticmethod(F.binary_cross_entropy), staticmethod(F.binary_cross_entropy_backward)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, computed stably."""

    fn = staticmethod(F.binary_cross_entropy_with_logits)
    fn_backward = staticmethod(F.binary_cross_entropy_with_logits_backward)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (N, C) against class indices (N,); ``ignore_index`` rows are skipped.
    label_smoothing e: the target is (1 - e) onehot(y) + e / C (``functional.cross_entropy``), as PyTorch's."""

    fn, fn_backward = staticmethod(F.cross_entropy), staticmethod(F.cross_entropy_backward)

    def __init__(self, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        loss, self._cache = F.cross_entropy(input, target, self.reduction, self.ignore_index, self.label_smoothing)
        return loss if self.reduction == "none" else float(loss)
