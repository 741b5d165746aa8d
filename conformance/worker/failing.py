"""The second task of a failing cell, inside the same worker: ``{"kind": "diverge", ...}``.

The parent (:meth:`conformance.run.matrix.Matrix.explain_failure`) sends it after deciding that a cell
failed.  The worker still holds the built case (``WorkerState.built``) and the converted model of the
cell it just ran; it finds the first divergent layer (:mod:`conformance.checks.divergence`, for
MISMATCH, RUNTIME_ERROR and SIGNATURE), asks ONNX's reference evaluator for a second opinion
(:mod:`conformance.checks.second_opinion`, for MISMATCH) and writes the standalone repro
(:mod:`conformance.checks.repro`).

Nothing here decides or changes a status, and no step can cost the cell its record: each step that
raises becomes ``{"ok": False, "reason": ...}`` in its own result and a line in ``notes``.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from conformance.checks import divergence, repro, second_opinion
from conformance.errors import error_text, traceback_tail

#: state.memo key of the last cell's conversion (set by the pipeline): (cell key, bytes, output names, command)
LAST_CONVERSION = "_last_conversion"
#: third part of the state.memo key ``(case module, case name, PASSING)`` of the case's most recent passing
#: conversion in this worker (set by the pipeline): (cell id, bytes, output names).  Evicted with the case.
PASSING = "last_passing"


def conversion_key(task: dict) -> tuple:
    return (task["case_module"], task["case"], task["converter"], int(task["opset"]))


def passing_key(case) -> tuple:
    return (case.module, case.name, PASSING)


def _repro_model(state, case, built) -> tuple[Path | None, str]:
    """model.keras of this case, saved once per worker and case (linked into each cell's repro folder)."""
    key = (case.module, case.name, "repro_model")
    if key not in state.memo:
        folder = state.case_dir(case.module, case.name) / "repro"
        first = built.batches[0]
        state.memo[key] = repro.saved_model_file(built.model, case.keras, folder, first.arrays, first.refs)
    return state.memo[key]


def _failed(what: str, exc: BaseException, notes: list, **extra) -> dict:
    """A step that raised: its result says so, and so does a note."""
    text = error_text(exc, 300)
    notes.append(f"{what} failed: {text}")
    return {"ok": False, "reason": f"{what} failed: {text}", "traceback": traceback_tail(exc), **extra}


def run_failing(task: dict, state) -> dict:
    observed = task.get("observed_status", "")
    wants_divergence = bool(task.get("divergence")) and observed in divergence.STATUSES
    wants_opinion = bool(task.get("second_opinion")) and observed in second_opinion.STATUSES
    wants_repro = bool(task.get("repro_dir"))
    notes: list[str] = []
    out: dict = {"notes": notes}
    try:
        conv, avail = state.converter(task["converter_module"], task["converter"])
        case = state.case(task["case_module"], task["case"])
        built = None
        if avail.get("ok") or wants_repro:
            if case.keras != "none" and observed not in repro.NO_MODEL:
                state.configure_tensorflow()
            if observed not in repro.NO_MODEL:
                built, _ = state.build(case)
    except Exception as exc:
        why = f"not computed: {error_text(exc, 300)}"
        notes.append(f"the second task could not start: {error_text(exc, 300)}")
        if wants_divergence:
            out["divergence"] = {"ok": False, "reason": why}
        if wants_opinion:
            out["second_opinion"] = second_opinion.not_run(why)
        if wants_repro:
            out["repro"] = {"ok": False, "reason": f"not written: {error_text(exc, 300)}"}
        return out
    if wants_divergence:
        try:
            out["divergence"] = _divergence(task, state, conv, case, built)
        except Exception as exc:  # a bug of the search must not cost the cell its record
            out["divergence"] = _failed("the divergence search", exc, notes)
    if wants_opinion:
        try:
            out["second_opinion"] = _second_opinion(task, state, case, built)
        except Exception as exc:
            out["second_opinion"] = _failed("the second opinion", exc, notes, verdict=second_opinion.NOT_RUN)
    if wants_repro:
        try:
            model_file, problem = (None, "")
            if built is not None and case.keras != "none":
                model_file, problem = _repro_model(state, case, built)
            out["repro"] = repro.write(
                repro.cell_dir(Path(task["repro_dir"]), task["cell_id"]), case=case, converter=conv,
                opset=int(task["opset"]), observed=observed,
                reason=task.get("reason", ""), command=task.get("command") or "", built=built,
                model_file=model_file, model_problem=problem)
        except Exception as exc:
            rep = _failed("writing the repro", exc, notes)
            rep["reason"] = f"not written: {rep['reason']}"
            out["repro"] = rep
    return out


def _divergence(task, state, conv, case, built) -> dict:
    if built is None:
        return {"ok": False, "reason": "not computable: the case's model was not built"}
    last = state.memo.get(LAST_CONVERSION)
    model_bytes = output_names = None
    if last and last[0] == conversion_key(task):
        _, model_bytes, output_names, _command = last
    from conformance.worker.launcher import DEFAULT_MODE

    scratch = Path(tempfile.mkdtemp(prefix="diverge-", dir=state.run_dir))
    try:
        return divergence.find(
            model=built.model, built=built, conv=conv, case=case, opset=int(task["opset"]), model_bytes=model_bytes,
            output_names=output_names, stages=task.get("stages") or {},
            deadline=time.monotonic() + float(task.get("timeout", 600)), launcher=state.launcher(task.get("cli_launch") or DEFAULT_MODE),
            threads=state.threads, scratch=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _second_opinion(task, state, case, built) -> dict:
    """ONNX's reference evaluator on the cell's model (and on the case's last passing model, to check it)."""
    if not second_opinion.enabled():
        return second_opinion.not_run(f"off ({second_opinion.ENV}=off)")
    if built is None:
        return second_opinion.not_run("the case's model was not built")
    last = state.memo.get(LAST_CONVERSION)
    if not last or last[0] != conversion_key(task):
        return second_opinion.not_run("this worker no longer holds the cell's converted model")
    _, model_bytes, output_names, _command = last
    return second_opinion.run(
        model_bytes=model_bytes, output_names=output_names, built=built, case=case,
        batch_index=divergence.failing_batch(task.get("stages") or {}), threads=state.threads,
        passing=state.memo.get(passing_key(case)),
        seconds=min(second_opinion.SECONDS, max(1.0, float(task.get("timeout", 600)) / 4)))
