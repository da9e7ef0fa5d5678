"""Run the benchmarks: ``python -m benchmarks.run [--only NAME,...] [--repeats N] [--json FILE]``.

Cases are collected from every ``benchmarks/cases_*.py`` module (a list named ``CASES``). Each case runs
in a fresh Python process (``--in-process``: all in this one). A process remembers what ran in it: the
large attention case leaves glibc's malloc thresholds raised, after which PyTorch's BiLSTM step stops
page-faulting (33 ms against 55 ms in a process of its own), so in one process a case's time depended on
the cases before it. A fresh process measures each case as a script that runs only it would.
"""

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import harness


def all_cases():
    here = Path(__file__).parent
    cases = []
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            cases += importlib.import_module(f"benchmarks.{info.name}").CASES
    return cases


def _in_fresh_process(index):
    """``measure_case`` for ``harness.run``: case ``index`` of ``all_cases()`` measured by a child process."""
    def measure_case(case, repeats, warmup):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "row.json"
            subprocess.run([sys.executable, "-m", "benchmarks.run", "--case", str(index[id(case)]),
                            "--repeats", str(repeats), "--warmup", str(warmup), "--json", str(path)],
                           check=True, cwd=Path(__file__).parent.parent)
            return json.loads(path.read_text())
    return measure_case


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated substrings of case names to run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the raw timings to this file")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--in-process", action="store_true", help="run every case in this process")
    parser.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)  # a child: case N's row to --json
    args = parser.parse_args(argv)
    cases = all_cases()
    if args.case is not None:
        row = harness.measure_row(cases[args.case], args.repeats, args.warmup)
        Path(args.json).write_text(json.dumps(row))
        return
    if args.list:
        for c in cases:
            print(f"{c.name}  {c.shape}")
        return
    wanted = [w for w in args.only.split(",") if w]
    chosen = [c for c in cases if not wanted or any(w in c.name for w in wanted)]
    if not chosen:
        raise SystemExit(f"no case matches --only {args.only!r}; see --list")
    measure_case = harness.measure_row if args.in_process else _in_fresh_process({id(c): i for i, c in enumerate(cases)})
    harness.run(chosen, args.repeats, args.warmup, args.json, measure_case=measure_case)


if __name__ == "__main__":
    main()
