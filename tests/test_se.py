"""SEGate (squeeze over time, excite, rescale channels) against PyTorch (float64) and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FD_TOL, assert_close, run_one_input_module_both_ways
from numpy_attn import nn
from numpy_attn.gradcheck import check_module
from torch_ref import attention as ref
from torch_ref.convert import numpy_to_torch


@settings(max_examples=20)
@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 6), c=st.integers(1, 8), reduction=st.integers(1, 4),
       dim=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_se_gate_matches_torch(data, b, t, c, reduction, dim, seed):
    np_mod = nn.SEGate(c, reduction, dim=dim, dtype=np.float64, rng=seed)
    t_mod = ref.SEGate(c, reduction, dim=dim).double()
    numpy_to_torch(np_mod, t_mod)
    shape = (b, t, c) if dim == 1 else (b, c, t)  # the gated (channel) axis is the one not squeezed
    x, g, (out, grad_x, grads), (t_out, t_grad_x, t_grads) = run_one_input_module_both_ways(data, np_mod, t_mod, shape)
    scale = np.abs(g).max() * (1 + np.abs(x).max()) * t
    assert_close(out, t_out, name="out")
    assert_close(grad_x, t_grad_x, name="grad_x", scale=scale)
    assert set(grads) == set(t_grads)
    for name, tg in t_grads.items():
        assert_close(grads[name], tg, name=f"grad {name}", scale=scale * b * c)


def test_se_gate_finite_differences():
    x = np.random.default_rng(0).standard_normal((2, 5, 6))
    for dim in (1, 2):
        module = nn.SEGate(6 if dim == 1 else 5, reduction=2, dim=dim, dtype=np.float64, rng=1)
        errors = check_module(module, x)
        assert max(errors.values()) < FD_TOL, errors


def test_se_gate_scales_each_channel_by_one_factor_in_zero_one():
    module = nn.SEGate(4, reduction=2, rng=0)
    x = np.random.default_rng(1).uniform(0.5, 2.0, (3, 7, 4)).astype(np.float32)
    gate = module(x) / x  # (B, T, C): constant over time
    assert np.allclose(gate, gate[:, :1, :], rtol=1e-6)
    assert np.all((gate > 0) & (gate < 1))


def test_se_gate_state_dict_keys_and_hidden_size():
    module = nn.SEGate(8, reduction=4)
    assert list(module.state_dict()) == ["fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"]
    assert module.fc[0].weight.shape == (2, 8) and module.fc[2].weight.shape == (8, 2)
    assert nn.SEGate(3, reduction=4).fc[0].weight.shape == (1, 3)  # at least one hidden unit
    assert set(module.state_dict()) == set(ref.SEGate(8, 4).state_dict())


def test_se_gate_errors():
    module = nn.SEGate(4, rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.ones((1, 2, 4), np.float32))
    with pytest.raises(ValueError, match="expected 4 channels on axis 2"):
        module(np.ones((1, 2, 5), np.float32))
    with pytest.raises(ValueError, match="3-D"):
        module(np.ones((2, 4), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        module(np.ones((1, 2, 4)))
    with pytest.raises(ValueError, match="dim"):
        nn.SEGate(4, dim=0)
