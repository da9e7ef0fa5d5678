"""The containers every reader returns: one split (``LabelledSeries``) and a named train/test pair (``Dataset``).

Layout: series of different lengths share one zero-padded array, ``X[n, :lengths[n]]`` is series n and
``X[n, lengths[n]:]`` is 0.0. Labels stay the strings written in the file; ``Dataset.encode`` turns them into
int64 indices into ``class_names``, which are sorted numbers first (by value, so "-1" < "2" < "10"), then
the other labels in natural order ("a2" < "a10").
"""

import re
from dataclasses import dataclass

import numpy as np

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True, eq=False)
class LabelledSeries:
    """One split of a classification dataset.

    X: (N, T, C) float32, T = the longest series; steps past a series' length are 0.0.
    lengths: (N,) int64, each series' own length, 1 <= lengths <= T.
    labels: (N,) str, the class label of each series as written in the file.
    source: the file it came from.
    """

    X: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    source: str

    def __post_init__(self):
        if self.X.ndim != 3 or self.X.dtype != np.float32:
            got = f"{self.X.dtype} {self.X.shape}"
            raise ValueError(f"LabelledSeries X: expected an (N, T, C) float32 array, got {got}")
        check_lengths(self.lengths, "LabelledSeries lengths", self.X.shape)
        if self.lengths.dtype != np.int64:
            raise ValueError(f"LabelledSeries lengths: expected int64, got {self.lengths.dtype}")
        if self.labels.shape != self.lengths.shape or self.labels.dtype.kind != "U":
            got = f"{self.labels.dtype} {self.labels.shape}"
            raise ValueError(f"LabelledSeries labels: expected {self.lengths.shape} str, got {got}")

    @classmethod
    def from_cases(cls, cases, labels, source):
        """Pad ``cases`` (a non-empty list of (T_n, C) float arrays, C shared) with zeros into one split;
        labels: N strings; source: the file they came from."""
        lengths = np.array([len(case) for case in cases], dtype=np.int64)
        X = np.zeros((len(cases), lengths.max(), cases[0].shape[1]), dtype=np.float32)
        for n, case in enumerate(cases):
            X[n, : len(case)] = case
        return cls(X, lengths, np.array(labels, dtype=str), str(source))


def check_lengths(lengths, name, shape):
    """lengths: (N,) integers in [1, T] for series of shape (N, T, C); else a ValueError naming ``name``."""
    n, t = shape[:2]
    if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected ({n},) integers, got {lengths.dtype} {lengths.shape}")
    if n and (lengths.min() < 1 or lengths.max() > t):
        raise ValueError(f"{name}: expected lengths in [1, {t}], got {lengths.min()}..{lengths.max()}")


def sort_labels(labels):
    """The distinct labels as a tuple: numbers by value first, then the rest in natural order ("a2" < "a10")."""
    return tuple(sorted(set(labels), key=_label_key))


def _label_key(label):
    if _NUMBER.fullmatch(label):
        return (0, float(label), label)
    # re.split with a group alternates text (even places) and digit runs (odd places), so keys compare part by part
    parts = _DIGITS.split(label)
    return (1, [int(p) if i % 2 else p for i, p in enumerate(parts)], label)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset: a training and a test split and the class names they share.

    class_names: the sorted declared labels (see the module docstring for the order); the class index of a
    label is its place in this tuple. Every label of both splits is one of them.
    """

    name: str
    train: LabelledSeries
    test: LabelledSeries
    class_names: tuple

    def __post_init__(self):
        for split in (self.train, self.test):
            unknown = set(split.labels.tolist()) - set(self.class_names)
            if unknown:
                raise ValueError(f"{split.source}: class label {min(unknown)!r} is not one of {self.class_names}")

    @classmethod
    def from_splits(cls, name, train, test, class_labels=None):
        """A Dataset whose class names are ``class_labels`` (e.g. a header's declared labels), sorted;
        None takes the labels that occur in the two splits."""
        if class_labels is None:
            class_labels = np.concatenate([train.labels, test.labels]).tolist()
        return cls(name, train, test, sort_labels(class_labels))

    def encode(self, labels):
        """Labels (str array of any shape) -> int64 class indices into ``class_names``, same shape."""
        labels = np.asarray(labels)
        if labels.dtype.kind != "U":
            raise TypeError(f"Dataset.encode labels: expected str labels, got dtype {labels.dtype}")
        index = {name: i for i, name in enumerate(self.class_names)}
        distinct, inverse = np.unique(labels.ravel(), return_inverse=True)
        unknown = [label for label in distinct.tolist() if label not in index]
        if unknown:
            raise ValueError(f"Dataset.encode: unknown class label {unknown[0]!r}; class names {self.class_names}")
        codes = np.array([index[label] for label in distinct.tolist()], dtype=np.int64)
        return codes[inverse].reshape(labels.shape)

    @property
    def X_train(self):
        return self.train.X

    @property
    def y_train(self):
        return self.encode(self.train.labels)

    @property
    def lengths_train(self):
        return self.train.lengths

    @property
    def X_test(self):
        return self.test.X

    @property
    def y_test(self):
        return self.encode(self.test.labels)

    @property
    def lengths_test(self):
        return self.test.lengths
