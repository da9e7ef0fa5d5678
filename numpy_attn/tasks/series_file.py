"""Read one long series, possibly with per-step anomaly labels, from a file.

Formats:
- a TimeEval / UCR-anomaly-archive CSV: a header row ``timestamp,value,is_anomaly`` (several value
  columns for several channels; the ``is_anomaly`` column optional). The timestamp column is skipped
  unread (it may hold dates), ``is_anomaly`` gives the labels (0 or 1);
- a CSV of numbers, one row per time step and one column per channel (one value per line for one
  channel), with or without a header row;
- a ``.npy`` of shape (T,) or (T, C) (never unpickled).
Blank lines and lines starting with ``#`` (the archives' comments) are skipped. A bad file raises one
ValueError naming the file, the line and what was expected.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TIMESTAMP, LABEL = "timestamp", "is_anomaly"


@dataclass(frozen=True, eq=False)
class LongSeries:
    """values: (T, C) float64; labels: (T,) int 0/1, or None when the file has none; path: where it came from."""

    values: np.ndarray
    labels: np.ndarray | None
    path: str


def read_long_series(path):
    """The series in ``path`` (.npy, or a CSV in any of the formats above) as a ``LongSeries``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    values, labels = _read_npy(path) if path.suffix == ".npy" else _read_csv(path)
    if len(values) < 2:
        raise ValueError(f"{path}: expected a series of at least 2 time steps, got {len(values)}")
    return LongSeries(values, labels, str(path))


def _read_npy(path):
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy array of numbers ({err})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu" or x.ndim not in (1, 2):
        what = f"dtype {x.dtype}, shape {x.shape}" if isinstance(x, np.ndarray) else "an .npz archive"
        raise ValueError(f"{path}: expected an array of numbers of shape (T,) or (T, C), got {what}")
    if len(x) < 2 or x.size == 0:
        raise ValueError(f"{path}: expected a series of at least 2 time steps, got shape {x.shape}")
    x = x.astype(np.float64).reshape(len(x), -1)
    if not np.isfinite(x).all():
        step = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ValueError(f"{path}: expected finite numbers, got NaN or inf at time step {step}")
    return x, None


def _read_csv(path):
    """(values (T, C), labels (T,) or None) from a CSV; columns chosen by the header when there is one."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: expected a text CSV file, got bytes that are not UTF-8") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise ValueError(f"{path}: expected rows of comma-separated numbers, got no data lines")
    first = [f.strip().lower() for f in lines[0][1].split(",")]
    header = not all(_is_number(f) for f in first)
    names = first if header else [f"value{i}" for i in range(len(first))]
    rows = lines[1:] if header else lines
    if not rows:
        raise ValueError(f"{path}: expected rows of numbers after the header line {lines[0][0]}, got none")
    keep = [i for i, name in enumerate(names) if name != TIMESTAMP]
    table = np.array([_parse_row(path, n, line, names, keep) for n, line in rows])  # (T, len(keep))
    kept = [names[i] for i in keep]
    if LABEL not in kept:
        return table, None
    label = kept.index(LABEL)
    labels = table[:, label]
    if not np.isin(labels, (0.0, 1.0)).all():
        row = int(np.flatnonzero(~np.isin(labels, (0.0, 1.0)))[0])
        raise ValueError(f"{path}, line {rows[row][0]}: expected {LABEL} 0 or 1, got {labels[row]:g}")
    values = np.delete(table, label, axis=1)
    if values.shape[1] == 0:
        raise ValueError(f"{path}, line {lines[0][0]}: expected at least one value column beside {LABEL}")
    return values, labels.astype(int)


def _parse_row(path, line_number, line, names, keep):
    fields = line.split(",")
    if len(fields) != len(names):
        raise ValueError(f"{path}, line {line_number}: expected {len(names)} comma-separated fields "
                         f"({','.join(names)}), got {len(fields)}: {line[:80]!r}")
    try:
        row = [float(fields[i]) for i in keep]
    except ValueError:
        raise ValueError(f"{path}, line {line_number}: expected numbers in the columns "
                         f"{','.join(names[i] for i in keep)}, got {line[:80]!r}") from None
    if not np.isfinite(row).all():
        raise ValueError(f"{path}, line {line_number}: expected finite numbers, got {line[:80]!r}")
    return row


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True
