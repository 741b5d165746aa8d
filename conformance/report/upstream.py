"""Drafted upstream reports, one a cause: ``python -m conformance.report upstream RESULTS... [--cause ID]...``.

A cause that is a converter's or a runtime's bug (kinds :data:`conformance.statuses.BUG_KINDS`) and whose
link is not an upstream issue or pull request owes its converter a report (:attr:`Cause.owes_report`).
For each such cause seen in RESULTS this writes ``docs/upstream/<cause id>.md``:

1. the cause's smallest affected cell (:func:`conformance.report.issue.smallest_key`) is reduced by the
   reducer (:func:`conformance.minimize.run.minimize`) to the smallest Keras model that fails the same way;
   a model the reducer cannot cut (a Keras 2 model) keeps its case, and the draft says why;
2. the report is ``report issue``'s (:func:`conformance.report.issue.compose`), built from the smallest
   model's own cell and its standalone repro, inlined with the model and its inputs;
3. **the check**: the repro block of the draft is saved alone in a temporary folder outside the checkout
   and run with ``python repro.py`` (no ``PYTHONPATH``, no suite variable); it must exit 1 with one of the
   cause's statuses.  The draft ends with what it printed, the versions and the date.

``--check FILE.md...`` runs the check again on drafts already written (exit 1 if one no longer shows its
failure: the bug is fixed on these versions, or the draft is wrong).
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from conformance.report.portable import portable_text
from conformance.report.issue import (REPRO_HEADING, _repro_folder, affected_cells, compose, results_path_of,
                                      smallest_key)
from conformance.run.results import ResultsError
from conformance.statuses import Status

#: where the drafts live, relative to the checkout
FOLDER = Path("docs/upstream")
#: the first line of a generated draft (a hand-written draft without it is never overwritten)
MARK = "<!-- drafted by python -m conformance.report upstream; edit the cause (causes.toml), then draft again -->"
#: the section the check writes
CHECK_HEADING = "## Checked"
_STATUSES = frozenset(s.value for s in Status)
_BLOCK = re.compile(re.escape(REPRO_HEADING) + r".*?```python\n(.*?)\n```", re.S)


def repro_of(draft: str) -> str | None:
    """The standalone repro script inlined in a draft (None: the draft has none)."""
    m = _BLOCK.search(draft)
    return m.group(1) if m else None


def run_alone(script: str, timeout: float = 900) -> tuple[int | None, str]:
    """Run ``script`` as ``repro.py`` in a fresh temporary folder outside any checkout, without the suite's
    environment: (exit code, None on a timeout; the last line it printed)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("CONFORMANCE_")}
    with tempfile.TemporaryDirectory(prefix="upstream-repro-") as tmp:
        Path(tmp, "repro.py").write_text(script, encoding="utf-8")
        try:
            proc = subprocess.run([sys.executable, "repro.py"], cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, f"did not finish in {timeout:.0f} s"
    return proc.returncode, said(proc.stdout or "", proc.stderr or "")


def said(stdout: str, stderr: str) -> str:
    """What a repro printed: its ``STATUS: reason`` (the status line and what follows it), else its last line."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.split(":", 1)[0] in _STATUSES:
            return " ".join(lines[i:i + 4])[:600]
    lines = lines or [ln.strip() for ln in stderr.splitlines() if ln.strip()] or ["(no output)"]
    return lines[-1][:600]


def shows(statuses, code: int | None, line: str) -> bool:
    """The repro shows the failure: exit 1 and its line starts with one of the cause's statuses."""
    return code == 1 and line.split(":", 1)[0].strip() in set(statuses)


def _versions_line() -> str:
    from importlib import metadata

    have = []
    for name in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "jax", "jax2onnx", "torch", "numpy"):
        try:
            have.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(have) + f"; Python {sys.version.split()[0]}"


def check_lines(cause, code: int | None, line: str) -> list[str]:
    today = datetime.date.today().isoformat()
    verdict = "shows the failure" if shows(cause.statuses, code, line) else "does NOT show the failure"
    return [CHECK_HEADING, "",
            f"{today}: the repro above, saved alone as `repro.py` in an empty temporary folder outside the "
            f"checkout and run with `python repro.py` ({_versions_line()}), exited {code} and printed:", "",
            "```", line, "```", "", f"It {verdict} (`{'|'.join(cause.statuses)}`).", ""]


@dataclasses.dataclass
class Attempt:
    """One affected cell tried for a draft: its smallest model (or why it was not reduced) and its repro folder."""
    cell: dict
    minimized: dict | None = None
    not_reduced: str = ""
    folder: Path | None = None
    why: str = ""


def attempt(cause, small: dict, path: Path, work: Path, budget: float, log) -> Attempt:
    from conformance.minimize.run import RECORD, MinimizeError, minimize

    out = work / "min"
    try:
        red = minimize(small["id"], path, out, budget, log=lambda line: None)
    except MinimizeError as exc:
        log(f"{cause.id}: not reduced ({exc}); the case as written")
        folder, why = _repro_folder(small, path, True)
        return Attempt(small, not_reduced=str(exc), folder=folder, why=why)
    log(f"{cause.id}: {red.line()}")
    folder = out / "repro" if (out / "repro" / "repro.py").is_file() else None
    return Attempt(small, {"record": json.loads((out / RECORD).read_text(encoding="utf-8")), "line": red.line(),
                           "left": red.layers},
                   folder=folder, why="" if folder else "not written for the smallest model")


def draft(cause, results: list[str | Path], registry: list, budget: float, log=print) -> tuple[str, bool]:
    """The draft of ``cause`` (markdown) and whether its repro, run alone, showed the failure.  The affected cells
    are tried smallest first (:func:`draft_key`) until one gives a standalone repro (a model Keras cannot save
    as a file has none), at most :data:`TRIES`."""
    _, doc, recs, paths = affected_cells(cause.id, results, registry)
    missed: list[Attempt] = []
    with tempfile.TemporaryDirectory(prefix=f"upstream-{cause.id}-") as tmp:
        for i, rec in enumerate(sorted(recs, key=lambda r: draft_key(r, cause))[:TRIES]):
            got = attempt(cause, rec, results_path_of(rec, paths), Path(tmp) / str(i), budget, log)
            if got.folder is not None:
                break
            missed.append(got)
        lines = compose(cause, doc, recs, got.cell, got.folder, got.why, minimized=got.minimized)
    if got.minimized is None:
        at = lines.index("## Smallest affected case") + 1
        lines[at:at] = ["", f"Not reduced: {got.not_reduced}."]
    if missed and got.folder is not None:
        lines.insert(lines.index(REPRO_HEADING) + 1, "\nSmaller cells without a standalone repro: "
                     + "; ".join(f"`{m.cell['id']}` ({m.why})" for m in missed) + ".")
    text = "\n".join(lines)
    script = repro_of(text)
    if script is not None:   # the repro runs as written; the words around it lose this machine's paths
        head, _, tail = text.partition(script)
        text = portable_text(head) + script + portable_text(tail)
    else:
        text = portable_text(text)
    if script is None:
        return MARK + "\n" + text, False
    code, line = run_alone(script)
    ok = shows(cause.statuses, code, line)
    log(f"{cause.id}: the repro alone exited {code}: {line[:160]}")
    return MARK + "\n" + text.rstrip() + "\n\n" + "\n".join(check_lines(cause, code, line)), ok


#: how many of a cause's smallest cells a draft tries for a standalone repro
TRIES = 4


#: converter rows in the order a draft prefers them (the converter's own API first: a maintainer re-runs that)
PREFERRED_ROWS = ("tf2onnx-keras", "tf2onnx-cli", "tf2onnx-graphdef", "tf2onnx-graphdef-functional")


def draft_key(rec: dict, cause) -> tuple:
    """The cell a draft starts from: fewest layers and parameters (``smallest_key``), then the converter's
    own API over a route through another package, then the highest opset (the converter's newest code)."""
    layers, params, opset, converter, case = smallest_key(rec)
    rank = PREFERRED_ROWS.index(converter) if converter in PREFERRED_ROWS else len(PREFERRED_ROWS)
    return layers, params, rank, -opset, converter, case


def owing(registry: list, wanted: list[str] | None) -> list:
    by_id = {c.id: c for c in registry}
    unknown = [w for w in wanted or [] if w not in by_id]
    if unknown:
        raise ResultsError(f"upstream: no cause {', '.join(map(repr, unknown))} in the registry")
    chosen = [by_id[w] for w in wanted] if wanted else [c for c in registry if c.owes_report]
    return chosen


def main(results: list[str], registry: list, wanted: list[str] | None, out_dir: str | Path, budget: float,
         force: bool = False) -> int:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for cause in owing(registry, wanted):
        target = out_dir / f"{cause.id}.md"
        if target.is_file() and not target.read_text(encoding="utf-8").startswith(MARK) and not force:
            print(f"{cause.id}: {target} is written by hand; kept (--force replaces it)")
            continue
        try:
            text, ok = draft(cause, results, registry, budget)
        except ResultsError as exc:
            print(f"{cause.id}: no draft: {exc}")
            continue
        target.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {target}" + ("" if ok else ": its repro, run alone, did NOT show the failure"))
        failed += not ok
    return 1 if failed else 0


def check(drafts: list[str], registry: list) -> int:
    """Run the repro of each draft alone again: exit 1 if one no longer shows its cause's failure."""
    by_id = {c.id: c for c in registry}
    failed = 0
    for d in drafts:
        p = Path(d)
        if not p.is_file():
            raise ResultsError(f"{d}: no such draft")
        cause = by_id.get(p.stem)
        if cause is None:
            raise ResultsError(f"{d}: no cause {p.stem!r} in the registry (a draft is named after its cause)")
        script = repro_of(p.read_text(encoding="utf-8"))
        if script is None:
            print(f"{p.stem}: no inline repro")
            failed += 1
            continue
        code, line = run_alone(script)
        ok = shows(cause.statuses, code, line)
        print(f"{p.stem}: {'shows' if ok else 'does NOT show'} its failure (exit {code}): {line[:200]}")
        failed += not ok
    return 1 if failed else 0
