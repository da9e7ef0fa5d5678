"""Series of their own lengths in a padded batch: nn.LSTM against PyTorch's packed LSTM (float64, every
output and gradient), the three classifiers unmoved by anything in the padding and equal to each series run
alone, and the NumPy and PyTorch trainers following the same losses on a multi-class, variable-length set."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from helpers import arrays, assert_close, tensor, upstream_grads
from numpy_attn import nn, optim
from numpy_attn.kernels.lstm import BLOCK
from numpy_attn.models import MODELS
from numpy_attn.models.pooled import keep_mask
from numpy_attn.tasks import training
from numpy_attn.tasks.training import cosine_lr, fit, predict
from torch_ref import models as torch_models
from torch_ref.convert import numpy_to_torch
from torch_ref.train import fit as torch_fit, predict as torch_predict

SMALL = {
    "bilstm-attention": dict(hidden_dim=4),
    "bilstm-mha": dict(hidden_dim=4, num_heads=2),
    "transformer": dict(d_model=8, nhead=2, num_layers=2, dim_feedforward=12, max_len=64),
}


# --- nn.LSTM with lengths against pack_padded_sequence + torch.nn.LSTM + pad_packed_sequence ------------------

def run_packed_lstm_both_ways(model, x, hx, lengths, upstream):
    """Forward and backward of ``model`` with lengths, and of its torch twin on the packed batch; returns
    ({name: ours}, {name: theirs}) for output, h_n, c_n, grad_x (and grad_h0, grad_c0 with hx) and
    every parameter gradient."""
    output, (h_n, c_n) = model(x, hx, lengths)
    grad_x, (grad_h0, grad_c0) = model.backward(*upstream)
    ref = torch.nn.LSTM(model.input_size, model.hidden_size, model.num_layers, batch_first=model.batch_first,
                        bidirectional=model.bidirectional)
    ref = numpy_to_torch(model, ref.double())
    leaves = [tensor(x)] + ([tensor(a) for a in hx] if hx is not None else [])
    packed = pack_padded_sequence(leaves[0], torch.as_tensor(lengths), batch_first=model.batch_first,
                                  enforce_sorted=False)
    t_packed, (t_h, t_c) = ref(packed, tuple(leaves[1:]) if hx is not None else None)
    t_out = pad_packed_sequence(t_packed, batch_first=model.batch_first, total_length=x.shape[model.batch_first])[0]
    sum((o * tensor(g, False)).sum() for o, g in zip((t_out, t_h, t_c), upstream)).backward()
    ours = {"output": output, "h_n": h_n, "c_n": c_n, "grad_x": grad_x}
    theirs = {"output": t_out, "h_n": t_h, "c_n": t_c, "grad_x": leaves[0].grad}
    if hx is not None:
        ours.update(grad_h0=grad_h0, grad_c0=grad_c0)
        theirs.update(grad_h0=leaves[1].grad, grad_c0=leaves[2].grad)
    t_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        ours[f"grad {name}"], theirs[f"grad {name}"] = p.grad, t_params[name].grad
    return ours, theirs


@st.composite
def padded_lengths(draw, batch):
    """(T, lengths (batch,)): short series, or ones across the kernel's blocks of BLOCK steps; the lengths
    drawn in [1, T], the longest made T (as a padded batch is), sometimes all equal."""
    steps = draw(st.one_of(st.integers(1, 6), st.integers(BLOCK - 1, BLOCK + 3)), label="T")
    if draw(st.booleans(), label="all equal"):
        return steps, np.full(batch, steps)
    lengths = np.array(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch), label="lengths"))
    lengths[draw(st.integers(0, batch - 1), label="longest")] = steps
    return steps, lengths


@given(data=st.data(), input_size=st.integers(1, 3), hidden_size=st.integers(1, 4), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), batch_first=st.booleans(), batch=st.integers(1, 4), with_hx=st.booleans(),
       seed=st.integers(0, 2**16))
def test_lstm_with_lengths_matches_torch_packed(data, input_size, hidden_size, num_layers, bidirectional,
                                                batch_first, batch, with_hx, seed):
    model = nn.LSTM(input_size, hidden_size, num_layers, batch_first=batch_first, bidirectional=bidirectional,
                    dtype=np.float64, rng=seed)
    steps, lengths = data.draw(padded_lengths(batch))
    x = data.draw(arrays((batch, steps, input_size) if batch_first else (steps, batch, input_size)), label="x")
    state = (num_layers * (2 if bidirectional else 1), batch, hidden_size)
    hx = (data.draw(arrays(state), label="h0"), data.draw(arrays(state), label="c0")) if with_hx else None
    out_shape = x.shape[:2] + ((2 if bidirectional else 1) * hidden_size,)
    upstream = [data.draw(upstream_grads(s), label="upstream") for s in (out_shape, state, state)]
    ours, theirs = run_packed_lstm_both_ways(model, x, hx, lengths, upstream)
    for name in theirs:
        assert_close(ours[name], theirs[name], name=name)


@pytest.mark.parametrize("lengths", [[1, 1, 1], [5, 5, 5], [1, 5, 3], [5, 1, 1], [2, 4, 3]])
@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_with_lengths_matches_torch_packed_on_chosen_lengths(lengths, batch_first):
    """Length 1 everywhere, all equal (one segment: the same as no lengths), the longest not first, ties."""
    rng = np.random.default_rng(len(lengths) + sum(lengths))
    model = nn.LSTM(2, 3, num_layers=2, batch_first=batch_first, bidirectional=True, dtype=np.float64, rng=0)
    lengths = np.array(lengths)
    steps = lengths.max()
    x = rng.standard_normal((3, steps, 2) if batch_first else (steps, 3, 2))
    hx = (rng.standard_normal((4, 3, 3)), rng.standard_normal((4, 3, 3)))
    out_shape = x.shape[:2] + (6,)
    upstream = [rng.standard_normal(s) for s in (out_shape, (4, 3, 3), (4, 3, 3))]
    ours, theirs = run_packed_lstm_both_ways(model, x, hx, lengths, upstream)
    for name in theirs:
        assert_close(ours[name], theirs[name], name=name)
    if (lengths == steps).all():  # every series full length: exactly the LSTM without lengths
        again = nn.LSTM(2, 3, num_layers=2, batch_first=batch_first, bidirectional=True, dtype=np.float64, rng=0)
        output, (h_n, c_n) = again(x, hx)
        grad_x, _ = again.backward(*upstream)
        for name, value in (("output", output), ("h_n", h_n), ("c_n", c_n), ("grad_x", grad_x)):
            assert_close(ours[name], value, name=f"{name} without lengths")


def test_lstm_padding_outputs_are_zero_and_padded_inputs_get_no_gradient():
    rng = np.random.default_rng(0)
    model = nn.LSTM(2, 3, batch_first=True, bidirectional=True, dtype=np.float64, rng=0)
    lengths = np.array([4, 1, 6])
    x = rng.standard_normal((3, 6, 2))
    output, _ = model(x, lengths=lengths)
    grad_x, _ = model.backward(rng.standard_normal(output.shape))
    for b, length in enumerate(lengths):
        assert np.all(output[b, length:] == 0) and np.all(grad_x[b, length:] == 0)
        assert np.all(output[b, :length] != 0)


@pytest.mark.parametrize("lengths, error, message", [
    (np.array([3, 2]), ValueError, r"LSTM lengths: expected shape \(3,\)"),
    (np.array([3, 0, 1]), ValueError, r"LSTM lengths: expected lengths in \[1, 4\].*from 0 to 3"),
    (np.array([5, 1, 1]), ValueError, r"LSTM lengths: expected lengths in \[1, 4\]"),
    (np.array([3.0, 2.0, 1.0]), TypeError, "LSTM lengths: expected integers"),
])
def test_lstm_refuses_bad_lengths(lengths, error, message):
    model = nn.LSTM(2, 3, batch_first=True, dtype=np.float64)
    with pytest.raises(error, match=message):
        model(np.zeros((3, 4, 2)), lengths=lengths)


def test_lstm_refuses_lengths_for_an_unbatched_input():
    with pytest.raises(ValueError, match="LSTM lengths: given for an unbatched input"):
        nn.LSTM(2, 3, dtype=np.float64)(np.zeros((4, 2)), lengths=np.array([2]))


# --- the classifiers: nothing in the padding counts ------------------------------------------------------------

def _run(model, x, lengths, g_out, g_alpha):
    """Outputs, attention, grad_x and every parameter gradient of one forward and backward."""
    model.zero_grad()
    out, alpha = model(x, lengths)
    grad_x = model.backward(g_out, g_alpha)
    return {"out": out, "alpha": alpha, "grad_x": grad_x,
            **{f"grad {name}": p.grad.copy() for name, p in model.named_parameters()}}


@pytest.mark.parametrize("num_classes", [None, 3])
@pytest.mark.parametrize("name", MODELS)
def test_padding_values_have_no_influence(name, num_classes):
    """The padded steps set to +-1e300 instead of normal noise: every output, attention weight and gradient
    is bit for bit the same, and the padding's own gradient and attention are 0."""
    rng = np.random.default_rng(1)
    model = MODELS[name](input_dim=2, num_classes=num_classes, dtype=np.float64, rng=0, **SMALL[name])
    lengths = np.array([7, 1, 4, 7, 2])
    x = rng.standard_normal((5, 7, 2))
    padded = np.arange(7) >= lengths[:, None]
    huge = x.copy()
    huge[padded] = 1e300 * np.sign(rng.standard_normal((padded.sum(), 2)))
    g_out = rng.standard_normal((5,) if num_classes is None else (5, num_classes))
    g_alpha = rng.standard_normal((5, 7))
    normal, extreme = _run(model, x, lengths, g_out, g_alpha), _run(model, huge, lengths, g_out, g_alpha)
    for key, value in normal.items():
        assert np.array_equal(value, extreme[key]), key
    assert np.all(normal["alpha"][padded] == 0) and np.all(normal["grad_x"][padded] == 0)


@pytest.mark.parametrize("num_classes", [None, 4])
@pytest.mark.parametrize("name", MODELS)
def test_a_padded_batch_is_each_series_run_alone(name, num_classes):
    """Series b of the padded batch gives what x[b, :L_b] gives on its own (no lengths): its output, its
    attention (0 after L_b) and grad_x; the parameter gradients are the sum of the series' own. So the
    padding reaches nothing: no attention pooling, self-attention or LSTM step reads it."""
    rng = np.random.default_rng(2)
    model = MODELS[name](input_dim=3, num_classes=num_classes, dtype=np.float64, rng=1, **SMALL[name])
    lengths = np.array([3, 6, 1, 5])
    x = rng.standard_normal((4, 6, 3))
    g_out = rng.standard_normal((4,) if num_classes is None else (4, num_classes))
    g_alpha = rng.standard_normal((4, 6))
    batch = _run(model, x, lengths, g_out, g_alpha)
    alone = [_run(model, x[b:b + 1, :n], None, g_out[b:b + 1], g_alpha[b:b + 1, :n]) for b, n in enumerate(lengths)]
    for b, n in enumerate(lengths):
        assert_close(batch["out"][b], alone[b]["out"][0], name=f"out {b}")
        assert_close(batch["alpha"][b, :n], alone[b]["alpha"][0], name=f"alpha {b}")
        assert_close(batch["grad_x"][b, :n], alone[b]["grad_x"][0], name=f"grad_x {b}")
        assert np.all(batch["alpha"][b, n:] == 0) and np.all(batch["grad_x"][b, n:] == 0)
    for key in batch:
        if key.startswith("grad "):
            total = sum(a[key] for a in alone)
            # the scorer's last bias gets sum_t grad_e_t, exactly 0 (softmax ignores a shift): rounding only
            scale = np.abs(batch["grad attention.2.weight"]).max() if key == "grad attention.2.bias" else 0.0
            assert_close(batch[key], total, name=key, scale=scale)


@pytest.mark.parametrize("name", MODELS)
def test_lengths_that_all_reach_the_end_are_no_lengths(name):
    """lengths all T: no step is padding, so no mask is built (``keep_mask`` gives None where a mask of all True
    would add a bias of zeros to every attention score), and the outputs, the attention and every gradient are
    those of the same batch without lengths, bit for bit."""
    assert keep_mask(np.array([4, 4]), 4) is None
    np.testing.assert_array_equal(keep_mask(np.array([4, 2]), 4), [[True] * 4, [True, True, False, False]])
    rng = np.random.default_rng(3)
    model = MODELS[name](input_dim=2, num_classes=3, dtype=np.float64, rng=2, **SMALL[name])
    x, g_out, g_alpha = rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 3)), rng.standard_normal((3, 5))
    full, unpadded = _run(model, x, np.full(3, 5), g_out, g_alpha), _run(model, x, None, g_out, g_alpha)
    for key, value in full.items():
        assert np.array_equal(value, unpadded[key]), key


def test_the_models_refuse_bad_lengths():
    model = MODELS["transformer"](input_dim=1, dtype=np.float64, rng=0, **SMALL["transformer"])
    with pytest.raises(ValueError, match=r"TransformerClassifier lengths: expected lengths in \[1, 5\]"):
        model(np.zeros((2, 5, 1)), np.array([6, 2]))
    with pytest.raises(ValueError, match=r"TransformerClassifier lengths: expected shape \(2,\)"):
        model(np.zeros((2, 5, 1)), np.array([5]))


def test_num_classes_is_none_or_at_least_two():
    for bad in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="num_classes: expected None .* or an integer >= 2"):
            MODELS["bilstm-attention"](num_classes=bad)


# --- the two trainers on a multi-class, variable-length set ----------------------------------------------------

def _classes_of_lengths(n, seed, classes=3, steps=9):
    """Series (N, 9, 2) of 3 to 9 steps (padded with noise): the class is which channel-0 level the series
    sits at, -1, 0 or +1; float64, labels int."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    lengths = rng.integers(3, steps + 1, n)
    X = rng.normal(0.0, 0.3, (n, steps, 2))
    X[:, :, 0] += (y - 1)[:, None]
    return X, y, lengths


def _cosine(epoch):
    return cosine_lr(1e-2, epoch, 4)


NOISE = dict(noise=0.3, noise_p=0.5, noise_epochs=2)  # half the series noised, epochs 1 and 2 of 4
CAP = dict(max_series_grad_norm=0.01)  # below some series' input gradients and above others' in most steps


@pytest.mark.parametrize("name, max_grad_norm, label_smoothing, lr_schedule, skip_spikes, extra", [
    *((name, None, 0.0, None, None, {}) for name in MODELS), ("bilstm-attention", 0.05, 0.0, None, None, {}),
    ("bilstm-mha", None, 0.1, None, None, {}), ("bilstm-attention", None, 0.0, _cosine, None, {}),
    ("bilstm-attention", None, 0.0, None, 1.0, {}), ("bilstm-attention", None, 0.0, _cosine, 1.0, {}),
    ("bilstm-mha", None, 0.1, _cosine, None, NOISE), ("bilstm-attention", None, 0.0, None, None, dict(noise=0.3)),
    ("bilstm-attention", None, 0.0, None, None, CAP), ("bilstm-mha", None, 0.1, None, None, CAP),
    ("bilstm-mha", None, 0.1, _cosine, None, {**NOISE, **CAP})])
def test_numpy_and_torch_trainers_agree_on_a_multiclass_variable_length_run(name, max_grad_norm, label_smoothing,
                                                                             lr_schedule, skip_spikes, extra,
                                                                             monkeypatch):
    """Same starting weights, data, seed and settings, float64: the same losses epoch by epoch, the same kept
    epoch under monitor='accuracy', and the same predictions afterwards; also with every step's gradient
    clipped (a norm of 0.05 is below this run's gradients at every step), with label smoothing (the training
    losses smoothed, the validation losses plain, in both), with the learning rate falling on a cosine epoch
    by epoch, with spikes skipped (against the median of the last 3 steps, a factor of 1 skips about every
    other step), with both, with noise on the training batches (on every series, and on half of them
    for the first two epochs: the same draws from the same generator in both, and none after), with each
    series' share clipped (with label smoothing too), and with the noise and the clipping together."""
    monkeypatch.setattr(training, "SPIKE_WINDOW", 3)
    X, y, lengths = _classes_of_lengths(36, 0)
    Xv, yv, lv = _classes_of_lengths(12, 1)
    ours = MODELS[name](input_dim=2, num_classes=3, dtype=np.float64, rng=4, **SMALL[name])
    theirs = numpy_to_torch(ours, torch_models.MODELS[name](input_dim=2, num_classes=3, **SMALL[name]).double())
    options = dict(epochs=4, batch_size=8, patience=2, rng=5, lengths_train=lengths, lengths_val=lv,
                   monitor="accuracy", max_grad_norm=max_grad_norm, label_smoothing=label_smoothing,
                   lr_schedule=lr_schedule, skip_spikes=skip_spikes, **extra)
    history = fit(ours, optim.Adam(ours.parameters(), lr=1e-2), X, y, Xv, yv, **options)
    t_history = torch_fit(theirs, X, y, Xv, yv, lr=1e-2, **options)
    np.testing.assert_allclose(history.train_loss, t_history.train_loss, rtol=1e-9)
    np.testing.assert_allclose(history.val_loss, t_history.val_loss, rtol=1e-9)
    assert history.val_accuracy == t_history.val_accuracy and history.best_epoch == t_history.best_epoch
    assert history.chance_loss == t_history.chance_loss == pytest.approx(np.log(3))
    prob, alpha = predict(ours, Xv, lv)
    t_prob, t_alpha = torch_predict(theirs, Xv, lv)
    assert prob.shape == (12, 3) and alpha.shape == (12, 9)
    assert_close(prob, t_prob, tol=1e-8, name="probabilities")
    assert_close(alpha, t_alpha, tol=1e-8, name="alpha")


def test_torch_trainer_refuses_labels_as_numpy_fit_does():
    X, y, lengths = _classes_of_lengths(6, 0)
    ours = MODELS["bilstm-attention"](input_dim=2, num_classes=3, dtype=np.float64, rng=0, hidden_dim=2)
    theirs = torch_models.AttentionModel(input_dim=2, hidden_dim=2, num_classes=3).double()
    for labels in (y + 1, y - 1, y + 0.5):
        with pytest.raises(ValueError) as numpy_error:
            fit(ours, optim.Adam(ours.parameters()), X, labels, lengths_train=lengths)
        with pytest.raises(ValueError) as torch_error:
            torch_fit(theirs, X, labels, lengths_train=lengths)
        assert str(torch_error.value) == str(numpy_error.value)
        assert str(numpy_error.value).startswith("y_train: expected class indices 0..2 (the model has 3 classes")
