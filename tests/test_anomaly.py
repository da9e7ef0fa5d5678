"""The anomaly task's input features: what the model sees, step by step."""

import numpy as np
import pytest

from numpy_attn.tasks.anomaly import series_features
from numpy_attn.tasks.synthetic import make_anomaly_dataset


def test_diff_features_are_the_series_and_its_forward_difference():
    X = np.array([[[0.0], [1.0], [3.0], [6.0]]])  # (1, 4, 1)
    F = series_features(X, "diff")
    assert F.shape == (1, 4, 2)
    np.testing.assert_array_equal(F[0, :, 0], [0.0, 1.0, 3.0, 6.0])
    np.testing.assert_array_equal(F[0, :, 1], [1.0, 2.0, 3.0, 0.0])  # x_{t+1} - x_t, and 0 at the last step


def test_raw_features_are_the_series_and_unknown_features_are_refused():
    X = np.arange(6.0).reshape(1, 3, 2)
    assert series_features(X, "raw") is X
    with pytest.raises(ValueError, match="features: expected one of"):
        series_features(X, "fft")


def test_every_abnormal_difference_of_a_flat_anomaly_lies_inside_its_span():
    data = make_anomaly_dataset(40, 200, anomalies="flat", rng=3)
    for n in np.flatnonzero(data.y == 1):
        start, end = data.spans[n]
        clean = make_anomaly_dataset(40, 200, normal_ratio=1.0, rng=3).X[n]  # the same series, no anomaly
        dx, dx_clean = series_features(data.X[n][None])[0, :, 1], series_features(clean[None])[0, :, 1]
        changed = np.flatnonzero(dx != dx_clean)
        assert changed.min() >= start and changed.max() < end, (start, end, changed)
