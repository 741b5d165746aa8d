"""The suite as an installed pytest plugin: registered once, inert in other pytest sessions, and from a
built wheel in a fresh environment it runs a trained model from an empty directory.

The wheel test (marker ``slow_install``) builds the wheel from a copy of the checkout, creates a
fresh virtual environment, installs ``wheel[modern]`` with pip (from pip's cache: about 1-2 min)
and runs ``pytest --pyargs conformance --model ...`` in a temporary directory.  It needs PyPI
(or pip's cache); ``-m "not slow_install"`` leaves it out.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import helpers

#: the distributions that install TensorFlow's tensorflow/ package: a stack has one of them
TENSORFLOWS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos")
ROOT = helpers.ROOT


def test_the_checkout_registers_the_plugin_once_with_or_without_its_entry_point():
    counts = []
    for env in ({}, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}):
        proc = helpers.run_pytest("conformance/", "--collect-only", "-q", "-p", "no:cacheprovider", "--opsets", "13",
                                  "--report-dir", "/nonexistent-never-written", env=dict(os.environ, **env))
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        counts.append(proc.stdout.strip().splitlines()[-1].split(" in ")[0])
    assert counts[0] == counts[1] and "tests collected" in counts[0]


OTHER_PROJECT_TEST = textwrap.dedent('''
    import pytest
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument


    def test_someone_elses_code(pytestconfig):
        assert pytestconfig.getoption("model") == []  # the options exist ...
        with pytest.raises(InvalidArgument):           # ... but no hypothesis profile of ours
            settings.get_profile("deep")
''')


def test_the_plugin_is_inert_in_another_projects_session(tmp_path):
    """A bad CONFORMANCE_DEPLOY stops a matrix run (exit 4); another project's session never notices it."""
    (tmp_path / "test_other.py").write_text(OTHER_PROJECT_TEST)
    env = dict(os.environ, CONFORMANCE_DEPLOY="bogus")
    proc = helpers.run_pytest(str(tmp_path), "-q", "-p", "no:cacheprovider", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
    assert not (tmp_path / "reports").exists()
    # the same session with a matrix option is a matrix run, and the bad variable is caught before anything runs
    active = helpers.run_pytest(str(tmp_path), "-q", "-p", "no:cacheprovider", "--opsets", "13", cwd=tmp_path, env=env)
    assert active.returncode == 4 and "CONFORMANCE_DEPLOY" in active.stderr, active.stderr[-2000:]


# --- the built wheel, installed in a fresh environment ---------------------------------------------

_IGNORED = shutil.ignore_patterns(".git", ".venv*", "reports", "build", "dist", "*.egg-info", "__pycache__", ".tox",
                                  ".hypothesis", ".pytest_cache", ".benchmarks", "tests")


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd[:4]} exit {proc.returncode}: {proc.stdout[-2000:]} {proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow_install
def test_installed_wheel_checks_a_trained_model_and_a_saved_model_outside_the_checkout(tmp_path):
    if os.environ.get("CONFORMANCE_INSTALL_TEST", "1") == "0":
        pytest.skip("CONFORMANCE_INSTALL_TEST=0")
    # the wheel, built from a copy (setuptools writes build/ and *.egg-info/ beside the sources)
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_IGNORED)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)], timeout=600)
    wheel = next((tmp_path / "dist").glob("keras_onnx_conformance-*.whl"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", f"{wheel}[modern]"], timeout=1200)
    # one TensorFlow: the modern extra installs `tensorflow` (which tf-keras needs), not `tensorflow-cpu` beside it
    dists = _run([py, "-c", "import importlib.metadata as m; print(' '.join(sorted(d.metadata['Name'].lower() "
                  "for d in m.distributions())))"], cwd=tmp_path).stdout.split()
    assert [d for d in dists if d.replace("_", "-") in TENSORFLOWS] == ["tensorflow"], dists
    site = Path(_run([py, "-c", "import conformance, os; print(os.path.dirname(conformance.__file__))"],
                     cwd=tmp_path).stdout.strip()).resolve()
    assert site.parent.name == "site-packages" and (site / "causes.toml").is_file()
    assert (site / "report" / "templates" / "matrix.html.j2").is_file()
    # a small classifier trained for a few steps, saved as .keras and as a SavedModel, by the installed Keras
    models = tmp_path / "models"
    models.mkdir()
    _run([py, str(ROOT / "tests" / "model_files.py"), str(models)], timeout=300,
         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONFORMANCE_", "PYTEST_"))}
    proc = subprocess.run([py, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider", "-q",
                           "--model", str(models / "trained_mlp.keras"), "--inputs", str(models / "good.npz"),
                           "--model", str(models / "trained_mlp_savedmodel"), "--opsets", "13"],
                          cwd=empty, env=env, capture_output=True, text=True, timeout=1200)
    results = empty / "reports" / "results.json"
    assert results.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(results.read_text())
    got = {(r["case"], r["converter"]): r for r in doc["records"]}
    rows = set(doc["converters"])
    assert {"tf2onnx-keras", "tf2onnx-cli", "keras-export", "keras-export-jax", "keras-export-torch"} <= rows
    assert set(got) == {(c, row) for c in ("trained_mlp", "trained_mlp_savedmodel") for row in rows}
    # every applicable row converts the trained weights and matches; the rest say why not
    for row in ("tf2onnx-keras", "tf2onnx-cli", "keras-export", "tf2onnx-graphdef", "tf2onnx-graphdef-functional"):
        assert got["trained_mlp", row]["status"] == "PASS", (row, got["trained_mlp", row]["reason"])
    for row in ("tf2onnx-cli", "tf2onnx-graphdef", "tf2onnx-graphdef-functional"):
        assert got["trained_mlp_savedmodel", row]["status"] == "PASS", (row, got["trained_mlp_savedmodel", row]["reason"])
    for row in ("tf2onnx-keras", "keras-export"):
        assert got["trained_mlp_savedmodel", row]["status"] == "NOT_APPLICABLE"
    assert got["trained_mlp", "tf2onnx-keras"]["stages"]["build"]["batches"] == [4, 1]
    # rows whose packages the modern extra does not install: UNAVAILABLE with the import error, expected
    # by the shipped registry of causes, so the run passes
    for row in ("keras-export-jax", "keras-export-torch"):
        r = got["trained_mlp", row]
        if r["observed_status"] == "UNAVAILABLE":
            assert "No module named" in r["stages"]["availability"]["error"] and r["status"] == "XFAIL"
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (empty / "reports" / "matrix.html").is_file()
    assert doc["run"]["causes_file"] == str(site / "causes.toml")
    assert not (site.parent / "reports").exists()  # nothing written into site-packages
