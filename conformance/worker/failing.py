"""The second task of a failing cell, inside the same worker: ``{"kind": "diverge", ...}``.

The parent (:meth:`conformance.run.matrix.Matrix.run`) sends it after deciding that a cell failed.
The worker still holds the built case (``WorkerState.built``) and the converted model of the cell it
just ran; it finds the first divergent layer (:mod:`conformance.checks.divergence`, for MISMATCH,
RUNTIME_ERROR and SIGNATURE) and writes the standalone repro (:mod:`conformance.checks.repro`).
Nothing here decides or changes a status.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from conformance.checks import divergence, repro
from conformance.errors import error_text, traceback_tail

#: state.memo key of the last cell's conversion (set by the pipeline): (cell key, bytes, output names, command)
LAST_CONVERSION = "_last_conversion"


def conversion_key(task: dict) -> tuple:
    return (task["case_module"], task["case"], task["converter"], int(task["opset"]))


def _repro_model(state, case, built) -> tuple[Path | None, str]:
    """model.keras of this case, saved once per worker and case (linked into each cell's repro folder)."""
    key = (case.module, case.name, "repro_model")
    if key not in state.memo:
        folder = state.case_dir(case.module, case.name) / "repro"
        first = built.batches[0]
        state.memo[key] = repro.saved_model_file(built.model, case.keras, folder, first.arrays, first.refs)
    return state.memo[key]


def run_failing(task: dict, state) -> dict:
    out: dict = {}
    observed = task.get("observed_status", "")
    try:
        conv, avail = state.converter(task["converter_module"], task["converter"])
        case = state.case(task["case_module"], task["case"])
    except Exception as exc:
        return {"divergence": None, "repro": {"ok": False, "reason": f"not written: {error_text(exc, 300)}"}}
    built = None
    if avail.get("ok") or task.get("repro_dir"):
        if case.keras != "none" and observed not in repro.NO_MODEL:
            state.configure_tensorflow()
        if observed not in repro.NO_MODEL:
            built, _ = state.build(case)
    if task.get("divergence") and observed in divergence.STATUSES:
        out["divergence"] = _divergence(task, state, conv, case, built)
    if task.get("repro_dir"):
        try:
            model_file, problem = (None, "")
            if built is not None and case.keras != "none":
                model_file, problem = _repro_model(state, case, built)
            out["repro"] = repro.write(
                repro.cell_dir(Path(task["repro_dir"]), task["cell_id"]), case=case, converter_name=conv.name,
                distribution=conv.distribution, opset=int(task["opset"]), observed=observed,
                reason=task.get("reason", ""), command=task.get("command") or "", built=built,
                model_file=model_file, model_problem=problem)
        except Exception as exc:
            out["repro"] = {"ok": False, "reason": f"not written: {error_text(exc, 300)}",
                            "traceback": traceback_tail(exc)}
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
    except Exception as exc:  # a bug of the search must not cost the cell its record
        return {"ok": False, "reason": f"the search failed: {error_text(exc, 300)}", "traceback": traceback_tail(exc)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
