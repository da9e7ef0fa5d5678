"""Losses with PyTorch's semantics, each a forward and its backward.

Every loss takes ``reduction`` in {'mean', 'sum', 'none'}. With 'mean' or 'sum' the forward returns a
0-d array and the backward takes a scalar upstream gradient (default 1); with 'none' it returns the
per-element losses and the backward takes an array of that shape.
"""

import numpy as np

from .._validate import as_float_array, as_index_array, check_ndim, check_reduction, check_same_shape, is_real
from .activation import sigmoid
from .softmax import log_softmax


def _reduce(losses, reduction, count=None):
    check_reduction(reduction)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / (losses.size if count is None else count) if reduction == "mean" else total


def _unreduce(grad_loss, shape, reduction, dtype, count=None):
    """The gradient reaching each per-element loss: g / N for 'mean', g for 'sum', g itself for 'none'."""
    grad_loss = np.asarray(1.0 if grad_loss is None else grad_loss, dtype=dtype)
    if reduction == "none":
        return grad_loss
    n = int(np.prod(shape)) if count is None else count
    return np.broadcast_to(grad_loss / n if reduction == "mean" else grad_loss, shape)


def _pair(input, target, who):
    input = as_float_array(input, f"{who} input")
    target = as_float_array(target, f"{who} target")
    check_same_shape(input, "input", target, f"{who} target")
    return input, target


def mse_loss(input, target, reduction="mean"):
    """l_i = (x_i - y_i)^2. input, target: same shape."""
    input, target = _pair(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction), (diff, reduction)


def mse_loss_backward(grad_loss, cache):
    diff, reduction = cache
    return 2.0 * diff * _unreduce(grad_loss, diff.shape, reduction, diff.dtype)  # dl/dx = 2 (x - y)


_EPSILON = np.float32(1e-12)


def binary_cross_entropy(input, target, reduction="mean"):
    """l_i = -(y_i log p_i + (1 - y_i) log(1 - p_i)), each log clamped at -100 as in PyTorch.

    input: probabilities p in [0, 1]; target: y in [0, 1], same shape. The clamp keeps l finite at p = 0 or 1.
    """
    p, y = _pair(input, target, "binary_cross_entropy")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("binary_cross_entropy input: expected probabilities in [0, 1]; use "
                         "binary_cross_entropy_with_logits for raw scores")
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_q = np.maximum(np.log1p(-p), -100.0)
    return _reduce(-(y * log_p + (1.0 - y) * log_q), reduction), (p, y, reduction)


def binary_cross_entropy_backward(grad_loss, cache):
    """dl/dp = (p - y) / (p (1 - p)), the denominator clamped at PyTorch's EPSILON, the float32 value of 1e-12.

    (The clamp is not the derivative of the clamped log: it is PyTorch's formula, matched so both agree.)
    """
    p, y, reduction = cache
    g = _unreduce(grad_loss, p.shape, reduction, p.dtype)
    return g * (p - y) / np.maximum(p * (1.0 - p), p.dtype.type(_EPSILON))


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """l_i = -(y_i log s(x_i) + (1 - y_i) log(1 - s(x_i))), s the sigmoid, written stably as
    l_i = max(x_i, 0) - x_i y_i + log(1 + exp(-|x_i|)). input: logits; target: same shape."""
    x, y = _pair(input, target, "binary_cross_entropy_with_logits")
    losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    return _reduce(losses, reduction), (x, y, reduction)


def binary_cross_entropy_with_logits_backward(grad_loss, cache):
    x, y, reduction = cache
    return _unreduce(grad_loss, x.shape, reduction, x.dtype) * (sigmoid(x)[0] - y)  # dl/dx = s(x) - y


def cross_entropy(input, target, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    """l_n = -log softmax(x_n)[y_n] for logits x: (N, C) and class indices y: (N,).

    label_smoothing e in [0, 1] (PyTorch's): the target is (1 - e) onehot(y_n) + e / C for every class, so

        l_n = (1 - e) (-log p_{n,y_n}) + (e / C) sum_k (-log p_{n,k}),    p_n = softmax(x_n)

    and the model is not pushed towards probabilities of 1 (logits growing without bound) on its training
    series. e = 0: the plain cross-entropy.
    Rows whose target is ``ignore_index`` contribute nothing; 'mean' divides by the rows that count.
    """
    x = as_float_array(input, "cross_entropy input", ndim=2)
    target = np.asarray(target)
    check_ndim(target, "cross_entropy target", 1)
    if target.shape[0] != x.shape[0]:
        raise ValueError(f"cross_entropy target: expected shape ({x.shape[0]},) to match input {x.shape}, "
                         f"got {target.shape}")
    if not (is_real(label_smoothing) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"cross_entropy label_smoothing: expected a number in [0, 1], got {label_smoothing!r}")
    keep = target != ignore_index
    safe = as_index_array(np.where(keep, target, 0), "cross_entropy target", x.shape[1])
    logp, _ = log_softmax(x, axis=1)
    rows = np.arange(x.shape[0])
    losses = -logp[rows, safe]
    if label_smoothing:
        losses = (1.0 - label_smoothing) * losses - (label_smoothing / x.shape[1]) * logp.sum(axis=1)
    losses = losses * keep
    count = int(keep.sum())
    return _reduce(losses, reduction, count), (logp, safe, keep, reduction, count, label_smoothing)


def cross_entropy_backward(grad_loss, cache):
    """dl_n/dx_n = softmax(x_n) - q_n, q_n = (1 - e) onehot(y_n) + e / C the (smoothed) target, scaled by
    each row's upstream gradient: (N, C)."""
    logp, safe, keep, reduction, count, label_smoothing = cache
    g = _unreduce(grad_loss, keep.shape, reduction, logp.dtype, count) * keep
    grad = np.exp(logp)
    if label_smoothing:
        grad -= label_smoothing / logp.shape[1]
    grad[np.arange(len(safe)), safe] -= 1.0 - label_smoothing
    return grad * g[:, None]
