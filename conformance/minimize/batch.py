"""``pytest ... --minimize [SECONDS]``: after the run, every unexplained failing cell reduced, within one budget.

Each cell is reduced by ``python -m conformance.report minimize`` in its own process (a reduction that dies
costs its cell, not the run) into ``REPORT_DIR/minimized/<cell id>/``; the budget is shared out among the cells
still to do.  Each record then says where its smallest model is (``record["minimized"]``: ``path`` relative to
the report directory and the reduction's ``line``, or the ``error``), and the page links it.
"""
from __future__ import annotations

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
    out = []
    for r in records:
        status = str(r.get("status"))
        observed = str(r.get("observed_status") or status)
        if facts(status).outcome != "failed" or status in (Status.XPASS.value, Status.XFAIL.value):
            continue
        if observed in BEFORE_CONVERSION or r.get("keras") != "keras":
            continue
        out.append(r)
    return out


def minimize_run(results_path: str | Path, budget: float, log=print) -> dict[str, dict]:
    """Reduce the run's unexplained failing cells; record where each smallest model is.  Returns id -> info."""
    from conformance.run.results import load, write
    from conformance.worker.pool import PROJECT_ROOT

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    results_path = Path(results_path)
    doc = load(results_path)
    cells = unexplained(doc["records"])
    found: dict[str, dict] = {}
    deadline = time.monotonic() + budget
    for i, rec in enumerate(cells):
        left = deadline - time.monotonic()
        share = left / (len(cells) - i)
        cell = str(rec["id"])
        if share < MIN_SECONDS:
            found[cell] = {"error": f"not reduced: the --minimize budget ({budget:.0f} s) was spent"}
            continue
        out = results_path.parent / FOLDER / cell
        log(f"minimize {cell} ({share:.0f} s)")
        try:
            proc = subprocess.run([sys.executable, "-m", "conformance.report", "minimize", cell, str(results_path),
                                   "--out", str(out), "--budget", f"{share:.0f}"], capture_output=True, text=True,
                                  timeout=share + 300, stdin=subprocess.DEVNULL, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
            if proc.returncode == 0 and len(lines) >= 2:
                found[cell] = {"path": f"{FOLDER}/{cell}", "line": lines[-2]}
            else:
                found[cell] = {"error": (errors[-1] if errors else f"the reduction exited {proc.returncode}")[:300]}
        except subprocess.TimeoutExpired:
            found[cell] = {"error": "the reduction overran its budget"}
        log(f"  {found[cell].get('line') or found[cell].get('error')}")
    if found:
        for rec in doc["records"]:
            if str(rec.get("id")) in found:
                rec["minimized"] = found[str(rec["id"])]
        write(doc, results_path)
    return found
