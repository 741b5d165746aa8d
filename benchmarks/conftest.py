"""Keras vs onnxruntime benchmarks (opt-in): options, the prepared-case cache, the speedup table.

    pytest benchmarks/ --benchmark-only                      # measure, write reports/speedup.json
    pytest benchmarks/ --benchmark-only --benchmark-autosave # also keep pytest-benchmark's own record
    pytest benchmarks/ --benchmark-only --benchmark-compare  # compare with the last saved run

Benchmarks run in this process (TensorFlow is imported here, after its thread
pools are set), never in the conformance worker.  Without ``--benchmark-only``
(or ``--benchmark-disable`` for a one-shot smoke run, or
CONFORMANCE_BENCHMARKS=1) every test here is skipped, so a bare ``pytest``
stays fast.
"""
from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks import _bench
from tests.browser import browser, chromium  # noqa: F401  (fixtures: Debian's chromium through Playwright)

_STATE = pytest.StashKey()
_HERE = Path(__file__).parent.resolve()
OPT_IN = "benchmarks are opt-in: run `pytest benchmarks/ --benchmark-only`"


def pytest_addoption(parser):
    g = parser.getgroup("conformance-benchmarks", "Keras vs onnxruntime benchmarks (pytest benchmarks/)")
    g.addoption("--bench-cases", default=None, metavar="NAMES",
                help=f"comma-separated case names (default: {','.join(_bench.DEFAULT_CASES)})")
    g.addoption("--bench-threads", type=int, default=None, metavar="N",
                help="intra-op threads for TensorFlow and onnxruntime alike (default: all cores)")
    g.addoption("--bench-inter-threads", type=int, default=1, metavar="N",
                help="inter-op threads for TensorFlow and onnxruntime alike (default 1)")
    g.addoption("--bench-ort-spinning", choices=("default", "0", "1"), default="default",
                help="onnxruntime's allow_spinning for its thread pools (default: onnxruntime's own, on); "
                     "0 is kinder on a busy machine")
    g.addoption("--bench-converter", default="tf2onnx-keras", metavar="NAME",
                help="converter row that makes the .onnx (default tf2onnx-keras)")
    g.addoption("--bench-opset", type=int, default=13, metavar="N", help="opset of the conversion (default 13)")
    g.addoption("--bench-cold-runs", type=int, default=5, metavar="N",
                help="cold-start runs per side, after one unrecorded run (default 5)")
    g.addoption("--stacks-page-results", default=None, metavar="GLOB",
                help="results files the all-stacks page benchmark renders (default: the committed stacks baseline)")
    g.addoption("--speedup-json", default=None, metavar="FILE",
                help="where the speedup table goes (default: reports/speedup.json)")


def _opt(config, name, default=None):
    try:
        return config.getoption(name)
    except ValueError:  # this conftest was not an initial one (e.g. a bare `pytest` at the root)
        return default


class BenchState:
    """Settings of the run, the one prepared case kept alive, and what was measured."""

    def __init__(self, config):
        names = _opt(config, "bench_cases") or ",".join(_bench.DEFAULT_CASES)
        self.case_names = [n.strip() for n in names.split(",") if n.strip()]
        self.intra = _opt(config, "bench_threads") or (os.cpu_count() or 1)
        self.inter = _opt(config, "bench_inter_threads", 1) or 1
        spin = _opt(config, "bench_ort_spinning", "default")
        self.spinning = None if spin in (None, "default") else spin
        self.converter = _opt(config, "bench_converter", "tf2onnx-keras")
        self.opset = int(_opt(config, "bench_opset", 13))
        self.cold_runs = int(_opt(config, "bench_cold_runs", 5))
        out = _opt(config, "speedup_json") or str(config.rootpath / "reports" / "speedup.json")
        self.speedup_path = Path(out) if Path(out).is_absolute() else Path.cwd() / out
        self.cases = _bench.find_cases(self.case_names)
        self.tf_threads: dict | None = None
        self.ort_threads: dict | None = None
        self.conversions: dict = {}
        self.entries: list[dict] = []
        self.skipped: dict[str, str] = {}
        self.current: tuple[str, object] | None = None
        self._workroot: Path | None = None
        self.written: Path | None = None
        self.command = "pytest " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    @property
    def workroot(self) -> Path:
        """Scratch directory for saved models and inputs, made on first use, removed at session end."""
        if self._workroot is None:
            self._workroot = Path(tempfile.mkdtemp(prefix="conformance-bench-"))
        return self._workroot

    def threads(self) -> dict:
        if self.tf_threads is None:
            try:
                self.tf_threads = _bench.configure_tensorflow_threads(self.intra, self.inter)
            except _bench.BenchSetupError as exc:
                pytest.fail(str(exc), pytrace=False)
        return {"intra_op": self.intra, "inter_op": self.inter, "tensorflow": self.tf_threads,
                "onnxruntime": self.ort_threads}

    def prepared(self, name: str) -> "_bench.Prepared":
        """The prepared case; building the next case drops the previous one."""
        case = self.cases.get(name)
        if isinstance(case, str):
            pytest.skip(case)
        if name in self.skipped:
            pytest.skip(self.skipped[name])
        self.threads()
        if self.current and self.current[0] == name:
            return self.current[1]
        if self.current:
            old = self.current
            self.current = None
            _bench.release(old[1])
        try:
            p = _bench.prepare(case, _bench.batches_for(case), converter=self.converter, opset=self.opset,
                               intra=self.intra, inter=self.inter, workdir=self.workroot / name,
                               spinning=self.spinning)
        except _bench.BenchSetupError as exc:
            self.skipped[name] = str(exc)
            pytest.skip(str(exc))
        self.ort_threads = p.ort_threads
        self.conversions[name] = {k: v for k, v in p.conversion.items() if k != "seconds"}
        self.current = (name, p)
        return p

    def conversion(self) -> dict:
        if not self.conversions:
            return {"converter": self.converter, "opset": self.opset}
        first = next(iter(self.conversions.values()))
        return {"converter": first["converter"], "opset": first["opset"], "version": first.get("version"),
                "commands": {case: c.get("command") for case, c in self.conversions.items()}}

    def document(self) -> dict:
        from conformance.run.environment import describe
        from benchmarks.speedup import build_document

        env = describe(os.environ.get("CONFORMANCE_STACK") or "default")
        threads = self.threads_record()
        doc = build_document(self.entries, environment=env, threads=threads, conversion=self.conversion(),
                             command=self.command, source="pytest-benchmark (in-process)")
        doc["skipped"] = self.skipped_list()
        return doc

    def skipped_list(self) -> list[dict]:
        absent = {n: c for n, c in self.cases.items() if isinstance(c, str)}
        return [{"case": c, "reason": r} for c, r in {**absent, **self.skipped}.items()]

    def threads_record(self) -> dict:
        return {"intra_op": self.intra, "inter_op": self.inter, "tensorflow": self.tf_threads,
                "onnxruntime": self.ort_threads}


def _state(config) -> BenchState:
    if _STATE not in config.stash:
        config.stash[_STATE] = BenchState(config)
    return config.stash[_STATE]


def _opted_in(config) -> bool:
    return bool(_opt(config, "benchmark_only", False) or _opt(config, "benchmark_disable", False)
                or os.environ.get("CONFORMANCE_BENCHMARKS") == "1")


def pytest_configure(config):
    for name, flag in (("bench_threads", "--bench-threads"), ("bench_inter_threads", "--bench-inter-threads"),
                       ("bench_cold_runs", "--bench-cold-runs"), ("bench_opset", "--bench-opset")):
        value = _opt(config, name)
        if value is not None and value < 1:
            raise pytest.UsageError(f"{flag} must be at least 1, not {value}")
    config.addinivalue_line("markers", "benchmark(**options): a Keras vs onnxruntime benchmark (pytest-benchmark "
                                       "options as keywords); opt-in, see benchmarks/conftest.py")


def pytest_generate_tests(metafunc):
    state = _state(metafunc.config)
    if "warm" in metafunc.fixturenames:
        params = []
        for name in state.case_names:
            case = state.cases[name]
            batches = _bench.batches_for(case) if not isinstance(case, str) else _bench.SMALL_BATCHES[:1]
            for batch in batches:
                for mode in _bench.WARM_MODES:
                    marks = [pytest.mark.benchmark(group=f"{name} batch {batch}")]
                    if isinstance(case, str):
                        marks.append(pytest.mark.skip(reason=case))
                    params.append(pytest.param((name, batch, mode), id=f"{name}-b{batch}-{mode}", marks=marks))
        metafunc.parametrize("warm", params)
    if "cold" in metafunc.fixturenames:
        params = []
        for name in state.case_names:
            case = state.cases[name]
            for side in _bench.COLD_SIDES:
                marks = [pytest.mark.benchmark(group=f"{name} cold start")]
                if isinstance(case, str):
                    marks.append(pytest.mark.skip(reason=case))
                params.append(pytest.param((name, side), id=f"{name}-cold-{side}", marks=marks))
        metafunc.parametrize("cold", params)


def _is_bench_item(item) -> bool:
    try:
        return Path(str(item.path)).resolve().is_relative_to(_HERE)
    except (AttributeError, OSError):
        return False


def pytest_collection_modifyitems(config, items):
    """Opt-in skip; and run case by case (warm, then cold) so only one model is alive at a time."""
    bench = [it for it in items if _is_bench_item(it)]
    if not bench:
        return
    if not _opted_in(config):
        skip = pytest.mark.skip(reason=OPT_IN)
        for it in bench:
            it.add_marker(skip)
        return
    order = {n: i for i, n in enumerate(_state(config).case_names)}

    def key(it):
        params = getattr(getattr(it, "callspec", None), "params", {})
        if "warm" in params:
            name, batch, mode = params["warm"]
            return (order.get(name, 1 << 30), 0, batch, _bench.WARM_MODES.index(mode))
        if "cold" in params:
            name, side = params["cold"]
            return (order.get(name, 1 << 30), 1, 0, _bench.COLD_SIDES.index(side))
        return (1 << 31, 0, 0, 0)

    others = [it for it in items if not _is_bench_item(it)]
    items[:] = others + sorted(bench, key=key)


@pytest.fixture(scope="session")
def bench_state(pytestconfig) -> BenchState:
    return _state(pytestconfig)


@pytest.fixture(autouse=True)
def _collect_stats(request, bench_state):
    """After each benchmark, keep pytest-benchmark's statistics for the speedup table."""
    yield
    bm = request.node.funcargs.get("benchmark")
    stats = getattr(bm, "stats", None)
    if stats and (getattr(bm, "extra_info", None) or {}).get("case"):   # not the page benchmark
        bench_state.entries.append(stats.as_dict(include_data=False))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """pytest-benchmark's own JSON (--benchmark-json / --benchmark-autosave) carries the settings too,
    so `python -m benchmarks.speedup build FILE` rebuilds the table from it."""
    if _STATE not in config.stash:
        return
    state = config.stash[_STATE]
    from conformance.run.environment import describe

    output_json["conformance"] = {"threads": state.threads_record(), "conversion": state.conversion(),
                                  "command": state.command,
                                  "environment": describe(os.environ.get("CONFORMANCE_STACK") or "default"),
                                  "skipped": state.skipped_list()}


def pytest_sessionfinish(session, exitstatus):
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    if state.current:
        _bench.release(state.current[1])
        state.current = None
    import shutil

    if state._workroot is not None:
        shutil.rmtree(state._workroot, ignore_errors=True)
    if state.entries:
        from benchmarks.speedup import write

        state.written = write(state.document(), state.speedup_path)
        state.attached = _attach_to_results(state.written)


def _attach_to_results(speedup_path):
    """Put the speedup table into the results.json beside it (if any) and rebuild its matrix.html."""
    from pathlib import Path

    from conformance.run import results
    from conformance.report.html import render_files
    from conformance.report.speedup import load_speedup

    results_path = Path(speedup_path).parent / results.RESULTS
    if not results_path.is_file():
        return None
    try:
        doc = results.load(results_path)
    except results.ResultsError:
        return None
    doc["speedup"] = load_speedup(speedup_path)
    results.write(doc, results_path)
    render_files([results_path], results_path.parent / "matrix.html")
    return results_path


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(_STATE, None)
    if state is None or not state.entries:
        return
    from benchmarks.speedup import load_speedup, markdown

    tr = terminalreporter
    tr.section("Keras vs onnxruntime speedup")
    if state.written:
        for line in markdown(load_speedup(state.written)).splitlines():
            tr.write_line(line)
        tr.write_line(f"speedup table: {state.written}")
        if getattr(state, "attached", None):
            tr.write_line(f"attached to {state.attached} and its matrix.html")
    for item in state.skipped_list():
        tr.write_line(f"skipped {item['case']}: {item['reason']}")
