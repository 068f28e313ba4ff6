"""Shared pytest configuration.

Hypothesis profiles (tests/test_golden_properties.py): ``default`` is deterministic
(``derandomize``: the same examples on every run and machine, so CI is reproducible);
``long`` (``pytest --hypothesis-profile=long``) draws 100x the examples from a random seed,
for the slow tier (``test_golden_properties_long`` runs it).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

#: examples per property test in the default tier
DEFAULT_EXAMPLES = 300

settings.register_profile(
    "default",
    max_examples=DEFAULT_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=100 * DEFAULT_EXAMPLES,
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")


@pytest.fixture(scope="session")
def prove_tools():
    """The formal tools of ``exmy prove``: skip (naming the tool) when one is missing, except
    in CI, where nothing may skip."""
    from exmy.synth.prove import find_prove_tools
    from exmy.synth.tools import ToolNotFoundError

    try:
        return find_prove_tools()
    except ToolNotFoundError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
