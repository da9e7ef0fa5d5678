"""Hypothesis profiles: 'ci' (the default, fast) and 'thorough' (hundreds of examples per property).

'ci' draws the same examples on every run (derandomized): a red CI then means the change broke
something, never that a fresh draw found an old weakness; 'thorough' draws new ones each time and keeps
the failures it finds in .hypothesis/ to replay them.

Choose with the environment variable NUMPY_ATTN_PROFILE, e.g. ``NUMPY_ATTN_PROFILE=thorough pytest``.
With NUMPY_ATTN_ERRORS=FILE, the run also writes the largest relative error that ``assert_close`` saw for
each compared quantity of each test file (a markdown table): what the comparisons with PyTorch measured.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=25, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("NUMPY_ATTN_PROFILE", "ci"))


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("NUMPY_ATTN_ERRORS")
    if not path:
        return
    from helpers import WORST

    rows = [f"| {f} | {name} | {err:.2e} |" for (f, name), err in sorted(WORST.items())]
    with open(path, "w") as out:
        out.write("| test file | quantity | worst relative error |\n|---|---|---|\n" + "\n".join(rows) + "\n")
