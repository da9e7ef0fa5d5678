"""Shared test tools: the comparison that prints both values, float64 strategies, PyTorch glue.

Tolerances (float64, unit roundoff u = 1.1e-16):
- against PyTorch: both sides compute the same expressions in a different order; for the sizes drawn
  here (sums of at most a few thousand terms of well-scaled values) the forward error bound n u cond
  stays below 1e-12, so ``TORCH_TOL = 1e-10`` leaves a factor of 100 and still catches any real bug.
- a result that cancels to (nearly) zero carries rounding of the size of its summands, not of itself;
  ``assert_close(..., scale=S)`` then measures the error against S, the magnitude of those summands
  (e.g. max|g| max|W| for g @ W), which is the standard bound |fl(sum) - sum| <= n u sum|terms|.
- against central differences (h = 1e-6): truncation h^2 ~ 1e-12 plus rounding u |L| / h ~ 1e-10 |L|;
  with |L| up to ~1e3 that is 1e-7, so ``FD_TOL = 1e-6``.
"""

import importlib
import os
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from threadpoolctl import threadpool_info

from numpy_attn.kernels import parallel


TORCH_TOL = 1e-10
FD_TOL = 1e-6
# Results below this size sit within a factor 1/TORCH_TOL of float64's underflow (2.2e-308): there
# libraries differ in whether they keep a subnormal (exp(-710) = 4.5e-309) or flush it to 0, and the
# spacing of 5e-324 leaves no relative precision to judge. assert_close measures errors against at least this.
UNDERFLOW = 1e-290
WORST = {}  # (test file, compared quantity) -> the largest relative error seen; see conftest.py


def assert_close(actual, expected, tol=TORCH_TOL, name="value", scale=0.0):
    """Fail unless max|a - e| / max(max|a|, max|e|, scale, UNDERFLOW) <= tol; the message shows the worst element.

    scale: the magnitude of the terms that were summed, for results that may cancel to zero.
    """
    actual = to_numpy(actual)
    expected = to_numpy(expected)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != expected {expected.shape}"
    if actual.size == 0:
        return
    assert np.isfinite(actual).all() == np.isfinite(expected).all(), f"{name}: non-finite values differ"
    diff = np.abs(actual.astype(np.float64) - expected)
    denom = max(np.abs(actual).max(), np.abs(expected).max(), scale, UNDERFLOW)
    err = diff.max() / denom
    _record(name, err)
    if not err <= tol:
        idx = np.unravel_index(np.argmax(diff), actual.shape)
        raise AssertionError(
            f"{name}: relative error {err:.3e} > {tol:.0e}; worst at index {tuple(int(i) for i in idx)}: "
            f"got {actual[idx]!r}, expected {expected[idx]!r} (shape {actual.shape})"
        )


def _record(name, err):
    test_file = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[0]
    key = (test_file, name)
    WORST[key] = max(WORST.get(key, 0.0), float(err))


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def tensor(x, requires_grad=True):
    """A float64 leaf tensor that owns a copy of ``x``."""
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=requires_grad)


def torch_vjp(outputs, inputs, upstream):
    """Gradients of sum_k sum(outputs_k * upstream_k) with respect to ``inputs`` (None where unused)."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    loss = sum((o * tensor(g, False)).sum() for o, g in zip(outputs, upstream) if g is not None)
    return torch.autograd.grad(loss, inputs, allow_unused=True)


def run_one_input_module_both_ways(data, np_mod, t_mod, shape):
    """Draw x of ``shape`` and an upstream gradient g; run forward and backward in the NumPy module and,
    with autograd, in its PyTorch twin (same weights). Returns (x, g, ours, theirs), each side a tuple
    (out, grad_x, {parameter name: gradient}) with PyTorch's parameter names."""
    x = data.draw(arrays(shape), label="x")
    out = np_mod(x)
    g = data.draw(upstream_grads(shape), label="upstream")
    grad_x = np_mod.backward(g)
    ours = (out, grad_x, {name: p.grad for name, p in np_mod.named_parameters()})
    tx = tensor(x)
    t_out = t_mod(tx)
    names, params = zip(*t_mod.named_parameters()) if list(t_mod.parameters()) else ((), ())
    t_grad_x, *t_grads = torch_vjp(t_out, [tx, *params], [g])
    return x, g, ours, (t_out, t_grad_x, dict(zip(names, t_grads)))


def floats(lo=-3.0, hi=3.0):
    """Finite float64 values in [lo, hi], without subnormals (see UNDERFLOW)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def arrays(shape, lo=-3.0, hi=3.0, dtype=np.float64):
    """float arrays of ``shape`` with values in [lo, hi], drawn so that failures shrink."""
    return hnp.arrays(dtype, shape, elements=floats(lo, hi))


def upstream_grads(shape):
    """Upstream gradients: every entry in [-3.5, -0.5] or [0.5, 3.5]. A backward is linear in its upstream
    gradient, so an all-zero one (which ``arrays`` draws often: hypothesis fills arrays with zeros and
    shrinks towards them) would compare 0 with 0 and check nothing."""
    return arrays(shape).map(lambda g: g + np.where(g < 0, -0.5, 0.5))


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@contextmanager
def num_threads(n):
    """``numpy_attn.kernels.parallel.set_num_threads(n)`` for the length of a ``with`` block."""
    before = parallel.get_num_threads()
    parallel.set_num_threads(n)
    try:
        yield
    finally:
        parallel.set_num_threads(before)


@contextmanager
def lstm_directions_threaded(everywhere):
    """For everywhere True, ``kernels.lstm`` runs each direction on a thread of its own (under no_grad, with two
    threads or more) at every batch, hidden size and length, for the length of a ``with`` block."""
    kernel = importlib.import_module("numpy_attn.kernels.lstm")  # the module, not the function of that name
    values, steps = (1, 1) if everywhere else (kernel.THREADED_GATE_VALUES, kernel.THREADED_STEPS)
    with mock.patch.object(kernel, "THREADED_GATE_VALUES", values), mock.patch.object(kernel, "THREADED_STEPS", steps):
        yield


def blas_thread_counts():
    """The thread count of each BLAS library threadpoolctl finds loaded (NumPy's among them); the test is
    skipped where it finds none, as there is then no count to check."""
    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    if not counts:
        pytest.skip("threadpoolctl finds no BLAS library under this NumPy, so there is no thread count to check")
    return counts
