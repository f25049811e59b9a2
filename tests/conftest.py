import os
import sys
import warnings

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Deterministic in CI and locally: the suite must pass or fail the same way every run.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def strict_numpy():
    """Every numpy floating-point warning (and any other warning) becomes an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
