"""Binary classification metrics in plain NumPy, with scikit-learn's definitions, and two scores of where
attention lands on anomalous series.

Labels are 0 (normal, negative) and 1 (anomalous, positive). With TP, FP, TN, FN the usual counts:

    accuracy  = (TP + TN) / N
    precision = TP / (TP + FP)            0.0 when nothing is predicted positive
    recall    = TP / (TP + FN)            0.0 when there are no positives
    f1        = 2 TP / (2 TP + FP + FN)   (= 2 P R / (P + R)); 0.0 when TP + FP + FN = 0

The 0.0 fallbacks are scikit-learn's ``zero_division="warn"`` values (it warns; we stay silent).
"""

import numpy as np

from .._validate import as_float_array, check_ndim


def confusion_matrix(y_true, y_pred):
    """[[TN, FP], [FN, TP]] as a (2, 2) int array: row = true label, column = predicted label.

    Always 2x2 (scikit-learn returns 1x1 when only one label occurs and ``labels`` is not given).
    """
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    _same_length(y_true, y_pred, "y_pred")
    return np.bincount(2 * y_true + y_pred, minlength=4).reshape(2, 2)  # index 2 t + p -> cell [t, p]


def accuracy(y_true, y_pred):
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return float((tp + tn) / (tn + fp + fn + tp))


def precision(y_true, y_pred):
    (_, fp), (_, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp, tp + fp)


def recall(y_true, y_pred):
    _, (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(tp, tp + fn)


def f1(y_true, y_pred):
    (_, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def roc_auc(y_true, y_score):
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counted 1/2.

    Computed from ranks (the Mann-Whitney U statistic): rank all N scores 1..N, tied scores sharing the
    average of their ranks; with R+ the sum of the positives' ranks,

        AUC = (R+ - n+ (n+ + 1) / 2) / (n+ n-)

    (R+ - n+(n+ + 1)/2 counts the (positive, negative) pairs the positive wins, ties 1/2.) Equal to
    scikit-learn's ``roc_auc_score``. Raises ValueError when y_true holds only one class.
    """
    y_true = _labels(y_true, "y_true")
    y_score = _scores(y_score, "y_score")
    _same_length(y_true, y_score, "y_score")
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"roc_auc: y_true holds only one class ({n_pos} positive, {n_neg} negative); "
            "ROC AUC needs both positives and negatives"
        )
    ranks = _average_ranks(y_score)
    return float((ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(x):
    """Ranks 1..N of x (N,), each group of equal values getting the mean of the ranks it spans."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    first = np.r_[True, sorted_x[1:] != sorted_x[:-1]]  # (N,) True where a new group of ties starts
    starts = np.flatnonzero(first)  # 0-based position where each group starts
    stops = np.r_[starts[1:], len(x)]  # ... and where it stops (exclusive)
    group_rank = (starts + 1 + stops) / 2.0  # mean of the 1-based ranks starts+1 .. stops
    ranks = np.empty(len(x))
    ranks[order] = group_rank[np.cumsum(first) - 1]
    return ranks


def attention_mass_in_span(alpha, spans, labels):
    """Mean over anomalous series of the attention mass inside the anomaly: mean_n sum_{t in [s_n, e_n)} alpha[n, t].

    alpha: (N, T) attention weights (each row sums to 1 for softmax attention); spans: (N, 2) int [start, end);
    labels: (N,) 0/1, only the series labelled 1 count. 1.0 means all attention inside the anomalies;
    a uniform alpha scores the mean fraction of the series the anomalies cover.
    """
    alpha, spans = _attention_inputs(alpha, spans, labels)
    inside = _span_mask(spans, alpha.shape[1])  # (n_anomalous, T)
    return float((alpha * inside).sum(axis=1).mean())


def attention_peak_in_span(alpha, spans, labels):
    """Share of anomalous series whose attention peak argmax_t alpha[n, t] lies in [start, end).

    Same arguments as ``attention_mass_in_span``. Ties for the peak go to the earliest step (NumPy's argmax).
    """
    alpha, spans = _attention_inputs(alpha, spans, labels)
    peak = alpha.argmax(axis=1)  # (n_anomalous,)
    return float(((peak >= spans[:, 0]) & (peak < spans[:, 1])).mean())


def classification_report(y_true, y_score, threshold=0.5, alpha=None, spans=None):
    """Every metric in one JSON-ready dict.

    y_score: (N,) probabilities (or any scores); a series is predicted anomalous when y_score > threshold
    (the seed's rule). Keys: accuracy, precision, recall, f1, roc_auc, confusion_matrix (nested lists
    [[TN, FP], [FN, TP]]); with ``alpha`` (N, T) and ``spans`` (N, 2) also attention_accuracy
    (``attention_mass_in_span``) and attention_peak_accuracy (``attention_peak_in_span``).
    """
    y_score = _scores(y_score, "y_score")
    y_pred = (y_score > threshold).astype(int)
    report = {
        "accuracy": accuracy(y_true, y_pred),
        "precision": precision(y_true, y_pred),
        "recall": recall(y_true, y_pred),
        "f1": f1(y_true, y_pred),
        "roc_auc": roc_auc(y_true, y_score),
        "confusion_matrix": confusion_matrix(y_true, y_pred).tolist(),
    }
    if (alpha is None) != (spans is None):
        raise ValueError("classification_report: pass alpha and spans together (or neither)")
    if alpha is not None:
        report["attention_accuracy"] = attention_mass_in_span(alpha, spans, y_true)
        report["attention_peak_accuracy"] = attention_peak_in_span(alpha, spans, y_true)
    return report


# --- input checks ----------------------------------------------------------------------------------
def _labels(y, name):
    """y as a 1-D int array of 0/1 (bool, int or float input)."""
    y = np.asarray(y)
    check_ndim(y, name, 1)
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name}: expected labels 0 or 1, got values {np.unique(y)[:5].tolist()} (dtype {y.dtype})")
    if len(y) == 0:
        raise ValueError(f"{name}: expected at least one label, got an empty array")
    return y.astype(int)


def _scores(s, name):
    s = np.asarray(s)
    if s.dtype.kind in "biu":
        s = s.astype(np.float64)
    return as_float_array(s, name, ndim=1)


def _same_length(y_true, other, name):
    if len(other) != len(y_true):
        raise ValueError(f"{name}: expected {len(y_true)} values (the length of y_true), got {len(other)}")


def _ratio(num, den):
    return float(num / den) if den else 0.0


def _attention_inputs(alpha, spans, labels):
    """The rows of alpha (N, T) and spans (N, 2) that belong to anomalous series, checked."""
    alpha = as_float_array(alpha, "alpha", ndim=2)
    labels = _labels(labels, "labels")
    spans = np.asarray(spans)
    if spans.dtype.kind not in "iu" or spans.shape != (len(alpha), 2):
        raise ValueError(f"spans: expected an int array of shape ({len(alpha)}, 2), got {spans.dtype} {spans.shape}")
    _same_length(labels, alpha, "alpha")
    anomalous = labels == 1
    if not anomalous.any():
        raise ValueError("labels: no anomalous series (label 1), so there is no span to score attention on")
    spans = spans[anomalous]
    T = alpha.shape[1]
    if (spans[:, 0] < 0).any() or (spans[:, 1] > T).any() or (spans[:, 1] <= spans[:, 0]).any():
        bad = np.flatnonzero((spans[:, 0] < 0) | (spans[:, 1] > T) | (spans[:, 1] <= spans[:, 0]))[0]
        raise ValueError(f"spans: an anomalous series needs 0 <= start < end <= {T}, got {spans[bad].tolist()}")
    return alpha[anomalous], spans


def _span_mask(spans, T):
    """(n, 2) [start, end) -> (n, T) bool, True inside each span."""
    t = np.arange(T)
    return (t >= spans[:, :1]) & (t < spans[:, 1:])
