"""How a cell's checks decide one status (the vocabulary is :mod:`conformance.statuses`).

``decide`` reads only the plain record the worker produced (its ``stages``), walking the stage
table (:mod:`conformance.stages`: the order, and what each failed stage gives);
``apply_causes`` then folds in what the registry of causes (:mod:`conformance.causes`) says of the
cell: a failure a cause explains is XFAIL, a pass inside a strict cause's scope XPASS.  Nothing
here knows how a result is printed or rendered.
"""
from __future__ import annotations

import dataclasses
import string

from conformance.stages import PASS_REASON, TABLE as STAGES, TARGET_PASS_REASON, TARGET_TABLE, Failure, Row
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


def _later_note(s: dict) -> str:
    """For a structurally failing model: did onnxruntime still run it and agree?"""
    if s.get("compare", {}).get("ok"):
        return " (onnxruntime still ran it and its outputs matched Keras)"
    if s.get("compare") is not None:
        return " (onnxruntime ran it but its outputs differ from Keras)"
    return ""


#: the fields of a reason template (:mod:`conformance.stages`): (row, the stage's dict, all stages) -> value
FIELDS = {
    "err": lambda row, st, s: _err(st),
    "error": lambda row, st, s: st.get("error"),
    "reason": lambda row, st, s: st.get("reason"),
    "failures": lambda row, st, s: "; ".join(st.get("failures", [])),
    "problems": lambda row, st, s: "; ".join(st.get("problems", [])),
    "label": lambda row, st, s: row.label,
    "after": lambda row, st, s: _later_note(s),
}


def _reason(template: str, row: Row, st: dict, s: dict):
    names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    values = {f: FIELDS[f](row, st, s) for f in names}
    if len(names) == 1 and template == "{" + names[0] + "}":
        return values[names[0]]  # the stage's own text, as it is
    return template.format(**values)


def _failed(row: Row, failure: Failure, st: dict, s: dict) -> Decision:
    status = failure.status if failure.status is not None else Status(st["status"])
    return Decision(status, _reason(failure.reason, row, st, s), row.stage.value)


def _first_failed(stages: dict, table: dict) -> Decision | None:
    for row in table.values():
        st = stages.get(row.stage.value)
        if st is None:
            if row.absent is not None:
                return _failed(row, row.absent, {}, stages)
            continue
        if not st.get("ok", row.ok_default):
            return _failed(row, row.failure(st), st, stages)
    return None


def decide(stages: dict) -> Decision:
    """One status from the stages of a cell: the first failed stage of the stage table decides, and
    the Decision names it (:mod:`conformance.stages`); a cell whose stages all passed is PASS."""
    failed = _first_failed(stages, STAGES)
    if failed is not None:
        return failed
    note = (stages.get("compare") or {}).get("note")
    return Decision(Status.PASS, f"outputs match Keras {note}" if note else PASS_REASON)


def decide_target(stages: dict) -> Decision:
    """One status from the stages of a target on a cell (:data:`conformance.stages.TARGET_TABLE`)."""
    failed = _first_failed(stages, TARGET_TABLE)
    if failed is not None:
        return failed
    cmp = stages.get("compare") or {}
    if cmp.get("ort_failures"):
        return Decision(Status.PASS, f"{TARGET_PASS_REASON}, where the cell's onnxruntime run did not: "
                                     f"{cmp['ort_failures'][0]}")
    return Decision(Status.PASS, TARGET_PASS_REASON)


def inherits(decision: Decision, blame: str | None) -> bool:
    """A target that differs from Keras exactly as the cell's onnxruntime run did (``blame == "conversion"``): its
    failure is the conversion's, decided with the cell, not by a cause of its own."""
    return decision.status == Status.MISMATCH and blame == "conversion"


def decide_target_cell(decision: Decision, blame: str | None, cell_status: str, cell_cause: str | None,
                       match) -> Decision:
    """A target's final decision on a cell: the conversion's failure, inherited from the cell (:func:`inherits`),
    or the registry's ``match()`` (called only then) folded in as for a cell."""
    if inherits(decision, blame):
        cause = f" [{cell_cause}]" if cell_cause else ""
        return Decision(Status(cell_status), f"as the cell's onnxruntime run ({cell_status}{cause}): {decision.reason}",
                        decision.stage, observed=decision.status, cause=cell_cause)
    return apply_causes(decision, match())


def _workaround(cause) -> str:
    return f"; workaround: {cause.workaround}" if cause.workaround else ""


def apply_causes(decision: Decision, match) -> Decision:
    """Fold what the registry says of the cell (a :class:`conformance.causes.Match`, or None) into the decision."""
    if match is None:
        return decision
    observed = decision.status
    if match.cause is not None:
        c = match.cause
        if match.by == "needs":  # a user's model that holds what the cause needs
            link = c.link if c.link != "not reported" else f"not reported upstream, drafted in {c.report}"
            return Decision(Status.XFAIL, f"known {observed} [{c.id}]: {c.title} (in this model: "
                            f"{match.evidence or 'what it needs'}); {link}{_workaround(c)}. Observed: {decision.reason}",
                            decision.stage, observed=observed, cause=c.id)
        return Decision(Status.XFAIL, f"expected {observed} [{c.id}]: {c.title}. Observed: {decision.reason}",
                        decision.stage, observed=observed, cause=c.id)
    if not match.covering:
        return decision
    first = match.covering[0]
    if observed == Status.PASS:
        strict = [c for c in match.covering if c.strict] if match.strict else []
        if strict:
            c = strict[0]
            return Decision(Status.XPASS, f"passed, but cause {c.id} ({c.title}) expects {'|'.join(c.statuses)} "
                            "here; narrow its scope or remove it", decision.stage, observed=observed, cause=c.id)
        why = ("some of the time (strict = false: seen to come and go between runs)" if match.strict
               else "where its scope says; this model passed (a user's model is never XPASS)")
        return Decision(Status.PASS, f"{decision.reason} [note: cause {first.id} expects {'|'.join(first.statuses)} "
                        f"{why}]", decision.stage,
                        observed=observed, cause=first.id)
    expects = "; ".join(f"{c.id} expects {'|'.join(c.statuses)} matching /{c.signature}/" for c in match.covering[:3])
    return Decision(observed, f"{decision.reason} [note: not the known cause of this cell: {expects}]",
                    decision.stage, observed=observed)
