"""SGD with momentum, dampening, Nesterov and L2 weight decay: PyTorch's ``torch.optim.SGD`` update rule."""

from .optimizer import Optimizer, check_hyperparameter


class SGD(Optimizer):
    """g <- g + wd * p;  b <- g (first step) or momentum * b + (1 - dampening) * g;
    g <- g + momentum * b (Nesterov) or b;  p <- p - lr * g."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        check_hyperparameter(momentum, "momentum")
        check_hyperparameter(dampening, "dampening", non_negative=False)  # PyTorch takes any dampening
        check_hyperparameter(weight_decay, "weight_decay")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, p, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * p.data
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * grad
