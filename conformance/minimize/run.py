"""The reducer's driver: the cell's model built and recorded, the passes until none makes progress, the
result written (the module docstring of :mod:`conformance.minimize` says what DIR holds)."""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path

from conformance.minimize.graph import Candidate, CutError, Graph
from conformance.minimize.oracle import Failure, Oracle
from conformance.minimize.passes import PASSES, BudgetSpent, Judge

#: the default time budget of one reduction, in seconds
BUDGET = 600.0


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
    final: Failure | None = None
    notes: list = dataclasses.field(default_factory=list)

    def line(self) -> str:
        spent = "; the budget ran out, the best so far is kept" if self.budget_spent else ""
        return (f"{self.case}, {self.before} layers -> {self.after} layer(s) ({self.layers}), "
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
    files.configure(loading)
    case = find_case(rec["case_module"], rec["case"])
    if case.keras != "keras":
        raise MinimizeError(f"{rec['case']}: a {case.keras} model; the reducer cuts Keras 3 functional models")
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
    red = Reduction(cell_id, rec["case"], rec["converter"], int(rec["opset"]), target)
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
            raise MinimizeError(f"{cell_id}: the whole model saved as a file does not fail the same way "
                                f"({oracle.cache and next(iter(oracle.cache.values()))}); nothing to reduce")
        try:
            for _round in range(3):
                before = current
                for name, pass_ in PASSES:
                    log(f"{name} ({len(graph.layers_in(current))} layers):")
                    current = pass_(graph, current, judge)
                if current == before:
                    break
        except BudgetSpent:
            red.budget_spent = True
        red.after = len(graph.layers_in(current))
        red.layers = graph.describe(current)
        red.candidates, red.unbuildable = oracle.calls, judge.unbuildable
        model, arrays = graph.build(current)
        _write(out, red, model, arrays, oracle, rec, doc, case)
        red.seconds = time.monotonic() - t0
        _write_report(out, red, rec, doc)
        return red
    finally:
        oracle.close()
        shutil.rmtree(work, ignore_errors=True)   # the candidates: DIR keeps the smallest model, its case and repro


def _write(out: Path, red: Reduction, model, arrays, oracle: Oracle, rec: dict, doc: dict, case) -> None:
    path, npz = oracle.save(model, arrays, out)
    name = f"min_{rec['case']}"
    (out / "case.py").write_text(CASE_MODULE.format(name=name, cell=red.cell, line=red.line(), failure=str(red.failure)),
                                 encoding="utf-8")
    # the final cell once more, with its second task: the standalone repro of the smallest model
    previous = os.environ.get("CONFORMANCE_REPRO")
    os.environ["CONFORMANCE_REPRO"] = "on"
    try:
        final = oracle.run(path, npz, explain=True)
    finally:
        if previous is None:
            os.environ.pop("CONFORMANCE_REPRO", None)
        else:
            os.environ["CONFORMANCE_REPRO"] = previous
    red.final = Failure.of_record(final) if str(final.get("observed_status")) != "PASS" else None
    repro = (final.get("repro") or {}).get("path")
    if repro:
        src = (oracle.work_dir / repro).parent
        shutil.rmtree(out / "repro", ignore_errors=True)
        shutil.copytree(src, out / "repro")
    else:
        red.notes.append(f"no repro: {(final.get('repro') or {}).get('reason')}")


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
        "`pytest conformance/ --cases-module case.py`), `repro/repro.py` (standalone: `python repro/repro.py`).",
    ]
    if red.notes:
        lines += ["", "Notes:", *[f"- {n}" for n in red.notes]]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(cell_id: str, results: str, out: str, budget: float) -> int:
    try:
        red = minimize(cell_id, results, out, budget)
    except MinimizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(red.line())
    print(f"wrote {out}/model.keras, inputs.npz, case.py, report.md" + (", repro/" if (Path(out) / "repro").is_dir() else ""))
    return 0
