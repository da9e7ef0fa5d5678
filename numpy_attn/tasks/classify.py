"""Classify labelled series: a UCR/UEA archive dataset or your own files, trained and scored in NumPy.

The recipe (``classify``), one set of defaults for every dataset; docs/real-data.md has the measurements
behind each choice:
1. Input (``Preprocessing``): the series and its forward difference, [x, dx] (``features="diff"``, as in the
   anomaly task), each feature channel standardised with the mean and standard deviation of the training
   series' valid steps (the padding left out). Per-series z-normalisation (``znorm``, the UCR convention) is
   off: the UCR files are z-normalised already, and on the UEA sets it erases what tells the classes apart
   (how hard BasicMotions' sensors move, the level of JapaneseVowels' coefficients).
2. Validation: a seeded, stratified share ``val_fraction`` of the training set chooses the epoch, but only
   when it holds at least ``min_validation`` (50) series. A smaller one is too coarse to choose with (ten series
   score 1.0 for models that differ by five points on the test split): the model then trains on every
   training series for ``epochs`` epochs and keeps the last.
3. The model: BiLSTM + multi-head self-attention (``bilstm-mha``) with a K-class head, trained by
   ``training.fit`` with Adam on the cross-entropy with label smoothing 0.1 (the targets 0.9 onehot + 0.1 / K,
   ``label_smoothing``), batch 16, the learning rate falling from ``lr`` to 0 on a cosine over ``epochs`` (so
   the last epoch's weights are settled ones); with validation, early stopping on the validation accuracy
   (``monitor="accuracy"``, ties broken by the plain cross-entropy), the best epoch's weights restored.
   Noise on the training batches for the first three quarters of the epochs: each series of a batch, with
   probability 1/2, gets Gaussian noise of standard deviation 0.7 (``noise``, ``noise_p``, ``noise_until``);
   the last quarter trains on the clean series.
4. Three members (``members``): three such models from different seeds (``member_seeds``), the class read off
   the mean of their probabilities (``models.Ensemble``): one model's accuracy depends on its seed, and the
   members miss different series.
5. Evaluation on the archive's own test split: ``classification_metrics.multiclass_report``.

``run_classify`` does it for a bundled dataset or two files and writes metrics.json, history.json, loss.png,
confusion.png, attention.png and model.npz; ``predict_file`` classifies new series with that checkpoint.
"""

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import optim
from .._validate import as_int
from ..datasets import Dataset, LabelledSeries, load, read, znormalize
from ..datasets.series import check_lengths
from ..datasets.values import MISSING_OPTIONS, fill_missing, trim_padding
from ..models import MODELS
from ..models.ensemble import Ensemble
from . import commands, plots
from .anomaly import lr_schedule, series_features
from .checkpoint import load_checkpoint, save_checkpoint
from .classification_metrics import multiclass_report
from .preprocessing import StandardScaler, fit_scaler, stratified_split
from .training import SCHEDULES, fit, predict

OUTPUTS = ("metrics.json", "history.json", "loss.png", "confusion.png", "attention.png", "model.npz")
PREDICT_OUTPUTS = ("predictions.csv", "attention.npy")  # as the anomaly task's predict: one folder rule for both
TASK = "classify"  # the checkpoint's meta["task"]: tells predict which kind of model it holds
MAX_PANELS = 12  # attention.png shows one series of each class, of this many classes at most
CLASSIFY_FEATURES = ("diff", "raw")  # anomaly.FEATURES' "shape" would z-normalise a series over its padding too


@dataclass
class ClassifyConfig:
    """Settings of a classification run. The data: ``data`` (a bundled dataset's name, ``datasets.names()``)
    or ``train`` and ``test`` (two files ``datasets.read`` takes: .ts, .tsv, .csv, .npz).

    znorm: z-normalise each series first; features: "raw" (x) or "diff" ([x, dx]); hidden: the BiLSTM
    models' LSTM size; epochs: the most epochs (all of them without validation); noise: the standard
    deviation of the Gaussian noise added to each training batch's standardised input (``training.fit``, 0:
    none); noise_p: the probability that a series of a batch gets it (``training.batch_noise``); noise_until:
    the share of the epochs, from the first, that get it (epochs 1 to floor(noise_until * epochs); 1: all of
    them, ``noise_epochs``); label_smoothing: e, the training loss the cross-entropy against
    (1 - e) onehot(y) + e / K (``training.fit``, PyTorch's ``CrossEntropyLoss(label_smoothing=e)``; 0: none);
    schedule: "cosine" (the learning rate falls from lr to 0 over the epochs) or "constant"; patience: epochs
    without a better validation accuracy before stopping; val_fraction: the share of each class held out for validation;
    min_validation: the fewest held-out series worth validating on (fewer: no validation split); members: M,
    train M models from different seeds and classify by the mean of their probabilities (``models.Ensemble``);
    missing: "error" or "interpolate", for missing values in the files.
    """

    data: str | None = None
    train: str | None = None
    test: str | None = None
    model: str = "bilstm-mha"
    znorm: bool = False
    features: str = "diff"
    hidden: int = 32
    epochs: int = 150
    batch_size: int = 16
    lr: float = 3e-3
    noise: float = 0.7
    noise_p: float = 0.5
    noise_until: float = 0.75
    label_smoothing: float = 0.1
    members: int = 3
    schedule: str = "cosine"
    patience: int = 30
    val_fraction: float = 0.2
    min_validation: int = 50
    seed: int = 0
    missing: str = "error"

    def check(self):
        if (self.data is None) == (self.train is None and self.test is None) or (self.train is None) != (
                self.test is None):
            raise ValueError(f"data: give a bundled dataset's name, or train and test files (not both), got "
                             f"data={self.data!r}, train={self.train!r}, test={self.test!r}")
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {sorted(MODELS)}, got {self.model!r}")
        if not isinstance(self.znorm, bool):
            raise ValueError(f"znorm: expected True or False, got {self.znorm!r}")
        if self.features not in CLASSIFY_FEATURES:
            raise ValueError(f"features: expected one of {CLASSIFY_FEATURES} for labelled series, got "
                             f"{self.features!r}")
        for name in ("hidden", "epochs", "batch_size", "patience", "min_validation", "members"):
            as_int(getattr(self, name), name, 1)
        as_int(self.seed, "seed", 0)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: expected a positive learning rate, got {self.lr!r}")
        for name, inside, expected in (("noise", lambda v: 0 <= v < math.inf, "a finite standard deviation >= 0"),
                                       ("noise_p", lambda v: 0 < v <= 1, "a probability in (0, 1]"),
                                       ("noise_until", lambda v: 0 <= v <= 1, "a share of the epochs in [0, 1]"),
                                       ("label_smoothing", lambda v: 0 <= v <= 1, "a number in [0, 1]")):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and inside(value)):
                raise ValueError(f"{name}: expected {expected}, got {value!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if not (isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction: expected a share in [0, 1), got {self.val_fraction!r}")
        if self.missing not in MISSING_OPTIONS:
            raise ValueError(f"missing: expected one of {MISSING_OPTIONS}, got {self.missing!r}")


def valid_steps(lengths, steps):
    """(N, T) bool, True at t < lengths[n]: the steps that belong to series n."""
    return np.arange(steps) < np.asarray(lengths)[:, None]


def padded_features(X, lengths, features):
    """``anomaly.series_features`` of padded series: (N, T, C) -> (N, T, C or 2C).

    With "diff" the last step of a shorter series would difference into its padding (0 - x_{L-1}); it gets
    dx = 0, as the last step of a full-length series does, and the padding stays 0.
    """
    F = series_features(X, features)
    if features == "diff":
        C = X.shape[-1]
        F[:, :, C:] *= valid_steps(np.asarray(lengths) - 1, X.shape[1])[..., None]
    return F


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """What turns series into the model's input, fitted on the training series and saved in the checkpoint.

    znorm: each series z-normalised per channel over its own steps first; features: "raw" or "diff";
    scaler: per-feature-channel mean and scale over the training series' valid steps; channels: C, the
    number of channels the series must have.
    """

    znorm: bool
    features: str
    scaler: StandardScaler
    channels: int

    @classmethod
    def fit(cls, X, lengths, znorm, features):
        """Fit on training series X (N, T, C) of ``lengths`` (N,): the scaler sees their valid steps only."""
        F = padded_features(znormalize(X, lengths) if znorm else X, lengths, features)
        return cls(znorm, features, fit_scaler(F[valid_steps(lengths, X.shape[1])][None]), X.shape[-1])

    def __call__(self, X, lengths):
        """X (N, T, C) float, lengths (N,) -> the model's input (N, T, C') float32, 0 at padded steps."""
        if X.ndim != 3 or X.shape[-1] != self.channels:
            raise ValueError(f"series: expected (N, T, {self.channels}), {self.channels} channel(s) as in "
                             f"training, got shape {X.shape}")
        check_lengths(np.asarray(lengths), "lengths", X.shape)
        F = padded_features(znormalize(X, lengths) if self.znorm else X, lengths, self.features)
        Z = self.scaler.transform(F.astype(np.float64))
        return np.where(valid_steps(lengths, X.shape[1])[..., None], Z, 0.0).astype(np.float32)

    def to_dict(self):
        return {"znorm": self.znorm, "features": self.features, "scaler": self.scaler.to_dict(),
                "channels": self.channels}

    @classmethod
    def from_dict(cls, d):
        return cls(bool(d["znorm"]), d["features"], StandardScaler.from_dict(d["scaler"]), int(d["channels"]))


def build_classifier(name, input_dim, num_classes, hidden=32, seed=0):
    """A NumPy classifier with a ``num_classes`` head; returns (model, the keyword arguments that rebuild
    it with ``MODELS[name](input_dim=input_dim, **kwargs)``). hidden: the BiLSTM models' LSTM size."""
    kwargs = {"num_classes": int(num_classes), **({} if name == "transformer" else {"hidden_dim": hidden})}
    return MODELS[name](input_dim=input_dim, rng=seed, **kwargs), kwargs


def validation_split(y, fraction, minimum, seed):
    """(fit, validation) index arrays of the training labels y (N,): ``stratified_split`` with ``fraction``,
    seeded; validation None (train on all N) when fewer than ``minimum`` series would be held out."""
    fit_idx, val_idx = stratified_split(y, fraction, np.random.default_rng(seed))
    if len(val_idx) < minimum:
        return np.arange(len(y)), None
    return fit_idx, val_idx


@dataclass(frozen=True, eq=False)
class Classification:
    """What ``classify`` returns: the trained model (an ``Ensemble`` with members > 1), its preprocessing, the
    training ``History`` of each member, the test split's class probabilities (N, K) and attention (N, T), the
    ``multiclass_report`` and the checkpoint meta."""

    model: object
    preprocessing: Preprocessing
    histories: list
    probabilities: np.ndarray
    attention: np.ndarray
    report: dict
    meta: dict


def encode_labels(labels, class_names, name):
    """Labels (N,) str -> class indices (N,) int64 into ``class_names``; an unknown label is refused naming
    the split ``name``."""
    index = {str(c): k for k, c in enumerate(class_names)}
    unknown = sorted(set(map(str, labels)) - set(index))
    if unknown:
        raise ValueError(f"{name}: label {unknown[0]!r} is not one of the class names {list(index)}")
    return np.array([index[str(label)] for label in labels], dtype=np.int64)


def classify(train, test, class_names, config, checkpoint=None, log=print):
    """Train on ``train`` and evaluate on ``test`` (each with X (N, T, C), lengths (N,) and labels (N,) str
    among ``class_names``, e.g. a ``datasets.LabelledSeries``) by the recipe in the module docstring.

    checkpoint: where ``training.fit`` keeps the best weights while training (None: nowhere).
    """
    y_train, y_test = (encode_labels(split.labels, class_names, name) for split, name in ((train, "train"),
                                                                                         (test, "test")))
    prep = Preprocessing.fit(train.X, train.lengths, config.znorm, config.features)
    X_train, X_test = prep(train.X, train.lengths), prep(test.X, test.lengths)
    fit_idx, val_idx = validation_split(y_train, config.val_fraction, config.min_validation, config.seed)
    seeds = member_seeds(config.seed, config.members)
    model, model_kwargs = build_classifier(config.model, X_train.shape[-1], len(class_names), config.hidden, seeds[0])
    meta = {"task": TASK, "model": config.model, "input_dim": X_train.shape[-1], "model_kwargs": model_kwargs,
            "class_names": list(class_names), "preprocessing": prep.to_dict(), "config": asdict(config),
            "validation_series": 0 if val_idx is None else len(val_idx), "members": 1}
    held = "no validation split" if val_idx is None else f"{len(val_idx)} held out for validation"
    log(f"{len(y_train)} training series ({held}), {len(y_test)} test series, {len(class_names)} classes, "
        f"{train.X.shape[-1]} channel(s); model {config.model} "
        f"({sum(p.data.size for p in model.parameters())} parameters)"
        + (f"; {len(seeds)} members, from seeds {seeds}" if len(seeds) > 1 else ""))
    validation = {} if val_idx is None else {"X_val": X_train[val_idx], "y_val": y_train[val_idx],
                                             "lengths_val": train.lengths[val_idx]}
    members, histories = [], []
    for m, seed in enumerate(seeds):
        if m > 0:
            log(f"member {m + 1} of {len(seeds)} (seed {seed})")
            model, _ = build_classifier(config.model, X_train.shape[-1], len(class_names), config.hidden, seed)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        histories.append(fit(
            model, optimizer, X_train[fit_idx], y_train[fit_idx], **validation, epochs=config.epochs,
            batch_size=config.batch_size, patience=config.patience, rng=seed,
            checkpoint=checkpoint if m == 0 else None,  # on Ctrl-C: the first member, whole or its best so far
            checkpoint_meta=meta, on_epoch=_log_epoch(optimizer, config, log), lr_schedule=lr_schedule(config),
            lengths_train=train.lengths[fit_idx], monitor="accuracy", noise=config.noise, noise_p=config.noise_p,
            noise_epochs=noise_epochs(config), label_smoothing=config.label_smoothing))
        members.append(model)
    model = members[0] if len(members) == 1 else Ensemble(members)
    probabilities, attention = predict(model, X_test, test.lengths)
    report = multiclass_report(y_test, probabilities, class_names)
    meta = {**meta, "members": len(members), "member_seeds": seeds, "best_epoch": histories[0].best_epoch}
    return Classification(model, prep, histories, probabilities, attention, report, meta)


def noise_epochs(config):
    """How many epochs, from the first, get noise: floor(noise_until * epochs) (112 of 150 by default)."""
    return math.floor(config.noise_until * config.epochs)


def member_seeds(seed, members):
    """The seeds of an ensemble's ``members`` models: ``seed`` itself for the first (one member is the
    single-model recipe), then seeds drawn from ``numpy.random.SeedSequence((seed, m))``, so no two runs'
    members share one the way seeds seed, seed + 1, ... would."""
    return [seed] + [int(np.random.SeedSequence((seed, m)).generate_state(1)[0]) for m in range(1, members)]


def _log_epoch(optimizer, config, log):
    """``fit``'s on_epoch: log the first and every tenth epoch, with the learning rate it ran at."""
    def on_epoch(epoch, train_loss, val_loss):
        if epoch == 1 or epoch % 10 == 0:
            val = "" if math.isnan(val_loss) else f", val loss {val_loss:.4f}"  # NaN: no validation split
            log(f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f}{val}, lr {optimizer.lr:.2g}")
    return on_epoch


def load_data(config):
    """The ``Dataset`` of ``config``: the bundled one named ``data``, or the ``train`` and ``test`` files,
    named after the training file and with the labels the two hold as class names."""
    if config.data is not None:
        return load(config.data)
    for option in ("train", "test"):
        if not Path(getattr(config, option)).is_file():
            raise ValueError(f"{option}: no such file {getattr(config, option)!r}")
    train, test = (read(path, missing=config.missing) for path in (config.train, config.test))
    if train.X.shape[-1] != test.X.shape[-1]:
        raise ValueError(f"{config.test}: {test.X.shape[-1]} channel(s), but the training file {config.train} "
                         f"has {train.X.shape[-1]}")
    name = Path(config.train).name.split(".")[0]  # Tiny_TRAIN.ts.gz -> Tiny, the archive's naming
    return Dataset.from_splits(name[:-len("_TRAIN")] if name.upper().endswith("_TRAIN") else name, train, test)


def run_classify(config, out, log=print):
    """``classify`` the dataset of ``config``; write ``OUTPUTS`` into ``out`` by the commands' rule
    (``commands.output_folder``: written beside ``out`` and moved in at the end, so a failed run leaves ``out``
    as it was; on Ctrl-C the best checkpoint so far is kept). Returns the metrics dict."""
    config.check()
    commands.check_out(out, OUTPUTS)
    data = load_data(config)
    log(f"dataset {data.name}: classes {', '.join(data.class_names)}")
    with commands.output_folder(out, OUTPUTS, keep_if_interrupted="model.npz") as folder:
        started = time.perf_counter()
        result = classify(data.train, data.test, data.class_names, config, checkpoint=folder / "model.npz", log=log)
        first = result.histories[0]
        metrics = {**result.report, "dataset": data.name, "model": config.model, "seed": config.seed,
                   "members": config.members, "epochs_run": first.epochs_run, "best_epoch": first.best_epoch,
                   "validation_series": result.meta["validation_series"], "train_series": len(data.train.labels),
                   "test_series": len(data.test.labels), "seconds": time.perf_counter() - started,
                   "config": asdict(config)}
        _write(folder, data, result, metrics)
    log(f"test: accuracy {metrics['accuracy']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}, "
        f"macro-F1 {metrics['macro_f1']:.4f} ({metrics['epochs_run']} epochs, best {metrics['best_epoch']}, "
        f"{metrics['seconds']:.0f} s); wrote {out}")
    return metrics


def _write(folder, data, result, metrics):
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    histories = [h.to_dict() for h in result.histories]
    (folder / "history.json").write_text(json.dumps(histories[0] if len(histories) == 1 else
                                                    {"members": histories}, indent=1))
    save_checkpoint(folder / "model.npz", result.model, result.meta)  # the best weights, with the final meta
    history = result.histories[0]
    curves = {"train": history.train_loss, **({"val": history.val_loss} if history.val_loss else {})}
    member = f" (member 1 of {len(histories)})" if len(histories) > 1 else ""
    plots.plot_loss(curves, folder / "loss.png", title=f"{data.name}: cross-entropy per epoch{member}",
                    best_epoch=history.best_epoch, chance_loss=history.chance_loss)
    confusion = np.array(metrics["confusion_matrix"]["matrix"])
    plots.plot_confusion(confusion, data.class_names, folder / "confusion.png",
                         title=f"{data.name} test split: accuracy {metrics['accuracy']:.3f}")
    _attention_figure(folder / "attention.png", data, result)


def _attention_figure(path, data, result):
    """attention.png: the first test series of each class (of the first MAX_PANELS classes) with its
    attention, titled with its true and predicted class."""
    y_test = data.y_test
    shown = [int(np.flatnonzero(y_test == k)[0]) for k in range(len(data.class_names)) if (y_test == k).any()]
    more = f" (the first {MAX_PANELS} of {len(shown)} classes)" if len(shown) > MAX_PANELS else ""
    shown = shown[:MAX_PANELS]
    names, lengths = data.class_names, data.test.lengths
    titles = [f"class {names[y_test[n]]}: predicted {names[result.probabilities[n].argmax()]} "
              f"(p {result.probabilities[n].max():.2f})" for n in shown]
    plots.plot_class_attention([data.test.X[n, :lengths[n]] for n in shown],
                               [result.attention[n, :lengths[n]] for n in shown], titles, path,
                               title=f"{data.name}: attention over the first test series of each class{more}")


def load_classifier(checkpoint):
    """(model, Preprocessing, meta) from a checkpoint written by ``run_classify``."""
    state, meta = load_checkpoint(checkpoint)
    if meta.get("task") != TASK:
        raise ValueError(f"checkpoint {checkpoint}: not a classifier written by run_classify (its meta has "
                         f"task {meta.get('task')!r}, not {TASK!r})")
    members = [MODELS[meta["model"]](input_dim=meta["input_dim"], **meta["model_kwargs"])
               for _ in range(meta.get("members", 1))]  # checkpoints from before ensembles hold one model
    model = members[0] if len(members) == 1 else Ensemble(members)
    model.load_state_dict(state)
    return model, Preprocessing.from_dict(meta["preprocessing"]), meta


def predict_classifier(checkpoint, X, lengths=None):
    """Classify series X (N, T, C) (zero-padded, each of ``lengths`` (N,) steps; None: all T) with the model
    in ``checkpoint``; returns (classes (N,) str, probabilities (N, K), attention (N, T), class_names).

    Series with another number of channels than the training series are refused, naming the checkpoint's.
    """
    model, prep, meta = load_classifier(checkpoint)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[-1] != prep.channels:
        raise ValueError(f"input: the classifier in {checkpoint} was trained on series of {prep.channels} "
                         f"channel(s); expected (N, T, {prep.channels}), got shape {X.shape}")
    lengths = np.full(len(X), X.shape[1]) if lengths is None else np.asarray(lengths)
    probabilities, attention = predict(model, prep(X, lengths), lengths)
    names = np.array(meta["class_names"])
    return names[probabilities.argmax(axis=1)], probabilities, attention, list(names)


def read_input(path, missing="error"):
    """Series to classify from a file: (X (N, T, C) float32 zero-padded, lengths (N,), labels (N,) str or None).

    .ts, .tsv, .csv, .npz: the labelled formats ``datasets.read`` takes (their labels are returned too);
    .npy: an array (N, T) or (N, T, C) of numbers without labels, each series ending at its last step that is
    not NaN in every channel (trailing NaNs pad the shorter series, as in the UCR 2018 files).
    missing: "error" or "interpolate", for NaNs inside a series (``datasets.values.fill_missing``).
    """
    if not Path(path).is_file():
        raise ValueError(f"input: no such file {str(path)!r}")
    if not str(path).lower().endswith(".npy"):
        split = read(path, missing=missing)
        return split.X, split.lengths, split.labels
    try:
        X = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .npy array of numbers ({err})") from None
    if X.dtype.kind not in "fiu" or X.ndim not in (2, 3) or 0 in X.shape:
        raise ValueError(f"{path}: expected an (N, T) or (N, T, C) array of numbers, got {X.dtype} {X.shape}")
    X = X.reshape(*X.shape[:2], -1).astype(np.float64)
    if np.isinf(X).any():
        raise ValueError(f"{path}: expected finite numbers (NaN marks padding or a missing value), got inf")
    places = [f"{path} series {n + 1}" for n in range(len(X))]
    cases = [fill_missing(trim_padding(x, at), missing, at) for x, at in zip(X, places)]
    split = LabelledSeries.from_cases(cases, [""] * len(cases), path)  # padded as every reader pads; no labels
    return split.X, split.lengths, None


def predict_file(checkpoint, input_path, out, missing="error", log=print):
    """Classify the series in ``input_path`` (``read_input``) with a ``run_classify`` checkpoint; write
    into ``out`` predictions.csv (index, class, then one probability column per class) and attention.npy
    (N, T), 0 past each series' end. Returns (classes, probabilities, attention)."""
    out = Path(out)
    commands.check_out(out, PREDICT_OUTPUTS)
    X, lengths, labels = read_input(input_path, missing)
    classes, probabilities, attention, names = predict_classifier(checkpoint, X, lengths)
    with commands.output_folder(out, PREDICT_OUTPUTS) as folder:
        with open(folder / "predictions.csv", "w", newline="") as f:  # csv quotes a class name holding a comma
            writer = csv.writer(f)
            writer.writerow(["index", "class", *(f"p_{name}" for name in names)])
            writer.writerows([n, c, *(f"{p:.6f}" for p in row)]
                             for n, (c, row) in enumerate(zip(classes, probabilities)))
        np.save(folder / "attention.npy", attention)
    known = labels is not None and set(labels) <= set(names)
    score = f"; accuracy against the file's labels {np.mean(classes == labels):.4f}" if known else ""
    log(f"{len(classes)} series classified{score}; wrote {out / 'predictions.csv'} and {out / 'attention.npy'}")
    return classes, probabilities, attention
