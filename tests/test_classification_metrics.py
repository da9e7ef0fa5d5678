"""Multi-class metrics against their definitions counted one series at a time, and hand-worked cases."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numpy_attn.tasks.classification_metrics import multiclass_confusion_matrix, multiclass_report
from numpy_attn.tasks.metrics import roc_auc


@st.composite
def labelled_probabilities(draw):
    K = draw(st.integers(2, 5), label="K")
    n = draw(st.integers(1, 30), label="N")
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, K - 1)), label="y_true")
    p = draw(hnp.arrays(np.float64, (n, K), elements=st.floats(0.01, 1.0)), label="scores")
    return y, p / p.sum(axis=1, keepdims=True), K


@given(problem=labelled_probabilities())
def test_report_follows_the_definitions_counted_series_by_series(problem):
    y, p, K = problem
    pred = p.argmax(axis=1)
    report = multiclass_report(y, p, [f"c{k}" for k in range(K)])
    assert report["accuracy"] == pytest.approx(np.mean(pred == y))
    recalls, f1s = [], []
    for k in range(K):
        tp = sum(1 for t, q in zip(y, pred) if t == k and q == k)
        fp = sum(1 for t, q in zip(y, pred) if t != k and q == k)
        fn = sum(1 for t, q in zip(y, pred) if t == k and q != k)
        row = report["per_class"][f"c{k}"]
        assert row["support"] == tp + fn
        assert row["precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
        assert row["recall"] == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
        if tp + fn:
            recalls.append(tp / (tp + fn))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    assert report["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert report["macro_f1"] == pytest.approx(np.mean(f1s))
    matrix = np.array(report["confusion_matrix"]["matrix"])
    assert matrix.sum() == len(y) and all(matrix[t, q] >= 1 for t, q in zip(y, pred))
    if K == 2 and len(set(y.tolist())) == 2:
        assert report["roc_auc"] == roc_auc(y, p[:, 1])


def test_a_hand_worked_case():
    """Three classes, six series: true 0 0 1 1 2 2, predicted 0 1 1 1 0 2.
    Recalls 1/2, 1, 1/2 -> balanced accuracy 2/3; F1s 2/4, 4/5, 2/3 -> macro-F1 (0.5 + 0.8 + 2/3) / 3."""
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.eye(3)[[0, 1, 1, 1, 0, 2]]
    report = multiclass_report(y, p, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["balanced_accuracy"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert report["confusion_matrix"] == {"classes": ["a", "b", "c"], "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 1]]}
    assert "roc_auc" not in report
    assert report["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": 0.8, "support": 2}


def test_bad_labels_and_shapes_are_refused():
    with pytest.raises(ValueError, match=r"y_true: expected class indices 0..2"):
        multiclass_confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match=r"probabilities: expected \(N, 3\) for 3 classes"):
        multiclass_report(np.array([0, 1]), np.ones((2, 2)) / 2, ["a", "b", "c"])
    with pytest.raises(ValueError, match="y_pred: expected 2 labels"):
        multiclass_confusion_matrix(np.array([0, 1]), np.array([0]), 2)
