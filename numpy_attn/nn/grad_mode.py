"""``no_grad``: a block whose forward passes will not be followed by a backward, as ``torch.no_grad``.

PyTorch's autograd keeps each op's inputs for the backward unless told otherwise; here every module keeps
its own cache. Inside a ``no_grad`` block a module may keep none and compute its output more cheaply:
``nn.LSTM`` then writes each step's gates and cell over the last step's instead of keeping all T of
them (``kernels.lstm``, keep_cache=False), so they stay in the CPU's cache. The outputs are the same
numbers. A backward after such a forward is refused: it has nothing to go back through.
``training.predict`` and ``training.evaluate_loss`` run their forwards in one.
"""

import contextvars
from contextlib import contextmanager

_enabled = contextvars.ContextVar("numpy_attn_grad_enabled", default=True)


@contextmanager
def no_grad():
    """``with no_grad(): out = model(x)``: forwards that keep nothing for a backward (nested blocks: one)."""
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)


def is_grad_enabled():
    """False inside a ``no_grad`` block, as ``torch.is_grad_enabled``."""
    return _enabled.get()
