"""The ``numpy-attn`` command line (also ``python -m numpy_attn``).

Every command checks its options before it writes anything and writes into a new folder beside --out that
moves in when the run has finished: a failed run leaves --out as it was, and a run into a previous run's
folder replaces that run's files as a whole. An error ends a command with one line and exit status 2, Ctrl-C
with one line and 130 (``numpy_attn.tasks.commands``).
"""

from dataclasses import fields
from pathlib import Path

from . import commands
from . import classify
from .anomaly import FEATURES, PREDICT_OUTPUTS, SEVERAL_CHANNELS, TRAIN_OUTPUTS, TrainConfig, predict_file, train
from .checkpoint import load_checkpoint
from .detect import OUTPUTS as DETECT_OUTPUTS, DetectConfig, bundled_pair, run_detect
from .injection import INJECTION_KINDS
from .synthetic import ANOMALY_KINDS
from .training import SCHEDULES
from .text import OUTPUTS as TEXT_OUTPUTS, train_text
from ..models import MODELS


def _print(line):
    print(line, flush=True)


def _check(args):
    from ..gradcheck.modules import check_all  # here: the check builds every module, which no other command needs

    return 0 if check_all(args.seed, log=print) < 1e-6 else 1


# Options train shares between the synthetic task and archive data, and the archive-only ones.
SHARED = ("model", "features", "hidden", "epochs", "batch_size", "lr", "patience", "seed")
ARCHIVE_ONLY = ("znorm", "noise", "noise_p", "noise_until", "label_smoothing", "members", "val_fraction",
                "min_validation", "missing")
GIVEN_ONLY = ("schedule",)  # shared, without a default of its own: each task's when not given
# The synthetic task's own options, each with its flag: archive data refuses them when set.
SYNTHETIC_ONLY = {"device": "--device", "anomalies": "--anomaly", "channels": "--channels", "samples": "--samples",
                  "length": "--length", "max_grad_norm": "--max-grad-norm", "skip_spikes": "--skip-spikes",
                  "max_series_grad_norm": "--max-series-grad-norm"}


def _train(args):
    if (args.data, args.train, args.test) != (None, None, None):
        return _train_on_archive_data(args)
    archive_only = [name for name in ARCHIVE_ONLY if getattr(args, name) is not None]
    if archive_only:
        raise ValueError(f"argument --{archive_only[0].replace('_', '-')}: for archive data only (give --data NAME, "
                         f"or --train FILE and --test FILE)")
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "extra"})
    config.out = args.out or f"runs/{args.model}"
    train(config, log=_print)
    return 0


def _train_on_archive_data(args):
    """``train --data NAME`` or ``--train FILE --test FILE``: ``classify.run_classify``. A shared option left at
    the synthetic task's default takes the archive task's (``classify.ClassifyConfig``)."""
    if args.backend != "numpy":
        raise ValueError(f"argument --backend: archive data trains on the NumPy backend only, got {args.backend!r}")
    synthetic_only = [flag for name, flag in SYNTHETIC_ONLY.items()
                      if getattr(args, name) != getattr(TrainConfig, name)]
    if synthetic_only:
        raise ValueError(f"argument {synthetic_only[0]}: for the synthetic task only (without --data, --train and "
                         f"--test)")
    given = {name: getattr(args, name) for name in SHARED if getattr(args, name) != getattr(TrainConfig, name)}
    given.update({name: getattr(args, name) for name in ARCHIVE_ONLY + GIVEN_ONLY if getattr(args, name) is not None})
    config = classify.ClassifyConfig(data=args.data, train=args.train, test=args.test, **given)
    name = args.data or Path(args.train or args.test).name.split(".")[0]
    classify.run_classify(config, args.out or f"runs/{name}", log=_print)
    return 0


def _predict(args):
    _, meta = load_checkpoint(args.checkpoint)
    score = classify.predict_file if meta.get("task") == classify.TASK else predict_file
    score(args.checkpoint, args.input, args.out, log=print)
    return 0


def _detect(args):
    both_files, no_files = None not in (args.train, args.test), args.train is None and args.test is None
    if not (args.data is None and both_files or args.data is not None and no_files):
        raise ValueError("give --data NAME, or --train NORMAL and --test SERIES (not both)")
    config = DetectConfig(**{f.name: getattr(args, f.name) for f in fields(DetectConfig)})
    normal, test = bundled_pair(args.data) if args.data else (args.train, args.test)
    run_detect(normal, test, args.out, config, log=_print)
    return 0


def _text(args):
    train_text(args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _command(sub, name, run, **kwargs):
    """A subcommand that calls ``run(args)``; ``kwargs`` go to ``add_parser`` (help, description)."""
    p = sub.add_parser(name, **kwargs)
    p.set_defaults(run=run, prog=p.prog)
    return p


def _add_model_options(p, **defaults):
    """--model and --features, shared by train and detect, then the shared ``commands.OPTIONS`` in ``defaults``."""
    p.add_argument("--model", choices=sorted(MODELS), default=defaults.pop("model"), help="the classifier")
    p.add_argument("--features", choices=FEATURES, default=defaults.pop("features"),
                   help="diff: the series and its first difference (train's recipe); raw: the series alone; shape: "
                        "diff, and each series z-normalised with its difference (detect's; not for archive data)")
    commands.add_options(p, **defaults)


def _add_train(sub):
    p = _command(sub, "train", _train, help="train an anomaly classifier on synthetic sine waves and evaluate it",
                 description="Trains on a 70/15/15 split of synthetic series, evaluates on the test split and "
                             "writes metrics, figures and the best weights into --out.")
    p.add_argument("--backend", default="numpy", choices=["numpy", "torch"], help="NumPy, or the PyTorch twin")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch backend only")
    p.add_argument("--anomaly", dest="anomalies", metavar="KINDS", default=",".join(TrainConfig.anomalies),
                   type=commands.names_from(ANOMALY_KINDS, "kinds"), help="comma-separated anomaly kinds")
    p.add_argument("--channels", type=commands.integer(1), default=TrainConfig.channels,
                   help="1 (sine) or more (sine, cosine, random walk, ...)")
    p.add_argument("--samples", type=commands.integer(1), default=TrainConfig.samples,
                   help="series drawn (split 70/15/15 into train, validation and test)")
    p.add_argument("--length", type=commands.integer(2), default=TrainConfig.length, help="steps per series")
    _add_model_options(p, model=TrainConfig.model, features=TrainConfig.features, epochs=TrainConfig.epochs,
                       batch_size=TrainConfig.batch_size, lr=TrainConfig.lr, hidden=TrainConfig.hidden,
                       patience=TrainConfig.patience, seed=TrainConfig.seed)
    p.add_argument("--max-grad-norm", type=commands.non_negative_number, default=TrainConfig.max_grad_norm,
                   help="before each step, scale the gradients down to this joint norm when longer (0: never)")
    p.add_argument("--skip-spikes", type=commands.non_negative_number, default=TrainConfig.skip_spikes,
                   help="leave out a step whose gradient norm is above this many times the median of the 100 "
                        "steps before it (0: never)")
    p.add_argument("--max-series-grad-norm", type=commands.non_negative_number,
                   help="scale each series' share of a step down so that its input gradient is at most this long "
                        f"(0: never; default: {SEVERAL_CHANNELS['max_series_grad_norm']:g} with --channels above 1, "
                        f"else 0)")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning rate over the epochs: cosine falls from --lr "
                                                         "to 0, constant keeps it (default: constant, and cosine "
                                                         "with --channels above 1 and for archive data)")
    p.add_argument("--out", help=commands.out_help(TRAIN_OUTPUTS) + " (default: runs/MODEL, or runs/DATASET)")
    archive = p.add_argument_group(
        "archive data", "A UCR/UEA dataset instead of synthetic series: --data NAME (bundled) or --train FILE "
                        "--test FILE (.ts, .tsv, .csv, .npz). The shared options left at the defaults above then "
                        "take those of numpy_attn.tasks.classify.ClassifyConfig (bilstm-mha, 150 epochs, batch 16, "
                        f"patience 30); the synthetic-only options ({', '.join(SYNTHETIC_ONLY.values())}) are "
                        "refused.")
    archive.add_argument("--data", help="a bundled dataset: GunPoint, ItalyPowerDemand, BasicMotions, JapaneseVowels")
    archive.add_argument("--train", help="the training file")
    archive.add_argument("--test", help="the test file")
    archive.add_argument("--znorm", action="store_true", default=None, help="z-normalise each series first")
    archive.add_argument("--noise", type=commands.non_negative_number, help="standard deviation of the Gaussian "
                         f"noise added to each training batch (default {classify.ClassifyConfig.noise}; 0: none)")
    archive.add_argument("--noise-p", type=commands.probability, help="the probability that a series of a "
                         f"training batch gets the noise (default {classify.ClassifyConfig.noise_p})")
    archive.add_argument("--noise-until", type=commands.probability, help="the share of the epochs, from the "
                         f"first, that get the noise (default {classify.ClassifyConfig.noise_until}; 1: all)")
    archive.add_argument("--label-smoothing", type=commands.probability, help="e: train on the cross-entropy "
                         "against the targets (1 - e) onehot + e / K (default "
                         f"{classify.ClassifyConfig.label_smoothing}; 0: none)")
    archive.add_argument("--members", type=commands.integer(1), help="train this many models from different "
                         "seeds and classify by the mean of their probabilities (default "
                         f"{classify.ClassifyConfig.members})")
    archive.add_argument("--val-fraction", type=commands.fraction, help="share of each class held out for "
                                                                        "validation (default 0.2)")
    archive.add_argument("--min-validation", type=commands.integer(1), help="fewest held-out series worth "
                                                                            "validating on (default 50)")
    archive.add_argument("--missing", choices=("error", "interpolate"), help="missing values in the files "
                                                                              "(default error)")


def _add_predict(sub):
    p = _command(sub, "predict", _predict, help="score your own series with a trained checkpoint",
                 description="Scores each series with a checkpoint of numpy-attn train or detect.")
    p.add_argument("--checkpoint", required=True, help="model.npz written by numpy-attn train or detect")
    p.add_argument("--input", required=True, help=".npy of shape (T,), (N, T) or (N, T, C), or .csv with one "
                                                  "series per row; for an archive-data checkpoint also .ts, .tsv, "
                                                  ".npz; for a detect checkpoint one long series in detect's files")
    p.add_argument("--out", default="predictions", help=commands.out_help(PREDICT_OUTPUTS))


def _add_text(sub):
    p = _command(sub, "text", _text, help="train the small embedding + attention text classifier",
                 description="Trains on synthetic sentences and draws where the model looks.")
    p.add_argument("--out", default="runs/text", help=commands.out_help(TEXT_OUTPUTS))
    commands.add_options(p, epochs=4, seed=0)


def _add_detect(sub):
    p = _command(sub, "detect", _detect, help="locate the anomaly in a long series, learning from a normal one",
                 description="Trains on windows of the normal series, about half of them with an injected "
                             "anomaly, then slides over the test series.")
    p.add_argument("--train", help="the normal series: a TimeEval/UCR CSV (timestamp,value[,is_anomaly]), a CSV "
                                   "of numbers (one column per channel) or an .npy (T,) or (T, C)")
    p.add_argument("--test", help="the series to search, in the same formats (its labels serve the metrics only)")
    p.add_argument("--data", help="a bundled dataset instead of --train and --test, e.g. KDD-TSAD_135")
    p.add_argument("--out", default="runs/detect", help=commands.out_help(DETECT_OUTPUTS))
    p.add_argument("--window", type=commands.integer(2), help="window length (default: the period of the normal "
                                                               "series)")
    p.add_argument("--stride", type=commands.integer(1), help="steps between windows (default: window // 8)")
    p.add_argument("--kinds", default=",".join(DetectConfig.kinds), type=commands.names_from(INJECTION_KINDS,
                   "injection kinds"), help="injected kinds, comma-separated")
    p.add_argument("--share", type=commands.fraction, default=DetectConfig.share,
                   help="share of the training windows that get an injection")
    p.add_argument("--windows", type=commands.integer(1), default=DetectConfig.windows,
                   help="training windows drawn from the normal series")
    _add_model_options(p, model=DetectConfig.model, features=DetectConfig.features, hidden=DetectConfig.hidden,
                       epochs=DetectConfig.epochs, batch_size=DetectConfig.batch_size, lr=DetectConfig.lr,
                       patience=DetectConfig.patience, seed=DetectConfig.seed)


def _add_check(sub):
    p = _command(sub, "check", _check, help="finite-difference check of the hand-written backward passes",
                 description="Prints one row per module and model; writes nothing.")
    commands.add_options(p, seed=0)


def parser():
    """The ``numpy-attn`` parser, one subcommand each: train, predict, text, detect, check."""
    p = commands.ArgumentParser(prog="numpy-attn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_predict, _add_text, _add_detect, _add_check):
        add(sub)
    return p


def main(argv=None):
    return commands.run(parser(), argv)
