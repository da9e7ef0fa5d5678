"""Sinusoidal and learned positional encodings against PyTorch (float64) and finite differences."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import FD_TOL, assert_close, run_one_input_module_both_ways
from numpy_attn import functional as F
from numpy_attn import nn
from numpy_attn.gradcheck import check_function, check_module
from torch_ref import attention as ref
from torch_ref.convert import numpy_to_torch


@given(max_len=st.integers(1, 300), d_model=st.integers(1, 33))
def test_sinusoidal_table_matches_the_torch_tutorial(max_len, d_model):
    table = F.sinusoidal_encoding(max_len, d_model)
    assert table.shape == (max_len, d_model)
    assert_close(table, ref.PositionalEncoding(d_model, max_len).pe, name="pe")


def test_sinusoidal_table_follows_the_formula_entry_by_entry():
    table = F.sinusoidal_encoding(50, 7)  # odd d_model: columns 0, 2, 4, 6 sine; 1, 3, 5 cosine
    for pos in (0, 1, 17, 49):
        for i in range(7):
            angle = pos / 10000 ** ((i - i % 2) / 7)  # column 2i and 2i+1 share the frequency of 2i
            expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert abs(table[pos, i] - expected) < 1e-12


@given(data=st.data(), b=st.integers(1, 3), t=st.integers(1, 6), d=st.integers(1, 6), extra=st.integers(0, 3),
       batch_first=st.booleans(), learned=st.booleans(), seed=st.integers(0, 2**16))
def test_positional_modules_match_torch(data, b, t, d, extra, batch_first, learned, seed):
    max_len = t + extra
    if learned:
        np_mod = nn.LearnedPositionalEncoding(max_len, d, batch_first=batch_first, dtype=np.float64, rng=seed)
        t_mod = ref.LearnedPositionalEncoding(max_len, d, batch_first=batch_first).double()
    else:
        np_mod = nn.PositionalEncoding(d, max_len, batch_first=batch_first, dtype=np.float64)
        t_mod = ref.PositionalEncoding(d, max_len, batch_first=batch_first).double()
    numpy_to_torch(np_mod, t_mod)
    shape = (b, t, d) if batch_first else (t, b, d)
    _, g, (out, grad_x, grads), (t_out, t_grad_x, t_grads) = run_one_input_module_both_ways(data, np_mod, t_mod, shape)
    assert_close(out, t_out, name="out")
    assert_close(grad_x, t_grad_x, name="grad_x")
    assert set(grads) == set(t_grads)  # the learned table, or nothing
    if learned:
        assert_close(grads["weight"], t_grads["weight"], name="grad weight", scale=np.abs(g).max())
        assert np.all(np_mod.weight.grad[t:] == 0)  # rows past T were not used


def test_add_positional_encoding_finite_differences():
    rng = np.random.default_rng(0)
    for batch_first in (True, False):
        errors = check_function(lambda x, table: F.add_positional_encoding(x, table, batch_first),
                                F.add_positional_encoding_backward,
                                [rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4))])
        assert max(errors.values()) < FD_TOL, errors


def test_learned_positional_encoding_finite_differences():
    module = nn.LearnedPositionalEncoding(6, 3, dtype=np.float64, rng=0)
    errors = check_module(module, np.random.default_rng(1).standard_normal((2, 4, 3)))
    assert max(errors.values()) < FD_TOL, errors


def test_learned_gradient_accumulates_over_two_backward_calls():
    module = nn.LearnedPositionalEncoding(4, 2, dtype=np.float64, rng=0)
    x = np.zeros((1, 3, 2))
    module(x)
    g = np.arange(6.0).reshape(1, 3, 2)
    module.backward(g)
    module.backward(g)
    assert np.array_equal(module.weight.grad[:3], 2 * g[0]) and np.all(module.weight.grad[3] == 0)


def test_positional_encoding_dropout_uses_one_mask_forward_and_backward():
    module = nn.PositionalEncoding(4, 10, dropout=0.5, dtype=np.float64, rng=3)
    x = np.random.default_rng(4).standard_normal((2, 5, 4))
    out = module(x)
    grad = module.backward(np.ones_like(x))
    dropped = out == 0
    assert dropped.any() and not dropped.all()
    assert np.array_equal(grad == 0, dropped)  # the positions zeroed in forward get no gradient
    assert np.allclose(out[~dropped], 2.0 * (x + module.pe[:5])[~dropped])  # survivors scaled by 1 / (1 - p)
    module.eval()
    assert np.array_equal(module(x), x + module.pe[:5])


def test_positional_encoding_state_dict_has_the_pe_buffer():
    module = nn.PositionalEncoding(6, 20)
    assert list(module.state_dict()) == ["pe"] and module.parameters() == []
    assert module.pe.dtype == np.float32 and module.pe.shape == (20, 6)
    assert list(nn.LearnedPositionalEncoding(20, 6).state_dict()) == ["weight"]


@pytest.mark.parametrize("module", [nn.PositionalEncoding(4, max_len=5), nn.LearnedPositionalEncoding(5, 4)])
def test_positional_encoding_errors(module):
    with pytest.raises(ValueError, match="sequence length 6 .* exceeds max_len 5"):
        module(np.zeros((2, 6, 4), np.float32))
    with pytest.raises(ValueError, match="last dimension 4"):
        module(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="3-D"):
        module(np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        module(np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        type(module)(*([4, 5] if isinstance(module, nn.PositionalEncoding) else [5, 4])).backward(np.zeros((2, 3, 4)))


def test_sinusoidal_encoding_rejects_empty_tables():
    with pytest.raises(ValueError, match="max_len >= 1"):
        F.sinusoidal_encoding(0, 4)
