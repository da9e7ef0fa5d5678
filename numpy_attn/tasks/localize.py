"""From windows to time steps: one anomaly score per step of a long series, and the peaks of that score.

A window classifier gives, for window w = [s_w, s_w + L), the probability p_w that it holds an anomaly
and its attention alpha_w (L,), which sums to 1 over the window. Two steps make the score of step t:

    evidence_t = (1 / |W_t|) sum_{w in W_t} p_w L alpha_w(t - s_w),     W_t = {w : s_w <= t < s_w + L}
    score_t    = (1 / |K_t|) sum_{u in K_t} evidence_u,                   K_t = [t - k // 2, t + k - k // 2) in 0..T-1

- p_w alpha_w(t) is the part of window w's anomaly evidence that it puts on step t;
- times L, so a window that attends uniformly gives each of its steps its probability p_w, whatever L
  (L alpha = 1 is "average attention"): evidence above 1 comes from attention that points;
- the mean over the windows that cover t, not the sum, so a step is not favoured for being covered by
  more windows (those near either end of the series are covered by fewer), and not the max, so one
  window's stray attention peak does not decide alone: the windows around t must agree that there is
  an anomaly and that it is here;
- pooled over k steps (``pool``), because an anomaly is a stretch, not a step. Softmax attention spreads
  over a stretch and gathers on a glitch: a window sure of a 12-step burst (p = 1) gives each of its
  steps about L / 12, a window that half-suspects a one-step kink (p = 0.2) gives that step 0.2 L, more.
  Summed over k steps, each counts by its whole evidence p_w (times the share of its attention within
  them), and the burst wins (docs/detection.md measures what it gains on KDD-TSAD_135).
"""

import numpy as np

from .training import predict
from .windows import cut_windows, window_starts


def slide(model, series, length, stride, to_input):
    """Score the windows of ``length`` sliding by ``stride`` over series (T, C) (``windows.window_starts``).

    to_input: windows (N, length, C) -> the model's input. Returns starts (N,), prob (N,), alpha (N, length).
    """
    starts = window_starts(len(series), length, stride)
    prob, alpha = predict(model, to_input(cut_windows(series, starts, length)))
    return starts, prob, alpha


def step_scores(prob, alpha, starts, T, pool=1):
    """score (T,) from prob (N,), alpha (N, L), the window starts (N,) and the pooling width k = ``pool``
    (see the module docstring; pool=1 gives the evidence itself).

    Every step must be covered by a window (``windows.window_starts`` guarantees it).
    """
    prob, alpha, starts = np.asarray(prob, dtype=np.float64), np.asarray(alpha, dtype=np.float64), np.asarray(starts)
    N, L = alpha.shape
    if prob.shape != (N,) or starts.shape != (N,):
        raise ValueError(f"step_scores: expected prob and starts of shape ({N},) (one per window of alpha "
                         f"{alpha.shape}), got {prob.shape} and {starts.shape}")
    steps = starts[:, None] + np.arange(L)  # (N, L) the time step of each window sample
    total = np.bincount(steps.ravel(), weights=(prob[:, None] * L * alpha).ravel(), minlength=T)
    covered = np.bincount(steps.ravel(), minlength=T)
    if len(total) > T or (covered == 0).any():
        raise ValueError(f"step_scores: the windows must cover steps 0..{T - 1} and no others")
    return pooled_mean(total / covered, pool)


def pooled_mean(x, k):
    """y (T,): y_t = mean of x_u over u in [t - k // 2, t + k - k // 2), the steps of that range that exist."""
    cumsum = np.concatenate([[0.0], np.cumsum(x)])  # cumsum[i] = x_0 + ... + x_{i-1}
    lo = np.clip(np.arange(len(x)) - k // 2, 0, len(x))
    hi = np.clip(np.arange(len(x)) + k - k // 2, 0, len(x))
    return (cumsum[hi] - cumsum[lo]) / (hi - lo)


def top_detections(scores, k, separation, first=0):
    """Up to k peaks of ``scores`` at or after step ``first``, highest first, at least ``separation`` apart.

    Greedy: take the highest remaining step, then rule out the steps within ``separation`` of it.
    """
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[:first] = -np.inf
    peaks = []
    while len(peaks) < k and np.isfinite(scores).any():
        t = int(np.argmax(scores))
        peaks.append(t)
        scores[max(t - separation + 1, 0) : t + separation] = -np.inf
    return np.array(peaks, dtype=int)
