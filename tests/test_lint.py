"""``ruff check`` over the repository finds nothing (the rules: ``[tool.ruff]`` in pyproject.toml).

Fix a finding by editing the line (``ruff check --fix FILE`` for one file); silence one only with a
``# noqa: CODE`` and the reason beside it.
"""
from __future__ import annotations

import importlib.util

import pytest

from tests.helpers import ROOT, run_module


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed (pip install -e .)")
def test_ruff_finds_nothing():
    # --no-cache: the tests write nothing into the checkout (no .ruff_cache)
    proc = run_module("ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT), cwd=ROOT, timeout=60)
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
