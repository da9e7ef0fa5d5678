"""torch_ref's models and trainer as the ``--backend torch`` run uses them: the transformer in float32 as
well as float64, and the trainer refusing the settings and stopping on the NaNs the NumPy ``fit`` does."""

import copy

import numpy as np
import pytest
import torch

from numpy_attn.models import MODELS
from numpy_attn.optim import Adam
from numpy_attn.tasks.anomaly import TrainConfig
from numpy_attn.tasks.training import fit as numpy_fit
from torch_ref import models as torch_models
from torch_ref.anomaly import train_like
from torch_ref.train import fit


def _data(n, length=6, seed=0):
    """Float32 series (N, T, 1) whose label is the sign of their mean: easy to learn."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float32)
    X = rng.normal(0.0, 0.5, size=(n, length, 1)).astype(np.float32) + (2 * y - 1)[:, None, None]
    return X, y


def _bilstm():
    torch.manual_seed(0)
    return torch_models.AttentionModel(input_dim=1, hidden_dim=2)


def _small_transformer():
    torch.manual_seed(0)
    return torch_models.TransformerClassifier(input_dim=1, d_model=8, nhead=2, num_layers=1, dim_feedforward=12,
                                              max_len=16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transformer_runs_forward_and_backward_in_its_dtype(dtype):
    model = _small_transformer()  # float32, PyTorch's default dtype
    model = model.double() if dtype == torch.float64 else model
    assert model.pos_encoding.pe.dtype == dtype  # the buffer follows the model, as PyTorch's buffers do
    x = torch.tensor(_data(3)[0], dtype=dtype, requires_grad=True)
    prob, alpha = model(x)
    (prob.sum() + (alpha * torch.arange(6.0, dtype=dtype)).sum()).backward()
    assert prob.dtype == alpha.dtype == x.grad.dtype == dtype
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_transformer_is_built_in_the_default_dtype():
    assert {t.dtype for t in _small_transformer().state_dict().values()} == {torch.float32}


def test_train_like_trains_the_transformer_one_step():
    X, y = _data(8)
    np_model = MODELS["transformer"](input_dim=1, rng=0)  # float32, the task's default; its twin is too
    before = np_model.state_dict()
    config = TrainConfig(backend="torch", model="transformer", epochs=1, batch_size=8, lr=1e-3, seed=0)
    history = train_like(np_model, config, X, y, X, y)
    assert history.epochs_run == 1 and len(history.train_loss) == 1 and np.isfinite(history.val_loss[0])
    after = np_model.state_dict()
    assert not np.array_equal(after["input_proj.weight"], before["input_proj.weight"])  # the step came back
    np.testing.assert_array_equal(after["pos_encoding.pe"], before["pos_encoding.pe"])


@pytest.mark.parametrize("options, expected", [
    (dict(epochs=0), "a positive integer"), (dict(epochs=2.5), "a positive integer"),
    (dict(patience=0), "a positive integer"), (dict(batch_size=0), "a positive integer"),
    (dict(max_grad_norm=-1.0), "a finite number > 0 or None"), (dict(noise=-1.0), "a finite number >= 0"),
    (dict(noise_p=0.0), "a probability in (0, 1]"), (dict(noise_epochs=-1), "an integer >= 0 or None")])
def test_trainer_refuses_what_numpy_fit_refuses_with_the_same_message(options, expected):
    X, y = _data(8)
    np_model = MODELS["bilstm-attention"](input_dim=1, hidden_dim=2, rng=0)
    with pytest.raises(ValueError) as numpy_error:
        numpy_fit(np_model, Adam(np_model.parameters()), X, y, X, y, **options)
    with pytest.raises(ValueError) as torch_error:
        fit(_bilstm(), X, y, X, y, **options)
    assert str(torch_error.value) == str(numpy_error.value)
    name = next(iter(options))
    assert str(torch_error.value).startswith(f"{name}: expected {expected}")


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1.0])
def test_trainer_refuses_a_bad_learning_rate(lr):
    X, y = _data(8)
    with pytest.raises(ValueError, match="^lr: expected a finite non-negative number"):
        fit(_bilstm(), X, y, X, y, lr=lr)


def test_a_learning_rate_past_float32_stops_training_with_the_starting_weights_back():
    X, y = _data(16)
    model = _bilstm()
    start = copy.deepcopy(model.state_dict())
    with pytest.raises(FloatingPointError, match=r"^epoch 1, batch 1/2: the weights after the optimizer step "
                                                 r"\(lr 1e\+39\) would be NaN or inf .*; training stopped "
                                                 r"\(no epoch finished, so the model holds the weights it started"):
        fit(model, X, y, X, y, epochs=2, batch_size=8, lr=1e39)  # float32 Adam: lr / (1 - beta1) overflows
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


def test_inf_weights_stop_training_with_the_best_weights_back():
    X, y = _data(16)
    model, best = _bilstm(), []

    def poison(*_):  # after epoch 1: keep its weights, then make the classifier's bias inf (its gradient is 0)
        best.append(copy.deepcopy(model.state_dict()))
        model.classifier[0].bias.data.fill_(float("inf"))

    with pytest.raises(FloatingPointError, match=r"^epoch 2, batch 1/2: classifier.0.bias after the optimizer step "
                                                 r"\(lr 0.001\) is NaN or inf; training stopped \(the model holds "
                                                 r"the weights of its best epoch, 1\)"):
        fit(model, X, y, X, y, epochs=2, batch_size=8, on_epoch=poison)
    assert all(torch.equal(v, best[0][k]) for k, v in model.state_dict().items())


def test_history_says_whether_the_model_beat_chance():
    X, y = _data(32)
    torch.manual_seed(0)
    history = fit(torch_models.AttentionModel(input_dim=1, hidden_dim=4), X, y, X, y, epochs=3, batch_size=8,
                  lr=3e-2, rng=0)
    p = y.mean()
    assert history.chance_loss == pytest.approx(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
    assert history.beat_chance and history.to_dict()["beat_chance"] is True
