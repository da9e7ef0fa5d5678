"""The anomaly task end to end: data -> features -> model -> training -> metrics -> figures -> checkpoint.

The recipe (what took seed 001's model from ROC-AUC 0.91 to above 0.99, see the README):
- features: the series and its forward difference, [x_t, x_{t+1} - x_t], so a flat stretch is a run of
  exact zeros in the second channel, which the LSTM only has to find (``features="raw"``: x alone;
  ``"shape"``: also each series z-normalised and its difference, ``detect``'s default);
- each feature channel standardised with the training split's mean and standard deviation (the seed's
  amplitudes reach 10);
- Adam at lr 3e-3, batch 32, early stopping on the validation loss with patience 5, the best weights restored.
- with several channels (``channels`` > 1), also each series' input gradient capped at 0.3 and the learning rate
  falling on a cosine (``SEVERAL_CHANNELS``): one series now and then has its gradient explode back through
  the LSTM, which the cap cuts down and the cosine lets the run settle after.
The difference channel is what mattered: on the raw series, standardised, the same model reached ROC-AUC
0.75 (lr 1e-3) or stalled at 0.54 (lr 3e-3) in 15 epochs.
"""

import importlib.util
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import optim
from .._validate import as_int, is_int, is_real
from . import metrics, plots
from ..kernels.blas import limit_blas_threads
from .checkpoint import load_checkpoint, save_checkpoint
from .commands import Interrupted, check_out, output_folder
from .preprocessing import StandardScaler, fit_scaler, train_val_test_split
from .series_file import read_long_series
from .synthetic import ANOMALY_KINDS, make_anomaly_dataset
from ..models import MODELS
from ..nn import no_grad
from .training import SCHEDULES, cosine_lr, fit, predict

FEATURES = ("diff", "raw", "shape")
SHAPE_MIN_STD = 1e-3  # "shape": a series whose spread is below this (in x's units) is divided by it instead
TRAIN_OUTPUTS = ("metrics.json", "history.json", "loss.png", "attention.png", "heads.png", "model.npz")
PREDICT_OUTPUTS = ("predictions.csv", "attention.npy")
CHECKPOINT_META = ("model", "input_dim", "model_kwargs", "features", "channels", "scaler")  # what predict reads
# The settings whose default depends on the channels (``channel_defaults``). With several channels one series
# now and then has its gradient explode back through the shared LSTM: each series' input gradient is capped,
# so that such a series cannot throw the weights, and the learning rate falls on a cosine, so that the end of
# the run settles (docs/anomaly-task.md, "Several channels"). One channel keeps the recipe as it was.
ONE_CHANNEL = {"schedule": "constant", "max_series_grad_norm": 0.0}
SEVERAL_CHANNELS = {"schedule": "cosine", "max_series_grad_norm": 0.3}


def series_features(X, features="diff"):
    """raw: x (N, T, C) as is; diff: [x, dx] (N, T, 2C) with dx_t = x_{t+1} - x_t and dx_{T-1} = 0;
    shape: [x, dx, s, ds] (N, T, 4C), s = (x - mean_t x) / max(std_t x, SHAPE_MIN_STD) per series and channel.

    Why forward and not backward differences: a flat anomaly holds x_s on [s, e). Its forward
    differences are 0 on [s, e-1) and the jump back to the signal sits at e-1, so every abnormal feature
    lies inside the span; backward differences move that jump to step e, one step after the span, and
    the attention follows it there.

    Why "shape" (``detect``'s default): s is the series z-normalised over its own steps, as a z-normalised
    discord compares windows. x and dx keep the level and the swing, which tell a louder stretch; s and ds
    take them out, so a slower pulse has the same smaller slope in ds whatever the loudness of its beats,
    which otherwise vary more from beat to beat than the slowing changes them (docs/detection.md).
    """
    if features not in FEATURES:
        raise ValueError(f"features: expected one of {FEATURES}, got {features!r}")
    if features == "raw":
        return X
    if features == "shape":
        std = np.maximum(X.std(axis=1, keepdims=True), SHAPE_MIN_STD)
        return np.concatenate([series_features(X), series_features((X - X.mean(axis=1, keepdims=True)) / std)], axis=-1)
    return np.concatenate([X, np.diff(X, axis=1, append=X[:, -1:])], axis=-1)


@dataclass
class TrainConfig:
    backend: str = "numpy"
    device: str = "cpu"
    model: str = "bilstm-attention"
    anomalies: tuple = ("flat",)
    channels: int = 1
    samples: int = 5000
    length: int = 500
    epochs: int = 15
    batch_size: int = 32
    lr: float = 3e-3
    hidden: int = 32
    patience: int = 5
    max_grad_norm: float = 0.0  # fit's max_grad_norm; 0: never clip
    schedule: str = None  # one of SCHEDULES: the learning rate over the epochs (``lr_schedule``); None: the task's
    skip_spikes: float = 0.0  # fit's skip_spikes; 0: never skip
    max_series_grad_norm: float = None  # fit's max_series_grad_norm; 0: never cap a series; None: the task's
    features: str = "diff"
    seed: int = 0
    out: str = "runs/train"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        """The settings left None take the task's defaults for the channels (``channel_defaults``)."""
        for name, value in channel_defaults(self.channels).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def check(self):
        if self.backend not in ("numpy", "torch"):
            raise ValueError(f"backend: expected 'numpy' or 'torch', got {self.backend!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "cuda" and self.backend != "torch":
            raise ValueError("device 'cuda' needs --backend torch (the NumPy backend runs on the CPU)")
        if self.backend == "torch" and importlib.util.find_spec("torch") is None:
            raise ValueError("backend 'torch': PyTorch is not installed (pip install -e '.[torch]')")
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {sorted(MODELS)}, got {self.model!r}")
        as_int(self.channels, "channels", 1)
        unknown = [k for k in self.anomalies if k not in ANOMALY_KINDS]
        if unknown or not self.anomalies:
            raise ValueError(f"anomaly: expected kinds from {ANOMALY_KINDS}, got {list(self.anomalies)}")
        if self.features not in FEATURES:
            raise ValueError(f"features: expected one of {FEATURES}, got {self.features!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("max_grad_norm", "skip_spikes", "max_series_grad_norm"):
            value = getattr(self, name)
            if not (is_real(value) and 0 <= value < np.inf):
                raise ValueError(f"{name}: expected a finite number >= 0 (0: never), got {value!r}")
        check_out(self.out, TRAIN_OUTPUTS)


def channel_defaults(channels):
    """The task's schedule and max_series_grad_norm for series of ``channels`` channels: ``SEVERAL_CHANNELS``
    above 1, ``ONE_CHANNEL`` for 1 (and for a value that is no count of channels, which ``check`` refuses)."""
    return SEVERAL_CHANNELS if is_int(channels) and channels > 1 else ONE_CHANNEL


def build_model(name, input_dim, hidden=32, seed=0, dtype=np.float32, channels=1):
    """A NumPy classifier with the defaults of the task: hidden 32 (embed 64) for the BiLSTM models;
    ``bilstm-attention`` reads each of the series' ``channels`` on its own (``models/bilstm_attention.py``).
    Returns (model, the keyword arguments that rebuild it besides input_dim)."""
    kwargs = {"transformer": {}, "bilstm-attention": {"hidden_dim": hidden, "channels": channels}}.get(
        name, {"hidden_dim": hidden})
    return MODELS[name](input_dim=input_dim, dtype=dtype, rng=seed, **kwargs), kwargs


class _Progress:
    """The training log (four batch lines and one summary line per epoch), and the epoch running now, which the
    line printed on Ctrl-C names."""

    def __init__(self, epochs, log):
        self.epochs, self.log, self.epoch = epochs, log, None

    def on_batch(self, epoch, batch, n_batches, loss):
        self.epoch = epoch
        if batch == n_batches or batch % max(1, n_batches // 4) == 0:
            self.log(f"  epoch {epoch} batch {batch}/{n_batches} loss {loss:.4f}")

    def on_epoch(self, epoch, train_loss, val_loss):
        self.log(f"epoch {epoch}/{self.epochs}: train loss {train_loss:.4f}, val loss {val_loss:.4f}")


def prepare_data(config):
    """The dataset of ``config``, its seeded 70/15/15 split, and the model's input.

    Returns (data, (train_idx, val_idx, test_idx), X, scaler): X (N, T, C') holds the features of every
    series standardised with the scaler fitted on the training split only. ValueError, naming ``samples``,
    when the validation split is empty or the test split lacks a class (its metrics and figures compare them).
    """
    data = make_anomaly_dataset(config.samples, config.length, anomalies=tuple(config.anomalies),
                                channels=config.channels, rng=config.seed)
    splits = train_val_test_split(len(data), rng=config.seed)
    test_labels = data.y[splits[2]]
    if len(splits[1]) == 0 or not 0 < test_labels.sum() < len(test_labels):
        raise ValueError(f"samples: {config.samples} series split 70/15/15 into {'/'.join(str(len(s)) for s in splits)}"
                         f" with {int(test_labels.sum())} anomalous of {len(test_labels)} in the test split (seed "
                         f"{config.seed}); the task needs a validation series and both classes in the test split: "
                         f"give more --samples")
    X = series_features(data.X, config.features)
    scaler = fit_scaler(X[splits[0]])
    return data, splits, scaler.transform(X), scaler


def train(config, log=print):
    """Run the task; write metrics.json, history.json, loss.png, attention.png, heads.png (multi-head
    models) and model.npz into ``config.out`` (``commands.output_folder``: all of them when the run
    finishes, none when it fails); return the metrics dict.

    The best weights so far are saved as training goes. On Ctrl-C they alone are moved into ``config.out``
    (when an epoch has finished), and ``Interrupted`` names the epoch and the checkpoint. A NaN or inf in
    training (``training.fit``'s FloatingPointError) writes nothing. A run whose validation loss never beat
    chance (``History.beat_chance``) ends with a warning line, and ``beat_chance`` false in metrics.json.
    """
    config.check()
    log(f"data: {config.samples} series of length {config.length}, {config.channels} channel(s), "
        f"anomalies {','.join(config.anomalies)}, seed {config.seed}")
    data, (train_idx, val_idx, test_idx), X, scaler = prepare_data(config)
    model, model_kwargs = build_model(config.model, X.shape[-1], config.hidden, config.seed,
                                      channels=config.channels)
    meta = {"model": config.model, "input_dim": X.shape[-1], "model_kwargs": model_kwargs,
            "features": config.features, "channels": config.channels, "scaler": scaler.to_dict(),
            "config": {k: v for k, v in asdict(config).items() if k != "extra"}}
    log(f"model: {config.model} ({sum(p.data.size for p in model.parameters())} parameters), "
        f"backend {config.backend} on {config.device}; writing to {config.out}")
    progress = _Progress(config.epochs, log)
    try:
        with output_folder(config.out, TRAIN_OUTPUTS, keep_if_interrupted="model.npz") as folder:
            start = time.perf_counter()
            history = _fit(model, config, (X[train_idx], data.y[train_idx], X[val_idx], data.y[val_idx]),
                           folder / "model.npz", meta, progress)
            seconds = time.perf_counter() - start
            save_checkpoint(folder / "model.npz", model, {**meta, "best_epoch": history.best_epoch})
            report = _evaluate(folder, model, config, history, seconds, data, test_idx, X)
    except Interrupted as stop:
        raise Interrupted(_interrupted(stop, progress.epoch), stop.kept, stop.status) from None
    log("test: " + ", ".join(f"{k} {report[k]:.4f}" for k in
                             ("accuracy", "precision", "recall", "f1", "roc_auc", "attention_accuracy",
                              "attention_peak_accuracy")))
    if not history.beat_chance:
        log(f"warning: the best validation loss, {history.best_val_loss:.4f}, never beat chance, "
            f"{history.chance_loss:.4f} (always answering the training set's share of anomalies): the model "
            f"learned nothing; try another --lr (or more --epochs)")
    return report


def _fit(model, config, splits, checkpoint, meta, progress):
    """Train ``model`` on splits (X_train, y_train, X_val, y_val) with the backend of ``config``, saving the
    best weights to ``checkpoint`` each time they improve; return the ``History``."""
    kwargs = dict(checkpoint=checkpoint, checkpoint_meta=meta, on_batch=progress.on_batch, on_epoch=progress.on_epoch)
    if config.backend == "numpy":
        return fit(model, optim.Adam(model.parameters(), lr=config.lr), *splits, epochs=config.epochs,
                   batch_size=config.batch_size, patience=config.patience, rng=config.seed,
                   max_grad_norm=grad_norm_cap(config), lr_schedule=lr_schedule(config),
                   skip_spikes=spike_factor(config), max_series_grad_norm=series_grad_norm_cap(config), **kwargs)
    from torch_ref.anomaly import train_like  # the same model in PyTorch, started from the same weights

    return train_like(model, config, *splits, **kwargs)


def grad_norm_cap(config):
    """``fit``'s max_grad_norm for ``config``: its max_grad_norm, None (no clipping) for 0."""
    return config.max_grad_norm or None


def series_grad_norm_cap(config):
    """``fit``'s max_series_grad_norm for ``config``: its max_series_grad_norm, None (never) for 0."""
    return config.max_series_grad_norm or None


def spike_factor(config):
    """``fit``'s skip_spikes for ``config``: its skip_spikes, None (never skip) for 0."""
    return config.skip_spikes or None


def lr_schedule(config):
    """``fit``'s lr_schedule for ``config``: None (lr throughout) for schedule "constant"; for "cosine",
    epoch -> ``cosine_lr``, from config.lr at the first epoch towards 0 at config.epochs."""
    if config.schedule == "constant":
        return None
    return lambda epoch: cosine_lr(config.lr, epoch, config.epochs)


def _interrupted(stop, epoch):
    """The line for Ctrl-C (``stop``) at ``epoch`` (None: before training began): the kept checkpoint and its
    epoch, read from its meta, or that nothing was written."""
    if epoch is None:
        return str(stop)
    if stop.kept is None:
        return f"interrupted at epoch {epoch}; no epoch had finished, nothing written"
    best = load_checkpoint(stop.kept)[1]["best_epoch"]
    return f"interrupted at epoch {epoch}; best checkpoint, epoch {best}, kept at {stop.kept}"


def _evaluate(folder, model, config, history, seconds, data, test_idx, X):
    """Score the trained ``model`` on the test split; write metrics.json, history.json and the figures into
    ``folder``; return the metrics (``seconds``: the training's wall time)."""
    prob, alpha = predict(model, X[test_idx])
    report = metrics.classification_report(data.y[test_idx], prob, alpha=alpha, spans=data.spans[test_idx])
    if getattr(model, "channels", 1) > 1:  # which channel the attention picked: bilstm-attention reads them one by one
        report.update(channel_attention_report(_channel_weights(model, X[test_idx]), data.channels[test_idx],
                                               data.spans[test_idx]))
    report.update(epochs_run=history.epochs_run, best_epoch=history.best_epoch, train_seconds=seconds,
                  beat_chance=history.beat_chance, chance_loss=history.chance_loss, backend=config.backend,
                  device=config.device, model=config.model, test_series=len(test_idx))
    (folder / "metrics.json").write_text(json.dumps(report, indent=1))
    (folder / "history.json").write_text(json.dumps(history.to_dict(), indent=1))
    _figures(folder, model, data, test_idx, X, prob, alpha, history)
    return report


def channel_attention_report(weights, channels, spans):
    """Where the attention of a channel-by-channel model lands, over the anomalous series.

    weights: (N, C, T) ``channel_weights``, alpha_{c,t}; channels: (N,) the channel holding the anomaly (-1 for
    a normal series, which does not count); spans: (N, 2) [start, end). Returns
    attention_channel_accuracy: share whose attention mass sum_t alpha_{c,t} is largest in the anomaly's
    channel; attention_channel_peak_accuracy: share whose peak argmax_{c,t} alpha_{c,t} is in that channel
    and inside the span.
    """
    hit = channels >= 0
    weights, channels, spans = weights[hit], channels[hit], spans[hit]
    peak_channel, peak_step = np.divmod(weights.reshape(len(weights), -1).argmax(axis=1), weights.shape[2])
    in_span = (peak_step >= spans[:, 0]) & (peak_step < spans[:, 1])
    return {"attention_channel_accuracy": float(np.mean(weights.sum(axis=2).argmax(axis=1) == channels)),
            "attention_channel_peak_accuracy": float(np.mean((peak_channel == channels) & in_span))}


def _channel_weights(model, X, batch_size=256):
    """``model.channel_weights`` over X (N, T, C') in batches -> (N, C, T)."""
    with limit_blas_threads(1), no_grad():
        return np.concatenate([model.channel_weights(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])


def _figures(folder, model, data, test_idx, X, prob, alpha, history):
    plots.plot_loss({"train": history.train_loss, "val": history.val_loss}, folder / "loss.png",
                    best_epoch=history.best_epoch, chance_loss=history.chance_loss)
    labels = data.y[test_idx]
    normal, anomalous = int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels == 1)[0])
    n, a = test_idx[normal], test_idx[anomalous]
    span = tuple(int(t) for t in data.spans[a])
    plots.plot_normal_vs_anomalous(
        data.X[n], alpha[normal], data.X[a], alpha[anomalous], folder / "attention.png", span=span,
        title=f"attention over the signal (P(anomalous): normal {prob[normal]:.3f}, anomalous {prob[anomalous]:.3f})")
    if hasattr(model, "head_weights"):
        plots.plot_heads(model.head_weights(X[a][None])[0], folder / "heads.png", span=span,
                         title="per-head self-attention on an anomalous test series")


def read_series(path):
    """Series from .npy ((T,), (N, T) or (N, T, C)) or .csv (one univariate series per row) -> (N, T, C).
    ValueError naming the file for anything else (never NumPy's pickle fallback: the .npy format only)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"input {path}: no such file")
    if path.suffix == ".npy":
        with open(path, "rb") as f:
            try:
                X = np.lib.format.read_array(f, allow_pickle=False)
            except ValueError as err:
                raise ValueError(f"input {path}: not a readable .npy file ({err})") from None
    elif path.suffix == ".csv":
        with warnings.catch_warnings():  # an empty file: NumPy warns, and the shape check below refuses it
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            try:
                X = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError as err:
                raise ValueError(f"input {path}: not a CSV of numbers ({err})") from None
    else:
        raise ValueError(f"input: expected a .npy or .csv file, got {path.name!r}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"input {path}: expected numbers, got dtype {X.dtype}")
    X = X.astype(np.float32)
    X = X[None, :, None] if X.ndim == 1 else X[..., None] if X.ndim == 2 else X
    if X.ndim != 3 or X.shape[1] < 2:
        raise ValueError(f"input {path}: expected (T,), (N, T) or (N, T, C) with T >= 2, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"input {path}: contains NaN or inf")
    return X


def read_checkpoint(path):
    """(model, meta) from a checkpoint that ``train`` or ``detect`` wrote; a ValueError naming the file and what
    is missing for anything else: another file (not an .npz archive, so NumPy never tries to unpickle it),
    another .npz, or a meta without a key predict needs (``CHECKPOINT_META``, and the training length)."""
    path = Path(path)
    state, meta = load_checkpoint(path)
    missing = [key for key in CHECKPOINT_META if key not in meta]
    if missing:
        raise ValueError(f"checkpoint {path}: not a numpy-attn anomaly model: its meta lacks {', '.join(missing)}")
    if meta["model"] not in MODELS:
        raise ValueError(f"checkpoint {path}: unknown model {meta['model']!r} (expected one of {sorted(MODELS)})")
    if "window" not in meta and "length" not in meta.get("config", {}):
        raise ValueError(f"checkpoint {path}: its meta lacks the training length (window, or config.length)")
    try:
        model = MODELS[meta["model"]](input_dim=meta["input_dim"], **meta["model_kwargs"])
    except TypeError as err:
        raise ValueError(f"checkpoint {path}: its meta's model_kwargs do not fit {meta['model']} ({err})") from None
    model.load_state_dict(state)
    return model, meta


def predict_file(checkpoint, input_path, out, log=print):
    """Score the series in ``input_path`` with a checkpoint written by ``train`` (or ``detect``); write
    predictions.csv (index, probability, anomalous) and attention.npy (N, T) into ``out``
    (``commands.output_folder``). A train checkpoint reads N series (``read_series``); a detect checkpoint reads
    one long series in the files ``detect`` takes (``series_file.read_long_series``: a TimeEval / UCR CSV, a
    CSV of one row per step, an .npy of shape (T,) or (T, C)).

    The model was trained on series of one length L (meta: ``window``, or ``config.length``). Series of
    length L are scored whole. Longer ones are scored by windows of L sliding by the checkpoint's stride
    (``windows.default_stride(L)`` when it has none): a series' probability is its most anomalous
    window's, and its attention row is ``localize.step_scores`` over its windows, divided by its sum so
    the row sums to 1 as an attention row does. Shorter ones are refused: a model trained at L has never
    seen a shorter series, and padding would invent the missing steps.
    """
    from .localize import slide, step_scores  # here: localize and windows are predict's only, for long series
    from .windows import default_stride

    model, meta = read_checkpoint(checkpoint)
    detect_model = "series_scaler" in meta  # a detect checkpoint: its model works in standard units of NORMAL
    X = read_long_series(input_path).values[None].astype(np.float32) if detect_model else read_series(input_path)
    if X.shape[-1] != meta["channels"]:
        raise ValueError(f"input: the model expects {meta['channels']} channel(s), got shape {X.shape}")
    length = meta["window"] if "window" in meta else meta["config"]["length"]
    N, T = X.shape[:2]
    if T < length:
        raise ValueError(f"input: series of {T} steps are shorter than the {length} steps the model in "
                         f"{checkpoint} was trained on; give series of at least {length} steps")
    if detect_model:
        X = StandardScaler.from_dict(meta["series_scaler"]).transform(X)
    scaler = StandardScaler.from_dict(meta["scaler"])
    to_input = lambda W: scaler.transform(series_features(W, meta["features"]))  # noqa: E731
    if T == length:
        prob, alpha = predict(model, to_input(X))
        how = ""
    else:
        stride = meta.get("stride", default_stride(length))
        prob, alpha = np.empty(N), np.empty((N, T))
        for n in range(N):
            starts, p, a = slide(model, X[n], length, stride, to_input)
            score = step_scores(p, a, starts, T, meta.get("pool", 1))
            prob[n], alpha[n] = p.max(), score / score.sum() if score.sum() > 0 else 1.0 / T
        how = f" by windows of {length} steps (the training length) sliding by {stride}"
    with output_folder(out, PREDICT_OUTPUTS) as folder:
        rows = "\n".join(f"{i},{p:.6f},{int(p > 0.5)}" for i, p in enumerate(prob))
        (folder / "predictions.csv").write_text("index,probability,anomalous\n" + rows + "\n")
        np.save(folder / "attention.npy", alpha)
    out = Path(out)
    log(f"{len(prob)} series of {T} steps scored{how}: {int((prob > 0.5).sum())} flagged anomalous; "
        f"wrote {out / 'predictions.csv'} and {out / 'attention.npy'}")
    return prob, alpha
