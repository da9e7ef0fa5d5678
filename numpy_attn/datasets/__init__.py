"""Time-series classification data: readers for the archives' file formats and a few bundled datasets.

    load("GunPoint")          -> Dataset: train and test LabelledSeries, class_names, encode(labels)
    read(path)                -> LabelledSeries from a .ts / .ts.gz, .tsv / .csv (UCR 2018) or .npz file
    znormalize(X, lengths)    -> each series and channel z-normalised over its own valid steps

Every split is a zero-padded (N, T, C) float32 array with each series' own length beside it, and the class
labels as written in the file. A file that breaks its format raises one ValueError that names the file, the
line and what was expected; missing values are refused unless a reader gets ``missing="interpolate"``.

Files: ``series.py`` (LabelledSeries, Dataset), ``ts.py``, ``ucr.py``, ``npz.py`` (one format each),
``formats.py`` (read by ending), ``lines.py`` / ``values.py`` (what the text readers share),
``bundled.py`` (the data shipped in ``data/``), ``normalize.py`` (znormalize).
"""

from .bundled import bundled_files, load, names
from .formats import read
from .normalize import znormalize
from .npz import read_npz
from .series import Dataset, LabelledSeries
from .ts import TsHeader, read_ts, read_ts_header
from .ucr import read_ucr

__all__ = [
    "Dataset",
    "LabelledSeries",
    "TsHeader",
    "bundled_files",
    "load",
    "names",
    "read",
    "read_npz",
    "read_ts",
    "read_ts_header",
    "read_ucr",
    "znormalize",
]
