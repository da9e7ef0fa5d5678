"""numpy-attn: attention mechanisms for time-series learning in pure NumPy.

Three parts:

- the textbook: ``functional`` (every op and its backward in plain NumPy, written to be read), ``nn``
  (modules that mirror ``torch.nn``), ``optim``, ``models`` (the classifiers) and ``gradcheck``;
- the speed wing: ``kernels``, the fast twins of seven textbook ops and their machinery (tiles, threads,
  kept arrays), each tested equal to its twin; ``nn`` runs them;
- the tasks: ``tasks`` (the synthetic anomaly task, the training loop, checkpoints, metrics, plots, the
  ``numpy-attn`` command) and ``datasets`` (readers and bundled series of the UCR/UEA archives).

Every forward has a hand-written backward next to it; PyTorch is used only in ``torch_ref`` and the
tests, as an independent oracle.
"""

from . import functional, gradcheck, kernels, nn, optim

__version__ = "0.1.0"
__all__ = ["functional", "gradcheck", "kernels", "nn", "optim"]
