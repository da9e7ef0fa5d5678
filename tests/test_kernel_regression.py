"""Nadaraya-Watson kernel regression against D2L's PyTorch model (float64) and finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import FD_TOL, arrays, assert_close, tensor, torch_vjp, upstream_grads
from numpy_attn import functional as F
from numpy_attn import nn
from numpy_attn.tasks.kernel_regression import fit_and_plot
from numpy_attn.gradcheck import check_function, check_module
from torch_ref import attention as ref
from torch_ref.convert import numpy_to_torch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# w = 0 (average pooling) once in a while, else a width of at least 0.25 either sign: a w near 0 makes
# every weight 1/K and the gradients of queries, keys and w vanish, so such draws would check little
@given(data=st.data(), q=st.integers(1, 6), k=st.integers(1, 7), spread=st.sampled_from([1.0, 10.0]),
       w=st.just(0.0) | st.floats(0.25, 4.0) | st.floats(-4.0, -0.25))
def test_nadaraya_watson_matches_d2l(data, q, k, w, spread):
    queries = data.draw(arrays((q,), -spread, spread), label="queries")
    keys = data.draw(arrays((q, k), -spread, spread), label="keys")
    values = data.draw(arrays((q, k)), label="values")
    g_f = data.draw(upstream_grads((q,)), label="grad_f")
    g_weights = data.draw(st.none() | upstream_grads((q, k)), label="grad_weights")
    assert_nadaraya_watson_matches_d2l(queries, keys, values, w, spread, g_f, g_weights)


@pytest.mark.parametrize("w", [1.3, -0.6])
@pytest.mark.parametrize("with_grad_weights", [False, True])
def test_nadaraya_watson_matches_d2l_where_every_gradient_is_large(w, with_grad_weights):
    """Not drawn: 4 queries against 5 keys each, unsaturated weights, so the gradients of queries, keys
    and w are all of order one (hypothesis's draws often have K = 1 or saturated weights, where they vanish)."""
    rng = np.random.default_rng(3)
    queries, keys, values = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, (4, 5)), rng.standard_normal((4, 5))
    g_weights = rng.standard_normal((4, 5)) if with_grad_weights else None
    grads = assert_nadaraya_watson_matches_d2l(queries, keys, values, w, 1.0, rng.standard_normal(4), g_weights)
    assert min(np.abs(g).max() for g in grads) > 0.01  # the check above compared gradients that are not ~0


def assert_nadaraya_watson_matches_d2l(queries, keys, values, w, spread, g_f, g_weights):
    """f, the weights and every gradient against torch_ref's D2L module; returns our gradients."""
    t_mod = ref.NWKernelRegression().double()
    np_mod = nn.NWKernelRegression(dtype=np.float64)
    np_mod.w.data[:] = w
    numpy_to_torch(np_mod, t_mod)
    (f, weights), cache = F.nadaraya_watson(queries, keys, values, np_mod.w.data)
    grads = F.nadaraya_watson_backward((g_f, g_weights), cache)

    tq, tk, tv = tensor(queries), tensor(keys), tensor(values)
    t_f = t_mod(tq, tk, tv)
    t_grads = torch_vjp([t_f, t_mod.attention_weights], [tq, tk, tv, t_mod.w], [g_f, g_weights])
    assert_close(f, t_f, name="f", scale=np.abs(values).max())
    assert_close(weights, t_mod.attention_weights, name="weights")
    # grad values = a * g_f, one product per entry (a <= 1): measured against |g_f|. The other gradients
    # are sums of terms a (g - sum a g) times distances: measured against the size of those terms.
    assert_close(grads[2], t_grads[2], name="grad values", scale=np.abs(g_f).max())
    q, k = keys.shape
    g_scale = (np.abs(g_f).max() * np.abs(values).max() + (0 if g_weights is None else np.abs(g_weights).max()))
    d_scale = g_scale * (1 + 2 * spread) ** 2 * (1 + abs(w)) ** 2 * q * k
    for name, g, tg in zip(["queries", "keys", "w"], grads[:2] + grads[3:], t_grads[:2] + t_grads[3:]):
        assert_close(g, tg, name=f"grad {name}", scale=d_scale)
    return grads


def test_w_zero_is_average_pooling_and_w_one_the_gaussian_kernel():
    rng = np.random.default_rng(0)
    x_train, y_train = np.sort(rng.uniform(0, 5, 8)), rng.standard_normal(8)
    queries = np.array([0.5, 2.0, 4.5])
    keys, values = np.tile(x_train, (3, 1)), np.tile(y_train, (3, 1))
    (f_avg, a_avg), _ = F.nadaraya_watson(queries, keys, values, w=0.0)
    assert np.allclose(f_avg, y_train.mean()) and np.allclose(a_avg, 1 / 8)
    (f_gauss, _), _ = F.nadaraya_watson(queries, keys, values, w=1.0)
    kernel = np.exp(-0.5 * (queries[:, None] - x_train) ** 2)  # K(u) = exp(-u^2 / 2), normalised by hand
    assert np.allclose(f_gauss, kernel @ y_train / kernel.sum(axis=1))


def test_larger_w_concentrates_the_weights_on_the_nearest_key():
    keys = np.array([[0.0, 1.0, 3.0]])
    peaks = [F.nadaraya_watson(np.array([0.9]), keys, np.ones((1, 3)), w=w)[0][1][0, 1] for w in (0.5, 2.0, 20.0)]
    assert peaks[0] < peaks[1] < peaks[2] and peaks[2] > 1 - 1e-12


def test_nadaraya_watson_finite_differences():
    rng = np.random.default_rng(1)
    errors = check_function(F.nadaraya_watson, F.nadaraya_watson_backward,
                            [rng.standard_normal(4), rng.standard_normal((4, 5)), rng.standard_normal((4, 5)),
                             np.array([0.7])])
    assert max(errors.values()) < FD_TOL, errors


def test_nw_module_finite_differences_and_state_dict():
    module = nn.NWKernelRegression(dtype=np.float64, rng=0)
    assert list(module.state_dict()) == list(ref.NWKernelRegression().state_dict()) == ["w"]
    assert module.w.shape == (1,) and 0 <= module.w.data[0] < 1
    rng = np.random.default_rng(2)
    errors = check_module(module, rng.standard_normal(3), rng.standard_normal((3, 6)), rng.standard_normal((3, 6)))
    assert max(errors.values()) < FD_TOL, errors
    assert module.attention_weights.shape == (3, 6)


@pytest.mark.parametrize("args, error", [
    ((np.ones((3, 1)), np.ones((3, 4)), np.ones((3, 4))), "queries: expected a 1-D"),
    ((np.ones(3), np.ones((2, 4)), np.ones((2, 4))), "expected 3 rows"),
    ((np.ones(3), np.ones((3, 4)), np.ones((3, 5))), r"expected shape \(3, 4\)"),
    ((np.ones(3), np.ones((3, 4)), np.ones((3, 4)), np.ones(2)), "w: expected a scalar"),
    ((np.ones(3), np.full((3, 4), np.nan), np.ones((3, 4))), "NaN"),
])
def test_nadaraya_watson_rejects_bad_input(args, error):
    with pytest.raises(ValueError, match=error):
        F.nadaraya_watson(*args)


def test_nw_module_rejects_other_dtypes_and_early_backward():
    module = nn.NWKernelRegression(rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        module(np.ones(2), np.ones((2, 3)), np.ones((2, 3)))


def test_fit_and_plot_learns_and_writes_pngs_into_out_dir(tmp_path):
    out_dir = tmp_path / "nw"  # created by fit_and_plot
    result = fit_and_plot(out_dir, seed=0)
    losses = result["losses"]
    assert losses[-1] < losses[0]  # SGD lowered the training loss
    assert result["w"] > 0
    assert result["mse"]["parametric"] < result["mse"]["average pooling"]
    assert result["mse"]["non-parametric"] < result["mse"]["average pooling"]
    assert result["mse"]["parametric"] < result["mse"]["non-parametric"]  # learning w paid off (seed 0)
    for path in result["paths"]:
        assert path.parent == out_dir
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
