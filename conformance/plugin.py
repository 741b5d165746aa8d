"""The pytest wiring of the suite: options, the matrix's parametrisation, the fixture, the recorder.

The checkout's root conftest.py loads this module (``pytest_plugins``).  The logic lives in
``conformance/run`` (pytest-process side), ``conformance/worker`` (the conversion workers) and
``conformance/report``; this file only connects them to pytest's hooks.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.checks.deploy import DeployConfigError
from conformance.fuzz.profiles import register as _register_hypothesis_profiles
from conformance.loader import ModuleLoadError
from conformance.run.expectations import ExpectationsError
from conformance.run.options import DEFAULT_OPSETS, OptionError, settings_from

#: the project checkout (where expectations.toml and reports/ are by default)
ROOT = Path(__file__).resolve().parent.parent

# "ci" and "deep" must exist before hypothesis's plugin reads --hypothesis-profile
_register_hypothesis_profiles(str(ROOT))

_MATRIX = pytest.StashKey()


def pytest_addoption(parser):
    g = parser.getgroup("conformance", "Keras -> ONNX conformance matrix")
    g.addoption("--converters", default=None, metavar="NAMES",
                help="comma-separated converter rows to run (default: every registered converter)")
    g.addoption("--opsets", default=None, metavar="LIST",
                help="comma-separated ONNX opsets or ranges, e.g. 9,11,13-15 "
                     f"(default: {','.join(map(str, DEFAULT_OPSETS))})")
    g.addoption("--cases-module", action="append", default=[], metavar="PATH",
                help="a Python file (or dotted module) declaring extra cases; repeatable")
    g.addoption("--converters-module", action="append", default=[], metavar="PATH",
                help="a Python file (or dotted module) declaring extra converters; repeatable")
    g.addoption("--expectations", default=None, metavar="TOML",
                help="expected-failures file (default: expectations.toml at the root; 'none' for no file)")
    g.addoption("--report-dir", default=None, metavar="DIR",
                help="where results.json and the report go (default: reports/)")
    g.addoption("--cell-timeout", type=float, default=None, metavar="SECONDS",
                help="time limit for one cell, model build included (default 900)")
    g.addoption("--conformance-threads", type=int, default=None, metavar="N",
                help="intra-op threads for TensorFlow and onnxruntime (default: cores / xdist workers)")
    g.addoption("--keep-onnx", action="store_true", default=False,
                help="keep every converted model under REPORT_DIR/onnx/")
    g.addoption("--tier", default="default", choices=("default", "full"),
                help="default: heavy cases (tag slow) at one opset (13, or the selected opset nearest it); "
                     "full: every case at every selected opset")
    g.addoption("--stack", default=None, metavar="NAME",
                help="label of the software stack in the results (default: $CONFORMANCE_STACK or 'default')")
    g.addoption("--cli-launch", default=None, metavar="warm|fresh",
                help="how command-line converters (python -m tf2onnx.convert) start: warm = a fork of a server that "
                     "preloaded TensorFlow and the converter (default), fresh = a new interpreter per call")
    g.addoption("--worker-memory", default=None, metavar="GIB",
                help="memory limit of each conversion worker and its children in GiB; a cell that exceeds it is "
                     "CRASH 'out of memory' (default: 3/4 of the machine's memory split between xdist workers; 0: none)")
    g.addoption("--baseline", default=None, metavar="RESULTS_JSON",
                help="compare the run with this results (or baseline) file; a cell that regressed from "
                     "PASS/XFAIL fails the run")


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


class _XdistHooks:
    """Hands the controller's run id to xdist workers."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def pytest_configure_node(self, node):
        node.workerinput["conformance_run_id"] = self.run_id


def pytest_configure(config):
    from conformance.checks.deploy import mode_from_env
    from conformance.run.matrix import Matrix
    from conformance.run.recorder import Recorder, new_run_id, now

    if _is_xdist_worker(config):
        run_id = config.workerinput.get("conformance_run_id", "run")
    else:
        run_id = new_run_id()
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(run_id), "conformance-xdist")
    try:
        import onnx.defs

        settings = settings_from(config.getoption, config.rootpath, onnx.defs.onnx_opset_version())
        matrix = Matrix(settings, run_id, os.environ.get("PYTEST_XDIST_WORKER", "main"))
        mode_from_env()  # a bad CONFORMANCE_DEPLOY is a usage error now, not a worker failure later
    except (OptionError, ModuleLoadError, ExpectationsError, DeployConfigError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_MATRIX] = matrix
    if not _is_xdist_worker(config):
        from conformance.report.gate import load_baseline
        from conformance.run.results import ResultsError

        try:
            baseline = load_baseline(config.getoption("baseline"))
        except ResultsError as exc:
            raise pytest.UsageError(f"--baseline: {exc}") from None
        config.pluginmanager.register(Recorder(config, matrix, run_id, now(), baseline), "conformance-recorder")
    for tag in sorted({t for c in matrix.cases for t in c.tags}):
        config.addinivalue_line("markers", f"{tag}: cases tagged {tag!r}")


def pytest_generate_tests(metafunc):
    if "cell" not in metafunc.fixturenames:
        return
    from conformance.run.cells import tiered

    matrix = metafunc.config.stash[_MATRIX]
    params = []
    for cell in tiered(matrix.cells(), matrix.settings.opsets, metafunc.config.getoption("tier")):
        marks = [getattr(pytest.mark, t) for t in sorted(cell.case.tags)]
        marks.append(pytest.mark.xdist_group(cell.case.name))
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    metafunc.parametrize("cell", params)


@pytest.fixture(scope="session")
def conformance(pytestconfig):
    """The run's Matrix: runs a cell in the isolated worker and decides it."""
    return pytestconfig.stash[_MATRIX]


def pytest_unconfigure(config):
    matrix = config.stash.get(_MATRIX, None)
    if matrix is not None:
        matrix.close(clean=True)
