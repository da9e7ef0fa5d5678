"""Classification of labelled series: the preprocessing (padding left out of every statistic), the validation
rule, ``run_classify`` end to end on a tiny .ts dataset and on a bundled one, ``predict_file`` against what
training saw, and one clear error for each bad option or file."""

import csv
import json

import numpy as np
import pytest

from numpy_attn.datasets import load, read, znormalize
from numpy_attn.tasks import plots
from numpy_attn.tasks.checkpoint import load_checkpoint, save_checkpoint
from numpy_attn.tasks.classify import (ClassifyConfig, Preprocessing, classify, load_data, member_seeds,
                                       noise_epochs, padded_features, predict_classifier, predict_file,
                                       run_classify, validation_split)
from numpy_attn.tasks.training import cosine_lr

TINY = dict(epochs=2, hidden=4, batch_size=8, patience=1, members=1)  # one model that trains in well under a second
MIN_VALIDATION = ClassifyConfig().min_validation
CLASSES = ("low", "mid", "high")
NAMES = ["high", "low", "mid"]  # the class names: the labels in natural order (``datasets.Dataset``)


def tiny_series(n, rng):
    """n series of 2 channels and 12-20 steps; class k is a sine of frequency k + 1 (a cosine in channel 1)."""
    labels = rng.integers(0, len(CLASSES), size=n)
    cases = []
    for k in labels:
        t = np.arange(rng.integers(12, 21)) / 20
        phase = rng.uniform(0, 2 * np.pi)
        cases.append(np.stack([np.sin(2 * np.pi * (k + 1) * t + phase), 3 * np.cos(2 * np.pi * (k + 1) * t)], 1))
    return cases, [CLASSES[k] for k in labels]


def write_ts(path, cases, labels):
    """A .ts file with unequal lengths and two channels, as the UEA archive writes them."""
    lines = ["@problemName Tiny", "@timeStamps false", "@missing false", "@univariate false", "@dimensions 2",
             "@equalLength false", f"@classLabel true {' '.join(CLASSES)}", "@data"]
    lines += [":".join(",".join(f"{v:.6f}" for v in case[:, c]) for c in range(2)) + f":{label}"
              for case, label in zip(cases, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny_files(tmp_path):
    rng = np.random.default_rng(0)
    return (write_ts(tmp_path / "Tiny_TRAIN.ts", *tiny_series(60, rng)),
            write_ts(tmp_path / "Tiny_TEST.ts", *tiny_series(15, rng)))


# --- preprocessing ---------------------------------------------------------------------------------------
def padded(rng, lengths, C=2, fill=0.0):
    """Series of ``lengths`` padded to the longest with ``fill``."""
    X = np.full((len(lengths), max(lengths), C), fill)
    for n, length in enumerate(lengths):
        X[n, :length] = rng.normal(2.0, 3.0, size=(length, C))
    return X, np.array(lengths)


def test_the_padding_takes_no_part_in_the_statistics_or_the_input():
    rng = np.random.default_rng(1)
    X, lengths = padded(rng, [5, 9, 3, 9])
    for znorm in (False, True):
        prep = Preprocessing.fit(X, lengths, znorm, "diff")
        steps = np.concatenate([padded_features(znormalize(X, lengths) if znorm else X, lengths, "diff")[n, :m]
                                for n, m in enumerate(lengths)])  # every valid step, no padding
        np.testing.assert_allclose(prep.scaler.mean, steps.mean(0), atol=1e-12)
        np.testing.assert_allclose(prep.scaler.scale, steps.std(0), rtol=1e-12)
        noisy = X.copy()
        noisy[np.arange(X.shape[1]) >= lengths[:, None]] = 1e6  # whatever the padding holds
        for Z in (prep(X, lengths), prep(noisy, lengths)):
            assert Z.dtype == np.float32 and (Z[np.arange(X.shape[1]) >= lengths[:, None]] == 0).all()
        np.testing.assert_array_equal(prep(X, lengths), prep(noisy, lengths))


def test_the_difference_of_a_series_last_step_is_zero_as_for_a_full_length_series():
    X, lengths = padded(np.random.default_rng(2), [4, 6], C=1)
    F = padded_features(X, lengths, "diff")
    np.testing.assert_allclose(F[0, :3, 1], np.diff(X[0, :4, 0]))
    assert F[0, 3:, 1].tolist() == [0.0, 0.0, 0.0] and F[1, 5, 1] == 0.0
    np.testing.assert_array_equal(padded_features(X, lengths, "raw"), X)


def test_preprocessing_round_trips_through_its_dict():
    X, lengths = padded(np.random.default_rng(3), [7, 4, 7])
    prep = Preprocessing.fit(X, lengths, True, "diff")
    again = Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict())))
    np.testing.assert_array_equal(again(X, lengths), prep(X, lengths))
    with pytest.raises(ValueError, match=r"expected \(N, T, 2\), 2 channel\(s\) as in training"):
        prep(X[..., :1], lengths)


@pytest.mark.parametrize("per_class, fraction, held_out", [(10, 0.2, 2 * 3), (100, 0.2, 20 * 3), (400, 0.0, 0)])
def test_validation_is_stratified_or_left_out_when_it_would_be_too_small(per_class, fraction, held_out):
    y = np.repeat(np.arange(3), per_class)
    fit_idx, val_idx = validation_split(y, fraction, MIN_VALIDATION, seed=0)
    if held_out < MIN_VALIDATION:
        assert val_idx is None and fit_idx.tolist() == list(range(len(y)))
    else:
        assert len(val_idx) == held_out and np.bincount(y[val_idx]).tolist() == [held_out // 3] * 3
        assert not set(fit_idx) & set(val_idx) and len(fit_idx) + len(val_idx) == len(y)


def test_the_cosine_schedule_falls_from_lr_towards_zero():
    rates = [cosine_lr(0.01, epoch, 10) for epoch in range(1, 11)]
    assert rates[0] == 0.01 and rates[5] == pytest.approx(0.005 * (1 + np.cos(np.pi / 2)))
    assert all(a > b > 0 for a, b in zip(rates, rates[1:]))


# --- end to end ------------------------------------------------------------------------------------------
def test_run_classify_writes_every_output(tiny_files, tmp_path):
    train, test = tiny_files
    out = tmp_path / "run"
    metrics = run_classify(ClassifyConfig(train=str(train), test=str(test), features="diff", **TINY), out,
                           log=lambda line: None)
    assert {p.name for p in out.iterdir()} == {"metrics.json", "history.json", "loss.png", "confusion.png",
                                               "attention.png", "model.npz"}
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads((out / "metrics.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    assert written["confusion_matrix"]["classes"] == NAMES and list(written["per_class"]) == NAMES
    assert np.sum(written["confusion_matrix"]["matrix"]) == written["test_series"] == 15
    assert {"accuracy", "balanced_accuracy", "macro_f1", "epochs_run", "best_epoch", "seconds", "seed", "dataset",
            "model"} <= set(written) and written["dataset"] == "Tiny"
    history = json.loads((out / "history.json").read_text())
    assert len(history["train_loss"]) == written["epochs_run"] == 2

    state, meta = load_checkpoint(out / "model.npz")
    assert meta["task"] == "classify" and meta["class_names"] == NAMES
    assert meta["preprocessing"]["features"] == "diff" and meta["preprocessing"]["channels"] == 2
    assert meta["input_dim"] == 4 and meta["model_kwargs"]["num_classes"] == 3
    assert meta["best_epoch"] == written["best_epoch"] and state


def test_a_large_training_set_gets_a_validation_split(tmp_path):
    rng = np.random.default_rng(4)
    train = write_ts(tmp_path / "Big_TRAIN.ts", *tiny_series(6 * MIN_VALIDATION, rng))
    test = write_ts(tmp_path / "Big_TEST.ts", *tiny_series(6, rng))
    metrics = run_classify(ClassifyConfig(train=str(train), test=str(test), **TINY), tmp_path / "run",
                           log=lambda line: None)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["val_accuracy"]) == metrics["epochs_run"]
    assert metrics["validation_series"] >= MIN_VALIDATION  # about a fifth of each class of 6 * MIN_VALIDATION


def test_predictions_of_the_checkpoint_are_those_of_the_trained_model(tiny_files, tmp_path):
    train, test = tiny_files
    config = ClassifyConfig(train=str(train), test=str(test), **TINY)
    data = load_data(config)
    result = classify(data.train, data.test, data.class_names, config, log=lambda line: None)
    run_classify(config, tmp_path / "run", log=lambda line: None)
    classes, prob, alpha, names = predict_classifier(tmp_path / "run" / "model.npz", data.test.X, data.test.lengths)
    np.testing.assert_allclose(prob, result.probabilities, rtol=1e-5)  # same seed: the same model
    assert names == NAMES and classes.tolist() == [NAMES[k] for k in prob.argmax(1)]

    out = tmp_path / "pred"
    predict_file(tmp_path / "run" / "model.npz", test, out, log=lambda line: None)
    with (out / "predictions.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "class", "p_high", "p_low", "p_mid"] and len(rows) == 16
    assert [r[1] for r in rows[1:]] == classes.tolist()
    np.testing.assert_allclose(np.array([r[2:] for r in rows[1:]], dtype=float), prob, atol=1e-6)
    attention = np.load(out / "attention.npy")
    assert attention.shape == data.test.X.shape[:2]
    valid = np.arange(attention.shape[1]) < data.test.lengths[:, None]
    assert (attention[~valid] == 0).all()
    np.testing.assert_allclose(attention.sum(1), 1.0, rtol=1e-5)


def test_predict_reads_unlabelled_npy_with_nan_padding(tiny_files, tmp_path):
    train, test = tiny_files
    run_classify(ClassifyConfig(train=str(train), test=str(test), **TINY), tmp_path / "run", log=lambda line: None)
    split = read(test)
    X = np.where(np.arange(split.X.shape[1])[:, None] < split.lengths[:, None, None], split.X, np.nan)
    np.save(tmp_path / "x.npy", X)
    from_npy = predict_file(tmp_path / "run" / "model.npz", tmp_path / "x.npy", tmp_path / "a", log=lambda s: None)
    from_ts = predict_file(tmp_path / "run" / "model.npz", test, tmp_path / "b", log=lambda s: None)
    np.testing.assert_allclose(from_npy[1], from_ts[1], rtol=1e-6)


def test_predict_refuses_series_with_other_channels(tiny_files, tmp_path):
    train, test = tiny_files
    run_classify(ClassifyConfig(train=str(train), test=str(test), **TINY), tmp_path / "run", log=lambda line: None)
    np.save(tmp_path / "three.npy", np.zeros((2, 15, 3)))
    with pytest.raises(ValueError, match=r"trained on series of 2 channel\(s\); expected \(N, T, 2\), got shape "
                                         r"\(2, 15, 3\)"):
        predict_file(tmp_path / "run" / "model.npz", tmp_path / "three.npy", tmp_path / "p")
    save_checkpoint(tmp_path / "other.npz", {"w": np.zeros(2)}, {"model": "bilstm-attention"})  # an anomaly model's
    with pytest.raises(ValueError, match="not a classifier written by run_classify"):
        predict_classifier(tmp_path / "other.npz", np.zeros((1, 5, 2)))


def test_a_bundled_dataset_by_name(tmp_path):
    metrics = run_classify(ClassifyConfig(data="ItalyPowerDemand", epochs=1, hidden=4), tmp_path / "run",
                           log=lambda line: None)
    assert metrics["dataset"] == "ItalyPowerDemand" and metrics["test_series"] == len(load("ItalyPowerDemand").y_test)
    assert metrics["confusion_matrix"]["classes"] == ["1", "2"] and 0 <= metrics["roc_auc"] <= 1


# --- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    (dict(), "data: give a bundled dataset's name, or train and test files"),
    (dict(data="GunPoint", train="a.ts", test="b.ts"), "data: give"),
    (dict(train="a.ts"), "data: give"),
    (dict(data="GunPoint", model="gru"), "model: expected one of"),
    (dict(data="GunPoint", features="fft"), "features: expected one of"),
    (dict(data="GunPoint", features="shape"), r"features: expected one of \('diff', 'raw'\) for labelled series"),
    (dict(data="GunPoint", znorm="yes"), "znorm: expected True or False"),
    (dict(data="GunPoint", epochs=0), "epochs: expected an integer >= 1"),
    (dict(data="GunPoint", hidden=2.5), "hidden: expected an integer >= 1"),
    (dict(data="GunPoint", batch_size=-1), "batch_size: expected an integer >= 1"),
    (dict(data="GunPoint", patience=0), "patience: expected an integer >= 1"),
    (dict(data="GunPoint", lr=float("nan")), "lr: expected a positive learning rate"),
    (dict(data="GunPoint", lr=0), "lr: expected a positive learning rate"),
    (dict(data="GunPoint", noise=-0.5), "noise: expected a finite standard deviation >= 0"),
    (dict(data="GunPoint", noise=float("inf")), "noise: expected a finite standard deviation >= 0"),
    (dict(data="GunPoint", noise_p=0), r"noise_p: expected a probability in \(0, 1\]"),
    (dict(data="GunPoint", noise_p=True), r"noise_p: expected a probability in \(0, 1\]"),
    (dict(data="GunPoint", noise_until=1.5), r"noise_until: expected a share of the epochs in \[0, 1\]"),
    (dict(data="GunPoint", label_smoothing=1.5), r"label_smoothing: expected a number in \[0, 1\]"),
    (dict(data="GunPoint", label_smoothing=True), r"label_smoothing: expected a number in \[0, 1\]"),
    (dict(data="GunPoint", val_fraction=1.0), r"val_fraction: expected a share in \[0, 1\)"),
    (dict(data="GunPoint", seed=-1), "seed: expected an integer >= 0"),
    (dict(data="GunPoint", missing="drop"), "missing: expected one of"),
    (dict(data="GunPoint", schedule="step"), "schedule: expected one of"),
    (dict(data="GunPoint", min_validation=0), "min_validation: expected an integer >= 1"),
    (dict(data="GunPoint", members=0), "members: expected an integer >= 1"),
])
def test_bad_options_are_refused_naming_the_option(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        run_classify(ClassifyConfig(**options), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_files_are_refused_naming_the_file(tiny_files, tmp_path):
    train, _ = tiny_files
    np.savez(tmp_path / "one.npz", X=np.zeros((4, 10, 1)), y=np.array(["low", "mid", "high", "low"]))
    with pytest.raises(ValueError, match=r"one.npz: 1 channel\(s\), but the training file .*Tiny_TRAIN.ts has 2"):
        run_classify(ClassifyConfig(train=str(train), test=str(tmp_path / "one.npz"), **TINY), tmp_path / "run")
    with pytest.raises(ValueError, match="unknown dataset 'Gunpoint2'"):
        run_classify(ClassifyConfig(data="Gunpoint2"), tmp_path / "run")
    (tmp_path / "bad.ts").write_text("@data\n1,2:low\n")
    with pytest.raises(ValueError, match="bad.ts"):
        run_classify(ClassifyConfig(train=str(tmp_path / "bad.ts"), test=str(train)), tmp_path / "run")
    with pytest.raises(ValueError, match="test: no such file 'nowhere.ts'"):
        run_classify(ClassifyConfig(train=str(train), test="nowhere.ts"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_series_to_classify_are_refused_naming_the_file(tiny_files, tmp_path):
    train, test = tiny_files
    run_classify(ClassifyConfig(train=str(train), test=str(test), **TINY), tmp_path / "run", log=lambda line: None)
    checkpoint = tmp_path / "run" / "model.npz"
    np.save(tmp_path / "inf.npy", np.array([[0.0, np.inf, 1.0]]))
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    np.save(tmp_path / "gap.npy", np.array([[[0.0, 1.0], [np.nan, np.nan], [2.0, 3.0]]]))
    for name, message in [("inf.npy", "inf.npy: expected finite numbers"),
                          ("text.npy", r"text.npy: expected an \(N, T\) or \(N, T, C\) array of numbers"),
                          ("gap.npy", "gap.npy series 1: channel 1, value 2 is missing"),
                          ("absent.npy", "input: no such file")]:
        with pytest.raises(ValueError, match=message):
            predict_file(checkpoint, tmp_path / name, tmp_path / "p")
    with pytest.raises(ValueError, match=r"lengths: expected lengths in \[1, 20\]"):
        predict_classifier(checkpoint, np.zeros((2, 20, 2)), np.array([5, 21]))


def test_labels_outside_the_class_names_are_refused(tiny_files):
    data = load_data(ClassifyConfig(train=str(tiny_files[0]), test=str(tiny_files[1])))
    with pytest.raises(ValueError, match=r"train: label 'low' is not one of the class names \['high', 'mid'\]"):
        classify(data.train, data.test, ("high", "mid"), ClassifyConfig(data="Tiny", **TINY))


def test_noise_reaches_training_and_is_seeded(tiny_files):
    """ClassifyConfig.noise, noise_p and noise_until are fit's: the same seed and noise train the same
    weights, no noise other ones, and so do another share of the series or of the epochs. The default: 0.7 on
    half the series for the first three quarters of the epochs (noise_epochs: 112 of 150)."""
    data = load_data(ClassifyConfig(train=str(tiny_files[0]), test=str(tiny_files[1])))

    def weights(**options):
        config = ClassifyConfig(data="Tiny", **TINY, **options)
        return classify(data.train, data.test, data.class_names, config, log=lambda line: None).model.state_dict()

    def same(a, b):
        return all(np.array_equal(a[k], v) for k, v in b.items())

    quiet, noisy = weights(noise=0), weights(noise=0.3)
    assert (ClassifyConfig().noise, ClassifyConfig().noise_p, ClassifyConfig().noise_until) == (0.7, 0.5, 0.75)
    assert noise_epochs(ClassifyConfig()) == 112
    assert same(noisy, weights(noise=0.3)) and not same(quiet, noisy)
    assert not same(noisy, weights(noise=0.3, noise_p=1.0)) and not same(noisy, weights(noise=0.3, noise_until=1))
    assert same(quiet, weights(noise=0.3, noise_until=0.4))  # floor(0.4 * 2 epochs) = 0 epochs with noise


def test_label_smoothing_reaches_training(tiny_files):
    """ClassifyConfig.label_smoothing is fit's: 0.1 by default, and another value trains other weights."""
    data = load_data(ClassifyConfig(train=str(tiny_files[0]), test=str(tiny_files[1])))

    def weights(**options):
        config = ClassifyConfig(data="Tiny", **TINY, **options)
        return classify(data.train, data.test, data.class_names, config, log=lambda line: None).model.state_dict()

    assert ClassifyConfig().label_smoothing == 0.1
    default, plain = weights(), weights(label_smoothing=0.0)
    assert not all(np.array_equal(a, b) for a, b in zip(default.values(), plain.values()))


def test_an_ensemble_classifies_by_the_mean_of_its_members_probabilities(tiny_files, tmp_path):
    """members=3: three models from member_seeds (the first the run's own seed, so it is the one-model run's
    model), the mean of their softmax probabilities and of their attention; the checkpoint holds all three
    and predict gives the same probabilities; history.json has each member's curves."""
    train, test = tiny_files
    config = ClassifyConfig(train=str(train), test=str(test), seed=4, **{**TINY, "members": 3})
    data = load_data(config)
    result = classify(data.train, data.test, data.class_names, config, log=lambda line: None)
    seeds = member_seeds(4, 3)
    assert seeds[0] == 4 and len(set(seeds)) == 3 and member_seeds(4, 3) == seeds
    assert result.meta["member_seeds"] == seeds and len(result.histories) == 3
    singles = [classify(data.train, data.test, data.class_names,
                        ClassifyConfig(train=str(train), test=str(test), seed=seed, **TINY), log=lambda line: None)
               for seed in seeds]
    for member, single in zip(result.model.members, singles):  # member m is the one-model run of its seed
        for a, b in zip(member.state_dict().values(), single.model.state_dict().values()):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(result.probabilities, np.mean([r.probabilities for r in singles], axis=0), rtol=1e-6)
    np.testing.assert_allclose(result.attention, np.mean([r.attention for r in singles], axis=0), rtol=1e-6)

    metrics = run_classify(config, tmp_path / "run", log=lambda line: None)
    assert metrics["members"] == 3 and metrics["accuracy"] == result.report["accuracy"]
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["members"]) == 3
    _, prob, alpha, _ = predict_classifier(tmp_path / "run" / "model.npz", data.test.X, data.test.lengths)
    np.testing.assert_allclose(prob, result.probabilities, rtol=1e-5)
    np.testing.assert_allclose(alpha.sum(1), 1.0, rtol=1e-5)


# --- figures ---------------------------------------------------------------------------------------------
def test_figures_refuse_what_they_cannot_draw(tmp_path):
    with pytest.raises(ValueError, match=r"expected \(3, 3\) integer counts for 3 class names"):
        plots.plot_confusion(np.ones((2, 2), int), CLASSES, tmp_path / "c.png")
    with pytest.raises(ValueError, match=r"expected series \(T, 2\) with alphas \(T,\)"):
        plots.plot_class_attention([np.zeros((5, 2))], [np.ones(4) / 4], ["a"], tmp_path / "a.png")
    assert len(plots.channel_colours(12)) == len(set(plots.channel_colours(12))) == 12


# --- the command line ------------------------------------------------------------------------------------

def test_train_and_predict_on_archive_files_from_the_command_line(tiny_files, tmp_path, capsys):
    """``numpy-attn train --train F --test F`` runs the archive task with the archive defaults where the
    synthetic ones were left; ``numpy-attn predict`` recognises its checkpoint."""
    from numpy_attn.tasks.cli import main

    train, test = tiny_files
    out = tmp_path / "run"
    assert main(["train", "--train", str(train), "--test", str(test), "--epochs", "2", "--hidden", "4",
                 "--batch-size", "8", "--out", str(out)]) == 0
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert (config["epochs"], config["hidden"], config["model"]) == (2, 4, ClassifyConfig.model)
    assert main(["predict", "--checkpoint", str(out / "model.npz"), "--input", str(test),
                 "--out", str(tmp_path / "pred")]) == 0
    with open(tmp_path / "pred" / "predictions.csv") as f:
        assert next(csv.reader(f)) == ["index", "class", *(f"p_{name}" for name in NAMES)]
    assert main(["train", "--data", "GunPoint", "--backend", "torch", "--out", str(tmp_path / "x")]) == 2
    assert "--backend" in capsys.readouterr().err and not (tmp_path / "x").exists()
