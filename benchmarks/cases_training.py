"""One training epoch of the anomaly task's default model (``numpy-attn train`` with its defaults):
NumPy's ``training.fit`` against ``torch_ref.train.fit`` on the same data, from the same weights.

An epoch is what the CLI runs: 110 Adam steps over the 3500 training series (batch 32, length 500,
features [x, dx]) and a loss over the 750 validation series. Both sides keep training across repeats,
which changes the weights and not the work.
"""

import numpy as np

from numpy_attn import optim
from numpy_attn.tasks.anomaly import TrainConfig, build_model, prepare_data
from numpy_attn.tasks.training import fit
from torch_ref.convert import numpy_to_torch
from torch_ref.models import MODELS
from torch_ref.train import fit as torch_fit

from .harness import Case


def _task():
    """The default config, its NumPy model and (X_train, y_train, X_val, y_val), as ``numpy-attn train``."""
    config = TrainConfig()
    dataset, (train_idx, val_idx, _), X, _ = prepare_data(config)
    model, _ = build_model(config.model, X.shape[-1], config.hidden, config.seed)
    return config, model, (X[train_idx], dataset.y[train_idx], X[val_idx], dataset.y[val_idx])


def _numpy_epoch():
    config, model, data = _task()
    opt = optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    return lambda: fit(model, opt, *data, epochs=1, batch_size=config.batch_size, patience=None, rng=rng)


def _torch_epoch(device):
    config, model, data = _task()
    twin = MODELS[config.model](input_dim=data[0].shape[-1], hidden_dim=config.hidden)
    numpy_to_torch(model, twin)
    rng = np.random.default_rng(config.seed)
    return lambda: torch_fit(twin, *data, epochs=1, batch_size=config.batch_size, lr=config.lr, rng=rng,
                             device=device)


CASES = [Case("train epoch (default model)", "3500 x (500, 2), batch 32, BiLSTM H=32 + attention",
              _numpy_epoch, _torch_epoch, max_repeats=3)]
