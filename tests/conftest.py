"""Hypothesis profiles: 'ci' (default, 500 examples per property), 'slow' (10^5), 'dev' (50), 'mutate' (50, derandomized).

Select one with HYPOTHESIS_PROFILE=slow (``make test-slow``).
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=500, derandomize=True, **_common)
settings.register_profile("slow", max_examples=100_000, **_common)
settings.register_profile("dev", max_examples=50, **_common)
settings.register_profile("mutate", max_examples=50, derandomize=True, **_common)  # make mutate: fast, reproducible
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
