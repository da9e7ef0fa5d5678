"""Hypothesis profiles: 'ci' (the default, fast) and 'thorough' (hundreds of examples per property).

'ci' is derandomized: each test's examples come from a seed fixed by the test itself, not from a fresh
random draw each run, so a red CI means the change broke something, not that luck found an old weakness
(the examples can still differ between a run of one file and a run of the whole suite, as seen for
test_sdpa.py, so the properties that must always be checked have a deterministic test beside them);
'thorough' draws new ones each time and keeps the failures it finds in .hypothesis/ to replay them.

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
