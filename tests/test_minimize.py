"""The reducer: from a failing cell to the smallest Keras model that fails the same way.

TF-free: what "the same way" means (:func:`failure_key`) and the bisection.  Real: a two-block encoder
with exact GELU, saved outside the checkout, run as a user runs it, then reduced with
``python -m conformance.report minimize``; the smallest model's case module runs through the matrix.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.minimize.oracle import failure_key
from conformance.minimize.passes import _bisect
from tests import helpers

HERE = Path(__file__).resolve().parent
MAKE = HERE / "user_models" / "make.py"


def test_the_same_failure_is_the_same_status_stage_and_signature_without_names():
    a = ("onnx.checker (full_check) rejects the model: ValidationError: No Op registered for Erfc with domain_version "
         "of 17 ==> Context: Bad node spec for node. Name: functional_10_1/dense_12_1/Gelu/Erfc OpType: Erfc")
    b = a.replace("functional_10_1/dense_12_1", "functional_1/dense_3")
    assert failure_key("INVALID", "checker", a) == failure_key("INVALID", "checker", b)
    assert failure_key("INVALID", "checker", a) != failure_key("RUNTIME_ERROR", "run", a)
    assert failure_key("INVALID", "checker", a) != failure_key("INVALID", "checker", a.replace("Erfc", "Expm1"))
    # a numeric failure is outputs outside tolerance at the cut's own outputs, whatever the numbers and names
    assert failure_key("MISMATCH", "compare", "dense_3: 5/6 elements") == failure_key("MISMATCH", "compare", "lstm: 1/2")


@pytest.mark.parametrize("first_failing", [0, 3, 9])
def test_bisection_finds_the_earliest_and_the_latest_failing_point(first_failing):
    points = list(range(10))
    asked = []

    def fails(p):
        asked.append(p)
        return p >= first_failing

    assert _bisect(points, fails, earliest=True) == first_failing
    assert len(asked) <= 4
    assert _bisect(points, lambda p: p <= first_failing, earliest=False) == first_failing
    assert _bisect(points, lambda p: False, earliest=True) is None


def test_a_two_block_encoder_with_exact_gelu_reduces_to_the_gelu_dense(tmp_path):
    work = tmp_path / "user"
    work.mkdir()
    made = subprocess.run([sys.executable, str(MAKE), str(work), "encoder_two_blocks"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert made.returncode == 0, made.stderr[-2000:]
    proc = helpers.run_pytest("--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--report-dir",
                              str(work / "reports"), "--model", "encoder_two_blocks.keras", "--inputs",
                              "encoder_two_blocks.npz", "--converters", "tf2onnx-keras", "--opsets", "17",
                              cwd=work, timeout=600)
    results = work / "reports" / "results.json"
    assert results.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    cell = "encoder_two_blocks-tf2onnx-keras-opset17"
    out = tmp_path / "min"
    red = helpers.run_module("conformance.report", "minimize", cell, str(results), "--out", str(out), "--budget", "300",
                             cwd=work, timeout=600)
    assert red.returncode == 0, red.stdout[-3000:] + red.stderr[-3000:]
    assert "layers -> 1 layer(s) (Dense(" in red.stdout or "layers -> 2 layer(s)" in red.stdout, red.stdout[-2000:]
    for name in ("model.keras", "inputs.npz", "case.py", "report.md", "repro/repro.py"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "No Op registered for Erfc" in report and "NOT the same failure" not in report
    # the smallest model's case module runs through the matrix, and the registry names its failure
    proc = helpers.run_matrix(tmp_path / "again", "--cases-module", str(out / "case.py"), "--converters",
                              "tf2onnx-keras", "--opsets", "17", "-k", "min_encoder_two_blocks", timeout=600)[0]
    doc = json.loads((tmp_path / "again" / "results.json").read_text())
    (rec,) = doc["records"]
    assert (rec["case"], rec["observed_status"], rec["cause"]) == ("min_encoder_two_blocks", "INVALID", "erfc"), rec["reason"]
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.deep
def test_a_converter_that_crashes_on_one_layer_is_reduced_to_that_layer_by_the_run_itself(tmp_path):
    """``--minimize``: after the run, the unexplained CRASH cell is reduced (the oracle runs candidates in the worker
    pool: each crash costs a worker, never the reducer); the record and the page say where the smallest model is."""
    made = subprocess.run([sys.executable, str(MAKE), str(tmp_path), "softsign_stack"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert made.returncode == 0, made.stderr[-2000:]
    crashing = HERE / "fakes" / "crashing_converter.py"
    proc = helpers.run_pytest("--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--report-dir",
                              str(tmp_path / "reports"), "--model", "softsign_stack.keras", "--inputs", "softsign_stack.npz",
                              "--converters-module", str(crashing), "--converters", "crash-on-softsign", "--opsets", "17",
                              "--minimize", "300", cwd=tmp_path, timeout=900)
    doc = json.loads((tmp_path / "reports" / "results.json").read_text())
    (rec,) = doc["records"]
    assert rec["observed_status"] == "CRASH", proc.stdout[-2000:]
    assert rec["minimized"]["path"] == "minimized/softsign_stack-crash-on-softsign-opset17", rec.get("minimized")
    assert "5 layers -> 1 layer(s) (Activation(" in rec["minimized"]["line"]
    out = tmp_path / "reports" / rec["minimized"]["path"]
    assert "CRASH at isolation" in (out / "report.md").read_text() and (out / "case.py").is_file()
    assert not (out / ".work").exists()
    assert "minimized 1 of 1 unexplained failing cell(s)" in proc.stdout
    assert proc.returncode == 1   # the CRASH itself stays an unexplained failure
