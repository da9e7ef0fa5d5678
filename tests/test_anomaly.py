"""The anomaly task's input features: what the model sees, step by step."""

import numpy as np
import pytest

from numpy_attn.tasks.anomaly import (SHAPE_MIN_STD, TrainConfig, channel_attention_report, grad_norm_cap,
                                      lr_schedule, series_features, series_grad_norm_cap, spike_factor)
from numpy_attn.tasks.training import cosine_lr
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


def test_shape_features_add_each_series_z_normalised_and_its_difference():
    X = np.random.default_rng(0).standard_normal((3, 50, 2))
    F = series_features(X, "shape")
    assert F.shape == (3, 50, 8)
    np.testing.assert_array_equal(F[..., :4], series_features(X, "diff"))
    s = F[..., 4:6]
    np.testing.assert_allclose(s.mean(axis=1), 0.0, atol=1e-15)  # each series and channel: mean 0, spread 1
    np.testing.assert_allclose(s.std(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(F[..., 6:], series_features(s, "diff")[..., 2:])
    # the shape channels do not see the level and the swing: a louder, shifted copy gives the same
    np.testing.assert_allclose(series_features(3.0 * X + 5.0, "shape")[..., 4:], F[..., 4:], atol=1e-13)


def test_shape_features_of_a_nearly_constant_series_divide_by_the_floor():
    F = series_features(np.full((1, 10, 1), 7.0), "shape")
    np.testing.assert_array_equal(F[0, :, 1:], 0.0)  # a constant series: dx, s and ds are 0, not NaN
    x = 7.0 + 1e-5 * np.random.default_rng(0).standard_normal((1, 10, 1))  # spread below SHAPE_MIN_STD
    np.testing.assert_allclose(series_features(x, "shape")[..., 2], (x[..., 0] - x.mean()) / SHAPE_MIN_STD, rtol=1e-12)


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


def test_several_channels_cap_each_series_and_fall_on_a_cosine_by_default_one_channel_as_before():
    """One channel by default: no clipping, no spike left out, the learning rate constant (the runs from before
    these options existed). Several channels by default: each series' input gradient capped at 0.3 and the
    cosine. Asked for, each setting reaches fit whatever the channels (0 and "constant": never)."""
    one = TrainConfig(channels=1)
    assert grad_norm_cap(one) is None and spike_factor(one) is None and lr_schedule(one) is None
    assert series_grad_norm_cap(one) is None and (one.schedule, one.max_series_grad_norm) == ("constant", 0.0)
    three = TrainConfig(channels=3)
    assert grad_norm_cap(three) is None and spike_factor(three) is None and series_grad_norm_cap(three) == 0.3
    assert [lr_schedule(three)(epoch) for epoch in (1, 15)] == [3e-3, cosine_lr(3e-3, 15, 15)]
    plain = TrainConfig(channels=3, schedule="constant", max_series_grad_norm=0.0)
    assert lr_schedule(plain) is None and series_grad_norm_cap(plain) is None
    asked = TrainConfig(channels=1, epochs=20, max_grad_norm=1.0, skip_spikes=10.0, schedule="cosine",
                        max_series_grad_norm=0.5)
    assert grad_norm_cap(asked) == 1.0 and spike_factor(asked) == 10.0 and series_grad_norm_cap(asked) == 0.5
    rates = [lr_schedule(asked)(epoch) for epoch in range(1, 21)]
    assert rates == [cosine_lr(3e-3, epoch, 20) for epoch in range(1, 21)] and rates[0] == 3e-3 and rates[-1] < 2e-5
    for bad, match in ((dict(schedule="step"), "schedule: expected one of"),
                       (dict(skip_spikes=-1.0), "skip_spikes: expected a finite number >= 0"),
                       (dict(max_series_grad_norm=-1.0), "max_series_grad_norm: expected a finite number >= 0"),
                       (dict(max_grad_norm=float("inf")), "max_grad_norm: expected a finite number >= 0"),
                       (dict(channels="3"), "channels: expected an integer >= 1, got '3'"),
                       (dict(channels=0), "channels: expected an integer >= 1, got 0")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(out="/nonexistent/x", **bad).check()
