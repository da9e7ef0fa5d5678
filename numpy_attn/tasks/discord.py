"""The matrix-profile discord, the peer a learned detector is measured against (Yeh et al. 2016;
Wu and Keogh 2021 find it hard to beat on the UCR anomaly archive). Brute force, O(n^2 m) in blocks.

For windows of length m, w_i = x[i : i + m], z-normalised per channel: z_i = (w_i - mean(w_i)) / std(w_i)
(a constant window becomes all zeros). The matrix profile is each window's distance to its nearest
neighbour outside its own exclusion zone:

    P_i = min_{j : |i - j| >= k} ||z_i - z_j||,      ||z_i - z_j||^2 = ||z_i||^2 + ||z_j||^2 - 2 z_i . z_j

(summed over channels for a multivariate series), with k = ceil(m / 4) (the trivial matches, windows
overlapping w_i by most of their length, are excluded). The discord is the window with the largest P_i:
the stretch least like anything else in the series. Because each window is z-normalised, the discord
sees shape only: a stretch that is a louder or quieter copy of a normal one is no discord.
"""

import numpy as np

from .._validate import as_int
from .windows import cut_windows


def matrix_profile(x, m, exclusion=None, block=512):
    """P (T - m + 1,): the z-normalised distance of each window of x (T,) or (T, C) to its nearest neighbour.

    exclusion: k, the smallest |i - j| a neighbour may have (default ceil(m / 4)); block: rows of the
    distance matrix computed at a time (memory block x (T - m + 1) floats).
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    m = as_int(m, "m", 2)
    n = len(x) - m + 1
    k = -(-m // 4) if exclusion is None else as_int(exclusion, "exclusion", 1)
    if n <= k:
        raise ValueError(f"matrix_profile: a series of {len(x)} steps has no window of {m} with a neighbour "
                         f"at least {k} steps away")
    w = cut_windows(x, np.arange(n), m)  # (n, m, C)
    std = w.std(axis=1, keepdims=True)
    z = np.where(std > 0, (w - w.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0), 0.0)
    z = z.reshape(n, -1)  # (n, m C)
    sq = (z**2).sum(axis=1)  # (n,) ||z_i||^2: m per non-constant channel
    profile = np.empty(n)
    for i0 in range(0, n, block):
        rows = np.arange(i0, min(i0 + block, n))
        d2 = sq[rows, None] + sq[None, :] - 2.0 * z[rows] @ z.T  # (b, n)
        d2[np.abs(rows[:, None] - np.arange(n)[None, :]) < k] = np.inf  # the trivial matches
        profile[rows] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return profile


def top_discord(profile, first=0):
    """The start of the discord: argmax_i P_i over the windows starting at or after ``first``.

    profile: (n,) from ``matrix_profile``. The neighbours behind P may lie anywhere in the series (also
    before ``first``: a normal prefix is a good reference).
    """
    if not 0 <= first < len(profile):
        raise ValueError(f"top_discord: no window starts at or after {first}; the profile has {len(profile)}")
    return first + int(np.argmax(profile[first:]))


def profile_step_scores(profile, m):
    """score (T,) with T = n + m - 1: score_t = P of the window centred on t, i.e. P_{t - m // 2} (the
    first or last window's near the ends), so argmax_t score_t = top_discord + m // 2, the discord's middle."""
    return np.pad(profile, (m // 2, m - 1 - m // 2), mode="edge")
