"""The ``numpy-attn`` command line (also ``python -m numpy_attn``)."""

import argparse
import sys

import numpy as np


def _check(args):
    """Finite-difference check of every core module's backward, printed as a table."""
    from . import nn
    from .gradcheck import check_module

    rng = np.random.default_rng(args.seed)
    f64 = np.float64
    cases = {
        "Linear": (nn.Linear(4, 3, dtype=f64, rng=rng), (2, 4)),
        "LayerNorm": (nn.LayerNorm(5, dtype=f64), (3, 5)),
        "Sequential(Linear, Tanh, Linear, Sigmoid)": (
            nn.Sequential(nn.Linear(4, 6, dtype=f64, rng=rng), nn.Tanh(), nn.Linear(6, 2, dtype=f64, rng=rng),
                          nn.Sigmoid()), (3, 4)),
        "Softmax": (nn.Softmax(dim=-1), (2, 5)),
    }
    print("| module | worst relative error (input and parameters) |\n|---|---|")
    worst = 0.0
    for name, (module, shape) in cases.items():
        err = max(check_module(module, rng.standard_normal(shape)).values())
        worst = max(worst, err)
        print(f"| {name} | {err:.2e} |")
    return 0 if worst < 1e-6 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numpy-attn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="finite-difference check of the hand-written backward passes")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as err:
        print(f"numpy-attn {args.command}: error: {err}", file=sys.stderr)
        return 2
