"""The anomaly generator, the split and the scaler.

The clean signals are checked without the generator's own formula: a sampled sinusoid x_k = a sin(w k + p)
obeys x_{k+1} + x_{k-1} = 2 cos(w) x_k exactly, which recovers the frequency; each anomaly is checked
against the series' clean twin (same seed, normal_ratio=1, see the data module's docstring).
"""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_attn.tasks.preprocessing import StandardScaler, fit_scaler, train_val_test_split
from numpy_attn.tasks.synthetic import ANOMALY_KINDS, AnomalyDataset, make_anomaly_dataset

T = 200


def _pair(seed, **kwargs):
    """(dataset, clean twin) from one seed, in float64."""
    kwargs = dict(n_samples=400, length=T, rng=seed, dtype=np.float64, **kwargs)
    return make_anomaly_dataset(**kwargs), make_anomaly_dataset(**{**kwargs, "normal_ratio": 1.0})


def _sinusoid_step(x):
    """Fit x_{k+1} + x_{k-1} = c x_k by least squares; return (w = arccos(c / 2), worst residual / max|x|)."""
    mid, around = x[1:-1], x[2:] + x[:-2]
    c = mid @ around / (mid @ mid)
    return np.arccos(c / 2), np.abs(around - c * mid).max() / np.abs(x).max()


def _step_to_freq(w):
    return w * (T - 1) / (2 * np.pi)  # t = linspace(0, 2 pi, T) has spacing 2 pi / (T - 1)


# --- shapes, labels, ground truth ---------------------------------------------------------------------
def test_defaults_follow_the_seed():
    data = make_anomaly_dataset(n_samples=1000, rng=0)
    assert data.X.shape == (1000, 500, 1) and data.X.dtype == np.float32
    assert data.y.shape == (1000,) and data.y.dtype == np.float32 and set(np.unique(data.y)) == {0.0, 1.0}
    assert len(data) == 1000
    assert set(np.unique(data.kinds)) == {"flat", "none"}
    assert 400 < data.y.sum() < 600  # half anomalous, binomial(1000, 0.5) within 6 sigma


def test_normal_series_have_empty_spans_and_no_channel():
    data = make_anomaly_dataset(n_samples=300, length=T, rng=1, channels=3, anomalies=ANOMALY_KINDS)
    normal = data.y == 0
    assert (data.spans[normal] == 0).all() and (data.channels[normal] == -1).all()
    assert (data.kinds[normal] == "none").all()
    start, end = data.spans[~normal].T
    assert (0 <= start).all() and (start < end).all() and (end <= T).all()
    assert np.isin(data.channels[~normal], [0, 1, 2]).all()
    assert np.isin(data.kinds[~normal], ANOMALY_KINDS).all()


def test_clean_series_are_sines_with_the_seed_frequency_and_amplitude():
    clean = make_anomaly_dataset(n_samples=200, length=T, normal_ratio=1.0, rng=2, dtype=np.float64).X[:, :, 0]
    for x in clean:
        w, residual = _sinusoid_step(x)
        assert residual < 1e-9
        assert 1 - 1e-6 <= _step_to_freq(w) <= 4 + 1e-6
        assert x[0] == 0.0  # sin(freq * 0)
        assert 0.99 <= np.abs(x).max() <= 10  # freq >= 1 covers a full period, so max|x| ~ amp in [1, 10]


def test_fixed_frequency_and_amplitude_give_the_seeds_formula():
    t = np.linspace(0, 2 * np.pi, T)  # the seed: amp * sin(freq * t); the cosine channel likewise
    X = make_anomaly_dataset(n_samples=3, length=T, normal_ratio=1.0, freq=(2.5, 2.5), amp=(3.0, 3.0),
                             channels=2, rng=0, dtype=np.float64).X
    np.testing.assert_allclose(X[:, :, 0], np.broadcast_to(3 * np.sin(2.5 * t), (3, T)), rtol=0, atol=1e-13)
    np.testing.assert_allclose(X[:, :, 1], np.broadcast_to(3 * np.cos(2.5 * t), (3, T)), rtol=0, atol=1e-13)


def test_flat_anomaly_holds_the_start_value_over_a_seed_length_span():
    data, clean = _pair(3)
    for n in np.flatnonzero(data.y):
        (start, end), x, x0 = data.spans[n], data.X[n, :, 0], clean.X[n, :, 0]
        assert (x[start:end] == x0[start]).all()
        np.testing.assert_array_equal(np.delete(x, np.s_[start:end]), np.delete(x0, np.s_[start:end]))
        assert start <= int(0.9 * T)
        assert int(0.1 * T) <= end - start <= int(0.5 * T) or end == T  # cut short only by the series' end


def test_zero_noise_and_spike_anomalies_touch_only_their_span():
    data, clean = _pair(4, anomalies=("zero", "noise", "spike"))
    noise = []
    for n in np.flatnonzero(data.y):
        (start, end), x, x0, kind = data.spans[n], data.X[n, :, 0], clean.X[n, :, 0], data.kinds[n]
        np.testing.assert_array_equal(np.delete(x, np.s_[start:end]), np.delete(x0, np.s_[start:end]))
        amp = np.abs(x0).max()
        if kind == "zero":
            assert (x[start:end] == 0).all()
        elif kind == "spike":
            assert end - start == min(3, T - start)
            assert (np.abs(x[start:end]) > 2 * amp).all() and len(np.unique(x[start:end])) == 1
        else:
            noise.append(x[start:end] / amp)
    noise = np.concatenate(noise)  # N(0, 1/2) in units of the amplitude
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - np.sqrt(0.5)) < 0.05


def test_mixed_kinds_are_drawn_uniformly():
    data = make_anomaly_dataset(n_samples=2000, length=50, normal_ratio=0.0, anomalies=("flat", "zero"), rng=5)
    share = (data.kinds == "flat").mean()
    assert 0.43 < share < 0.57  # binomial(2000, 1/2): 6 sigma = 0.067


def test_multivariate_channels_and_the_channel_hit():
    data, clean = _pair(6, channels=4)
    assert data.X.shape == (400, T, 4)
    X0 = clean.X
    for c in (0, 1, 3):  # sine, cosine, sine with its own frequency
        assert max(_sinusoid_step(x)[1] for x in X0[:, :, c]) < 1e-9
    assert (X0[:, 0, 0] == 0).all() and (X0[:, 0, 3] == 0).all()  # sines start at 0
    assert (np.abs(X0[:, 0, 1]) >= 1).all()  # cosine starts at its amplitude
    assert min(_sinusoid_step(x)[1] for x in X0[:, :, 2]) > 1e-3  # the random walk is no sinusoid
    assert not np.allclose(X0[:, :, 0], X0[:, :, 3])  # fresh frequency and amplitude
    for n in range(len(data)):
        changed = np.flatnonzero((data.X[n] != X0[n]).any(axis=0))
        assert set(changed) <= ({data.channels[n]} if data.y[n] else set())
    assert set(np.unique(data.channels[data.y == 1])) == {0, 1, 2, 3}


def test_same_seed_same_data_and_other_seed_other_data():
    a, b, c = (make_anomaly_dataset(n_samples=50, length=60, anomalies=ANOMALY_KINDS, rng=s) for s in (7, 7, 8))
    for field in ("X", "y", "spans", "kinds", "channels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_normal_ratio_extremes(ratio):
    data = make_anomaly_dataset(n_samples=100, length=20, normal_ratio=ratio, rng=9)
    assert (data.y == 1 - ratio).all()


@given(length=st.integers(2, 12), seed=st.integers(0, 2**32 - 1), kinds=st.sampled_from(ANOMALY_KINDS))
def test_short_series_still_have_valid_nonempty_spans(length, seed, kinds):
    data = make_anomaly_dataset(n_samples=20, length=length, normal_ratio=0.0, anomalies=kinds,
                                loc_ratio=(0.0, 1.0), rng=seed)
    start, end = data.spans.T
    assert (0 <= start).all() and (start < end).all() and (end <= length).all()


def test_subset_takes_every_field_alike():
    data = make_anomaly_dataset(n_samples=30, length=20, anomalies=ANOMALY_KINDS, rng=10)
    idx = np.array([4, 0, 17])
    sub = data.subset(idx)
    assert isinstance(sub, AnomalyDataset) and len(sub) == 3
    for field in ("X", "y", "spans", "kinds", "channels"):
        np.testing.assert_array_equal(getattr(sub, field), getattr(data, field)[idx])
    assert len(data.subset(data.y == 1)) == data.y.sum()
    with pytest.raises(IndexError, match="subset idx"):
        data.subset([30])


def test_dtype_choice():
    assert make_anomaly_dataset(n_samples=3, length=5, rng=0, dtype=np.float64).X.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point dtype"):
        make_anomaly_dataset(n_samples=3, dtype=np.int32)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(length=1), "length: expected an integer >= 2"),
        (dict(n_samples=0), "n_samples"),
        (dict(channels=0), "channels"),
        (dict(normal_ratio=1.5), r"normal_ratio: expected a number in \[0, 1\]"),
        (dict(loc_ratio=(0.5, 0.2)), "loc_ratio"),
        (dict(length_ratio=(0.1, 1.5)), "length_ratio"),
        (dict(loc_ratio=(-0.1, 0.5)), "loc_ratio"),
        (dict(amp=(0, 1)), "amp"),
        (dict(freq=(1,)), r"freq: expected a \(low, high\) pair"),
        (dict(anomalies=("flat", "wobble")), "'flat', 'zero', 'noise', 'spike'"),
        (dict(anomalies=()), "anomalies"),
        (dict(anomalies=("flat", "flat")), "distinct"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_anomaly_dataset(n_samples=kwargs.pop("n_samples", 5), **kwargs)


def test_a_single_kind_may_be_a_string():
    data = make_anomaly_dataset(n_samples=40, length=20, normal_ratio=0.0, anomalies="zero", rng=11)
    assert (data.kinds == "zero").all()


# --- split ---------------------------------------------------------------------------------------------
def test_split_is_disjoint_covering_sized_and_seeded():
    train, val, test = train_val_test_split(5000, rng=0)
    assert (len(train), len(val), len(test)) == (3500, 750, 750)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(5000))
    again = train_val_test_split(5000, rng=0)
    for a, b in zip((train, val, test), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(train, train_val_test_split(5000, rng=1)[0])


@given(n=st.integers(1, 300), a=st.integers(0, 10), b=st.integers(0, 10), c=st.integers(0, 10))
def test_split_covers_for_any_fractions(n, a, b, c):
    if a + b + c == 0:
        return
    fractions = np.array([a, b, c]) / (a + b + c)
    parts = train_val_test_split(n, fractions, rng=n)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(n))
    for part, f in zip(parts, fractions):
        assert abs(len(part) - f * n) <= 1


@pytest.mark.parametrize("n, fractions, sizes", [
    # cuts at round(n * 0.7) and round(n * 0.85), worked by hand (no case lands on a .5)
    (1, (0.7, 0.15, 0.15), (1, 0, 0)),  # 0.7 -> 1, 0.85 -> 1
    (2, (0.7, 0.15, 0.15), (1, 1, 0)),  # 1.4 -> 1, 1.7 -> 2
    (3, (0.7, 0.15, 0.15), (2, 1, 0)),  # 2.1 -> 2, 2.55 -> 3 (cut down, it would be (2, 0, 1))
    (4, (0.7, 0.15, 0.15), (3, 0, 1)),  # 2.8 -> 3, 3.4 -> 3
    (7, (0.7, 0.15, 0.15), (5, 1, 1)),  # 4.9 -> 5, 5.95 -> 6
    (9, (0.7, 0.15, 0.15), (6, 2, 1)),  # 6.3 -> 6, 7.65 -> 8
    (13, (0.7, 0.15, 0.15), (9, 2, 2)),  # 9.1 -> 9, 11.05 -> 11
    (6, (0.6, 0.2, 0.2), (4, 1, 1)),  # 3.6 -> 4, 4.8 -> 5
    (4, (0.6, 0.2, 0.2), (2, 1, 1)),  # 2.4 -> 2, 3.2 -> 3
])
def test_split_cuts_at_the_nearest_integer(n, fractions, sizes):
    assert tuple(len(part) for part in train_val_test_split(n, fractions, rng=0)) == sizes


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1)])
def test_split_refuses_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        train_val_test_split(10, fractions)


# --- scaler --------------------------------------------------------------------------------------------
def test_scaler_standardises_each_channel_of_the_training_set():
    X = make_anomaly_dataset(n_samples=200, length=50, channels=3, rng=12).X
    scaler = fit_scaler(X)
    Z = scaler.transform(X)
    assert Z.dtype == np.float32 and Z.shape == X.shape
    np.testing.assert_allclose(Z.mean(axis=(0, 1), dtype=np.float64), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=(0, 1), dtype=np.float64), 1, rtol=1e-5)


def test_scaler_round_trips_through_json_and_survives_a_constant_channel():
    X = np.stack([np.full((4, 6), 3.0), np.arange(24.0).reshape(4, 6)], axis=-1)  # channel 0 constant
    scaler = fit_scaler(X)
    np.testing.assert_array_equal(scaler.transform(X)[..., 0], 0.0)
    again = StandardScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.transform(X), scaler.transform(X))


def test_scaler_refuses_bad_input():
    scaler = fit_scaler(np.ones((2, 3, 2)))
    with pytest.raises(ValueError, match="expected 2 channel"):
        scaler.transform(np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match="3-D"):
        fit_scaler(np.ones((2, 3)))
    with pytest.raises(ValueError, match="from_dict"):
        StandardScaler.from_dict({"mean": [0.0]})
    with pytest.raises(ValueError, match="positive scale"):
        StandardScaler.from_dict({"mean": [0.0], "scale": [0.0]})
