"""Targets: what users do next with a converted model (conformance.targets), as a dimension of the matrix.

The pure parts (the yardsticks, the target stage table, inheritance, causes naming a target) are checked
here without running anything; a fake target module (tests/fakes/targets.py) joins a TF-free run the
way a user's would; one run converts two real models and runs the built-in targets on them.
"""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from conformance import causes as causes_mod
from conformance.checks import yardstick
from conformance.loader import builtin_targets
from conformance.run.options import OptionError, check_targets, parse_targets
from conformance.run.verdict import Decision, decide_target, decide_target_cell
from conformance.stages import TARGET_TABLE, TargetStage
from conformance.statuses import Status
from conformance.targets.base import YARDSTICKS, markdown
from tests import helpers

FAKES = ["--cases-module", "tests/fakes/cases.py", "--converters-module", "tests/fakes/converters.py",
         "--converters", "fake-ok", "--targets-module", "tests/fakes/targets.py", "--opsets", "13"]


# ------------------------------------------------------------------------------------ the table
def test_every_builtin_target_is_one_module_with_a_known_yardstick():
    names = [t.name for t in builtin_targets()]
    assert set(names) == {"ort-noopt", "ort-basic", "onnxsim", "openvino", "fp16", "int8-dynamic", "int8-static"}
    for t in builtin_targets():
        assert t.yardstick in YARDSTICKS and t.summary and t.blames, t.name
    table = markdown(builtin_targets())
    assert table.splitlines()[2].startswith("| `ort` |") and table.count("\n") == len(names) + 2


def test_the_docs_target_table_is_the_modules_table():
    text = (helpers.ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert markdown(builtin_targets()) in text, ("docs/deploy.md's table of targets differs from the modules; "
                                                 "paste `python -m conformance.targets` there")
    from conformance import stages

    assert stages.markdown(TARGET_TABLE) in text, ("docs/deploy.md's target stage table differs from the code's; paste "
                                                   "`python -m conformance.stages targets` there")


def test_target_options_are_checked():
    assert parse_targets(None) == ()
    assert parse_targets("ort") == ()     # ort is the cell itself: always run
    assert parse_targets(" ort, openvino ,fp16,openvino") == ("openvino", "fp16")
    with pytest.raises(OptionError, match="no target named"):
        parse_targets(" , ")
    with pytest.raises(OptionError, match=r"unknown target\(s\) tensorrt \(known: ort, openvino"):
        check_targets(("tensorrt",), ["openvino", "fp16"])


# ------------------------------------------------------------------------------------ yardsticks
def _judge(kind, got, ort_out=None, tags=(), tol=(1e-4, 1e-5)):
    ref = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    ort_out = ref if ort_out is None else ort_out
    return yardstick.stage(kind, [yardstick.judge(kind, ["y"], [ref], [ort_out], [got], [tol], tags, 3)]), ref


def test_fp32_yardstick_blames_the_target_only_where_it_differs_from_onnxruntime():
    ref = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    st, _ = _judge("fp32", ref + 1e-7)
    assert st["ok"] and st["matches_ort"] and "blame" not in st
    st, _ = _judge("fp32", ref + 0.5)
    assert not st["ok"] and st["blame"] == "target" and "max abs err 0.5" in st["failures"][0]
    st, _ = _judge("fp32", ref + 0.5, ort_out=ref + 0.5)     # the converted model already differs
    assert not st["ok"] and st["blame"] == "conversion"
    st, _ = _judge("fp32", ref, ort_out=ref + 0.5)           # matches Keras where onnxruntime's run did not
    assert st["ok"] and not st["matches_ort"] and st["ort_failures"]
    assert "where the cell's onnxruntime run did not" in decide_target(
        {"availability": {"ok": True}, "compare": st}).reason


def test_fp16_yardstick_is_the_half_tolerance_and_task_yardstick_the_answer():
    ref = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    assert _judge("fp16", ref + 5e-4)[0]["ok"] and not _judge("fp32", ref + 5e-4)[0]["ok"]
    assert not _judge("fp16", ref + 5e-2)[0]["ok"]
    # task: a scaled answer points the same way; a flipped sign does not
    assert _judge("task", ref * 1.5)[0]["ok"]
    st = _judge("task", -ref)[0]
    assert not st["ok"] and "cosine similarity -1" in st["failures"][0]
    # a classifier keeps its top-1 class per sample, however far the scores move
    moved = ref + np.array([3, 0, 0, 0], np.float32)
    st = _judge("task", moved, tags=("classifier",))[0]
    assert not st["ok"] and "top-1 class differs for 3 of 3 samples" in st["failures"][0]
    assert _judge("task", ref * 7, tags=("classifier",))[0]["ok"]


def test_fp16_atol_follows_the_output_magnitude_and_task_cosine_is_per_sample():
    # an output reaching 300: float16 computes it to about 0.25, so an element near zero may be 0.1 off
    ref = np.array([[300.0, 0.004, -200.0], [150.0, 1.0, 0.5]], np.float32)
    got = ref + np.array([[0.1, 0.1, -0.1], [0.0, 0.0, 0.0]], np.float32)
    j = yardstick.judge("fp16", ["y"], [ref], [ref], [got], [(1e-4, 1e-5)], (), 2)
    assert not j["failures"] and j["keras"][0]["atol"] == pytest.approx(4 * 300 / 1024)
    # ... but not 2 off, nor another shape
    assert yardstick.judge("fp16", ["y"], [ref], [ref], [ref + 2.0], [(1e-4, 1e-5)], (), 2)["failures"]
    assert "shape" in yardstick.judge("fp16", ["y"], [ref], [ref], [ref[:1]], [(1e-4, 1e-5)], (), 2)["failures"][0]
    # task: one near-zero pixel of a feature map does not decide; a whole sample turned around does
    fmap = np.abs(np.random.default_rng(0).standard_normal((2, 4, 4, 3))).astype(np.float32)
    noisy = fmap.copy()
    fmap[0, 0, 0] = [1e-3, 0, 0]
    noisy[0, 0, 0] = [0, 1e-3, 0]                       # that pixel's cosine is 0
    assert _judge_task(fmap, noisy)["ok"]
    flipped = noisy.copy()
    flipped[1] = -flipped[1]
    assert "over 2 samples" in _judge_task(fmap, flipped)["failures"][0]


def _judge_task(ref, got):
    return yardstick.stage("task", [yardstick.judge("task", ["y"], [ref], [ref], [got], [(1e-4, 1e-5)], (), 2)])


def test_a_target_giving_another_number_of_outputs_fails_its_comparison():
    ref = np.ones((2, 2), np.float32)
    j = yardstick.judge("fp32", ["a", "b"], [ref, ref], [ref, ref], [ref], [(1e-4, 1e-5)] * 2, (), 2)
    assert "the target gives 1 outputs, Keras 2" in j["failures"][0]


# ------------------------------------------------------------------------------------ deciding
def test_target_stage_table_decides_in_order():
    assert [s.value for s in TARGET_TABLE] == [s.value for s in TargetStage]
    assert decide_target({}).status == Status.UNAVAILABLE        # nothing said it could run
    d = decide_target({"applicable": {"ok": False, "reason": "not run: onnxruntime did not run it"}})
    assert d.status == Status.NOT_APPLICABLE and d.reason.startswith("not run")
    d = decide_target({"availability": {"ok": True}, "transform": {"ok": False, "error": "boom"}})
    assert (d.status, d.stage, d.reason) == (Status.CONVERT_ERROR, "transform", "the target's transform failed: boom")
    d = decide_target({"availability": {"ok": True}, "session": {"ok": False, "error": "Type Error"}})
    assert d.status == Status.RUNTIME_ERROR and d.stage == "session"
    d = decide_target({"isolation": {"ok": False, "status": "CRASH", "error": "worker died"}, "availability": {"ok": True}})
    assert d.status == Status.CRASH
    assert decide_target({"availability": {"ok": True}}).status == Status.CRASH   # no comparison came back
    assert decide_target({"availability": {"ok": True}, "compare": {"ok": True}}).status == Status.PASS


def test_a_failure_the_conversion_caused_is_inherited_not_matched():
    mism = Decision(Status.MISMATCH, "outputs differ from Keras: ...", "compare")
    called = []
    d = decide_target_cell(mism, "conversion", "XFAIL", "some-cause", lambda: called.append(1))
    assert (d.status, d.cause, d.observed) == (Status.XFAIL, "some-cause", Status.MISMATCH) and not called
    assert d.reason.startswith("as the cell's onnxruntime run (XFAIL [some-cause])")
    match = causes_mod.Match(None, (), "sig")
    d = decide_target_cell(mism, "target", "PASS", None, lambda: match)
    assert d.status == Status.MISMATCH and d.cause is None


CAUSE = '''
[[cause]]
id = "fake-off"
title = "the fake target adds one"
kind = "silent wrong answer"
signature = "outputs differ from Keras"
targets = ["fake-off-*"]
link = "https://github.com/onnx/onnx/issues/1"
reason = "the fake target adds one to every output; the suite's own test of causes that name a target"
'''


def test_a_cause_names_a_target_and_only_it():
    cause = causes_mod.parse(__import__("tomllib").loads(CAUSE))[0]
    cell = causes_mod.CellView("fake_tiny", "fake-ok", 13)
    assert not cause.covers(cell, {})                                   # the cell itself: not this cause's
    import dataclasses

    assert cause.covers(dataclasses.replace(cell, target="fake-off-by-one"), {})
    assert not cause.covers(dataclasses.replace(cell, target="fake-same"), {})
    rec = {"id": "c", "case": "fake_tiny", "converter": "fake-ok", "opset": 13, "status": "PASS",
           "targets": {"fake-off-by-one": {"status": "XFAIL", "cause": "fake-off"},
                       "fake-same": {"status": "MISMATCH", "blame": "conversion"}}}
    views = causes_mod.cells_of(rec)
    assert [v.get("target") for v in views] == [None, "fake-off-by-one"]      # an inherited one counts with the cell
    assert views[1]["id"] == "c@fake-off-by-one" and views[1]["cause"] == "fake-off"
    assert len(causes_mod.cells_of(rec, inherited=True)) == 3


# ------------------------------------------------------------------------------------ runs
def test_a_target_module_joins_the_run_and_each_target_gets_its_own_status(tmp_path):
    proc, doc = helpers.run_matrix(tmp_path / "r", *FAKES, "--causes", "none", "-k", "fake_tiny_1 or fake_builder",
                                   "--targets", "ort,fake-same,fake-off-by-one,fake-missing,fake-broken-transform")
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    by_id = {r["id"]: r for r in doc["records"]}
    cell = by_id["fake_tiny_1-fake-ok-opset13"]
    assert cell["status"] == "PASS"                              # a target never changes the cell's status
    t = cell["targets"]
    assert t["fake-same"]["status"] == "PASS"
    off = t["fake-off-by-one"]
    assert (off["status"], off["stage"], off["blame"]) == ("MISMATCH", "compare", "target")
    assert "outputs differ from Keras: batch" in off["reason"] and off["signature"].startswith("outputs differ")
    assert t["fake-missing"]["status"] == "UNAVAILABLE"
    assert "fancy-runtime-that-is-not-installed cannot be imported" in t["fake-missing"]["reason"]
    assert "[deploy]" in t["fake-missing"]["reason"]
    assert t["fake-broken-transform"]["status"] == "CONVERT_ERROR"
    assert "the fake transform gave up on <b>this</b> model" in t["fake-broken-transform"]["reason"]
    # the case that never built: every target is not applicable, with why
    broken = by_id["fake_builder_raises-fake-ok-opset13"]["targets"]
    assert {v["status"] for v in broken.values()} == {"NOT_APPLICABLE"}
    assert "onnxruntime did not run the converted model (the cell is CASE_ERROR" in broken["fake-same"]["reason"]
    assert proc.returncode == 1                                  # unexplained target failures fail the run
    assert "target fake-off-by-one: MISMATCH at compare" in proc.stdout
    assert "fake-off-by-one: 0/1 pass (0%); 1 failure(s) of its own" in proc.stdout
    # the page's Deploy view lists the failing row; report deploy and causes check read the same file
    html = (tmp_path / "r" / "matrix.html").read_text()
    assert 'id="deploy-table"' in html and 'data-target="fake-off-by-one" data-status="MISMATCH"' in html
    assert "<b>this</b>" not in html                             # escaped like every reason
    out = helpers.run_module("conformance.report", "deploy", str(tmp_path / "r" / "results.json"))
    assert out.returncode == 0 and "fake-off-by-one: 1 x MISMATCH UNEXPLAINED MISMATCH" in out.stdout
    check = helpers.run_module("conformance.report", "causes", "check", str(tmp_path / "r" / "results.json"),
                               "--causes", "none")
    assert check.returncode == 1 and "/ target fake-off-by-one: MISMATCH" in check.stdout


def test_a_cause_explains_a_target_failure_and_a_worker_that_dies_costs_only_the_targets(tmp_path):
    causes = tmp_path / "causes.toml"
    causes.write_text(CAUSE + CAUSE.replace('"fake-off"', '"fake-dies-crash"').replace(
        'kind = "silent wrong answer"', 'kind = "conversion error"\nstatus = "CRASH"').replace(
        '"outputs differ from Keras"', '"exit code|died|signal"').replace('"fake-off-*"', '"fake-dies"'))
    proc, doc = helpers.run_matrix(tmp_path / "r", *FAKES, "--causes", str(causes), "-k", "fake_tiny_2",
                                   "--targets", "fake-off-by-one,fake-dies")
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    [cell] = doc["records"]
    assert cell["status"] == "PASS"
    off, dies = cell["targets"]["fake-off-by-one"], cell["targets"]["fake-dies"]
    assert (off["status"], off["cause"]) == ("XFAIL", "fake-off"), off
    assert dies["observed_status"] == "CRASH" and dies["status"] == "XFAIL", dies
    assert proc.returncode == 0, proc.stdout[-3000:]
    check = helpers.run_module("conformance.report", "causes", "check", str(tmp_path / "r" / "results.json"),
                               "--causes", str(causes))
    assert check.returncode == 0, check.stdout + check.stderr


DEPLOY = all(importlib.util.find_spec(m) for m in ("openvino", "onnxsim", "onnxconverter_common"))


@pytest.mark.skipif(not DEPLOY, reason="the deploy extra is not installed (pip install -e '.[modern,deploy]')")
def test_builtin_targets_on_real_conversions(tmp_path):
    """Two real models through tf2onnx at opset 17 and every built-in target: the feed-forward one survives all,
    the GRU's float16 conversion cannot be loaded (cause fp16-cast-to-float, onnxconverter-common #320)."""
    proc, doc = helpers.run_matrix(tmp_path / "r", "-k", "mlp_softmax or (seed_gru and not seq16)",
                                   "--converters", "tf2onnx-keras", "--opsets", "17",
                                   "--targets", "ort,ort-noopt,ort-basic,onnxsim,openvino,fp16,int8-dynamic,int8-static",
                                   timeout=900)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    by_case = {r["case"]: r for r in doc["records"]}
    mlp = by_case["mlp_softmax"]["targets"]
    assert {n: t["status"] for n, t in mlp.items()} == dict.fromkeys(mlp, "PASS"), json.dumps(mlp)[:3000]
    assert doc["environment"]["packages"]["openvino"]       # the targets' packages are the run's environment
    assert "versions" not in mlp["openvino"] and "signature" not in mlp["openvino"]    # results.json keeps it small
    lstm = by_case["seed_gru"]["targets"]
    fp16 = lstm["fp16"]
    assert (fp16["status"], fp16["observed_status"], fp16["stage"], fp16["cause"]) == \
        ("XFAIL", "RUNTIME_ERROR", "session", "fp16-cast-to-float"), fp16
    assert fp16["facts"]["fallback"]["name"] == "fp16-keep-norms"     # the variant is recorded too
    for name in ("ort-noopt", "ort-basic", "onnxsim", "openvino"):
        assert lstm[name]["status"] == "PASS", (name, lstm[name]["reason"])
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_the_route_names_the_targets_it_survives_and_prefers_the_cell_that_survives_more():
    from conformance.report.route import route

    def cell(conv, err, targets):
        return {"case": "m", "converter": conv, "opset": 17, "status": "PASS", "observed_status": "PASS",
                "facts": {"max_abs_error": err}, "stages": {"convert": {"command": f"{conv}(model)"}},
                "targets": {n: {"status": s, **({"cause": c} if c else {})} for n, s, c in targets}}
    a = cell("tf2onnx-keras", 1e-7, [("openvino", "PASS", None), ("fp16", "XFAIL", "fp16-cast-to-float")])
    b = cell("keras-export", 1e-8, [("openvino", "MISMATCH", None), ("fp16", "XFAIL", "fp16-cast-to-float")])
    r = route("m", [a, b])
    assert r.converter == "tf2onnx-keras"      # survives one more target, though its error is larger
    assert str(r).endswith("; survives openvino; fails fp16 (XFAIL, cause fp16-cast-to-float)")
    assert r.to_json()["survives"] == ["openvino"] and r.to_json()["fails"] == [["fp16", "XFAIL", "fp16-cast-to-float"]]
    assert "survives" not in str(route("m", [dict(a, targets={})]))     # a run without targets says nothing


def test_except_leaves_a_case_out_for_every_target_of_the_part():
    import dataclasses

    cause = causes_mod.parse(__import__("tomllib").loads(CAUSE.replace(
        'targets = ["fake-off-*"]', 'targets = ["fake-off-*"]\nexcept = { cases = ["fake_tiny_3"] }')))[0]
    cell = causes_mod.CellView("fake_tiny_1", "fake-ok", 13, target="fake-off-by-one")
    assert cause.covers(cell, {})
    assert not cause.covers(dataclasses.replace(cell, case="fake_tiny_3"), {})
