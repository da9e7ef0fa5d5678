"""The ``numpy-attn`` command line (also ``python -m numpy_attn``)."""

import argparse
import sys

import numpy as np


def _check(args):
    from ..gradcheck.modules import check_all

    return 0 if check_all(args.seed, log=print) < 1e-6 else 1


def _train(args):
    from .anomaly import TrainConfig, train

    config = TrainConfig(backend=args.backend, device=args.device, model=args.model,
                         anomalies=tuple(k.strip() for k in args.anomaly.split(",") if k.strip()),
                         channels=args.channels, samples=args.samples, length=args.length, epochs=args.epochs,
                         batch_size=args.batch_size, lr=args.lr, hidden=args.hidden, patience=args.patience,
                         features=args.features, seed=args.seed, out=args.out or f"runs/{args.model}")
    train(config, log=lambda line: print(line, flush=True))
    return 0


def _predict(args):
    from .anomaly import predict_file

    predict_file(args.checkpoint, args.input, args.out, log=print)
    return 0


def _detect(args):
    from .detect import DetectConfig, bundled_pair, run_detect

    files = (args.train, args.test)
    if not (args.data is None and None not in files or args.data is not None and files == (None, None)):
        raise ValueError("detect: give --data NAME, or --train NORMAL and --test SERIES (not both)")
    options = {name: getattr(args, name) for name in ("window", "stride", "model", "features", "hidden", "windows",
                                                       "share", "epochs", "batch_size", "lr", "patience", "seed")}
    if args.kinds is not None:
        options["kinds"] = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    config = DetectConfig(**{k: v for k, v in options.items() if v is not None})
    config.check()  # every option is checked before a file is read or written
    normal, test = bundled_pair(args.data) if args.data else files
    run_detect(normal, test, args.out, config, log=lambda line: print(line, flush=True))
    return 0


def _text(args):
    from .text import train_text

    train_text(args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _add_text(sub):
    p = sub.add_parser("text", help="train the small embedding + attention text classifier",
                       description="Writes text_attention.png and text_heads.png into --out.")
    p.add_argument("--out", default="runs/text")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_text)


def _add_train(sub):
    p = sub.add_parser("train", help="train an anomaly classifier on synthetic sine waves and evaluate it",
                       description="Writes metrics.json, history.json, loss.png, attention.png, heads.png "
                                   "(multi-head models) and model.npz into --out.")
    p.add_argument("--backend", default="numpy", choices=["numpy", "torch"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch backend only")
    p.add_argument("--model", default="bilstm-attention", help="bilstm-attention, bilstm-mha or transformer")
    p.add_argument("--anomaly", default="flat", help="comma-separated kinds: flat,zero,noise,spike")
    p.add_argument("--channels", type=int, default=1, help="1 (sine) or more (sine, cosine, random walk, ...)")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--hidden", type=int, default=32, help="LSTM hidden size of the BiLSTM models")
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs")
    p.add_argument("--features", default="diff", choices=["diff", "raw"],
                   help="diff: the series and its first difference (the recipe); raw: the series alone")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    p.set_defaults(run=_train)


def _add_predict(sub):
    p = sub.add_parser("predict", help="score your own series with a trained checkpoint",
                       description="Writes predictions.csv and attention.npy into --out.")
    p.add_argument("--checkpoint", required=True, help="model.npz written by numpy-attn train")
    p.add_argument("--input", required=True, help=".npy of shape (T,), (N, T) or (N, T, C), or .csv with one "
                                                  "series per row")
    p.add_argument("--out", default="predictions", help="output folder (default ./predictions)")
    p.set_defaults(run=_predict)


def _add_detect(sub):
    p = sub.add_parser("detect", help="locate the anomaly in a long series, learning from a normal one",
                       description="Trains on windows of the normal series, about half of them with an injected "
                                   "anomaly, then slides over the test series. Writes scores.csv, detection.png, "
                                   "metrics.json and model.npz into --out. Options left out take the defaults "
                                   "of numpy_attn.tasks.detect.DetectConfig.")
    p.add_argument("--train", help="the normal series: a TimeEval/UCR CSV (timestamp,value[,is_anomaly]), a CSV "
                                   "of numbers (one column per channel) or an .npy (T,) or (T, C)")
    p.add_argument("--test", help="the series to search, in the same formats (its labels serve the metrics only)")
    p.add_argument("--data", help="a bundled dataset instead of --train and --test, e.g. KDD-TSAD_135")
    p.add_argument("--out", default="runs/detect", help="output folder (default runs/detect)")
    p.add_argument("--window", type=int, help="window length (default: the period of the normal series)")
    p.add_argument("--stride", type=int, help="steps between windows (default: window // 8)")
    p.add_argument("--kinds", help="injected kinds, comma-separated (default: all of "
                                   "flat,zero,noise,spike,scale,copy,warp)")
    p.add_argument("--share", type=float, help="share of the training windows that get an injection (0.5)")
    p.add_argument("--windows", type=int, help="training windows drawn from the normal series")
    p.add_argument("--model", help="bilstm-attention (default), bilstm-mha or transformer")
    p.add_argument("--features", choices=["diff", "raw"], help="diff (default): the series and its difference")
    p.add_argument("--hidden", type=int, help="LSTM hidden size of the BiLSTM models")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int)
    p.set_defaults(run=_detect)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numpy-attn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_predict(sub)
    _add_text(sub)
    _add_detect(sub)
    check = sub.add_parser("check", help="finite-difference check of the hand-written backward passes")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError, KeyError, FloatingPointError) as err:
        print(f"numpy-attn {args.command}: error: {err}", file=sys.stderr)
        return 2
