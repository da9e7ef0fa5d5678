"""numpy-attn: attention mechanisms for time-series learning in pure NumPy.

Every forward has a hand-written backward next to it; PyTorch is used only in ``torch_ref`` and the
tests, as an independent oracle.
"""

from . import functional, gradcheck, nn, optim

__version__ = "0.1.0"
__all__ = ["functional", "gradcheck", "nn", "optim"]
