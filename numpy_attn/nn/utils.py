"""``nn.utils.clip_grad_norm_``, as ``torch.nn.utils.clip_grad_norm_``: cap the length of a training step's
gradient, every Parameter's gradient taken together as one vector; ``get_total_norm``, that length."""

import math

import numpy as np

from .._validate import is_real


def clip_grad_norm_(parameters, max_norm):
    """Rescale the gradients of ``parameters`` in place so that their joint 2-norm is at most ``max_norm``:

        ||g|| = sqrt(sum over Parameters p of sum(p.grad^2)),   p.grad <- p.grad * min(1, max_norm / (||g|| + 1e-6))

    The direction of the step is kept and only a long one is shortened, so a rare spike of the gradient (a
    few batches whose loss surface is steep) cannot throw the weights far. The 1e-6 is PyTorch's. Parameters
    whose grad is None are skipped. Returns ||g|| before clipping, a float (summed in float64).
    """
    if not (is_real(max_norm) and 0 < max_norm < math.inf):
        raise ValueError(f"max_norm: expected a finite number > 0, got {max_norm!r}")
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads)
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads:
            g *= g.dtype.type(scale)
    return total


def get_total_norm(tensors):
    """The joint 2-norm of ``tensors`` (a step's gradients, say) taken together as one vector, as
    ``torch.nn.utils.get_total_norm``: sqrt(sum over tensors g of sum(g^2)), summed in float64; a float."""
    return math.sqrt(sum(float(np.einsum("i,i->", g.ravel(), g.ravel(), dtype=np.float64)) for g in tensors))
