"""What the pytest run does with its results at the end: the HTML page and the baseline gate.

conftest.py calls :func:`load_baseline` at configure time (a bad file is a usage
error there, before anything runs) and :func:`after_run` once results.json is
written.  The baseline is compared only on the cells this run executed: cells a
``-k`` or ``--opsets`` selection left out are counted, not reported as removed
(``python -m conformance.report diff`` shows removed cells of whole files).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from conformance.report.merge import case_table
from conformance.run.results import ResultsError, load

HTML = "matrix.html"
#: rows of non-regression changes printed in the terminal (regressions are all printed)
MAX_OTHER_ROWS = 40


@dataclasses.dataclass
class RunReport:
    html_path: Path | None = None
    html_error: str | None = None
    diff: object | None = None          # conformance.report.diff.Diff
    baseline_path: str | None = None
    not_run: int = 0                    # baseline cells this run did not execute
    gate_error: str | None = None       # the comparison itself failed: the gate fails too

    @property
    def regressions(self) -> list:
        return self.diff.regressions if self.diff is not None else []

    @property
    def failed(self) -> bool:
        """The gate failed, or the page could not be written: either makes the run exit non-zero."""
        return bool(self.regressions) or self.gate_error is not None or self.html_error is not None


#: what a baseline keeps of each record: the cell, its stack and the statuses the gate compares
BASELINE_KEYS = ("case", "converter", "opset", "stack", "status", "observed_status", "stage")


def slim_baseline(doc: dict) -> dict:
    """The part of a results document the gate needs: each cell's key and statuses, the run and the
    environment (no stages, facts or reasons: a baseline is committed, and refreshed; so the run's
    and environment's paths of this machine are made portable)."""
    from conformance.report.portable import portable

    records = [{k: r[k] for k in BASELINE_KEYS if r.get(k) is not None} for r in doc["records"]]
    out = {k: portable(doc[k]) for k in ("schema_version", "run", "environment") if k in doc}
    out["kind"] = "baseline"
    # what a cause's scope may ask of a cell besides its key, once per case (not per record): its tags
    # and the Keras layer classes its model holds, so a slim file can be judged against causes.toml
    out["cases"] = case_table(doc)
    if "stacks" in doc:
        out["stacks"] = {name: portable({"environment": meta.get("environment", {}), "runs": meta.get("runs", [])})
                         for name, meta in doc["stacks"].items()}
    out["records"] = records
    return out


def load_baseline(path: str | None) -> dict | None:
    """The baseline document, checked before the run starts (a run has one stack, so must the baseline)."""
    if not path:
        return None
    doc = load(path)
    from conformance.report.diff import stacks_of

    stacks = stacks_of(doc)
    if len(stacks) != 1:
        raise ResultsError(f"{path} holds {len(stacks)} stacks ({', '.join(stacks)}); a run compares with one")
    return doc


def _restrict(baseline: dict, doc: dict, by_stack: bool) -> tuple[dict, int]:
    def key(r):
        return ((str(r.get("stack") or "default"),) if by_stack else ()) + (r["case"], r["converter"], int(r["opset"]))

    ran = {key(r) for r in doc["records"]}
    kept = [r for r in baseline["records"] if key(r) in ran]
    return dict(baseline, records=kept), len(baseline["records"]) - len(kept)


def after_run(results_path: Path, baseline: dict | None, baseline_path: str | None = None) -> RunReport:
    from conformance.report import diff as diff_mod

    rep = RunReport(baseline_path=baseline_path)
    doc = load(results_path)
    base = None
    if baseline is not None:
        try:
            full = diff_mod.diff(baseline, doc)
            base, rep.not_run = _restrict(baseline, doc, full.by_stack)
            rep.diff = diff_mod.diff(base, doc)
        except Exception as exc:
            rep.gate_error = f"{type(exc).__name__}: {exc}"
    try:
        from conformance.report.html import write_html

        rep.html_path = write_html(doc, Path(results_path).parent / HTML, baseline=base,
                                   baseline_label=baseline_path or "", sources=[str(results_path)])
    except Exception as exc:  # the results are safe on disk; say what went wrong with the page
        rep.html_error = f"{type(exc).__name__}: {exc}"
    return rep


def summary_lines(rep: RunReport) -> list[tuple[str, bool]]:
    """The terminal's lines about the page and the gate, each with whether it is an alarm (shown in red)."""
    from conformance.report.diff import table_lines

    lines: list[tuple[str, bool]] = []
    if rep.html_path:
        lines.append((f"matrix: {rep.html_path}", False))
    if rep.html_error:
        lines.append((f"REPORT FAILED: matrix.html not written: {rep.html_error}", True))
    if rep.gate_error:
        lines.append((f"BASELINE GATE FAILED: cannot compare with {rep.baseline_path}: {rep.gate_error}", True))
    d = rep.diff
    if d is None:
        return lines
    lines.append((f"baseline {rep.baseline_path}:", False))
    shown = [c for c in d.changes if c.kind == "regression"]
    others = [c for c in d.changes if c.kind != "regression"]
    cut = max(0, len(others) - MAX_OTHER_ROWS)
    view = type(d)(d.old_stacks, d.new_stacks, d.by_stack, shown + others[:MAX_OTHER_ROWS], d.unchanged)
    lines += [(line, False) for line in table_lines(view)[:-1]]
    if cut:
        lines.append((f"... and {cut} more changes (python -m conformance.report diff {rep.baseline_path} "
                      "<results.json>)", False))
    lines.append((table_lines(d)[-1], False))
    if rep.not_run:
        lines.append((f"{rep.not_run} baseline cells were not run in this session (deselected or removed); "
                      "not compared", False))
    if d.regressions:
        lines.append((f"BASELINE GATE FAILED: {len(d.regressions)} cell(s) regressed from an accepted state", True))
    return lines
