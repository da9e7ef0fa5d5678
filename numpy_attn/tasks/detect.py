"""Find the anomaly in a long series: learn from normal data, slide over new data, point at the anomaly.

The recipe (``detect``):
1. Standard units. z = (x - mean_c) / std_c per channel, mean and std of the NORMAL series, so the
   injections below mean the same on every recording (``injection``: 0 is the normal level, 1 its spread).
2. Window length. One period of NORMAL, found by autocorrelation (``windows.default_window``), unless
   given; the stride defaults to L // 8, so each step is seen by about 8 windows.
3. Training data, from NORMAL only. Its last part (VAL_SHARE of it, at least 2 windows long) is held out
   for validation; windows are cut at random starts from each part, and about half of them (``share``) get
   one injected anomaly of a kind drawn from ``kinds`` (label 1), the rest stay as they are (label 0).
4. The model: the anomaly task's classifier (default bilstm-attention) on the features [z, dz, s, ds], s the
   window z-normalised over its own steps (``anomaly.series_features``, "shape"), standardised with a scaler
   fitted on NORMAL's windows (``model_features``), trained by ``training.fit`` for up to 16 epochs (patience
   5): a window of a slower tempo (``injection``'s tempo) is learnt later than the other kinds
   (docs/detection.md).
5. Scoring. The windows slide over the test series; each gives P(anomalous) and its attention, and
   ``localize.step_scores`` turns them into one score per time step, pooled over the shortest span the
   injections draw (SHORT_SPAN[0] L steps: the stretch the model was taught to find). The location is
   the highest score.
   When the test series begins with the normal one (the UCR archive's layout: its TRAIN file is the start
   of its TEST file), that part is known to be normal and the location is looked for after it.

``run_detect`` does it for files and writes scores.csv, detection.png, metrics.json and model.npz.
"""

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import optim
from .._validate import as_int
from ..models import MODELS
from . import plots
from .anomaly import FEATURES, build_model, series_features
from .checkpoint import save_checkpoint
from .commands import output_folder
from .detection_metrics import average_precision, labelled_ranges, ucr_hit
from .injection import INJECTION_KINDS, SHORT_SPAN, inject
from .localize import slide, step_scores, top_detections
from .metrics import roc_auc
from .preprocessing import fit_scaler
from .series_file import read_long_series
from .training import fit
from .windows import WINDOWS_IN_NORMAL, cut_windows, default_stride, default_window, dominant_period, window_starts

VAL_SHARE = 0.2  # share of the normal series held out for validation (at least 2 windows of it)
TOP = 3  # detections marked in the figure and listed in metrics.json
OUTPUTS = ("scores.csv", "detection.png", "metrics.json", "model.npz")


@dataclass
class DetectConfig:
    """Settings of a detection run; ``None`` for window and stride means: from the data (see ``detect``).

    windows: training windows drawn from the normal series (a quarter as many for validation);
    share: the fraction of them that get an injected anomaly; kinds: the injection kinds to draw from.
    """

    window: int | None = None
    stride: int | None = None
    model: str = "bilstm-attention"
    features: str = "shape"
    hidden: int = 32
    windows: int = 1024
    share: float = 0.5
    kinds: tuple = INJECTION_KINDS
    epochs: int = 16
    batch_size: int = 32
    lr: float = 3e-3
    patience: int = 5
    seed: int = 0

    def check(self):
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {sorted(MODELS)}, got {self.model!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features: expected one of {FEATURES}, got {self.features!r}")
        unknown = [k for k in self.kinds if k not in INJECTION_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"kinds: expected injection kinds from {INJECTION_KINDS}, got {list(self.kinds)}")
        for name in ("hidden", "windows", "epochs", "batch_size", "patience"):
            as_int(getattr(self, name), name, 1)
        if self.window is not None:
            as_int(self.window, "window", 2)
        if self.stride is not None:
            as_int(self.stride, "stride", 1)
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"share: expected a fraction strictly between 0 and 1, got {self.share!r}")
        if not self.lr > 0.0:
            raise ValueError(f"lr: expected a positive learning rate, got {self.lr!r}")


@dataclass(frozen=True, eq=False)
class Detection:
    """What ``detect`` found.

    scores: (T,) one per step of the test series; location: the step with the highest score at or after
    ``normal_prefix``; normal_prefix: the length of the normal series when the test series starts with it
    (the UCR layout), else 0; detections: up to TOP peaks, highest first, at least a window apart;
    window, stride, period (None when NORMAL shows none); prob (N,) and starts (N,) of the scored windows;
    model (trained), meta (the checkpoint's meta), history (``training.History``).
    """

    scores: np.ndarray
    location: int
    normal_prefix: int
    detections: np.ndarray
    window: int
    stride: int
    period: int | None
    prob: np.ndarray
    starts: np.ndarray
    model: object
    meta: dict
    history: object


def normal_prefix_length(normal, test):
    """len(normal) when ``test`` begins with ``normal`` (equal to within float noise), else 0."""
    n = len(normal)
    if len(test) <= n or normal.shape[1:] != test.shape[1:]:
        return 0
    return n if np.allclose(test[:n], normal, rtol=1e-7, atol=1e-12) else 0


def plan_windows(normal, test_length, config):
    """(period, window, stride, pool, cut) for a detector trained on ``normal`` (T0, C), searching a series
    of ``test_length`` steps: the period of NORMAL (None when it shows none), the window (config.window or
    ``windows.default_window``), the stride (config.stride or ``windows.default_stride``), the pooling
    width of the step score (the shortest injected span, SHORT_SPAN[0] L) and where NORMAL is cut into
    training steps [0, cut) and validation steps [cut, T0): the validation part is VAL_SHARE of T0 but at
    least 2 windows, so its windows start at L + 1 places. ValueError when the series are too short.
    """
    period = dominant_period(normal)
    window = config.window or default_window(normal)
    if len(normal) < WINDOWS_IN_NORMAL * window:
        raise ValueError(f"normal series: {len(normal)} steps is too short for windows of {window}; it needs "
                         f"at least {WINDOWS_IN_NORMAL * window} ({WINDOWS_IN_NORMAL} windows)")
    if test_length < window:
        raise ValueError(f"test series: {test_length} steps, shorter than one window of {window}")
    cut = len(normal) - max(round(VAL_SHARE * len(normal)), 2 * window)
    return period, window, config.stride or default_stride(window), max(1, round(SHORT_SPAN[0] * window)), cut


def labelled_windows(z, n, window, share, kinds, rng):
    """n windows (n, L, C) cut at uniform random starts from z (T, C), and their labels (n,) float32.

    A window gets an injection (label 1) with probability ``share``, of a kind drawn uniformly from
    ``kinds``, into one channel (``injection.inject``; ``copy`` and ``tempo`` read from z itself).
    """
    starts = rng.integers(0, len(z) - window + 1, size=n)
    X = cut_windows(z, starts, window)
    y = rng.random(n) < share
    for i in np.flatnonzero(y):
        X[i] = inject(X[i], kinds[rng.integers(len(kinds))], rng, z)[0]
    return X, y.astype(np.float32)


def model_features(z, window, stride, features):
    """The features (N, L, C') of the windows of z (T, C) sliding by ``stride`` (``windows.window_starts``)."""
    return series_features(cut_windows(z, window_starts(len(z), window, stride), window), features)


def model_input(windows, features, scaler):
    """windows (N, L, C) in standard units -> the model's input (N, L, C'), float32."""
    return scaler.transform(series_features(windows, features)).astype(np.float32)


def detect(normal, test, config=None, checkpoint=None, log=print):
    """Train a detector on ``normal`` (T0, C) and locate the anomaly in ``test`` (T, C); see the module
    docstring. checkpoint: a path for the best weights while training (``training.fit``), or None.
    Returns a ``Detection``.
    """
    config = config or DetectConfig()
    config.check()
    normal, test = (np.asarray(a, dtype=np.float64) for a in (normal, test))
    if normal.ndim != 2 or test.ndim != 2 or normal.shape[1] != test.shape[1]:
        raise ValueError(f"detect: expected normal (T0, C) and test (T, C) with the same C, got shapes "
                         f"{normal.shape} and {test.shape}")
    period, window, stride, pool, cut = plan_windows(normal, len(test), config)

    series_scaler = fit_scaler(normal[None])
    z_normal, z_test = (series_scaler.transform(a[None])[0] for a in (normal, test))
    # the features' scaler, fitted on the normal series' windows as the model sees them: each window's shape
    # channels are z-normalised over the window, not over the whole series
    scaler = fit_scaler(model_features(z_normal, window, stride, config.features))
    rng = np.random.default_rng(config.seed)
    kinds = tuple(config.kinds)
    X_train, y_train = labelled_windows(z_normal[:cut], config.windows, window, config.share, kinds, rng)
    X_val, y_val = labelled_windows(z_normal[cut:], max(config.windows // 4, 1), window, config.share, kinds, rng)
    log(f"window {window} (period {period if period else 'none found'}{', given' if config.window else ''}), "
        f"stride {stride}; {len(X_train)} training windows from steps 0-{cut - 1} of the normal series, "
        f"{len(X_val)} validation windows from steps {cut}-{len(normal) - 1}, "
        f"{config.share:.0%} with an injected {'/'.join(kinds)}")

    model, model_kwargs = build_model(config.model, scaler.mean.size, config.hidden, config.seed)
    meta = {"model": config.model, "input_dim": int(scaler.mean.size), "model_kwargs": model_kwargs,
            "features": config.features, "channels": int(normal.shape[1]), "scaler": scaler.to_dict(),
            "series_scaler": series_scaler.to_dict(), "window": window, "stride": stride, "pool": pool,
            "config": asdict(config)}
    on_epoch = lambda e, tr, va: log(f"epoch {e}/{config.epochs}: train loss {tr:.4f}, val loss {va:.4f}")  # noqa: E731
    history = fit(model, optim.Adam(model.parameters(), lr=config.lr),
                  model_input(X_train, config.features, scaler), y_train,
                  model_input(X_val, config.features, scaler), y_val, epochs=config.epochs,
                  batch_size=config.batch_size, patience=config.patience, rng=rng, checkpoint=checkpoint,
                  checkpoint_meta=meta, on_epoch=on_epoch)

    starts, prob, alpha = slide(model, z_test, window, stride, lambda w: model_input(w, config.features, scaler))
    scores = step_scores(prob, alpha, starts, len(test), pool)
    prefix = normal_prefix_length(normal, test)
    detections = top_detections(scores, TOP, window, first=prefix)
    return Detection(scores, int(detections[0]), prefix, detections, window, stride, period, prob, starts,
                     model, {**meta, "best_epoch": history.best_epoch}, history)


def bundled_pair(name):
    """(normal path, test path) of a dataset bundled with the package (``numpy_attn.datasets``)."""
    from ..datasets import bundled_files  # imported here: the detector does not need the bundle otherwise

    files = bundled_files(name)
    return files["train"], files["test"]


def run_detect(normal_path, test_path, out, config=None, log=print):
    """``detect`` on two files (``series_file.read_long_series``); write into ``out``:

    scores.csv (index,score: one row per step of the test series), detection.png, metrics.json and
    model.npz. Everything is written into a temporary folder beside ``out`` and moved in at the end
    (``commands.output_folder``), so a run that fails leaves ``out`` as it was. Returns the metrics dict.
    """
    config = config or DetectConfig()
    config.check()
    normal, test = read_long_series(normal_path), read_long_series(test_path)
    if normal.values.shape[1] != test.values.shape[1]:
        raise ValueError(f"{test.path}: {test.values.shape[1]} channel(s), but the normal series {normal.path} "
                         f"has {normal.values.shape[1]}")
    plan_windows(normal.values, len(test.values), config)  # the lengths refused before anything is written
    with output_folder(out, OUTPUTS) as folder:
        started = time.perf_counter()
        found = detect(normal.values, test.values, config, checkpoint=folder / "model.npz", log=log)
        metrics = _metrics(found, normal, test, time.perf_counter() - started)
        _write(folder, found, test, metrics)
    where = (f"after the first {found.normal_prefix} steps (the test series starts with the normal series)"
             if found.normal_prefix else "anywhere in the test series")
    hit = f"; UCR hit: {metrics['ucr_hit']}" if "ucr_hit" in metrics else ""
    log(f"anomaly located at step {found.location}, looked for {where}{hit}; wrote {out}")
    return metrics


def _metrics(found, normal, test, seconds):
    """metrics.json: the location, how it was looked for, the run's settings and, with labels, the scores."""
    metrics = {
        "location": found.location,
        "detections": found.detections.tolist(),
        "searched_from": found.normal_prefix,
        "search": ("after the normal series, which the test series starts with (UCR layout)"
                   if found.normal_prefix else "the whole test series"),
        "window": found.window, "stride": found.stride, "period": found.period,
        "normal_file": normal.path, "test_file": test.path, "steps": len(found.scores),
        "epochs_run": found.history.epochs_run, "best_epoch": found.history.best_epoch,
        "best_val_loss": found.history.best_val_loss, "seconds": seconds,
    }
    if test.labels is None or not test.labels.any():
        return metrics
    labels, scores = test.labels[found.normal_prefix:], found.scores[found.normal_prefix:]
    metrics.update(labelled_ranges=[list(r) for r in labelled_ranges(test.labels)],
                   ucr_hit=ucr_hit(found.location, test.labels),
                   scored_steps=f"{found.normal_prefix}-{len(test.labels) - 1}")
    if labels.any() and not labels.all():
        metrics.update(roc_auc=roc_auc(labels, scores), pr_auc=average_precision(labels, scores))
    return metrics


def _write(folder, found, test, metrics):
    rows = "\n".join(f"{t},{s:.6g}" for t, s in enumerate(found.scores))
    (folder / "scores.csv").write_text("index,score\n" + rows + "\n")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    save_checkpoint(folder / "model.npz", found.model, found.meta)  # the best weights, with the final meta
    spans = [] if test.labels is None else labelled_ranges(test.labels)
    plots.plot_detection(test.values, found.scores, folder / "detection.png", found.detections, spans,
                         normal_prefix=found.normal_prefix, zoom=2 * found.window,
                         title=f"{Path(test.path).name}: anomaly located at step {found.location}")
