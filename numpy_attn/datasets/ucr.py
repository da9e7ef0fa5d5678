"""Reader for the UCR 2018 archive's text layout: ``.tsv`` (tab-separated) or ``.csv`` (comma-separated).

One series a line, its class label in the first column and its values after it::

    1	-0.65	-0.64	...	-0.64
    2	-0.78	-0.78	...	NaN	NaN

Univariate. Every line has as many columns as the first: the 2018 archive pads a shorter series at its end
with NaN, so trailing NaNs end a series, and only a NaN (or ``?``) before its last value is a missing value.
A ``.gz`` ending (``.tsv.gz``) is gunzipped on the fly.
"""

from pathlib import Path

from .lines import TextLines, location
from .series import LabelledSeries
from .values import check_missing_option, fill_missing, parse_values, trim_padding

_DELIMITERS = {".tsv": "\t", ".csv": ","}
_DELIMITER_NAMES = {"\t": "tabs", ",": "commas"}


def read_ucr(path, missing="error"):
    """Read a UCR ``.tsv`` / ``.csv`` file into a ``LabelledSeries``: X (N, T, 1) float32 zero-padded, lengths (N,),
    labels (N,) str as written.

    missing: "error" (refuse a missing value inside a series) or "interpolate" (see ``values.fill_missing``).
    A bad file raises one ValueError naming the file and the line.
    """
    check_missing_option(missing)
    delimiter = _delimiter(path)
    cases, labels, first = [], [], None  # first: (values per line, line number) of the first series
    with TextLines(path) as lines:
        for lineno, line in lines:
            at = location(path, lineno)
            label, tokens = _split_row(at, line, delimiter)
            first = first or (len(tokens), lineno)
            if len(tokens) != first[0]:
                expected = f"{first[0]} values after the label (as on line {first[1]})"
                raise ValueError(f"{at}: expected {expected}, got {len(tokens)}")
            cases.append(fill_missing(trim_padding(parse_values(tokens, at)[:, None], at), missing, at))
            labels.append(label)
    if not cases:
        raise ValueError(f"{location(path, 1)}: expected one series a line, got an empty file")
    return LabelledSeries.from_cases(cases, labels, path)


def _delimiter(path):
    suffix = Path(Path(path).name.lower().removesuffix(".gz")).suffix
    if suffix not in _DELIMITERS:
        raise ValueError(f"{path}: expected a .tsv or .csv file (gzipped or not), got {Path(path).name!r}")
    return _DELIMITERS[suffix]


def _split_row(at, line, delimiter):
    """A line -> (its class label, its value texts)."""
    label, *tokens = line.split(delimiter)
    if not label.strip() or not tokens:
        separated = f"separated by {_DELIMITER_NAMES[delimiter]}"
        raise ValueError(f"{at}: expected a class label and then values, {separated}, got {line[:40]!r}")
    return label.strip(), tokens
