"""What a cell's record keeps in results.json: the heavy facts only where they help.

A default-tier run holds thousands of cells; most pass or fail exactly as a cause says, and for
those the per-output comparison statistics, the tracebacks and the per-tensor I/O listings say
nothing that the status, the deciding stage and the reason do not.  :func:`slim_record` keeps:

* every stage's ``ok`` and every text ``verdict.decide`` reads (``error``, ``problems``,
  ``failures``, ``reason``, ``status``, ``opset_rejected``...), so the decided status, deciding stage
  and reason come out the same from a slimmed record; the error of a stage that failed after the
  deciding one (``record["stage"]``) is cut to ``OTHER_ERROR_LIMIT`` characters;
* the stages' tracebacks only on unexpected failures (a status the run did not accept), their
  last ``TRACE_LIMIT`` characters (what the page shows); the traceback of the failing cell's
  second task itself (divergence search, repro, second opinion: a bug of the suite) cut the same way;
* per-output comparison statistics (``stages.compare.batches``) only where the comparison failed,
  the ONNX I/O listings only where the I/O signature check failed (``stages.signature.inputs/outputs``)
  or the cell failed (``facts.onnx_inputs/onnx_outputs``): a check that passed says it in ``ok``, and
  ``facts.max_abs_error/max_rel_error`` keep the comparison's worst numbers;
* every timing the overhead report adds up, rounded to 0.1 ms; other floats to 7 significant
  digits (the comparisons are of float32 tensors); the deployability fact without its empty
  lists, its onnxruntime version (the environment names it) and, at the opsets it was not
  checked at, its constant note (``checked_at_opset`` says where it was);
* no stage that only says ``{"ok": true}`` where the record implies it (``case`` and
  ``applicable``; on a passing cell also ``reference``, ``checker``, ``shape_inference``):
  :func:`conformance.run.verdict.decide` reads a missing stage as passed;
* no empty values in stages and facts (``None``, ``[]``, ``{}``, ``""``: every reader defaults
  them), no Keras reference timings (``build.keras_seconds``; a reused, cached build's
  ``seconds`` are the first build's: only there), no listing of the repro folder (and
  its notes only on unexpected failures), no converter one-line summary (the run's ``converters``
  section holds it once);
* no ``repro`` of an expected failure that the policy did not write (``CONFORMANCE_REPRO=auto``:
  ``python -m conformance.report repro CELL_ID`` writes it on demand), and no ``signature`` of an
  explained failure (XFAIL with a cause: the normalized observed reason, which
  :func:`conformance.report.causes.signature_of` derives from the reason again);
* everything else as it is (unknown keys too: a newer worker's facts survive).

Pure: the record given is not changed.  Applied where a decided record enters the run's results
(after the failing cell's second task, which still needs the full stages).
"""
from __future__ import annotations

import math

from conformance.statuses import ACCEPTED
from conformance.run.verdict import decide

#: characters of a traceback kept (its tail: where it was raised); the page shows as much
TRACE_LIMIT = 4000
#: characters kept of the error of a stage that failed but did not decide the status (e.g. onnxruntime's
#: refusal of a model onnx.checker already rejected: the same missing op, with every node's inputs)
OTHER_ERROR_LIMIT = 300
#: keys whose floats are durations in seconds: rounded to 0.1 ms
_TIMING = {"seconds", "keras_seconds", "check_seconds", "explain_seconds", "targets_seconds"}
#: stage keys dropped when the stage passed (per-output details only help explain its failure)
_PASS_DROP = {"compare": ("batches",), "signature": ("inputs", "outputs")}
#: record keys dropped: the converter's one-line summary is the run's (results.json "converters")
_DROP = ("converter_summary",)
#: facts dropped when the cell's checks all passed
_PASS_DROP_FACTS = ("onnx_inputs", "onnx_outputs")
#: stages that say only ``{"ok": true}`` and are implied by the record (a later stage ran, or the cell
#: passed): dropped; ``verdict.decide`` reads a missing stage as passed (availability, convert and
#: compare, which it needs, are never dropped)
_IMPLIED = ("case", "applicable")
_IMPLIED_ON_PASS = ("case", "applicable", "reference", "checker", "shape_inference")
#: keys of a stage dropped on every cell: the Keras reference's own timings (no report reads them)
_STAGE_DROP = {"build": ("keras_seconds",)}
#: keys of the repro dropped on every cell (the folder's listing), and its notes unless the failure is unexpected
_REPRO_DROP = ("files",)


def _round(value, timing: bool = False):
    if isinstance(value, float) and math.isfinite(value):
        if timing:
            return round(value, 4)
        return float(f"{value:.7g}")
    if isinstance(value, dict):
        return {k: _round(v, timing or k in _TIMING) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, timing) for v in value]
    return value


def _tail(text: str) -> str:
    return text if len(text) <= TRACE_LIMIT else "...\n" + text[-TRACE_LIMIT:]


def _stage(name: str, st, *, keep_trace: bool, deciding: bool):
    if not isinstance(st, dict):
        return st
    out = {}
    for k, v in st.items():
        if k == "error" and not deciding and isinstance(v, str) and len(v) > OTHER_ERROR_LIMIT:
            v = v[:OTHER_ERROR_LIMIT - 1] + "\u2026"
        if k == "traceback":
            if keep_trace and v:
                out[k] = _tail(str(v))
            continue
        if st.get("ok") is True and k in _PASS_DROP.get(name, ()):
            continue
        if k in _STAGE_DROP.get(name, ()):
            continue
        if k != "ok" and _empty(v):  # every reader defaults these (.get(k) or .get(k, []))
            continue
        out[k] = v
    if name == "build" and out.get("cached"):  # the reused build's own time, repeated on every cell of the case
        out.pop("seconds", None)
    return out


def _empty(v) -> bool:
    return v is None or (isinstance(v, (list, dict, str)) and not v)


def _deployable(fact):
    if not isinstance(fact, dict):
        return fact
    drop = ("onnxruntime",) + (("note",) if fact.get("checked") is False else ())
    return {k: v for k, v in fact.items() if k not in drop and not _empty(v)}


#: how the failing cell's second task says that a repro was not written because of CONFORMANCE_REPRO=auto
POLICY_SKIP = "not written: an expected failure"


#: keys of a target's stage dropped when the target passed (its total time is ``facts.seconds``)
_TARGET_PASS_DROP = ("seconds",)


def _target(t):
    """A target's record on a cell: tracebacks only on an unexpected failure, the per-output comparisons only
    where its comparison failed, the per-stage timings only where it failed (``facts.seconds`` holds its time), no
    package versions (the run's environment lists them) and no signature where it is the normalized reason (a pass,
    a target not run, an explained failure: :func:`conformance.causes.signature_of` derives it).  Every stage
    stays: ``decide_target`` reads a missing availability or comparison as a failure."""
    if not isinstance(t, dict):
        return t
    status = str(t.get("status"))
    keep_trace = status not in ACCEPTED
    passed = str(t.get("observed_status") or status) == "PASS"
    out = dict(t)
    if status in ("PASS", "NOT_APPLICABLE") or (status == "XFAIL" and t.get("cause")):
        out.pop("signature", None)
    stages = {}
    for name, st in (t.get("stages") or {}).items():
        if isinstance(st, dict):
            st = {k: v for k, v in st.items() if (keep_trace or k != "traceback") and not _empty(v)
                  and not (st.get("ok") and k in ("keras", "ort")) and k != "versions"
                  and not (passed and k in _TARGET_PASS_DROP)}
            if st.get("traceback"):
                st["traceback"] = _tail(str(st["traceback"]))
        stages[name] = st
    out["stages"] = stages
    if not keep_trace and isinstance(t.get("facts"), dict) and isinstance(t["facts"].get("fallback"), dict):
        fb = t["facts"]["fallback"]
        out["facts"] = dict(t["facts"], fallback=dict(fb, stages={
            n: {k: v for k, v in st.items() if k != "traceback"} if isinstance(st, dict) else st
            for n, st in (fb.get("stages") or {}).items()}))
    return out


def slim_record(record: dict) -> dict:
    """The record as results.json keeps it (see the module's docstring); ``record`` is left as it is."""
    status = str(record.get("status"))
    observed = str(record.get("observed_status") or status)
    keep_trace = status not in ACCEPTED          # an unexpected failure: its traceback helps
    passed = observed == "PASS"                  # every check passed
    implied = _IMPLIED_ON_PASS if passed else _IMPLIED
    out = {}
    for key, value in record.items():
        if key in _DROP:
            continue
        if key == "repro" and isinstance(value, dict) and not value.get("ok") and not keep_trace \
                and str(value.get("reason", "")).startswith(POLICY_SKIP):
            continue   # not written by policy (an expected failure): `report repro CELL_ID` writes it on demand
        if key == "signature" and status == "XFAIL" and record.get("cause"):
            continue   # an explained failure: its signature is the normalized observed reason (report.causes.signature_of)
        if key == "stages" and isinstance(value, dict):
            stage = record["stage"] if "stage" in record else decide(value).stage
            value = {name: _stage(name, st, keep_trace=keep_trace, deciding=name == stage)
                     for name, st in value.items()}
            value = {name: st for name, st in value.items() if not (name in implied and st == {"ok": True})}
        elif key == "targets" and isinstance(value, dict):
            value = {name: _target(t) for name, t in value.items()}
        elif key == "facts" and isinstance(value, dict):
            value = {k: (_deployable(v) if k == "deployable" else v) for k, v in value.items()
                     if not (passed and k in _PASS_DROP_FACTS) and not _empty(v)}
        elif isinstance(value, dict):
            if key == "repro":
                value = {k: v for k, v in value.items() if k not in _REPRO_DROP and not (k == "notes" and not keep_trace)}
            if value.get("traceback"):
                # the failing cell's second task failed itself (a bug of the suite, rare): kept, its tail
                value = dict(value, traceback=_tail(str(value["traceback"])))
        out[key] = _round(value, key in _TIMING)
    return out
