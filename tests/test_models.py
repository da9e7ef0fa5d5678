"""The anomaly classifiers against their torch_ref twins (float64): outputs, attention, every gradient;
the seed's state_dict loads as it is; and NumPy and PyTorch training follow the same losses step by step."""

import numpy as np
import pytest
import torch

from helpers import FD_TOL, assert_close
from numpy_attn import optim
from numpy_attn.gradcheck import check_module
from numpy_attn.models import MODELS, BiLSTMAttentionClassifier
from numpy_attn.nn import BCELoss, TransformerEncoderLayer
from numpy_attn.tasks.training import iterate_minibatches
from torch_ref import models as torch_models
from torch_ref.convert import numpy_to_torch, torch_grads

SMALL = {
    "bilstm-attention": dict(hidden_dim=4),
    "bilstm-mha": dict(hidden_dim=4, num_heads=2),
    "transformer": dict(d_model=8, nhead=2, num_layers=2, dim_feedforward=12, max_len=64),
}


def _pair(name, input_dim=2, seed=0):
    ours = MODELS[name](input_dim=input_dim, dtype=np.float64, rng=seed, **SMALL[name])
    theirs = torch_models.MODELS[name](input_dim=input_dim, **SMALL[name]).double()
    numpy_to_torch(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("batch, length", [(3, 7), (1, 1)])
def test_model_matches_torch_ref(name, batch, length):
    ours, theirs = _pair(name)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, length, 2))
    g_prob, g_alpha = rng.standard_normal(batch), rng.standard_normal((batch, length))
    prob, alpha = ours(x)
    grad_x = ours.backward(g_prob, g_alpha)
    tx = torch.tensor(x, requires_grad=True)
    tprob, talpha = theirs(tx)
    ((tprob * torch.tensor(g_prob)).sum() + (talpha * torch.tensor(g_alpha)).sum()).backward()
    assert_close(prob, tprob, name="prob")
    assert_close(alpha, talpha, name="alpha", scale=1.0)
    assert_close(grad_x, tx.grad, name="grad_x")
    expected = torch_grads(theirs)
    for key, p in ours.named_parameters():
        assert_close(p.grad, expected[key], name=f"grad {key}", scale=_cancelling_scale(key, expected))


def _cancelling_scale(key, grads):
    """The scorer's last bias gets sum_t grad_e_t, exactly 0 in exact arithmetic (softmax ignores a shift of
    all scores), so it is pure rounding of terms the size of the weight's gradient, sum_t grad_e_t tanh(.)."""
    return np.abs(grads["attention.2.weight"]).max() if key == "attention.2.bias" else 0.0


@pytest.mark.parametrize("name", MODELS)
def test_model_finite_differences(name):
    ours = MODELS[name](input_dim=1, dtype=np.float64, rng=3, **SMALL[name])
    errors = check_module(ours, np.random.default_rng(4).standard_normal((2, 4, 1)))
    assert max(errors.values()) < FD_TOL, {k: v for k, v in errors.items() if v >= FD_TOL}


def test_seed_checkpoint_loads_as_it_is():
    seed_model = torch_models.AttentionModel(input_dim=1, hidden_dim=32)  # seed 001's class, its defaults
    ours = BiLSTMAttentionClassifier()
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
           {k: tuple(v.shape) for k, v in seed_model.state_dict().items()}
    ours.load_state_dict(seed_model.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 30, 1)).astype(np.float32)
    prob, alpha = ours(x)
    tprob, talpha = seed_model(torch.tensor(x))
    np.testing.assert_allclose(prob, tprob.detach().numpy(), rtol=1e-5)  # float32 on both sides
    np.testing.assert_allclose(alpha, talpha.detach().numpy(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", MODELS)
def test_training_matches_torch_step_for_step(name):
    """Same initial weights, same batches, float64, Adam: the loss after every step agrees to ~1e-9."""
    ours, theirs = _pair(name, input_dim=1, seed=5)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 12, 1))
    y = (rng.random(40) < 0.5).astype(np.float64)
    opt, topt = optim.Adam(ours.parameters(), lr=1e-2), torch.optim.Adam(theirs.parameters(), lr=1e-2, foreach=False)
    loss_fn, tloss_fn = BCELoss(), torch.nn.BCELoss()
    batches = [idx for _ in range(13) for idx in iterate_minibatches(40, 8, shuffle=True, rng=rng)][:60]
    for step, idx in enumerate(batches):
        opt.zero_grad()
        loss = loss_fn(ours(X[idx])[0], y[idx])
        ours.backward(loss_fn.backward())
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(theirs(torch.tensor(X[idx]))[0], torch.tensor(y[idx]))
        tloss.backward()
        topt.step()
        # a trajectory amplifies rounding differences a little each step; 1e-9 after 60 steps
        assert loss == pytest.approx(tloss.item(), rel=1e-9, abs=0), f"step {step}"


def test_transformer_layer_matches_torch_both_norm_orders():
    for norm_first in (True, False):
        ours = TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first,
                                       dtype=np.float64, rng=0)
        theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                  norm_first=norm_first).double()
        numpy_to_torch(ours, theirs)
        rng = np.random.default_rng(1)
        x, g = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 5, 8))
        out, grad_x = ours(x), None
        grad_x = ours.backward(g)
        tx = torch.tensor(x, requires_grad=True)
        tout = theirs(tx)
        tout.backward(torch.tensor(g))
        assert_close(out, tout, name="out")
        assert_close(grad_x, tx.grad, name="grad_x")
        expected = torch_grads(theirs)
        for key, p in ours.named_parameters():
            assert_close(p.grad, expected[key], name=f"grad {key}")


def test_model_refuses_bad_input():
    model = BiLSTMAttentionClassifier(input_dim=1)
    with pytest.raises(ValueError, match=r"expected \(B, T, 1\), got shape \(2, 5, 3\)"):
        model(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="3-D"):
        model(np.zeros((5,), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        model(np.full((1, 5, 1), np.nan, np.float32))
