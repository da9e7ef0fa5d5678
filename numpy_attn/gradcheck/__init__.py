"""Finite-difference gradient checks for any forward/backward pair or module.

The check: draw a random upstream gradient g (never all ones, so every output element is weighted
differently), form the scalar L = sum(out * g), and compare the backward's gradient of L with central
differences  dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / (2h)  in float64.

Error measure: ``relative_error(a, b) = max|a - b| / max(max|a|, max|b|)`` (worst element over the
largest magnitude), so a gradient with tiny entries is not judged by its noise. The checks below report
one error per input and parameter, each measured against the largest gradient entry of the whole check
(the normwise error of the full gradient, split by part): a part whose gradient is exactly zero, such as
the bias of a layer whose outputs only feed a softmax, is then judged by the size of the others, not by
the ratio of two rounding noises. In float64 with
h = 1e-6 the truncation error is O(h^2) ~ 1e-12 and the rounding error O(eps |L| / h) ~ 1e-10 |L|,
so a correct backward scores around 1e-8 and a wrong one around 1.
"""

import numpy as np

from .._validate import as_generator


def relative_error(actual, expected, scale=0.0):
    """max|a - b| / max(max|a|, max|b|, scale); 0 when all three are zero."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = max(np.abs(actual).max(initial=0.0), np.abs(expected).max(initial=0.0), scale)
    return 0.0 if scale == 0 else float(np.abs(actual - expected).max() / scale)


def numerical_gradient(f, x, h=1e-6):
    """Central differences of the scalar function ``f()`` with respect to the array ``x``, perturbed in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: writing flat[i] perturbs x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def _flatten(tree):
    """The arrays (and Nones) of a nested tuple/list, in order: (out, (h, c)) -> [out, h, c]."""
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _flatten(item)]
    return [tree]


def _as_float64(tree):
    if isinstance(tree, (tuple, list)):
        return type(tree)(_as_float64(t) for t in tree)
    is_float = tree is not None and np.asarray(tree).dtype.kind == "f"
    return np.array(tree, dtype=np.float64) if is_float else tree


def _is_float_array(x):
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def _upstream(outputs, rng):
    """A random upstream gradient for each floating-point output (scalars included), None for the rest."""
    return [rng.standard_normal(np.shape(o)) if o is not None and np.asarray(o).dtype.kind == "f" else None
            for o in outputs]


def _loss(outputs, upstream):
    """L = sum_k sum(out_k * g_k) over the outputs that receive an upstream gradient."""
    return sum(float(np.sum(o * g)) for o, g in zip(_flatten(outputs), upstream) if g is not None)


def check_function(forward, backward, inputs, rng=0, h=1e-6):
    """Worst relative error of ``backward`` against central differences, per float input.

    forward(*inputs) -> (out, cache), out an array or a tuple of arrays; backward(grad_out, cache) ->
    the input gradients, in the order of ``inputs`` (one array when there is one input).
    Returns {input index: relative error}.
    """
    rng = as_generator(rng)
    inputs = _as_float64(list(inputs))
    out, cache = forward(*inputs)
    upstream = _upstream(_flatten(out), rng)
    grads = backward(tuple(upstream) if isinstance(out, tuple) else upstream[0], cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    loss = lambda: _loss(forward(*inputs)[0], upstream)  # noqa: E731
    return _errors({i: (grads[i], numerical_gradient(loss, x, h)) for i, x in enumerate(inputs) if _is_float_array(x)})


def check_module(module, *inputs, n_outputs=None, rng=0, h=1e-6):
    """Worst relative error of ``module.backward`` against central differences, per input and parameter.

    The module must be float64 (``dtype=np.float64``) and deterministic (eval mode if it holds dropout).
    Its forward output may be nested, ``(output, (h_n, c_n))``; each of the first ``n_outputs`` arrays
    (default all) gets a random upstream gradient, passed to ``module.backward`` in order, and the
    returned input gradients follow the structure of ``inputs``.
    Returns {"input 0": err, ..., "weight": err, ...} with inputs numbered in flattened order.
    """
    rng = as_generator(rng)
    inputs = _as_float64(list(inputs))
    outputs = _flatten(module(*inputs))[:n_outputs]
    upstream = _upstream(outputs, rng)
    module.zero_grad()
    grad_inputs = _flatten(module.backward(*upstream))
    loss = lambda: _loss(module(*inputs), upstream)  # noqa: E731
    pairs = {}
    for i, (x, g) in enumerate(zip(_flatten(inputs), grad_inputs)):
        if _is_float_array(x):
            pairs[f"input {i}"] = (g, numerical_gradient(loss, x, h))
    for name, p in module.named_parameters():
        pairs[name] = (p.grad, numerical_gradient(loss, p.data, h))
    return _errors(pairs)


def _errors(pairs):
    """{name: (analytic, numeric)} -> {name: error}, each against the largest entry of all the gradients."""
    scale = max(max(np.abs(a).max(initial=0.0), np.abs(n).max(initial=0.0)) for a, n in pairs.values())
    return {name: relative_error(a, n, scale) for name, (a, n) in pairs.items()}
