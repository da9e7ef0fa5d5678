"""Scores of an anomaly localisation in a long series: the UCR archive's hit rule and average precision.

Labels are per time step, 1 inside a labelled anomaly. A labelled range is a maximal run of 1s, written
[first, last] with both ends inside (the archive's convention).
"""

import numpy as np

from .metrics import _labels, _same_length, _scores

UCR_MIN_MARGIN = 100  # steps


def labelled_ranges(labels):
    """[(first, last), ...] of the runs of 1s in labels (T,), in order; both ends inside the run."""
    y = _labels(labels, "labels")
    edges = np.diff(np.concatenate([[0], y, [0]]))  # +1 where a run starts, -1 one step after it ends
    return [(int(a), int(b) - 1) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def ucr_region(labels):
    """(T,) bool: the locations the UCR anomaly archive's rule (Wu and Keogh 2021) counts as right, each
    labelled range [a, b] widened by max(b - a + 1, 100) steps on each side:

        a - margin <= location <= b + margin,      margin = max(b - a + 1, UCR_MIN_MARGIN)

    (a short anomaly gets 100 steps of slack, a long one its own length). ValueError when labels holds
    no anomaly.
    """
    ranges = labelled_ranges(labels)
    if not ranges:
        raise ValueError("ucr_hit: the labels hold no anomaly (no 1)")
    region = np.zeros(len(labels), dtype=bool)
    for a, b in ranges:
        margin = max(b - a + 1, UCR_MIN_MARGIN)
        region[max(a - margin, 0) : b + margin + 1] = True
    return region


def ucr_hit(location, labels):
    """Whether ``location`` is right by the UCR rule (``ucr_region``); with several labelled ranges, any
    of them counts."""
    region = ucr_region(labels)
    return bool(0 <= location < len(region) and region[location])


def ucr_margin(scores, labels, first=0):
    """max(score in the UCR region) / max(score elsewhere), over the steps from ``first`` on: above 1 the
    highest score is a hit, and the larger, the further the nearest wrong peak is behind."""
    region = ucr_region(labels)[first:]
    scores = np.asarray(scores, dtype=np.float64)[first:]
    return float(scores[region].max() / scores[~region].max())


def average_precision(y_true, y_score):
    """Area under the precision-recall curve as a step function (scikit-learn's average_precision_score):

        AP = sum_k (R_k - R_{k-1}) P_k

    over the distinct scores taken as thresholds, highest first (a step is predicted positive when its
    score >= the threshold; tied scores enter together); P_k, R_k the precision and recall there, R_0 = 0.
    A random score has AP about the share of positives. ValueError when there are no positives.
    """
    y_true = _labels(y_true, "y_true")
    y_score = _scores(y_score, "y_score")
    _same_length(y_true, y_score, "y_score")
    n_pos = int(y_true.sum())
    if n_pos == 0:
        raise ValueError("average_precision: y_true holds no positive (1), so recall is undefined")
    order = np.argsort(-y_score, kind="stable")
    score, hits = y_score[order], y_true[order]
    last = np.r_[score[1:] != score[:-1], True]  # the last position of each group of tied scores
    tp = np.cumsum(hits)[last]
    predicted = np.flatnonzero(last) + 1
    recall = tp / n_pos
    precision = tp / predicted
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
