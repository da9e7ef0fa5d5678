"""The training loop, on a tiny classifier built here from numpy_attn.nn pieces."""

import numpy as np
import pytest

from helpers import blas_thread_counts
from numpy_attn import nn
from numpy_attn.kernels.blas import limit_blas_threads
from numpy_attn.optim import Adam
from numpy_attn.tasks.checkpoint import load_checkpoint, save_checkpoint
from numpy_attn.tasks.training import History, chance_loss, fit, iterate_minibatches, predict


class MeanPoolClassifier(nn.Module):
    """prob = sigmoid(W2 tanh(W1 mean_t(x) + b1) + b2); x: (B, T, C) -> (prob (B,), None).

    Follows the classifier interface fit expects: no attention, so alpha is None.
    """

    def __init__(self, channels=2, hidden=8, dtype=np.float64, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.net = nn.Sequential(
            nn.Linear(channels, hidden, dtype=dtype, rng=rng),
            nn.Tanh(),
            nn.Linear(hidden, 1, dtype=dtype, rng=rng),
            nn.Sigmoid(),
        )

    def forward(self, x):
        self._cache = x.shape
        return self.net(x.mean(axis=1))[:, 0], None

    def backward(self, grad_prob):
        B, T, C = self._saved()
        grad_pooled = self.net.backward(grad_prob[:, None])  # (B, C)
        return np.broadcast_to(grad_pooled[:, None, :] / T, (B, T, C))  # d/dx of mean over t


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

    def forward(self, x):
        prob, alpha = super().forward(x)
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
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_checkpoint(corrupt)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_checkpoint(single)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weight=np.zeros(3))
    with pytest.raises(ValueError, match="not a numpy-attn-checkpoint-v1 file"):
        load_checkpoint(foreign)


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
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    model = MeanPoolClassifier()
    X, y = _toy(8, 0)
    with pytest.raises(ValueError, match=match):
        fit(model, Adam(model.parameters()), X, y, X, y, **kwargs)


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

    def forward(self, x):
        self.seen.append(blas_thread_counts())
        return super().forward(x)


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
