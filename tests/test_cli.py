"""The command line end to end, on small data: what train writes, predict on a user's files (bad input and
Ctrl-C: test_commands.py)."""

import json
import re

import numpy as np
import pytest

from numpy_attn import models, nn
from numpy_attn.tasks.anomaly import read_checkpoint
from numpy_attn.tasks.cli import main
from numpy_attn.tasks.text import TextAttentionClassifier, VOCAB, make_token_task, train_text
from numpy_attn.gradcheck import check_module
from helpers import FD_TOL

SMALL = ["--samples", "120", "--length", "40", "--epochs", "2", "--batch-size", "16"]
METRIC_KEYS = {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix", "attention_accuracy",
               "attention_peak_accuracy", "epochs_run", "train_seconds", "beat_chance", "chance_loss"}


@pytest.mark.parametrize("model, backend", [("bilstm-attention", "numpy"), ("bilstm-mha", "numpy"),
                                            ("transformer", "numpy"), ("bilstm-attention", "torch")])
def test_train_writes_every_output(tmp_path, model, backend):
    out = tmp_path / "run"
    assert main(["train", "--model", model, "--backend", backend, "--out", str(out), *SMALL]) == 0
    config = read_checkpoint(out / "model.npz")[1]["config"]
    assert (config["schedule"], config["max_series_grad_norm"]) == ("constant", 0.0)  # one channel's defaults
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert 0.0 <= metrics["roc_auc"] <= 1.0 and np.array(metrics["confusion_matrix"]).sum() == metrics["test_series"]
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_loss"]) == metrics["epochs_run"]
    expected = {"metrics.json", "history.json", "loss.png", "attention.png", "model.npz"}
    expected |= {"heads.png"} if model != "bilstm-attention" else set()
    assert expected <= {p.name for p in out.iterdir()}
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_train_on_several_channels_reads_them_one_by_one(tmp_path, backend):
    """--channels 3: bilstm-attention reads each channel alone (its checkpoint says so, its LSTM takes a
    channel's two features), trained with the defaults of several channels (each series capped, the cosine),
    metrics.json says where the attention landed by channel, predict rebuilds it."""
    out = tmp_path / "run"
    assert main(["train", "--channels", "3", "--backend", backend, "--out", str(out), *SMALL]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"attention_channel_accuracy", "attention_channel_peak_accuracy"} <= set(metrics)
    assert 0.0 <= metrics["attention_channel_peak_accuracy"] <= metrics["attention_peak_accuracy"] <= 1.0
    model, meta = read_checkpoint(out / "model.npz")
    assert meta["model_kwargs"]["channels"] == 3 and model.lstm.input_size == 2
    assert (meta["config"]["schedule"], meta["config"]["max_series_grad_norm"]) == ("cosine", 0.3)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 40, 3)))
    assert main(["predict", "--checkpoint", str(out / "model.npz"), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "pred")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "pred" / "attention.npy").sum(1), 1.0, rtol=1e-5)


def test_predict_scores_npy_and_csv(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--anomaly", "flat,zero", *SMALL]) == 0
    series = np.sin(np.linspace(0, 12, 40))[None].repeat(3, 0) * np.array([[1.0], [5.0], [2.0]])
    series[1, 10:25] = series[1, 10]
    np.save(tmp_path / "x.npy", series)
    np.savetxt(tmp_path / "x.csv", series, delimiter=",")
    for name in ("x.npy", "x.csv"):
        pred = tmp_path / f"pred_{name}"
        assert main(["predict", "--checkpoint", str(out / "model.npz"), "--input", str(tmp_path / name),
                     "--out", str(pred)]) == 0
        rows = (pred / "predictions.csv").read_text().splitlines()
        assert rows[0] == "index,probability,anomalous" and len(rows) == 4
        alpha = np.load(pred / "attention.npy")
        assert alpha.shape == (3, 40)
        np.testing.assert_allclose(alpha.sum(1), 1.0, rtol=1e-5)


def test_text_example_learns_where_the_sentiment_word_is(tmp_path):
    accuracy = train_text(tmp_path, n=1500, epochs=3, seed=1, log=lambda line: None)
    assert accuracy > 0.9  # one decisive word per sentence: a working model finds it
    assert (tmp_path / "text_attention.png").exists() and (tmp_path / "text_heads.png").exists()


def test_text_model_finite_differences():
    model = TextAttentionClassifier(len(VOCAB), d_model=4, nhead=2, dtype=np.float64, rng=0)
    tokens, _ = make_token_task(3, length=5, rng=0)
    errors = check_module(model, tokens, n_outputs=1)  # alpha is for reading: no gradient flows back through it
    assert max(errors.values()) < FD_TOL, errors


def test_check_command_checks_every_module_and_model_and_passes(capsys):
    assert main(["check"]) == 0
    table = capsys.readouterr().out
    rows = table.splitlines()[2:]
    names = " ".join(row.split("|")[1] for row in rows)
    # every module class of numpy_attn.nn with a backward (Dropout's mask is drawn anew at each call) and
    # every model of the anomaly task
    classes = {name for name, c in vars(nn).items() if isinstance(c, type) and issubclass(c, nn.Module)}
    wanted = classes - {"Module", "Dropout"} | {c.__name__ for c in models.MODELS.values()}
    missing = [c for c in sorted(wanted) if not re.search(rf"\b{c}\b", names)]  # whole names: LSTM is not LSTMCell
    assert not missing, missing
    errors = [float(row.rsplit("|", 2)[1]) for row in rows]
    assert max(errors) < FD_TOL
