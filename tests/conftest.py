"""The project's own tests run with the no-network guard: any attempt to connect outside
loopback raises (set CONFORMANCE_NO_NETWORK=0 to lift it), so a test that touches the network fails.

They also leave the checkout's reports/ folder as they found it: every test writes under its
tmp paths (the session fixture below fails the run otherwise)."""
from pathlib import Path

import pytest

from conformance.fuzz.profiles import register as _register_hypothesis_profiles
from conformance.worker import guard
from tests.browser import browser, chromium, tab  # noqa: F401  (fixtures: Debian's chromium through Playwright)

guard.install_from_env()
# the fuzz's "ci" and "deep" profiles must exist before hypothesis's plugin reads --hypothesis-profile;
# this conftest is loaded before that (an initial conftest of any path under tests/ and of the root)
_register_hypothesis_profiles(str(Path(__file__).resolve().parent.parent))

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def _snapshot(folder: Path) -> dict:
    """reports/'s own entries and everything under reports/baseline/.  The folders of other runs
    (reports/<name>/ of a tox stack, say) are left out: a matrix running beside the tests writes there."""
    if not folder.exists():
        return {}
    paths = list(folder.iterdir()) + list((folder / "baseline").rglob("*"))
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns if p.is_file() else None) for p in sorted(paths)}


@pytest.fixture(scope="session", autouse=True)
def reports_untouched(pytestconfig):
    """``pytest tests/`` writes nothing into reports/ (no results, no work folders, no cache), unless
    the run was told to (``--report-dir``, e.g. for the fuzz's results)."""
    if pytestconfig.getoption("report_dir"):
        yield
        return
    before = _snapshot(REPORTS)
    yield
    after = _snapshot(REPORTS)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), (
        f"the tests changed reports/: added {added[:10]}, removed {removed[:10]}, rewritten {changed[:10]}")


#: markers whose tests run only when -m names them, and why they wait for it
OPT_IN = {"models": "builds every models-tier case (minutes): run with pytest tests/ -m models",
          "deep": "real conversions past CI's time budget: run with pytest tests/ -n 2 -m deep"}


def pytest_collection_modifyitems(config, items):
    """Tests marked ``models`` (they build every case of the models tier: minutes) or ``deep`` (real
    conversions past CI's budget) run only when ``-m`` names the marker (``pytest tests/ -m models``), as the
    tier's cells do in the matrix; the quick run (``pytest tests/ -m "not slow_install"``) skips them, saying
    how to run them."""
    markexpr = config.getoption("markexpr") or ""
    for name, why in OPT_IN.items():
        if name in markexpr:
            continue
        skip = pytest.mark.skip(reason=why)
        for item in items:
            if item.get_closest_marker(name) is not None:
                item.add_marker(skip)
