"""The rules every command follows (``numpy_attn.tasks.commands``): bad input refused in one line before
anything is written, outputs moved into --out whole or not at all, Ctrl-C kept to one line, defaults in --help."""

import argparse
import glob
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from numpy_attn.tasks import anomaly, cli, commands, kernel_regression, text
from numpy_attn.tasks.anomaly import TrainConfig, build_model, train
from numpy_attn.tasks.checkpoint import load_checkpoint, save_checkpoint

TINY = ["--samples", "60", "--length", "20", "--batch-size", "16", "--hidden", "4"]


def checkpoint(path, drop=()):
    """A checkpoint as ``numpy-attn train`` writes it (untrained weights), without the meta keys ``drop``."""
    model, kwargs = build_model("bilstm-attention", 2, hidden=4)
    meta = {"model": "bilstm-attention", "input_dim": 2, "model_kwargs": kwargs, "features": "diff", "channels": 1,
            "scaler": {"mean": [0.0, 0.0], "scale": [1.0, 1.0]}, "config": {"length": 20}}
    save_checkpoint(path, model, {k: v for k, v in meta.items() if k not in drop})
    return path


def snapshot(folder):
    """Every path under ``folder`` with its size and modification time: what 'nothing written' compares."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder with the files the bad inputs point at, and a previous run's folder ``prev``."""
    monkeypatch.chdir(tmp_path)
    checkpoint(tmp_path / "model.npz")
    checkpoint(tmp_path / "nochannels.npz", drop=("channels",))
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(200))
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "array.npy", np.zeros((2, 20)))
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "nothing.npy", np.zeros(0))
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan, 1.0]]))
    np.save(tmp_path / "three.npy", np.zeros((2, 20, 3)))
    (tmp_path / "x.json").write_text("{}")
    (tmp_path / "file").write_text("a file, not a folder")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not written by numpy-attn")
    (tmp_path / "prev").mkdir()
    (tmp_path / "prev" / "metrics.json").write_text("{}")
    return tmp_path


NPZ = ["--input", "array.npy", "--out", "p"]
DETECT = ["--train", "normal.npy", "--test", "test.npy"]
BAD_INPUTS = [  # (command's main, argv, what the one line must name)
    (cli.main, ["train", "--samples", "3"], "samples: 3 series"),  # no test split
    (cli.main, ["train", "--samples", "7", "--length", "30"], "give more --samples"),  # a test split of one class
    (cli.main, ["train", "--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (cli.main, ["train", "--lr", "nan"], "argument --lr: expected a finite number > 0, got 'nan'"),
    (cli.main, ["train", "--lr", "-1"], "argument --lr"),
    (cli.main, ["train", "--max-grad-norm", "-1"], "argument --max-grad-norm: expected a finite number >= 0"),
    (cli.main, ["train", "--epochs", "0"], "argument --epochs: expected an integer >= 1"),
    (cli.main, ["train", "--backend", "torch", "--epochs", "0"], "argument --epochs"),
    (cli.main, ["train", "--batch-size", "x"], "argument --batch-size"),
    (cli.main, ["train", "--length", "1"], "argument --length"),
    (cli.main, ["train", "--model", "gru"], "argument --model: invalid choice: 'gru'"),
    (cli.main, ["train", "--anomaly", "flat,wobble"], "argument --anomaly: expected kinds"),
    (cli.main, ["train", "--device", "cuda"], "needs --backend torch"),
    (cli.main, ["train", "--data", "NOPE"], "NOPE"),  # archive data: a name that is not bundled
    (cli.main, ["train", "--train", "nowhere_TRAIN.ts", "--test", "nowhere_TEST.ts"], "nowhere_TRAIN.ts"),
    (cli.main, ["train", "--train", "nowhere_TRAIN.ts"], "give a bundled dataset's name, or train and test"),
    (cli.main, ["train", "--data", "GunPoint", "--val-fraction", "2"], "argument --val-fraction"),
    (cli.main, ["train", "--znorm"], "argument --znorm: for archive data only"),
    (cli.main, ["train", "--noise", "0.2"], "argument --noise: for archive data only"),
    (cli.main, ["train", "--data", "GunPoint", "--noise", "-1"], "argument --noise"),
    (cli.main, ["train", "--noise-p", "0.5"], "argument --noise-p: for archive data only"),
    (cli.main, ["train", "--data", "GunPoint", "--noise-p", "0"], "noise_p: expected a probability in (0, 1]"),
    (cli.main, ["train", "--data", "GunPoint", "--noise-until", "2"], "argument --noise-until"),
    (cli.main, ["train", "--label-smoothing", "0.1"], "argument --label-smoothing: for archive data only"),
    (cli.main, ["train", "--members", "3"], "argument --members: for archive data only"),
    (cli.main, ["train", "--data", "GunPoint", "--channels", "3"], "argument --channels: for the synthetic task only"),
    (cli.main, ["train", "--data", "GunPoint", "--anomaly", "spike"], "argument --anomaly: for the synthetic task"),
    (cli.main, ["train", "--train", "a.ts", "--test", "b.ts", "--max-grad-norm", "1"],
     "argument --max-grad-norm: for the synthetic task only"),
    (cli.main, ["train", "--data", "GunPoint", "--max-series-grad-norm", "0.3"], "argument --max-series-grad-norm"),
    (cli.main, ["train", "--data", "GunPoint", "--device", "cuda"], "argument --device: for the synthetic task only"),
    (cli.main, ["train", "--data", "GunPoint", "--members", "0"], "argument --members: expected an integer >= 1"),
    (cli.main, ["train", "--data", "GunPoint", "--label-smoothing", "2"],
     "argument --label-smoothing: expected a number in [0, 1], got '2'"),
    (cli.main, ["train", "--out", "file"], "out: file is a file"),
    (cli.main, ["train", "--out", "mine"], "out: mine holds notes.txt"),
    (cli.main, ["train", "--nope"], "numpy-attn train: error: unrecognized arguments: --nope"),
    (cli.main, ["train", "--model", "transformer", "--lr", "1e30", "--epochs", "2", "--out", "prev", *TINY],
     "NaN or inf"),
    (cli.main, ["predict", "--checkpoint", "missing.npz", *NPZ], "missing.npz"),
    (cli.main, ["predict", "--checkpoint", "random.npz", *NPZ], "random.npz: not a numpy-attn checkpoint"),
    (cli.main, ["predict", "--checkpoint", "empty.npz", *NPZ], "empty.npz: not a numpy-attn checkpoint"),
    (cli.main, ["predict", "--checkpoint", "array.npy", *NPZ], "array.npy: not a numpy-attn checkpoint"),
    (cli.main, ["predict", "--checkpoint", "plain.npz", *NPZ], "plain.npz"),
    (cli.main, ["predict", "--checkpoint", "nochannels.npz", *NPZ], "nochannels.npz: not a numpy-attn anomaly "
                                                                    "model: its meta lacks channels"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "empty.npy"], "input empty.npy: not a readable"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "nothing.npy"], "input nothing.npy: expected"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "nan.npy"], "NaN"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "three.npy"], "the model expects 1 channel(s)"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "x.json"], "expected a .npy or .csv file"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "none.csv"], "input none.csv: no such file"),
    (cli.main, ["predict", "--checkpoint", "model.npz", "--input", "array.npy", "--out", "file"], "out: file"),
    (cli.main, ["predict", "--input", "array.npy"], "the following arguments are required: --checkpoint"),
    (cli.main, ["text", "--epochs", "0"], "argument --epochs: expected an integer >= 1"),
    (cli.main, ["text", "--out", "mine"], "out: mine holds notes.txt"),
    (cli.main, ["check", "--seed", "-1"], "numpy-attn check: error: argument --seed"),
    (cli.main, ["detect", "--out", "d"], "give --data NAME, or --train NORMAL and --test SERIES"),
    (cli.main, ["detect", *DETECT, "--window", "1"], "argument --window: expected an integer >= 2"),
    (cli.main, ["detect", *DETECT, "--share", "1.5"], "argument --share: expected a fraction"),
    (cli.main, ["detect", *DETECT, "--kinds", "flat,wobble"], "argument --kinds: expected injection kinds"),
    (cli.main, ["detect", *DETECT, "--lr", "inf"], "argument --lr"),
    (cli.main, ["detect", *DETECT, "--out", "d"], "normal.npy"),
    (cli.main, ["detect", "--data", "NOPE", "--out", "d"], "unknown dataset 'NOPE'"),
    (cli.main, [], "numpy-attn: error: the following arguments are required: command"),
    (kernel_regression.main, ["--out", "k", "--n", "0"], "argument --n: expected an integer >= 2, got '0'"),
    (kernel_regression.main, ["--out", "k", "--n", "1"], "argument --n"),
    (kernel_regression.main, ["--out", "k", "--lr", "nan"], "argument --lr: expected a finite number > 0"),
    (kernel_regression.main, ["--out", "k", "--epochs", "0"], "argument --epochs"),
    (kernel_regression.main, ["--out", "k", "--lr", "1e308"], "w is nan after the SGD step (lr 1e+308)"),
    (kernel_regression.main, ["--out", "file"], "out: file is a file"),
    (kernel_regression.main, [], "the following arguments are required: --out"),
]


@pytest.mark.parametrize("main, argv, names", BAD_INPUTS, ids=[" ".join(row[1])[:60] for row in BAD_INPUTS])
def test_bad_input_gets_one_line_and_writes_nothing(workdir, capsys, main, argv, names):
    before = snapshot(workdir)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and names in lines[0] and "error:" in lines[0], err
    assert "Traceback" not in err and "allow_pickle" not in err
    assert snapshot(workdir) == before  # --out absent or untouched, no temporary folder left


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_keeps_the_best_checkpoint_and_says_so_in_one_line(tmp_path, signum, status):
    """A real SIGINT (Ctrl-C), or a SIGTERM (``kill``), once the first checkpoint exists (in the run's temporary
    folder beside --out): the same line, the checkpoint kept, no temporary folder left; 128 + the signal."""
    out = tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-m", "numpy_attn", "train", *TINY, "--samples", "200", "--epochs", "200",
                            "--patience", "200", "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not glob.glob(str(tmp_path / ".run.tmp-*" / "model.npz")) and run.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 60 s"
        time.sleep(0.05)
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=60)  # reads and closes the pipe
    assert run.returncode == status
    lines = stderr.splitlines()
    line = re.fullmatch(rf"numpy-attn train: interrupted at epoch (\d+); best checkpoint, epoch (\d+), kept at "
                        rf"{re.escape(str(out / 'model.npz'))}", lines[0])
    assert len(lines) == 1 and line, lines
    epoch, best = int(line[1]), int(line[2])
    assert 1 <= best <= epoch
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and [p.name for p in out.iterdir()] == ["model.npz"]
    assert load_checkpoint(out / "model.npz")[1]["best_epoch"] == best


def stop_at_epoch(epoch):
    """A log that presses Ctrl-C when training reports ``epoch``."""
    def log(line):
        if line.startswith(f"epoch {epoch}/"):
            raise KeyboardInterrupt
    return log


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_ctrl_c_replaces_a_previous_run_with_the_checkpoint_alone(tmp_path, backend):
    out = tmp_path / "run"
    config = TrainConfig(backend=backend, samples=60, length=20, epochs=5, batch_size=16, hidden=4, out=str(out))
    train(config, log=lambda line: None)
    assert "metrics.json" in {p.name for p in out.iterdir()}
    with pytest.raises(commands.Interrupted, match=f"interrupted at epoch 3; best checkpoint, epoch [123], "
                                                   f"kept at {out}/model.npz"):
        train(config, log=stop_at_epoch(3))
    assert [p.name for p in out.iterdir()] == ["model.npz"]  # the previous run's files left with it
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert load_checkpoint(out / "model.npz")[1]["best_epoch"] in (1, 2, 3)


def press_ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_before_a_checkpoint_or_in_another_command_writes_nothing(workdir, capsys, monkeypatch):
    before = snapshot(workdir)
    monkeypatch.setattr(anomaly, "fit", press_ctrl_c)
    assert cli.main(["train", *TINY, "--out", "prev"]) == 130
    monkeypatch.setattr(text, "_train", press_ctrl_c)
    assert cli.main(["text", "--out", "t"]) == 130
    assert capsys.readouterr().err.splitlines() == [
        "numpy-attn train: interrupted; nothing written", "numpy-attn text: interrupted; nothing written"]
    assert snapshot(workdir) == before


def test_a_run_replaces_the_previous_runs_files_as_a_whole(workdir, capsys):
    out = workdir / "pred"
    out.mkdir()
    (out / "predictions.csv").write_text("old")
    (out / "attention.npy.tmp").write_text("a stale temporary file")
    np.save(workdir / "two.npy", np.zeros((2, 20)))
    assert cli.main(["predict", "--checkpoint", "model.npz", "--input", "two.npy", "--out", "pred"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["attention.npy", "predictions.csv"]
    assert len((out / "predictions.csv").read_text().splitlines()) == 3
    assert kernel_regression.main(["--out", ".", "--epochs", "1"]) == 2  # "." holds other files: refused
    assert "out: . holds" in capsys.readouterr().err


def test_a_run_that_never_beats_chance_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "--epochs", "1", "--lr", "10", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("warning: the best validation loss")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["beat_chance"] is False and metrics["chance_loss"] > 0.6


def test_output_folder_leaves_out_untouched_and_removes_the_folders_it_made_when_the_run_fails(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(ZeroDivisionError):
        with commands.output_folder(out, ("x.txt",)) as folder:
            (folder / "x.txt").write_text("half")
            1 / 0
    assert list(tmp_path.iterdir()) == []
    with commands.output_folder(out, ("x.txt",)) as folder:
        (folder / "x.txt").write_text("whole")
    assert [p.name for p in out.iterdir()] == ["x.txt"] and [p.name for p in out.parent.iterdir()] == ["run"]


def test_fixed_crashes_of_the_library_functions(tmp_path):
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1"):
        text.train_text(tmp_path / "t", epochs=0)  # was UnboundLocalError
    with pytest.raises(ValueError, match="n: expected an integer >= 2"):
        kernel_regression.fit_and_plot(tmp_path / "k", n=1)
    assert list(tmp_path.iterdir()) == []


def subparsers():
    parser = cli.parser()
    return next(a for a in parser._actions if a.choices and "train" in a.choices).choices


@pytest.mark.parametrize("name", ["train", "predict", "text", "detect", "check"])
def test_help_shows_every_default(name):
    sub = subparsers()[name]
    text = " ".join(sub.format_help().split())
    for action in sub._actions:
        if action.default not in (None, argparse.SUPPRESS):
            assert f"(default: {action.default})" in text, (name, action.dest)
    assert "moved in when the run has finished" in text or name == "check"


def test_kernel_regression_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        kernel_regression.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 50)", "(default: 0)", "(default: 5)", "(default: 0.5)"):
        assert default in help_text


def test_the_torch_backend_saves_the_kept_weights_as_they_improve(tmp_path):
    from torch_ref.anomaly import train_like

    config = TrainConfig(backend="torch", samples=60, length=20, epochs=4, batch_size=16, hidden=4)
    data, (train_idx, val_idx, _), X, _ = anomaly.prepare_data(config)
    model, _ = build_model(config.model, X.shape[-1], config.hidden, config.seed)
    saved = []
    history = train_like(model, config, X[train_idx], data.y[train_idx], X[val_idx], data.y[val_idx],
                         checkpoint=tmp_path / "model.npz", checkpoint_meta={"run": "test"},
                         on_epoch=lambda *a: saved.append(load_checkpoint(tmp_path / "model.npz")[1]["best_epoch"]))
    best = [int(np.argmin(history.val_loss[:e])) + 1 for e in range(1, history.epochs_run + 1)]
    assert saved == best  # after each epoch, the checkpoint holds the best epoch so far
    state, meta = load_checkpoint(tmp_path / "model.npz")
    assert meta == {"run": "test", "best_epoch": history.best_epoch, "val_loss": history.best_val_loss}
    for name, value in model.state_dict().items():  # the kept weights, which the model ends with
        np.testing.assert_array_equal(state[name], value)
