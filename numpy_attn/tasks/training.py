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
    chance_loss: the validation loss of a model that knows nothing about the series and always predicts
    the training set's share of label 1 (``chance_loss``; log 2 = 0.693 with balanced classes).
    beat_chance: whether the best validation loss is below ``chance_loss``. False means the model learned
    nothing the label frequencies do not already tell (too high a learning rate, say): warn about the run.
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    chance_loss: float = float("nan")

    @property
    def best_val_loss(self):
        return self.val_loss[self.best_epoch - 1] if self.best_epoch else float("inf")

    @property
    def beat_chance(self):
        return self.best_val_loss < self.chance_loss

    def to_dict(self):
        return {
            "train_loss": list(self.train_loss),
            "val_loss": list(self.val_loss),
            "epoch_seconds": list(self.epoch_seconds),
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "chance_loss": self.chance_loss,
            "beat_chance": self.beat_chance,
        }


def chance_loss(y_train, y_val):
    """BCE on ``y_val`` of the constant prediction p = mean(y_train), the frequency of label 1 in training:

        -(q log p + (1 - q) log(1 - p)),  q = mean(y_val)    (logs clamped at -100, as in ``BCELoss``)

    What a model that ignores the series scores (at best, when both splits share one label frequency); a
    model that learned something scores lower.
    """
    y_val = np.asarray(y_val, dtype=np.float64)
    return BCELoss()(np.full(len(y_val), np.mean(y_train, dtype=np.float64)), y_val)


def check_fit_options(epochs, batch_size, patience):
    """Refuse loop settings ``fit`` cannot run: epochs and batch_size positive integers, patience one or None.

    The PyTorch trainer (``torch_ref.train.fit``) makes the same checks with the same messages.
    """
    if not _is_positive_int(batch_size):
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if not _is_positive_int(epochs):
        raise ValueError(f"epochs: expected a positive integer, got {epochs!r}")
    if patience is not None and not _is_positive_int(patience):
        raise ValueError(f"patience: expected a positive integer or None, got {patience!r}")


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def training_stopped(error, best_epoch):
    """The FloatingPointError a trainer raises after ``error`` (what went wrong, where) once it has put back
    the last good weights: those of ``best_epoch``, or the starting ones when no epoch finished (0)."""
    held = (f"the model holds the weights of its best epoch, {best_epoch}" if best_epoch
            else "no epoch finished, so the model holds the weights it started with")
    return FloatingPointError(f"{error}; training stopped ({held}). Try a lower learning rate or scaled inputs.")


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
    every epoch. A NaN or inf output, gradient, weight after the optimizer step, or validation loss raises
    FloatingPointError naming the epoch and batch (and for a weight, the optimizer's ``lr``); the model is
    given back its last good weights: the best epoch's, or those it started with when no epoch finished.
    A run whose validation loss never fell below ``History.chance_loss`` ends normally, with
    ``History.beat_chance`` False.
    blas_threads: at most this many threads for NumPy's BLAS while training (None: as configured). One by
    default: these models' products are small, and an idle OpenBLAS thread busy-waits after each one,
    taking a core from the elementwise work (``kernels/blas.py``; the figures are in docs/performance.md).
    """
    X_train, y_train = _split_arrays(X_train, y_train, "train")
    X_val, y_val = _split_arrays(X_val, y_val, "val")
    check_fit_options(epochs, batch_size, patience)
    rng = as_generator(rng)
    loss_fn = BCELoss()
    history, waited = History(chance_loss=chance_loss(y_train, y_val)), 0
    best_state = model.state_dict()  # the starting weights, until an epoch does better

    with limit_blas_threads(blas_threads):  # see kernels/blas.py: one thread is the faster here
        try:
            for epoch in range(1, epochs + 1):
                started = time.perf_counter()
                train_loss = _train_epoch(model, optimizer, loss_fn, X_train, y_train, batch_size, rng, epoch,
                                          on_batch)
                # In training batches: the forward then needs no more memory than a training step does. With
                # fit's own BLAS threads: None keeps the limit set above.
                val_loss = evaluate_loss(model, X_val, y_val, batch_size=batch_size, blas_threads=None)
                _check_finite(val_loss, f"epoch {epoch}: the validation loss")

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
        except FloatingPointError as error:
            model.load_state_dict(best_state)
            raise training_stopped(error, history.best_epoch) from None

    model.load_state_dict(best_state)
    return history


def _train_epoch(model, optimizer, loss_fn, X, y, batch_size, rng, epoch, on_batch):
    """One pass over (X, y) in shuffled mini-batches, one optimizer step each; returns the mean loss.

    Checked at every step: the output, then each gradient before the step could spread a NaN into the
    weights, then each updated weight (a finite gradient times a huge learning rate can still overflow).
    """
    model.train()
    n_batches = -(-len(y) // batch_size)
    total = 0.0
    for batch, idx in enumerate(iterate_minibatches(len(y), batch_size, True, rng), start=1):
        where = f"epoch {epoch}, batch {batch}/{n_batches}"
        optimizer.zero_grad()
        prob, _ = model(X[idx])
        _check_finite(prob, f"{where}: the model's output")
        loss = loss_fn(prob, y[idx].astype(prob.dtype))
        model.backward(loss_fn.backward())
        updated = [(name, p) for name, p in model.named_parameters() if p.grad is not None]
        for name, p in updated:
            _check_finite(p.grad, f"{where}: the gradient of {name}")
        optimizer.step()
        for name, p in updated:
            _check_finite(p.data, f"{where}: {name} after the optimizer step (lr {optimizer.lr:g})")
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


def _check_finite(value, what):
    """Raise FloatingPointError("<what> is NaN or inf") unless every entry of ``value`` is finite; ``fit``
    catches it, puts the last good weights back and says so. One sum clears almost every array, as in
    ``numpy_attn._validate.check_finite``; only a sum that is not finite leads to the entrywise test."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf and overflow are what the sum looks for
        if np.isfinite(np.sum(value)) or np.isfinite(value).all():
            return
    raise FloatingPointError(f"{what} is NaN or inf")
