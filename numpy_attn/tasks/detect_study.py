"""The detector against the matrix-profile discord, on a real recording and on changes of character
planted in it: ``python -m numpy_attn.tasks.detect_study`` prints the tables of docs/detection.md.

The cases are built from the recording's TEST series with its labelled anomaly repaired (``repair``), so
the planted change is the only anomaly; it goes after the normal prefix, at a place drawn by the seed:

    amplitude  ``scale_stretch``: a stretch of 2 periods, its swings around their mean times a (1.5 or 2),
               eased in and out over a quarter of the stretch, so the series stays continuous and every
               window is a louder copy of a normal one: the same shape after z-normalisation. (The
               detector's scale injection makes the same change, over at most one window.)
    rhythm     ``time_stretch``: a stretch of 3 periods played f times slower or faster (f = 1.5 or 2),
               the tempo eased in and out over a quarter of the played stretch, so its middle half plays
               1.2 to 1.7 of the recording's beats at the new tempo; it starts and ends on the recording's
               own values and slope, and every window in it is a smooth pulse, only a slower or quicker one.
"""

import argparse

import numpy as np

from .detect import DetectConfig, bundled_pair, detect, model_input, normal_prefix_length
from .detection_metrics import labelled_ranges, ucr_hit, ucr_margin
from .discord import matrix_profile, profile_step_scores, top_discord
from .injection import ease, scale_span
from .preprocessing import StandardScaler
from .series_file import read_long_series
from .training import predict
from .windows import default_window

DISCORD_LENGTHS = (32, 64, 128)  # the window lengths at which the discord was measured on KDD-TSAD_135
METHODS = ("detector",) + tuple(f"discord m={m}" for m in DISCORD_LENGTHS)
CASE_PERIODS = {"amplitude": 2, "rhythm": 3}  # periods of the recording a planted change takes
CASES = (("amplitude", 1.5), ("amplitude", 2.0),  # (kind, factor): the gain a, the slowing f (< 1: faster)
         ("rhythm", 1.5), ("rhythm", 2.0), ("rhythm", 1 / 1.5), ("rhythm", 0.5))
SPEEDS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)  # playback speeds of the speed response (< 1: slower)
REPAIR_PAD = 2  # KDD-TSAD_135's label ends at 4198, its noise at 4199


def repair(x, labels):
    """x (T, C) with each labelled range, widened by REPAIR_PAD steps on each side, replaced by the cubic
    that meets the steps just outside it in value and slope (a cubic Hermite curve), so no kink is left.

    With a = the step before the range, b = the step after, h = b - a, u = (t - a) / h and the slopes
    m_a = x_a - x_{a-1}, m_b = x_{b+1} - x_b (per step):
        x_t = (2u^3 - 3u^2 + 1) x_a + (u^3 - 2u^2 + u) h m_a + (-2u^3 + 3u^2) x_b + (u^3 - u^2) h m_b
    """
    y = np.array(x, dtype=np.float64)
    for first, last in labelled_ranges(labels):
        a, b = max(first - REPAIR_PAD - 1, 1), min(last + REPAIR_PAD + 1, len(y) - 2)
        h = b - a
        u = (np.arange(a + 1, b) - a)[:, None] / h  # (b - a - 1, 1)
        m_a, m_b = y[a] - y[a - 1], y[b + 1] - y[b]
        y[a + 1 : b] = ((2 * u**3 - 3 * u**2 + 1) * y[a] + (u**3 - 2 * u**2 + u) * h * m_a
                        + (-2 * u**3 + 3 * u**2) * y[b] + (u**3 - u**2) * h * m_b)
    return y


def scale_stretch(x, start, length, factor):
    """x (T, C) with its swings on [start, start + length) scaled by ``factor``, eased in and out over a
    quarter of the stretch (``injection.scale_span``, the scale injection's own change). Returns
    (y, labels (T,) with 1 on the stretch)."""
    labels = np.zeros(len(x), dtype=int)
    labels[start : start + length] = 1
    return scale_span(x, start, start + length, factor), labels


def time_stretch(x, start, length, factor):
    """x (T, C) with [start, start + length) played ``factor`` times slower (factor > 1) or 1 / factor times
    faster (factor < 1), the tempo eased in and out: a real change of rhythm, not a jump in speed.

    Output step k of the n-step stretch reads the recording at r_k (linear interpolation), advancing by
        v_k = 1 + (1 / factor - 1) w_k,   w = ``injection.ease(n)``
    samples per step: 1 at both ends (where the recording's own speed is), 1 / factor over the middle half.
    n is the smallest length whose reads cover the stretch, sum_k v_k >= length - 1, and r is rescaled to
    run exactly from ``start`` to ``start + length - 1``, so the stretch starts and ends on the recording's
    own samples with the recording's own slope. The series grows (or shrinks) by n - length.
    Returns (y, labels (T',) with 1 on the n played steps).
    """
    x = np.asarray(x, dtype=np.float64)
    speed = lambda n: 1.0 + (1.0 / factor - 1.0) * ease(n)  # noqa: E731
    n = 2
    while speed(n)[:-1].sum() < length - 1:  # covered reads grow with n (every v_k > 0): the first n that covers
        n += 1
    v = speed(n)
    reads = np.concatenate([[0.0], np.cumsum(v[:-1])])  # (n,) from 0 to sum v_k >= length - 1
    where = start + reads * (length - 1) / reads[-1]
    played = np.stack([np.interp(where, np.arange(len(x)), x[:, c]) for c in range(x.shape[1])], axis=1)
    y = np.concatenate([x[:start], played, x[start + length :]])
    labels = np.zeros(len(y), dtype=int)
    labels[start : start + n] = 1
    return y, labels


def planted_case(kind, factor, normal, test, labels, seed):
    """(series, labels) of one case: ``kind`` ("amplitude" or "rhythm") planted at a place drawn by ``seed``
    after the normal prefix and a window's distance from either end of the repaired test series."""
    window = default_window(normal)
    length = CASE_PERIODS[kind] * window
    first = normal_prefix_length(normal, test) + window
    start = int(np.random.default_rng(seed).integers(first, len(test) - length - window))
    plant = scale_stretch if kind == "amplitude" else time_stretch
    return plant(repair(test, labels), start, length, factor)


def case_name(kind, factor):
    """"amplitude x1.5", "rhythm x2 slower", "rhythm x1.5 faster"."""
    if kind == "amplitude":
        return f"amplitude x{factor:g}"
    return f"rhythm x{max(factor, 1 / factor):g} {'slower' if factor > 1 else 'faster'}"


def compare(normal, test, labels, seeds, config=None, log=print):
    """One row per seed: where the detector and the discord (at each DISCORD_LENGTHS) locate the anomaly,
    whether that is a UCR hit, and the margin (``ucr_margin``) of each one's step scores."""
    prefix = normal_prefix_length(normal, test)
    discords = {}
    for m in DISCORD_LENGTHS:
        profile = matrix_profile(test, m)
        location = top_discord(profile, prefix) + m // 2  # the middle of the discord window
        discords[m] = _result(location, profile_step_scores(profile, m), labels, prefix)
    rows = []
    for seed in seeds:
        found = detect(normal, test, DetectConfig(**{**vars(config or DetectConfig()), "seed": seed}),
                       log=lambda line: None)
        rows.append({"seed": seed, "range": labelled_ranges(labels),
                     "detector": _result(found.location, found.scores, labels, prefix),
                     **{f"discord m={m}": result for m, result in discords.items()}})
        log(_row(rows[-1]))
    return rows


def speed_response(found, normal, speeds=SPEEDS, n=60):
    """What a trained detector (``detect``'s ``Detection``) says of the normal series played at another
    speed: {speed: mean P(anomalous)} over n windows of L steps, window i reading the normal series (in
    standard units, linear interpolation) at u_i + speed k, k = 0 .. L - 1, u_i evenly spaced over the
    places where it fits. Speed 1 is the normal series itself; a detector that sees tempo rises on both
    sides of it."""
    z = StandardScaler.from_dict(found.meta["series_scaler"]).transform(np.asarray(normal, dtype=np.float64)[None])[0]
    scaler, steps, L = StandardScaler.from_dict(found.meta["scaler"]), np.arange(len(z)), found.window
    response = {}
    for speed in speeds:
        reads = np.linspace(0, len(z) - 1 - speed * (L - 1), n)[:, None] + speed * np.arange(L)  # (n, L)
        windows = np.stack([np.interp(reads, steps, z[:, c]) for c in range(z.shape[1])], axis=-1)
        response[speed] = float(predict(found.model, model_input(windows, found.meta["features"], scaler))[0].mean())
    return response


def _result(location, scores, labels, first):
    return {"location": location, "hit": ucr_hit(location, labels), "margin": ucr_margin(scores, labels, first)}


def _row(row):
    cells = [str(row["seed"]), ", ".join(f"{a}-{b}" for a, b in row["range"])]
    cells += [f"{r['location']} {'hit' if r['hit'] else 'miss'} ({r['margin']:.2f})"
              for r in (row[name] for name in METHODS)]
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="KDD-TSAD_135", help="a bundled dataset (numpy_attn.datasets)")
    parser.add_argument("--train", default=None, help="the normal series (instead of --data), with --test")
    parser.add_argument("--test", default=None, help="the series with a labelled anomaly")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    normal_path, test_path = (args.train, args.test) if args.train else bundled_pair(args.data)
    normal, test = read_long_series(normal_path), read_long_series(test_path)
    seeds = [int(s) for s in args.seeds.split(",")]
    head = "| seed | labelled | " + " | ".join(METHODS) + " |\n|" + "---|" * (2 + len(METHODS))
    print(f"\nspeed response: mean P(anomalous) of windows of the normal series played at each speed\n\n"
          f"| seed | {' | '.join(f'{v:g}' for v in SPEEDS)} |\n|{'---|' * (1 + len(SPEEDS))}")
    for seed in seeds:
        found = detect(normal.values, test.values, DetectConfig(seed=seed), log=lambda line: None)
        print(f"| {seed} | " + " | ".join(f"{p:.2f}" for p in speed_response(found, normal.values).values()) + " |")
    print(f"\n{args.data} as it is\n\n{head}")
    compare(normal.values, test.values, test.labels, seeds)
    for kind, factor in CASES:
        print(f"\n{case_name(kind, factor)}\n\n{head}")
        for seed in seeds:
            series, labels = planted_case(kind, factor, normal.values, test.values, test.labels, seed)
            compare(normal.values, series, labels, [seed])


if __name__ == "__main__":
    main()
