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
