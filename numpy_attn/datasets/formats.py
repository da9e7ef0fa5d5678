"""``read``: one entry point for every file format, chosen by the file's ending."""

from pathlib import Path

from .npz import read_npz
from .ts import read_ts
from .ucr import read_ucr

READERS = {  # file ending (lower case) -> reader
    ".ts": read_ts,
    ".ts.gz": read_ts,
    ".tsv": read_ucr,
    ".tsv.gz": read_ucr,
    ".csv": read_ucr,
    ".csv.gz": read_ucr,
    ".npz": read_npz,
}


def read(path, missing="error"):
    """Read one split from ``path`` into a ``LabelledSeries``, with the reader its ending names (``READERS``):
    ``.ts`` (UEA/UCR), ``.tsv`` / ``.csv`` (UCR 2018), ``.npz`` (arrays X and y); text files may be gzipped.

    missing: "error" or "interpolate", passed to the reader.
    """
    name = Path(path).name.lower()
    for ending, reader in READERS.items():
        if name.endswith(ending):
            return reader(path, missing=missing)
    raise ValueError(f"{path}: expected a file ending in {', '.join(READERS)}, got {Path(path).name!r}")
