"""Nadaraya-Watson kernel regression end to end: attention pooling as regression (D2L 11.2, seed 002).

    python -m numpy_attn.tasks.kernel_regression --out DIR

Data (seed 002): n points x_i ~ U(0, 10), sorted, y_i = x_i + sin(x_i) + noise, noise ~ N(0, 1);
test queries on the grid 0, 0.1, ..., 9.9 where the truth x + sin(x) is known.
Three predictors, all f(x) = sum_i softmax_i(-((x - x_i) w)^2 / 2) y_i:
- average pooling (w = 0): the mean of the y_i everywhere;
- the non-parametric Gaussian kernel (w = 1);
- the parametric model, w learned by full-batch SGD on the mean squared error.

Training trick (D2L): training point i queries the OTHER n - 1 points only. If it could see its own
(x_i, y_i), the loss would fall as w -> infinity, the kernel collapsing onto the point itself and
copying its noisy y_i: zero training error and a jagged fit that does not generalise.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import nn, optim
from .._validate import as_int
from . import commands, plots
from .. import functional as F

OUTPUTS = ("nw_fit.png", "nw_attention.png", "nw_loss.png")


def truth(x):
    return x + np.sin(x)


def make_data(n, rng):
    """x_train: (n,) sorted in [0, 10); y_train: (n,) = truth + N(0, 1)."""
    x = np.sort(rng.uniform(0.0, 10.0, n))
    return x, truth(x) + rng.standard_normal(n)


def leave_one_out(x, y):
    """keys, values: (n, n - 1), row i every training pair except pair i itself."""
    n = x.shape[0]
    others = ~np.eye(n, dtype=bool)
    return np.tile(x, (n, 1))[others].reshape(n, n - 1), np.tile(y, (n, 1))[others].reshape(n, n - 1)


def fit(x_train, y_train, epochs, lr, rng):
    """Learn w by SGD: returns the model and the training loss before each update. FloatingPointError when
    the loss or w stops being finite (too large an lr)."""
    model = nn.NWKernelRegression(dtype=np.float64, rng=rng)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    # D2L sums the squared errors; on seed 002's wider, noisier data that sum's gradient is ~50x larger
    # and lr = 0.5 throws w to 15-45 in one step (an over-narrow kernel), so we take the mean
    loss_fn = nn.MSELoss(reduction="mean")
    keys, values = leave_one_out(x_train, y_train)
    losses = []
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        losses.append(loss_fn(model(x_train, keys, values), y_train))
        model.backward(loss_fn.backward())
        optimizer.step()
        if not np.isfinite(model.w.data).all():
            raise FloatingPointError(f"epoch {epoch}: w is {model.w.data[0]} after the SGD step (lr {lr:g}); "
                                     f"try a lower learning rate")
    losses.append(loss_fn(model(x_train, keys, values), y_train))
    return model, losses


def _plot_fit(x_test, predictions, x_train, y_train, path):
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    ax.plot(x_test, truth(x_test), "k-", label="truth x + sin(x)")
    ax.plot(x_train, y_train, "o", color="tab:grey", alpha=0.6, label="samples")
    for name, y_hat in predictions.items():
        ax.plot(x_test, y_hat, label=name)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def fit_and_plot(out_dir, n=50, seed=0, epochs=5, lr=0.5):
    """Fit the three predictors and save three PNGs into ``out_dir`` (``commands.output_folder``: all three
    when the run finishes, none when it fails): ``nw_fit.png`` (truth, samples, the three fits),
    ``nw_attention.png`` (the parametric model's test weights, query x on the rows against the sorted
    training x_i on the columns) and ``nw_loss.png``. n >= 2: each training point queries the others.

    Returns {"paths": [...], "losses": training losses per epoch, "w": the learned width parameter,
    "mse": {predictor: mean squared error against the truth on the test grid}}.
    """
    n = as_int(n, "n", 2)
    with commands.output_folder(out_dir, OUTPUTS) as folder:
        result = _fit_and_plot(folder, n, seed, epochs, lr)
    return {**result, "paths": [Path(out_dir) / path.name for path in result["paths"]]}


def _fit_and_plot(out_dir, n, seed, epochs, lr):
    """``fit_and_plot`` into the existing folder ``out_dir``."""
    rng = np.random.default_rng(seed)
    x_train, y_train = make_data(n, rng)
    model, losses = fit(x_train, y_train, epochs, lr, rng)
    x_test = np.arange(0.0, 10.0, 0.1)
    keys, values = np.tile(x_train, (x_test.size, 1)), np.tile(y_train, (x_test.size, 1))  # every query sees all n
    predictions = {name: F.nadaraya_watson(x_test, keys, values, w)[0][0]
                   for name, w in [("average pooling (w = 0)", 0.0), ("non-parametric (w = 1)", 1.0)]}
    predictions[f"parametric (w = {model.w.data[0]:.2f})"] = model(x_test, keys, values)
    paths = [
        _plot_fit(x_test, predictions, x_train, y_train, out_dir / OUTPUTS[0]),
        plots.show_attention(model.attention_weights, out_dir / OUTPUTS[1],
                             title="parametric Nadaraya-Watson: query x (rows) vs training x_i (columns)"),
        plots.plot_loss({"train MSE": losses}, out_dir / OUTPUTS[2], title="learning the kernel width w"),
    ]
    mse = {name.split(" (")[0]: float(np.mean((y_hat - truth(x_test)) ** 2)) for name, y_hat in predictions.items()}
    return {"paths": paths, "losses": losses, "w": float(model.w.data[0]), "mse": mse}


def main(argv=None):
    """``python -m numpy_attn.tasks.kernel_regression``, under the rules of every command (``commands``)."""
    parser = commands.ArgumentParser(prog="python -m numpy_attn.tasks.kernel_regression",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help=commands.out_help(OUTPUTS))
    parser.add_argument("--n", type=commands.integer(2), default=50, help="training points")
    commands.add_options(parser, seed=0, epochs=5, lr=0.5)
    parser.set_defaults(run=_run, prog=parser.prog)
    return commands.run(parser, argv)


def _run(args):
    result = fit_and_plot(args.out, args.n, args.seed, args.epochs, args.lr)
    print(f"learned w = {result['w']:.4f}; training loss {result['losses'][0]:.3f} -> {result['losses'][-1]:.3f}")
    for name, err in result["mse"].items():
        print(f"test MSE against the truth, {name}: {err:.4f}")
    for path in result["paths"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
