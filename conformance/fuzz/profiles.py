"""The fuzz's hypothesis profiles, registered by tests/conftest.py (not by the installed plugin, so that
other projects' pytest sessions keep their own "ci" profile).

    pytest tests/fuzz                              # "ci" unless another profile is loaded
    pytest tests/fuzz --hypothesis-profile deep    # many examples, database kept in .hypothesis/

ci:   derandomized (the same examples every run, so CI is reproducible), few examples, no
      deadline (a conversion takes seconds), no database writes.
deep: random, many examples, the example database in .hypothesis/examples so a failure found
      once is replayed first in the next local session.
The fuzz test uses "ci" when the current profile is hypothesis's "default" (nothing chosen), so
`pytest tests/` in CI is bounded without any option; the other tests keep their own settings.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

CI_EXAMPLES = int(os.environ.get("CONFORMANCE_FUZZ_CI_EXAMPLES", "20"))
DEEP_EXAMPLES = int(os.environ.get("CONFORMANCE_FUZZ_DEEP_EXAMPLES", "300"))
#: seconds of shrinking after the first failure, by profile (absent: hypothesis's own limits,
#: about 500 shrinks or 5 minutes); set CONFORMANCE_FUZZ_SHRINK_SECONDS to override
SHRINK_SECONDS = {"ci": 60.0}
#: conversions are slow by nature, and degenerate models are discarded (the test itself checks that
#: some examples were really compared)
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def register(root: str | os.PathLike = ".") -> None:
    settings.register_profile(
        "ci", derandomize=True, max_examples=CI_EXAMPLES, deadline=None, database=None,
        suppress_health_check=_SLOW, print_blob=True,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink))
    settings.register_profile(
        "deep", max_examples=DEEP_EXAMPLES, deadline=None, suppress_health_check=_SLOW, print_blob=True,
        database=DirectoryBasedExampleDatabase(os.path.join(os.fspath(root), ".hypothesis", "examples")))


def for_fuzz() -> settings:
    """The settings the fuzz test runs with: the loaded profile, or "ci" if none was chosen."""
    return settings.get_profile(current_name())


def shrink_budget(profile: str) -> float | None:
    env = os.environ.get("CONFORMANCE_FUZZ_SHRINK_SECONDS")
    if env:
        return float(env) if float(env) > 0 else None
    return SHRINK_SECONDS.get(profile)


def current_name() -> str:
    """The profile the fuzz runs with (see :func:`for_fuzz`)."""
    name = settings.get_current_profile_name()
    return "ci" if name == "default" else name
