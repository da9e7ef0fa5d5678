"""Nadaraya-Watson kernel regression (1964): attention pooling in its simplest form (D2L 11.2, seed 002).

To predict y at a query x, average the training targets y_i (the values), each weighted by how close
its x_i (the key) is to the query:

    f(x) = sum_i a_i(x) y_i,   a_i(x) = softmax_i(-((x - x_i) w)^2 / 2)

a Gaussian kernel of width 1/w normalised by the softmax. One formula covers the three models:
- w = 0:  every a_i = 1/n, f is the average of the y_i (average pooling, ignores the query);
- w = 1:  the fixed Gaussian kernel, non-parametric;
- w learned by gradient descent: the parametric version (D2L's ``NWKernelRegression``), a larger w
  giving a narrower kernel, so the weights concentrate on the nearest keys.
"""

import numpy as np

from .._validate import as_float_array, check_same_shape
from .softmax import softmax, softmax_backward


def nadaraya_watson(queries, keys, values, w=1.0):
    """Nadaraya-Watson regression with a Gaussian kernel of learnable width:

        d_qi = (x_q - x_qi) w,   a_q = softmax_i(-d_q^2 / 2),   f_q = sum_i a_qi y_qi

    queries: (Q,); keys, values: (Q, K), row q holding the K (key, value) pairs that query q may
    attend to (in training D2L leaves out the query's own pair; at test time every row is the same
    training set, ``np.tile(x_train, (Q, 1))``); w: a scalar or shape (1,).
    Returns ((f (Q,), weights a (Q, K)), cache).
    """
    queries = as_float_array(queries, "nadaraya_watson queries", ndim=1)
    keys = as_float_array(keys, "nadaraya_watson keys", ndim=2)
    values = as_float_array(values, "nadaraya_watson values")
    check_same_shape(keys, "keys", values, "nadaraya_watson values")
    if keys.shape[0] != queries.shape[0]:
        raise ValueError(f"nadaraya_watson keys: expected {queries.shape[0]} rows (one per query), got {keys.shape}")
    w = as_float_array(np.asarray(w, dtype=keys.dtype), "nadaraya_watson w")  # w = 0 or 1 may come as ints
    if w.size != 1:
        raise ValueError(f"nadaraya_watson w: expected a scalar or shape (1,), got shape {w.shape}")
    gap = queries[:, None] - keys  # x_q - x_qi                                   (Q, K)
    d = gap * w.reshape(())  # the distance in units of the kernel width 1/w          (Q, K)
    a, softmax_cache = softmax(-0.5 * d * d, axis=1)  #                               (Q, K)
    f = (a * values).sum(axis=1)  #                                                    (Q,)
    return (f, a), (gap, d, a, values, w, softmax_cache)


def nadaraya_watson_backward(grad_out, cache):
    """grad_out = (grad_f (Q,), grad_weights (Q, K) or None)
    -> (grad_queries (Q,), grad_keys (Q, K), grad_values (Q, K), grad_w (shape of w))."""
    grad_f, grad_weights = grad_out
    gap, d, a, values, w, softmax_cache = cache
    grad_values = a * grad_f[:, None]  # f_q = sum_i a_qi y_qi: df/dy_qi = a_qi
    grad_a = values * grad_f[:, None]  # df/da_qi = y_qi
    if grad_weights is not None:
        grad_a = grad_a + grad_weights  # the weights are an output too
    grad_score = softmax_backward(grad_a, softmax_cache)  # a = softmax(score)
    grad_d = -d * grad_score  # score = -d^2 / 2: dscore/dd = -d
    grad_gap = grad_d * w  # d = gap w
    grad_w = (grad_d * gap).sum().reshape(w.shape)  # d = gap w, summed over every (q, i)
    grad_queries = grad_gap.sum(axis=1)  # gap = x_q - x_qi: x_q is in all K gaps of its row
    grad_keys = -grad_gap  # ... and each key x_qi in one, with sign -1
    return grad_queries, grad_keys, grad_values, grad_w
