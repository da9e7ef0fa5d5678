"""The anomaly task's training loop in PyTorch, on CPU or CUDA: the seed's loop (Adam, BCELoss, early
stopping on validation loss) fed the same mini-batches as ``numpy_attn.tasks.training.fit`` for the same seed."""

import copy
import time

import numpy as np
import torch

from numpy_attn.tasks.training import History, iterate_minibatches


def _loss_over(model, X, y, batch_size=256):
    criterion = torch.nn.BCELoss(reduction="sum")
    with torch.no_grad():
        return sum(criterion(model(X[i])[0], y[i]).item() for i in iterate_minibatches(len(X), batch_size)) / len(X)


def fit(model, X_train, y_train, X_val, y_val, epochs=15, batch_size=32, lr=1e-3, patience=5, rng=None,
        device="cpu", on_batch=None, on_epoch=None):
    """Train ``model`` in place and return a ``numpy_attn.tasks.training.History``; the best weights are restored.

    X_*: (N, T, C) NumPy arrays; the model's dtype decides the tensors' dtype.
    """
    dtype = next(model.parameters()).dtype
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    Xt, yt, Xv, yv = as_t(X_train), as_t(y_train), as_t(X_val), as_t(y_val)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = torch.nn.BCELoss()
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    history, best_state, waited = History(), None, 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        total, batches = 0.0, list(iterate_minibatches(len(Xt), batch_size, shuffle=True, rng=rng))
        for b, idx in enumerate(batches, 1):
            idx = torch.as_tensor(idx, device=device)
            optimizer.zero_grad()
            loss = criterion(model(Xt[idx])[0], yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            if on_batch:
                on_batch(epoch, b, len(batches), loss.item())
        model.eval()
        history.train_loss.append(total / len(Xt))
        history.val_loss.append(_loss_over(model, Xv, yv))
        history.epoch_seconds.append(time.perf_counter() - start)
        history.epochs_run = epoch
        if on_epoch:
            on_epoch(epoch, history.train_loss[-1], history.val_loss[-1])
        if history.val_loss[-1] < history.best_val_loss:
            history.best_epoch, best_state, waited = epoch, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= patience:
                history.stopped_early = True
                break
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
