"""The anomaly task's PyTorch backend: the numpy_attn model's twin from ``torch_ref.models``, started
from the same weights, trained by ``torch_ref.train.fit`` on CPU or CUDA, its kept weights copied back."""

import math

import numpy as np
import torch

from numpy_attn.tasks.anomaly import grad_norm_cap, lr_schedule, series_grad_norm_cap, spike_factor
from numpy_attn.tasks.checkpoint import save_checkpoint

from .convert import numpy_to_torch, torch_to_numpy
from .models import MODELS
from .train import fit


def train_like(np_model, config, X_train, y_train, X_val=None, y_val=None, on_batch=None, on_epoch=None,
               lengths_train=None, lengths_val=None, checkpoint=None, checkpoint_meta=None):
    """Train the PyTorch twin of ``np_model``; afterwards ``np_model`` holds the trained weights.
    Without X_val, y_val the twin trains ``config.epochs`` epochs; lengths as in ``torch_ref.train.fit``.
    checkpoint, checkpoint_meta: as in ``numpy_attn.tasks.training.fit``, the kept weights saved (in
    numpy_attn's format, through ``np_model``) each time they change."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': PyTorch sees no CUDA device on this machine")
    twin = MODELS[config.model](input_dim=X_train.shape[-1], **np_model_kwargs(np_model))
    numpy_to_torch(np_model, twin)
    history = fit(twin, X_train, y_train, X_val, y_val, epochs=config.epochs, batch_size=config.batch_size,
                  lr=config.lr, patience=config.patience, rng=np.random.default_rng(config.seed),
                  max_grad_norm=grad_norm_cap(config), lr_schedule=lr_schedule(config),
                  skip_spikes=spike_factor(config), max_series_grad_norm=series_grad_norm_cap(config),
                  device=config.device, on_batch=on_batch, lengths_train=lengths_train, lengths_val=lengths_val,
                  on_epoch=on_epoch if checkpoint is None else _saving(twin, np_model, checkpoint, checkpoint_meta,
                                                                       on_epoch))
    torch_to_numpy(twin.cpu(), np_model)
    return history


def _saving(twin, np_model, checkpoint, meta, on_epoch):
    """An on_epoch that saves the twin's weights to ``checkpoint`` when ``fit`` keeps them (monitor 'loss': each
    lower validation loss; without validation, NaN, every epoch), then calls ``on_epoch``."""
    best = math.inf

    def on_epoch_saving(epoch, train_loss, val_loss):
        nonlocal best
        without_validation = math.isnan(val_loss)
        if without_validation or val_loss < best:
            best = best if without_validation else val_loss
            scores = {} if without_validation else {"val_loss": val_loss}
            save_checkpoint(checkpoint, torch_to_numpy(twin, np_model), {**(meta or {}), "best_epoch": epoch, **scores})
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_loss)

    return on_epoch_saving


def np_model_kwargs(np_model):
    """The constructor arguments the twins share: the BiLSTM models' hidden size, the channels read one by one
    (``bilstm-attention``), the number of classes."""
    kwargs = {name: getattr(np_model, name) for name in ("hidden_dim", "channels") if hasattr(np_model, name)}
    return {**kwargs, "num_classes": getattr(np_model, "num_classes", None)}
