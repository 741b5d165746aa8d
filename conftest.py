"""Root conftest: the suite's options, the session, collection of the matrix, result hooks.

The logic lives in ``conformance/``; this file only wires it into pytest.
"""
from __future__ import annotations

import datetime
import os
import shutil
import sys
import uuid

import pytest

from cases.loader import ModuleLoadError
from conformance.deploy import DeployConfigError
from conformance.expectations import ExpectationsError
from conformance.options import DEFAULT_OPSETS, OptionError, settings_from
from conformance.fuzz.profiles import register as _register_hypothesis_profiles

# "ci" and "deep" must exist before hypothesis's plugin reads --hypothesis-profile
_register_hypothesis_profiles(os.path.dirname(os.path.abspath(__file__)))

RECORD_KEY = "conformance_record"
_SESSION = pytest.StashKey()
_RUN = pytest.StashKey()


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
    g.addoption("--baseline", default=None, metavar="RESULTS_JSON",
                help="compare the run with this results file; a cell that regressed from PASS/XFAIL fails the run")


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


class _XdistHooks:
    """Hands the controller's run id to xdist workers."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def pytest_configure_node(self, node):
        node.workerinput["conformance_run_id"] = self.run_id


def pytest_configure(config):
    from conformance.session import ConformanceSession

    if _is_xdist_worker(config):
        run_id = config.workerinput.get("conformance_run_id", "run")
    else:
        run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(run_id), "conformance-xdist")
    try:
        import onnx.defs

        settings = settings_from(config.getoption, config.rootpath, onnx.defs.onnx_opset_version())
        session = ConformanceSession(settings, run_id, os.environ.get("PYTEST_XDIST_WORKER", "main"))
        from conformance.deploy import mode_from_env

        mode_from_env()  # a bad CONFORMANCE_DEPLOY is a usage error now, not a worker failure later
    except (OptionError, ModuleLoadError, ExpectationsError, DeployConfigError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_SESSION] = session
    config.stash[_RUN] = {"id": run_id, "writer": None, "started": datetime.datetime.now(datetime.timezone.utc)}
    if not _is_xdist_worker(config):
        from conformance.report.run import load_baseline
        from conformance.results import ResultsError

        try:
            baseline = load_baseline(config.getoption("baseline"))
        except ResultsError as exc:
            raise pytest.UsageError(f"--baseline: {exc}") from None
        config.pluginmanager.register(_Recorder(config, baseline), "conformance-recorder")
    for tag in sorted({t for c in session.cases for t in c.tags}):
        config.addinivalue_line("markers", f"{tag}: cases tagged {tag!r}")


def pytest_generate_tests(metafunc):
    if "cell" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[_SESSION]
    params = []
    from conformance.session import tiered

    for cell in tiered(session.cells(), session.settings.opsets, metafunc.config.getoption("tier")):
        marks = [getattr(pytest.mark, t) for t in sorted(cell.case.tags)]
        marks.append(pytest.mark.xdist_group(cell.case.name))
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    metafunc.parametrize("cell", params)


@pytest.fixture(scope="session")
def conformance(pytestconfig):
    """The run's ConformanceSession: runs a cell in the isolated worker and decides it."""
    return pytestconfig.stash[_SESSION]


class _Recorder:
    """Owns the run's results: receives every cell's record (from xdist workers too) and
    writes them as they arrive; at the end writes results.json and prints the summary."""

    def __init__(self, config, baseline=None):
        self.config = config
        self.writer = None
        self.results_path = None
        self.baseline = baseline
        self.report = None

    def _writer(self):
        from conformance.environment import describe
        from conformance.results import ResultsWriter

        if self.writer is None:
            session = self.config.stash[_SESSION]
            run = self.config.stash[_RUN]
            s = session.settings
            meta = {"id": run["id"], "started": run["started"].isoformat(), "argv": sys.argv[1:],
                    "opsets": list(s.opsets), "converters": session.selected, "stack": s.stack,
                    "expectations": str(s.expectations) if s.expectations else None, "threads": s.threads,
                    "cell_timeout": s.timeout, "tier": self.config.getoption("tier"),
                    "xdist_workers": int(getattr(self.config.option, "numprocesses", 0) or 0)}
            self.writer = ResultsWriter(s.report_dir, meta, describe(s.stack), {})
        return self.writer

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == RECORD_KEY:
                self._writer().add(dict(value, nodeid=report.nodeid))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        from conformance.session import converters_summary

        conf = self.config.stash[_SESSION]
        if self.writer is None:
            return
        run = self.config.stash[_RUN]
        complete = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
        self.writer.converters = converters_summary(conf, self.writer.records)
        finished = datetime.datetime.now(datetime.timezone.utc)
        self.stale = conf.stale() if complete else []
        self.results_path = self.writer.finish(
            stale=self.stale if complete else None, complete=complete,
            run_extra={"finished": finished.isoformat(), "wall_seconds": (finished - run["started"]).total_seconds(),
                       "exitstatus": int(exitstatus)})
        from conformance.report.run import after_run

        self.report = after_run(self.results_path, self.baseline, self.config.getoption("baseline"))
        if self.report.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        shutil.rmtree(conf.work_root, ignore_errors=True)
        try:
            conf.work_root.parent.rmdir()  # .work/, unless another run is using it
        except OSError:
            pass

    def pytest_terminal_summary(self, terminalreporter):
        from conformance.summary import summary_lines

        if self.writer is None:
            return
        tr = terminalreporter
        tr.section("Keras -> ONNX conformance")
        for line in summary_lines(self.writer.records, getattr(self, "stale", [])):
            tr.write_line(line)
        if self.results_path:
            tr.write_line(f"results: {self.results_path}")
        if self.report is not None:
            from conformance.report.run import is_alarm, summary_lines as report_lines

            for line in report_lines(self.report):
                tr.write_line(line, red=is_alarm(line))


def pytest_unconfigure(config):
    conf = config.stash.get(_SESSION, None)
    if conf is not None:
        conf.close(clean=True)
