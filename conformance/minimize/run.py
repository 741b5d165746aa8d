"""The reducer's driver: the cell's model built and recorded, the passes until none makes progress, the
result written (the module docstring of :mod:`conformance.minimize` says what DIR holds)."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from functools import partial
from pathlib import Path

from conformance.minimize.graph import Candidate, CutError, Graph
from conformance.minimize.oracle import Failure, Oracle
from conformance.minimize.passes import PASSES, SHRINK_PASSES, BudgetSpent, Judge

#: the default time budget of one reduction, in seconds
BUDGET = 600.0
#: the smallest model's own cell, as the matrix decided it (``report upstream`` builds its draft from it)
RECORD = "record.json"
#: the smallest model as a spec of the original case, when its model does not survive a file
SPEC = "spec.json"
#: the reduction in numbers (layers, parameters, candidates, seconds, what is left)
SUMMARY = "reduction.json"


class MinimizeError(Exception):
    """The cell cannot be reduced here; one line says why."""


@dataclasses.dataclass
class Reduction:
    cell: str
    case: str
    converter: str
    opset: int
    failure: Failure
    before: int = 0
    after: int = 0
    layers: str = ""
    candidates: int = 0
    unbuildable: int = 0
    seconds: float = 0.0
    budget_spent: bool = False
    params_before: int = 0
    params_after: int = 0
    #: the settings and input sizes the shrink passes made smaller ("Dense(dense).units 64 -> 1")
    smaller: list = dataclasses.field(default_factory=list)
    final: Failure | None = None
    notes: list = dataclasses.field(default_factory=list)
    #: the case's module (a spec of the smallest model is a cut of that case)
    module: str = ""

    def to_json(self) -> dict:
        return {"cell": self.cell, "case": self.case, "module": self.module, "converter": self.converter,
                "opset": self.opset,
                "failure": str(self.failure), "final": None if self.final is None else str(self.final),
                "same": self.final is not None and self.final.key == self.failure.key,
                "layers_before": self.before, "layers_after": self.after, "left": self.layers,
                "classes": sorted({part.split("(", 1)[0] for part in self.layers.split(", ") if "(" in part}),
                "params_before": self.params_before, "params_after": self.params_after, "smaller": self.smaller,
                "candidates": self.candidates, "unbuildable": self.unbuildable, "seconds": round(self.seconds, 1),
                "budget_spent": self.budget_spent, "notes": self.notes, "line": self.line()}

    def line(self) -> str:
        spent = "; the budget ran out, the best so far is kept" if self.budget_spent else ""
        params = (f", {self.params_before} -> {self.params_after} parameters"
                  if self.params_after != self.params_before else "")
        smaller = f"; smaller: {', '.join(self.smaller)}" if self.smaller else ""
        return (f"{self.case}, {self.before} layers -> {self.after} layer(s) ({self.layers}){params}{smaller}, "
                f"{self.candidates} candidates, {self.seconds:.0f} s{spent}")


def _record_of(results: str | Path, cell_id: str) -> tuple[dict, dict]:
    from conformance.report.repro_cell import find_record
    from conformance.run.results import load

    doc = load(results)
    return find_record(doc, cell_id), doc


def _built(rec: dict, doc: dict):
    """The cell's case built in this process, as the worker builds it: (case, Built)."""
    from cases import files
    from conformance.loader import find_case
    from conformance.worker.pipeline import build_case

    loading = files.Loading.from_json((doc.get("run") or {}).get("loading"))
    case = find_case(rec["case_module"], rec["case"])
    if case.custom_objects:   # the case's own custom classes: its candidates load with them (and its repro)
        loading = dataclasses.replace(loading, custom_objects=tuple(dict.fromkeys((*loading.custom_objects,
                                                                                  *case.custom_objects))))
    files.configure(loading)
    from conformance.converters.base import keras_major

    if case.keras != "keras" or keras_major() < 3:
        raise MinimizeError(f"{rec['case']}: a Keras 2 ({case.keras}) model; the reducer cuts Keras 3 functional models")
    return case, build_case(case), loading


def minimize(cell_id: str, results: str | Path, out: str | Path, budget: float = BUDGET, log=print) -> Reduction:
    rec, doc = _record_of(results, cell_id)
    observed = str(rec.get("observed_status") or rec.get("status"))
    if observed == "PASS":
        raise MinimizeError(f"{cell_id} passed: there is no failure to keep")
    target = Failure.of_record(rec)
    out = Path(out)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.monotonic()
    case, built, loading = _built(rec, doc)
    try:
        graph = Graph(built.model)
    except CutError as exc:
        raise MinimizeError(f"{rec['case']}: {exc}") from None
    graph.record(built.batches[0].arrays)
    red = Reduction(cell_id, rec["case"], rec["converter"], int(rec["opset"]), target, module=rec["case_module"])
    if graph.opened:
        red.notes.append(f"nested models opened into their layers: {', '.join(graph.opened)}")
    red.notes += [f"kept whole: {why}" for why in graph.kept_whole]
    conv_module = ((doc.get("converters") or {}).get(rec["converter"]) or {}).get("module") or ""
    extra = (conv_module,) if conv_module and not conv_module.startswith("conformance.converters.") else ()
    oracle = Oracle(target, rec["converter"], int(rec["opset"]), work, loading=loading, converter_modules=extra,
                    timeout=float((doc.get("run") or {}).get("cell_timeout") or 300))
    try:
        judge = Judge(graph, oracle, t0 + budget, log=log)
        current = Candidate(tuple(graph.output_ids))
        red.before = len(graph.layers_in(current))
        log(f"{cell_id}: {target}")
        log(f"the whole model, {red.before} layers, as a model file:")
        if not judge(current):
            why = judge.refused or _not_a_file(oracle.last_record)
            if not why:
                raise MinimizeError(f"{cell_id}: the whole model saved as a file does not fail the same way "
                                    f"({oracle.cache and next(iter(oracle.cache.values()))}); nothing to reduce")
            # the model does not survive a file: each candidate is rebuilt in the worker from the case itself
            red.notes.append(f"candidates rebuilt from the case in the worker, not saved as files ({why[:200]})")
            log(f"the whole model does not survive a model file ({why[:160]}); candidates as specs:")
            oracle.use_specs(rec["case_module"], rec["case"], graph)
            if not judge(current):
                raise MinimizeError(f"{cell_id}: the whole model rebuilt from its case does not fail the same way "
                                    f"({oracle.cache and next(iter(oracle.cache.values()))}); nothing to reduce")
        red.params_before = built.model.count_params()
        try:
            for _round in range(3):
                before = current
                for name, pass_ in PASSES:
                    log(f"{name} ({len(graph.layers_in(current))} layers):")
                    current = pass_(graph, current, judge)
                if current == before:
                    break
            for name, pass_ in SHRINK_PASSES:   # as few layers as they get: then fewer parameters, smaller inputs
                log(f"{name} ({len(graph.layers_in(current))} layers):")
                current = pass_(graph, current, judge)
        except BudgetSpent:
            red.budget_spent = True
        red.after = len(graph.layers_in(current))
        red.layers = graph.describe(current)
        red.smaller = graph.describe_smaller(current)
        red.notes += [f"kept whole: {what} (a layer whose call() is code: the reducer cuts between layers, not inside "
                      "one)" for what in graph.composite(current)]
        red.candidates, red.unbuildable = oracle.calls, judge.unbuildable
        model, arrays = graph.build(current)
        red.params_after = model.count_params()
        red.seconds = time.monotonic() - t0   # for case.py's line; the final cell's time is added below
        _write(out, red, model, arrays, oracle, rec, current)
        red.seconds = time.monotonic() - t0
        _write_report(out, red, rec, doc)
        return red
    finally:
        oracle.close()
        shutil.rmtree(work, ignore_errors=True)   # the candidates: DIR keeps the smallest model, its case and repro


def _not_a_file(rec: dict | None) -> str:
    """Why a candidate failed before its converter ran because Keras could not load its model file back ('' if not)."""
    reason = str((rec or {}).get("reason") or "")
    if str((rec or {}).get("observed_status")) == "CASE_ERROR" and "model.keras:" in reason:
        return " ".join(reason.split("model.keras:", 1)[1].split())
    return ""


def _write(out: Path, red: Reduction, model, arrays, oracle: Oracle, rec: dict, current: Candidate) -> None:
    name = f"min_{rec['case']}"
    out.mkdir(parents=True, exist_ok=True)
    if oracle.spec_source is None:
        path, npz = oracle.save(model, arrays, out)
        (out / "case.py").write_text(CASE_MODULE.format(name=name, cell=red.cell, line=red.line(),
                                                        failure=str(red.failure)), encoding="utf-8")
        run = partial(oracle.run, path, npz)
    else:
        module = oracle.spec_module(current, out, name, doc=f"The smallest model found for {red.cell}: {red.line()}.\n\n"
                                    f"Failure kept: {red.failure}\n\nRebuilt from the original case (its model does "
                                    f"not survive a model file):\n    pytest conformance/ --cases-module case.py -k {name}")
        (out / SPEC).write_text(json.dumps(oracle.spec_source[2].to_spec(current), indent=1) + "\n", encoding="utf-8")
        try:   # the smallest model may well survive a file even where the whole one did not
            oracle.save(model, arrays, out)
            keras_model = load_back(out / "model.keras")
        except Exception as exc:  # noqa: BLE001 - Keras cannot: said, and case.py rebuilds it
            keras_model = None
            for name_ in ("model.keras", "inputs.npz"):   # a file Keras cannot read back is no model file
                (out / name_).unlink(missing_ok=True)
            red.notes.append(f"the smallest model is not saved as model.keras: Keras cannot save and load it back "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); case.py rebuilds it")
        run = partial(oracle.run_module, module, name) if keras_model is None else \
            partial(oracle.run, out / "model.keras", out / "inputs.npz")
    # the final cell once more, with its second task: the standalone repro of the smallest model
    previous = os.environ.get("CONFORMANCE_REPRO")
    os.environ["CONFORMANCE_REPRO"] = "on"
    try:
        final = run(explain=True)
    finally:
        if previous is None:
            os.environ.pop("CONFORMANCE_REPRO", None)
        else:
            os.environ["CONFORMANCE_REPRO"] = previous
    red.final = Failure.of_record(final) if str(final.get("observed_status")) != "PASS" else None
    (out / RECORD).write_text(json.dumps(final, indent=1, default=str) + "\n", encoding="utf-8")
    repro = (final.get("repro") or {}).get("path")
    if repro:
        src = (oracle.work_dir / repro).parent
        shutil.rmtree(out / "repro", ignore_errors=True)
        shutil.copytree(src, out / "repro")
    else:
        red.notes.append(f"no repro: {(final.get('repro') or {}).get('reason')}")


def load_back(path: Path):
    """The model file loaded again (a model Keras writes but cannot read is no model file)."""
    from cases import files

    return files.load_model(str(path), files.flavour_of(str(path)))


CASE_MODULE = '''"""The smallest model found for {cell}: {line}.

Failure kept: {failure}

    pytest conformance/ --cases-module case.py -k {name}
(a model with custom objects needs the run's --custom-objects too)
"""
import dataclasses
from pathlib import Path

from cases.files import case_for, ref_for

HERE = Path(__file__).resolve().parent
CASE = dataclasses.replace(case_for(ref_for(HERE / "model.keras", HERE / "inputs.npz")), name={name!r}, family="minimized",
                           description="minimised from {cell}")
'''


def _write_report(out: Path, red: Reduction, rec: dict, doc: dict) -> None:
    from conformance.report.merge import stacks_meta

    meta = stacks_meta(doc)
    stack = meta.get(str(rec.get("stack") or "default")) or next(iter(meta.values()), {})
    packages = (stack.get("environment") or {}).get("packages") or {}
    versions = ", ".join(f"{k} {packages[k]}" for k in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime")
                         if packages.get(k))
    command = ((rec.get("stages") or {}).get("convert") or {}).get("command") or ""
    same = red.final is not None and red.final.key == red.failure.key
    lines = [
        f"# {red.failure.status} on {red.converter} at opset {red.opset}: {red.layers}",
        "",
        f"Minimised from `{red.cell}`: {red.line()}.",
        "",
        f"- versions: {versions or 'see results.json'}",
        f"- the failure of the original model: {red.failure}",
        f"- the failure of the smallest model: {red.final if red.final else 'it passes (not the same failure)'}"
        f"{'' if same else ' (NOT the same failure: see the notes)'}",
        f"- the conversion: `{command}`" if command else "- the conversion: see repro/repro.py",
        "",
        "Files: `model.keras` and `inputs.npz` (the smallest model and its inputs), `case.py` (one case: "
        "`pytest conformance/ --cases-module case.py`), `repro/repro.py` (standalone: `python repro/repro.py`), "
        "`record.json` (its cell as the matrix decided it).",
    ]
    if red.notes:
        lines += ["", "Notes:", *[f"- {n}" for n in red.notes]]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / SUMMARY).write_text(json.dumps(red.to_json(), indent=1) + "\n", encoding="utf-8")


def main(cell_id: str, results: str, out: str, budget: float) -> int:
    try:
        red = minimize(cell_id, results, out, budget)
    except MinimizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the reducer's own fault on this model: one line, not a traceback
        print(f"error: {cell_id}: the reduction failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
              file=sys.stderr)
        return 2
    print(red.line())
    print(f"wrote {out}/model.keras, inputs.npz, case.py, report.md" + (", repro/" if (Path(out) / "repro").is_dir() else ""))
    return 0
