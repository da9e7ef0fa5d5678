"""Multi-class classification metrics in plain NumPy, with scikit-learn's definitions.

Labels are class indices 0..K-1. The confusion matrix C (K, K) counts C[i, j] = the series of class i
predicted as class j; with it, for each class k:

    precision_k = C[k, k] / sum_i C[i, k]          0.0 when nothing is predicted k
    recall_k    = C[k, k] / sum_j C[k, j]          0.0 when class k has no series
    f1_k        = 2 C[k, k] / (sum_i C[i, k] + sum_j C[k, j])

    accuracy          = trace(C) / N
    balanced accuracy = the mean of recall_k over the classes that occur in y_true
    macro-F1          = the mean of f1_k over the classes that occur in y_true or y_pred

(scikit-learn's ``balanced_accuracy_score`` and ``f1_score(average="macro")``, whose ``zero_division``
values are these 0.0.) With two classes the ROC-AUC of the probability of class 1 is reported too.
"""

import numpy as np

from .._validate import as_float_array, check_ndim
from .metrics import roc_auc


def multiclass_confusion_matrix(y_true, y_pred, num_classes):
    """C (K, K) int, C[i, j] = how many series of class i were predicted as class j."""
    y_true, y_pred = (_class_indices(y, name, num_classes) for y, name in ((y_true, "y_true"), (y_pred, "y_pred")))
    if len(y_pred) != len(y_true):
        raise ValueError(f"y_pred: expected {len(y_true)} labels (the length of y_true), got {len(y_pred)}")
    return np.bincount(num_classes * y_true + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_scores(confusion):
    """(precision, recall, f1, support), each (K,), from a confusion matrix; 0.0 where a ratio has no terms."""
    hits = np.diag(confusion).astype(np.float64)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    return (_ratios(hits, predicted), _ratios(hits, support), _ratios(2 * hits, predicted + support), support)


def multiclass_report(y_true, probabilities, class_names):
    """Every metric in one JSON-ready dict; the predicted class is the most probable one.

    y_true: (N,) class indices; probabilities: (N, K) (rows summing to 1), K = len(class_names).
    Keys: accuracy, balanced_accuracy, macro_f1, per_class ({name: precision, recall, f1, support}),
    confusion_matrix ({"classes": names, "matrix": rows = true class, columns = predicted}) and, for two
    classes, roc_auc (of the probability of the second class).
    """
    probabilities = as_float_array(probabilities, "probabilities", ndim=2)
    K = len(class_names)
    if probabilities.shape[1] != K:
        raise ValueError(f"probabilities: expected (N, {K}) for {K} classes, got shape {probabilities.shape}")
    y_true = _class_indices(y_true, "y_true", K)
    confusion = multiclass_confusion_matrix(y_true, probabilities.argmax(axis=1), K)
    precision, recall, f1, support = per_class_scores(confusion)
    in_true, in_either = support > 0, (support > 0) | (confusion.sum(axis=0) > 0)
    report = {
        "accuracy": float(np.trace(confusion) / len(y_true)),
        "balanced_accuracy": float(recall[in_true].mean()),
        "macro_f1": float(f1[in_either].mean()),
        "per_class": {str(name): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(class_names, precision, recall, f1, support)},
        "confusion_matrix": {"classes": [str(n) for n in class_names], "matrix": confusion.tolist()},
    }
    if K == 2 and in_true.all():
        report["roc_auc"] = roc_auc(y_true, probabilities[:, 1])
    return report


def _class_indices(y, name, num_classes):
    y = np.asarray(y)
    check_ndim(y, name, 1)
    if len(y) == 0:
        raise ValueError(f"{name}: expected at least one label, got an empty array")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"{name}: expected class indices 0..{num_classes - 1}, got values "
                         f"{np.unique(y)[:5].tolist()} (dtype {y.dtype})")
    return y.astype(np.int64)


def _ratios(num, den):
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)
