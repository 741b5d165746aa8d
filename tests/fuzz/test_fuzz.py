"""Property-based fuzz: generated recurrent and dense models through the matrix's pipeline.

The one test of tests/ that needs TensorFlow (in its conversion worker only).  With the "ci"
hypothesis profile (used when no profile is chosen) it runs a fixed, small set of examples;
`--hypothesis-profile deep` runs a long random session that keeps its database in .hypothesis/.
Targets: $CONFORMANCE_FUZZ_CONVERTERS / $CONFORMANCE_FUZZ_OPSETS, else --converters / --opsets,
else tf2onnx-keras at opset 13.  Failures (shrunk) go to REPORT_DIR/fuzz-results.json when --report-dir
is given, else to a tmp folder (printed with -s): `pytest tests/` leaves reports/ alone.
"""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given

from conformance.fuzz import profiles
from conformance.fuzz.runner import FuzzRunner, fuzz_targets
from conformance.fuzz.strategies import configs
from conformance.loader import ModuleLoadError
from conformance.causes import CausesError
from conformance.run.options import OptionError


@pytest.fixture
def fuzz_runner(conformance, pytestconfig, request, tmp_path_factory):
    import onnx.defs

    name = profiles.current_name()
    settings = conformance.settings
    if pytestconfig.getoption("report_dir") is None:  # the project's tests write under their tmp paths
        settings = dataclasses.replace(settings, report_dir=tmp_path_factory.mktemp("fuzz-reports"))
    try:
        converters, opsets = fuzz_targets(settings, onnx.defs.onnx_opset_version(),
                                          pytestconfig.getoption("converters") is not None,
                                          pytestconfig.getoption("opsets") is not None)
        runner = FuzzRunner(settings, converters, opsets, profile=name, nodeid=request.node.nodeid,
                            shrink_budget=profiles.shrink_budget(name))
    except (OptionError, ModuleLoadError, CausesError) as exc:
        pytest.fail(f"fuzz: {exc}", pytrace=False)
    chosen = profiles.for_fuzz()
    yield runner, chosen
    runner.close()


@pytest.mark.fuzz
def test_generated_models_convert_and_match(fuzz_runner):
    runner, chosen = fuzz_runner

    @chosen
    @given(configs())
    def prop(config):
        runner.check(config)

    try:
        prop()
    except BaseException as exc:  # a failure (or several): the minimal ones are written down
        path = runner.write(complete=not isinstance(exc, KeyboardInterrupt))
        _summary(runner, path)
        raise
    _summary(runner, runner.write(complete=True))
    compared = sum(n for status, n in runner.statuses.items() if status != "DEGENERATE")
    assert compared, f"the fuzz compared no generated model (statuses: {runner.statuses})"


def _summary(runner, path) -> None:
    """Shown with -s: every generated cell and its status."""
    print(f"fuzz: {runner.examples} examples, statuses {runner.statuses}; results in {path}")
    for (case, conv, opset), rec in runner.cache.items():
        print(f"  {rec['status']:<14} {case} {conv} opset {opset}")
