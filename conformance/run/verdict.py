"""How a cell's checks decide one status (the vocabulary is :mod:`conformance.statuses`).

``decide`` reads only the plain record the worker produced (its ``stages``);
``apply_causes`` then folds in what the registry of causes (:mod:`conformance.causes`) says of the
cell: a failure a cause explains is XFAIL, a pass inside a strict cause's scope XPASS.  Nothing
here knows how a result is printed or rendered.
"""
from __future__ import annotations

import dataclasses

from conformance.statuses import Status


@dataclasses.dataclass(frozen=True)
class Decision:
    status: Status
    reason: str
    #: the stage whose result decided the status (None for PASS)
    stage: str | None = None
    #: the status the checks gave before the causes were applied
    observed: Status | None = None
    #: the id of the cause that explains the failure (XFAIL) or expected one (XPASS, non-strict PASS)
    cause: str | None = None


def _err(stage: dict) -> str:
    return stage.get("error") or "; ".join(stage.get("problems", [])) or "no detail"


def decide(stages: dict) -> Decision:
    """One status from the stages of a cell, first failing stage first; the Decision names that stage."""
    s = stages
    if "isolation" in s and not s["isolation"].get("ok", True):
        iso = s["isolation"]
        return Decision(Status(iso["status"]), iso["error"], "isolation")
    if not s.get("availability", {}).get("ok", False):
        return Decision(Status.UNAVAILABLE, f"converter unavailable: {_err(s.get('availability', {}))}", "availability")
    if "case" in s and not s["case"]["ok"]:
        return Decision(Status.CASE_ERROR, f"case failed to load: {_err(s['case'])}", "case")
    if "applicable" in s and not s["applicable"]["ok"]:
        return Decision(Status.NOT_APPLICABLE, s["applicable"]["reason"], "applicable")
    if "build" in s and not s["build"]["ok"]:
        return Decision(Status.CASE_ERROR, f"case failed to build: {_err(s['build'])}", "build")
    conv = s.get("convert", {})
    if not conv.get("ok", False):
        if conv.get("opset_rejected"):
            return Decision(Status.UNSUPPORTED_OPSET, f"converter rejected the opset: {_err(conv)}", "convert")
        return Decision(Status.CONVERT_ERROR, f"conversion failed: {_err(conv)}", "convert")
    after = _later_note(s)
    for key, label in (("checker", "onnx.checker (full_check)"), ("shape_inference", "strict shape inference")):
        if key in s and not s[key]["ok"]:
            return Decision(Status.INVALID, f"{label} rejects the model: {_err(s[key])}{after}", key)
    if "session" in s and not s["session"]["ok"]:
        return Decision(Status.RUNTIME_ERROR, f"onnxruntime cannot load the model: {_err(s['session'])}", "session")
    if "run" in s and not s["run"]["ok"]:
        return Decision(Status.RUNTIME_ERROR, f"onnxruntime failed to run the model: {_err(s['run'])}", "run")
    if "signature" in s and not s["signature"]["ok"]:
        return Decision(Status.SIGNATURE, f"I/O signature differs from Keras: {_err(s['signature'])}{after}",
                        "signature")
    cmp_ = s.get("compare")
    if cmp_ is None:
        return Decision(Status.CRASH, "the worker returned no comparison", "compare")
    if not cmp_["ok"]:
        return Decision(Status.MISMATCH, "outputs differ from Keras: " + "; ".join(cmp_.get("failures", [])),
                        "compare")
    ref = s.get("reference", {"ok": True})
    if not ref["ok"]:
        return Decision(Status.DEGENERATE, "Keras reference is degenerate, so agreement proves nothing: "
                        + "; ".join(ref["problems"]) + " (fix the case's inputs or initialisation)", "reference")
    return Decision(Status.PASS, "outputs match Keras at both batch sizes")


def _later_note(s: dict) -> str:
    """For a structurally failing model: did onnxruntime still run it and agree?"""
    if s.get("compare", {}).get("ok"):
        return " (onnxruntime still ran it and its outputs matched Keras)"
    if s.get("compare") is not None:
        return " (onnxruntime ran it but its outputs differ from Keras)"
    return ""


def apply_causes(decision: Decision, match) -> Decision:
    """Fold what the registry says of the cell (a :class:`conformance.causes.Match`, or None) into the decision."""
    if match is None:
        return decision
    observed = decision.status
    if match.cause is not None:
        c = match.cause
        return Decision(Status.XFAIL, f"expected {observed} [{c.id}]: {c.title}. Observed: {decision.reason}",
                        decision.stage, observed=observed, cause=c.id)
    if not match.covering:
        return decision
    first = match.covering[0]
    if observed == Status.PASS:
        strict = [c for c in match.covering if c.strict]
        if strict:
            c = strict[0]
            return Decision(Status.XPASS, f"passed, but cause {c.id} ({c.title}) expects {'|'.join(c.statuses)} "
                            "here; narrow its scope or remove it", decision.stage, observed=observed, cause=c.id)
        return Decision(Status.PASS, f"{decision.reason} [note: cause {first.id} expects {'|'.join(first.statuses)} "
                        "some of the time (strict = false: seen to come and go between runs)]", decision.stage,
                        observed=observed, cause=first.id)
    expects = "; ".join(f"{c.id} expects {'|'.join(c.statuses)} matching /{c.signature}/" for c in match.covering[:3])
    return Decision(observed, f"{decision.reason} [note: not the known cause of this cell: {expects}]",
                    decision.stage, observed=observed)
