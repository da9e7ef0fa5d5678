"""Windows over a long series: where they start, cutting them out, and how long they should be.

A window is the stretch ``[s, s + L)`` of a series (T, C). Sliding by a stride S gives the starts
0, S, 2S, ... up to T - L, and one more window ending exactly at T when the stride does not land there,
so every step of the series is covered by at least one window.

The default length comes from the data, as in the anomaly archive's papers (Wu and Keogh 2021; Ermshaus
et al., "Window size selection in unsupervised time series analytics", 2023, whose ACF method this is):
one window = one period, the lag of the highest peak of the autocorrelation of the normal series.
"""

import numpy as np

from .._validate import as_int

MIN_WINDOW = 16  # a window shorter than this leaves the attention too little to choose from
MAX_WINDOW = 256  # a longer one costs training time and dilutes a short anomaly in its window
FALLBACK_WINDOW = 64  # the length when the normal series shows no period (noise, a random walk)
WINDOWS_IN_NORMAL = 4  # the normal series must hold at least this many windows end to end
MIN_PEAK = 0.2  # an autocorrelation peak below this is noise, not a period
STRIDE_DIVISOR = 8  # the default stride is window // 8: each step is seen by about 8 windows


def window_starts(T, length, stride):
    """Starts (N,) of the windows ``[s, s + length)`` sliding over T steps by ``stride``.

    s = 0, stride, 2 stride, ... <= T - length, then T - length when the last of those stops short of
    T, so the last window always ends at T. ValueError when the series is shorter than one window.
    """
    T, length, stride = as_int(T, "T", 1), as_int(length, "window", 1), as_int(stride, "stride", 1)
    if length > T:
        raise ValueError(f"window: the series has {T} steps, fewer than one window of {length}")
    starts = np.arange(0, T - length + 1, stride)
    return starts if starts[-1] == T - length else np.append(starts, T - length)


def default_stride(length):
    """max(1, length // STRIDE_DIVISOR): windows overlap by 7/8, so each step is scored in about 8 contexts."""
    return max(1, length // STRIDE_DIVISOR)


def cut_windows(x, starts, length):
    """Windows (N, length, C) of x (T, C) at ``starts`` (N,): window n is x[starts[n] : starts[n] + length]."""
    x = np.asarray(x)
    view = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)  # (T - length + 1, C, length)
    return view[np.asarray(starts)].transpose(0, 2, 1).copy()


def dominant_period(x, min_period=MIN_WINDOW // 2):
    """The lag of the highest local maximum of the autocorrelation of x (T,) or (T, C), or None.

    r(k) = sum_t y_t y_{t+k} / sum_t y_t^2 with y = x - mean(x), per channel (through the FFT, zero-padded
    to 2T so the sum does not wrap around), then averaged over channels. Lags from ``min_period`` to T // 2
    are searched (a period needs two cycles to be seen); a local maximum is r(k-1) < r(k) >= r(k+1), and
    only one of at least MIN_PEAK counts (white noise has local maxima too, near 0). None when there is
    none: the series shows no period.
    """
    x = np.asarray(x, dtype=np.float64)
    y = (x[:, None] if x.ndim == 1 else x) - x.mean(axis=0)
    T = len(y)
    spectrum = np.fft.rfft(y, n=2 * T, axis=0)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * T, axis=0)[:T]  # (T, C) sum_t y_t y_{t+k}
    energy = acf[0]
    r = (acf[:, energy > 0] / energy[energy > 0]).mean(axis=1) if (energy > 0).any() else np.zeros(T)
    k = np.arange(max(min_period, 1), T // 2)
    peaks = k[(r[k] > r[k - 1]) & (r[k] >= r[k + 1]) & (r[k] >= MIN_PEAK)]
    return int(peaks[np.argmax(r[peaks])]) if len(peaks) else None


def default_window(normal):
    """The window length for a detector trained on ``normal`` (T, C): its period, clamped.

    L = clip(dominant_period(normal), MIN_WINDOW, min(MAX_WINDOW, T // WINDOWS_IN_NORMAL)), and
    FALLBACK_WINDOW (clamped alike) when the series has no period. The upper clamp keeps enough windows in
    the normal series to train and validate on.
    """
    T = len(normal)
    upper = min(MAX_WINDOW, T // WINDOWS_IN_NORMAL)
    if upper < MIN_WINDOW:
        raise ValueError(f"normal series: {T} steps is too short; at least "
                         f"{MIN_WINDOW * WINDOWS_IN_NORMAL} are needed for windows of {MIN_WINDOW}")
    period = dominant_period(normal)
    return int(np.clip(FALLBACK_WINDOW if period is None else period, MIN_WINDOW, upper))
