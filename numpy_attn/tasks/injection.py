"""Anomalies injected into windows of a normal series, to train a detector when only normal data exists.

Every function takes one channel of a window, x (L,), in standard units of the normal series
(z = (value - mean) / std, so 0 is the normal level and 1 its spread), and a ``numpy.random.Generator``;
it draws a span ``[start, end)``, returns (a changed copy of x, (start, end)) and touches nothing outside
the span. The same generator state gives the same result.

The synthetic generator's kinds (``tasks/synthetic.py``), in standard units:

    flat   x[s:e] = x[s]                the signal freezes
    zero   x[s:e] = 0                   a dropout to the normal level
    noise  x[s:e] ~ N(0, 1)             Gaussian noise with the normal series' spread
    spike  x[s:s+3] = +-3 sqrt(2)       a 3-sample burst to 3 amplitudes (a sine of spread 1 has amplitude sqrt 2)

and the kinds real signals show, each made of values the signal could take; scale and warp come on and
go off gradually, as such changes do in a physical signal (no jump, no kink at the span's ends):

    scale  x[s:e] = m + g (x[s:e] - m)       the swings around the span's mean m amplified: g eases from 1
                                             to a in [1.5, 2] (or 1/a) and back (``ease``) over a quarter
                                             of the span at each end
    copy   x[s:e] = source[u : u + e - s]    a stretch copied from elsewhere in the series (u uniform)
    warp   x[s + i] = x(s + n h(i / n))      the span played slower then faster (or the reverse), ending
                                             where it started: h(u) = u + c (cos 2 pi u - 1) / (2 pi), so
                                             its speed h'(u) = 1 - c sin 2 pi u falls to 1/a and rises to
                                             2 - 1/a, c = +-(1 - 1/a), a as for scale (linear interpolation
                                             between samples)
    tempo  x[k] = source(u + k / a)          the whole window from a stretch of the normal series played a
                                             times slower, a in [1.3, 2] (TEMPO_FACTOR), u uniform where it
                                             fits (linear interpolation): a slower pulse, each beat whole

Span lengths are drawn as a share of L: SHORT_SPAN for flat, zero and noise (the generator's range, from a
shorter start so a burst of a dozen samples in a period of 200 is in range), LONG_SPAN for scale, copy and
warp (a change of character can last the whole window); a spike spans SPIKE_WIDTH samples, a tempo change
the whole window. Tempo is slower only: a quicker pulse has steeper edges, which the spikes, the noise, the
copies' jumps and the warp's quick half already teach; a window of a steady slower tempo has every slope
smaller and no quick part, and nothing else teaches that smaller is wrong (docs/detection.md).
"""

import numpy as np

from .synthetic import MIN_SPAN, SPIKE_HEIGHT, SPIKE_WIDTH

SHORT_SPAN = (0.05, 0.5)  # span / window length, flat, zero, noise
LONG_SPAN = (0.2, 1.0)  # span / window length, scale, copy, warp
FACTOR = (1.5, 2.0)  # amplitude (scale) and slowest speed (warp) factors: a in FACTOR, or 1 / a
TEMPO_FACTOR = (1.3, 2.0)  # tempo's slowing a: milder changes than scale's, as a heart rate's, down to 1.3


def _draw_span(L, rng, share):
    """A span [start, end) of a window of L samples: length round(u L), u ~ U(share), at least MIN_SPAN,
    placed uniformly."""
    n = int(np.clip(round(rng.uniform(*share) * L), MIN_SPAN, L))
    start = int(rng.integers(0, L - n + 1))
    return start, start + n


def _factor(rng):
    """a ~ U(FACTOR), inverted with probability 1/2: a change up or down by the same ratio."""
    a = rng.uniform(*FACTOR)
    return a if rng.random() < 0.5 else 1.0 / a


def ease(n):
    """(n,) weights that rise from 0 to 1 over the first n // 4 samples (a half cosine), hold 1, and fall back
    over the last n // 4; the first and last weights are already above 0, so the span's ends change too."""
    ramp = n // 4
    up = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, ramp + 1) / (ramp + 1))
    return np.concatenate([up, np.ones(n - 2 * ramp), up[::-1]])


def _check_window(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2 * MIN_SPAN:
        raise ValueError(f"injection: expected one channel of a window, shape (L,) with L >= {2 * MIN_SPAN}, "
                         f"got {x.shape}")
    return x.copy()


def inject_flat(x, rng):
    """x[s:e] = x[s], span SHORT_SPAN of the window. Returns (y, (s, e))."""
    y = _check_window(x)
    s, e = _draw_span(len(y), rng, SHORT_SPAN)
    y[s:e] = y[s]
    return y, (s, e)


def inject_zero(x, rng):
    """x[s:e] = 0 (the normal level), span SHORT_SPAN of the window. Returns (y, (s, e))."""
    y = _check_window(x)
    s, e = _draw_span(len(y), rng, SHORT_SPAN)
    y[s:e] = 0.0
    return y, (s, e)


def inject_noise(x, rng):
    """x[s:e] ~ N(0, 1) (the normal spread), span SHORT_SPAN of the window. Returns (y, (s, e))."""
    y = _check_window(x)
    s, e = _draw_span(len(y), rng, SHORT_SPAN)
    y[s:e] = rng.standard_normal(e - s)
    return y, (s, e)


def inject_spike(x, rng):
    """x[s:s+3] = +-3 sqrt(2), the sign drawn. Returns (y, (s, e))."""
    y = _check_window(x)
    s = int(rng.integers(0, len(y) - SPIKE_WIDTH + 1))
    y[s : s + SPIKE_WIDTH] = rng.choice([-1.0, 1.0]) * SPIKE_HEIGHT * np.sqrt(2.0)
    return y, (s, s + SPIKE_WIDTH)


def scale_span(x, start, end, factor):
    """x (T,) or (T, C) with the swings on [start, end) around their mean m scaled, eased in and out:
    x_t <- m + (1 + (factor - 1) w_t) (x_t - m), w = ``ease(end - start)``. Returns a copy."""
    y = np.array(x, dtype=np.float64)
    m = y[start:end].mean(axis=0)
    w = ease(end - start).reshape(-1, *([1] * (y.ndim - 1)))  # (n,) or (n, 1)
    y[start:end] = m + (1.0 + (factor - 1.0) * w) * (y[start:end] - m)
    return y


def inject_scale(x, rng):
    """The swings of a LONG_SPAN stretch times a or 1/a (``scale_span``). Returns (y, (s, e))."""
    y = _check_window(x)
    s, e = _draw_span(len(y), rng, LONG_SPAN)
    return scale_span(y, s, e, _factor(rng)), (s, e)


def inject_copy(x, rng, source):
    """x[s:e] = a LONG_SPAN stretch of ``source`` (T,), the same channel of the normal series, from a uniform
    place. Returns (y, (s, e))."""
    y = _check_window(x)
    source = np.asarray(source, dtype=np.float64)
    s, e = _draw_span(min(len(y), len(source)), rng, LONG_SPAN)
    u = int(rng.integers(0, len(source) - (e - s) + 1))
    y[s:e] = source[u : u + e - s]
    return y, (s, e)


def inject_warp(x, rng):
    """A LONG_SPAN stretch played slower then faster, or faster then slower (module docstring). Returns (y, (s, e))."""
    y = _check_window(x)
    s, e = _draw_span(len(y), rng, LONG_SPAN)
    c = (1.0 - 1.0 / rng.uniform(*FACTOR)) * rng.choice([-1.0, 1.0])
    u = np.arange(e - s) / (e - s)
    read = s + (e - s) * (u + c * (np.cos(2 * np.pi * u) - 1.0) / (2 * np.pi))  # in [s, e): h is monotone
    y[s:e] = np.interp(read, np.arange(len(y)), y)
    return y, (s, e)


def inject_tempo(x, rng, source):
    """The whole window replaced by ``source`` (T,), the same channel of the normal series, played a times
    slower: y_k = source(u + k / a), k = 0 .. L-1, a ~ U(TEMPO_FACTOR), u uniform over the places where it
    fits (linear interpolation). Returns (y, (0, L))."""
    y = _check_window(x)
    source, L = np.asarray(source, dtype=np.float64), len(y)
    if len(source) < L:
        raise ValueError(f"tempo: the source ({len(source)} steps) is shorter than the window ({L} steps)")
    speed = 1.0 / rng.uniform(*TEMPO_FACTOR)
    u = rng.uniform(0.0, len(source) - 1 - speed * (L - 1))
    return np.interp(u + speed * np.arange(L), np.arange(len(source)), source), (0, L)


INJECTIONS = {"flat": inject_flat, "zero": inject_zero, "noise": inject_noise, "spike": inject_spike,
              "scale": inject_scale, "copy": inject_copy, "warp": inject_warp, "tempo": inject_tempo}
INJECTION_KINDS = tuple(INJECTIONS)
SOURCE_KINDS = ("copy", "tempo")  # the kinds that read the normal series


def inject(window, kind, rng, source):
    """Inject ``kind`` into one channel, drawn uniformly, of window (L, C) (standard units).

    source: (T, C) the normal series the window came from (``copy`` and ``tempo`` read it). Returns (the
    changed copy (L, C), (start, end), channel).
    """
    window = np.asarray(window, dtype=np.float64)
    channel = int(rng.integers(window.shape[1]))
    extra = {"source": np.asarray(source)[:, channel]} if kind in SOURCE_KINDS else {}
    y, span = INJECTIONS[kind](window[:, channel], rng, **extra)
    out = window.copy()
    out[:, channel] = y
    return out, span, channel
