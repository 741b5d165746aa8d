"""``pytest ... --minimize [SECONDS]``: after the run, every unexplained failing cell reduced, within one budget.

Each cell is reduced by ``python -m conformance.report minimize`` in its own process (a reduction that dies
costs its cell, not the run) into ``REPORT_DIR/minimized/<cell id>/``; the budget is shared out among the cells
still to do.  Each record then says where its smallest model is (``record["minimized"]``: ``path`` relative to
the report directory and the reduction's ``line``, or the ``error``), and the page links it.
"""
from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conformance.statuses import BEFORE_CONVERSION, Status, facts

#: the folder under the report directory that holds the reductions
FOLDER = "minimized"
#: seconds a reduction gets at the least (fewer left: the cell is skipped and says so)
MIN_SECONDS = 30.0


def unexplained(records: list[dict]) -> list[dict]:
    """Failing cells no cause explains that a reduction can work on: a Keras 3 model that was built."""
    return [r for r in failing(records) if str(r.get("status")) not in (Status.XPASS.value, Status.XFAIL.value)]


def reduce_cells(results_path: str | Path, cells: list[dict], out_root: Path, budget: float, shared: bool = True,
                 log=print) -> dict[str, dict]:
    """Reduce ``cells`` of ``results_path`` one by one, each by ``python -m conformance.report minimize`` in its own
    process, into ``out_root/<cell id>/``.  ``shared``: ``budget`` is shared out among the cells still to do;
    otherwise each gets all of it.  Returns id -> {"path", "line", "summary"} or {"error"}."""
    from conformance.minimize.run import SUMMARY
    from conformance.worker.pool import PROJECT_ROOT

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    found: dict[str, dict] = {}
    deadline = time.monotonic() + budget
    for i, rec in enumerate(cells):
        share = (deadline - time.monotonic()) / (len(cells) - i) if shared else budget
        cell = str(rec["id"])
        if share < MIN_SECONDS:
            found[cell] = {"error": f"not reduced: the budget ({budget:.0f} s) was spent"}
            continue
        out = Path(out_root) / cell
        log(f"minimize {cell} ({share:.0f} s)")
        try:
            proc = subprocess.run([sys.executable, "-m", "conformance.report", "minimize", cell, str(results_path),
                                   "--out", str(out), "--budget", f"{share:.0f}"], capture_output=True, text=True,
                                  timeout=share + 300, stdin=subprocess.DEVNULL, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
            if proc.returncode == 0 and len(lines) >= 2:
                found[cell] = {"path": str(out), "line": lines[-2]}
                if (out / SUMMARY).is_file():
                    found[cell]["summary"] = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
            else:
                found[cell] = {"error": (errors[-1] if errors else f"the reduction exited {proc.returncode}")[:300]}
        except subprocess.TimeoutExpired:
            found[cell] = {"error": "the reduction overran its budget"}
        log(f"  {found[cell].get('line') or found[cell].get('error')}")
    return found


def minimize_run(results_path: str | Path, budget: float, log=print) -> dict[str, dict]:
    """Reduce the run's unexplained failing cells; record where each smallest model is.  Returns id -> info."""
    from conformance.run.results import load, write

    results_path = Path(results_path)
    doc = load(results_path)
    found = reduce_cells(results_path, unexplained(doc["records"]), results_path.parent / FOLDER, budget, log=log)
    for info in found.values():   # the record keeps the folder relative to the report directory
        if "path" in info:
            info["path"] = f"{FOLDER}/{Path(info['path']).name}"
            summary = info.pop("summary", None) or {}
            info["classes"] = list(summary.get("classes") or ())   # what is left: causes propose's needs
    if found:
        for rec in doc["records"]:
            if str(rec.get("id")) in found:
                rec["minimized"] = found[str(rec["id"])]
        write(doc, results_path)
    return found


def failing(records: list[dict], pattern: str = "*") -> list[dict]:
    """The failing cells (explained or not) whose id matches the glob ``pattern``, that a reduction can work on:
    a Keras 3 model that was built (its observed status comes after the conversion started)."""
    out = []
    for r in records:
        observed = str(r.get("observed_status") or r.get("status"))
        if not fnmatch.fnmatchcase(str(r.get("id")), pattern) or facts(observed).outcome != "failed":
            continue
        if observed in BEFORE_CONVERSION or r.get("keras") != "keras":
            continue
        out.append(r)
    return out


def table(found: dict[str, dict], records: dict[str, dict]) -> list[str]:
    """The reductions as a markdown table: cell, cause, layers before -> after, what is left, candidates, time."""
    lines = ["| cell | cause | layers before -> after | what is left | parameters | candidates | time |",
             "|---|---|---|---|---|---|---|"]
    for cell, info in found.items():
        rec = records.get(cell, {})
        cause = rec.get("cause") or "(unexplained)"
        s = info.get("summary")
        if s is None:
            lines.append(f"| {cell} | {cause} | - | {info.get('error', '')} | - | - | - |")
            continue
        same = "" if s.get("same") else " (NOT the same failure)"
        lines.append(f"| {cell} | {cause} | {s['layers_before']} -> {s['layers_after']}{same} | {s['left']} | "
                     f"{s['params_before']} -> {s['params_after']} | {s['candidates']} | {s['seconds']:.0f} s |")
    return lines


def main_glob(pattern: str, results: str, out: str, budget: float) -> int:
    """Every failing cell whose id matches ``pattern`` (explained or not), each in its own process with the whole
    budget, into OUT/<cell id>/; a markdown table of the reductions on stdout and in OUT/reductions.md."""
    from conformance.run.results import load

    doc = load(results)
    cells = failing(doc["records"], pattern)
    if not cells:
        print(f"error: no failing cell of {results} matches {pattern!r} (the reducer needs a Keras 3 model that "
              "was built)", file=sys.stderr)
        return 2
    found = reduce_cells(results, cells, Path(out), budget, shared=False, log=lambda line: print(line, file=sys.stderr))
    lines = table(found, {str(r["id"]): r for r in doc["records"]})
    Path(out, "reductions.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if all("summary" in f for f in found.values()) else 1
