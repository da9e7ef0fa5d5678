"""Figures for attention: weight heatmaps (one head or many), attention drawn over a signal, loss curves.

Every function saves the figure to ``path`` (parent folders are created) and returns that path as a
``pathlib.Path``. Figures are built as ``matplotlib.figure.Figure`` objects, never through pyplot's
global state, so they draw off-screen with no display (on a server or in CI), nothing is left open after
a call, and importing this module leaves pyplot's backend alone (a notebook keeps its inline figures).
"""

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._validate import as_float_array

# One colour per channel of a signal. Red, purple and grey are left out: they draw the attention and the
# anomalies, the anomaly score and the shaded stretches. More than seven channels reuse them in turn.
CHANNEL_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


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


def plot_heads(weights, path, x_labels=None, y_labels=None, title=None, cmap="viridis", span=None):
    """A grid of heatmaps, one per head. weights: (H, Lq, Lk) over one series (Lq = Lk = T steps); span:
    (start, end) of a stretch of it, the true anomaly, outlined on both axes, or None.

    Each head has its own colour scale, from its smallest weight to its largest, with its own colour bar: a
    softmax over T keys gives weights near 1 / T (0.002 for 500 steps), and a scale from 0 would paint every
    head one flat colour.
    """
    weights = as_float_array(weights, "plot_heads weights", ndim=3)
    n_heads, n_q, n_k = weights.shape
    if span is not None and not 0 <= span[0] < span[1] <= min(n_q, n_k):
        raise ValueError(f"plot_heads span: expected (start, end) with 0 <= start < end <= {min(n_q, n_k)}, "
                         f"got {span}")
    n_cols = math.ceil(math.sqrt(n_heads))
    n_rows = math.ceil(n_heads / n_cols)
    fig = Figure(figsize=(4.5 * n_cols, 3.5 * n_rows + 0.5), layout="constrained")  # titles clear of tick labels
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[n_heads:]:
        ax.set_visible(False)
    for head, (ax, w) in enumerate(zip(axes, weights)):
        fig.colorbar(_heatmap(ax, w, x_labels, y_labels, cmap, float(w.min()), float(w.max())), ax=ax)
        ax.set_title(f"head {head}")
        if span is not None:
            _outline_span(ax, span)
    if span is not None:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center")
    if title is not None:
        fig.suptitle(title)
    return _save(fig, path)


def _outline_span(ax, span):
    """Dashed red lines at the edges of the steps [start, end) on both axes of a (queries, keys) heatmap:
    the span's keys lie between the vertical lines, its queries between the horizontal ones."""
    start, end = span
    for i, edge in enumerate((start - 0.5, end - 0.5)):  # cell t covers t - 0.5 .. t + 0.5
        ax.axvline(edge, color="tab:red", linestyle="--", linewidth=1.0,
                   label=None if i else f"true anomaly, steps {start}-{end - 1}")
        ax.axhline(edge, color="tab:red", linestyle="--", linewidth=1.0)


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
    """The signal on ``ax`` (each channel its own colour, named in the legend when there are several), the
    attention as a red curve on a twin y-axis, the true anomaly span shaded grey."""
    steps = np.arange(signal.shape[0])
    channels = signal.reshape(len(signal), -1)
    for c in range(channels.shape[1]):
        ax.plot(steps, channels[:, c], color=CHANNEL_COLOURS[c % len(CHANNEL_COLOURS)], linewidth=1.0,
                label=f"channel {c}" if channels.shape[1] > 1 else None)
    ax.set_xlabel("time step")
    ax.set_ylabel("signal", color="tab:blue" if channels.shape[1] == 1 else "black")
    if span is not None:
        ax.axvspan(span[0], span[1], color="grey", alpha=0.25, label="true anomaly")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize="small")
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


def plot_loss(history, path, title=None, best_epoch=None, chance_loss=None):
    """Training curves: history maps a name ('train', 'val', ...) to one loss per epoch (from epoch 1).

    best_epoch: the epoch whose weights were kept, marked by a dotted vertical line, or None; chance_loss:
    the loss of always predicting the label frequencies (``training.History.chance_loss``), a dashed
    horizontal line that a model which learned something ends below, or None.
    """
    if not isinstance(history, dict) or not history:
        raise ValueError(f"plot_loss history: expected a non-empty dict of name -> list of losses, got {history!r}")
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for name, losses in history.items():
        losses = as_float_array(np.asarray(losses, dtype=float), f"plot_loss history[{name!r}]", ndim=1)
        if losses.size == 0:
            raise ValueError(f"plot_loss history[{name!r}]: expected at least one loss, got an empty list")
        ax.plot(np.arange(1, losses.size + 1), losses, marker="o", markersize=3, label=str(name))
    epochs = max(len(losses) for losses in history.values())
    if best_epoch is not None:
        if not 1 <= best_epoch <= epochs:
            raise ValueError(f"plot_loss best_epoch: expected an epoch in 1..{epochs}, got {best_epoch!r}")
        ax.axvline(best_epoch, color="black", linestyle=":", label=f"best epoch, {best_epoch} (its weights kept)")
    if chance_loss is not None:
        ax.axhline(chance_loss, color="grey", linestyle="--", label=f"chance ({chance_loss:.3f})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
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
    colours = [CHANNEL_COLOURS[c % len(CHANNEL_COLOURS)] for c in range(series.shape[1])]
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


def plot_confusion(matrix, class_names, path, title=None):
    """A confusion matrix as a heatmap with its counts written in the cells: row i is the true class, column j
    the predicted one (``classification_metrics.multiclass_confusion_matrix``). matrix: (K, K) counts;
    class_names: the K names, on both axes."""
    matrix = np.asarray(matrix)
    K = len(class_names)
    if matrix.shape != (K, K) or matrix.dtype.kind not in "iu":
        raise ValueError(f"plot_confusion matrix: expected ({K}, {K}) integer counts for {K} class names, "
                         f"got {matrix.dtype} {matrix.shape}")
    fig = Figure(figsize=(2.5 + 0.6 * K, 2 + 0.6 * K), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(int(matrix.max()), 1))
    names = [str(name) for name in class_names]
    ax.set_xticks(np.arange(K), labels=names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_yticks(np.arange(K), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    dark = matrix > matrix.max() / 2  # white text on the dark cells
    for i, j in np.ndindex(K, K):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color="white" if dark[i, j] else "black")
    fig.colorbar(image, ax=ax, label="series")
    if title is not None:
        fig.suptitle(title)
    return _save(fig, path)


def channel_colours(C):
    """C distinct colours, one per channel: ``CHANNEL_COLOURS`` up to 7 channels; beyond, where those would
    repeat, C colours spread over the viridis map (blue to yellow, clear of the attention's red)."""
    from matplotlib import colormaps  # noqa: PLC0415 (appended here; belongs with the imports at the top)

    if C <= len(CHANNEL_COLOURS):
        return list(CHANNEL_COLOURS[:C])
    return [tuple(rgba) for rgba in colormaps["viridis"](np.linspace(0.0, 0.9, C))]


def plot_class_attention(series, alphas, titles, path, title=None):
    """One panel per series: each channel drawn in its own colour (one legend for all panels) and the
    attention weights over the series as a dashed red curve on a twin axis, as in ``plot_signal_attention``.

    series: a list of (T_n, C) arrays, C shared, T_n each its own; alphas: a list of (T_n,) attention rows;
    titles: one per panel (e.g. the true and predicted class).
    """
    if not series or not len(series) == len(alphas) == len(titles):
        raise ValueError(f"plot_class_attention: expected as many series, alphas and titles (at least one), got "
                         f"{len(series)}, {len(alphas)} and {len(titles)}")
    series = [as_float_array(np.asarray(x, dtype=np.float64), "plot_class_attention series", ndim=2) for x in series]
    C = series[0].shape[1]
    for x, a in zip(series, alphas):
        if x.shape[1] != C or np.shape(a) != (len(x),):
            raise ValueError(f"plot_class_attention: expected series (T, {C}) with alphas (T,), got {x.shape} "
                             f"and {np.shape(a)}")
    n_cols = min(len(series), 3)
    n_rows = math.ceil(len(series) / n_cols)
    fig = Figure(figsize=(5.5 * n_cols, 3.2 * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    colours = channel_colours(C)
    for ax, x, alpha, panel_title in zip(axes, series, alphas, titles):
        steps = np.arange(len(x))
        for c, colour in enumerate(colours):
            ax.plot(steps, x[:, c], color=colour, linewidth=1.0, label=f"channel {c}")
        ax.set_xlabel("time step")
        ax.set_ylabel("value")
        ax.set_title(panel_title, fontsize="medium")
        twin = ax.twinx()
        twin.plot(steps, alpha, "r--", linewidth=1.0, label="attention")
        twin.fill_between(steps, alpha, color="tab:red", alpha=0.15)
        twin.set_ylim(0.0, 1.1 * float(np.max(alpha)) or 1.0)  # the weights sum to 1: scale to their peak
        twin.set_ylabel("attention weight", color="tab:red")
    for ax in axes[len(series):]:
        ax.set_visible(False)
    handles = axes[0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncols=min(C + 1, 7),
               fontsize="small")
    if title is not None:
        fig.suptitle(title)
    return _save(fig, path)
