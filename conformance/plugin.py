"""The pytest wiring of the suite: options, the matrix's parametrisation, the fixture, the recorder.

Installed, the package registers this module through the ``pytest11`` entry point named
``conformance.plugin`` (pyproject.toml), so ``pytest --pyargs conformance --model my.keras`` runs
anywhere; in the checkout the root conftest.py names the same module in ``pytest_plugins``, which
pytest skips when the entry point already registered it (same name), so it is never loaded twice.

Loaded into every pytest session of the environment, it stays inert unless the session runs the
matrix: its paths include the ``conformance`` package (``pytest conformance/``, ``pytest --pyargs
conformance``, ``pytest`` at the checkout's root) or a matrix option is given (``--model``,
``--converters``, ...).  An inert session only has the options declared: nothing is loaded,
checked or written.

The logic lives in ``conformance/run`` (pytest-process side), ``conformance/worker`` (the conversion
workers) and ``conformance/report``; this file only connects them to pytest's hooks.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

#: the ``conformance`` package (site-packages/conformance when installed)
PACKAGE = Path(__file__).resolve().parent
#: the project checkout (where causes.toml and reports/ are by default) when the suite runs from one
ROOT = PACKAGE.parent
#: the default registry of causes shipped inside the package (a link to the checkout's causes.toml)
PACKAGED_CAUSES = PACKAGE / "causes.toml"
#: the options that make a session a matrix run whatever its paths
MATRIX_OPTIONS = ("model", "inputs", "converters", "opsets", "cases_module", "converters_module", "baseline",
                  "custom_objects", "unsafe_deserialization", "targets", "targets_module")

_MATRIX = pytest.StashKey()


def pytest_addoption(parser):
    from conformance.run.options import DEFAULT_OPSETS

    g = parser.getgroup("conformance", "Keras -> ONNX conformance matrix")
    g.addoption("--model", action="append", default=[], metavar="PATH",
                help="a saved model as a case: a .keras or .h5 file or a SavedModel directory; repeatable "
                     "(with --model, the built-in case families are left out)")
    g.addoption("--inputs", action="append", default=[], metavar="FILE.npz",
                help="arrays named like the model's inputs for the N-th --model (default: generated from its "
                     "input specs); repeatable")
    g.addoption("--custom-objects", action="append", default=[], metavar="FILE.py",
                help="a Python module of custom Keras objects, imported in every worker before any model loads: "
                     "classes it registers (keras.saving.register_keras_serializable) and its custom_objects dict "
                     "resolve when a --model file loads; repeatable")
    g.addoption("--unsafe-deserialization", action="store_true", default=False,
                help="the --model files are trusted: load them with Keras's safe mode off, so Lambda layers "
                     "(Python code in the file) load; results and the page say it was on")
    g.addoption("--minimize", nargs="?", const=600.0, default=None, metavar="SECONDS",
                help="after the run, reduce every unexplained failing cell to the smallest Keras model that fails the "
                     "same way (python -m conformance.report minimize), within this many seconds in all (default 600); "
                     "the results go to REPORT_DIR/minimized/<cell id>/ and the page links them")
    g.addoption("--converters", default=None, metavar="NAMES",
                help="comma-separated converter rows to run (default: every registered converter)")
    g.addoption("--opsets", default=None, metavar="LIST",
                help="comma-separated ONNX opsets or ranges, e.g. 9,11,13-15 "
                     f"(default: {','.join(map(str, DEFAULT_OPSETS))})")
    g.addoption("--cases-module", action="append", default=[], metavar="PATH",
                help="a Python file (or dotted module) declaring extra cases; repeatable")
    g.addoption("--converters-module", action="append", default=[], metavar="PATH",
                help="a Python file (or dotted module) declaring extra converters; repeatable")
    g.addoption("--targets", default=None, metavar="NAMES",
                help="what users do next with each converted model, beside onnxruntime's default run (ort): "
                     "comma-separated targets of ort, ort-noopt, ort-basic, onnxsim, openvino, fp16, int8-dynamic, "
                     "int8-static (default: ort alone; the deploy extra installs openvino, onnxsim and "
                     "onnxconverter-common)")
    g.addoption("--targets-module", action="append", default=[], metavar="PATH",
                help="a Python file (or dotted module) declaring extra targets; repeatable")
    g.addoption("--causes", "--expectations", dest="causes", default=None, metavar="TOML",
                help="the registry of known failures, causes.toml (default: causes.toml at the root, else the one shipped "
                     "with the package; 'none' for no file)")
    g.addoption("--report-dir", default=None, metavar="DIR",
                help="where results.json and the report go (default: reports/)")
    g.addoption("--cell-timeout", type=float, default=None, metavar="SECONDS",
                help="time limit for one cell, model build included (default 900)")
    g.addoption("--conformance-threads", type=int, default=None, metavar="N",
                help="intra-op threads for TensorFlow and onnxruntime (default: cores / xdist workers)")
    g.addoption("--keep-onnx", action="store_true", default=False,
                help="keep every converted model under REPORT_DIR/onnx/")
    g.addoption("--tier", default="default", choices=("default", "full"),
                help="default: heavy cases (tag slow) only when -m asks for them (-m slow), at one opset (13, or the "
                     "selected opset nearest it), and the layer library (tag layers) at opset 18 (or the nearest "
                     "selected); full: every case at every selected opset")
    g.addoption("--stack", default=None, metavar="NAME",
                help="label of the software stack in the results (default: $CONFORMANCE_STACK or 'default')")
    g.addoption("--cli-launch", default=None, metavar="warm|fresh",
                help="how command-line converters (python -m tf2onnx.convert) start: warm = a fork of a server that "
                     "preloaded TensorFlow and the converter (default), fresh = a new interpreter per call")
    g.addoption("--worker-memory", default=None, metavar="GIB",
                help="hard memory limit of each conversion worker and its children in GiB; a cell that exceeds it is "
                     "CRASH 'out of memory' (default: a worker over its share, 85 %% of the machine's memory split "
                     "between xdist workers, is stopped only when the machine runs out of memory; 0: no check)")
    g.addoption("--baseline", default=None, metavar="RESULTS_JSON",
                help="compare the run with this results (or baseline) file; a cell that regressed from "
                     "PASS/XFAIL fails the run")


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def in_checkout(config) -> bool:
    """The session runs from the project's checkout (its rootdir is the directory above the package)."""
    return config.rootpath.resolve() == ROOT and (ROOT / "pyproject.toml").is_file()


def _covers_package(path: Path) -> bool:
    """``path`` is the package, inside it, or a directory above it that pytest would walk into."""
    if path == PACKAGE or PACKAGE in path.parents:
        return True
    if path in PACKAGE.parents:
        between = PACKAGE.relative_to(path).parts[:-1]
        return not any(p.startswith(".") or p in ("site-packages", "dist-packages", "lib", "venv") for p in between)
    return False


def runs_matrix(config) -> bool:
    """Whether this session runs the conformance matrix (otherwise the plugin stays inert)."""
    if any(config.getoption(o, None) for o in MATRIX_OPTIONS):
        return True
    here = Path(config.invocation_params.dir)
    for arg in config.args or [str(here)]:
        target = str(arg).split("::", 1)[0]
        if config.getoption("pyargs", False) and target.replace("/", ".").split(".")[0] == PACKAGE.name:
            return True
        if _covers_package((here / target).resolve()):
            return True
    return False


class _XdistHooks:
    """Hands the controller's run id to xdist workers."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def pytest_configure_node(self, node):
        node.workerinput["conformance_run_id"] = self.run_id


def pytest_configure(config):
    if not runs_matrix(config):
        return
    _activate(config)


def _activate(config, recorder: bool = True):
    """Options checked, cases, converters and causes loaded, the recorder registered: the matrix run.
    ``recorder=False``: only the Matrix, for a fixture of another test (the fuzz) in an otherwise inert session."""
    from conformance.checks.deploy import DeployConfigError, mode_from_env
    from conformance.loader import ModuleLoadError
    from conformance.causes import CausesError
    from conformance.run.matrix import Matrix
    from conformance.run.options import OptionError, settings_from
    from conformance.run.recorder import Recorder, new_run_id, now

    if _is_xdist_worker(config):
        run_id = config.workerinput.get("conformance_run_id", "run")
    else:
        run_id = new_run_id()
        if recorder and config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(run_id), "conformance-xdist")
    # in the checkout: causes.toml and reports/ at its root; installed: the current directory's
    # reports/ and the current directory's causes.toml, else the one shipped with the package
    rootdir = config.rootpath if in_checkout(config) else Path(config.invocation_params.dir)
    try:
        import onnx.defs

        settings = settings_from(config.getoption, rootdir, onnx.defs.onnx_opset_version(), PACKAGED_CAUSES)
        matrix = Matrix(settings, run_id, os.environ.get("PYTEST_XDIST_WORKER", "main"))
        mode_from_env()  # a bad CONFORMANCE_DEPLOY is a usage error now, not a worker failure later
    except (OptionError, ModuleLoadError, CausesError, DeployConfigError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if not in_checkout(config) and not os.environ.get("CONFORMANCE_CACHE_DIR"):
        # built artifacts (the local hub module) go beside the report, never into site-packages
        os.environ["CONFORMANCE_CACHE_DIR"] = str(settings.report_dir / "cache")
    config.stash[_MATRIX] = matrix
    if recorder and not _is_xdist_worker(config):
        _check_model_inputs(config)
        from conformance.report.gate import load_baseline
        from conformance.run.results import ResultsError

        try:
            baseline = load_baseline(config.getoption("baseline"))
        except ResultsError as exc:
            raise pytest.UsageError(f"--baseline: {exc}") from None
        config.pluginmanager.register(Recorder(config, matrix, run_id, now(), baseline), "conformance-recorder")
    for tag in sorted({t for c in matrix.cases for t in c.tags}):
        config.addinivalue_line("markers", f"{tag}: cases tagged {tag!r}")
    return matrix


def _check_model_inputs(config) -> None:
    """Each ``--inputs`` file against its ``--model``, before anything runs (one line and exit 4 if it does not fit)."""
    from cases.files import parse_ref
    from conformance.worker.probe import check_all

    settings = config.stash[_MATRIX].settings
    pairs = [pair for pair in (parse_ref(ref) for ref in settings.models) if pair[1]]
    for reason in check_all(pairs, settings.loading):   # one interpreter for every pair
        if reason:
            raise pytest.UsageError(reason)


def pytest_generate_tests(metafunc):
    if "cell" not in metafunc.fixturenames:
        return
    from conformance.run.cells import HEAVY_TAG, MODELS_TAG, tiered

    matrix = metafunc.config.stash.get(_MATRIX, None)
    if matrix is None:  # collected although the session's paths did not look like a matrix run
        matrix = _activate(metafunc.config)
    params = []
    markexpr = metafunc.config.getoption("markexpr") or ""
    # -m slow, -m "seed or slow", ...; -m models
    cells = tiered(matrix.cells(), matrix.settings.opsets, metafunc.config.getoption("tier"),
                   heavy=HEAVY_TAG in markexpr, models=MODELS_TAG in markexpr)
    # heavy cases first: spread between xdist workers early, they cannot leave one worker busy at the end
    cells.sort(key=lambda c: not ({HEAVY_TAG, MODELS_TAG} & c.case.tags))
    for cell in cells:
        marks = [getattr(pytest.mark, t) for t in sorted(cell.case.tags)]
        marks.append(pytest.mark.xdist_group(cell.case.name))
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    metafunc.parametrize("cell", params)


@pytest.fixture(scope="session")
def conformance(pytestconfig):
    """The run's Matrix: runs a cell in the isolated worker and decides it (made on first use in a
    session that is not a matrix run, e.g. for the fuzz of tests/fuzz)."""
    matrix = pytestconfig.stash.get(_MATRIX, None)
    return matrix if matrix is not None else _activate(pytestconfig, recorder=False)


def pytest_unconfigure(config):
    matrix = config.stash.get(_MATRIX, None)
    if matrix is not None:
        matrix.close(clean=True)
