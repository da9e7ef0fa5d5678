"""``Module`` and ``Parameter``: the bookkeeping half of ``torch.nn.Module``, with an explicit backward.

A module's ``forward`` computes its output and keeps what the backward needs (``self._cache``);
``backward(grad_out)`` returns the gradient with respect to the forward's inputs and **adds** the
parameter gradients into each ``Parameter.grad``, so two backward calls accumulate, as in PyTorch.
"""

from collections import OrderedDict

import numpy as np

from .._validate import require_cache


class Parameter:
    """A trainable array. ``data``: the values; ``grad``: None until a backward adds into it."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def accumulate(self, grad):
        """grad += g (the first call sets it): gradients from several uses of a parameter add up."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype)
        else:
            self.grad += grad

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class. Attributes that are a ``Parameter`` or a ``Module`` are registered by name, so
    ``named_parameters()`` and ``state_dict()`` give PyTorch's dotted keys (``lstm.weight_ih_l0``)."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    def __setattr__(self, name, value):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """A persistent array that is part of the state but not trained (PyTorch's buffers)."""
        object.__setattr__(self, name, np.asarray(array))
        self._buffers[name] = None

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, *grads):
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def _saved(self):
        """What forward kept for backward; a RuntimeError if forward has not run."""
        return require_cache(self._cache, type(self).__name__)

    # --- traversal -----------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self, prefix=""):
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def _named_buffers(self):
        for module_name, module in self.named_modules():
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), module, name

    def zero_grad(self):
        """Forget accumulated gradients (``grad = None``, PyTorch's default ``set_to_none=True``)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    # --- state -----------------------------------------------------------------------------------
    def state_dict(self):
        """An ordered dict of copies: parameter and buffer names -> arrays, in PyTorch's order (module by
        module, each module's parameters then its buffers) with PyTorch's keys and shapes."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                state[prefix + name] = p.data.copy()
            for name in module._buffers:
                state[prefix + name] = np.array(getattr(module, name), copy=True)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values in from a mapping of name -> array-like (NumPy arrays, lists, CPU tensors).

        Raises ValueError naming every missing or unexpected key (when ``strict``) and every
        shape mismatch or non-finite value. Returns ``(missing_keys, unexpected_keys)``.
        """
        params = dict(self.named_parameters())
        buffers = {key: (module, name) for key, module, name in self._named_buffers()}
        own = list(params) + list(buffers)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params and k not in buffers]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        values = {}
        for key in own:
            if key not in state_dict:
                continue
            current = params[key].data if key in params else getattr(*buffers[key])
            value = np.asarray(state_dict[key])
            if value.shape != current.shape:
                problems.append(f"{key}: expected shape {current.shape}, got {value.shape}")
            elif value.dtype.kind in "fc" and not np.isfinite(value).all():
                problems.append(f"{key}: contains NaN or inf")
            else:
                values[key] = value.astype(current.dtype)
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for key, value in values.items():
            if key in params:
                params[key].data = value
            else:
                object.__setattr__(*buffers[key], value)
        return missing, unexpected

    def __repr__(self):
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""
