"""Plots: each writes a real PNG where it is told to, draws what it promises (checked on the matplotlib objects,
not on pixels), and refuses mismatched shapes."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from numpy_attn.tasks import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=3000):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, in order: what they draw can be read off their axes."""
    figures = []
    original = Figure.savefig

    def spy(fig, *args, **kwargs):
        figures.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def legend_texts(legend):
    return [t.get_text() for t in legend.get_texts()]


def straight_lines(ax):
    """(x of each vertical line, y of each horizontal line) drawn on ``ax`` (axvline, axhline)."""
    vertical = [line.get_xdata()[0] for line in ax.lines if np.ptp(line.get_xdata()) == 0]
    horizontal = [line.get_ydata()[0] for line in ax.lines if np.ptp(line.get_ydata()) == 0]
    return vertical, horizontal


def softmax_rows(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_show_attention_with_token_labels(tmp_path, rng):
    tokens = "I love deep learning more than machine learning".split()
    path = plots.show_attention(softmax_rows(rng.standard_normal((8, 8))), tmp_path / "sub" / "heat.png",
                                x_labels=tokens, y_labels=tokens, title="self-attention")
    assert path == tmp_path / "sub" / "heat.png"
    assert_png(path)


def test_show_attention_ticks_sit_on_their_cells(tmp_path, drawn):
    """Seed 002 set the labels before the tick positions, shifting them by one; here tick i is at cell i."""
    plots.show_attention(np.eye(3, 4) * 0.5 + 0.1, tmp_path / "a.png", x_labels=list("abcd"), y_labels=list("xyz"))
    ax = drawn[0].axes[0]
    assert [(t.get_position()[0], t.get_text()) for t in ax.get_xticklabels()] == [(0, "a"), (1, "b"), (2, "c"),
                                                                                 (3, "d")]
    assert [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()] == [(0, "x"), (1, "y"), (2, "z")]


@pytest.mark.parametrize("heads", [1, 3, 4])
def test_plot_heads_grid(tmp_path, rng, heads):
    path = plots.plot_heads(softmax_rows(rng.standard_normal((heads, 5, 6))), tmp_path / f"heads{heads}.png",
                            x_labels=list("abcdef"), title=f"{heads} heads")
    assert_png(path)


def test_plot_heads_scales_each_head_to_its_weights_and_outlines_the_span(tmp_path, rng, drawn):
    """Weights near 1/T (here 1/50) on a scale from 0 drew four flat maps: each head gets its own range."""
    weights = softmax_rows(rng.standard_normal((4, 50, 50)) * np.array([0.01, 0.1, 1.0, 3.0])[:, None, None])
    plots.plot_heads(weights, tmp_path / "heads.png", span=(20, 30))
    fig = drawn[0]
    heads = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(heads) == 4 and len(fig.axes) == 8  # a colour bar beside each head
    for w, ax in zip(weights, heads):
        assert ax.images[0].get_clim() == (w.min(), w.max())
        assert straight_lines(ax) == ([19.5, 29.5], [19.5, 29.5])  # the edges of steps 20..29, keys and queries
    assert legend_texts(fig.legends[0]) == ["true anomaly, steps 20-29"]


def test_attention_plots_give_each_channel_its_colour_and_a_legend(tmp_path, rng, drawn):
    t = np.linspace(0, 4 * np.pi, 100)
    signal = np.stack([np.sin(t), np.cos(t), t / 10], axis=1)
    plots.plot_normal_vs_anomalous(signal, np.full(100, 0.01), signal, np.full(100, 0.01), tmp_path / "pair.png",
                                   span=(40, 60))
    left, right = [ax for ax in drawn[0].axes if ax.get_title() in ("normal", "anomalous")]
    for ax in (left, right):
        colours = [line.get_color() for line in ax.get_lines()]
        assert len(set(colours)) == 3 and "tab:red" not in colours  # red is the attention's
    assert legend_texts(left.get_legend()) == ["channel 0", "channel 1", "channel 2"]
    assert legend_texts(right.get_legend()) == ["channel 0", "channel 1", "channel 2", "true anomaly"]


def test_plot_loss_marks_the_best_epoch_and_chance(tmp_path, drawn):
    plots.plot_loss({"train": [0.7, 0.5, 0.3], "val": [0.72, 0.55, 0.61]}, tmp_path / "loss.png", best_epoch=2,
                    chance_loss=0.69)
    ax = drawn[0].axes[0]
    assert straight_lines(ax) == ([2], [0.69])
    assert legend_texts(ax.get_legend()) == ["train", "val", "best epoch, 2 (its weights kept)", "chance (0.690)"]


def test_plot_signal_attention_one_and_many_channels(tmp_path, rng):
    t = np.linspace(0, 4 * np.pi, 200)
    alpha = softmax_rows(rng.standard_normal(200))
    assert_png(plots.plot_signal_attention(np.sin(t), alpha, tmp_path / "one.png", span=(50, 90), title="anomaly"))
    assert_png(plots.plot_signal_attention(np.stack([np.sin(t), np.cos(t)], axis=1), alpha, tmp_path / "two.png"))


def test_plot_signal_attention_into_a_given_axes(tmp_path, rng):
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_signal_attention(np.zeros(10), np.full(10, 0.1), ax=ax) is None
    assert len(fig.axes) == 2  # the signal's axes and its twin for the weights
    assert_png(plots.plot_signal_attention(np.zeros(10), np.full(10, 0.1), tmp_path / "ax.png", ax=ax))


def test_plot_normal_vs_anomalous(tmp_path, rng):
    t = np.linspace(0, 2 * np.pi, 100)
    anomalous = np.sin(3 * t)
    anomalous[40:70] = anomalous[40]
    path = plots.plot_normal_vs_anomalous(np.sin(3 * t), np.full(100, 0.01), anomalous,
                                          softmax_rows(rng.standard_normal(100)), tmp_path / "pair.png",
                                          span=(40, 70), title="normal vs anomalous")
    assert_png(path)


def test_plot_loss(tmp_path):
    path = plots.plot_loss({"train": [0.7, 0.5, 0.3], "val": [0.72, 0.55, 0.41]}, tmp_path / "loss.png")
    assert_png(path)


@pytest.mark.parametrize("call, error", [
    (lambda p: plots.show_attention(np.ones(4), p), "2-D"),
    (lambda p: plots.show_attention(np.ones((2, 3)), p, x_labels=["a", "b"]), "x_labels: expected 3"),
    (lambda p: plots.show_attention(np.ones((2, 3)), p, y_labels=["a"]), "y_labels: expected 2"),
    (lambda p: plots.plot_heads(np.ones((2, 3)), p), "3-D"),
    (lambda p: plots.plot_heads(np.ones((2, 3, 3)), p, span=(1, 4)), "plot_heads span"),
    (lambda p: plots.plot_signal_attention(np.ones(5), np.ones(4), p), "expected 5 weights"),
    (lambda p: plots.plot_signal_attention(np.ones((5, 2, 1)), np.ones(5), p), "1-D or 2-D"),
    (lambda p: plots.plot_signal_attention(np.ones(5), np.ones(5), p, span=(3, 9)), "span"),
    (lambda p: plots.plot_signal_attention(np.ones(5), np.ones(5)), "give a path"),
    (lambda p: plots.plot_normal_vs_anomalous(np.ones(5), np.ones(5), np.ones(6), np.ones(5), p), "expected 6"),
    (lambda p: plots.plot_loss({}, p), "non-empty dict"),
    (lambda p: plots.plot_loss({"train": []}, p), "at least one loss"),
    (lambda p: plots.plot_loss({"train": [1.0, float("nan")]}, p), "NaN"),
    (lambda p: plots.plot_loss({"train": [1.0, 0.5]}, p, best_epoch=3), "best_epoch: expected an epoch in 1..2"),
])
def test_plots_reject_bad_input(tmp_path, call, error):
    with pytest.raises(ValueError, match=error):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
