"""Metrics: small cases counted by hand, ROC AUC against a brute-force pair count, attention scores."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_attn.tasks.metrics import (
    accuracy,
    attention_mass_in_span,
    attention_peak_in_span,
    classification_report,
    confusion_matrix,
    f1,
    precision,
    recall,
    roc_auc,
)

# Six series counted by eye:   TP  TP  FN  FN  FP  TN
Y_TRUE = np.array([1, 1, 1, 1, 0, 0])
Y_PRED = np.array([1, 1, 0, 0, 1, 0])


def test_counts_by_hand():
    assert confusion_matrix(Y_TRUE, Y_PRED).tolist() == [[1, 1], [2, 2]]  # [[TN, FP], [FN, TP]]
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(3 / 6)
    assert precision(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)  # TP / (TP + FP)
    assert recall(Y_TRUE, Y_PRED) == pytest.approx(2 / 4)  # TP / (TP + FN)
    assert f1(Y_TRUE, Y_PRED) == pytest.approx(4 / 7)  # 2 (2/3)(1/2) / (2/3 + 1/2)


def test_labels_may_be_bool_or_float():
    assert confusion_matrix(Y_TRUE.astype(bool), Y_PRED.astype(np.float32)).tolist() == [[1, 1], [2, 2]]


def test_zero_division_gives_zero():
    none = np.zeros(4, dtype=int)
    assert precision(np.array([1, 0, 1, 0]), none) == 0.0  # nothing predicted positive
    assert recall(none, np.array([1, 0, 0, 0])) == 0.0  # no positives
    assert f1(none, none) == 0.0 and accuracy(none, none) == 1.0
    assert confusion_matrix(none, none).tolist() == [[4, 0], [0, 0]]  # still 2x2


def test_roc_auc_by_hand():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: the pairs won are (.35,.1), (.8,.1), (.8,.4) -> 3/4
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # positives 0.5, 0.9 against negatives 0.5, 0.2: (.5,.5) a tie = 1/2, the other three won -> 3.5/4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)


def test_roc_auc_ties_perfect_and_inverted():
    y = np.array([0, 1, 1, 0, 1])
    assert roc_auc(y, np.full(5, 0.3)) == 0.5
    assert roc_auc(y, y * 2.0 + 1.0) == 1.0
    assert roc_auc(y, -y.astype(float)) == 0.0
    assert roc_auc(y, y) == 1.0  # integer scores are fine


def _brute_force_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


labels = st.lists(st.integers(0, 1), min_size=2, max_size=60).filter(lambda y: 0 < sum(y) < len(y))


@given(data=st.data(), y=labels, tie_heavy=st.booleans())
def test_roc_auc_equals_the_pair_count(data, y, tie_heavy):
    y = np.array(y)
    values = st.integers(0, 4).map(float) if tie_heavy else st.floats(-1e3, 1e3, allow_nan=False)
    s = np.array(data.draw(st.lists(values, min_size=len(y), max_size=len(y))))
    assert roc_auc(y, s) == pytest.approx(_brute_force_auc(y, s), abs=1e-12)


@given(y=labels, data=st.data())
def test_roc_auc_ignores_monotone_transforms(y, data):
    y = np.array(y)
    s = np.array(data.draw(st.lists(st.integers(-20, 20), min_size=len(y), max_size=len(y))), dtype=float)
    auc = roc_auc(y, s)
    for increasing in (2 * s + 1, s**3, np.exp(s / 10)):
        assert roc_auc(y, increasing) == pytest.approx(auc, abs=1e-12)
    assert roc_auc(y, -s) == pytest.approx(1 - auc, abs=1e-12)  # reversing the order swaps wins and losses


def test_roc_auc_needs_both_classes():
    with pytest.raises(ValueError, match="only one class"):
        roc_auc([1, 1, 1], [0.2, 0.5, 0.9])


@pytest.mark.parametrize(
    "y_true, y_score, error, match",
    [
        ([0, 2, 1], [0.1, 0.2, 0.3], ValueError, "labels 0 or 1"),
        ([0, 1], [0.1, 0.2, 0.3], ValueError, "expected 2 values"),
        ([0, 1], [0.1, np.nan], ValueError, "NaN"),
        ([[0, 1]], [[0.1, 0.2]], ValueError, "1-D"),
        ([], [], ValueError, "empty"),
    ],
)
def test_bad_labels_and_scores_are_refused(y_true, y_score, error, match):
    with pytest.raises(error, match=match):
        roc_auc(np.array(y_true), np.array(y_score))


# --- attention -----------------------------------------------------------------------------------------
ALPHA = np.array(
    [
        [0.10, 0.20, 0.30, 0.25, 0.15],  # anomalous, span [1, 3): mass 0.2 + 0.3 = 0.5, peak t=2 inside
        [1.00, 0.00, 0.00, 0.00, 0.00],  # normal: ignored
        [0.40, 0.10, 0.10, 0.20, 0.20],  # anomalous, span [3, 5): mass 0.2 + 0.2 = 0.4, peak t=0 outside
    ]
)
SPANS = np.array([[1, 3], [0, 0], [3, 5]])
LABELS = np.array([1, 0, 1])


def test_attention_scores_by_hand():
    assert attention_mass_in_span(ALPHA, SPANS, LABELS) == pytest.approx((0.5 + 0.4) / 2)
    assert attention_peak_in_span(ALPHA, SPANS, LABELS) == pytest.approx(1 / 2)


def test_attention_scores_ignore_normal_series_and_see_uniform_attention_as_coverage():
    other = ALPHA.copy()
    other[1] = [0.0, 0.0, 0.0, 0.0, 1.0]
    assert attention_mass_in_span(other, SPANS, LABELS) == attention_mass_in_span(ALPHA, SPANS, LABELS)
    uniform = np.full((3, 5), 0.2)
    assert attention_mass_in_span(uniform, SPANS, LABELS) == pytest.approx(2 / 5)  # each span covers 2 of 5


def test_attention_peak_at_the_span_end_is_outside():
    alpha = np.array([[0.0, 0.1, 0.2, 0.7, 0.0]])  # peak t=3, span [1, 3) stops before it
    assert attention_peak_in_span(alpha, np.array([[1, 3]]), np.array([1])) == 0.0
    assert attention_peak_in_span(alpha, np.array([[3, 4]]), np.array([1])) == 1.0
    assert attention_mass_in_span(alpha, np.array([[1, 3]]), np.array([1])) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "spans, labels, match",
    [
        ([[1, 3], [0, 0], [3, 3]], [1, 0, 1], "start < end"),  # an empty span for an anomalous series
        ([[1, 3], [0, 0], [3, 6]], [1, 0, 1], "<= 5"),
        ([[1, 3], [0, 0]], [1, 0, 1], "shape"),
        ([[1, 3], [0, 0], [3, 5]], [0, 0, 0], "no anomalous series"),
    ],
)
def test_attention_scores_refuse_inconsistent_spans(spans, labels, match):
    with pytest.raises(ValueError, match=match):
        attention_mass_in_span(ALPHA, np.array(spans), np.array(labels))


# --- report --------------------------------------------------------------------------------------------
def test_report_thresholds_with_greater_than_and_is_json_ready():
    y_score = np.array([0.9, 0.6, 0.5, 0.2, 0.7, 0.1])  # 0.5 is not above the threshold: predicted 0
    report = classification_report(Y_TRUE, y_score, alpha=None, spans=None)
    assert report["confusion_matrix"] == [[1, 1], [2, 2]]  # predictions are Y_PRED
    assert report["f1"] == pytest.approx(4 / 7)
    # positives .9 .6 .5 .2 vs negatives .7 .1: wins (.9,.7) (.9,.1) (.6,.1) (.5,.1) (.2,.1) = 5 of 8
    assert report["roc_auc"] == pytest.approx(5 / 8)
    assert json.loads(json.dumps(report)) == report
    assert set(report) == {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix"}


def test_report_adds_attention_scores():
    report = classification_report(LABELS, [0.8, 0.3, 0.4], alpha=ALPHA, spans=SPANS)
    assert report["attention_accuracy"] == pytest.approx(0.45)
    assert report["attention_peak_accuracy"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="together"):
        classification_report(LABELS, [0.8, 0.3, 0.4], alpha=ALPHA)
