"""Reader for the UEA/UCR ``.ts`` time-series format, plain or gzip-compressed (``.ts.gz``).

A ``.ts`` file is comment lines (``#``, anywhere), header lines (``@``, tags case-insensitive), ``@data``,
then one case a line: its channels separated by ``:``, their values by ``,``, and the class label last::

    #The data in the archive is just the X-axis.
    @problemName GunPoint
    @timeStamps false
    @missing false
    @univariate true             (a multivariate file: @univariate false and @dimensions 6)
    @equalLength true            (false: each case has its own length, the same in all its channels)
    @seriesLength 150
    @classLabel true 1 2
    @data
    -0.65,-0.64,...,-0.64:2

What is declared is enforced: ``@dimensions`` / ``@univariate true`` fix the number of channels (else the
first case does), ``@seriesLength`` fixes every length unless ``@equalLength false`` (``@equalLength true``
alone makes every case as long as the first), and a label must be one of ``@classLabel``. Time-stamped
series (``@timeStamps true``), files without class labels and the regression format are refused.
"""

from dataclasses import dataclass

import numpy as np

from .lines import TextLines, location
from .series import LabelledSeries
from .values import check_missing_option, fill_missing, parse_values


@dataclass(frozen=True)
class TsHeader:
    """What the header lines of a ``.ts`` file declare; None where a tag is absent.

    class_labels: the labels after ``@classLabel true``, in the file's order.
    """

    problem_name: str | None = None
    timestamps: bool | None = None
    missing: bool | None = None
    univariate: bool | None = None
    dimensions: int | None = None
    equal_length: bool | None = None
    series_length: int | None = None
    class_labels: tuple | None = None


def _boolean(text):
    return {"true": True, "false": False}.get(text.lower())


def _false(text):
    return {"false": False}.get(text.lower())


def _positive_int(text):
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def _name(text):
    return text or None


def _class_labels(text):
    flag, *labels = text.split() or [""]
    return tuple(labels) if flag.lower() == "true" and labels and len(set(labels)) == len(labels) else None


_TAGS = (  # (tag, TsHeader field, parser: the text after the tag -> its value, None when bad, what a good text is)
    ("@problemName", "problem_name", _name, "a name"),
    ("@timeStamps", "timestamps", _false, "false (time-stamped series are not supported)"),
    ("@missing", "missing", _boolean, "true or false"),
    ("@univariate", "univariate", _boolean, "true or false"),
    ("@dimensions", "dimensions", _positive_int, "a positive integer"),
    ("@equalLength", "equal_length", _boolean, "true or false"),
    ("@seriesLength", "series_length", _positive_int, "a positive integer"),
    ("@classLabel", "class_labels", _class_labels, "'true' and the distinct class labels, separated by spaces"),
)
_TAG_BY_KEY = {entry[0].lower(): entry for entry in _TAGS}


def read_ts_header(path):
    """The ``TsHeader`` of a ``.ts`` / ``.ts.gz`` file (reads up to ``@data``)."""
    with TextLines(path) as lines:
        return _read_header(lines)[0]


def read_ts(path, missing="error"):
    """Read a ``.ts`` / ``.ts.gz`` file into a ``LabelledSeries``: X (N, T, C) float32 zero-padded, lengths (N,),
    labels (N,) str as written.

    missing: "error" (refuse ``?`` / NaN) or "interpolate" (see ``values.fill_missing``).
    A file that breaks the format raises one ValueError naming the file and the line.
    """
    check_missing_option(missing)
    with TextLines(path) as lines:
        header, data_lineno = _read_header(lines)
        cases, labels = _read_cases(lines, header, missing)
    if not cases:
        raise ValueError(f"{location(path, data_lineno)}: expected cases after '@data', got none")
    return LabelledSeries.from_cases(cases, labels, path)


def _read_header(lines):
    """Consume ``lines`` up to and including ``@data`` -> (TsHeader, the line number of ``@data``)."""
    values, first_seen = {}, {}
    for lineno, line in lines:
        at = location(lines.path, lineno)
        if line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise ValueError(f"{at}: expected '@data' before the first case, got {line[:40]!r}")
        key, text = (line.split(maxsplit=1) + [""])[:2]
        if key.lower() == "@data":
            return _complete_header(at, values), lineno
        if key.lower() not in _TAG_BY_KEY:
            tags = ", ".join(entry[0] for entry in _TAGS)
            raise ValueError(f"{at}: unknown header line {key!r}; expected one of {tags} or @data")
        tag, field, parse, good = _TAG_BY_KEY[key.lower()]
        if field in values:
            raise ValueError(f"{at}: {tag} appears a second time (first on line {first_seen[field]})")
        values[field], first_seen[field] = parse(text.strip()), lineno
        if values[field] is None:
            raise ValueError(f"{at}: {tag}: expected {good}, got {text.strip()!r}")
    got = "the end of the file" if lines.last_lineno else "an empty file"
    raise ValueError(f"{location(lines.path, max(lines.last_lineno, 1))}: expected '@data', got {got}")


def _complete_header(at, values):
    """The header at ``@data`` (``at``): it must declare class labels and may not contradict itself."""
    header = TsHeader(**values)
    if header.class_labels is None:
        raise ValueError(f"{at}: expected '@classLabel true <labels...>' before '@data', got none")
    if header.univariate and header.dimensions not in (None, 1):
        raise ValueError(f"{at}: @univariate true contradicts @dimensions {header.dimensions}")
    return header


def _read_cases(lines, header, missing):
    """The rest of ``lines`` -> (list of (T_n, C) float64 cases, list of labels)."""
    channels = _declared_channels(header)  # (count, why) or None until the first case
    length = _declared_length(header)  # (length, why), None until the first case, or False: lengths vary
    cases, labels = [], []
    for lineno, line in lines:
        at = location(lines.path, lineno)
        if line.startswith("#"):
            continue
        if line.startswith("@"):
            raise ValueError(f"{at}: expected a case, got the header line {line.split()[0]!r} after '@data'")
        fields, label = _split_case(at, line, header.class_labels)
        channels = channels or (len(fields), f"as on line {lineno}")
        if len(fields) != channels[0]:
            raise ValueError(f"{at}: expected {channels[0]} channel(s) ({channels[1]}), got {len(fields)}")
        series = _parse_channels(at, fields)
        if length is None:
            length = (len(series), f"@equalLength true, as on line {lineno}")
        if length and len(series) != length[0]:
            raise ValueError(f"{at}: expected {length[0]} values ({length[1]}), got {len(series)}")
        cases.append(fill_missing(series, missing, at))
        labels.append(label)
    return cases, labels


def _declared_channels(header):
    """(channel count, the tag that declares it), or None when the header leaves it to the first case."""
    if header.dimensions is not None:
        return header.dimensions, "@dimensions"
    return (1, "@univariate true") if header.univariate else None


def _declared_length(header):
    """(length, the tag that fixes it); None when the first case fixes it (@equalLength true alone); False when
    each case has its own length."""
    if header.equal_length is False:
        return False
    if header.series_length is not None:
        return header.series_length, "@seriesLength"
    return None if header.equal_length else False


def _split_case(at, line, class_labels):
    """A case line -> (its channels' texts, its class label), the label checked against @classLabel."""
    if ":" not in line:
        raise ValueError(f"{at}: expected the values and the class label separated by ':', got no ':'")
    *fields, label = line.split(":")
    label = label.strip()
    if label not in class_labels:
        raise ValueError(f"{at}: class label {label!r} is not declared in @classLabel ({', '.join(class_labels)})")
    return fields, label


def _parse_channels(at, fields):
    """Channel texts ("v,v,...") -> (T, C) float64, NaN where missing; every channel must be as long as the first."""
    indices = range(len(fields)) if len(fields) > 1 else [None]  # a univariate case has no channel to name
    series = [parse_values(field.split(","), at, c) for c, field in zip(indices, fields)]
    for c, values in enumerate(series):
        if len(values) != len(series[0]):
            raise ValueError(
                f"{at}: channel {c + 1} has {len(values)} values, channel 1 has {len(series[0])}; "
                "expected the channels of a case to be equally long"
            )
    return np.stack(series, axis=1)
