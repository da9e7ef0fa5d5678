"""The ``numpy-attn`` command line (also ``python -m numpy_attn``)."""

import argparse
import sys

import numpy as np


def _check(args):
    """Finite-difference check of every module's hand-written backward (inputs and parameters), as a table.
    Dropout is left out: its mask is drawn anew at each call (the tests check it with the mask held)."""
    from . import models, nn
    from .gradcheck import check_module

    rng = np.random.default_rng(args.seed)
    f64 = dict(dtype=np.float64, rng=rng)
    # name: (module, its inputs (a shape: standard normal values; or the array itself), how many outputs
    # get an upstream gradient (None: all; the attention weights some modules return are for reading))
    cases = {
        "Linear": (nn.Linear(4, 3, **f64), [(2, 4)], None),
        "Sequential(Linear, Tanh, Linear, ReLU, Linear, Sigmoid)": (nn.Sequential(
            nn.Linear(4, 6, **f64), nn.Tanh(), nn.Linear(6, 5, **f64), nn.ReLU(), nn.Linear(5, 2, **f64),
            nn.Sigmoid()), [(3, 4)], None),
        "Softmax": (nn.Softmax(dim=-1), [(2, 5)], None),
        "LayerNorm": (nn.LayerNorm(5, dtype=np.float64), [(3, 5)], None),
        "Embedding": (nn.Embedding(6, 3, **f64), [np.array([[0, 5, 2], [2, 2, 1]])], None),
        "PositionalEncoding (sinusoidal)": (nn.PositionalEncoding(4, max_len=8, dtype=np.float64), [(2, 5, 4)], None),
        "LearnedPositionalEncoding": (nn.LearnedPositionalEncoding(8, 4, **f64), [(2, 5, 4)], None),
        "LSTMCell, h and c": (nn.LSTMCell(3, 4, **f64), [(2, 3)], None),
        "LSTM (2 layers, bidirectional), output, h_n, c_n": (
            nn.LSTM(3, 4, num_layers=2, bidirectional=True, **f64), [(5, 2, 3)], None),
        "AdditiveAttention, context and alpha": (nn.AdditiveAttention(4, 6, **f64), [(2, 5, 4)], None),
        "BahdanauAttention (queries, keys, values)": (
            nn.BahdanauAttention(4, 3, 6, **f64), [(2, 2, 3), (2, 5, 4), (2, 5, 3)], None),
        "ScaledDotProductAttention (q, k, v)": (nn.ScaledDotProductAttention(), [(2, 3, 4), (2, 5, 4), (2, 5, 3)], 1),
        "SelfAttention (dim_q 3, dim_v 5)": (nn.SelfAttention(4, 3, 5, **f64), [(2, 5, 4)], 1),
        "MultiHeadSelfAttention (pre-LayerNorm)": (nn.MultiHeadSelfAttention(8, 2, **f64), [(2, 5, 8)], 1),
        "MultiheadAttention (query, key, value)": (
            nn.MultiheadAttention(8, 2, batch_first=True, **f64), [(2, 3, 8), (2, 4, 8), (2, 4, 8)], 1),
        "TransformerEncoderLayer": (
            nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True, **f64),
            [(2, 5, 8)], None),
        "SEGate": (nn.SEGate(4, reduction=2, **f64), [(2, 5, 4)], None),
        "NWKernelRegression (queries, keys, values)": (nn.NWKernelRegression(**f64), [(4,), (4, 3), (4, 3)], None),
        "MSELoss": (nn.MSELoss(), [(3, 4), (3, 4)], None),
        "BCELoss": (nn.BCELoss(), [rng.uniform(0.1, 0.9, (3, 4)), rng.random((3, 4))], None),
        "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss(), [(3, 4), rng.random((3, 4))], None),
        "CrossEntropyLoss": (nn.CrossEntropyLoss(), [(4, 3), np.array([0, 2, 1, 2])], None),
        "BiLSTMAttentionClassifier, prob and alpha": (
            models.BiLSTMAttentionClassifier(2, hidden_dim=4, **f64), [(2, 6, 2)], None),
        "BiLSTMMHAClassifier, prob": (models.BiLSTMMHAClassifier(2, hidden_dim=4, num_heads=2, **f64), [(2, 6, 2)], 1),
        "TransformerClassifier, prob": (
            models.TransformerClassifier(2, d_model=8, nhead=2, num_layers=1, dim_feedforward=12, **f64),
            [(2, 6, 2)], 1),
    }
    print("| module | worst relative error (inputs and parameters) |\n|---|---|")
    worst = 0.0
    for name, (module, inputs, n_outputs) in cases.items():
        inputs = [rng.standard_normal(x) if isinstance(x, tuple) else x for x in inputs]
        err = max(check_module(module, *inputs, n_outputs=n_outputs, rng=rng).values())
        worst = max(worst, err)
        print(f"| {name} | {err:.2e} |")
    return 0 if worst < 1e-6 else 1


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


def _text(args):
    from .examples.text import train_text

    train_text(args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _add_text(sub):
    p = sub.add_parser("text", help="train the small embedding + attention text classifier (seed 004)",
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
                   help="diff: the series and its first difference (the recipe); raw: the series alone (the seed)")
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numpy-attn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_predict(sub)
    _add_text(sub)
    check = sub.add_parser("check", help="finite-difference check of the hand-written backward passes")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError, KeyError, FloatingPointError) as err:
        print(f"numpy-attn {args.command}: error: {err}", file=sys.stderr)
        return 2
