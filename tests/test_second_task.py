"""A failing cell's second task (first divergent layer, second opinion, repro) never costs the cell its
record, and the second opinion says which side of a MISMATCH the reference evaluator takes.

TF-free first: the three-way classification on synthetic arrays, the second opinion on tiny ONNX
models, and real ``pytest conformance/`` runs over the fake cases with faults planted at each step of
the second task (tests/fakes/second_task.py).  Then two runs with TensorFlow: the NaN user case
(examples/nan_cases.py) and the masked LSTM, whose MISMATCH the reference evaluator cannot judge.
"""
from __future__ import annotations

import json
import math
import os
import time
import types

import numpy as np
import pytest

from cases.api import NO_KERAS, Case, Tolerance
from conformance.checks import second_opinion as so
from conformance.checks.divergence import summary as divergence_summary
from conformance.checks.repro import repro_mode
from conformance.statuses import Status
from tests import helpers

FAKES = helpers.ROOT / "tests" / "fakes"
FAKE_ARGS = ("--cases-module", str(FAKES / "cases.py"), "--converters-module", str(FAKES / "converters.py"),
             "--converters-module", str(FAKES / "second_task.py"), "--converters", "fake-ok,fake-off",
             "--opsets", "13", "--causes", "none")
TOL = Tolerance(rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the classification, synthetic arrays

@pytest.mark.parametrize("ort_shift, ref_shift, verdict", [
    (0.5, 0.0, so.RUNTIME),        # the reference sides with Keras: onnxruntime's kernels are suspect
    (0.5, 0.5, so.GRAPH),          # the reference sides with onnxruntime: the converted graph is suspect
    (0.5, 0.25, so.INCONCLUSIVE),  # neither
    (0.0, 0.0, so.INCONCLUSIVE),   # both (a MISMATCH just over tolerance can look like this)
])
def test_three_way_classification(ort_shift, ref_shift, verdict):
    keras = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    out = so.classify(["y"], [keras], [keras + ort_shift], [keras + ref_shift], [TOL])
    assert out["verdict"] == verdict and out["ok"] is True
    assert out["max_abs_ref_vs_keras"] == pytest.approx(ref_shift, abs=1e-6)
    assert out["max_abs_ref_vs_ort"] == pytest.approx(abs(ort_shift - ref_shift), abs=1e-6)
    assert "\n" not in out["detail"] and out["outputs"][0]["output"] == "y"


def test_classification_of_nan_and_shapes():
    keras = np.zeros((2, 3), np.float32)
    nan = np.full((2, 3), np.nan, np.float32)
    out = so.classify(["y"], [keras], [nan], [nan], [TOL])          # NaN where Keras has 0, in both runtimes
    assert out["verdict"] == so.GRAPH and math.isinf(out["max_abs_ref_vs_keras"]) and out["max_abs_ref_vs_ort"] == 0
    out = so.classify(["y"], [keras], [keras + 1], [keras[0]], [TOL])  # the reference's output has another shape
    assert out["verdict"] == so.INCONCLUSIVE and "shape (3,) for y, expected (2, 3)" in out["detail"]
    assert so.classify(["y"], [keras], [keras], [], [TOL])["verdict"] == so.INCONCLUSIVE


def test_summary_lines_survive_non_finite_numbers():
    # the measured bug: a record's statistics travel as JSON, where inf and NaN are strings
    div = {"ok": True, "layer": "where_log", "class": "Lambda", "position": 2, "layers": 2, "method": "onnx-outputs",
           "previous": "dense", "comparison": {"mismatched": 9, "total": 18, "rtol": 1e-4, "atol": 1e-5, "max_abs": "inf"}}
    assert divergence_summary(div).endswith("9/18 elements outside rtol=0.0001, atol=1e-05, max abs err inf; "
                                            "dense before it matches")
    div["comparison"]["max_abs"] = "nan"
    assert "max abs err nan" in divergence_summary(div)
    assert so.summary({"verdict": so.GRAPH, "detail": "d"}) == "second opinion: graph suspected (d)"
    assert so.summary({"ok": False, "reason": "r"}) == "second opinion: not run (r)"


def test_repro_modes():
    assert repro_mode(None) == ("auto", "") and repro_mode("auto") == ("auto", "")
    assert repro_mode("on")[0] == repro_mode("ALL")[0] == "on" and repro_mode("off")[0] == repro_mode("0")[0] == "off"
    mode, problem = repro_mode("sometimes")
    assert mode == "auto" and "CONFORMANCE_REPRO='sometimes'" in problem


# ---------------------------------------------------------------- the second opinion on tiny ONNX models

def _affine(offset: float, domain_op: str | None = None):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    inits = [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
             helper.make_tensor("off", TensorProto.FLOAT, [], [offset])]
    nodes = [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Add", ["x2", "off"], ["y"])]
    opsets = [helper.make_opsetid("", 13)]
    if domain_op:  # an onnxruntime contrib op the reference evaluator does not implement
        nodes = [helper.make_node(domain_op, ["x"], ["y"], domain="com.microsoft")]
        inits = []
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializer=inits), opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def _built():
    arrays = [np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)]
    batch = types.SimpleNamespace(size=3, arrays=arrays, refs=[arrays[0] * 2 + 1])
    return types.SimpleNamespace(inputs=[("x", (None, 3), "float32")], outputs=[("y", (3,), "float32")],
                                 batches=[batch])


CASE = Case("tiny", "fake", lambda: None, keras=NO_KERAS)
GOOD = ("tiny-fake-ok-opset13", _affine(1.0), ["y"])


def _opinion(model_bytes, **kw):
    kw.setdefault("passing", GOOD)
    return so.run(model_bytes=model_bytes, output_names=["y"], built=_built(), case=CASE, batch_index=0, threads=1, **kw)


def test_graph_suspected_and_the_reference_checked_on_the_passing_model():
    out = _opinion(_affine(1.5))
    assert out["verdict"] == so.GRAPH and out["ok"] is True
    assert out["max_abs_ref_vs_keras"] == pytest.approx(0.5) and out["max_abs_ref_vs_ort"] == 0
    check = out["reference_check"]
    assert check["ran"] and check["agrees"] and check["cell"] == "tiny-fake-ok-opset13"
    assert check["max_abs_ref_vs_keras"] == pytest.approx(0, abs=1e-6)
    assert out["detail"].endswith("it agrees with Keras on tiny-fake-ok-opset13")
    no_passing = _opinion(_affine(1.5), passing=None)
    assert no_passing["verdict"] == so.GRAPH and no_passing["reference_check"]["ran"] is False


def test_a_reference_that_is_wrong_where_onnxruntime_is_right_is_unreliable(monkeypatch):
    real = so.reference_outputs

    def wrong_on_the_good_model(proto, feeds, order):
        outs = real(proto, feeds, order)
        good = proto.graph.initializer[1].float_data[0] == 1.0   # the passing model (offset 1.0)
        return [o + 0.25 for o in outs] if good else outs

    monkeypatch.setattr(so, "reference_outputs", wrong_on_the_good_model)
    out = _opinion(_affine(1.5))
    assert out["verdict"] == so.UNRELIABLE and out["three_way"] == so.GRAPH
    assert out["reference_check"]["agrees"] is False and "tiny-fake-ok-opset13" in out["detail"]
    assert "max abs err 0.25" in out["detail"]


def test_reference_cannot_run_names_the_op():
    out = _opinion(_affine(0, domain_op="Gelu"), passing=None)
    assert out["verdict"] == so.CANNOT_RUN and out["ok"] is False
    assert "Gelu" in out["detail"] and "com.microsoft.Gelu" in out["ops"]


def test_bounded_by_nodes_and_by_a_deadline(monkeypatch):
    out = _opinion(_affine(1.5), max_nodes=1)
    assert out["verdict"] == so.NOT_RUN and "2 nodes" in out["reason"]
    monkeypatch.setattr(so, "reference_outputs", lambda *a: time.sleep(30))
    t0 = time.monotonic()
    out = _opinion(_affine(1.5), seconds=0.3)
    assert time.monotonic() - t0 < 5           # the alarm stopped the evaluator
    assert out["verdict"] == so.NOT_RUN and "within 0.3 s" in out["reason"]


# ---------------------------------------------------------------- faults planted in the second task (no TF)

#: case -> the step of its fake-off cell's second task that raises (fake_tiny: none, the control)
WORKER_FAULTS = {"fake_tiny_1": "find", "fake_tiny_2": "write", "fake_tiny_3": "opinion", "fake_tiny_4": "entry",
                 "fake_tiny_5": "exit"}


def _run(report_dir, faults: str, select: str):
    env = dict(os.environ, CONFORMANCE_TEST_FAULTS=faults)
    proc, doc = helpers.run_matrix(report_dir, *FAKE_ARGS, "-k", select, env=env, timeout=300)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, doc, {r["id"]: r for r in doc["records"]}


@pytest.fixture(scope="module")
def worker_faults(tmp_path_factory):
    faults = ",".join(f"{case}={fault}" for case, fault in WORKER_FAULTS.items())
    select = " or ".join(f"{c}-" for c in ["fake_tiny", *WORKER_FAULTS])
    return _run(tmp_path_factory.mktemp("worker-faults"), faults, select)


@pytest.fixture(scope="module")
def parent_faults(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("parent-faults"), "*=summary,*=opinion-summary", "fake_tiny-")


def _decided(rec):
    assert rec["status"] in {s.value for s in Status} and rec["outcome"] and rec["reason"], rec


def test_every_cell_is_decided_and_recorded_whatever_the_second_task_does(worker_faults):
    proc, doc, records = worker_faults
    assert doc["run"]["complete"] is True and len(records) == 2 * (1 + len(WORKER_FAULTS)), proc.stdout[-2000:]
    for case in ["fake_tiny", *WORKER_FAULTS]:
        ok, off = records[f"{case}-fake-ok-opset13"], records[f"{case}-fake-off-opset13"]
        _decided(ok)
        _decided(off)
        assert ok["status"] == "PASS" and "second_opinion" not in ok
        assert off["status"] == "MISMATCH" and off["stage"] == "compare"   # never re-decided
        assert off["reason"].startswith("outputs differ from Keras: batch 3: y: 9/9 elements outside")
        for key in ("divergence", "second_opinion", "repro"):
            assert off[key]["ok"] is False or key == "second_opinion", (case, key, off[key])
    assert "6 failed, 6 passed" in proc.stdout


def test_the_control_cell_gets_a_second_opinion_and_no_notes(worker_faults):
    _, _, records = worker_faults
    off = records["fake_tiny-fake-off-opset13"]
    assert "notes" not in off
    op = off["second_opinion"]
    assert op["ok"] and op["verdict"] == so.GRAPH and op["max_abs_ref_vs_keras"] == pytest.approx(0.5)
    assert op["reference_check"]["cell"] == "fake_tiny-fake-ok-opset13" and op["reference_check"]["agrees"] is True
    assert off["reason"].endswith("; second opinion: " + so.GRAPH + f" ({op['detail']})")
    assert "not computable: the model is not a Keras model" in off["divergence"]["reason"]
    assert off["repro"]["reason"].startswith("not written: the case is not a Keras model")


@pytest.mark.parametrize("case, part, words", [
    ("fake_tiny_1", "divergence", "the divergence search failed: PlantedFault"),
    ("fake_tiny_2", "repro", "not written: writing the repro failed: PlantedFault"),
    ("fake_tiny_3", "second_opinion", "the second opinion failed: PlantedFault"),
    ("fake_tiny_4", "repro", "not computed: suite error in the worker: PlantedFault"),
    ("fake_tiny_5", "second_opinion", "not computed: the conversion worker died"),
])
def test_a_failing_step_is_a_note_and_the_other_steps_still_run(worker_faults, case, part, words):
    _, _, records = worker_faults
    off = records[f"{case}-fake-off-opset13"]
    assert words in off[part]["reason"], off[part]
    assert len(off["notes"]) == 1 and ("PlantedFault" in off["notes"][0] or "died" in off["notes"][0]), off["notes"]
    if WORKER_FAULTS[case] in ("find", "write"):   # one step failed: the second opinion still came
        assert off["second_opinion"]["verdict"] == so.GRAPH
    if WORKER_FAULTS[case] == "opinion":
        assert off["second_opinion"]["verdict"] == so.NOT_RUN and "second opinion: not run" in off["reason"]


def test_a_summary_line_that_raises_is_a_note(parent_faults):
    _, doc, records = parent_faults
    off = records["fake_tiny-fake-off-opset13"]
    _decided(off)
    assert off["status"] == "MISMATCH" and records["fake_tiny-fake-ok-opset13"]["status"] == "PASS"
    assert off["divergence"] and off["second_opinion"]["verdict"] == so.GRAPH   # the results are kept
    assert "first divergent layer" not in off["reason"] and "second opinion" not in off["reason"]
    assert [n.split(":")[0] for n in off["notes"]] == ["the divergence line failed", "the second opinion line failed"]


def test_report_repro_reruns_one_cell(worker_faults, tmp_path):
    _, _, records = worker_faults
    results = tmp_path / "results.json"
    results.write_text(json.dumps(worker_faults[1]))
    # a fake case has no Keras model to save: the re-run says so, exit 1
    proc = helpers.run_module("conformance.report", "repro", "fake_tiny-fake-off-opset13", "--results", results,
                              timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "observed now: MISMATCH; recorded: MISMATCH" in proc.stdout and "not a Keras model" in proc.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".repro-")]   # the scratch run is gone
    proc = helpers.run_module("conformance.report", "repro", "no_such_cell-x-opset1", "--results", results)
    assert proc.returncode == 2 and proc.stderr.startswith("error: no cell 'no_such_cell-x-opset1'")


# ---------------------------------------------------------------- with TensorFlow

def test_nan_user_case_every_cell_decided_and_repro_on_demand(tmp_path):
    """where(x > 0, log(x), 0): log's NaN reaches the converted output; every cell is recorded."""
    env = dict(os.environ, CONFORMANCE_REPRO="off")
    proc, doc = helpers.run_matrix(tmp_path, "--cases-module", "examples/nan_cases.py", "-k", "nan_where_log-",
                                   "--converters", "tf2onnx-keras,keras-export", "--opsets", "13",
                                   "--causes", "none", env=env, timeout=600)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = {r["id"]: r for r in doc["records"]}
    assert set(records) == {"nan_where_log-tf2onnx-keras-opset13", "nan_where_log-keras-export-opset13"}
    for r in records.values():
        _decided(r)
        assert r["status"] == "MISMATCH" and "got nan" in r["reason"], r["reason"]
        assert r["divergence"]["ok"] and r["divergence"]["layer"] == "where_log"
        assert "max abs err inf" in r["reason"]                           # the line the NaN used to break
        assert r["second_opinion"]["verdict"] == so.GRAPH, r["second_opinion"]
        assert r["repro"] == {"ok": False, "reason": r["repro"]["reason"]} and "CONFORMANCE_REPRO=off" in r["repro"]["reason"]
    cell = "nan_where_log-tf2onnx-keras-opset13"
    proc = helpers.run_module("conformance.report", "repro", cell, "--results", tmp_path / "results.json", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = tmp_path / "repro" / cell
    assert {"repro.py", "model.keras", "inputs.npz"} <= {p.name for p in folder.iterdir()}
    rec = {r["id"]: r for r in json.loads((tmp_path / "results.json").read_text())["records"]}[cell]
    assert rec["repro"]["ok"] and rec["repro"]["on_demand"] and rec["repro"]["path"] == f"repro/{cell}/repro.py"


def test_masked_lstm_mismatch_gets_a_second_opinion(tmp_path):
    """The masked LSTM at opset 9 (MISMATCH) and 13 (PASS): the reference evaluator gives the LSTM's output
    the wrong shape at both, so on keras-export's opset-9 cell, run after tf2onnx-keras's passing opset-13
    cell in the same worker, its word is "reference unreliable"."""
    env = dict(os.environ, CONFORMANCE_REPRO="off", CONFORMANCE_DIVERGENCE="off")
    proc, doc = helpers.run_matrix(tmp_path, "--converters", "tf2onnx-keras,keras-export", "--opsets", "9,13",
                                   "-k", "masking_lstm-", "--causes", "none", env=env, timeout=600)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = {r["id"]: r for r in doc["records"]}
    assert {k: r["status"] for k, r in records.items()} == {
        "masking_lstm-tf2onnx-keras-opset9": "MISMATCH", "masking_lstm-tf2onnx-keras-opset13": "PASS",
        "masking_lstm-keras-export-opset9": "MISMATCH", "masking_lstm-keras-export-opset13": "PASS"}
    first, later = records["masking_lstm-tf2onnx-keras-opset9"], records["masking_lstm-keras-export-opset9"]
    for r in (first, later):
        assert r["second_opinion"]["verdict"] in so.VERDICTS and "; second opinion: " in r["reason"]
    assert first["second_opinion"]["reference_check"]["ran"] is False   # nothing passed before it
    assert later["second_opinion"]["verdict"] == so.UNRELIABLE, later["second_opinion"]
    assert later["second_opinion"]["reference_check"]["cell"] == "masking_lstm-tf2onnx-keras-opset13"
