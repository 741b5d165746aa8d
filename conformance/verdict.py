"""The fixed status vocabulary, and how a cell's checks decide one status.

``decide`` reads only the plain record the worker produced (its ``stages``);
``apply_expectation`` then turns a matching expected failure into XFAIL (or
XPASS).  Nothing here knows how a result is printed or rendered.
"""
from __future__ import annotations

import dataclasses
import enum


class Status(str, enum.Enum):
    PASS = "PASS"
    MISMATCH = "MISMATCH"                   # outputs differ from Keras beyond tolerance
    SIGNATURE = "SIGNATURE"                 # inputs/outputs differ: count, names, dtypes, fixed batch
    RUNTIME_ERROR = "RUNTIME_ERROR"         # onnxruntime refused to load or failed to run it
    INVALID = "INVALID"                     # onnx.checker / strict shape inference rejects it
    CONVERT_ERROR = "CONVERT_ERROR"         # the converter raised or failed
    UNSUPPORTED_OPSET = "UNSUPPORTED_OPSET" # the converter itself rejected the opset
    DEGENERATE = "DEGENERATE"               # Keras's reference proves nothing (constant, non-finite)
    CASE_ERROR = "CASE_ERROR"               # the case's builder or inputs raised
    CRASH = "CRASH"                         # the conversion worker died (segfault, abort, OOM)
    TIMEOUT = "TIMEOUT"                     # the cell overran its time limit
    UNAVAILABLE = "UNAVAILABLE"             # the converter cannot be imported here
    NOT_APPLICABLE = "NOT_APPLICABLE"       # the converter does not take this kind of model
    XFAIL = "XFAIL"                         # failed as an expectation entry says
    XPASS = "XPASS"                         # passed although an entry expects a failure

    def __str__(self) -> str:
        return self.value


#: what each status means for the pytest test of the cell
OUTCOME = {
    Status.PASS: "passed",
    Status.XFAIL: "xfailed",
    Status.NOT_APPLICABLE: "skipped",
    Status.UNSUPPORTED_OPSET: "skipped",
}
#: statuses an expectation entry may name
EXPECTABLE = frozenset(s for s in Status if s not in (Status.PASS, Status.XFAIL, Status.XPASS))


def outcome(status: Status | str) -> str:
    return OUTCOME.get(Status(status), "failed")


@dataclasses.dataclass(frozen=True)
class Decision:
    status: Status
    reason: str
    #: the status the checks gave before an expectation was applied
    observed: Status | None = None


def _err(stage: dict) -> str:
    return stage.get("error") or "; ".join(stage.get("problems", [])) or "no detail"


def decide(stages: dict) -> Decision:
    """One status from the stages of a cell, first failing stage first."""
    s = stages
    if "isolation" in s and not s["isolation"].get("ok", True):
        iso = s["isolation"]
        return Decision(Status(iso["status"]), iso["error"])
    if not s.get("availability", {}).get("ok", False):
        return Decision(Status.UNAVAILABLE, f"converter unavailable: {_err(s.get('availability', {}))}")
    if "case" in s and not s["case"]["ok"]:
        return Decision(Status.CASE_ERROR, f"case failed to load: {_err(s['case'])}")
    if "applicable" in s and not s["applicable"]["ok"]:
        return Decision(Status.NOT_APPLICABLE, s["applicable"]["reason"])
    if "build" in s and not s["build"]["ok"]:
        return Decision(Status.CASE_ERROR, f"case failed to build: {_err(s['build'])}")
    conv = s.get("convert", {})
    if not conv.get("ok", False):
        if conv.get("opset_rejected"):
            return Decision(Status.UNSUPPORTED_OPSET, f"converter rejected the opset: {_err(conv)}")
        return Decision(Status.CONVERT_ERROR, f"conversion failed: {_err(conv)}")
    after = _later_note(s)
    for key, label in (("checker", "onnx.checker (full_check)"), ("shape_inference", "strict shape inference")):
        if key in s and not s[key]["ok"]:
            return Decision(Status.INVALID, f"{label} rejects the model: {_err(s[key])}{after}")
    if "session" in s and not s["session"]["ok"]:
        return Decision(Status.RUNTIME_ERROR, f"onnxruntime cannot load the model: {_err(s['session'])}")
    if "run" in s and not s["run"]["ok"]:
        return Decision(Status.RUNTIME_ERROR, f"onnxruntime failed to run the model: {_err(s['run'])}")
    if "signature" in s and not s["signature"]["ok"]:
        return Decision(Status.SIGNATURE, f"I/O signature differs from Keras: {_err(s['signature'])}{after}")
    cmp_ = s.get("compare")
    if cmp_ is None:
        return Decision(Status.CRASH, "the worker returned no comparison")
    if not cmp_["ok"]:
        return Decision(Status.MISMATCH, "outputs differ from Keras: " + "; ".join(cmp_.get("failures", [])))
    ref = s.get("reference", {"ok": True})
    if not ref["ok"]:
        return Decision(Status.DEGENERATE, "Keras reference is degenerate, so agreement proves nothing: "
                        + "; ".join(ref["problems"]) + " (fix the case's inputs or initialisation)")
    return Decision(Status.PASS, "outputs match Keras at both batch sizes")


def _later_note(s: dict) -> str:
    """For a structurally failing model: did onnxruntime still run it and agree?"""
    if s.get("compare", {}).get("ok"):
        return " (onnxruntime still ran it and its outputs matched Keras)"
    if s.get("compare") is not None:
        return " (onnxruntime ran it but its outputs differ from Keras)"
    return ""


def apply_expectation(decision: Decision, expectation) -> Decision:
    """Fold a matching expectation entry (or None) into the decision."""
    if expectation is None:
        return decision
    expected = Status(expectation.status)
    where = f"expectations entry #{expectation.index} ({expectation.reason})"
    if decision.status == expected:
        return Decision(Status.XFAIL, f"expected {expected}: {expectation.reason}. Observed: {decision.reason}",
                        observed=decision.status)
    if decision.status == Status.PASS:
        return Decision(Status.XPASS, f"passed, but {where} expects {expected}; remove or narrow the entry",
                        observed=decision.status)
    return Decision(decision.status, f"{decision.reason} [note: {where} expects {expected}, not {decision.status}]",
                    observed=decision.status)
