"""``python -m conformance.report repro CELL_ID [--results reports/results.json]``: one cell's repro on demand.

A run writes the standalone repro folder (``REPORT_DIR/repro/<cell id>/``) only for unexpected failures
(``CONFORMANCE_REPRO=auto``, the default).  This command writes it for any cell of a results file: it
runs that one cell again in a fresh ``pytest`` session of the suite (its own plugin, so the options,
the loading of cases and converters and the worker are those of a run) with ``CONFORMANCE_REPRO=on``,
into a scratch report directory inside the results file's directory; then it moves the folder to
``REPORT_DIR/repro/<cell id>/`` and sets the cell's ``repro`` in the results file, so a page rebuilt
from it links the folder.  The cell is selected by its node id (``test_matrix.py::test_cell[<cell id>]``)
with the record's converter, opset, stack and case module (``--cases-module`` or ``--model``), at
``--tier full`` and without the registry of causes; module paths recorded relative to where the run started
resolve from the current directory.

Nothing else of the results file changes: the re-run's status is printed, not recorded.  Exit codes:
0 written, 1 not written (the cell passes now, or the repro could not be written: the reason is
printed), 2 bad input (no such cell, a broken results file, the re-run could not start).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conformance.run.results import ResultsError, load, write

#: the package's matrix test (the same file in a checkout and in site-packages)
TEST_FILE = Path(__file__).resolve().parents[1] / "test_matrix.py"
#: a saved model file's case module reference (cases/files.py: ``model:PATH`` or ``model:PATH|INPUTS``)
MODEL_PREFIX = "model:"


def find_record(doc: dict, cell_id: str) -> dict:
    for rec in doc.get("records") or []:
        if rec.get("id") == cell_id:
            return rec
    near = sorted(r.get("id", "") for r in doc.get("records") or [] if cell_id.split("-")[0] in r.get("id", ""))[:5]
    hint = f" (similar: {', '.join(near)})" if near else ""
    raise ResultsError(f"no cell {cell_id!r} in the results file{hint}")


def command(rec: dict, doc: dict, report_dir: Path) -> list[str]:
    """The pytest command line that runs this one cell again into ``report_dir``."""
    args = [sys.executable, "-m", "pytest", f"{TEST_FILE}::test_cell[{rec['id']}]", "-q", "-p", "no:cacheprovider",
            "--converters", rec["converter"], "--opsets", str(rec["opset"]), "--tier", "full",
            "--causes", "none", "--report-dir", str(report_dir)]
    if rec.get("stack"):
        args += ["--stack", str(rec["stack"])]
    timeout = (doc.get("run") or {}).get("cell_timeout")
    if timeout:
        args += ["--cell-timeout", str(timeout)]
    module = rec.get("case_module") or ""
    if module.startswith(MODEL_PREFIX):
        path, _, inputs = module[len(MODEL_PREFIX):].partition("|")
        args += ["--model", path] + (["--inputs", inputs] if inputs else [])
    elif module and not module.startswith("cases."):
        args += ["--cases-module", module]
    loading = (doc.get("run") or {}).get("loading") or {}   # how the run loaded the user's files
    for path in loading.get("custom_objects") or []:
        args += ["--custom-objects", str(path)]
    if loading.get("unsafe_deserialization"):
        args.append("--unsafe-deserialization")
    conv_module = ((doc.get("converters") or {}).get(rec["converter"]) or {}).get("module") or ""
    if conv_module and not conv_module.startswith("conformance.converters."):
        args += ["--converters-module", conv_module]
    return args


def _rerun_record(proc: subprocess.CompletedProcess, scratch: Path, cell_id: str) -> dict:
    results = scratch / "results.json"
    if proc.returncode not in (0, 1) or not results.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ResultsError(f"the re-run of {cell_id} did not finish (pytest exit code {proc.returncode}):\n{tail}")
    for rec in json.loads(results.read_text(encoding="utf-8")).get("records") or []:
        if rec.get("id") == cell_id:
            return rec
    raise ResultsError(f"the re-run did not run the cell {cell_id} (is its case or converter module where the run "
                       "found it? relative paths resolve from the current directory)")


def main(cell_id: str, results_path: str | Path, out=print) -> int:
    results_path = Path(results_path)
    doc = load(results_path)
    rec = find_record(doc, cell_id)
    report_dir = results_path.resolve().parent
    scratch = Path(tempfile.mkdtemp(prefix=".repro-", dir=report_dir))
    try:
        cmd = command(rec, doc, scratch)
        out(f"running {cell_id} again (CONFORMANCE_REPRO=on) ...")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, CONFORMANCE_REPRO="on"))
        now = _rerun_record(proc, scratch, cell_id)
        status = f"observed now: {now.get('observed_status')}; recorded: {rec.get('observed_status')}"
        rep = now.get("repro") or {}
        if not rep.get("ok") or not rep.get("path"):
            why = rep.get("reason") or ("the cell passes now" if now.get("outcome") != "failed"
                                        and now.get("observed_status") == "PASS" else "no repro in the re-run's record")
            out(f"no repro written for {cell_id} ({status}): {why}")
            return 1
        src = (scratch / rep["path"]).parent
        dst = report_dir / "repro" / src.name
        if dst.exists():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        rep = dict(rep, path=str((dst / Path(rep["path"]).name).relative_to(report_dir)), on_demand=True,
                   observed_status=now.get("observed_status"))
        rec["repro"] = rep
        write(doc, results_path)
        out(f"wrote {dst / Path(rep['path']).name} ({status}); run it: python {dst / Path(rep['path']).name}")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
