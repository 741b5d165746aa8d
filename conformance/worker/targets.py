"""The targets of a cell, inside the same worker: ``{"kind": "targets", ...}``.

The parent (:meth:`conformance.run.matrix.Matrix.deploy`) sends it after a cell whose onnxruntime run
happened (whatever the comparison found).  The worker still holds the built case (its Keras references and
tolerances), the converted model and what onnxruntime gave for each batch (``pipeline.LAST_RUN``); each
target (:mod:`conformance.targets`) transforms the model, opens it in its runtime, runs every batch and is
judged by its yardstick against Keras and against onnxruntime (:mod:`conformance.checks.yardstick`).

Each target's stages are plain data under its name, as the cell's are (the stage table is
:data:`conformance.stages.TARGET_TABLE`); nothing here decides a status.  A target that raises at a stage
fails that stage only; a target whose plain form fails and that has a fallback (fp16 keeping some ops in
float32) records the fallback's stages in ``facts["fallback"]``.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from conformance.checks import yardstick
from conformance.errors import error_text, traceback_tail
from conformance.stages import TargetStage
from conformance.targets.base import TargetContext
from conformance.worker.failing import LAST_CONVERSION, conversion_key
from conformance.worker.pipeline import LAST_RUN


def _timed(fn, *args) -> tuple:
    """(``fn(*args)``, its stage dict): ``ok`` and the seconds, or the error and traceback of what it raised."""
    t0 = time.perf_counter()
    try:
        value = fn(*args)
    except Exception as exc:
        return None, {"ok": False, "error": error_text(exc, 2000), "traceback": traceback_tail(exc),
                      "seconds": time.perf_counter() - t0}
    return value, {"ok": True, "seconds": time.perf_counter() - t0}


def run_one(target, model_bytes: bytes, ctx: TargetContext, built, ran: list) -> dict:
    """The stages and facts of one target: transform, open, run each batch (``ran``: the cell's feeds and
    onnxruntime's outputs per batch), judge against Keras and onnxruntime."""
    stages: dict = {}
    facts: dict = {}
    made, st = _timed(target.transform, model_bytes, ctx)
    if not st["ok"] or made is not model_bytes:  # a target that changes nothing has no transform stage
        stages[TargetStage.TRANSFORM.value] = st
    if not st["ok"]:
        return {"stages": stages, "facts": facts}
    if made is not model_bytes:
        facts["model_bytes"] = len(made)
    runner, stages[TargetStage.SESSION.value] = _timed(target.open, made, ctx)
    if runner is None:
        return {"stages": stages, "facts": facts}
    judged, seconds = [], {}
    names = [n for n, _, _ in built.outputs]
    for batch, (feeds, ort_outs) in zip(built.batches, ran):
        outs, st = _timed(runner, feeds)
        if not st["ok"]:
            stages[TargetStage.RUN.value] = dict(st, batch=batch.size)
            return {"stages": stages, "facts": facts}
        seconds[str(batch.size)] = st["seconds"]
        judged.append(yardstick.judge(target.yardstick, names, batch.refs, ort_outs, list(outs), built.tolerances,
                                      ctx.tags, batch.size))
    stages[TargetStage.RUN.value] = {"ok": True, "seconds": seconds}
    stages[TargetStage.COMPARE.value] = yardstick.stage(target.yardstick, judged)
    return {"stages": stages, "facts": facts}


def _passed(result: dict) -> bool:
    return all(st.get("ok", True) for st in result["stages"].values())


def run_targets(task: dict, state) -> dict:
    """``{"targets": {name: {"stages": ..., "facts": ...}}}`` for the task's targets on its cell."""
    key = conversion_key(task)
    last = state.memo.get(LAST_CONVERSION)
    run = state.memo.get(LAST_RUN)
    out: dict = {}
    if last is None or last[0] != key or run is None or run[0] != key:
        why = "the worker no longer holds the cell's conversion (it was restarted)"
        for _ref, name in task["targets"]:
            out[name] = {"stages": {TargetStage.ISOLATION.value: {"ok": False, "status": "CRASH", "error": why}},
                         "facts": {}}
        return {"targets": out}
    model_bytes, order, ran = last[1], run[1], run[2]
    case = state.case(task["case_module"], task["case"])
    built, _stage = state.build(case)
    workroot = Path(tempfile.mkdtemp(prefix="targets-", dir=state.run_dir))
    try:
        for ref, name in task["targets"]:
            target, avail = state.target(ref, name)
            if not avail["ok"]:
                out[name] = {"stages": {TargetStage.AVAILABILITY.value: avail}, "facts": {}}
                continue
            stages = {TargetStage.AVAILABILITY.value: {"ok": True, "versions": avail["versions"]}}
            work = workroot / name
            work.mkdir(parents=True, exist_ok=True)
            ctx = TargetContext(work, state.threads, [f for f, _ in ran], list(order), tuple(sorted(case.tags)))
            t0 = time.perf_counter()
            result = run_one(target, model_bytes, ctx, built, ran)
            result["stages"] = {**stages, **result["stages"]}
            result["facts"]["seconds"] = time.perf_counter() - t0
            fallback = target.fallback() if not _passed(result) else None
            if fallback is not None:
                t0 = time.perf_counter()
                fb = run_one(fallback, model_bytes, ctx, built, ran)
                result["facts"]["fallback"] = {"name": fallback.name, "summary": fallback.summary,
                                               "stages": fb["stages"], "seconds": time.perf_counter() - t0}
            out[name] = result
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    return {"targets": out}
