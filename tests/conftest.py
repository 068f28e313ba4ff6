"""Shared pytest configuration.

Hypothesis profiles (tests/test_golden_properties.py): ``default`` is deterministic
(``derandomize``: the same examples on every run and machine, so CI is reproducible);
``long`` (``pytest --hypothesis-profile=long``) draws 100x the examples from a random seed,
for the slow tier (``test_golden_properties_long`` runs it).
"""

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
