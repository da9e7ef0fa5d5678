"""Figures for attention: weight heatmaps (one head or many), attention drawn over a signal, loss curves.

Every function draws off-screen (matplotlib's Agg backend, so it runs on a server or in CI), saves
the figure to ``path`` (parent folders are created) and returns that path as a ``pathlib.Path``.
Figures are built as ``matplotlib.figure.Figure`` objects, never through pyplot's global state, so
nothing is left open after a call.
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # off-screen rendering: no display needed

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .._validate import as_float_array  # noqa: E402


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _check_labels(labels, n, name):
    if labels is not None and len(labels) != n:
        raise ValueError(f"{name}: expected {n} labels (one per row/column of the weights), got {len(labels)}")


def _heatmap(ax, weights, x_labels, y_labels, cmap, vmin, vmax=None):
    """Draw weights (Lq, Lk) with query i on row i and key j on column j; one tick per label, at its cell."""
    _check_labels(x_labels, weights.shape[1], "x_labels")
    _check_labels(y_labels, weights.shape[0], "y_labels")
    image = ax.imshow(weights, cmap=cmap, aspect="auto", interpolation="nearest", vmin=vmin, vmax=vmax)
    if x_labels is not None:  # ticks at the cell centres 0..Lk-1, then the labels: they cannot drift apart
        ax.set_xticks(np.arange(weights.shape[1]), labels=[str(s) for s in x_labels], rotation=90)
    if y_labels is not None:
        ax.set_yticks(np.arange(weights.shape[0]), labels=[str(s) for s in y_labels])
    ax.set_xlabel("keys")
    ax.set_ylabel("queries")
    return image


def show_attention(weights, path, x_labels=None, y_labels=None, title=None, cmap="viridis"):
    """Heatmap of one attention matrix. weights: (Lq, Lk), row i the weights of query i over the keys;
    x_labels: Lk key labels (tokens), y_labels: Lq query labels, or None for plain indices."""
    weights = as_float_array(weights, "show_attention weights", ndim=2)
    n_q, n_k = weights.shape
    fig = Figure(figsize=(min(2 + 0.4 * n_k, 16), min(1.5 + 0.4 * n_q, 16)))
    ax = fig.add_subplot()
    fig.colorbar(_heatmap(ax, weights, x_labels, y_labels, cmap, min(0.0, float(weights.min()))), ax=ax)
    if title is not None:
        ax.set_title(title)
    return _save(fig, path)


def plot_heads(weights, path, x_labels=None, y_labels=None, title=None, cmap="viridis"):
    """A grid of heatmaps, one per head, on one colour scale. weights: (H, Lq, Lk)."""
    weights = as_float_array(weights, "plot_heads weights", ndim=3)
    n_heads = weights.shape[0]
    n_cols = math.ceil(math.sqrt(n_heads))
    n_rows = math.ceil(n_heads / n_cols)
    fig = Figure(figsize=(4 * n_cols + 1, 3.5 * n_rows), layout="constrained")  # titles clear of tick labels
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    vmin, vmax = min(0.0, float(weights.min())), max(float(weights.max()), 1e-12)  # one scale for every head
    for head, ax in enumerate(axes):
        if head < n_heads:
            image = _heatmap(ax, weights[head], x_labels, y_labels, cmap, vmin, vmax)
            ax.set_title(f"head {head}")
        else:
            ax.set_visible(False)
    fig.colorbar(image, ax=list(axes))
    if title is not None:
        fig.suptitle(title)
    return _save(fig, path)


def _signal_and_alpha(signal, alpha, span, who):
    signal = as_float_array(signal, f"{who} signal", ndim=(1, 2))
    alpha = as_float_array(alpha, f"{who} alpha", ndim=1)
    if alpha.shape[0] != signal.shape[0]:
        raise ValueError(f"{who} alpha: expected {signal.shape[0]} weights (one per time step of the signal "
                         f"{signal.shape}), got {alpha.shape[0]}")
    if span is not None and not 0 <= span[0] < span[1] <= signal.shape[0]:
        raise ValueError(f"{who} span: expected (start, end) with 0 <= start < end <= {signal.shape[0]}, got {span}")
    return signal, alpha


def _draw_signal_attention(ax, signal, alpha, span, title):
    """The signal on ``ax`` (one line per channel), the attention as a red curve on a twin y-axis, the
    true anomaly span shaded grey."""
    steps = np.arange(signal.shape[0])
    ax.plot(steps, signal, color="tab:blue", linewidth=1.0)
    ax.set_xlabel("time step")
    ax.set_ylabel("signal", color="tab:blue")
    if span is not None:
        ax.axvspan(span[0], span[1], color="grey", alpha=0.25, label="true anomaly")
        ax.legend(loc="upper left")
    twin = ax.twinx()
    twin.plot(steps, alpha, "r--", linewidth=1.0)
    twin.fill_between(steps, alpha, color="tab:red", alpha=0.15)
    twin.set_ylim(0.0, 1.1 * float(alpha.max()) or 1.0)  # the weights sum to 1: scale to their peak, not to 1
    twin.set_ylabel("attention weight", color="tab:red")
    if title is not None:
        ax.set_title(title)


def plot_signal_attention(signal, alpha, path=None, span=None, title=None, ax=None):
    """A signal with its attention weights overlaid (seed 001's figure).

    signal: (T,) or (T, C); alpha: (T,); span: (start, end) of the true anomaly, shaded, or None.
    With ``ax`` the drawing goes into that axes (and ``path``, if given, saves its figure); without,
    a new figure is saved to ``path``. Returns the path (None when drawing into ``ax`` without one).
    """
    signal, alpha = _signal_and_alpha(signal, alpha, span, "plot_signal_attention")
    if ax is None:
        if path is None:
            raise ValueError("plot_signal_attention: give a path to save to, or an ax to draw into")
        fig = Figure(figsize=(12, 4))
        ax = fig.add_subplot()
    _draw_signal_attention(ax, signal, alpha, span, title)
    return None if path is None else _save(ax.figure, path)


def plot_normal_vs_anomalous(normal_signal, normal_alpha, anomalous_signal, anomalous_alpha, path,
                             span=None, title=None):
    """Side by side: a normal signal with its attention (left), an anomalous one with its attention and
    its true anomaly ``span`` shaded (right). Signals: (T,) or (T, C); alphas: (T,)."""
    left = _signal_and_alpha(normal_signal, normal_alpha, None, "plot_normal_vs_anomalous normal")
    right = _signal_and_alpha(anomalous_signal, anomalous_alpha, span, "plot_normal_vs_anomalous anomalous")
    fig = Figure(figsize=(16, 4), layout="constrained")
    ax_left, ax_right = fig.subplots(1, 2)
    _draw_signal_attention(ax_left, *left, None, "normal")
    _draw_signal_attention(ax_right, *right, span, "anomalous")
    if title is not None:
        fig.suptitle(title)
    return _save(fig, path)


def plot_loss(history, path, title=None):
    """Training curves: history maps a name ('train', 'val', ...) to one loss per epoch."""
    if not isinstance(history, dict) or not history:
        raise ValueError(f"plot_loss history: expected a non-empty dict of name -> list of losses, got {history!r}")
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for name, losses in history.items():
        losses = as_float_array(np.asarray(losses, dtype=float), f"plot_loss history[{name!r}]", ndim=1)
        if losses.size == 0:
            raise ValueError(f"plot_loss history[{name!r}]: expected at least one loss, got an empty list")
        ax.plot(np.arange(1, losses.size + 1), losses, marker="o", markersize=3, label=str(name))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return _save(fig, path)


def _shade_context(ax, spans, normal_prefix, detections):
    """On one panel of ``plot_detection``: the labelled anomalies shaded red, the normal prefix grey, the
    detections as numbered dashed lines (1 = the location)."""
    for i, (first, last) in enumerate(spans):
        ax.axvspan(first, last + 1, color="tab:red", alpha=0.25, label="labelled anomaly" if i == 0 else None)
    if normal_prefix:
        ax.axvspan(0, normal_prefix, color="grey", alpha=0.12, label="normal series (not searched)")
    for rank, t in enumerate(detections, start=1):
        ax.axvline(t, color="black" if rank == 1 else "dimgrey", linestyle="--", linewidth=1.0,
                   label="detections (1 = location)" if rank == 1 else None)
        ax.annotate(str(rank), (t, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom")


def plot_detection(series, scores, path, detections, spans=(), normal_prefix=0, zoom=200, title=None):
    """A long series with its anomaly score: three panels sharing the time axis' meaning.

    series: (T,) or (T, C), one colour per channel with a legend; scores: (T,) one per step; detections:
    the top steps, the location first; spans: labelled anomalies as (first, last) pairs, both inside,
    shaded; normal_prefix: steps at the start that were not searched (the normal series), shaded grey.
    Top: the series; middle: its score; bottom: both zoomed to [location - zoom, location + zoom].
    """
    series = as_float_array(np.asarray(series, dtype=np.float64), "plot_detection series", ndim=(1, 2))
    series = series[:, None] if series.ndim == 1 else series
    scores = as_float_array(np.asarray(scores, dtype=np.float64), "plot_detection scores", ndim=1)
    if len(scores) != len(series) or len(detections) == 0:
        raise ValueError(f"plot_detection: expected one score per step ({len(series)}) and at least one "
                         f"detection, got {len(scores)} scores and {len(detections)} detections")
    steps = np.arange(len(series))
    fig = Figure(figsize=(14, 9), layout="constrained")
    ax_series, ax_score, ax_zoom = fig.subplots(3, 1)
    colours = [f"C{c % 10}" for c in range(series.shape[1])]
    for c, colour in enumerate(colours):
        ax_series.plot(steps, series[:, c], color=colour, linewidth=0.7, label=f"channel {c}")
    _shade_context(ax_series, spans, normal_prefix, detections)
    ax_series.set_ylabel("value")
    fig.legend(*ax_series.get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize="small")
    ax_score.plot(steps, scores, color="tab:purple", linewidth=0.8)
    _shade_context(ax_score, spans, normal_prefix, detections)
    ax_score.set_ylabel("anomaly score")

    location = int(detections[0])
    lo, hi = max(location - zoom, 0), min(location + zoom + 1, len(series))
    for c, colour in enumerate(colours):
        ax_zoom.plot(steps[lo:hi], series[lo:hi, c], color=colour, linewidth=1.0)
    _shade_context(ax_zoom, [s for s in spans if s[1] >= lo and s[0] < hi], 0, [location])
    ax_zoom.set_xlim(lo, hi - 1)
    ax_zoom.set_ylabel("value")
    ax_zoom.set_xlabel(f"time step (zoom around the location, step {location})")
    twin = ax_zoom.twinx()
    twin.plot(steps[lo:hi], scores[lo:hi], color="tab:purple", linewidth=1.0, linestyle=":")
    twin.set_ylabel("score", color="tab:purple")
    for ax in (ax_series, ax_score):
        ax.set_xlim(0, len(series) - 1)
    ax_score.set_xlabel("time step")
    if title is not None:
        fig.suptitle(title)
    return _save(fig, path)
