"""Adam and AdamW with PyTorch's exact update (``torch.optim.Adam`` / ``AdamW``, single-tensor path).

    t <- t + 1
    Adam:  g <- g + wd * p            (L2 penalty folded into the gradient)
    AdamW: p <- p * (1 - lr * wd)     (decoupled weight decay)
    m <- m + (1 - beta1) * (g - m)    (= beta1 m + (1 - beta1) g, PyTorch's lerp)
    v <- beta2 v + (1 - beta2) g^2
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""

from numbers import Real

import numpy as np

from .optimizer import Optimizer, check_hyperparameter


class Adam(Optimizer):
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(isinstance(b, Real) and 0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}")
        check_hyperparameter(eps, "eps")
        check_hyperparameter(weight_decay, "weight_decay")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, p, grad, state):
        beta1, beta2 = self.betas
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
        state["step"] += 1
        t = state["step"]
        if self.weight_decay and self.decoupled_weight_decay:
            p.data *= 1.0 - self.lr * self.weight_decay
        elif self.weight_decay:
            grad = grad + self.weight_decay * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1.0 - beta1) * (grad - m)
        v *= beta2
        v += (1.0 - beta2) * grad * grad
        step_size = self.lr / (1.0 - beta1**t)
        denom = np.sqrt(v) / np.sqrt(1.0 - beta2**t) + self.eps
        p.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2, as in PyTorch)."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
