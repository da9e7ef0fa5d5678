"""The anomaly task's training loop in PyTorch, on CPU or CUDA: the seed's loop (Adam, BCELoss, early
stopping on validation loss) fed the same mini-batches as ``numpy_attn.tasks.training.fit`` for the same seed,
refusing the same settings and stopping on a NaN or inf with the same messages."""

import copy
import math
import time

import numpy as np
import torch

from numpy_attn.optim.optimizer import check_hyperparameter
from numpy_attn.tasks.training import History, chance_loss, check_fit_options, iterate_minibatches, training_stopped


def _loss_over(model, X, y, batch_size=256):
    """Mean BCE over (X, y); NaN when an output holds NaN or inf (``BCELoss`` would refuse it)."""
    criterion = torch.nn.BCELoss(reduction="sum")
    total = 0.0
    with torch.no_grad():
        for i in iterate_minibatches(len(X), batch_size):
            prob = model(X[i])[0]
            if not torch.isfinite(prob).all():
                return float("nan")
            total += criterion(prob, y[i]).item()
    return total / len(X)


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


def _train_epoch(model, optimizer, criterion, Xt, yt, batch_size, rng, epoch, on_batch):
    """One pass in shuffled mini-batches; the output, each gradient and each updated weight checked at every
    step, as in ``numpy_attn.tasks.training``. Returns the mean loss."""
    model.train()
    lr = optimizer.param_groups[0]["lr"]
    total, batches = 0.0, list(iterate_minibatches(len(Xt), batch_size, shuffle=True, rng=rng))
    for b, idx in enumerate(batches, 1):
        where = f"epoch {epoch}, batch {b}/{len(batches)}"
        idx = torch.as_tensor(idx, device=Xt.device)
        optimizer.zero_grad()
        prob = model(Xt[idx])[0]
        _check_finite([("the model's output", prob)], where)
        loss = criterion(prob, yt[idx])
        loss.backward()
        updated = [(name, p) for name, p in model.named_parameters() if p.grad is not None]
        _check_finite([(f"the gradient of {name}", p.grad) for name, p in updated], where)
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


def fit(model, X_train, y_train, X_val, y_val, epochs=15, batch_size=32, lr=1e-3, patience=5, rng=None,
        device="cpu", on_batch=None, on_epoch=None):
    """Train ``model`` in place and return a ``numpy_attn.tasks.training.History``; the best weights are restored.

    X_*: (N, T, C) NumPy arrays; the model's dtype decides the tensors' dtype. Settings are checked, and a
    NaN or inf stops training, as in ``numpy_attn.tasks.training.fit``.
    """
    check_fit_options(epochs, batch_size, patience)
    check_hyperparameter(lr, "lr")
    dtype = next(model.parameters()).dtype
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    Xt, yt, Xv, yv = as_t(X_train), as_t(y_train), as_t(X_val), as_t(y_val)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = torch.nn.BCELoss()
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    history, waited = History(chance_loss=chance_loss(y_train, y_val)), 0
    best_state = copy.deepcopy(model.state_dict())  # the starting weights, until an epoch does better
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            train_loss = _train_epoch(model, optimizer, criterion, Xt, yt, batch_size, rng, epoch, on_batch)
            model.eval()
            val_loss = _loss_over(model, Xv, yv)
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"epoch {epoch}: the validation loss is NaN or inf")
            history.train_loss.append(train_loss)
            history.val_loss.append(val_loss)
            history.epoch_seconds.append(time.perf_counter() - start)
            history.epochs_run = epoch
            if val_loss < history.best_val_loss:
                history.best_epoch, best_state, waited = epoch, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
            if on_epoch:
                on_epoch(epoch, train_loss, val_loss)
            if patience is not None and waited >= patience:
                history.stopped_early = epoch < epochs
                break
    except FloatingPointError as error:
        model.load_state_dict(best_state)
        raise training_stopped(error, history.best_epoch) from None
    model.load_state_dict(best_state)
    return history


def predict(model, X, batch_size=256, device="cpu"):
    """(prob (N,), alpha (N, T)) as NumPy arrays, in eval mode."""
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(np.asarray(X), dtype=dtype, device=device)
    model.eval()
    probs, alphas = [], []
    with torch.no_grad():
        for idx in iterate_minibatches(len(X), batch_size):
            p, a = model(X[idx])
            probs.append(p.cpu().numpy())
            alphas.append(a.cpu().numpy())
    return np.concatenate(probs), np.concatenate(alphas)
