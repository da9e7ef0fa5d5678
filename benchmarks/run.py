"""Run the benchmarks: ``python -m benchmarks.run [--only NAME,...] [--repeats N] [--json FILE]``.

Cases are collected from every ``benchmarks/cases_*.py`` module (a list named ``CASES``).
"""

import argparse
import importlib
import pkgutil
from pathlib import Path

from . import harness


def all_cases():
    here = Path(__file__).parent
    cases = []
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            cases += importlib.import_module(f"benchmarks.{info.name}").CASES
    return cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated substrings of case names to run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the raw timings to this file")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    cases = all_cases()
    if args.list:
        for c in cases:
            print(f"{c.name}  {c.shape}")
        return
    wanted = [w for w in args.only.split(",") if w]
    cases = [c for c in cases if not wanted or any(w in c.name for w in wanted)]
    if not cases:
        raise SystemExit(f"no case matches --only {args.only!r}; see --list")
    harness.run(cases, args.repeats, args.warmup, args.json)


if __name__ == "__main__":
    main()
