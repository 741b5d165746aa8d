"""Running the suite's own commands in a subprocess, as a user would, from the checkout's root."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, cwd: Path = ROOT, timeout: float = 180, env: dict | None = None,
               **kwargs) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` with captured text output."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def run_pytest(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """``python -m pytest ARGS`` (e.g. ``conformance/ --collect-only``)."""
    return run_module("pytest", *args, **kwargs)


def run_matrix(report_dir: Path, *args: str, **kwargs) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``pytest conformance/ -q --report-dir REPORT_DIR ARGS`` and the results.json it wrote (None if none)."""
    proc = run_pytest("conformance/", "-q", "-p", "no:cacheprovider", "--report-dir", str(report_dir), *args, **kwargs)
    results = Path(report_dir) / "results.json"
    return proc, (json.loads(results.read_text()) if results.exists() else None)


def model_files(script: Path, out: Path) -> Path:
    """``python SCRIPT OUT``: a helper script of the tests that saves model files into OUT (Keras on the
    TensorFlow backend, in its own process so that the tests never import TensorFlow)."""
    import os

    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


class FakeCell:
    """Just enough of a conformance.run.cells.Cell for the tier functions: a case name, its tags, an opset."""

    def __init__(self, name, tags, opset):
        self.case = type("C", (), {"name": name, "tags": frozenset(tags)})()
        self.opset = opset
