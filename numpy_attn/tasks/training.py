"""A training loop for binary classifiers in NumPy: mini-batches, BCE loss, early stopping, checkpoints.

The model interface (every classifier in ``numpy_attn.models`` follows it):

    model(x: (B, ...)) -> (prob: (B,), alpha: (B, T) or None)   prob = P(anomalous), alpha = attention weights
    model.backward(grad_prob: (B,))                              adds into each Parameter.grad
    model.train() / eval() / state_dict() / load_state_dict(d) / named_parameters()   (an nn.Module)

One step, as in the seed's PyTorch loop:

    optimizer.zero_grad(); prob, _ = model(x); loss = BCE(prob, y); model.backward(dloss/dprob); optimizer.step()

Epochs and batches are counted from 1 in callbacks, messages and ``History`` (as they are printed).
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .._validate import as_float_array, as_generator
from ..kernels.blas import limit_blas_threads
from ..nn import BCELoss
from .checkpoint import save_checkpoint

@dataclass
class History:
    """What ``fit`` did, one entry per epoch run: mean train loss, validation loss, wall seconds.

    best_epoch: the epoch (from 1) with the lowest validation loss, whose weights the model holds after fit.
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False

    @property
    def best_val_loss(self):
        return self.val_loss[self.best_epoch - 1] if self.best_epoch else float("inf")

    def to_dict(self):
        return {
            "train_loss": list(self.train_loss),
            "val_loss": list(self.val_loss),
            "epoch_seconds": list(self.epoch_seconds),
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
        }


def iterate_minibatches(n, batch_size, shuffle=False, rng=None):
    """Yield index arrays that cover range(n) once, ``batch_size`` at a time (the last may be shorter).

    shuffle: a fresh permutation from ``rng`` (seed or Generator) each call; otherwise in order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    for begin in range(0, n, batch_size):
        yield order[begin : begin + batch_size]


def fit(
    model,
    optimizer,
    X_train,
    y_train,
    X_val,
    y_val,
    epochs=15,
    batch_size=32,
    patience=5,
    rng=None,
    checkpoint=None,
    checkpoint_meta=None,
    on_batch=None,
    on_epoch=None,
    blas_threads=1,
):
    """Train ``model`` with ``optimizer`` on BCE(prob, y); return a ``History``.

    X_train: (N, ...) in the model's dtype, y_train: (N,) 0/1; X_val, y_val: the validation split.
    Each epoch shuffles the training set with ``rng``, then scores the validation set in eval mode.
    Early stopping: after ``patience`` epochs in a row without a lower validation loss, stop (None: never).
    At the end the model holds the weights of the best epoch (a copy kept in memory).
    checkpoint: a path; when given, the best weights are saved there (``save_checkpoint``, with
    ``checkpoint_meta`` plus best_epoch and val_loss) each time the validation loss improves. Nothing is
    written when it is None.
    on_batch(epoch, batch, n_batches, loss) after every step; on_epoch(epoch, train_loss, val_loss) after
    every epoch. A NaN or inf output, gradient or validation loss raises FloatingPointError naming the
    epoch and batch, before the optimizer step could spread it into the weights; the model is given back
    its best weights so far.
    blas_threads: at most this many threads for NumPy's BLAS while training (None: as configured). One by
    default: these models' products are small, and an idle OpenBLAS thread busy-waits after each one,
    taking a core from the elementwise work (``numpy_attn/blas.py`` has the measurements).
    """
    X_train, y_train = _split_arrays(X_train, y_train, "train")
    X_val, y_val = _split_arrays(X_val, y_val, "val")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    if epochs < 1:
        raise ValueError(f"epochs: expected a positive integer, got {epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience: expected a positive integer or None, got {patience}")
    rng = as_generator(rng)
    loss_fn = BCELoss()
    history, best_state, waited = History(), None, 0

    with limit_blas_threads(blas_threads):  # see numpy_attn/blas.py: one thread is the faster here
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            train_loss = _train_epoch(model, optimizer, loss_fn, X_train, y_train, batch_size, rng, epoch,
                                      best_state, on_batch)
            # In training batches: the forward then needs no more memory than a training step does. With
            # fit's own BLAS threads: None keeps the limit set above.
            val_loss = evaluate_loss(model, X_val, y_val, batch_size=batch_size, blas_threads=None)
            _check_finite(val_loss, f"epoch {epoch}: the validation loss", model, best_state)

            history.train_loss.append(train_loss)
            history.val_loss.append(val_loss)
            history.epoch_seconds.append(time.perf_counter() - started)
            history.epochs_run = epoch
            if val_loss < history.best_val_loss:
                history.best_epoch, best_state, waited = epoch, model.state_dict(), 0
                if checkpoint is not None:
                    meta = {**(checkpoint_meta or {}), "best_epoch": epoch, "val_loss": val_loss}
                    save_checkpoint(checkpoint, best_state, meta)
            else:
                waited += 1
            if on_epoch is not None:
                on_epoch(epoch, history.train_loss[-1], val_loss)
            if patience is not None and waited >= patience:
                history.stopped_early = epoch < epochs
                break

    model.load_state_dict(best_state)
    return history


def _train_epoch(model, optimizer, loss_fn, X, y, batch_size, rng, epoch, best_state, on_batch):
    """One pass over (X, y) in shuffled mini-batches, one optimizer step each; returns the mean loss."""
    model.train()
    n_batches = -(-len(y) // batch_size)
    total = 0.0
    for batch, idx in enumerate(iterate_minibatches(len(y), batch_size, True, rng), start=1):
        where = f"epoch {epoch}, batch {batch}/{n_batches}"
        optimizer.zero_grad()
        prob, _ = model(X[idx])
        _check_finite(prob, f"{where}: the model's output", model, best_state)
        loss = loss_fn(prob, y[idx].astype(prob.dtype))
        model.backward(loss_fn.backward())
        for name, p in model.named_parameters():  # stop before a step could spread NaN into the weights
            if p.grad is not None:
                _check_finite(p.grad, f"{where}: the gradient of {name}", model, best_state)
        optimizer.step()
        total += loss * len(idx)
        if on_batch is not None:
            on_batch(epoch, batch, n_batches, loss)
    return total / len(y)


def predict(model, X, batch_size=256, blas_threads=1):
    """Run ``model`` in eval mode over X (N, ...) in batches; return (prob (N,), alpha (N, T) or None).

    The model's train/eval mode is restored afterwards. blas_threads: as in ``fit``.
    """
    if len(X) == 0:
        raise ValueError("predict: X holds no series")
    was_training = model.training
    model.eval()
    probs, alphas = [], []
    try:
        with limit_blas_threads(blas_threads):
            for idx in iterate_minibatches(len(X), batch_size):
                prob, alpha = model(X[idx])
                probs.append(prob)
                alphas.append(alpha)
    finally:
        model.train(was_training)
    alpha = None if alphas[0] is None else np.concatenate(alphas)
    return np.concatenate(probs), alpha


def evaluate_loss(model, X, y, batch_size=256, blas_threads=1):
    """Mean BCE of the model's predictions on (X, y), in eval mode. blas_threads: as in ``fit``."""
    prob, _ = predict(model, X, batch_size, blas_threads)
    if not np.isfinite(prob).all():
        return float("nan")
    return BCELoss()(prob, np.asarray(y, dtype=prob.dtype))


def _split_arrays(X, y, name):
    X, y = as_float_array(X, f"X_{name}", min_ndim=1), np.asarray(y)
    if y.ndim != 1 or len(X) != len(y) or len(y) == 0:
        raise ValueError(f"X_{name}, y_{name}: expected N >= 1 series and N labels, got shapes {X.shape} and {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_{name}: expected labels 0 or 1, got values {np.unique(y)[:5].tolist()}")
    return X, y


def _check_finite(value, what, model, best_state):
    """Stop training with a clear error when ``value`` holds NaN or inf; the model gets back its best weights."""
    if np.isfinite(value).all():
        return
    if best_state is not None:
        model.load_state_dict(best_state)
        restored = "the model was given back its best weights so far"
    else:
        restored = "no epoch finished, so the model keeps the weights it had at the failure"
    raise FloatingPointError(
        f"{what} is NaN or inf; training stopped ({restored}). Try a lower learning rate or scaled inputs."
    )
