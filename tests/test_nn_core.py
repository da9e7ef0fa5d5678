"""Core modules against their torch.nn counterparts: state_dict keys and shapes, outputs, every gradient,
accumulation across backward calls, and the errors a user meets."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import FD_TOL, arrays, assert_close, shapes, tensor, upstream_grads
from numpy_attn import nn
from numpy_attn.gradcheck import check_module
from numpy_attn.optim import SGD
from torch_ref.convert import numpy_to_torch, torch_grads, torch_to_numpy

F64 = np.float64


def _pair(name, rng):
    """(numpy module, torch module, input shape) with the same weights, float64."""
    if name == "Linear":
        return nn.Linear(4, 3, dtype=F64, rng=rng), torch.nn.Linear(4, 3).double(), (2, 5, 4)
    if name == "LayerNorm":
        m = nn.LayerNorm(6, dtype=F64)
        for p in m.parameters():  # away from the ones/zeros initialisation, so the affine part is tested
            p.data = np.random.default_rng(rng).standard_normal(p.shape)
        return m, torch.nn.LayerNorm(6).double(), (3, 6)
    if name == "Sequential":
        m = nn.Sequential(nn.Linear(5, 8, dtype=F64, rng=rng), nn.Tanh(), nn.Linear(8, 4, dtype=F64, rng=rng + 1),
                          nn.ReLU(), nn.Linear(4, 3, dtype=F64, rng=rng + 2), nn.Sigmoid())
        t = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4), torch.nn.ReLU(),
                                torch.nn.Linear(4, 3), torch.nn.Sigmoid()).double()
        return m, t, (2, 3, 5)
    if name == "Softmax":
        return nn.Softmax(dim=1), torch.nn.Softmax(dim=1).double(), (2, 4, 3)
    raise KeyError(name)


MODULES = ["Linear", "LayerNorm", "Sequential", "Softmax"]


@pytest.mark.parametrize("name", MODULES)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_module_matches_torch(name, data, seed):
    ours, theirs, shape = _pair(name, seed)
    numpy_to_torch(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = data.draw(arrays(shape))
    out = ours(x)
    g = data.draw(upstream_grads(out.shape), label="upstream")
    grad_x = ours.backward(g)
    tx = tensor(x)
    tout = theirs(tx)
    tout.backward(torch.tensor(g))
    assert_close(out, tout, name="out", scale=1.0)
    assert_close(grad_x, tx.grad, name="grad_x", scale=np.abs(g).max())
    expected = torch_grads(theirs)
    for key, p in ours.named_parameters():
        assert_close(p.grad, expected[key], name=f"grad {key}", scale=np.abs(g).max())


@pytest.mark.parametrize("name", MODULES)
def test_module_finite_differences(name):
    ours, _, shape = _pair(name, 3)
    errors = check_module(ours, np.random.default_rng(1).standard_normal(shape))
    assert max(errors.values()) < FD_TOL, errors


def test_state_dict_keys_and_shapes_match_torch():
    pairs = [
        (nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)),
         torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))),
        (nn.LayerNorm((3, 4), bias=False), torch.nn.LayerNorm((3, 4), bias=False)),
        (nn.Embedding(10, 3, padding_idx=0), torch.nn.Embedding(10, 3, padding_idx=0)),
        (nn.Linear(3, 2, bias=False), torch.nn.Linear(3, 2, bias=False)),
    ]
    for ours, theirs in pairs:
        assert {k: v.shape for k, v in ours.state_dict().items()} == \
               {k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_weights_round_trip_between_numpy_and_torch():
    ours = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    torch_to_numpy(theirs, ours)
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())
    fresh = nn.Sequential(nn.Linear(3, 4, rng=5), nn.Tanh(), nn.Linear(4, 2, rng=6))
    numpy_to_torch(fresh, theirs)
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(theirs.state_dict()[key].numpy(), value)


def test_initialisation_follows_torch_rules_and_the_seed():
    a, b = nn.Linear(100, 50, rng=7), nn.Linear(100, 50, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.dtype == np.float32
    assert np.abs(a.weight.data).max() <= 0.1 and np.abs(a.bias.data).max() <= 0.1  # U(+-1/sqrt(100))
    assert np.abs(a.weight.data).max() > 0.09  # 5000 draws: the largest is within 2% of the bound
    e = nn.Embedding(1000, 8, padding_idx=3, rng=0)
    assert (e.weight.data[3] == 0).all() and abs(e.weight.data.std() - 1.0) < 0.05  # N(0, 1)


def test_two_backward_calls_accumulate():
    m = nn.Sequential(nn.Linear(3, 4, dtype=F64, rng=0), nn.Tanh(), nn.Linear(4, 2, dtype=F64, rng=1))
    x = np.random.default_rng(0).standard_normal((5, 3))
    g = np.random.default_rng(1).standard_normal((5, 2))
    m(x)
    m.backward(g)
    once = {k: p.grad.copy() for k, p in m.named_parameters()}
    m.backward(g)
    for k, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[k], rtol=1e-15)
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_embedding_module_matches_torch_with_repeated_indices():
    ours = nn.Embedding(5, 3, dtype=F64, rng=0)
    theirs = torch.nn.Embedding(5, 3).double()
    numpy_to_torch(ours, theirs)
    idx = np.array([[1, 1, 4], [0, 1, 4]])
    g = np.random.default_rng(2).standard_normal((2, 3, 3))
    out = ours(idx)
    assert ours.backward(g) is None
    tout = theirs(torch.tensor(idx))
    tout.backward(torch.tensor(g))
    assert_close(out, tout, name="out")
    assert_close(ours.weight.grad, theirs.weight.grad, name="grad weight")


def test_dropout_module_train_and_eval():
    x, p = np.ones((20, 30)), 0.3  # p != 1 - p, so a scale of 1 / p instead of 1 / (1 - p) shows
    d = nn.Dropout(p, rng=1)
    out = d(x)
    torch.manual_seed(0)
    t_out = torch.nn.functional.dropout(torch.ones(20, 30, dtype=torch.float64), p, training=True)
    assert set(np.unique(out)) == set(np.unique(t_out.numpy()))  # {0, 1 / (1 - p)}: PyTorch's scale
    # the share dropped: binomial(600, 0.3) lies within 5 standard deviations (0.093 of the share) of p
    assert abs((out == 0).mean() - p) < 5 * np.sqrt(p * (1 - p) / out.size)
    g = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_array_equal(d.backward(g), g * out)  # dy/dx = mask / (1 - p): the forward's mask
    d.eval()
    assert d(x) is x and d.backward(x) is x
    outer = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.3))
    outer.eval()
    assert not outer[1].training
    outer.train()
    assert outer[1].training


@pytest.mark.parametrize("ours, theirs, target", [
    (nn.MSELoss(), torch.nn.MSELoss(), lambda r: r.standard_normal((4, 3))),
    (nn.BCELoss(), torch.nn.BCELoss(), lambda r: r.random((4, 3))),
    (nn.BCEWithLogitsLoss(reduction="sum"), torch.nn.BCEWithLogitsLoss(reduction="sum"), lambda r: r.random((4, 3))),
    (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), lambda r: r.integers(0, 3, 4)),
    (nn.CrossEntropyLoss(label_smoothing=0.2), torch.nn.CrossEntropyLoss(label_smoothing=0.2),
     lambda r: r.integers(0, 3, 4)),
])
def test_loss_modules_match_torch(ours, theirs, target):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 0.95, (4, 3))
    y = target(rng)
    loss = ours(x, y)
    assert isinstance(loss, float)
    tx = tensor(x)
    tloss = theirs(tx, torch.tensor(y))
    tloss.backward()
    assert_close(loss, tloss.item(), name="loss")
    assert_close(ours.backward(), tx.grad, name="grad_input")


# --- errors a user meets ------------------------------------------------------------------------

def test_backward_before_forward_is_a_clear_error():
    for m in (nn.Linear(2, 2), nn.Tanh(), nn.LayerNorm(2), nn.MSELoss(), nn.Dropout(0.1), nn.Embedding(2, 2)):
        with pytest.raises(RuntimeError, match="before forward"):
            m.backward(np.ones((1, 2)))


def test_load_state_dict_names_the_wrong_keys_and_shapes():
    m = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    good = m.state_dict()
    with pytest.raises(ValueError, match=r"missing keys: \['2.bias'\]"):
        m.load_state_dict({k: v for k, v in good.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"unexpected keys: \['classifier.weight'\]"):
        m.load_state_dict({**good, "classifier.weight": np.zeros(1)})
    with pytest.raises(ValueError, match=r"0.weight: expected shape \(2, 3\), got \(3, 2\)"):
        m.load_state_dict({**good, "0.weight": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="0.bias: contains NaN"):
        m.load_state_dict({**good, "0.bias": np.array([np.nan, 0.0])})
    missing, unexpected = m.load_state_dict({"0.weight": [[1, 2, 3], [4, 5, 6]], "extra": 1}, strict=False)
    assert missing == ["0.bias", "2.weight", "2.bias"] and unexpected == ["extra"]
    assert m[0].weight.data.dtype == np.float32 and m[0].weight.data[1, 2] == 6


def test_state_dict_and_load_state_dict_copy():
    m = nn.Sequential(nn.Linear(3, 2, dtype=F64, rng=0), nn.PositionalEncoding(2, max_len=4, dtype=F64))
    state = m.state_dict()
    kept = {k: v.copy() for k, v in state.items()}
    m(np.ones((1, 4, 3)))
    m.backward(np.ones((1, 4, 2)))
    SGD(m.parameters(), lr=0.1).step()  # updates each weight in place
    m[1].pe += 1.0  # and the buffer too
    assert not np.array_equal(m[0].weight.data, kept["0.weight"])
    for key, value in state.items():
        np.testing.assert_array_equal(value, kept[key], err_msg=f"state_dict()[{key!r}] followed the module")

    m.load_state_dict(state)
    for value in state.values():
        value += 1.0  # changing the loaded arrays afterwards ...
    for key, value in m.state_dict().items():  # ... leaves the module as loaded
        np.testing.assert_array_equal(value, kept[key], err_msg=f"{key} followed the dict it was loaded from")
    t = torch.nn.Linear(3, 2).double()
    m[0].load_state_dict(t.state_dict())
    with torch.no_grad():
        t.weight += 1.0  # a CPU tensor's memory too
    np.testing.assert_array_equal(m[0].weight.data, t.weight.detach().numpy() - 1.0)


def test_load_state_dict_accepts_torch_tensors():
    m = nn.Linear(3, 2)
    t = torch.nn.Linear(3, 2)
    m.load_state_dict(t.state_dict())
    np.testing.assert_array_equal(m.weight.data, t.weight.detach().numpy())


@pytest.mark.parametrize("x, error, match", [
    (np.ones((2, 3), dtype=np.int64), TypeError, "floating-point"),
    (np.ones((2, 3), dtype=np.float64), TypeError, "does not match the module's dtype float32"),
    (np.ones((2, 4), dtype=np.float32), ValueError,
     r"expected (last dimension 3|trailing shape \(3,\)), got shape \(2, 4\)"),  # Linear's, LayerNorm's
    (np.full((2, 3), np.nan, dtype=np.float32), ValueError, "NaN"),
])
@pytest.mark.parametrize("module", [lambda: nn.Linear(3, 2), lambda: nn.LayerNorm(3)], ids=["Linear", "LayerNorm"])
def test_linear_and_layer_norm_refuse_bad_input(module, x, error, match):
    with pytest.raises(error, match=match):
        module()(x)


def test_named_parameters_use_pytorch_dotted_names():
    m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.LayerNorm(3), nn.Linear(3, 1, bias=False)))
    assert [k for k, _ in m.named_parameters()] == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.1.weight"]
    assert "Linear(in_features=2, out_features=3, bias=True)" in repr(m)


@given(shape=shapes(2, 3), seed=st.integers(0, 100))
def test_layer_norm_module_normalises(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * 5 + 3
    out = nn.LayerNorm(shape[-1], dtype=F64)(x)
    if shape[-1] > 1:
        np.testing.assert_allclose(out.mean(-1), 0, atol=1e-12)
        np.testing.assert_allclose(out.var(-1), x.var(-1) / (x.var(-1) + 1e-5), rtol=1e-10)
