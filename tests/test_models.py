"""The classifiers against their torch_ref twins (float64): outputs, attention, every gradient, with the binary
and the K-class head, fixed and variable lengths; the seed's state_dict loads as it is; and NumPy and PyTorch
training follow the same losses step by step."""

import numpy as np
import pytest
import torch

from helpers import FD_TOL, assert_close
from numpy_attn import functional as F
from numpy_attn import optim
from numpy_attn.gradcheck import check_module
from numpy_attn.models import MODELS, BiLSTMAttentionClassifier
from numpy_attn.models.ensemble import Ensemble
from numpy_attn.nn import BCELoss, CrossEntropyLoss, TransformerEncoderLayer
from numpy_attn.tasks.training import iterate_minibatches
from torch_ref import models as torch_models
from torch_ref.convert import numpy_to_torch, torch_grads

SMALL = {
    "bilstm-attention": dict(hidden_dim=4),
    "bilstm-mha": dict(hidden_dim=4, num_heads=2),
    "transformer": dict(d_model=8, nhead=2, num_layers=2, dim_feedforward=12, max_len=64),
}


def _pair(name, input_dim=2, seed=0, num_classes=None, **options):
    kwargs = {**SMALL[name], **options}
    ours = MODELS[name](input_dim=input_dim, num_classes=num_classes, dtype=np.float64, rng=seed, **kwargs)
    theirs = torch_models.MODELS[name](input_dim=input_dim, num_classes=num_classes, **kwargs).double()
    numpy_to_torch(ours, theirs)
    return ours, theirs


def _check_against_torch(name, x, lengths=None, num_classes=None, **options):
    """Forward and backward (random upstream gradients for out and alpha) on both sides: out, alpha, grad_x
    and every parameter gradient agree."""
    ours, theirs = _pair(name, input_dim=x.shape[-1], num_classes=num_classes, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(1)
    batch, length = x.shape[:2]
    g_out = rng.standard_normal((batch,) if num_classes is None else (batch, num_classes))
    g_alpha = rng.standard_normal((batch, length))
    out, alpha = ours(x, lengths)
    grad_x = ours.backward(g_out, g_alpha)
    tx = torch.tensor(x, requires_grad=True)
    tout, talpha = theirs(tx, None if lengths is None else torch.as_tensor(lengths))
    ((tout * torch.tensor(g_out)).sum() + (talpha * torch.tensor(g_alpha)).sum()).backward()
    assert_close(out, tout, name="out")
    assert_close(alpha, talpha, name="alpha", scale=1.0)
    assert_close(grad_x, tx.grad, name="grad_x")
    expected = torch_grads(theirs)
    for key, p in ours.named_parameters():
        assert_close(p.grad, expected[key], name=f"grad {key}", scale=_cancelling_scale(key, expected))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("batch, length", [(3, 7), (1, 1)])
def test_model_matches_torch_ref(name, batch, length):
    _check_against_torch(name, np.random.default_rng(1).standard_normal((batch, length, 2)))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("num_classes, lengths", [(None, [7, 2, 1, 5]), (2, None), (4, [3, 7, 7, 1]),
                                                  (3, [1, 1, 1, 1])])
def test_model_with_classes_and_lengths_matches_torch_ref(name, num_classes, lengths):
    """The K-class head (logits) and series of their own lengths (packed LSTM, key padding masks, pooling
    over each series' steps) against the same model built from PyTorch's layers."""
    x = np.random.default_rng(2).standard_normal((4, 7, 2))
    _check_against_torch(name, x, None if lengths is None else np.array(lengths), num_classes)


@pytest.mark.parametrize("num_classes, lengths", [(None, None), (None, [7, 2, 1, 5]), (4, [3, 7, 7, 1])])
def test_channel_by_channel_bilstm_attention_matches_torch_ref(num_classes, lengths):
    """channels=3 on [x, dx] of 3 channels (6 features, feature-major): one LSTM over the B C channel series,
    pooling over the (channel, step) pairs, against the PyTorch twin."""
    x = np.random.default_rng(3).standard_normal((4, 7, 6))
    _check_against_torch("bilstm-attention", x, None if lengths is None else np.array(lengths), num_classes,
                         channels=3)


def test_channel_by_channel_reading_follows_its_channels():
    """Each channel is read alone by the same LSTM: permuting the channels permutes ``channel_weights`` and
    leaves the output as it was; the weights over (channel, step) sum to 1 and summed over the channels they
    are forward's alpha; a channel's features are x[..., c::C] (channel 1 alone is a one-channel series)."""
    model = BiLSTMAttentionClassifier(input_dim=6, hidden_dim=4, channels=3, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 9, 6))
    permuted = x.reshape(2, 9, 2, 3)[..., [2, 0, 1]].reshape(2, 9, 6)
    out, alpha = model(x)
    weights = model.channel_weights(x)
    assert weights.shape == (2, 3, 9)
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=1), alpha, rtol=1e-12)
    np.testing.assert_allclose(model(permuted)[0], out, rtol=1e-12)
    np.testing.assert_allclose(model.channel_weights(permuted), weights[:, [2, 0, 1]], rtol=1e-12)
    h = model.encode(x)
    np.testing.assert_allclose(h[:, 1], model.lstm(x[..., 1::3])[0], rtol=1e-12)


def test_channel_by_channel_reading_refuses_features_that_do_not_split():
    with pytest.raises(ValueError, match="input_dim 5 is not a whole number of features for each of 3 channels"):
        BiLSTMAttentionClassifier(input_dim=5, channels=3)


def test_heads_and_their_keys():
    """The binary head is seed 001's Sequential(Linear(D, 1), Sigmoid()); K classes: Sequential(Linear(D, K))."""
    binary, three = BiLSTMAttentionClassifier(hidden_dim=4), BiLSTMAttentionClassifier(hidden_dim=4, num_classes=3)
    assert binary.num_classes is None and three.num_classes == 3
    assert [k for k in binary.state_dict() if k.startswith("classifier")] == \
           [k for k in three.state_dict() if k.startswith("classifier")] == ["classifier.0.weight", "classifier.0.bias"]
    assert three.state_dict()["classifier.0.weight"].shape == (3, 8) and len(three.classifier) == 1
    x = np.random.default_rng(0).standard_normal((5, 6, 1)).astype(np.float32)
    prob, logits = binary(x)[0], three(x)[0]
    assert prob.shape == (5,) and 0 < prob.min() and prob.max() < 1 and logits.shape == (5, 3)


def _cancelling_scale(key, grads):
    """The scorer's last bias gets sum_t grad_e_t, exactly 0 in exact arithmetic (softmax ignores a shift of
    all scores), so it is pure rounding of terms the size of the weight's gradient, sum_t grad_e_t tanh(.)."""
    return np.abs(grads["attention.2.weight"]).max() if key == "attention.2.bias" else 0.0


@pytest.mark.parametrize("name, options", [*((name, {}) for name in MODELS), ("bilstm-attention", {"channels": 2})])
def test_model_finite_differences(name, options):
    features = 2 * options.get("channels", 1) if options else 1
    ours = MODELS[name](input_dim=features, dtype=np.float64, rng=3, **SMALL[name], **options)
    errors = check_module(ours, np.random.default_rng(4).standard_normal((2, 4, features)))
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


@pytest.mark.parametrize("name, options", [*((name, {}) for name in MODELS), ("bilstm-attention", {"channels": 3})])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_training_matches_torch_step_for_step(name, options, num_classes):
    """Same initial weights, same batches, float64, Adam: the loss after every step agrees to ~1e-9. Binary on
    series of one length, as the anomaly task trains; and 3 classes (cross-entropy on logits) on series of
    4 to 12 steps, each batch cut to its longest series, as ``fit`` does. The channel-by-channel BiLSTM on
    [x, dx] of 3 channels, the rest on one feature."""
    input_dim = 2 * options.get("channels", 1) if options else 1
    ours, theirs = _pair(name, input_dim=input_dim, seed=5, num_classes=num_classes, **options)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 12, input_dim))
    if num_classes is None:
        y, lengths = (rng.random(40) < 0.5).astype(np.float64), np.full(40, 12)
        loss_fn, tloss_fn = BCELoss(), torch.nn.BCELoss()
    else:
        y, lengths = rng.integers(0, num_classes, 40), rng.integers(4, 13, 40)
        loss_fn, tloss_fn = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    opt, topt = optim.Adam(ours.parameters(), lr=1e-2), torch.optim.Adam(theirs.parameters(), lr=1e-2, foreach=False)
    batches = [idx for _ in range(13) for idx in iterate_minibatches(40, 8, shuffle=True, rng=rng)][:60]
    for step, idx in enumerate(batches):
        x, batch_lengths = X[idx, :lengths[idx].max()], (lengths[idx] if num_classes else None)
        opt.zero_grad()
        loss = loss_fn(ours(x, batch_lengths)[0], y[idx])
        ours.backward(loss_fn.backward())
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(theirs(torch.tensor(x), None if batch_lengths is None else torch.as_tensor(batch_lengths))[0],
                         torch.tensor(y[idx]))
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


def test_an_ensemble_reads_its_members_as_the_mean_of_their_probabilities():
    """softmax of the Ensemble's output is the mean of the members' softmax (its output is that mean's log),
    its attention the mean of theirs; the state_dict keys are member<m>.<the member's key>; members need a
    K-class head (the binary head's P(class 1) has no softmax to average)."""
    rng = np.random.default_rng(0)
    members = [MODELS["bilstm-mha"](input_dim=2, hidden_dim=4, num_classes=3, rng=seed) for seed in (0, 1)]
    x, lengths = rng.standard_normal((5, 7, 2)).astype(np.float32), np.array([7, 3, 5, 1, 6])
    log_p, alpha = Ensemble(members)(x, lengths)
    outputs = [m(x, lengths) for m in members]
    want = np.mean([F.softmax(logits, axis=-1)[0] for logits, _ in outputs], axis=0)
    np.testing.assert_allclose(F.softmax(log_p, axis=-1)[0], want, rtol=1e-6)
    np.testing.assert_allclose(alpha, np.mean([a for _, a in outputs], axis=0), rtol=1e-6)
    assert set(Ensemble(members).state_dict()) == {f"member{m}.{k}" for m in (0, 1) for k in members[0].state_dict()}
    with pytest.raises(ValueError, match="K-class head"):
        Ensemble([MODELS["bilstm-mha"](input_dim=2, hidden_dim=4, rng=0)])
