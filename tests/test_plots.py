"""Plots: each writes a real PNG where it is told to, and refuses mismatched shapes."""

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


def softmax_rows(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_show_attention_with_token_labels(tmp_path, rng):
    tokens = "I love deep learning more than machine learning".split()
    path = plots.show_attention(softmax_rows(rng.standard_normal((8, 8))), tmp_path / "sub" / "heat.png",
                                x_labels=tokens, y_labels=tokens, title="self-attention")
    assert path == tmp_path / "sub" / "heat.png"
    assert_png(path)


def test_show_attention_ticks_sit_on_their_cells(tmp_path, monkeypatch):
    """Seed 002 set the labels before the tick positions, shifting them by one; here tick i is at cell i."""
    seen = {}
    original = Figure.savefig

    def spy(fig, *args, **kwargs):
        ax = fig.axes[0]
        seen["x"] = [(t.get_position()[0], t.get_text()) for t in ax.get_xticklabels()]
        seen["y"] = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()]
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    plots.show_attention(np.eye(3, 4) * 0.5 + 0.1, tmp_path / "a.png", x_labels=list("abcd"), y_labels=list("xyz"))
    assert seen["x"] == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]
    assert seen["y"] == [(0, "x"), (1, "y"), (2, "z")]


@pytest.mark.parametrize("heads", [1, 3, 4])
def test_plot_heads_grid(tmp_path, rng, heads):
    path = plots.plot_heads(softmax_rows(rng.standard_normal((heads, 5, 6))), tmp_path / f"heads{heads}.png",
                            x_labels=list("abcdef"), title=f"{heads} heads")
    assert_png(path)


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
    (lambda p: plots.plot_signal_attention(np.ones(5), np.ones(4), p), "expected 5 weights"),
    (lambda p: plots.plot_signal_attention(np.ones((5, 2, 1)), np.ones(5), p), "1-D or 2-D"),
    (lambda p: plots.plot_signal_attention(np.ones(5), np.ones(5), p, span=(3, 9)), "span"),
    (lambda p: plots.plot_signal_attention(np.ones(5), np.ones(5)), "give a path"),
    (lambda p: plots.plot_normal_vs_anomalous(np.ones(5), np.ones(5), np.ones(6), np.ones(5), p), "expected 6"),
    (lambda p: plots.plot_loss({}, p), "non-empty dict"),
    (lambda p: plots.plot_loss({"train": []}, p), "at least one loss"),
    (lambda p: plots.plot_loss({"train": [1.0, float("nan")]}, p), "NaN"),
])
def test_plots_reject_bad_input(tmp_path, call, error):
    with pytest.raises(ValueError, match=error):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
