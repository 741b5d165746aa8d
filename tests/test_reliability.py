"""The suite survives faults and bad input: each ends in a clear cell status or one clear line.

Real `pytest conformance/` runs (the real conftest, worker and verdicts) over the fake cases and
converters of tests/fakes/, which need no TensorFlow, so each run takes seconds.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.run import results

from tests import helpers

ROOT = helpers.ROOT
FAKES = ROOT / "tests" / "fakes"
FAKE_CASES = FAKES / "cases.py"
FAKE_CONVERTERS = FAKES / "converters.py"

FAULTS = ["fake-ok", "fake-segv", "fake-hang", "fake-garbage", "fake-invalid", "fake-raises", "fake-network",
          "fake-tempfile"]
#: fake_tiny x converter -> the status it must end in
EXPECTED = {
    "fake-ok": "PASS",
    "fake-segv": "CRASH",
    "fake-hang": "TIMEOUT",
    "fake-garbage": "CONVERT_ERROR",
    "fake-invalid": "INVALID",
    "fake-raises": "CONVERT_ERROR",
    "fake-network": "CONVERT_ERROR",
    "fake-tempfile": "PASS",
}
CELL_TIMEOUT = 6


FAKE_ARGS = ("--cases-module", str(FAKE_CASES), "--converters-module", str(FAKE_CONVERTERS),
             "--causes", "none", "--opsets", "13")


def conformance_cmd(report_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "conformance/", "-q", "-p", "no:cacheprovider",
            "--report-dir", str(report_dir), *FAKE_ARGS, *args]


def run_conformance(report_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return helpers.run_matrix(report_dir, *FAKE_ARGS, *args, timeout=timeout)[0]


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The run failed with a single clear line (no traceback wall); that line."""
    assert proc.returncode not in (0, 1), proc.stdout + proc.stderr
    text = (proc.stderr + proc.stdout).strip()
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) <= 2, text
    return text


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    """One run: fake_tiny and fake_builder_raises x every misbehaving converter."""
    report = tmp_path_factory.mktemp("faults")
    proc = run_conformance(report, "--converters", ",".join(FAULTS), "--cell-timeout", str(CELL_TIMEOUT),
                           "-k", "fake_tiny- or fake_builder_raises-")
    doc = results.load(report / results.RESULTS)
    return proc, {r["id"]: r for r in doc["records"]}, doc, report


@pytest.mark.parametrize("converter", FAULTS)
def test_each_fault_ends_in_its_status(fault_run, converter):
    _, records, _, _ = fault_run
    rec = records[f"fake_tiny-{converter}-opset13"]
    assert rec["status"] == EXPECTED[converter], rec["reason"]
    assert rec["reason"]


def test_fault_reasons_say_what_happened(fault_run):
    _, records, _, _ = fault_run
    reason = {c: records[f"fake_tiny-{c}-opset13"]["reason"] for c in FAULTS}
    assert "SIGSEGV" in reason["fake-segv"] and "about to segfault" in reason["fake-segv"]
    assert f"within {CELL_TIMEOUT} s" in reason["fake-hang"] and "sleeping forever" in reason["fake-hang"]
    assert "DecodeError" in reason["fake-garbage"]
    assert "onnx.checker" in reason["fake-invalid"] and "missing_input" in reason["fake-invalid"]
    assert "converter exploded" in reason["fake-raises"]


def test_a_builder_that_raises_is_case_error_for_every_converter(fault_run):
    _, records, _, _ = fault_run
    for conv in FAULTS:
        rec = records[f"fake_builder_raises-{conv}-opset13"]
        assert rec["status"] == "CASE_ERROR", rec["reason"]
        assert "the builder of this case is broken" in rec["reason"]


def test_every_other_cell_is_kept(fault_run):
    proc, records, doc, _ = fault_run
    assert proc.returncode == 1, proc.stderr[-2000:]  # cells failed; the run itself did not
    assert len(records) == 2 * len(FAULTS)
    assert doc["run"]["complete"] is True
    # cells after the crash and the hang ran in fresh workers and passed
    assert records["fake_tiny-fake-tempfile-opset13"]["status"] == "PASS"
    assert records["fake_tiny-fake-ok-opset13"]["stages"]["compare"]["ok"] is True
    assert records["fake_tiny-fake-ok-opset13"]["stages"]["convert"]["command"].endswith("tensorflow loaded: False")
    assert f"{2 * len(FAULTS) - 2} failed, 2 passed" in proc.stdout


def test_a_case_module_that_fails_to_import_is_one_line(tmp_path):
    proc, _ = helpers.run_matrix(tmp_path, "--cases-module", str(FAKES / "broken_cases.py"), timeout=120)
    text = one_line_error(proc)
    assert "broken_cases.py failed to import" in text and "a_module_that_does_not_exist_anywhere" in text


def test_a_converter_module_that_fails_to_import_is_one_line(tmp_path):
    bad = tmp_path / "bad_converters.py"
    bad.write_text("x = 1 / 0\n")
    proc = run_conformance(tmp_path, "--converters-module", str(bad), "--collect-only")
    text = one_line_error(proc)
    assert "bad_converters.py failed to import: ZeroDivisionError" in text


@pytest.mark.parametrize("content,message", [
    ("[[cause]\nid = 'x'\n", "not valid TOML"),
    ("[[cause]]\nid = 'x'\ntitle = 't'\nkind = 'invalid graph'\nstatus = 'INVALID'\nsignature = 's'\nlink = 'l'\n"
     "reason = 'r'\ncolour = 'red'\n", "unknown key(s) ['colour']"),
    ("[[cause]]\nid = 'x'\ntitle = 't'\nkind = 'invalid graph'\nstatus = 'INVALID'\nsignature = 's'\nlink = 'l'\n",
     "missing required key(s) ['reason']"),
    (b"\xff\xfe not text", "not UTF-8 text"),
])
def test_a_malformed_causes_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "causes.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    proc = run_conformance(tmp_path, "--collect-only", "--causes", str(path), timeout=120)
    assert message in one_line_error(proc)


# -- results files of another schema version ------------------------------------------------------
def _write_doc(path: Path, version) -> Path:
    doc = results.document({"id": "r"}, {"stack": "x"}, {}, [], [], complete=True)
    doc["schema_version"] = version
    path.write_text(json.dumps(doc))
    return path


def test_load_refuses_another_schema_version_in_one_line(tmp_path):
    old = _write_doc(tmp_path / "old.json", 99)
    with pytest.raises(results.ResultsError) as err:
        results.load(old)
    assert "schema version 99" in str(err.value) and "\n" not in str(err.value)
    assert results.load(_write_doc(tmp_path / "ok.json", results.SCHEMA_VERSION))["records"] == []


def test_rebuild_refuses_a_partial_file_of_another_schema_version(tmp_path):
    partial = tmp_path / results.PARTIAL
    partial.write_text(json.dumps({"kind": "header", "schema_version": 7, "run": {}, "environment": {},
                                   "converters": {}}) + "\n")
    with pytest.raises(results.ResultsError, match="schema version 7"):
        results.rebuild(partial)


@pytest.mark.parametrize("args", [["html", "{new}", "--baseline", "{old}", "-o", "{out}"],
                                  ["diff", "{old}", "{new}"]])
def test_a_baseline_of_another_schema_version_is_one_line(tmp_path, args):
    old = _write_doc(tmp_path / "old.json", 99)
    new = _write_doc(tmp_path / "new.json", results.SCHEMA_VERSION)
    argv = [a.format(old=old, new=new, out=tmp_path / "m.html") for a in args]
    proc = helpers.run_module("conformance.report", *argv, timeout=60)
    text = one_line_error(proc)
    assert "schema version 99" in text
    assert not (tmp_path / "m.html").exists()


def test_the_run_refuses_a_baseline_of_another_schema_version_in_one_line(tmp_path):
    old = _write_doc(tmp_path / "old.json", 99)
    proc = run_conformance(tmp_path, "--converters", "fake-ok", "-k", "fake_tiny-", "--baseline", str(old))
    text = one_line_error(proc)
    assert "--baseline" in text and "schema version 99" in text
    assert not (tmp_path / results.RESULTS).exists()  # refused before any cell ran


# -- a run killed midway -------------------------------------------------------------------------
def _workers_of(report_dir: Path) -> list[int]:
    """Conversion workers still running for this report directory (their argv names it)."""
    pids = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"conformance.worker" in argv and any(str(report_dir).encode() in a for a in argv):
            pids.append(int(proc_dir.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the orphaned worker")
def test_a_run_killed_midway_is_rebuilt_from_what_was_written(tmp_path):
    report = tmp_path / "killed"
    # the third conversion waits until the run is killed, so exactly two cells finish however busy the machine is
    env = dict(os.environ, FAKE_SLOW_SECONDS="0.5", FAKE_SLOW_HOLD_AFTER="2")
    proc = subprocess.Popen(conformance_cmd(report, "--converters", "fake-slow", "-k", "fake_tiny_"), cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = report / results.PARTIAL
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if partial.is_file() and partial.read_text().count('"kind": "record"') >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.1)
        else:
            pytest.fail("no cell finished within 90 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the orphaned worker sees its stdin close and exits by itself
    deadline = time.monotonic() + 20
    while _workers_of(report) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = _workers_of(report)
    for pid in leftover:  # do not leave them behind even if the assertion below fails
        os.kill(pid, signal.SIGKILL)
    assert not leftover, f"conversion workers outlived their killed run: {leftover}"

    assert not (report / results.RESULTS).exists()
    finished = partial.read_text().count('"kind": "record"')
    out = tmp_path / "rebuilt.json"
    page = tmp_path / "rebuilt.html"
    cli = helpers.run_module("conformance.report", "rebuild", partial, "-o", out, "--html", page, timeout=60)
    assert cli.returncode == 0, cli.stderr
    doc = results.load(out)
    assert len(doc["records"]) == finished == 2  # it really was cut short: 6 cells were selected
    assert all(r["status"] == "PASS" for r in doc["records"])
    assert doc["run"]["complete"] is False and doc["run"].get("interrupted") is True
    assert page.is_file() and "fake_tiny_1" in page.read_text()


CASES_THAT_CANNOT_EXIST = '''
from cases.api import NO_KERAS, Case, CaseNotApplicable


def _missing():
    raise CaseNotApplicable("Keras 0.1 has no keras.layers.Imaginary")


def _broken():
    raise ValueError("a bug of the case")


def _old_keras(exc):
    # as cases.layers.not_applicable: a value this Keras refuses only when the layer runs
    return "Keras 0.1 takes no interpolation='area'" if "Invalid value" in str(exc) else None


def _refused_when_run():
    raise ValueError("Invalid value for argument `interpolation`")


def _classifier_fails(exc):
    raise RuntimeError("a bug of the classifier")


CASES = [Case("na_missing_class", "fake", _missing, keras=NO_KERAS),
         Case("na_broken_builder", "fake", _broken, keras=NO_KERAS),
         Case("na_refused_value", "fake", _refused_when_run, keras=NO_KERAS, not_applicable=_old_keras),
         Case("na_other_error", "fake", _broken, keras=NO_KERAS, not_applicable=_old_keras),
         Case("na_faulty_classifier", "fake", _broken, keras=NO_KERAS, not_applicable=_classifier_fails)]
'''


def test_a_case_that_cannot_exist_on_the_stack_is_not_applicable_and_a_broken_one_case_error(tmp_path):
    module = tmp_path / "cases_that_cannot_exist.py"
    module.write_text(CASES_THAT_CANNOT_EXIST)
    proc, doc = helpers.run_matrix(tmp_path / "reports", "--cases-module", str(module), "--converters-module",
                                   str(FAKE_CONVERTERS), "--converters", "fake-ok", "--causes", "none",
                                   "--opsets", "13", "-k", "na_", timeout=120)
    assert doc is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    got = {r["case"]: r for r in doc["records"]}
    assert got["na_missing_class"]["status"] == "NOT_APPLICABLE", got["na_missing_class"]["reason"]
    assert got["na_missing_class"]["reason"] == "Keras 0.1 has no keras.layers.Imaginary"
    assert got["na_broken_builder"]["status"] == "CASE_ERROR" and "a bug of the case" in got["na_broken_builder"]["reason"]
    # a case's own classifier of build failures: the refused value is NOT_APPLICABLE, anything else (or a
    # classifier that fails itself) stays the case's error
    assert got["na_refused_value"]["status"] == "NOT_APPLICABLE"
    assert got["na_refused_value"]["reason"] == "Keras 0.1 takes no interpolation='area'"
    for name in ("na_other_error", "na_faulty_classifier"):
        assert got[name]["status"] == "CASE_ERROR" and "a bug of the case" in got[name]["reason"], name
