"""Synthetic anomaly data: sine waves, some with an inserted anomalous segment.

The seed's task. Each series is a clean signal ``amp * sin(freq * t)`` on ``t = linspace(0, 2 pi, T)`` with
``freq ~ U(freq)`` and ``amp ~ U(amp)``; a series is normal with probability ``normal_ratio``, otherwise one
segment ``[start, end)`` of it is replaced:

    start = min(int(loc_ratio * T), T - 1),                      loc_ratio ~ U(loc_ratio)
    end   = min(start + max(int(length_ratio * T), MIN_SPAN), T),   length_ratio ~ U(length_ratio)

Anomaly kinds (``anomalies`` picks which; each anomalous series draws one uniformly):

    flat   x[start:end] = x[start]                 the seed's: the signal freezes at its value at ``start``
    zero   x[start:end] = 0                        a dropout to zero
    noise  x[start:end] ~ N(0, amp^2 / 2)          Gaussian noise with the RMS of the sine it replaces
                                                   (amp / sqrt 2), so it stands out by shape, not by energy
    spike  x[start:start+3] = +-3 amp              a short burst (sign drawn per series); its span is those
                                                   SPIKE_WIDTH samples and ``length_ratio`` is not used

Spans are half-open ``[start, end)`` index pairs. A normal series has span ``(0, 0)``: an empty interval, so
``alpha[start:end].sum()`` is 0 with no special case, and ``end > start`` exactly for the anomalous series.
MIN_SPAN = 2 and the clamp of start only matter for short series (the seed's int() could round a span to
nothing there, or a flat span to its one unchanged sample); at the seed's sizes this is the seed's rule.

Multivariate (``channels=C``): channel c is a sine (c % 3 == 0), a cosine (c % 3 == 1) or a random walk
(c % 3 == 2), each with its own freq and amp; the anomaly goes into one channel drawn uniformly.
The random walk is ``amp * cumsum(z) / sqrt(T)``, z ~ N(0, 1), so it wanders over about +-amp like the waves.

Reproducibility: the clean signals are drawn first and depend only on ``rng``, ``n_samples``, ``length``,
``channels``, ``freq`` and ``amp``, so the same seed with ``normal_ratio=1`` gives the clean twin of every
series (useful for plots and tests).
"""

from dataclasses import dataclass

import numpy as np

from .._validate import as_generator, as_index_array, as_int

ANOMALY_KINDS = ("flat", "zero", "noise", "spike")
SPIKE_WIDTH = 3  # samples in a spike
SPIKE_HEIGHT = 3.0  # spike value as a multiple of the series' amplitude
MIN_SPAN = 2  # shortest anomalous span (samples), where the series is long enough


@dataclass(frozen=True, eq=False)
class AnomalyDataset:
    """Series and their ground truth, all indexed by series n.

    X: (N, T, C) the series; y: (N,) 1.0 anomalous / 0.0 normal, in X's dtype;
    spans: (N, 2) int [start, end) of the anomaly, (0, 0) for normal series;
    kinds: (N,) str, the anomaly kind ("flat", "zero", "noise", "spike"), "none" for normal series;
    channels: (N,) int, the channel that holds the anomaly, -1 for normal series.
    """

    X: np.ndarray
    y: np.ndarray
    spans: np.ndarray
    kinds: np.ndarray
    channels: np.ndarray

    def __len__(self):
        return len(self.y)

    def subset(self, idx):
        """The series at ``idx`` (an index array or a boolean mask), every field taken alike."""
        idx = np.asarray(idx)
        if idx.dtype != bool:
            idx = as_index_array(idx, "subset idx", len(self))
        return AnomalyDataset(self.X[idx], self.y[idx], self.spans[idx], self.kinds[idx], self.channels[idx])


def make_anomaly_dataset(
    n_samples=5000,
    length=500,
    normal_ratio=0.5,
    freq=(1, 4),
    amp=(1, 10),
    loc_ratio=(0.0, 0.9),
    length_ratio=(0.1, 0.5),
    anomalies=("flat",),
    channels=1,
    rng=None,
    dtype=np.float32,
):
    """Draw the seed's dataset (its defaults: 5000 series of 500 samples, half anomalous, flat segments).

    freq, amp, loc_ratio, length_ratio: (low, high) ranges of uniform draws; anomalies: a kind or a tuple
    of kinds from ``ANOMALY_KINDS``; rng: seed or Generator. Returns an ``AnomalyDataset`` with X (N, T, C).
    """
    n, T = as_int(n_samples, "n_samples", 1), as_int(length, "length", 2)
    C = as_int(channels, "channels", 1)
    _check_ratio(normal_ratio, "normal_ratio")
    freq, amp = _check_range(freq, "freq", lo=0.0), _check_range(amp, "amp", lo=0.0, strict=True)
    loc_ratio = _check_range(loc_ratio, "loc_ratio", lo=0.0, hi=1.0)
    length_ratio = _check_range(length_ratio, "length_ratio", lo=0.0, hi=1.0)
    anomalies = _check_kinds(anomalies)
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"dtype: expected a floating-point dtype, got {np.dtype(dtype)}")
    rng = as_generator(rng)

    # Clean signals first (see the module docstring: they do not depend on the anomaly settings).
    amps = rng.uniform(*amp, size=(n, C))
    X = _clean_signals(rng.uniform(*freq, size=(n, C)), amps, T, rng)  # (N, T, C)

    # Which series are anomalous, where, what kind, in which channel.
    y = rng.random(n) >= normal_ratio  # the seed's rule: rand < normal_ratio is normal
    start = np.minimum((rng.uniform(*loc_ratio, size=n) * T).astype(int), T - 1)
    span = np.maximum((rng.uniform(*length_ratio, size=n) * T).astype(int), MIN_SPAN)
    kind_index = rng.integers(len(anomalies), size=n)
    channel = rng.integers(C, size=n)
    sign = rng.choice([-1.0, 1.0], size=n)
    kinds = np.where(y, np.array(anomalies)[kind_index], "none")
    span = np.where(kinds == "spike", SPIKE_WIDTH, span)
    end = np.minimum(start + span, T)

    rows = np.flatnonzero(y)
    amp_hit = amps[rows, channel[rows]]  # (n_anomalous,) amplitude of the channel hit
    in_span = (np.arange(T) >= start[rows, None]) & (np.arange(T) < end[rows, None])  # (n_anomalous, T)
    clean = X[rows, :, channel[rows]]  # (n_anomalous, T) a copy: the channel hit, before any edit
    replacement = {
        "flat": lambda: clean[np.arange(len(rows)), start[rows]][:, None],  # x[start] held
        "zero": lambda: 0.0,
        "noise": lambda: rng.normal(0.0, amp_hit[:, None] / np.sqrt(2.0), size=clean.shape),
        "spike": lambda: (SPIKE_HEIGHT * sign[rows] * amp_hit)[:, None],
    }
    edited = clean
    for kind in anomalies:
        hit = in_span & (kinds[rows] == kind)[:, None]
        edited = np.where(hit, replacement[kind](), edited)
    X[rows, :, channel[rows]] = edited

    spans = np.where(y[:, None], np.stack([start, end], axis=1), 0)
    return AnomalyDataset(
        X=X.astype(dtype), y=y.astype(dtype), spans=spans, kinds=kinds, channels=np.where(y, channel, -1)
    )


def _clean_signals(freqs, amps, T, rng):
    """freqs, amps: (N, C) -> (N, T, C): channel c is a sine, a cosine or a random walk as c % 3 is 0, 1, 2."""
    n, C = amps.shape
    t = np.linspace(0.0, 2.0 * np.pi, T)  # (T,)
    X = np.empty((n, T, C))
    for c in range(C):
        if c % 3 == 2:  # random walk: amp * cumsum(z) / sqrt(T), z ~ N(0, 1)
            shape = np.cumsum(rng.standard_normal((n, T)), axis=1) / np.sqrt(T)
        else:
            shape = (np.sin if c % 3 == 0 else np.cos)(freqs[:, c, None] * t)  # (N, T)
        X[:, :, c] = amps[:, c, None] * shape
    return X


def _check_ratio(value, name):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")


def _check_range(value, name, lo=None, hi=None, strict=False):
    """A (low, high) pair with lo <= low <= high <= hi (low > lo when ``strict``)."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a (low, high) pair of numbers, got {value!r}") from None
    lo_ok = lo is None or (low > lo if strict else low >= lo)
    if not (np.isfinite(low) and np.isfinite(high) and low <= high and lo_ok and (hi is None or high <= hi)):
        within = f"{'(' if strict else '['}{lo}, {'inf)' if hi is None else str(hi) + ']'}"
        raise ValueError(f"{name}: expected a (low, high) pair with low <= high, both in {within}, got {value!r}")
    return low, high


def _check_kinds(anomalies):
    kinds = (anomalies,) if isinstance(anomalies, str) else tuple(anomalies)
    unknown = [k for k in kinds if k not in ANOMALY_KINDS]
    if not kinds or unknown or len(set(kinds)) != len(kinds):
        raise ValueError(f"anomalies: expected one or more distinct kinds from {ANOMALY_KINDS}, got {anomalies!r}")
    return kinds
