"""Deciding a cell's status from its stages, and folding in the registry of causes."""
import pytest

from conformance.causes import CellView, Registry, parse
from conformance.statuses import Status, outcome
from conformance.run.verdict import apply_causes, decide

OK = {"ok": True}


def passing_stages(**override):
    stages = {
        "availability": {"ok": True, "version": "1.0"}, "case": OK, "applicable": {"ok": True, "reason": None},
        "build": OK, "reference": {"ok": True, "problems": []}, "convert": OK, "checker": OK,
        "shape_inference": OK, "session": OK, "signature": {"ok": True, "problems": []}, "run": OK,
        "compare": {"ok": True, "failures": []},
    }
    stages.update(override)
    return stages


def test_all_checks_passing_is_pass():
    assert decide(passing_stages()).status is Status.PASS


@pytest.mark.parametrize("override,status", [
    ({"isolation": {"ok": False, "status": "TIMEOUT", "error": "slow"}}, Status.TIMEOUT),
    ({"isolation": {"ok": False, "status": "CRASH", "error": "SIGSEGV"}}, Status.CRASH),
    ({"availability": {"ok": False, "error": "ModuleNotFoundError: x"}}, Status.UNAVAILABLE),
    ({"applicable": {"ok": False, "reason": "Keras 3 only"}}, Status.NOT_APPLICABLE),
    ({"build": {"ok": False, "error": "boom"}}, Status.CASE_ERROR),
    ({"convert": {"ok": False, "opset_rejected": True, "error": "Opset 19 is not supported"}}, Status.UNSUPPORTED_OPSET),
    ({"convert": {"ok": False, "error": "ValueError: nope"}}, Status.CONVERT_ERROR),
    ({"checker": {"ok": False, "error": "bad"}}, Status.INVALID),
    ({"shape_inference": {"ok": False, "error": "bad"}}, Status.INVALID),
    ({"session": {"ok": False, "error": "Invalid tensor data type 0"}}, Status.RUNTIME_ERROR),
    ({"run": {"ok": False, "error": "bad feed"}}, Status.RUNTIME_ERROR),
    ({"signature": {"ok": False, "problems": ["fixed batch"]}}, Status.SIGNATURE),
    ({"compare": {"ok": False, "failures": ["batch 3: y: 2/6 elements"]}}, Status.MISMATCH),
    ({"reference": {"ok": False, "problems": ["y is constant"]}}, Status.DEGENERATE),
])
def test_first_failing_stage_decides(override, status):
    d = decide(passing_stages(**override))
    assert d.status is status
    assert d.reason


def test_mismatch_outranks_degenerate_reference():
    d = decide(passing_stages(compare={"ok": False, "failures": ["x"]}, reference={"ok": False, "problems": ["c"]}))
    assert d.status is Status.MISMATCH


def test_invalid_model_that_still_matches_says_so():
    d = decide(passing_stages(checker={"ok": False, "error": "No Op registered for TensorListReserve"}))
    assert d.status is Status.INVALID and "still ran it" in d.reason


def entry(status="CONVERT_ERROR", strict=True):
    kind = "silent wrong answer" if status == "MISMATCH" else "conversion error"
    return {"id": "known", "title": "known bug", "kind": kind, "status": status, "signature": ".*",
            "converters": "c", "link": "https://example.org/1", "reason": "known bug", "strict": strict}


def apply_expectation(decision, raw):
    """The decision folded with a registry holding the one cause ``raw`` (covering the cell c / x / 13)."""
    match = Registry(parse({"cause": [raw]}), {}).match(CellView("x", "c", 13), decision.status.value, decision.reason)
    return apply_causes(decision, match)


def test_expected_failure_becomes_xfail():
    d = apply_expectation(decide(passing_stages(convert={"ok": False, "error": "E"})), entry())
    assert d.status is Status.XFAIL and d.observed is Status.CONVERT_ERROR
    assert outcome(d.status) == "xfailed"


def test_unexpected_pass_is_xpass_and_fails():
    d = apply_expectation(decide(passing_stages()), entry())
    assert d.status is Status.XPASS and outcome(d.status) == "failed"


def test_a_pass_against_a_non_strict_entry_is_pass_with_a_note():
    """strict = false (a failure seen to come and go): a pass is PASS, the failure still XFAIL."""
    loose = entry(strict=False)
    d = apply_expectation(decide(passing_stages()), loose)
    assert d.status is Status.PASS and outcome(d.status) == "passed" and "strict = false" in d.reason
    failed = apply_expectation(decide(passing_stages(convert={"ok": False, "error": "E"})), loose)
    assert failed.status is Status.XFAIL
    other = apply_expectation(decide(passing_stages(checker={"ok": False, "error": "x"})), loose)
    assert other.status is Status.INVALID                      # another failure is still a failure


def test_different_failure_than_expected_keeps_the_real_status():
    d = apply_expectation(decide(passing_stages(checker={"ok": False, "error": "x"})), entry())
    assert d.status is Status.INVALID and "known expects CONVERT_ERROR" in d.reason
    assert outcome(d.status) == "failed"


@pytest.mark.parametrize("status,result", [
    (Status.PASS, "passed"), (Status.NOT_APPLICABLE, "skipped"), (Status.UNSUPPORTED_OPSET, "skipped"),
    (Status.MISMATCH, "failed"), (Status.UNAVAILABLE, "failed"), (Status.DEGENERATE, "failed"),
])
def test_outcomes(status, result):
    assert outcome(status) == result


def test_deciding_stage_is_the_first_failing_one_in_decide_order():
    """A cell that fails at `run` and also has signature problems is RUNTIME_ERROR decided at `run`,
    although `signature` comes first in the stages dict."""
    stages = passing_stages(signature={"ok": False, "problems": ["input x has a fixed batch dimension 3"]},
                            run={"ok": False, "error": "Got invalid dimensions for input: x"})
    stages.pop("compare")
    assert list(stages).index("signature") < list(stages).index("run")
    d = decide(stages)
    assert (d.status, d.stage) == (Status.RUNTIME_ERROR, "run")
    assert decide(passing_stages()).stage is None


def test_expectation_keeps_the_deciding_stage():
    d = decide(passing_stages(compare={"ok": False, "failures": ["y differs"]}))
    assert apply_expectation(d, entry("MISMATCH")).stage == "compare"


# ------------------------------------------------------------------ the stage table drives decide
# (the table-driven decide was checked equal to the if-chain it replaced on all 3^13 combinations of
# absent / passed / failed stages, with random details, wherever the if-chain returned a decision)

from conformance.stages import ORDER, PASS_REASON, TABLE as STAGES, Stage  # noqa: E402


def failing(name: str) -> dict:
    return {"ok": False, "error": f"{name} broke", "problems": [f"{name} problem"], "failures": [f"{name} failure"],
            "reason": f"{name} reason", "status": "TIMEOUT"}


@pytest.mark.parametrize("name", ORDER)
def test_each_stage_alone_decides_with_its_rows_status_and_words(name):
    row = STAGES[Stage(name)]
    d = decide(passing_stages(**{name: failing(name)}))
    failure = row.failures[-1]
    assert d.stage == name and d.status in row.gives
    assert d.status == (failure.status or Status.TIMEOUT)
    prefix = failure.reason.split("{")[0].replace("{label}", row.label)
    assert d.reason.startswith(prefix) and d.reason != PASS_REASON


def test_a_flag_of_the_stage_picks_its_failure():
    d = decide(passing_stages(convert={"ok": False, "opset_rejected": True, "error": "no opset 21"}))
    assert (d.status, d.stage, d.reason) == (Status.UNSUPPORTED_OPSET, "convert",
                                             "converter rejected the opset: no opset 21")


def test_a_model_that_declares_another_opset_than_asked_is_unsupported_opset():
    """A converter that ignores the requested opset (Keras 3.8's model.export writes tf2onnx's default 15):
    the cell at opset 9 is no claim about opset 9.  The repro scripts run the same check."""
    from onnx import TensorProto, helper

    from conformance.checks.standalone import opset_check

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)])
    assert opset_check(model, 15) == {"ok": True, "written": 15}
    stage = opset_check(model, 9)
    assert stage["ok"] is False and (stage["asked"], stage["written"]) == (9, 15)
    d = decide(passing_stages(opset=stage))
    assert (d.status, d.stage) == (Status.UNSUPPORTED_OPSET, "opset")
    assert d.reason.startswith("converter ignored the opset: asked for opset 9, the converter wrote opset 15")


def test_strict_shape_inference_runs_only_on_a_model_the_checker_accepts():
    """onnx 1.14.0's strict shape inference crashed the worker (SIGSEGV) on graphs with raw TensorFlow ops at
    opset 15+ (tf212): after the checker's rejection, which decides the cell anyway, it is not run."""
    from onnx import TensorProto, helper

    from conformance.checks.standalone import model_checks

    def model(op):
        graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    rejected = model_checks(model("TensorListReserve"))
    assert [stage for stage, _ in rejected] == ["checker"] and "TensorListReserve" in str(rejected[0][1])
    assert model_checks(model("Relu")) == [("checker", None), ("shape_inference", None)]


@pytest.mark.parametrize("first,later", [(a, b) for i, a in enumerate(ORDER) for b in ORDER[i + 1:]])
def test_the_earlier_stage_of_the_table_wins(first, later):
    assert decide(passing_stages(**{first: failing(first), later: failing(later)})).stage == first


@pytest.mark.parametrize("name", ORDER)
def test_a_missing_stage_gives_what_its_row_says(name):
    stages = passing_stages()
    stages.pop(name, None)
    d = decide(stages)
    absent = STAGES[Stage(name)].absent
    if absent is None:
        assert d.status is Status.PASS and d.stage is None
    else:
        assert (d.status, d.stage, d.reason) == (absent.status, name, absent.reason)


def test_the_table_covers_every_failing_status_and_names_only_known_fields():
    from conformance.run.verdict import FIELDS
    import string

    given = set()
    for row in STAGES.values():
        fixed = {f.status for f in row.failures + ((row.absent,) if row.absent else ()) if f.status}
        assert fixed <= set(row.gives), row.stage
        given |= set(row.gives)
        for f in row.failures + ((row.absent,) if row.absent else ()):
            assert {n for _, n, _, _ in string.Formatter().parse(f.reason) if n} <= set(FIELDS), f.reason
        assert row.failures[-1].when is None, f"{row.stage}: the last failure is the default"
    # every status a cell's checks can end in comes from some stage (XFAIL/XPASS: from the causes)
    assert given == set(Status) - {Status.PASS, Status.XFAIL, Status.XPASS}


def test_the_worker_names_stages_only_through_the_table():
    """No stage name as a string literal where the worker writes stages (pipeline, pool, worker entry)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "conformance" / "worker"
    for name in ("pipeline.py", "pool.py", "__main__.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        # stages["build"] = ... and {"stages": {"isolation": ...}}
        subs = [n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript)
                and isinstance(n.value, ast.Name) and n.value.id == "stages" and isinstance(n.slice, ast.Constant)]
        keys = [key.value for n in ast.walk(tree) if isinstance(n, ast.Dict) for k, v in zip(n.keys, n.values)
                if isinstance(k, ast.Constant) and k.value == "stages" and isinstance(v, ast.Dict)
                for key in v.keys if isinstance(key, ast.Constant)]
        assert not (keys or subs), f"{name} names stages {keys + subs} by hand: use conformance.stages.Stage"


def test_validity_checks_write_stages_of_the_table():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from conformance.checks.validity import check_validity

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    assert set(check_validity(model)) <= set(ORDER) and onnx
