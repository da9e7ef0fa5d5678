"""A short training run of the classify task's default model on each bundled dataset (``numpy-attn train
--data NAME``): NumPy's ``training.fit`` against ``torch_ref.train.fit`` on the same inputs, from the same weights.

A run is EPOCHS epochs over the whole training split in the default preprocessing, batch, learning rate, label
smoothing and noise (each side draws the same noise from the same generator, as the first three quarters of a
default run do), the series at their own lengths (JapaneseVowels' 7 to 26 steps); no validation split and a
constant learning rate, which changes neither side's work per step. Both sides keep training across repeats,
which changes the weights and not the work.
"""

import numpy as np

from numpy_attn import optim
from numpy_attn.datasets import load, names
from numpy_attn.tasks.classify import ClassifyConfig, Preprocessing, build_classifier
from numpy_attn.tasks.training import fit
from torch_ref.convert import numpy_to_torch
from torch_ref.models import MODELS
from torch_ref.train import fit as torch_fit

from .harness import Case

EPOCHS = 3


def _task(name):
    """The default config, its NumPy model with the rebuilding kwargs, and the training split as the model
    sees it: (X (N, T, C'), y (N,), lengths (N,))."""
    config = ClassifyConfig(data=name)
    data = load(name)
    prep = Preprocessing.fit(data.X_train, data.lengths_train, config.znorm, config.features)
    X = prep(data.X_train, data.lengths_train)
    model, kwargs = build_classifier(config.model, X.shape[-1], len(data.class_names), config.hidden, config.seed)
    return config, model, kwargs, (X, data.y_train, data.lengths_train)


def _numpy_run(name):
    def build():
        config, model, _, (X, y, lengths) = _task(name)
        opt = optim.Adam(model.parameters(), lr=config.lr)
        rng = np.random.default_rng(config.seed)
        return lambda: fit(model, opt, X, y, epochs=EPOCHS, batch_size=config.batch_size, patience=None, rng=rng,
                           lengths_train=lengths, label_smoothing=config.label_smoothing, noise=config.noise,
                           noise_p=config.noise_p)
    return build


def _torch_run(name):
    def build(device):
        config, model, kwargs, (X, y, lengths) = _task(name)
        twin = MODELS[config.model](input_dim=X.shape[-1], **kwargs)
        numpy_to_torch(model, twin)
        rng = np.random.default_rng(config.seed)
        return lambda: torch_fit(twin, X, y, epochs=EPOCHS, batch_size=config.batch_size, lr=config.lr,
                                 patience=None, rng=rng, device=device, lengths_train=lengths,
                                 label_smoothing=config.label_smoothing, noise=config.noise, noise_p=config.noise_p)
    return build


def _shape(name):
    data = load(name)
    lengths = data.lengths_train
    steps = f"{lengths.min()}-{lengths.max()}" if lengths.min() < lengths.max() else f"{lengths.max()}"
    return (f"{len(lengths)} x ({steps}, {data.X_train.shape[-1]}), {len(data.class_names)} classes, "
            f"{EPOCHS} epochs")


CASES = [Case(f"classify {name} ({ClassifyConfig().model})", _shape(name), _numpy_run(name), _torch_run(name))
         for name in names()]
