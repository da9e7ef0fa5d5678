"""Hypothesis profiles: 'ci' (the default, fast) and 'thorough' (hundreds of examples per property).

Choose with the environment variable NUMPY_ATTN_PROFILE, e.g. ``NUMPY_ATTN_PROFILE=thorough pytest``.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=25, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("NUMPY_ATTN_PROFILE", "ci"))
