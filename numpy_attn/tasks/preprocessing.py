"""Preprocessing shared by the tasks: a seeded train/validation/test split and per-channel standardisation."""

from dataclasses import dataclass

import numpy as np

from .._validate import as_float_array, as_generator, as_int, is_real


def train_val_test_split(n, fractions=(0.7, 0.15, 0.15), rng=None):
    """Shuffle ``range(n)`` and cut it into train, validation and test index arrays (each sorted).

    fractions: three non-negative numbers summing to 1; the cuts are at round(n * cumulative fraction), so
    the defaults give 3500 / 750 / 750 for n = 5000 (the seed's 70 / 15 / 15). Disjoint and covering.
    """
    n = as_int(n, "n", 1)
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions: expected three non-negative numbers summing to 1, got {fractions.tolist()}")
    order = as_generator(rng).permutation(n)
    cuts = np.round(np.cumsum(fractions[:2]) * n).astype(int)
    return tuple(np.sort(part) for part in np.split(order, cuts))


@dataclass(frozen=True, eq=False)
class StandardScaler:
    """Per-channel standardisation fitted on the training series: x' = (x - mean_c) / scale_c.

    mean, scale: (C,). The seed's amplitudes reach 10; an LSTM's gates saturate on such inputs, so the
    training recipe scales them to about unit size. Fit on the training split only, so validation and test
    statistics do not leak into training. A channel with zero spread gets scale 1 (it is only centred).
    """

    mean: np.ndarray
    scale: np.ndarray

    def transform(self, X):
        """X: (N, T, C) -> (N, T, C) in X's dtype."""
        X = as_float_array(X, "StandardScaler.transform X", ndim=3)
        if X.shape[-1] != len(self.mean):
            raise ValueError(f"StandardScaler.transform X: expected {len(self.mean)} channel(s), got shape {X.shape}")
        return ((X - self.mean) / self.scale).astype(X.dtype)

    def to_dict(self):
        """Plain lists, ready for JSON (e.g. a checkpoint's meta)."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d):
        try:
            mean, scale = np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            expected = "{'mean': [...], 'scale': [...]}"
            raise ValueError(f"StandardScaler.from_dict: expected {expected}, got {d!r}") from None
        if mean.ndim != 1 or mean.shape != scale.shape or not (scale > 0).all():
            raise ValueError(f"StandardScaler.from_dict: expected equal-length mean and positive scale, got {d!r}")
        return cls(mean, scale)


def fit_scaler(X_train):
    """A ``StandardScaler`` with the mean and standard deviation of each channel over all series and steps.

    X_train: (N, T, C).
    """
    X = as_float_array(X_train, "fit_scaler X_train", ndim=3).astype(np.float64)
    std = X.std(axis=(0, 1))
    return StandardScaler(mean=X.mean(axis=(0, 1)), scale=np.where(std > 0, std, 1.0))


def stratified_split(y, fraction, rng=None):
    """Split series by their labels y (N,) into (train, validation) index arrays, each sorted, with about
    ``fraction`` of every class in validation, for the small training sets of the archive datasets.

    Class by class: of its n series, round(fraction * n) drawn with ``rng`` go to validation, but never all
    n, so every class keeps at least one series in training (a class of one series has none in
    validation). Disjoint and covering. With small classes and a small fraction the validation split can
    be empty: train without one then (``fit`` with X_val=None).
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y: expected N >= 1 labels, got shape {y.shape}")
    if not (is_real(fraction) and 0 <= fraction < 1):
        raise ValueError(f"fraction: expected a number in [0, 1), got {fraction!r}")
    rng = as_generator(rng)
    val = [rng.permutation(members)[:min(int(np.round(fraction * len(members))), len(members) - 1)]
           for members in (np.flatnonzero(y == label) for label in np.unique(y))]
    val = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(y)), val), val
