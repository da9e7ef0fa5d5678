"""The anomaly task's input features: what the model sees, step by step."""

import numpy as np
import pytest

from numpy_attn.tasks.anomaly import channel_attention_report, series_features
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


def test_channel_attention_report_counts_the_anomalous_series_by_their_channel():
    """Three anomalous series (anomaly in channel 0, 1, 1) and a normal one, which does not count. Series 0:
    mass and peak in channel 0, peak at step 2 inside [1, 3): both right. Series 1: mass in channel 1, peak
    in channel 0: mass right, peak wrong. Series 2: mass and peak in channel 1, peak at step 3, outside [0, 2)."""
    w = np.zeros((4, 2, 4))
    w[0, 0] = [0.1, 0.2, 0.5, 0.0]
    w[0, 1] = [0.1, 0.1, 0.0, 0.0]
    w[1, 0, 3] = 0.4
    w[1, 1] = [0.2, 0.2, 0.2, 0.0]
    w[2, 1] = [0.1, 0.1, 0.1, 0.7]
    w[3, 0, 0] = 1.0
    report = channel_attention_report(w, np.array([0, 1, 1, -1]), np.array([[1, 3], [0, 4], [0, 2], [0, 0]]))
    assert report == {"attention_channel_accuracy": 1.0, "attention_channel_peak_accuracy": 1 / 3}
