"""The numbers of a data file, and what to do with missing ones.

A value is a decimal number; ``?`` or NaN (any case) marks a missing one. Missing values are refused unless
a reader is called with ``missing="interpolate"``: each gap is then filled by linear interpolation between the
valid values on either side, within its own series and channel, and a gap at either end holds the nearest
valid value. Infinities are always refused.
"""

import numpy as np

MISSING_OPTIONS = ("error", "interpolate")


def check_missing_option(missing):
    if missing not in MISSING_OPTIONS:
        raise ValueError(f"missing: expected 'error' or 'interpolate', got {missing!r}")


def place(step, channel=None):
    """Where a value stands in its series, counted from 1 as in the file: "value 5" or "channel 2, value 5"."""
    return f"value {step + 1}" if channel is None else f"channel {channel + 1}, value {step + 1}"


def parse_values(tokens, at, channel=None):
    """Number strings -> (len(tokens),) float64, NaN where missing.

    at: where they stand ("<file> line <n>"), to start an error; channel: their channel (0-based), None for a
    univariate series.
    """
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:  # a '?' or something that is not a number: go one by one to tell which
        values = np.array([_parse_value(token, at, place(i, channel)) for i, token in enumerate(tokens)])
    infinite = np.isinf(values)
    if infinite.any():
        i = int(np.argmax(infinite))
        raise ValueError(f"{at}: {place(i, channel)}: expected a finite number, got {tokens[i].strip()!r}")
    return values


def _parse_value(token, at, value_place):
    if token.strip() == "?":
        return np.nan
    try:
        return float(token)
    except ValueError:
        got = token.strip()
        raise ValueError(f"{at}: {value_place}: expected a number or '?' (missing), got {got!r}") from None


def trim_padding(series, at):
    """series: (T, C) float64 -> its steps up to the last one with a value in some channel: trailing NaNs pad a
    shorter series to the common length (the UCR 2018 archive's convention), so they end it. at: as above."""
    present = np.flatnonzero(~np.isnan(series).all(axis=1))
    if not present.size:
        raise ValueError(f"{at}: expected at least one value, got only NaN")
    return series[: present[-1] + 1]


def fill_missing(series, missing, at):
    """series: (T, C) float64, NaN where missing -> (T, C) without gaps, per ``missing`` (see the module docstring).

    at: where the series stands in its file, to start an error.
    """
    gaps = np.isnan(series)
    if not gaps.any():
        return series
    univariate = series.shape[1] == 1
    if missing == "error":
        step, channel = np.argwhere(gaps)[0]
        raise ValueError(
            f"{at}: {place(step, None if univariate else channel)} is missing ('?' or NaN); missing values are "
            "refused unless you pass missing='interpolate' (linear interpolation within the series, edges held)"
        )
    filled = series.copy()
    steps = np.arange(len(series))
    for channel in np.flatnonzero(gaps.any(axis=0)):
        valid = ~gaps[:, channel]
        if not valid.any():
            whole = "the series" if univariate else f"channel {channel + 1}"
            raise ValueError(f"{at}: {whole} has only missing values, nothing to interpolate from")
        filled[:, channel] = np.interp(steps, steps[valid], series[valid, channel])
    return filled
