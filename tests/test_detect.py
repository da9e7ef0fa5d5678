"""Anomaly localisation in a long series: windows, injections, the step score, the UCR rule, the discord,
the file readers, ``detect`` end to end and ``predict`` on series longer or shorter than the training one."""

import json
import sys
import types

import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpy_attn.tasks import plots
from numpy_attn.tasks.anomaly import build_model, series_features
from numpy_attn.tasks.checkpoint import load_checkpoint, save_checkpoint
from numpy_attn.tasks.cli import main
from numpy_attn.tasks.detect import DetectConfig, detect, normal_prefix_length, run_detect
from numpy_attn.tasks.detect_study import SPEEDS, repair, scale_stretch, speed_response, time_stretch
from numpy_attn.tasks.detection_metrics import average_precision, labelled_ranges, ucr_hit, ucr_margin, ucr_region
from numpy_attn.tasks.discord import matrix_profile, profile_step_scores, top_discord
from numpy_attn.tasks.injection import FACTOR, INJECTION_KINDS, INJECTIONS, SOURCE_KINDS, TEMPO_FACTOR, ease, inject
from numpy_attn.tasks.localize import pooled_mean, slide, step_scores, top_detections
from numpy_attn.tasks.preprocessing import StandardScaler
from numpy_attn.tasks.series_file import read_long_series
from numpy_attn.tasks.synthetic import SPIKE_WIDTH
from numpy_attn.tasks.windows import cut_windows, default_window, dominant_period, window_starts

TINY = DetectConfig(windows=48, epochs=1, hidden=4, batch_size=16)  # a model that trains in about a second


def sine(T, period, phase=0.0):
    return np.sin(2 * np.pi * np.arange(T) / period + phase)


# --- windows -------------------------------------------------------------------------------------------
@given(T=st.integers(1, 300), length=st.integers(1, 300), stride=st.integers(1, 50))
def test_windows_slide_by_the_stride_and_the_last_one_ends_at_the_end(T, length, stride):
    if length > T:
        with pytest.raises(ValueError, match=f"fewer than one window of {length}"):
            window_starts(T, length, stride)
        return
    starts = window_starts(T, length, stride)
    regular = np.arange(0, T - length + 1, stride)
    np.testing.assert_array_equal(starts[: len(regular)], regular)  # 0, S, 2S, ...
    assert starts[-1] == T - length  # the last window ends at T
    assert len(starts) == len(regular) + (regular[-1] != T - length)  # one extra window only when needed
    assert 0 < np.diff(starts).min(initial=1) and np.diff(starts).max(initial=0) <= stride


def test_cut_windows_are_the_stretches_at_their_starts():
    x = np.arange(24.0).reshape(12, 2)
    starts = window_starts(12, 5, 3)
    np.testing.assert_array_equal(starts, [0, 3, 6, 7])
    W = cut_windows(x, starts, 5)
    assert W.shape == (4, 5, 2)
    for w, s in zip(W, starts):
        np.testing.assert_array_equal(w, x[s : s + 5])


def test_period_of_a_sine_and_none_for_noise():
    assert dominant_period(sine(1000, 37)) == 37
    assert dominant_period(np.stack([sine(1000, 50), sine(1000, 50, 1.0)], axis=1)) == 50  # (T, C)
    noisy = sine(2000, 80) + 0.5 * np.random.default_rng(0).standard_normal(2000)
    assert abs(dominant_period(noisy) - 80) <= 2
    assert dominant_period(np.random.default_rng(1).standard_normal(1000)) is None


def test_default_window_is_the_period_clamped():
    assert default_window(sine(1000, 37)[:, None]) == 37
    assert default_window(sine(1000, 10)[:, None]) == 16  # MIN_WINDOW
    assert default_window(sine(800, 300)[:, None]) == 200  # a quarter of the normal series
    assert default_window(np.random.default_rng(0).standard_normal((1000, 1))) == 64  # no period: the fallback
    with pytest.raises(ValueError, match="too short"):
        default_window(sine(50, 10)[:, None])


# --- injections ----------------------------------------------------------------------------------------
def _injected(kind, seed, x, source=None):
    source = np.cos(np.arange(300) / 7.0) if source is None else source
    extra = {"source": source} if kind in SOURCE_KINDS else {}
    return INJECTIONS[kind](x, np.random.default_rng(seed), **extra)


@pytest.mark.parametrize("kind", INJECTION_KINDS)
def test_each_injection_is_seeded_and_changes_only_its_span(kind):
    x = sine(120, 30) + 0.01 * np.arange(120)  # no two steps equal, no step 0
    for seed in range(20):
        y, (s, e) = _injected(kind, seed, x)
        y_again, span_again = _injected(kind, seed, x)
        np.testing.assert_array_equal(y, y_again)
        assert span_again == (s, e) and 0 <= s < e <= len(x)
        np.testing.assert_array_equal(y[:s], x[:s])
        np.testing.assert_array_equal(y[e:], x[e:])
        assert not np.array_equal(y[s:e], x[s:e]), (kind, seed)
    assert not np.array_equal(_injected(kind, 0, x)[0], _injected(kind, 1, x)[0])


@pytest.mark.parametrize("seed", range(10))
def test_each_injection_inserts_what_it_says(seed):
    ramp = np.arange(100.0)  # x_t = t: what each kind writes is easy to read back
    y, (s, e) = _injected("flat", seed, ramp)
    np.testing.assert_array_equal(y[s:e], s)
    y, (s, e) = _injected("zero", seed, ramp)
    np.testing.assert_array_equal(y[s:e], 0.0)
    y, (s, e) = _injected("spike", seed, ramp)
    assert e - s == SPIKE_WIDTH and np.allclose(np.abs(y[s:e]), 3 * np.sqrt(2)) and len(set(y[s:e])) == 1
    curve = np.exp(ramp / 50)  # no sample equals a span's mean
    y, (s, e) = _injected("scale", seed, curve)
    m = curve[s:e].mean()
    gain = (y[s:e] - m) / (curve[s:e] - m)  # 1 + (a - 1) ease: 1 at the ends, a in the middle
    a = gain[(e - s) // 2]
    assert FACTOR[0] <= a <= FACTOR[1] or FACTOR[0] <= 1 / a <= FACTOR[1]
    np.testing.assert_allclose(gain, 1 + (a - 1) * ease(e - s))
    y, (s, e) = _injected("warp", seed, ramp)
    speed = np.diff(y[s:e])  # on a ramp y_t = where step t reads from: the speed is its slope
    assert y[s] == s and y[e - 1] < e and (speed > 0).all()
    slow, fast = speed.min(), speed.max()
    assert 1 / FACTOR[1] - 0.05 <= slow <= 1 / FACTOR[0] and 2 - 1 / FACTOR[0] <= fast + 0.05 <= 2 - 1 / FACTOR[1] + 0.1
    source = np.cos(np.arange(300) / 7.0)
    y, (s, e) = _injected("copy", seed, ramp)
    W = cut_windows(source[:, None], np.arange(300 - (e - s) + 1), e - s)[..., 0]
    assert np.isclose(W, y[s:e]).all(axis=1).any()  # a stretch of the source
    y, (s, e) = _injected("tempo", seed, ramp, source=np.arange(300.0))
    speed = np.diff(y)  # reading a ramp source: y_k = u + k / a, the read places themselves
    assert (s, e) == (0, 100) and np.allclose(speed, speed[0]) and 0 <= y[0] and y[-1] <= 299
    assert TEMPO_FACTOR[0] <= 1 / speed[0] <= TEMPO_FACTOR[1]  # a times slower


def test_tempo_draws_its_slowing_and_place_and_refuses_a_source_too_short():
    ramp = np.arange(100.0)
    played = [_injected("tempo", seed, ramp, source=np.arange(300.0))[0] for seed in range(40)]
    slowing, firsts = [1 / np.diff(y)[0] for y in played], [y[0] for y in played]
    assert min(slowing) < 1.4 and max(slowing) > 1.9  # spread over TEMPO_FACTOR
    assert min(firsts) < 20 and max(firsts) > 180  # from places spread over the source (the last: 299 - 99 / a)
    with pytest.raises(ValueError, match=r"tempo: the source \(99 steps\) is shorter than the window \(100 steps\)"):
        _injected("tempo", 0, ramp, source=np.arange(99.0))


def test_noise_has_the_normal_spread():
    draws = (_injected("noise", seed, np.full(100, 5.0)) for seed in range(60))
    values = np.concatenate([y[s:e] for y, (s, e) in draws])
    assert abs(values.mean()) < 0.1 and abs(values.std() - 1.0) < 0.1  # N(0, 1) in standard units


def test_tempo_and_copy_read_the_injected_channel_of_the_normal_series():
    source = np.stack([np.arange(300.0), 1000.0 + np.arange(300.0)], axis=1)  # channel c reads 1000 c + its place
    window = np.zeros((40, 2))
    for kind in SOURCE_KINDS:
        for seed in range(10):
            out, (s, e), channel = inject(window, kind, np.random.default_rng(seed), source)
            assert (1000 * channel <= out[s:e, channel]).all() and (out[s:e, channel] < 1000 * channel + 300).all()
            np.testing.assert_array_equal(out[:, 1 - channel], 0.0)


def test_inject_changes_one_channel_of_a_window():
    window = np.stack([sine(60, 20), sine(60, 15), sine(60, 10)], axis=1)
    out, (s, e), channel = inject(window, "flat", np.random.default_rng(3), window)
    others = [c for c in range(3) if c != channel]
    np.testing.assert_array_equal(out[:, others], window[:, others])
    np.testing.assert_array_equal(out[s:e, channel], window[s, channel])


# --- the step score ------------------------------------------------------------------------------------
def test_step_scores_on_a_hand_worked_case():
    # T = 6, L = 3, windows at 0, 2, 3: step 2 is in windows 0 and 1, step 3 in windows 1 and 2
    prob = np.array([1.0, 0.5, 0.0])
    alpha = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    score = step_scores(prob, alpha, np.array([0, 2, 3]), 6)
    # p L alpha: window 0 -> (0, 0, 3) on 0-2; window 1 -> (0.75, 0.75, 0) on 2-4; window 2 -> 0 on 3-5
    np.testing.assert_allclose(score, [0.0, 0.0, (3 + 0.75) / 2, (0.75 + 0) / 2, 0.0, 0.0])
    uniform = step_scores(np.full(3, 0.4), np.full((3, 3), 1 / 3), np.array([0, 2, 3]), 6)
    np.testing.assert_allclose(uniform, 0.4)  # uniform attention: every step gets its windows' probability


def test_pooled_mean_averages_the_steps_that_exist():
    np.testing.assert_allclose(pooled_mean(np.array([3.0, 0, 0, 0, 6]), 3), [1.5, 1, 0, 2, 3])
    np.testing.assert_allclose(pooled_mean(np.arange(5.0), 1), np.arange(5.0))


def test_step_scores_refuse_windows_that_leave_steps_uncovered():
    with pytest.raises(ValueError, match="must cover"):
        step_scores(np.ones(2), np.full((2, 3), 1 / 3), np.array([0, 4]), 7)


class SpikeFinder:
    """A stand-in for a trained classifier: p = 1 for a window holding a value above 3, attention on it."""

    training = False

    def eval(self):
        pass

    def train(self, mode=True):
        pass

    def __call__(self, x):
        peak = x[..., 0] > 3.0  # (B, L)
        prob = peak.any(axis=1).astype(float)
        found = peak.any(axis=1, keepdims=True)
        alpha = np.where(found, peak / np.maximum(peak.sum(1, keepdims=True), 1), 1 / x.shape[1])
        return prob, alpha


@pytest.mark.parametrize("t0, pool", [(0, 1), (137, 1), (137, 9), (299, 5)])
def test_the_score_peaks_where_the_anomaly_was_planted(t0, pool):
    x = sine(300, 25)[:, None]
    x[t0] = 5.0
    starts, prob, alpha = slide(SpikeFinder(), x, 40, 5, lambda w: w)
    score = step_scores(prob, alpha, starts, 300, pool)
    assert abs(int(np.argmax(score)) - t0) <= pool // 2
    assert top_detections(score, 1, 40)[0] == np.argmax(score)


def test_top_detections_are_apart_and_after_first():
    score = np.zeros(100)
    score[[10, 12, 50, 90]] = [5.0, 4.0, 3.0, 2.0]
    np.testing.assert_array_equal(top_detections(score, 3, 5), [10, 50, 90])  # 12 is within 5 of 10
    np.testing.assert_array_equal(top_detections(score, 2, 5, first=20), [50, 90])


# --- metrics -------------------------------------------------------------------------------------------
def _labels(T, *ranges):
    y = np.zeros(T, dtype=int)
    for a, b in ranges:
        y[a : b + 1] = 1
    return y


@pytest.mark.parametrize("location, hit", [(4192, True), (4187 - 100, True), (4198 + 100, True),
                                           (4187 - 101, False), (4198 + 101, False), (0, False)])
def test_ucr_rule_on_a_short_anomaly_gives_100_steps_each_side(location, hit):
    assert ucr_hit(location, _labels(7501, (4187, 4198))) is hit


@pytest.mark.parametrize("location, hit", [(1000 - 300, True), (1000 - 301, False), (1299 + 300, True),
                                           (1299 + 301, False)])
def test_ucr_rule_on_a_long_anomaly_gives_its_length_each_side(location, hit):
    assert ucr_hit(location, _labels(3000, (1000, 1299))) is hit  # 300 steps long


def test_ucr_rule_with_several_ranges_and_without_any():
    labels = _labels(2000, (100, 110), (1500, 1510))
    assert labelled_ranges(labels) == [(100, 110), (1500, 1510)]
    assert ucr_hit(1405, labels) and not ucr_hit(800, labels)
    with pytest.raises(ValueError, match="no anomaly"):
        ucr_hit(5, np.zeros(10, dtype=int))


def test_ucr_margin_compares_the_best_peak_inside_with_the_best_outside():
    labels = _labels(1000, (500, 509))
    scores = np.zeros(1000)
    scores[[450, 700, 100]] = [4.0, 2.0, 9.0]
    assert ucr_margin(scores, labels) == 4.0 / 9.0
    assert ucr_margin(scores, labels, first=200) == 2.0  # step 100 is in the normal prefix
    np.testing.assert_array_equal(np.flatnonzero(ucr_region(labels))[[0, -1]], [400, 609])


def test_average_precision_on_hand_worked_cases():
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2]) == 1.0
    assert average_precision([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]) == 0.25  # all tied: the share of positives
    with pytest.raises(ValueError, match="no positive"):
        average_precision([0, 0], [0.1, 0.2])


# --- the discord ---------------------------------------------------------------------------------------
def test_matrix_profile_matches_a_direct_computation():
    x = np.random.default_rng(0).standard_normal(60)
    m, k = 8, 2
    z = [(w - w.mean()) / w.std() for w in (x[i : i + m] for i in range(len(x) - m + 1))]
    direct = [min(np.linalg.norm(z[i] - z[j]) for j in range(len(z)) if abs(i - j) >= k) for i in range(len(z))]
    np.testing.assert_allclose(matrix_profile(x, m, exclusion=k, block=7), direct, atol=1e-9)


def test_the_discord_is_the_planted_odd_cycle():
    x = sine(1000, 50) + 0.01 * np.random.default_rng(0).standard_normal(1000)
    x[600:650] = np.sin(2 * np.pi * np.arange(50) / 25)  # one cycle at double speed
    profile = matrix_profile(x, 40)
    start = top_discord(profile)
    assert 600 - 40 < start < 650
    assert top_discord(profile, first=700) >= 700
    score = profile_step_scores(profile, 40)
    assert score.shape == (1000,) and np.argmax(score) == start + 20
    np.testing.assert_array_equal(score[20 : 20 + len(profile)], profile)


# --- files ---------------------------------------------------------------------------------------------
def test_read_timeeval_csv_with_and_without_labels(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp,value,is_anomaly\n0,1.5,0\n1,2.5,1\n2,3.5,0\n")
    series = read_long_series(tmp_path / "a.csv")
    np.testing.assert_array_equal(series.values, [[1.5], [2.5], [3.5]])
    np.testing.assert_array_equal(series.labels, [0, 1, 0])
    (tmp_path / "b.csv").write_text("# a comment line\ntimestamp,value\n2021-01-01,1.0\n2021-01-02,2.0\n")
    series = read_long_series(tmp_path / "b.csv")
    assert series.values.shape == (2, 1) and series.labels is None
    (tmp_path / "c.csv").write_text("timestamp,value-0,value-1,is_anomaly\n0,1,10,0\n1,2,20,0\n")
    series = read_long_series(tmp_path / "c.csv")
    np.testing.assert_array_equal(series.values, [[1, 10], [2, 20]])


def test_read_plain_csv_and_npy(tmp_path):
    (tmp_path / "one.csv").write_text("1.0\n2.0\n\n3.0\n")
    np.testing.assert_array_equal(read_long_series(tmp_path / "one.csv").values, [[1], [2], [3]])
    (tmp_path / "multi.csv").write_text("1,2,3\n4,5,6\n")
    assert read_long_series(tmp_path / "multi.csv").values.shape == (2, 3)
    (tmp_path / "header.csv").write_text("x,y\n1,2\n4,5\n")
    np.testing.assert_array_equal(read_long_series(tmp_path / "header.csv").values, [[1, 2], [4, 5]])
    np.save(tmp_path / "t.npy", np.arange(5))
    assert read_long_series(tmp_path / "t.npy").values.shape == (5, 1)
    np.save(tmp_path / "tc.npy", np.ones((5, 3), dtype=np.float32))
    series = read_long_series(tmp_path / "tc.npy")
    assert series.values.shape == (5, 3) and series.values.dtype == np.float64 and series.labels is None


@pytest.mark.parametrize("name, content, message", [
    ("bad.csv", "timestamp,value,is_anomaly\n0,1,0\n1,2\n", r"bad.csv, line 3: expected 3 comma-separated"),
    ("word.csv", "1.0\n2.0\nabc,\n", r"word.csv, line 3: expected 1 comma-separated"),
    ("text.csv", "value\n1.0\nabc\n", r"text.csv, line 3: expected numbers in the columns value"),
    ("label.csv", "timestamp,value,is_anomaly\n0,1,0\n1,2,7\n", r"label.csv, line 3: expected is_anomaly 0 or 1"),
    ("nan.csv", "1.0\nnan\n", r"nan.csv, line 2: expected finite numbers"),
    ("empty.csv", "# only a comment\n", r"empty.csv: expected rows"),
    ("header.csv", "timestamp,value\n", r"header.csv: expected rows of numbers after the header line 1"),
])
def test_bad_csv_files_name_the_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        read_long_series(tmp_path / name)


def test_bad_npy_files_are_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="objects.npy: not a readable .npy"):
        read_long_series(tmp_path / "objects.npy")
    np.save(tmp_path / "cube.npy", np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"cube.npy: expected an array of numbers of shape \(T,\) or \(T, C\)"):
        read_long_series(tmp_path / "cube.npy")
    with pytest.raises(ValueError, match="missing.csv: no such file"):
        read_long_series(tmp_path / "missing.csv")


# --- detect end to end ---------------------------------------------------------------------------------
def _long_series(tmp_path, T_normal=400, T=900, burst=650):
    """A normal sine (period 40) and a test series that starts with it and has a noise burst at ``burst``."""
    rng = np.random.default_rng(0)
    x = sine(T, 40) + 0.02 * rng.standard_normal(T)
    x[burst : burst + 12] += rng.standard_normal(12)
    labels = np.zeros(T, dtype=int)
    labels[burst : burst + 12] = 1
    normal_rows = "".join(f"{t},{v:.17g}\n" for t, v in enumerate(x[:T_normal]))
    (tmp_path / "normal.csv").write_text("timestamp,value\n" + normal_rows)
    rows = "".join(f"{t},{v:.17g},{y}\n" for t, (v, y) in enumerate(zip(x, labels)))
    (tmp_path / "test.csv").write_text("timestamp,value,is_anomaly\n" + rows)
    return tmp_path / "normal.csv", tmp_path / "test.csv"


def test_detect_writes_every_output(tmp_path):
    normal, test = _long_series(tmp_path)
    out = tmp_path / "run"
    metrics = run_detect(normal, test, out, TINY, log=lambda line: None)
    assert sorted(p.name for p in out.iterdir()) == ["detection.png", "metrics.json", "model.npz", "scores.csv"]
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "index,score" and len(rows) == 1 + 900
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(900))
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert metrics["window"] == 40 and metrics["stride"] == 5 and metrics["searched_from"] == 400
    assert 400 <= metrics["location"] < 900 and metrics["location"] == metrics["detections"][0]
    assert {"ucr_hit", "roc_auc", "pr_auc", "labelled_ranges"} <= set(metrics)
    assert metrics["labelled_ranges"] == [[650, 661]]
    assert (out / "detection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, meta = load_checkpoint(out / "model.npz")
    assert meta["window"] == 40 and meta["stride"] == 5 and meta["features"] == "shape"
    assert {"scaler", "series_scaler", "pool"} <= set(meta)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]  # no temporary folder left


@pytest.mark.parametrize("features", ["shape", "diff"])
def test_the_features_scaler_is_fitted_on_the_normal_series_windows(features):
    """The model's input is standardised with the statistics of what it sees: the features of the normal
    series' windows (each window's shape channels z-normalised over the window), not of the whole series."""
    normal = np.stack([sine(400, 40) + 0.1 * sine(400, 7), 2 + sine(400, 40, 1.0)], axis=1)
    found = detect(normal, normal[:200], DetectConfig(**{**vars(TINY), "features": features}), log=lambda line: None)
    z = StandardScaler.from_dict(found.meta["series_scaler"]).transform(normal[None])[0]
    windows = cut_windows(z, window_starts(len(z), found.window, found.stride), found.window)
    F = series_features(windows, features).reshape(-1, found.meta["input_dim"])
    scaler = StandardScaler.from_dict(found.meta["scaler"])
    np.testing.assert_allclose(scaler.mean, F.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaler.scale, F.std(axis=0), rtol=1e-12)


def test_detect_on_two_channels_without_the_normal_prefix_searches_everywhere():
    normal = np.stack([sine(400, 40, 1.0), sine(400, 40, 2.0)], axis=1)
    test = np.stack([sine(700, 40), 3 * sine(700, 40, 1.0)], axis=1)
    assert normal_prefix_length(normal, test) == 0 and normal_prefix_length(normal, np.vstack([normal, test])) == 400
    found = detect(normal, test, TINY, log=lambda line: None)
    assert found.normal_prefix == 0 and found.scores.shape == (700,) and found.window == 40
    assert found.meta["channels"] == 2 and found.meta["input_dim"] == 8  # [z, dz, s, ds] of each channel


def test_a_failed_run_leaves_out_untouched(tmp_path, monkeypatch):
    normal, test = _long_series(tmp_path)
    monkeypatch.setattr(plots, "plot_detection", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_detect(normal, test, tmp_path / "run", TINY, log=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["normal.csv", "test.csv"]


@pytest.mark.parametrize("args, message", [
    (["--window", "1"], "window: expected an integer >= 2"),
    (["--kinds", "flat,wobble"], "kinds: expected injection kinds"),
    (["--share", "1.5"], "share: expected a fraction"),
    (["--epochs", "0"], "epochs: expected an integer >= 1"),
    (["--window", "200"], "too short for windows of 200"),
    (["--data", "KDD-TSAD_135"], "give --data NAME, or --train NORMAL and --test SERIES"),
])
def test_detect_cli_refuses_bad_options_before_writing(tmp_path, capsys, args, message):
    normal, test = _long_series(tmp_path)
    out = tmp_path / "run"
    assert main(["detect", "--train", str(normal), "--test", str(test), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_detect_cli_on_a_bundled_dataset(tmp_path, monkeypatch, capsys):
    normal, test = _long_series(tmp_path)
    fake = types.ModuleType("numpy_attn.datasets")
    fake.bundled_files = lambda name: {"train": normal, "test": test}
    monkeypatch.setitem(sys.modules, "numpy_attn.datasets", fake)
    out = tmp_path / "run"
    assert main(["detect", "--data", "SINE", "--out", str(out), "--windows", "48", "--epochs", "1",
                 "--hidden", "4"]) == 0
    assert "after the first 400 steps" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["steps"] == 900


# --- predict on series of another length -------------------------------------------------------------
def _train_checkpoint(path, length=40):
    """A checkpoint as ``numpy-attn train`` writes it (untrained weights: only the lengths matter here)."""
    model, kwargs = build_model("bilstm-attention", 2, hidden=4)
    meta = {"model": "bilstm-attention", "input_dim": 2, "model_kwargs": kwargs, "features": "diff", "channels": 1,
            "scaler": {"mean": [0.0, 0.0], "scale": [1.0, 0.2]}, "config": {"length": length}}
    save_checkpoint(path, model, meta)


def test_predict_slides_over_a_longer_series_and_refuses_a_shorter_one(tmp_path, capsys):
    _train_checkpoint(tmp_path / "model.npz")
    np.save(tmp_path / "long.npy", np.stack([sine(100, 20), sine(100, 30)]))
    assert main(["predict", "--checkpoint", str(tmp_path / "model.npz"), "--input", str(tmp_path / "long.npy"),
                 "--out", str(tmp_path / "pred")]) == 0
    logged = capsys.readouterr().out
    assert "2 series of 100 steps scored by windows of 40 steps (the training length) sliding by 5" in logged
    assert len((tmp_path / "pred" / "predictions.csv").read_text().splitlines()) == 3
    alpha = np.load(tmp_path / "pred" / "attention.npy")
    assert alpha.shape == (2, 100)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0)
    np.save(tmp_path / "short.npy", sine(30, 20))
    assert main(["predict", "--checkpoint", str(tmp_path / "model.npz"), "--input", str(tmp_path / "short.npy"),
                 "--out", str(tmp_path / "pred2")]) == 2
    err = capsys.readouterr().err
    assert "series of 30 steps are shorter than the 40 steps" in err and not (tmp_path / "pred2").exists()


def test_predict_scores_a_series_of_the_training_length_whole(tmp_path, capsys):
    _train_checkpoint(tmp_path / "model.npz")
    np.save(tmp_path / "x.npy", sine(40, 20))
    assert main(["predict", "--checkpoint", str(tmp_path / "model.npz"), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "pred")]) == 0
    assert "1 series of 40 steps scored: " in capsys.readouterr().out


def test_predict_with_a_detect_checkpoint_slides_like_detect(tmp_path):
    normal, test = _long_series(tmp_path)
    run_detect(normal, test, tmp_path / "run", TINY, log=lambda line: None)
    x = read_long_series(test).values
    np.save(tmp_path / "x.npy", x[:, 0])
    assert main(["predict", "--checkpoint", str(tmp_path / "run" / "model.npz"), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "pred")]) == 0
    scores = np.loadtxt(tmp_path / "run" / "scores.csv", delimiter=",", skiprows=1)[:, 1]
    alpha = np.load(tmp_path / "pred" / "attention.npy")[0]
    np.testing.assert_allclose(alpha, scores / scores.sum(), rtol=1e-4, atol=1e-9)
    # the file detect read (a CSV of timestamp,value,is_anomaly) reads the same way
    assert main(["predict", "--checkpoint", str(tmp_path / "run" / "model.npz"), "--input", str(test),
                 "--out", str(tmp_path / "pred_csv")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "pred_csv" / "attention.npy"), alpha[None])


# --- the study's planted changes ---------------------------------------------------------------------
def test_planted_changes_are_continuous_and_labelled():
    x = sine(600, 50)[:, None]
    y, labels = scale_stretch(x, 200, 100, 2.0)
    assert labelled_ranges(labels) == [(200, 299)]
    np.testing.assert_array_equal(y[:200], x[:200])
    np.testing.assert_array_equal(y[300:], x[300:])
    assert np.abs(np.diff(y[:, 0])).max() < 2.5 * np.abs(np.diff(x[:, 0])).max()  # no jump
    assert np.ptp(y[225:275]) > 1.9 * np.ptp(x[225:275])

@pytest.mark.parametrize("factor, period", [(1.5, 75), (2.0, 100), (1 / 1.5, 33), (0.5, 25)])
def test_time_stretch_eases_into_and_out_of_the_new_tempo(factor, period):
    ramp = np.arange(1000.0)[:, None]  # y_t = the step of the recording that step t plays
    y, labels = time_stretch(ramp, 200, 300, factor)
    (first, last), = labelled_ranges(labels)
    n = last - first + 1
    assert first == 200 and len(y) == 1000 + n - 300
    np.testing.assert_array_equal(y[:200], ramp[:200])
    np.testing.assert_array_equal(y[200 + n :], ramp[500:])  # the rest of the recording, moved
    assert y[200, 0] == 200 and y[199 + n, 0] == 499  # starts and ends on the recording's own samples
    speed = np.diff(y[199 : 201 + n, 0])  # samples read per step: 1 at both ends, 1 / factor in the middle
    assert abs(speed[0] - 1) < 0.05 and abs(speed[-1] - 1) < 0.05
    np.testing.assert_allclose(speed[n // 4 + 1 : n - n // 4], 1 / factor, rtol=0.03)
    assert (np.abs(np.diff(speed)) < 2 * abs(1 / factor - 1) / (n // 4)).all()  # eased: no jump in speed
    y, labels = time_stretch(sine(1400, 50)[:, None], 200, 600, factor)  # a sine of period 50 ...
    n = int(labels.sum())
    assert abs(dominant_period(y[200 + n // 4 : 200 + 3 * n // 4]) - period) <= 1  # ... beats at 50 factor


def test_repair_replaces_a_labelled_range_by_a_smooth_curve():
    x = sine(400, 80)[:, None]
    noisy = x.copy()
    noisy[200:212, 0] += np.random.default_rng(0).standard_normal(12)
    labels = _labels(400, (200, 211))
    repaired = repair(noisy, labels)
    np.testing.assert_array_equal(repaired[:197], noisy[:197])
    np.testing.assert_allclose(repaired, x, atol=1e-2)  # a cubic through 18 steps of a period of 80


class SlopeMeter(SpikeFinder):
    """A stand-in detector whose P(anomalous) is the window's mean |dx| (its input's second feature)."""

    def __call__(self, x):
        return np.abs(x[..., 1]).mean(axis=1), np.full(x.shape[:2], 1 / x.shape[1])


def test_speed_response_plays_the_normal_series_at_each_speed():
    identity = lambda C: {"mean": [0.0] * C, "scale": [1.0] * C}  # noqa: E731
    found = types.SimpleNamespace(model=SlopeMeter(), window=40,
                                  meta={"series_scaler": identity(1), "scaler": identity(2), "features": "diff"})
    response = speed_response(found, sine(600, 100)[:, None])
    assert list(response) == list(SPEEDS)
    for speed, p in response.items():  # mean |dx| of a sine read at speed v: v times that of the sine itself
        assert p == pytest.approx(speed * response[1.0], rel=0.05), speed
