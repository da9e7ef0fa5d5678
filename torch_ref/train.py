"""The training loop in PyTorch, on CPU or CUDA: the seed's loop (Adam, BCELoss, early stopping on validation
loss) with ``numpy_attn.tasks.training.fit``'s choices: cross-entropy for a K-class head, series of their own
lengths, training without validation, the same mini-batches for the same seed, the same settings refused and
the same stops on a NaN or inf, with the same messages."""

import copy
import math
import time

import numpy as np
import torch

from numpy_attn.optim.optimizer import check_hyperparameter
from numpy_attn.tasks.training import (History, batch_noise, check_fit_options, check_split, check_validation,
                                       is_spike, iterate_minibatches, predict_batch_size, series_clip_factors,
                                       training_stopped)


def _inputs(X, lengths, idx):
    """The model's inputs for the series ``idx`` (a tensor on X's device), as ``training._inputs``: (X[idx],),
    or with lengths (N,) (a CPU tensor) X[idx] cut to the batch's longest series and lengths[idx]."""
    if lengths is None:
        return (X[idx],)
    batch_lengths = lengths[idx.cpu()]
    return X[idx, :int(batch_lengths.max())], batch_lengths


def _evaluate(model, X, y, lengths):
    """(mean loss, accuracy) over (X, y), as ``training._evaluate`` in ``fit`` (the loss summed batch by batch in
    predict's batches, then divided by N); NaN when an output holds NaN or inf."""
    batch_size = predict_batch_size(X)
    criterion = (torch.nn.BCELoss if y.is_floating_point() else torch.nn.CrossEntropyLoss)(reduction="sum")
    total = right = 0.0
    with torch.no_grad():
        for idx in iterate_minibatches(len(X), batch_size):
            idx = torch.as_tensor(idx, device=X.device)
            out = model(*_inputs(X, lengths, idx))[0]
            if not torch.isfinite(out).all():
                return float("nan"), float("nan")
            total += criterion(out, y[idx]).item()
            guess = (out > 0.5).to(y.dtype) if out.dim() == 1 else out.argmax(dim=1)
            right += (guess == y[idx]).sum().item()
    return total / len(X), right / len(X)


def _check_finite(named, where):
    """FloatingPointError("<where>: <name> is NaN or inf") for the first (name, tensor) pair holding NaN or inf.

    One sum per tensor and one copy of all the sums to the host (one device sync on CUDA); only a sum that
    is not finite leads to the entrywise test, as in ``numpy_attn._validate.check_finite``.
    """
    with torch.no_grad():
        finite = torch.isfinite(torch.stack([t.sum() for _, t in named])).tolist()
        for (name, t), ok in zip(named, finite):
            if not ok and not torch.isfinite(t).all():
                raise FloatingPointError(f"{where}: {name} is NaN or inf")


def _noisy(x, noise, noise_p, rng):
    """x + ``training.batch_noise``: the same draws from the same ``rng``, added in float64 and rounded to x's
    dtype, as the NumPy trainer adds them."""
    d = torch.from_numpy(batch_noise(tuple(x.shape), noise, noise_p, rng)).to(x.device)
    return (x.double() + d).to(x.dtype)


def _train_epoch(model, optimizer, criterion, Xt, yt, lengths, batch_size, rng, epoch, on_batch, max_grad_norm=None,
                 skip_spikes=None, norms=None, noise=0.0, noise_p=1.0, max_series_grad_norm=None):
    """One pass in shuffled mini-batches; the output, each gradient and each updated weight checked at every
    step, each batch's input plus ``training.batch_noise`` when noise > 0, each series' share of the gradients
    clipped to ``max_series_grad_norm`` when given, a spike's gradients set to 0 when ``skip_spikes`` is given
    (each step's norm appended to ``norms``), the gradients clipped to ``max_grad_norm`` when given, as in
    ``numpy_attn.tasks.training``. Returns the mean loss."""
    model.train()
    lr = optimizer.param_groups[0]["lr"]
    total, batches = 0.0, list(iterate_minibatches(len(Xt), batch_size, shuffle=True, rng=rng))
    for b, idx in enumerate(batches, 1):
        where = f"epoch {epoch}, batch {b}/{len(batches)}"
        idx = torch.as_tensor(idx, device=Xt.device)
        optimizer.zero_grad()
        inputs = _inputs(Xt, lengths, idx)
        if noise:
            inputs = (_noisy(inputs[0], noise, noise_p, rng), *inputs[1:])
        if max_series_grad_norm is not None:
            inputs[0].requires_grad_()  # a copy of the batch (indexing copies): its .grad is dL/dx
        out = model(*inputs)[0]
        _check_finite([("the model's output", out)], where)
        loss = criterion(out, yt[idx])
        loss.backward(retain_graph=max_series_grad_norm is not None)
        if max_series_grad_norm is not None:
            _clip_series(optimizer, criterion, out, yt[idx], inputs[0].grad, max_series_grad_norm)
        updated = [(name, p) for name, p in model.named_parameters() if p.grad is not None]
        _check_finite([(f"the gradient of {name}", p.grad) for name, p in updated], where)
        if skip_spikes is not None:
            _skip_spike([p for _, p in updated], norms, skip_spikes)
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([p for _, p in updated], max_grad_norm)
        try:
            optimizer.step()
        except RuntimeError as error:  # Adam refuses a step size lr / (1 - beta1^t) its dtype cannot hold
            if "overflow" not in str(error):
                raise
            raise FloatingPointError(f"{where}: the weights after the optimizer step (lr {lr:g}) would be NaN or "
                                     f"inf (its step size overflows {Xt.dtype})") from None
        _check_finite([(f"{name} after the optimizer step (lr {lr:g})", p) for name, p in updated], where)
        total += loss.item() * len(idx)
        if on_batch:
            on_batch(epoch, b, len(batches), loss.item())
    return total / len(Xt)


def _clip_series(optimizer, criterion, out, y, grad_x, max_norm):
    """``training._clip_series``: when a series' input gradient ``grad_x`` (B, ...) is longer than ``max_norm``,
    the gradients put back as those of the batch's loss with series b's term weighted by s_b
    (``series_clip_factors``), mean(s_b loss_b), whose backward is that of the upstream gradient s_b dL/dout_b."""
    scale = series_clip_factors(grad_x.detach().cpu().numpy(), max_norm)
    if (scale < 1).any():
        optimizer.zero_grad()
        each = type(criterion)(reduction="none", **_criterion_options(criterion))(out, y)
        (each * torch.as_tensor(scale, dtype=each.dtype, device=each.device)).mean().backward()


def _criterion_options(criterion):
    """The settings of ``criterion`` besides its reduction: label_smoothing for CrossEntropyLoss."""
    return {"label_smoothing": criterion.label_smoothing} if isinstance(criterion, torch.nn.CrossEntropyLoss) else {}


def _tensors(split, num_classes, dtype, device):
    """A checked (X, y, lengths) as tensors: X in the model's dtype on ``device``, y there as X (labels 0/1,
    binary head) or int64 (class indices), lengths on the CPU (``pack_padded_sequence`` wants them there)."""
    X, y, lengths = split
    y_dtype = dtype if num_classes is None else torch.int64
    return (torch.as_tensor(X, dtype=dtype, device=device), torch.as_tensor(y, dtype=y_dtype, device=device),
            None if lengths is None else torch.as_tensor(lengths))


def _skip_spike(params, norms, factor):
    """``training._skip_spike``: the gradients of ``params`` set to 0 when their joint norm ``is_spike`` against
    ``norms``; the norm (``torch.nn.utils.get_total_norm``, as a float) appended."""
    with torch.no_grad():
        norm = torch.nn.utils.get_total_norm([p.grad for p in params]).item()
        if is_spike(norm, norms, factor):
            for p in params:
                p.grad.zero_()
    norms.append(norm)


def fit(model, X_train, y_train, X_val=None, y_val=None, epochs=15, batch_size=32, lr=1e-3, patience=5, rng=None,
        device="cpu", on_batch=None, on_epoch=None, lengths_train=None, lengths_val=None, monitor="loss",
        noise=0.0, noise_p=1.0, noise_epochs=None, max_grad_norm=None, label_smoothing=0.0, lr_schedule=None,
        skip_spikes=None, max_series_grad_norm=None):
    """Train ``model`` in place and return a ``numpy_attn.tasks.training.History``; the kept weights are restored.

    X_*: (N, T, C) NumPy arrays; the model's dtype decides the tensors' dtype. The loss follows the model's
    head (``model.num_classes``: None for BCE on P(class 1), K for cross-entropy on logits, with
    ``torch.nn.CrossEntropyLoss(label_smoothing=...)``); lengths, the optional validation split, monitor,
    patience, noise, noise_p and noise_epochs (the same draws from the same generator), max_grad_norm
    (``torch.nn.utils.clip_grad_norm_``), label_smoothing, lr_schedule (each epoch's learning rate, set in the
    optimizer's param group before it runs), skip_spikes and max_series_grad_norm are
    ``numpy_attn.tasks.training.fit``'s. Settings and arrays are checked, and a NaN or inf stops training, as
    there.
    """
    num_classes = getattr(model, "num_classes", None)
    train = check_split(X_train, y_train, lengths_train, num_classes, "train")
    val = check_validation(X_val, y_val, lengths_val, num_classes)
    check_fit_options(epochs, batch_size, patience, monitor, max_grad_norm, label_smoothing, num_classes,
                      lr_schedule, skip_spikes, noise, noise_p, noise_epochs, max_series_grad_norm)
    check_hyperparameter(lr, "lr")
    dtype = next(model.parameters()).dtype
    Xt, yt, lt = _tensors(train, num_classes, dtype, device)
    val_t = None if val is None else _tensors(val, num_classes, dtype, device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = (torch.nn.BCELoss() if num_classes is None
                 else torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing))
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    history = History.for_run(train[1], None if val is None else val[1], num_classes, monitor)
    kept_state = copy.deepcopy(model.state_dict())  # the starting weights, until an epoch is kept
    norms = [] if skip_spikes is not None else None  # every step's gradient norm so far, for is_spike
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            if lr_schedule is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_schedule(epoch)
            noisy = noise_epochs is None or epoch <= noise_epochs
            train_loss = _train_epoch(model, optimizer, criterion, Xt, yt, lt, batch_size, rng, epoch, on_batch,
                                      max_grad_norm, skip_spikes, norms, noise if noisy else 0.0, noise_p,
                                      max_series_grad_norm)
            val_loss = val_accuracy = None
            if val_t is not None:
                model.eval()
                val_loss, val_accuracy = _evaluate(model, *val_t)
                if not math.isfinite(val_loss):
                    raise FloatingPointError(f"epoch {epoch}: the validation loss is NaN or inf")
            if history.record_epoch(train_loss, time.perf_counter() - start, val_loss, val_accuracy):
                kept_state = copy.deepcopy(model.state_dict())
            if on_epoch:
                on_epoch(epoch, train_loss, float("nan") if val_loss is None else val_loss)
            if history.out_of_patience(patience, epochs):
                break
    except FloatingPointError as error:
        model.load_state_dict(kept_state)
        raise training_stopped(error, history.best_epoch) from None
    model.load_state_dict(kept_state)
    return history


def predict(model, X, lengths=None, batch_size=None, device="cpu"):
    """(probabilities, alpha (N, T)) as NumPy arrays, in eval mode: P(class 1) (N,) for the binary head,
    softmax (N, K) for K classes; lengths (N,) or None, alpha 0 at padded steps; batch_size as in
    ``training.predict`` (None: ``predict_batch_size(X)``)."""
    batch_size = predict_batch_size(X) if batch_size is None else batch_size
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(np.asarray(X), dtype=dtype, device=device)
    lengths = None if lengths is None else torch.as_tensor(np.asarray(lengths))
    model.eval()
    probs, alpha = [], torch.zeros(X.shape[:2], dtype=dtype, device=device)
    with torch.no_grad():
        for idx in iterate_minibatches(len(X), batch_size):
            idx = torch.as_tensor(idx, device=device)
            out, a = model(*_inputs(X, lengths, idx))
            probs.append(out if out.dim() == 1 else torch.softmax(out, dim=1))
            alpha[idx, :a.shape[1]] = a  # a batch cut to its longest series: the rest stays 0
    return torch.cat(probs).cpu().numpy(), alpha.cpu().numpy()
