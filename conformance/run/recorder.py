"""The run's results owner: receives every cell's record (from xdist workers too), appends it to
results.partial.jsonl as it arrives, writes results.json at the end, then hands it to the report.

It runs in the one process that owns the run (the xdist controller, or the only pytest process).
"""
from __future__ import annotations

import datetime
import shutil
import sys
import uuid

import pytest

#: the key under which a cell's record travels from the test (``record_property``) to the recorder
RECORD_KEY = "conformance_record"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_run_id(prefix: str = "") -> str:
    """A run id: UTC time to the second and a random suffix, e.g. ``20261123T151800Z-1a2b3c``."""
    return prefix + now().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_metadata(run_id: str, started: datetime.datetime, matrix, **extra) -> dict:
    """What results.json says of the run (the fuzz runner adds its own keys through ``extra``)."""
    s = matrix.settings
    return {"id": run_id, "started": started.isoformat(), "opsets": list(s.opsets), "converters": list(matrix.selected),
            "stack": s.stack, "causes_file": str(s.causes) if s.causes else None, "threads": s.threads,
            "cell_timeout": s.timeout, "loading": s.loading.to_json(), **extra}


class Recorder:
    def __init__(self, config, matrix, run_id: str, started: datetime.datetime, baseline=None):
        self.config = config
        self.matrix = matrix
        self.run_id = run_id
        self.started = started
        self.writer = None
        self.results_path = None
        self.baseline = baseline
        self.report = None
        #: ids of the causes the run could have seen and did not
        self.stale: list[str] = []
        #: --minimize: cell id -> where its smallest failing model is (or why it is not)
        self.minimized: dict[str, dict] = {}

    def _writer(self):
        from conformance.run.environment import describe
        from conformance.run.results import ResultsWriter

        if self.writer is None:
            meta = run_metadata(self.run_id, self.started, self.matrix, argv=sys.argv[1:],
                                tier=self.config.getoption("tier"),
                                xdist_workers=int(getattr(self.config.option, "numprocesses", 0) or 0))
            self.writer = ResultsWriter(self.matrix.settings.report_dir, meta, describe(self.matrix.settings.stack), {},
                                        causes=self.matrix.causes_table())
        return self.writer

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == RECORD_KEY:
                self._writer().add(dict(value, nodeid=report.nodeid))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        from conformance.report.gate import after_run
        from conformance.run.matrix import converters_summary

        if self.writer is None:
            return
        complete = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
        self.writer.converters = converters_summary(self.matrix, self.writer.records)
        finished = now()
        self.stale = self.matrix.stale(self.writer.records) if complete else []
        self.results_path = self.writer.finish(
            stale=self.stale if complete else None, complete=complete,
            run_extra={"finished": finished.isoformat(), "wall_seconds": (finished - self.started).total_seconds(),
                       "exitstatus": int(exitstatus)})
        if complete and self.matrix.settings.minimize:  # before the page: it links the smallest models
            from conformance.minimize.batch import minimize_run

            self.minimized = minimize_run(self.results_path, self.matrix.settings.minimize,
                                          log=lambda line: print(line, file=sys.stderr, flush=True))
        self.report = after_run(self.results_path, self.baseline, self.config.getoption("baseline"))
        if self.report.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        shutil.rmtree(self.matrix.work_root, ignore_errors=True)
        try:
            self.matrix.work_root.parent.rmdir()  # .work/, unless another run is using it
        except OSError:
            pass

    def pytest_terminal_summary(self, terminalreporter):
        from conformance.report.gate import summary_lines as report_lines
        from conformance.report.terminal import summary_lines

        if self.writer is None:
            return
        tr = terminalreporter
        tr.section("Keras -> ONNX conformance")
        for line in summary_lines(self.writer.records, self.stale, self.writer.causes):
            tr.write_line(line)
        from conformance.report.route import lines as route_lines, routes

        for line in route_lines(routes(self.writer.records, self.writer.causes, users_only=True)):
            tr.write_line(line)
        if self.minimized:
            tr.write_line(f"minimized {sum(1 for m in self.minimized.values() if m.get('path'))} of "
                          f"{len(self.minimized)} unexplained failing cell(s) (REPORT_DIR/minimized/):")
            for cell, m in self.minimized.items():
                tr.write_line(f"  {cell}: {m.get('line') or m.get('error')}")
        if self.results_path:
            tr.write_line(f"results: {self.results_path}")
        if self.report is not None:
            for line, alarm in report_lines(self.report):
                tr.write_line(line, red=alarm)
