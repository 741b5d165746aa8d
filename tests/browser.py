"""Debian's headless Chromium driven by Playwright, for the tests and benchmarks that open pages.

Playwright (the pip package) launches the system browser through ``executable_path`` (no browser
download).  Needs Debian's ``chromium`` on PATH; without it the fixtures skip, unless
CONFORMANCE_INSTALL_CHROMIUM=1, in which case the set-up runs ``apt-get update && apt-get install -y
chromium`` once (as root, like CI).  Import the fixtures by name: ``from tests.browser import browser,
chromium, tab``.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

INSTALL_ENV = "CONFORMANCE_INSTALL_CHROMIUM"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions"]


def _install() -> None:
    if shutil.which("apt-get") is None:
        pytest.fail(f"{INSTALL_ENV}=1 but apt-get is not on PATH (a Debian/Ubuntu machine is needed)", pytrace=False)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.fail(f"{INSTALL_ENV}=1 but `{' '.join(cmd)}` failed ({p.returncode}): {tail[0]}", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get(INSTALL_ENV) != "1":
            pytest.skip(f"chromium is not on PATH; install Debian's chromium package or set {INSTALL_ENV}=1 "
                        "to let this test run apt-get install -y chromium")
        _install()
        exe = shutil.which("chromium")
        if exe is None:
            pytest.fail("apt-get installed chromium but it is not on PATH", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def browser(chromium):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def tab(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.errors = errors
    yield p
    ctx.close()
    assert not errors, f"the page's script raised: {errors}"
