"""The fuzz property's decisions, shrinking and recording, with the worker replaced by a stub.
Fast: no TensorFlow; the real pipeline runs in test_fuzz.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.run import results
from conformance.fuzz.model import Config, Recurrent
from conformance.fuzz.runner import FuzzFailure, FuzzRunner, fuzz_targets
from conformance.fuzz.strategies import configs
from conformance.run.options import OptionError, Settings, settings_from

STAGES = {
    "PASS": {"availability": {"ok": True}, "convert": {"ok": True}, "compare": {"ok": True}},
    "MISMATCH": {"availability": {"ok": True}, "convert": {"ok": True}, "compare": {"ok": False, "failures": ["y: off"]}},
    "DEGENERATE": {"availability": {"ok": True}, "convert": {"ok": True}, "compare": {"ok": True},
                   "reference": {"ok": False, "problems": ["y is constant"]}},
    "CRASH": {"isolation": {"ok": False, "status": "CRASH", "error": "the conversion worker died (SIGSEGV)"}},
}


def _settings(tmp_path: Path) -> Settings:
    given = {"opsets": "13", "causes": "none", "report_dir": str(tmp_path), "cell_timeout": 60.0,
             "conformance_threads": 1, "stack": "test"}
    return settings_from(given.get, tmp_path, 21)


def stub_runner(tmp_path, verdict, known=None, **kw) -> FuzzRunner:
    """A runner whose cells are decided by ``verdict(config) -> status`` instead of a worker."""
    runner = FuzzRunner(_settings(tmp_path), ["tf2onnx-keras"], [13], profile="test", known_failures=known, **kw)
    runner.calls = 0

    def run(cell):
        runner.calls += 1
        status = verdict(cell.case.name)
        return runner.session.record(cell, {"stages": STAGES[status], "facts": {}}, 0.01)

    runner.session.run = run
    return runner


def _go_backwards_lstm(name: str) -> str:
    return "MISMATCH" if any(p.startswith("lstm") and "_bwd" in p for p in name.split(".")) else "PASS"


def test_a_failure_is_shrunk_recorded_and_repro_written(tmp_path):
    runner = stub_runner(tmp_path, _go_backwards_lstm)

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(configs())
    def prop(config):
        runner.check(config)

    with pytest.raises(FuzzFailure) as err:
        prop()
    assert err.value.status == "MISMATCH"
    (rec,) = runner.failures.values()
    assert rec["case"] == "g.s1.f1.b1.lstm1_tanh_recsigm_bwd"  # the minimal failing configuration
    assert rec["family"] == "generated" and rec["status"] == "MISMATCH"
    assert Config.from_json(rec["facts"]["config"]).name == rec["case"]
    assert rec["facts"]["repro"].startswith("def case_g_s1_f1_b1_lstm1_tanh_recsigm_bwd():")
    doc = results.load(runner.write())
    assert [r["case"] for r in doc["records"]] == [rec["case"]]
    assert doc["run"]["kind"] == "fuzz" and doc["run"]["statuses"]["MISMATCH"] >= 1
    runner.close()


def test_fine_statuses_pass_and_degenerate_models_are_discarded(tmp_path):
    seen = []
    runner = stub_runner(tmp_path, lambda name: seen.append(name) or ("DEGENERATE" if len(seen) % 2 else "PASS"))

    @settings(max_examples=20, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.filter_too_much])
    @given(configs())
    def prop(config):
        runner.check(config)

    prop()
    assert runner.statuses.get("DEGENERATE") and runner.statuses.get("PASS") and not runner.failures
    runner.close()


def test_a_known_failure_is_xfail_and_does_not_fail_the_property(tmp_path):
    known = tmp_path / "known.toml"
    known.write_text('[[cause]]\nid = "planted"\ntitle = "planted for this test"\nkind = "silent wrong answer"\n'
                     'cases = "g.*lstm*_bwd*"\nconverters = "tf2onnx-keras"\nstatus = "MISMATCH"\nsignature = ".*"\n'
                     'link = "https://example.org/planted"\nreason = "planted for this test"\n')
    runner = stub_runner(tmp_path, _go_backwards_lstm, known=known)
    config = Config(seq=2, features=1, batch=1, recurrent=(Recurrent("lstm", 2, go_backwards=True),))
    runner.check(config)
    (rec,) = runner.run_config(config)
    assert rec["status"] == "XFAIL" and rec["observed_status"] == "MISMATCH"
    crash = stub_runner(tmp_path, lambda name: "CRASH", known=known)
    with pytest.raises(FuzzFailure, match="CRASH"):
        crash.check(config)  # a different failure than the known one still fails
    runner.close()
    crash.close()


@pytest.mark.filterwarnings("ignore:Using `reject` outside")
def test_cells_are_cached_and_shrinking_stops_at_its_budget(tmp_path):
    from hypothesis.errors import UnsatisfiedAssumption

    runner = stub_runner(tmp_path, lambda name: "CRASH", shrink_budget=0.0)
    a = Config(seq=2, features=1, batch=1, recurrent=(Recurrent("gru", 2),))
    b = Config(seq=3, features=1, batch=1, recurrent=(Recurrent("gru", 2),))
    with pytest.raises(FuzzFailure):
        runner.check(a)
    with pytest.raises(FuzzFailure):
        runner.check(a)  # replayed from the cache: still fails, no new cell
    assert runner.calls == 1
    with pytest.raises(UnsatisfiedAssumption):
        runner.check(b)  # past the budget a new candidate is discarded, not run
    assert runner.calls == 1 and runner.budget_exhausted
    runner.close()


def test_targets_default_to_tf2onnx_keras_at_13_and_env_wins(tmp_path, monkeypatch):
    s = _settings(tmp_path)
    assert fuzz_targets(s, 21, False, False) == (("tf2onnx-keras",), (13,))
    monkeypatch.setenv("CONFORMANCE_FUZZ_CONVERTERS", "tf2onnx-cli,keras-export")
    monkeypatch.setenv("CONFORMANCE_FUZZ_OPSETS", "15-17")
    assert fuzz_targets(s, 21, False, False) == (("tf2onnx-cli", "keras-export"), (15, 16, 17))
    monkeypatch.setenv("CONFORMANCE_FUZZ_OPSETS", "99")
    with pytest.raises(OptionError, match="99 is not an ONNX opset"):
        fuzz_targets(s, 21, False, False)


def test_the_run_directory_is_removed(tmp_path):
    runner = stub_runner(tmp_path, lambda name: "PASS")
    runner.session.run_dir.mkdir(parents=True)
    (runner.session.run_dir / "x").write_text("x")
    runner.close()
    assert not runner.session.work_root.exists()


def test_the_checked_in_known_failures_file_is_valid():
    from conformance.causes import load
    from conformance.fuzz.runner import KNOWN_FAILURES

    for cause in load(KNOWN_FAILURES):
        for part in cause.scopes:   # every part names generated cases by globs over their names
            assert part.cases and all(p.startswith("g.") for p in part.cases), cause.describe()
