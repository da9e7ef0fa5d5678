"""The datasets that ship with the package, in ``numpy_attn/datasets/data/<Name>/``.

Classification, from the UCR and UEA archives (``.ts`` files, gzip-compressed, their ``#`` header lines
intact: they say what the data is and whom to cite): GunPoint, ItalyPowerDemand, BasicMotions, JapaneseVowels.
Anomaly detection: KDD-TSAD_135, one long series as two plain TimeEval CSV files (timestamp,value,is_anomaly).
``data/README.md`` gives sizes, provenance and citations.
"""

from pathlib import Path

from .series import Dataset
from .ts import read_ts, read_ts_header

DATA = Path(__file__).resolve().parent / "data"
CLASSIFICATION = ("GunPoint", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels")
ANOMALY = ("KDD-TSAD_135",)


def names():
    """The bundled classification datasets, the names ``load`` takes."""
    return list(CLASSIFICATION)


def bundled_files(name):
    """{"train": Path, "test": Path}: the files of a bundled folder (any of ``CLASSIFICATION + ANOMALY``),
    name case-insensitive."""
    folder = DATA / _match(name, CLASSIFICATION + ANOMALY)
    return {split: _only_file(folder, f"*_{split.upper()}.*") for split in ("train", "test")}


def load(name):
    """The bundled classification dataset ``name`` (case-insensitive) as a ``Dataset``; its class names are the
    labels its training file declares in ``@classLabel``."""
    if str(name).lower() in (folder.lower() for folder in ANOMALY):
        raise ValueError(f"load: {name!r} is a series for anomaly detection; its CSV files are bundled_files({name!r})")
    name = _match(name, CLASSIFICATION)
    files = bundled_files(name)
    train, test = read_ts(files["train"]), read_ts(files["test"])
    return Dataset.from_splits(name, train, test, read_ts_header(files["train"]).class_labels)


def _match(name, choices):
    """The entry of ``choices`` that is ``name`` up to case, or a ValueError listing them."""
    for choice in choices:
        if choice.lower() == str(name).lower():
            return choice
    raise ValueError(f"unknown dataset {name!r}; the bundled ones are {', '.join(choices)}")


def _only_file(folder, pattern):
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(f"{folder}: expected one file matching {pattern!r}, found {[p.name for p in found]}")
    return found[0]
