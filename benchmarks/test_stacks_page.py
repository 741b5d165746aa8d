"""The all-stacks page of the whole space opens in headless Chromium: its size and its open time.

The page is built from the committed stacks baseline (``reports/baseline/stacks-default.json``:
every installable stack's default tier with the layer library), or from the results files given with
``--stacks-page-results``; Playwright drives Debian's ``chromium`` (the fixture ``browser``: tests/browser.py).  A
round is one fresh browser tab: ``goto`` until the page's script has drawn the grid (``data-ready``).
The issue's targets: at most 3 MB, open within 5 s.

    pytest benchmarks/test_stacks_page.py --benchmark-only
    pytest benchmarks/test_stacks_page.py --benchmark-only --stacks-page-results "reports/*/results.json"
"""
from __future__ import annotations

import glob
import statistics
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "reports" / "baseline" / "stacks-default.json"
MAX_BYTES = 3_000_000
MAX_OPEN_S = 5.0


@pytest.fixture(scope="module")
def stacks_page(tmp_path_factory, pytestconfig) -> Path:
    from conformance.report.stacks import render_files

    pattern = pytestconfig.getoption("stacks_page_results", None)
    paths = sorted(glob.glob(pattern)) if pattern else [str(BASELINE)]
    if not paths:
        pytest.fail(f"--stacks-page-results {pattern!r} matches no file", pytrace=False)
    return render_files(paths, tmp_path_factory.mktemp("stacks") / "stacks.html")


@pytest.mark.benchmark(group="all-stacks page")
def test_the_all_stacks_page_opens_within_five_seconds(benchmark, stacks_page, browser):
    size = stacks_page.stat().st_size
    shown: list[str] = []

    def open_once():
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = ctx.new_page()
        tab.goto(stacks_page.as_uri())
        tab.wait_for_selector("html[data-ready='1']", timeout=60_000)
        shown.append(tab.locator("#shown").text_content())
        ctx.close()

    benchmark.pedantic(open_once, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update({"page_bytes": size, "rows": shown[-1]})
    assert size <= MAX_BYTES, f"the page is {size / 1e6:.2f} MB, over {MAX_BYTES / 1e6:.0f} MB"
    if not benchmark.disabled:
        median = statistics.median(benchmark.stats.stats.data)
        assert median < MAX_OPEN_S, f"the page opens in {median:.2f} s (median), over {MAX_OPEN_S} s"
