"""Reader for ``.npz`` archives that hold a split as two arrays, ``X`` and ``y``.

X: (N, T) or (N, T, C) numbers. A series shorter than T is padded at its end with NaN in every channel,
so series n ends after its last step that has a value in some channel; a NaN before that is a missing value.
y: (N,) class labels, strings or integers (an integer label 3 becomes the label "3").

The archive is opened with ``allow_pickle=False``: arrays of Python objects are refused, since unpickling
runs code from the file.
"""

import zipfile

import numpy as np

from .series import LabelledSeries
from .values import check_missing_option, fill_missing, place, trim_padding


def read_npz(path, missing="error"):
    """Read an ``.npz`` archive into a ``LabelledSeries``: X (N, T, C) float32 zero-padded, lengths (N,),
    labels (N,) str.

    missing: "error" (refuse a NaN inside a series) or "interpolate" (see ``values.fill_missing``).
    A bad archive raises one ValueError naming the file and, where it applies, the series.
    """
    check_missing_option(missing)
    X, y = _load(path)
    X = _check_X(path, X)
    labels = _check_y(path, y, len(X))
    places = [_series(path, n) for n in range(len(X))]
    cases = [fill_missing(trim_padding(series, at), missing, at) for series, at in zip(X, places)]
    return LabelledSeries.from_cases(cases, labels, path)


def _series(path, n):
    return f"{path} series {n + 1} (X[{n}])"


def _load(path):
    with open(path, "rb") as f:
        if not zipfile.is_zipfile(f):
            raise ValueError(f"{path}: expected an .npz archive (a zip of .npy arrays), got another kind of file")
    with np.load(path, allow_pickle=False) as archive:
        if not {"X", "y"} <= set(archive.files):
            raise ValueError(f"{path}: expected arrays 'X' and 'y', got {sorted(archive.files)}")
        return _array(path, archive, "X"), _array(path, archive, "y")


def _array(path, archive, key):
    try:
        return archive[key]
    except ValueError:  # NumPy refuses an array of Python objects when pickle is off
        raise ValueError(f"{path}: {key!r} holds Python objects; expected an array of numbers or strings") from None


def _check_X(path, X):
    """X -> (N, T, C) float64 with N, T, C >= 1 and no infinity."""
    if X.dtype.kind not in "fiu" or X.ndim not in (2, 3):
        raise ValueError(f"{path}: 'X': expected an (N, T) or (N, T, C) array of numbers, got {X.dtype} {X.shape}")
    X = (X[:, :, None] if X.ndim == 2 else X).astype(np.float64)
    if 0 in X.shape:
        raise ValueError(f"{path}: 'X': expected at least one series, step and channel, got shape {X.shape}")
    if np.isinf(X).any():
        n, t, c = np.argwhere(np.isinf(X))[0]
        at = f"{_series(path, n)}: {place(t, c if X.shape[2] > 1 else None)}"
        raise ValueError(f"{at}: expected a finite number, got {X[n, t, c]}")
    return X


def _check_y(path, y, n):
    """y -> (n,) str labels."""
    if y.dtype.kind not in "Uiu" or y.shape != (n,):
        raise ValueError(
            f"{path}: 'y': expected ({n},) class labels as strings or integers, got {y.dtype} {y.shape}"
            + ("; if they are whole numbers, store y.astype(np.int64)" if y.dtype.kind == "f" else "")
        )
    return y.astype(str)
