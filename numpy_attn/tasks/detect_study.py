"""The detector against the matrix-profile discord, on a real recording and on changes of character
planted in it: ``python -m numpy_attn.tasks.detect_study`` prints the tables of docs/detection.md.

The cases are built from the recording's TEST series with its labelled anomaly repaired (``repair``), so
the planted change is the only anomaly; it goes after the normal prefix, at a place drawn by the seed:

    amplitude  ``scale_stretch``: a stretch of 2 periods, its swings around their mean times a (1.5 or 2),
               eased in and out over a quarter of the stretch, so the series stays continuous and every
               window is a louder copy of a normal one: the same shape after z-normalisation. (The
               detector's scale injection makes the same change, over at most one window.)
    rhythm     ``time_stretch``: a stretch of 2 periods played slower by a factor f (1.5 or 2), so it
               lasts f times as long; it starts and ends on the recording's own values, and every window
               in it is a smooth pulse, only a slower one.
"""

import argparse

import numpy as np

from .detect import DetectConfig, bundled_pair, detect, normal_prefix_length
from .detection_metrics import labelled_ranges, ucr_hit, ucr_margin
from .discord import matrix_profile, profile_step_scores, top_discord
from .injection import scale_span
from .series_file import read_long_series
from .windows import default_window

DISCORD_LENGTHS = (32, 64, 128)  # the window lengths at which the discord was measured on KDD-TSAD_135
METHODS = ("detector",) + tuple(f"discord m={m}" for m in DISCORD_LENGTHS)
CASE_PERIODS = 2  # a planted stretch lasts this many periods of the normal series
FACTORS = (1.5, 2.0)
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
    """x (T, C) with [start, start + length) resampled (linear interpolation) to round(factor length) steps:
    played slower by ``factor`` > 1. The series grows by the difference. Returns (y, labels (T',))."""
    x = np.asarray(x, dtype=np.float64)
    n = round(factor * length)
    where = np.linspace(start, start + length - 1, n)  # both ends on the recording's own samples
    slow = np.stack([np.interp(where, np.arange(len(x)), x[:, c]) for c in range(x.shape[1])], axis=1)
    y = np.concatenate([x[:start], slow, x[start + length :]])
    labels = np.zeros(len(y), dtype=int)
    labels[start : start + n] = 1
    return y, labels


def planted_case(kind, factor, normal, test, labels, seed):
    """(series, labels) of one case: ``kind`` ("amplitude" or "rhythm") planted at a place drawn by ``seed``
    after the normal prefix and a window's distance from either end of the repaired test series."""
    window = default_window(normal)
    length = CASE_PERIODS * window
    first = normal_prefix_length(normal, test) + window
    start = int(np.random.default_rng(seed).integers(first, len(test) - length - window))
    plant = scale_stretch if kind == "amplitude" else time_stretch
    return plant(repair(test, labels), start, length, factor)


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
    print(f"\n{args.data} as it is\n\n{head}")
    compare(normal.values, test.values, test.labels, seeds)
    for kind in ("amplitude", "rhythm"):
        for factor in FACTORS:
            print(f"\n{kind} x{factor}\n\n{head}")
            for seed in seeds:
                series, labels = planted_case(kind, factor, normal.values, test.values, test.labels, seed)
                compare(normal.values, series, labels, [seed])


if __name__ == "__main__":
    main()
