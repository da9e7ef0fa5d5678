"""A training loop for the classifiers in NumPy: mini-batches, the loss the model's head calls for, early
stopping on a validation split (or a fixed number of epochs without one), checkpoints.

The model interface (every classifier in ``numpy_attn.models`` follows it):

    model(x: (B, T, ...), lengths=None) -> (out, alpha: (B, T) or None)      alpha = attention weights
        binary head (``model.num_classes`` None or absent): out = P(class 1) (B,)
        K classes (``model.num_classes`` = K):               out = logits (B, K)
    model.backward(grad_out)                                     adds into each Parameter.grad
    model.train() / eval() / state_dict() / load_state_dict(d) / named_parameters()   (an nn.Module)

One step, as in the seed's PyTorch loop:

    optimizer.zero_grad(); out, _ = model(x); loss = criterion(out, y); model.backward(dloss/dout); optimizer.step()

criterion: ``BCELoss`` on P(class 1) against labels 0/1 (binary), ``CrossEntropyLoss`` on the logits against
class indices 0..K-1 (K classes: the softmax and the log in one stable step), with ``label_smoothing`` when
``fit`` is given one.

Series of different lengths: pass ``lengths`` (N,) with X padded to the longest (N, T, C); each batch is cut
to the longest series it holds and the model is given the batch's lengths (``model(x, lengths)``).

Epochs and batches are counted from 1 in callbacks, messages and ``History`` (as they are printed).
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import functional as F
from .._validate import NonFiniteError, as_float_array, as_generator, is_int, is_real
from ..kernels.blas import limit_blas_threads
from ..nn import BCELoss, CrossEntropyLoss, no_grad
from ..nn.lstm import as_lengths
from ..nn.utils import clip_grad_norm_, get_total_norm
from .checkpoint import save_checkpoint

MONITORS = ("loss", "accuracy")
SCHEDULES = ("cosine", "constant")  # the learning rate over the epochs: cosine_lr, or lr throughout
SPIKE_WINDOW = 100  # a step's gradient norm is a spike against the median of this many steps before it


@dataclass
class History:
    """What ``fit`` did, one entry per epoch run: mean train loss, validation loss and accuracy, wall seconds.

    best_epoch: the epoch (from 1) whose weights the model holds after fit: the best by ``monitor`` (see
    ``fit``), or, trained without validation, the last one.
    chance_loss: the loss of a model that knows nothing about the series and always predicts the training
    set's label frequencies (``chance_loss``; log 2 = 0.693 for two balanced classes, log K for K), on the
    validation labels, or on the training labels when there is no validation split.
    beat_chance: whether the kept epoch's validation loss (without validation: the last epoch's training
    loss) is below ``chance_loss``. False means the model learned nothing the label frequencies do not
    already tell (too high a learning rate, say): warn about the run.
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    chance_loss: float = float("nan")
    monitor: str = "loss"

    @property
    def best_val_loss(self):
        """The kept epoch's validation loss: inf before any epoch, NaN without validation."""
        if not self.best_epoch:
            return float("inf")
        return self.val_loss[self.best_epoch - 1] if self.val_loss else float("nan")

    @property
    def beat_chance(self):
        loss = self.best_val_loss if self.val_loss or not self.train_loss else self.train_loss[-1]
        return loss < self.chance_loss

    @classmethod
    def for_run(cls, y_train, y_val, num_classes, monitor):
        """An empty History whose chance loss is that of ``y_val`` (``y_train`` without validation)."""
        y_scored = y_train if y_val is None else y_val
        return cls(chance_loss=chance_loss(y_train, y_scored, num_classes), monitor=monitor)

    @property
    def epochs_since_best(self):
        """Epochs run since the kept one: what ``patience`` is measured against (0 without validation)."""
        return self.epochs_run - self.best_epoch

    def out_of_patience(self, patience, epochs):
        """Whether early stopping ends the run now: ``patience`` epochs in a row without a kept one (None:
        never). Records ``stopped_early``: True when some of the ``epochs`` were left."""
        if patience is None or self.epochs_since_best < patience:
            return False
        self.stopped_early = self.epochs_run < epochs
        return True

    def record_epoch(self, train_loss, seconds, val_loss=None, val_accuracy=None):
        """Append one epoch; return True when its weights are the ones to keep from now on: without
        validation every epoch's, else the best one's by ``monitor``, lower first (``_rank``)."""
        self.epochs_run += 1
        self.train_loss.append(train_loss)
        self.epoch_seconds.append(seconds)
        if val_loss is not None:
            self.val_loss.append(val_loss)
            self.val_accuracy.append(val_accuracy)
        if val_loss is None or not self.best_epoch or self._rank(self.epochs_run) < self._rank(self.best_epoch):
            self.best_epoch = self.epochs_run
            return True
        return False

    def _rank(self, epoch):
        """'loss': (validation loss,); 'accuracy': (-validation accuracy, validation loss), ties on
        accuracy broken by the loss. Compared as tuples, lower is better."""
        loss = self.val_loss[epoch - 1]
        return (loss,) if self.monitor == "loss" else (-self.val_accuracy[epoch - 1], loss)

    def to_dict(self):
        return {
            "train_loss": list(self.train_loss),
            "val_loss": list(self.val_loss),
            "val_accuracy": list(self.val_accuracy),
            "epoch_seconds": list(self.epoch_seconds),
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "chance_loss": self.chance_loss,
            "beat_chance": self.beat_chance,
            "monitor": self.monitor,
        }


def chance_loss(y_train, y_val, num_classes=None):
    """The loss on ``y_val`` of the constant prediction of the training label frequencies, logs clamped at
    -100 as in ``BCELoss``:

        binary (num_classes None): BCE of p = mean(y_train), the frequency of label 1:
            -(q log p + (1 - q) log(1 - p)),  q = mean(y_val)
        K classes: cross-entropy of p_k = (series of class k in y_train) / N_train:  -mean_n log p_{y_n}

    What a model that ignores the series scores (at best, when both splits share one label frequency); a
    model that learned something scores lower.
    """
    if num_classes is None:
        y_val = np.asarray(y_val, dtype=np.float64)
        return BCELoss()(np.full(len(y_val), np.mean(y_train, dtype=np.float64)), y_val)
    freq = np.bincount(np.asarray(y_train), minlength=num_classes) / len(y_train)
    with np.errstate(divide="ignore"):  # a class absent from training: log 0 = -inf, clamped
        log_p = np.maximum(np.log(freq), -100.0)
    return float(-np.mean(log_p[np.asarray(y_val)]))


def cosine_lr(lr, epoch, epochs):
    """The learning rate of ``epoch`` (from 1) of ``epochs``: lr (1 + cos(pi (epoch - 1) / epochs)) / 2, from
    lr at the first epoch down towards 0 at the last, so the weights settle instead of jumping about.
    (``torch.optim.lr_scheduler.CosineAnnealingLR`` with T_max=epochs, eta_min=0, stepped once an epoch.)"""
    return lr * (1.0 + math.cos(math.pi * (epoch - 1) / epochs)) / 2.0


def is_spike(norm, norms, factor):
    """Whether a step whose gradients have the joint norm ``norm`` is a spike: ``norm`` > ``factor`` times the
    median of the last ``SPIKE_WINDOW`` norms before it (``norms``, oldest first; never before that many steps).

    The median, not the mean, so that earlier spikes do not raise the bar; measured against recent steps, as
    the typical norm grows and falls by tens of times over a run (docs/anomaly-task.md, "Several channels").
    """
    return len(norms) >= SPIKE_WINDOW and norm > factor * float(np.median(norms[-SPIKE_WINDOW:]))


def series_clip_factors(grad_x, max_norm):
    """Each series' factor s_b = min(1, max_norm / (|dL/dx_b| + 1e-6)): what scales series b's share of a
    step's gradient so that its input gradient is at most ``max_norm`` long (the 1e-6 as in ``clip_grad_norm_``).

    grad_x: (B, ...) the gradient of the batch's mean loss with respect to its input, dL/dx_b the b-th row;
    returns s: (B,) float64. The backward pass is linear in the loss's gradient, so the backward of the
    upstream gradient s_b dL/dout_b gives s_b times series b's share of every parameter's gradient.

    Why the input gradient: the gradient that explodes back through time in an LSTM reaches the input at
    every step it passes (dL/dx_t = W_ih^T dL/dgates_t), so |dL/dx_b| rises with it, and the backward yields
    it for the batch at no extra cost, where each series' own parameter gradient would take a backward pass
    of its own (docs/anomaly-task.md, "Several channels").
    """
    flat = np.asarray(grad_x, dtype=np.float64).reshape(len(grad_x), -1)
    norms = np.sqrt(np.einsum("bi,bi->b", flat, flat))
    return np.minimum(1.0, max_norm / (norms + 1e-6))


def check_fit_options(epochs, batch_size, patience, monitor="loss", max_grad_norm=None, label_smoothing=0.0,
                      num_classes=None, lr_schedule=None, skip_spikes=None, noise=0.0, noise_p=1.0,
                      noise_epochs=None, max_series_grad_norm=None):
    """Refuse loop settings ``fit`` cannot run: epochs and batch_size positive integers, patience one or None,
    monitor 'loss' or 'accuracy', max_grad_norm, skip_spikes and max_series_grad_norm finite numbers > 0 or
    None, label_smoothing a number in [0, 1], and above 0 only for a K-class head (``num_classes`` K; the
    binary head's BCELoss has none), lr_schedule callable or None, noise a finite number >= 0, noise_p a
    probability in (0, 1], noise_epochs an integer >= 0 or None.

    The PyTorch trainer (``torch_ref.train.fit``) makes the same checks with the same messages.
    """
    if not _is_positive_int(batch_size):
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if not _is_positive_int(epochs):
        raise ValueError(f"epochs: expected a positive integer, got {epochs!r}")
    if patience is not None and not _is_positive_int(patience):
        raise ValueError(f"patience: expected a positive integer or None, got {patience!r}")
    if monitor not in MONITORS:
        raise ValueError(f"monitor: expected 'loss' or 'accuracy', got {monitor!r}")
    for name, value in (("max_grad_norm", max_grad_norm), ("skip_spikes", skip_spikes),
                        ("max_series_grad_norm", max_series_grad_norm)):
        if value is not None and not (is_real(value) and 0 < value < np.inf):
            raise ValueError(f"{name}: expected a finite number > 0 or None, got {value!r}")
    if not (is_real(label_smoothing) and 0 <= label_smoothing <= 1):
        raise ValueError(f"label_smoothing: expected a number in [0, 1], got {label_smoothing!r}")
    if label_smoothing and num_classes is None:
        raise ValueError(f"label_smoothing: the binary head (BCELoss) takes none, got {label_smoothing!r}; "
                         f"build the model with num_classes=2 for a cross-entropy head")
    if lr_schedule is not None and not callable(lr_schedule):
        raise ValueError(f"lr_schedule: expected a function of the epoch or None, got {lr_schedule!r}")
    if not (is_real(noise) and 0 <= noise < np.inf):
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}")
    if not (is_real(noise_p) and 0 < noise_p <= 1):
        raise ValueError(f"noise_p: expected a probability in (0, 1], got {noise_p!r}")
    if noise_epochs is not None and not (is_int(noise_epochs) and noise_epochs >= 0):
        raise ValueError(f"noise_epochs: expected an integer >= 0 or None, got {noise_epochs!r}")


def check_split(X, y, lengths, num_classes, name):
    """One split's arrays checked for a model with ``num_classes`` (None: the binary head); returns
    (X, y, lengths), y as int64 class indices for K classes (as given for the binary head).

    X: (N, T, ...) finite floats; y: (N,) labels 0/1 (binary) or class indices 0..K-1; lengths: (N,) integers
    in [1, T], or None. Every problem is refused naming ``X_{name}``, ``y_{name}`` or ``lengths_{name}``.
    The PyTorch trainer checks its splits with it too.
    """
    X, y = as_float_array(X, f"X_{name}", min_ndim=1), np.asarray(y)
    if y.ndim != 1 or len(X) != len(y) or len(y) == 0:
        raise ValueError(f"X_{name}, y_{name}: expected N >= 1 series and N labels, got shapes {X.shape} and {y.shape}")
    if num_classes is None:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"y_{name}: expected labels 0 or 1 (the model's head is binary; build it with "
                             f"num_classes=K for K classes), got values {np.unique(y)[:5].tolist()}")
    else:
        whole = y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all())
        if not whole or y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"y_{name}: expected class indices 0..{num_classes - 1} (the model has {num_classes} "
                             f"classes; encode other labels as indices first), got values {np.unique(y)[:5].tolist()}")
        y = y.astype(np.int64)
    if lengths is not None:
        if X.ndim < 2:
            raise ValueError(f"lengths_{name}: given for X_{name} of shape {X.shape}, which has no time axis")
        lengths = as_lengths(lengths, len(X), X.shape[1], f"lengths_{name}")
    return X, y, lengths


def _is_positive_int(value):
    return is_int(value) and value >= 1


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


def batch_noise(shape, noise, p, rng):
    """The noise added to a training batch of ``shape`` (B, T, ...): noise * m_b * z, z ~ N(0, 1) of ``shape``,
    float64, drawn from ``rng``; m_b is 1 for a series that gets noise, each of the B with probability p, and
    0 for one left as it is (torchvision's ``RandomApply(p)``, series by series).

    Draws, in this order: the B uniforms u_b of the mask first (series b stays clean when u_b < 1 - p), none
    when p = 1 (every series noised); then z for the whole batch, also where m_b = 0.
    """
    if p == 1:
        return noise * rng.standard_normal(shape)
    clean = rng.random(shape[0]) < 1 - p  # (B,)
    return noise * np.where(clean.reshape(-1, *[1] * (len(shape) - 1)), 0.0, rng.standard_normal(shape))


def fit(
    model,
    optimizer,
    X_train,
    y_train,
    X_val=None,
    y_val=None,
    epochs=15,
    batch_size=32,
    patience=5,
    rng=None,
    checkpoint=None,
    checkpoint_meta=None,
    on_batch=None,
    on_epoch=None,
    blas_threads=1,
    lengths_train=None,
    lengths_val=None,
    monitor="loss",
    noise=0.0,
    noise_p=1.0,
    noise_epochs=None,
    max_grad_norm=None,
    label_smoothing=0.0,
    lr_schedule=None,
    skip_spikes=None,
    max_series_grad_norm=None,
):
    """Train ``model`` with ``optimizer``; return a ``History``.

    The loss follows the model's head: BCE on P(class 1) for the binary head (``model.num_classes`` None or
    absent; y 0/1), cross-entropy on the logits for K classes (y class indices 0..K-1); see ``check_split``.
    X_train: (N, T, ...) in the model's dtype, y_train: (N,); X_val, y_val: the validation split.
    lengths_train, lengths_val: (N,) each series' number of steps when X is padded (None: all T).
    Each epoch shuffles the training set with ``rng``, then scores the validation set in eval mode.
    noise: the standard deviation of Gaussian noise added to every training batch, x + noise * N(0, 1) drawn
    anew for each batch with ``rng`` (after the epoch's shuffle), so the model never sees a training series
    twice with the same values and cannot learn one by heart (data augmentation for small training sets;
    meant for standardised inputs, where it is in units of a feature's spread). 0: nothing drawn, the
    batches as they are. Padded steps get noise too, which the models set to 0 (``models/pooled.py``).
    noise_p: each series of a batch gets the noise with probability p, the others stay as they are
    (``batch_noise``); 1: every series. noise_epochs: only epochs 1 to noise_epochs get noise, the later
    ones the clean batches (and draw nothing for it); None: every epoch.
    max_grad_norm: before each step, scale the gradients down to this joint norm when they are longer
    (``nn.utils.clip_grad_norm_``); None: never.
    label_smoothing: e in [0, 1], for a K-class head: the training loss is the cross-entropy against
    (1 - e) onehot(y) + e / K (``nn.CrossEntropyLoss(label_smoothing=e)``, PyTorch's), so no training series
    pulls its logits apart without bound once it is classified right. The validation loss, the chance loss
    and ``evaluate_loss`` stay the plain cross-entropy. 0: none.
    lr_schedule: a function of the epoch (from 1) giving its learning rate, set as ``optimizer.lr`` before the
    epoch runs (``cosine_lr``, say: ``lambda epoch: cosine_lr(3e-3, epoch, 15)``); None: the optimizer's lr
    throughout.
    skip_spikes: a factor k; a step whose joint gradient norm is more than k times the median of the
    ``SPIKE_WINDOW`` steps before it (``is_spike``) has its gradients set to 0, so the optimizer's step carries
    on with its momentum alone and the spike enters neither its momentum nor its second moment (checked before
    max_grad_norm's clipping); None: never. A spike is one series' gradient exploding back through time in an
    LSTM (docs/anomaly-task.md, "Several channels"), which clipping only shortens: its direction still steers
    the step.
    max_series_grad_norm: a cap c on each series' share of a step, measured by its input gradient: series b's
    share of every gradient is scaled by s_b = min(1, c / |dL/dx_b|) (``series_clip_factors``; the model's
    backward must return dL/dx). A step with such a series runs the backward a second time, with the upstream
    gradient s_b dL/dout_b, so that one series whose gradient explodes weighs no more than c allows while the
    batch's other series keep theirs (applied first, before skip_spikes and max_grad_norm); None: never.

    With validation, the model ends with the weights of the best epoch (a copy kept in memory), best by
    ``monitor``:
      'loss': the lowest validation loss (the seed's rule);
      'accuracy': the most validation series classified right, ties broken by the lower loss. Meant for a
        small validation split (ten series, say): there the mean loss is ruled by the one or two series the
        model is most confidently wrong about, and can rise while the model gets more series right, which
        stops training early and keeps an epoch that guessed; the count of right answers weighs every series
        the same, and the loss still orders the many epochs that tie on it.
    Early stopping: after ``patience`` epochs in a row without a better epoch, stop (None: never).
    Without validation (X_val and y_val None; for training sets too small to split), every epoch is run,
    patience and monitor do not apply, and the model ends with the last epoch's weights.

    checkpoint: a path; when given, the kept weights are saved there (``save_checkpoint``, with
    ``checkpoint_meta`` plus best_epoch and, with validation, val_loss) each time they change. Nothing is
    written when it is None.
    on_batch(epoch, batch, n_batches, loss) after every step; on_epoch(epoch, train_loss, val_loss) after
    every epoch (val_loss NaN without validation). A NaN or inf output, gradient, weight after the optimizer
    step, or validation loss raises FloatingPointError naming the epoch and batch (and for a weight, the
    optimizer's ``lr``); the model is given back its last good weights: the kept epoch's, or those it started
    with when no epoch finished. A run whose loss never fell below ``History.chance_loss`` ends normally,
    with ``History.beat_chance`` False.
    blas_threads: at most this many threads for NumPy's BLAS while training (None: as configured). One by
    default: these models' products are small, and an idle OpenBLAS thread busy-waits after each one,
    taking a core from the elementwise work (``kernels/blas.py``; the figures are in docs/performance.md).
    """
    num_classes = getattr(model, "num_classes", None)
    train = check_split(X_train, y_train, lengths_train, num_classes, "train")
    val = check_validation(X_val, y_val, lengths_val, num_classes)
    check_fit_options(epochs, batch_size, patience, monitor, max_grad_norm, label_smoothing, num_classes,
                      lr_schedule, skip_spikes, noise, noise_p, noise_epochs, max_series_grad_norm)
    rng = as_generator(rng)
    loss_fn = BCELoss() if num_classes is None else CrossEntropyLoss(label_smoothing=label_smoothing)
    history = History.for_run(train[1], None if val is None else val[1], num_classes, monitor)
    kept_state = model.state_dict()  # the starting weights, until an epoch is kept
    norms = [] if skip_spikes is not None else None  # every step's gradient norm so far, for is_spike

    with limit_blas_threads(blas_threads):  # see kernels/blas.py: one thread is the faster here
        try:
            for epoch in range(1, epochs + 1):
                started = time.perf_counter()
                if lr_schedule is not None:
                    optimizer.lr = lr_schedule(epoch)
                noisy = noise_epochs is None or epoch <= noise_epochs
                train_loss = _train_epoch(model, optimizer, loss_fn, *train, batch_size, rng, epoch, on_batch,
                                          noise if noisy else 0.0, max_grad_norm, skip_spikes, norms, noise_p,
                                          max_series_grad_norm)
                val_loss = val_accuracy = None
                if val is not None:
                    # In predict's batches (predict_batch_size: a bounded number of (series, step) pairs, as
                    # the PyTorch twin's), under no_grad: nothing kept for a backward.
                    val_loss, val_accuracy = _evaluate(model, *val, batch_size=predict_batch_size(val[0]))
                    _check_finite([("the validation loss", val_loss)], f"epoch {epoch}")
                if history.record_epoch(train_loss, time.perf_counter() - started, val_loss, val_accuracy):
                    kept_state = model.state_dict()
                    if checkpoint is not None:
                        scores = {} if val_loss is None else {"val_loss": val_loss}
                        save_checkpoint(checkpoint, kept_state, {**(checkpoint_meta or {}), "best_epoch": epoch,
                                                                 **scores})
                if on_epoch is not None:
                    on_epoch(epoch, train_loss, float("nan") if val_loss is None else val_loss)
                if history.out_of_patience(patience, epochs):
                    break
        except FloatingPointError as error:
            model.load_state_dict(kept_state)
            raise training_stopped(error, history.best_epoch) from None

    model.load_state_dict(kept_state)
    return history


def check_validation(X_val, y_val, lengths_val, num_classes):
    """``check_split`` of the validation arrays, or None when there are none (both None: train without
    validation). The PyTorch trainer uses it too."""
    if X_val is None and y_val is None:
        if lengths_val is not None:
            raise ValueError("lengths_val: given without X_val and y_val")
        return None
    if X_val is None or y_val is None:
        raise ValueError("X_val, y_val: give both (a validation split) or neither (train a fixed number of epochs)")
    return check_split(X_val, y_val, lengths_val, num_classes, "val")


def _inputs(X, lengths, idx):
    """The model's inputs for the series ``idx``: (X[idx],) without lengths, so a model that takes none works;
    with them (X[idx] cut to the batch's longest series (b, T_b, ...), lengths[idx])."""
    if lengths is None:
        return (X[idx],)
    batch_lengths = lengths[idx]
    return X[idx, :batch_lengths.max()], batch_lengths


def _train_epoch(model, optimizer, loss_fn, X, y, lengths, batch_size, rng, epoch, on_batch, noise=0.0,
                 max_grad_norm=None, skip_spikes=None, norms=None, noise_p=1.0, max_series_grad_norm=None):
    """One pass over (X, y) in shuffled mini-batches, one optimizer step each, each batch's input plus
    ``batch_noise`` when noise > 0 (each series with probability ``noise_p``), each series' share of the
    gradients clipped to ``max_series_grad_norm`` when given, a spike's gradients set to 0 when ``skip_spikes``
    is given (each step's norm appended to ``norms``), the gradients clipped to ``max_grad_norm`` when given;
    returns the mean loss.

    Checked at every step: the output, then each gradient before the step could spread a NaN into the
    weights, then each updated weight (a finite gradient times a huge learning rate can still overflow).
    """
    model.train()
    n_batches = -(-len(y) // batch_size)
    total = 0.0
    for batch, idx in enumerate(iterate_minibatches(len(y), batch_size, True, rng), start=1):
        where = f"epoch {epoch}, batch {batch}/{n_batches}"
        optimizer.zero_grad()
        inputs = _inputs(X, lengths, idx)
        if noise:
            x = inputs[0]
            inputs = ((x + batch_noise(x.shape, noise, noise_p, rng)).astype(x.dtype), *inputs[1:])
        out, _ = _forward(model, inputs, f"{where} (lr {optimizer.lr:g})")
        _check_finite([("the model's output", out)], where)
        loss = loss_fn(out, _targets(y[idx], out))
        grad_out = loss_fn.backward()
        grad_x = model.backward(grad_out)
        if max_series_grad_norm is not None:
            _clip_series(model, optimizer, grad_out, grad_x, max_series_grad_norm)
        updated = [(name, p) for name, p in model.named_parameters() if p.grad is not None]
        _check_finite([(f"the gradient of {name}", p.grad) for name, p in updated], where)
        if skip_spikes is not None:
            _skip_spike([p for _, p in updated], norms, skip_spikes)
        if max_grad_norm is not None:
            clip_grad_norm_((p for _, p in updated), max_grad_norm)
        optimizer.step()
        stepped = f"after the optimizer step (lr {optimizer.lr:g})"
        _check_finite([(f"{name} {stepped}", p.data) for name, p in updated], where)
        total += loss * len(idx)
        if on_batch is not None:
            on_batch(epoch, batch, n_batches, loss)
    return total / len(y)


def _clip_series(model, optimizer, grad_out, grad_x, max_norm):
    """When a series' input gradient (``grad_x``: (B, ...), the backward's answer to ``grad_out``) is longer
    than ``max_norm``, replace the parameters' gradients by those of a second backward, of s_b grad_out_b
    (``series_clip_factors``): that series' share scaled down to an input gradient of ``max_norm``, the other
    series' shares as they were. A step with no series above it keeps the gradients of the one backward."""
    if grad_x is None:
        raise ValueError("max_series_grad_norm: the model's backward returns no input gradient to measure")
    scale = series_clip_factors(grad_x, max_norm)
    if (scale < 1).any():
        optimizer.zero_grad()
        model.backward(grad_out * scale.astype(grad_out.dtype).reshape((-1,) + (1,) * (grad_out.ndim - 1)))


def _skip_spike(params, norms, factor):
    """Set the gradients of ``params`` to 0 when their joint norm ``is_spike`` against ``norms``; append it."""
    norm = get_total_norm([p.grad for p in params])
    if is_spike(norm, norms, factor):
        for p in params:
            p.grad[...] = 0
    norms.append(norm)


def _forward(model, inputs, where):
    """``model`` on a batch's ``inputs`` (``_inputs``). X was checked finite, so a module that finds NaN or inf
    in its input (``NonFiniteError``) found it in an activation: the weights, finite but huge after a step,
    overflowed inside the forward. That is a training failure, raised as FloatingPointError."""
    try:
        return model(*inputs)
    except NonFiniteError as err:
        raise FloatingPointError(f"{where}: an activation overflowed in the forward ({err})") from None


def _targets(y, out):
    """What the loss compares ``out`` with: 0/1 in out's dtype for P(class 1) (B,), class indices for logits."""
    return y.astype(out.dtype) if out.ndim == 1 else y


def _outputs(model, X, lengths, batch_size):
    """The model's raw outputs over X in batches, in eval mode (its mode restored afterwards) and under
    ``nn.no_grad`` (no backward follows): (out: (N,) P(class 1) or (N, K) logits, alpha: (N, T) with zeros
    at padded steps, or None)."""
    if len(X) == 0:
        raise ValueError("predict: X holds no series")
    if lengths is not None:
        lengths = as_lengths(lengths, len(X), X.shape[1], "predict lengths")
    was_training = model.training
    model.eval()
    outs, alpha = [], None
    try:
        for idx in iterate_minibatches(len(X), batch_size):
            with no_grad():
                out, a = model(*_inputs(X, lengths, idx))
            outs.append(out)
            if a is not None:
                alpha = np.zeros(X.shape[:2], a.dtype) if alpha is None else alpha
                alpha[idx, :a.shape[1]] = a  # a batch cut to its longest series: the rest stays 0
    finally:
        model.train(was_training)
    return np.concatenate(outs), alpha


# predict's batches hold about this many (series, step) pairs by default: 256 series of 512 steps. A
# forward's activations grow with the pairs, not with the series, so long series get fewer series a batch (a
# batch of 256 series of 5,000 steps needed GBs) and short ones more, which NumPy's fixed cost per call
# favours: the LSTM's directions run on two threads from batches of 128 series (docs/performance.md).
PREDICT_STEPS = 1 << 17


def predict_batch_size(X):
    """The default batch size of ``predict`` for X (N, T, ...): PREDICT_STEPS // T series, at least one.
    The PyTorch twin's predict uses it too."""
    return max(1, PREDICT_STEPS // max(1, np.shape(X)[1] if np.ndim(X) > 1 else 1))


def predict(model, X, lengths=None, batch_size=None, blas_threads=1):
    """Run ``model`` in eval mode over X (N, T, ...) in batches; return (probabilities, alpha (N, T) or None).

    probabilities: P(class 1) (N,) for the binary head, softmax of the logits (N, K) for K classes.
    lengths: (N,) each series' number of steps, X padded to T; alpha is 0 at the padded steps.
    batch_size: series a batch, or None for ``predict_batch_size(X)``.
    The model's train/eval mode is restored afterwards. blas_threads: as in ``fit``.
    """
    batch_size = predict_batch_size(X) if batch_size is None else batch_size
    with limit_blas_threads(blas_threads):
        out, alpha = _outputs(model, X, lengths, batch_size)
    return (out if out.ndim == 1 else F.softmax(out, axis=-1)[0]), alpha


def evaluate_loss(model, X, y, lengths=None, batch_size=None, blas_threads=1):
    """Mean loss of the model's predictions on (X, y), in eval mode: BCE for the binary head, cross-entropy
    for K classes; NaN when an output is NaN or inf. batch_size and blas_threads: as in ``predict``."""
    X, y, lengths = check_split(X, y, lengths, getattr(model, "num_classes", None), "eval")
    batch_size = predict_batch_size(X) if batch_size is None else batch_size
    with limit_blas_threads(blas_threads):
        return _evaluate(model, X, y, lengths, batch_size)[0]


def _evaluate(model, X, y, lengths, batch_size):
    """(mean loss, accuracy) on (X, y): accuracy the share with P(class 1) > 0.5 for label 1 (binary), or
    with the largest logit at the label (K classes); the loss NaN when an output is NaN or inf."""
    out, _ = _outputs(model, X, lengths, batch_size)
    if not np.isfinite(out).all():
        return float("nan"), float("nan")
    if out.ndim == 1:
        return BCELoss()(out, _targets(y, out)), float(np.mean((out > 0.5) == (y == 1)))
    return CrossEntropyLoss()(out, y), float(np.mean(out.argmax(axis=1) == y))


def _check_finite(named, where):
    """FloatingPointError("<where>: <name> is NaN or inf") for the first (name, array) pair holding NaN or inf;
    ``fit`` catches it, puts the last good weights back and says so. One sum clears almost every array, as in
    ``numpy_attn._validate.check_finite``; only a sum that is not finite leads to the entrywise test. One
    errstate for all the pairs, and ``np.add.reduce`` rather than ``np.sum``: for a step's 20-odd small
    gradients the wrappers around the sums cost more than the sums."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf and overflow are what the sums look for
        for name, value in named:
            if not (np.isfinite(np.add.reduce(value, axis=None)) or np.isfinite(value).all()):
                raise FloatingPointError(f"{where}: {name} is NaN or inf")
