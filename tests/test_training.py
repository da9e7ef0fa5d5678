"""The training loop, on a tiny classifier built here from numpy_attn.nn pieces: binary and K-class heads,
series of their own lengths, training without validation, early stopping by loss or accuracy; the
stratified split for small training sets."""

import numpy as np
import pytest

from helpers import blas_thread_counts
from numpy_attn import nn
from numpy_attn.kernels.blas import limit_blas_threads
from numpy_attn.models import BiLSTMAttentionClassifier
from numpy_attn.optim import Adam
from numpy_attn.tasks.checkpoint import load_checkpoint, save_checkpoint
from numpy_attn.tasks.preprocessing import stratified_split
from numpy_attn.tasks import training
from numpy_attn.tasks.training import (History, chance_loss, cosine_lr, evaluate_loss, fit, is_spike,
                                       iterate_minibatches, predict)


class MeanPoolClassifier(nn.Module):
    """prob = sigmoid(W2 tanh(W1 m + b1) + b2), m = mean of x over each series' own steps; with num_classes=K
    the last layer gives K logits and there is no sigmoid. x: (B, T, C), lengths (B,) or None -> (out, None).

    Follows the classifier interface fit expects: no attention, so alpha is None.
    """

    def __init__(self, channels=2, hidden=8, num_classes=None, dtype=np.float64, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Linear(channels, hidden, dtype=dtype, rng=rng),
            nn.Tanh(),
            nn.Linear(hidden, 1 if num_classes is None else num_classes, dtype=dtype, rng=rng),
            *([nn.Sigmoid()] if num_classes is None else []),
        )

    def forward(self, x, lengths=None):
        B, T, _ = x.shape
        lengths = np.full(B, T) if lengths is None else lengths
        weights = ((np.arange(T) < lengths[:, None]) / lengths[:, None]).astype(x.dtype)  # (B, T): 1/L on its steps
        self._cache = weights
        out = self.net(np.einsum("bt,btc->bc", weights, x))
        return (out[:, 0] if self.num_classes is None else out), None

    def backward(self, grad_out):
        weights = self._saved()
        grad_pooled = self.net.backward(grad_out[:, None] if self.num_classes is None else grad_out)  # (B, C)
        return weights[:, :, None] * grad_pooled[:, None, :]  # d/dx of the mean over each series' steps


def _toy(n, seed, flip=False):
    """Separable: class 1 series sit around +1 in channel 0, class 0 around -1. flip: labels swapped."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float64)
    X = rng.normal(0.0, 0.5, size=(n, 6, 2))
    X[:, :, 0] += (2 * y - 1)[:, None]
    return X, (1 - y) if flip else y


def _fit(model=None, epochs=8, val_flip=False, seed=0, **kwargs):
    model = model or MeanPoolClassifier()
    X, y = _toy(128, 1)
    Xv, yv = _toy(64, 2, flip=val_flip)
    optimizer = Adam(model.parameters(), lr=0.05)
    return model, fit(model, optimizer, X, y, Xv, yv, epochs=epochs, batch_size=16, rng=seed, **kwargs)


def _states_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_minibatches_cover_every_index_once():
    batches = list(iterate_minibatches(10, 4, shuffle=True, rng=0))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    np.testing.assert_array_equal(np.concatenate(list(iterate_minibatches(10, 3))), np.arange(10))
    with pytest.raises(ValueError, match="batch_size"):
        list(iterate_minibatches(10, 0))


def test_loss_falls_and_the_toy_set_is_learned():
    model, history = _fit()
    assert isinstance(history, History) and history.epochs_run == 8 == len(history.train_loss)
    assert history.train_loss[-1] < 0.25 * history.train_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]
    X, y = _toy(64, 3)
    prob, alpha = predict(model, X)
    assert alpha is None and prob.shape == (64,)
    assert ((prob > 0.5) == y).mean() > 0.95
    assert len(history.epoch_seconds) == 8 and all(s > 0 for s in history.epoch_seconds)


def test_early_stopping_restores_the_best_weights():
    # Validation labels are the training labels flipped: the better the fit, the worse the validation loss.
    model, snapshots = MeanPoolClassifier(), []
    snapshot = lambda *_: snapshots.append(model.state_dict())  # noqa: E731
    _, history = _fit(model, val_flip=True, epochs=20, patience=3, on_epoch=snapshot)
    assert np.all(np.diff(history.val_loss) > 0)  # the construction works: validation loss only rises
    assert history.best_epoch == 1 and history.stopped_early and history.epochs_run == 4
    assert _states_equal(model.state_dict(), snapshots[0])
    assert not _states_equal(model.state_dict(), snapshots[-1])


def test_callbacks_see_every_batch_and_epoch():
    batches, epochs = [], []
    _, history = _fit(epochs=2, on_batch=lambda *a: batches.append(a), on_epoch=lambda *a: epochs.append(a))
    assert [(e, b, n) for e, b, n, _ in batches] == [(e, b, 8) for e in (1, 2) for b in range(1, 9)]
    assert [e for e, _, _ in epochs] == [1, 2]
    assert [v for _, _, v in epochs] == history.val_loss
    # the epoch's train loss is the mean of its batch losses (all batches hold 16 of the 128 series)
    assert epochs[0][1] == pytest.approx(np.mean([loss for e, _, _, loss in batches if e == 1]))


class Poisoned(MeanPoolClassifier):
    """Goes wrong on the ``at``-th training call: a NaN output ("output") or a NaN gradient ("gradient")."""

    def __init__(self, at, what):
        super().__init__()
        self.at, self.what, self.calls = at, what, 0

    def forward(self, x, lengths=None):
        prob, alpha = super().forward(x, lengths)
        if self.training:
            self.calls += 1
            if self.calls == self.at and self.what == "output":
                prob = prob * np.nan
        return prob, alpha

    def backward(self, grad_prob):
        grad_x = super().backward(grad_prob)
        if self.calls == self.at and self.what == "gradient":
            self.net[2].bias.grad[:] = np.inf
        return grad_x


@pytest.mark.parametrize(
    "what, message", [("output", "the model's output"), ("gradient", "the gradient of net.2.bias")]
)
def test_nan_stops_training_with_a_clear_error(what, message):
    model, epoch_one = Poisoned(at=12, what=what), []  # call 12 = epoch 2, batch 4 of 8
    with pytest.raises(FloatingPointError, match=f"epoch 2, batch 4/8: {message} is NaN or inf"):
        _fit(model, on_epoch=lambda *_: epoch_one.append(model.state_dict()))
    assert _states_equal(model.state_dict(), epoch_one[0])  # the best weights so far are back, all finite


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # in Adam's step, as expected
@pytest.mark.parametrize("failing_epoch", [1, 2])
def test_a_step_that_makes_the_weights_inf_stops_training(failing_epoch):
    # float32 and lr 1e39 (finite, so Adam takes it): the first step, of size lr / (1 - beta1), overflows
    # to inf although the output and every gradient were finite.
    model = MeanPoolClassifier(dtype=np.float32)
    X, y = _toy(128, 1)
    optimizer = Adam(model.parameters(), lr=1e39 if failing_epoch == 1 else 0.05)
    good = [model.state_dict()]  # the starting weights, then each epoch's
    raise_lr = lambda *_: (good.append(model.state_dict()), setattr(optimizer, "lr", 1e39))  # noqa: E731
    held = ("the weights of its best epoch, 1" if failing_epoch == 2
            else "no epoch finished, so the model holds the weights it started with")
    with pytest.raises(FloatingPointError, match=rf"^epoch {failing_epoch}, batch 1/8: net.0.weight after the "
                                                 rf"optimizer step \(lr 1e\+39\) is NaN or inf; training stopped "
                                                 rf"\(.*{held}"):
        fit(model, optimizer, X.astype(np.float32), y, X[:64].astype(np.float32), y[:64], epochs=3,
            batch_size=16, rng=0, on_epoch=raise_lr)
    assert _states_equal(model.state_dict(), good[-1])
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_chance_loss_is_the_loss_of_predicting_the_training_frequency():
    assert chance_loss([0, 1, 1, 0], [1, 0, 0, 1, 1, 0]) == pytest.approx(np.log(2))
    # training frequency p = 1/4, validation frequency q = 2/3: -(q log p + (1 - q) log(1 - p))
    assert chance_loss([1, 0, 0, 0], [1, 1, 0]) == pytest.approx(-(2 / 3 * np.log(1 / 4) + 1 / 3 * np.log(3 / 4)))
    assert chance_loss([0, 0], [1, 0]) == pytest.approx(50.0)  # log 0 clamped at -100, as in BCELoss


def test_history_says_whether_the_model_beat_chance():
    _, learned = _fit()
    assert learned.beat_chance and learned.best_val_loss < learned.chance_loss
    assert learned.chance_loss == pytest.approx(chance_loss(_toy(128, 1)[1], _toy(64, 2)[1]))
    # Random labels, half of them 1 in both splits, on one series repeated: every prediction is the same
    # constant c, and no c does better on the validation labels than the training frequency, 1/2.
    rng = np.random.default_rng(9)
    X = np.broadcast_to(rng.standard_normal((6, 2)), (128, 6, 2))
    y = np.concatenate([rng.permutation(np.repeat([0.0, 1.0], 48)), rng.permutation(np.repeat([0.0, 1.0], 16))])
    model = MeanPoolClassifier()
    guessed = fit(model, Adam(model.parameters(), lr=0.05), X[:96], y[:96], X[96:], y[96:], epochs=8,
                  batch_size=16, rng=0)
    assert not guessed.beat_chance and guessed.best_val_loss >= guessed.chance_loss
    assert {"chance_loss": guessed.chance_loss, "beat_chance": False}.items() <= guessed.to_dict().items()


def test_nan_in_the_data_is_refused_up_front():
    model = MeanPoolClassifier()
    X, y = _toy(8, 0)
    X_val = X.copy()
    X_val[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X_val: contains NaN or inf \(first at index \(3, 2, 1\)\)"):
        fit(model, Adam(model.parameters()), X, y, X_val, y)


def test_same_seed_same_run():
    a, ha = _fit(MeanPoolClassifier(rng=5), seed=7)
    b, hb = _fit(MeanPoolClassifier(rng=5), seed=7)
    c, hc = _fit(MeanPoolClassifier(rng=5), seed=8)
    assert ha.train_loss == hb.train_loss and ha.val_loss == hb.val_loss
    assert _states_equal(a.state_dict(), b.state_dict())
    assert ha.train_loss != hc.train_loss  # another shuffle


def test_nothing_is_written_without_a_checkpoint_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fit(epochs=2)
    assert list(tmp_path.iterdir()) == []


def test_fit_checkpoint_holds_the_best_weights(tmp_path):
    path = tmp_path / "best.npz"
    model, history = _fit(checkpoint=path, checkpoint_meta={"hidden": 8}, val_flip=True, patience=2)
    state, meta = load_checkpoint(path)
    assert _states_equal(state, model.state_dict())
    assert meta == {"hidden": 8, "best_epoch": history.best_epoch, "val_loss": history.best_val_loss}
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]  # no temporary file left behind


def test_checkpoint_round_trip(tmp_path):
    model = MeanPoolClassifier(rng=3)
    path = tmp_path / "model.ckpt"  # the exact name is kept, no .npz appended
    save_checkpoint(path, model, {"epochs": np.int64(3), "scale": np.array([1.5, 2.0]), "name": "bilstm"})
    state, meta = load_checkpoint(path)
    assert list(state) == list(model.state_dict())
    assert _states_equal(state, model.state_dict())
    assert meta == {"epochs": 3, "scale": [1.5, 2.0], "name": "bilstm"}
    other = MeanPoolClassifier(rng=4)
    other.load_state_dict(state)
    X, _ = _toy(5, 0)
    np.testing.assert_array_equal(predict(other, X)[0], predict(model, X)[0])


def test_bad_checkpoints_are_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_checkpoint(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(ValueError, match="not a numpy-attn checkpoint"):
        load_checkpoint(corrupt)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="not a numpy-attn checkpoint"):
        load_checkpoint(single)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weight=np.zeros(3))
    with pytest.raises(ValueError, match="not a numpy-attn-checkpoint-v1 file"):
        load_checkpoint(foreign)


def test_predicts_default_batches_hold_about_predict_steps_pairs():
    """predict's default batch: PREDICT_STEPS // T series, so the (series, step) pairs of a batch, and the
    forward's activations with them, stay about the same at every length; at least one series."""
    from numpy_attn.tasks.training import PREDICT_STEPS, predict_batch_size
    for T in (1, 24, 183, 512, 5000, 10 * PREDICT_STEPS):
        size = predict_batch_size(np.empty((3, T, 2)))
        assert size >= 1 and size * T <= max(PREDICT_STEPS, T) < (size + 1) * T  # the most series that fit
    assert predict_batch_size(np.empty((3, 512, 2))) == 256  # the batch of 256 it replaced, at 512 steps


def test_predict_is_batch_independent_and_restores_the_mode():
    model = MeanPoolClassifier(rng=6)
    X, _ = _toy(37, 4)
    np.testing.assert_allclose(predict(model, X, batch_size=5)[0], predict(model, X, batch_size=100)[0], rtol=1e-14)
    assert model.training
    model.eval()
    predict(model, X)
    assert not model.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=0), "epochs"),
        (dict(epochs=2.5), "epochs"),
        (dict(patience=0), "patience"),
        (dict(patience=1.5), "patience"),
        (dict(batch_size=0), "batch_size"),
        (dict(blas_threads=0), "blas_threads"),
        (dict(blas_threads=1.5), "blas_threads"),
        (dict(noise=-0.1), "noise"),
        (dict(noise=float("nan")), "noise"),
        (dict(noise=True), "noise"),
        (dict(noise_p=0.0), r"noise_p: expected a probability in \(0, 1\]"),
        (dict(noise_p=1.5), r"noise_p: expected a probability in \(0, 1\]"),
        (dict(noise_epochs=-1), "noise_epochs: expected an integer >= 0 or None"),
        (dict(noise_epochs=1.5), "noise_epochs: expected an integer >= 0 or None"),
        (dict(max_grad_norm=0.0), "max_grad_norm"),
        (dict(max_grad_norm=float("inf")), "max_grad_norm"),
        (dict(max_grad_norm=True), "max_grad_norm"),
        (dict(label_smoothing=-0.1), r"label_smoothing: expected a number in \[0, 1\]"),
        (dict(label_smoothing=1.5), r"label_smoothing: expected a number in \[0, 1\]"),
        (dict(label_smoothing=True), r"label_smoothing: expected a number in \[0, 1\]"),
        (dict(label_smoothing=0.1), r"label_smoothing: the binary head \(BCELoss\) takes none"),
        (dict(lr_schedule=1e-3), "lr_schedule"),
        (dict(skip_spikes=0.0), "skip_spikes"),
        (dict(skip_spikes=float("nan")), "skip_spikes"),
        (dict(max_series_grad_norm=0.0), "max_series_grad_norm"),
        (dict(max_series_grad_norm=float("inf")), "max_series_grad_norm"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    model = MeanPoolClassifier()
    X, y = _toy(8, 0)
    with pytest.raises(ValueError, match=match):
        fit(model, Adam(model.parameters()), X, y, X, y, **kwargs)


def test_lr_schedule_sets_each_epochs_learning_rate_before_it_runs():
    """Every step of epoch e runs at lr_schedule(e), the cosine from lr at epoch 1 towards 0; the optimizer
    keeps the last epoch's rate. Without a schedule the rate never changes."""
    X, y = _toy(64, 1)
    rates = {}
    for schedule in (lambda epoch: cosine_lr(0.1, epoch, 4), None):
        model = MeanPoolClassifier()
        optimizer = Adam(model.parameters(), lr=0.1)
        seen = rates.setdefault(schedule is None, {})
        fit(model, optimizer, X, y, X, y, epochs=4, batch_size=16, patience=None, rng=0, lr_schedule=schedule,
            on_batch=lambda epoch, *_: seen.setdefault(epoch, set()).add(optimizer.lr))
    assert rates[False] == {epoch: {cosine_lr(0.1, epoch, 4)} for epoch in range(1, 5)}
    assert [cosine_lr(0.1, epoch, 4) for epoch in (1, 2, 3)] == [0.1, pytest.approx(0.1 * (2 + 2 ** 0.5) / 4),
                                                                 pytest.approx(0.05)]
    assert rates[True] == {epoch: {0.1} for epoch in range(1, 5)}


def test_a_spike_is_a_norm_above_factor_times_the_median_of_the_window_before_it(monkeypatch):
    monkeypatch.setattr(training, "SPIKE_WINDOW", 4)
    assert not is_spike(1e9, [1.0, 1.0, 1.0], 10)  # fewer than SPIKE_WINDOW steps so far: never
    norms = [100.0, 1.0, 2.0, 3.0, 1000.0]  # the median of the last four is 2.5, the 100 has left the window
    assert is_spike(25.1, norms, 10) and not is_spike(25.0, norms, 10) and not is_spike(24.0, norms, 10)
    assert is_spike(5.1, norms, 2)


@pytest.mark.parametrize("factor, zeroed", [(1e-9, True), (1e9, False)])
def test_skip_spikes_sets_a_spikes_gradients_to_zero(monkeypatch, factor, zeroed):
    """Every step after the first SPIKE_WINDOW is a spike against a tiny factor and none against a huge one: the
    gradients the optimizer stepped on (seen by on_batch) are 0 at a spike only."""
    monkeypatch.setattr(training, "SPIKE_WINDOW", 3)
    model = MeanPoolClassifier()
    X, y = _toy(64, 1)
    seen = []
    fit(model, Adam(model.parameters(), lr=0.05), X, y, X, y, epochs=2, batch_size=16, rng=0, skip_spikes=factor,
        on_batch=lambda *_: seen.append(all(not p.grad.any() for p in model.parameters())))
    assert seen == [False] * 3 + [zeroed] * 5


def _series_shares(model, X, y, batch_size):
    """Each series' share of the batch's mean-loss gradient: (its parameters' gradients, |dL/dx_b|) per series,
    from a forward and backward of that series alone with the upstream gradient divided by batch_size."""
    shares = []
    for x_b, y_b in zip(X, y):
        loss_fn = nn.BCELoss()
        loss_fn(model(x_b[None])[0], y_b[None])
        grad_x = model.backward(loss_fn.backward() / batch_size)
        shares.append(({name: p.grad.copy() for name, p in model.named_parameters()}, np.linalg.norm(grad_x)))
        model.zero_grad()
    return shares


def test_max_series_grad_norm_scales_each_series_share_by_its_input_gradient():
    """The first step's gradients are sum_b min(1, cap / |dL/dx_b|) times series b's share, the cap set between
    the series' input gradients so that some shares are scaled and others kept, each share computed alone."""
    X, y = _toy(64, 1)
    first = next(iterate_minibatches(64, 16, shuffle=True, rng=np.random.default_rng(0)))
    shares = _series_shares(MeanPoolClassifier(), X[first], y[first], batch_size=16)
    cap = float(np.median([norm for _, norm in shares]))
    expected = {name: sum(grads[name] * min(1.0, cap / (norm + 1e-6)) for grads, norm in shares)
                for name in shares[0][0]}
    model, seen = MeanPoolClassifier(), []
    fit(model, Adam(model.parameters(), lr=0.05), X, y, epochs=1, batch_size=16, rng=0, max_series_grad_norm=cap,
        on_batch=lambda *_: seen.append({name: p.grad.copy() for name, p in model.named_parameters()}))
    unclipped = {name: sum(grads[name] for grads, _ in shares) for name in expected}
    for name in expected:
        np.testing.assert_allclose(seen[0][name], expected[name], rtol=1e-10, atol=1e-15, err_msg=name)
        assert not np.allclose(seen[0][name], unclipped[name]), name


def test_a_max_series_grad_norm_above_every_series_leaves_the_run_as_it_was():
    """No series' input gradient reaches a cap of 1e9: one backward per step, the run bit for bit the same."""
    (plain, plain_history), (capped, capped_history) = _fit(), _fit(max_series_grad_norm=1e9)
    assert plain_history.train_loss == capped_history.train_loss and plain_history.val_loss == capped_history.val_loss
    assert _states_equal(plain.state_dict(), capped.state_dict())


def test_bad_data_is_refused():
    model = MeanPoolClassifier()
    X, y = _toy(8, 0)
    with pytest.raises(ValueError, match="X_train, y_train"):
        fit(model, Adam(model.parameters()), X, y[:5], X, y)
    with pytest.raises(ValueError, match="y_val: expected labels 0 or 1"):
        fit(model, Adam(model.parameters()), X, y, X, y + 2)


def test_limit_blas_threads_sets_and_restores_the_count():
    before = blas_thread_counts()
    with limit_blas_threads(1):
        assert blas_thread_counts() == [1] * len(before)
    assert blas_thread_counts() == before
    with limit_blas_threads(None):  # None: leave it as it is
        assert blas_thread_counts() == before


class ThreadCounting(MeanPoolClassifier):
    """Records the BLAS thread counts at every forward call."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, lengths=None):
        self.seen.append(blas_thread_counts())
        return super().forward(x, lengths)


def test_fit_and_predict_run_with_the_blas_threads_asked_for():
    before = blas_thread_counts()
    one = [1] * len(before)
    model, _ = _fit(ThreadCounting(), epochs=1)
    assert model.seen and all(counts == one for counts in model.seen)  # the default: one thread
    model.seen.clear()
    predict(model, _toy(8, 3)[0])
    assert model.seen == [one]
    model, _ = _fit(ThreadCounting(), epochs=1, blas_threads=None)
    assert model.seen and all(counts == before for counts in model.seen)
    assert blas_thread_counts() == before  # restored afterwards


# --- K classes, series of their own lengths ---------------------------------------------------------------------

def _levels(n, seed, classes=3, steps=8):
    """K-class toy: the class is the level channel 0 sits at (-1, 0, +1, ...), series of 2 to 8 steps padded
    with large noise (which a model must not read). Returns (X (n, 8, 2), y int, lengths)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    lengths = rng.integers(2, steps + 1, n)
    X = rng.normal(0.0, 0.3, (n, steps, 2))
    X[:, :, 0] += (y - (classes - 1) / 2)[:, None]
    padded = np.arange(steps) >= lengths[:, None]
    X[padded] = rng.normal(0.0, 50.0, (int(padded.sum()), 2))
    return X, y, lengths


def test_k_classes_train_with_cross_entropy_and_predict_gives_softmax():
    X, y, lengths = _levels(120, 1)
    Xv, yv, lv = _levels(60, 2)
    model = MeanPoolClassifier(num_classes=3)
    start = MeanPoolClassifier(num_classes=3)  # the same weights (rng 0), to score the first batch by hand
    first = []
    history = fit(model, Adam(model.parameters(), lr=0.05), X, y, Xv, yv, epochs=10, batch_size=16, rng=0,
                  lengths_train=lengths, lengths_val=lv, on_batch=lambda e, b, n, loss: first.append(loss))
    idx = next(iterate_minibatches(120, 16, shuffle=True, rng=0))
    logits, _ = start(X[idx, :lengths[idx].max()], lengths[idx])
    assert first[0] == pytest.approx(nn.CrossEntropyLoss()(logits, y[idx]), rel=1e-12)  # CE on the logits
    assert history.val_loss[-1] < 0.3 * history.val_loss[0] and history.beat_chance
    assert history.chance_loss == pytest.approx(chance_loss(y, yv, 3))
    assert history.val_accuracy[history.best_epoch - 1] > 0.95
    prob, alpha = predict(model, Xv, lv)
    assert alpha is None and prob.shape == (60, 3)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-12)
    assert (prob.argmax(axis=1) == yv).mean() > 0.95
    assert evaluate_loss(model, Xv, yv, lv) == pytest.approx(history.best_val_loss, rel=1e-12)


def test_label_smoothing_smooths_the_training_loss_only():
    """The first batch's loss is the cross-entropy against the smoothed targets; the validation loss stays the
    plain cross-entropy (evaluate_loss of the kept weights)."""
    X, y, lengths = _levels(120, 1)
    Xv, yv, lv = _levels(60, 2)
    model, start, first = MeanPoolClassifier(num_classes=3), MeanPoolClassifier(num_classes=3), []
    history = fit(model, Adam(model.parameters(), lr=0.05), X, y, Xv, yv, epochs=3, batch_size=16, rng=0,
                  lengths_train=lengths, lengths_val=lv, on_batch=lambda e, b, n, loss: first.append(loss),
                  label_smoothing=0.2)
    idx = next(iterate_minibatches(120, 16, shuffle=True, rng=0))
    logits, _ = start(X[idx, :lengths[idx].max()], lengths[idx])
    assert first[0] == pytest.approx(nn.CrossEntropyLoss(label_smoothing=0.2)(logits, y[idx]), rel=1e-12)
    assert first[0] != pytest.approx(nn.CrossEntropyLoss()(logits, y[idx]), rel=1e-6)  # near-even logits: close
    assert evaluate_loss(model, Xv, yv, lv) == pytest.approx(history.best_val_loss, rel=1e-12)


class Recording(MeanPoolClassifier):
    """Records (T of the batch, its lengths) at every forward call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def forward(self, x, lengths=None):
        self.calls.append((x.shape[1], lengths))
        return super().forward(x, lengths)


def test_batches_are_cut_to_their_longest_series():
    X, y, lengths = _levels(40, 3)
    model = Recording(num_classes=3)
    fit(model, Adam(model.parameters()), X, y, epochs=1, batch_size=8, lengths_train=lengths, rng=0)
    assert len(model.calls) == 5
    assert all(steps == batch_lengths.max() for steps, batch_lengths in model.calls)
    assert sorted(np.concatenate([b for _, b in model.calls])) == sorted(lengths)  # each series once, its length


class Inputs(MeanPoolClassifier):
    """Records the input of every training forward call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inputs = []

    def forward(self, x, lengths=None):
        if self.training:
            self.inputs.append(x.copy())
        return super().forward(x, lengths)


def test_noise_is_added_to_every_training_batch_and_drawn_from_the_seed():
    """All-zero series: a training batch holds the noise alone, N(0, noise^2) drawn anew each batch and epoch;
    the same seed draws the same noise; noise 0 leaves the batches as they are (and the validation split is
    never noised: the recorded calls are the training ones)."""
    X, y = np.zeros((64, 10, 2)), np.tile([0.0, 1.0], 32)

    def batches(noise, seed=0):
        model = Inputs()
        fit(model, Adam(model.parameters()), X, y, X, y, epochs=2, batch_size=16, rng=seed, noise=noise)
        return model.inputs

    noisy = batches(0.5)
    assert len(noisy) == 8
    values = np.concatenate([b.ravel() for b in noisy])
    assert abs(values.mean()) < 0.05 and values.std() == pytest.approx(0.5, rel=0.05)
    assert not np.array_equal(noisy[0], noisy[4])  # each epoch draws anew
    assert all(np.array_equal(a, b) for a, b in zip(noisy, batches(0.5)))
    assert not np.array_equal(noisy[0], batches(0.5, seed=1)[0])
    assert all(not b.any() for b in batches(0.0))


def test_noise_reaches_a_share_p_of_the_series_and_stops_after_noise_epochs():
    """Series n holds the value n at every step, so a recorded batch shows which series it holds and which of
    them got noise. With noise_p 0.5 and noise_epochs 2, each batch of epochs 1 and 2 draws, after the
    epoch's permutation, 16 uniforms (series b stays clean when u_b < 0.5) and then the noise of the whole
    batch; epoch 3 trains on clean batches and draws only its permutation. noise_epochs 0: no noise at all."""
    X, y = np.repeat(np.arange(32.0), 20).reshape(32, 10, 2), np.tile([0.0, 1.0], 16)

    def run(**options):
        model = Inputs()
        fit(model, Adam(model.parameters()), X, y, epochs=3, batch_size=16, patience=None, rng=0, noise=0.5,
            **options)
        return model

    rng, expected = np.random.default_rng(0), []
    for epoch in (1, 2, 3):
        order = rng.permutation(32)
        for idx in (order[:16], order[16:]):
            x = X[idx]
            if epoch <= 2:
                clean = rng.random(16) < 0.5
                x = x + 0.5 * np.where(clean[:, None, None], 0.0, rng.standard_normal(x.shape))
            expected.append(x)
    model = run(noise_p=0.5, noise_epochs=2)
    assert len(model.inputs) == 6
    for got, want in zip(model.inputs, expected):
        np.testing.assert_array_equal(got, want)
    noised = np.concatenate([(b != np.round(b)).any(axis=(1, 2)) for b in model.inputs])
    assert 16 <= noised[:64].sum() <= 48 and not noised[64:].any()
    weights = run(noise_epochs=0).state_dict()
    quiet = Inputs()
    fit(quiet, Adam(quiet.parameters()), X, y, epochs=3, batch_size=16, patience=None, rng=0)
    assert all(np.array_equal(weights[k], v) for k, v in quiet.state_dict().items())


def test_predict_with_lengths_gives_attention_only_on_each_series_steps():
    X, y, lengths = _levels(11, 4)
    model = BiLSTMAttentionClassifier(input_dim=2, hidden_dim=3, num_classes=3, dtype=np.float64, rng=0)
    prob, alpha = predict(model, X, lengths, batch_size=4)  # batches cut to 3 different lengths
    assert prob.shape == (11, 3) and alpha.shape == (11, 8)
    padded = np.arange(8) >= lengths[:, None]
    assert np.all(alpha[padded] == 0) and np.all(alpha[~padded] > 0)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-12)
    whole, whole_alpha = predict(model, X, lengths, batch_size=11)
    np.testing.assert_allclose(prob, whole, rtol=1e-12)
    np.testing.assert_allclose(alpha, whole_alpha, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 3, 2]),
     r"y_train: expected class indices 0\.\.2 \(the model has 3 classes.*got values \[0, 1, 2, 3\]"),
    (np.array([0, -1, 1, 2]), r"y_train: expected class indices 0\.\.2"),
    (np.array([0.0, 1.5, 1.0, 2.0]), r"y_train: expected class indices 0\.\.2"),
    (np.array(["a", "b", "a", "c"]), r"y_train: expected class indices 0\.\.2"),
])
def test_k_class_labels_are_checked(labels, message):
    model = MeanPoolClassifier(num_classes=3)
    with pytest.raises(ValueError, match=message):
        fit(model, Adam(model.parameters()), np.zeros((4, 3, 2)), labels)


def test_whole_float_labels_are_class_indices_and_a_binary_head_says_how_to_get_more():
    model = MeanPoolClassifier(num_classes=3)
    fit(model, Adam(model.parameters()), np.zeros((4, 3, 2)), np.array([0.0, 1.0, 2.0, 1.0]), epochs=1)
    binary = MeanPoolClassifier()
    with pytest.raises(ValueError, match="y_train: expected labels 0 or 1 .*num_classes=K"):
        fit(binary, Adam(binary.parameters()), np.zeros((4, 3, 2)), np.array([0, 1, 2, 1]))


def test_chance_loss_for_k_classes_is_the_cross_entropy_of_the_training_frequencies():
    # training frequencies 1/2, 1/4, 1/4: the constant logits log p give them as softmax
    y_train, y_val = [0, 0, 1, 2], [0, 1, 2, 2]
    expected = nn.CrossEntropyLoss()(np.tile(np.log([0.5, 0.25, 0.25]), (4, 1)), np.array(y_val))
    assert chance_loss(y_train, y_val, 3) == pytest.approx(expected)
    assert chance_loss([0, 1, 2, 3], [3, 2, 1, 0], 4) == pytest.approx(np.log(4))
    assert chance_loss([0, 0], [1, 0], 2) == pytest.approx(50.0)  # a class absent from training: log 0 -> -100


# --- training without validation, early stopping on a small validation split ----------------------------------

def test_without_validation_every_epoch_runs_and_the_last_is_kept(tmp_path):
    model, snapshots, seen = MeanPoolClassifier(), [], []
    X, y = _toy(64, 1)
    path = tmp_path / "last.npz"

    def on_epoch(epoch, train_loss, val_loss):
        snapshots.append(model.state_dict())
        seen.append(val_loss)

    history = fit(model, Adam(model.parameters(), lr=0.05), X, y, epochs=5, batch_size=16, patience=1, rng=0,
                  checkpoint=path, on_epoch=on_epoch)
    assert history.epochs_run == history.best_epoch == 5 and not history.stopped_early  # patience does not apply
    assert history.val_loss == [] and all(np.isnan(v) for v in seen) and np.isnan(history.best_val_loss)
    assert _states_equal(model.state_dict(), snapshots[-1])
    assert history.chance_loss == pytest.approx(chance_loss(y, y))  # the training labels' own
    assert history.beat_chance == (history.train_loss[-1] < history.chance_loss) is True
    state, meta = load_checkpoint(path)
    assert _states_equal(state, snapshots[-1]) and meta == {"best_epoch": 5}


def test_half_a_validation_split_is_refused():
    model = MeanPoolClassifier()
    X, y = _toy(8, 0)
    with pytest.raises(ValueError, match="X_val, y_val: give both"):
        fit(model, Adam(model.parameters()), X, y, X)
    with pytest.raises(ValueError, match="lengths_val: given without X_val and y_val"):
        fit(model, Adam(model.parameters()), X, y, lengths_val=np.full(8, 6))
    with pytest.raises(ValueError, match=r"lengths_train: expected lengths in \[1, 6\]"):
        fit(model, Adam(model.parameters()), X, y, lengths_train=np.full(8, 7))


class Scripted(MeanPoolClassifier):
    """Trains as MeanPoolClassifier; in eval mode (validation) gives the probabilities of ``script``, one row
    per epoch, whatever the input."""

    def __init__(self, script):
        super().__init__()
        self.script, self.evals = script, 0

    def forward(self, x, lengths=None):
        if self.training:
            return super().forward(x, lengths)
        self.evals += 1
        return self.script[self.evals - 1].copy(), None


def test_monitor_accuracy_keeps_the_epoch_that_gets_most_of_ten_series_right():
    """Ten validation series. Epoch 1 says 0.55 for everything (5 right, loss 0.698); from epoch 2 the model
    gets 9 right but is sure of its one mistake (loss 0.79, 0.72 at epoch 4). By loss, epoch 1 is best and
    training stops after patience; by accuracy, the epochs with 9 right are, epoch 4 (the lowest loss) first."""
    y_val = np.repeat([1.0, 0.0], 5)
    confident = np.where(y_val == 1, 0.9, 0.1)
    script = [np.full(10, 0.55)]
    for wrong in (1e-3, 1e-3, 2e-3, 1e-3, 1e-3, 1e-3):  # series 0 (label 1) given P(class 1) = wrong
        script.append(np.concatenate([[wrong], confident[1:]]))
    X, y = _toy(32, 1)
    X_val = X[:10]
    runs = {}
    for monitor in ("loss", "accuracy"):
        model, snapshots = Scripted(script), []
        history = fit(model, Adam(model.parameters(), lr=0.05), X, y, X_val, y_val, epochs=7, batch_size=16,
                      patience=3, rng=0, monitor=monitor, on_epoch=lambda *_: snapshots.append(model.state_dict()))
        assert _states_equal(model.state_dict(), snapshots[history.best_epoch - 1])
        runs[monitor] = history
    by_loss, by_accuracy = runs["loss"], runs["accuracy"]
    assert by_loss.val_accuracy == [0.5, 0.9, 0.9, 0.9] and by_loss.val_loss[1] > by_loss.val_loss[0]
    assert by_loss.best_epoch == 1 and by_loss.stopped_early and by_loss.epochs_run == 4
    assert by_accuracy.best_epoch == 4 and by_accuracy.epochs_run == 7 and not by_accuracy.stopped_early
    assert by_accuracy.monitor == "accuracy" and by_accuracy.to_dict()["val_accuracy"][3] == 0.9


def test_monitor_must_be_loss_or_accuracy():
    model = MeanPoolClassifier()
    X, y = _toy(8, 0)
    with pytest.raises(ValueError, match="monitor: expected 'loss' or 'accuracy', got 'auc'"):
        fit(model, Adam(model.parameters()), X, y, X, y, monitor="auc")


# --- the stratified split ---------------------------------------------------------------------------------------

def test_stratified_split_keeps_every_class_in_training():
    y = np.array([0] * 10 + [1] * 4 + [2] * 2 + [3])
    train, val = stratified_split(y, 0.5, rng=0)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(y)))  # disjoint and covering
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    assert [int((y[val] == k).sum()) for k in range(4)] == [5, 2, 1, 0]  # a class of one stays in training
    assert set(y[train]) == {0, 1, 2, 3}
    again, other = stratified_split(y, 0.5, rng=0), stratified_split(y, 0.5, rng=1)
    assert np.array_equal(again[1], val) and not np.array_equal(other[1], val)
    assert stratified_split(y, 0.0, rng=0)[1].size == 0


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, "0.2"])
def test_stratified_split_refuses_a_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"fraction: expected a number in \[0, 1\)"):
        stratified_split(np.array([0, 1, 1]), fraction)


def test_an_activation_that_overflows_stops_training_and_restores_the_weights():
    """With a huge learning rate a transformer's weights stay finite after the step but overflow inside the
    next forward, where a module's input check finds the inf: fit says so as a training failure, naming the
    epoch, the batch and the lr, and gives the model back the weights it started with."""
    from numpy_attn.models import TransformerClassifier

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 6, 1)).astype(np.float32), (np.arange(16) % 2).astype(np.float32)
    model = TransformerClassifier(d_model=8, nhead=2, num_layers=1, dim_feedforward=8, rng=0)
    start = model.state_dict()
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 2/2 \(lr 1e\+30\): an activation overflowed"), \
            np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point: no warning for it
        fit(model, Adam(model.parameters(), lr=1e30), X, y, X, y, epochs=2, batch_size=8, rng=0)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, start[name], err_msg=name)
