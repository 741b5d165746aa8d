"""An upstream-ready report of one cause: ``python -m conformance.report issue CAUSE_ID RESULTS... [-o FILE]``.

A converter's maintainers want one bug, not forty cells: the report has a title, the package
versions, the smallest affected case (fewest Keras layers, then fewest parameters) with its
standalone repro *inline* (the model and its inputs embedded, so the script runs alone in a fresh
process anywhere the packages are installed), what was expected and what came out, the first
divergent layer where there is one, and every affected layer class, case, converter, opset and
stack.  Built from results files; only the repro of the smallest cell is made by running that one
cell again (``python -m conformance.report repro``), unless its folder is already there.
"""
from __future__ import annotations

import base64
import collections
import os
import subprocess
import sys
from pathlib import Path

from conformance import causes as causes_mod
from conformance.loader import converter_packages
from conformance.report.causes import rejudge
from conformance.report.merge import merge_docs, stacks_meta
from conformance.run.results import ResultsError, load

#: packages named in the report's version table, in this order (those a stack has): the suite's stack, then
#: what the converters need (their modules' ``packages``)
VERSION_PACKAGES = tuple(dict.fromkeys(("tensorflow", "tensorflow-cpu", "keras", "tf-keras", "tf2onnx", "onnx",
                                        "onnxruntime", "numpy")
                                       + tuple(p.replace("_", "-") for p in converter_packages())))
#: repros larger than this are linked, not inlined (a report is pasted into an issue)
INLINE_LIMIT = 400_000


def _layers(rec: dict) -> list[str]:
    return [n for n in (rec.get("facts") or {}).get("keras_layers") or [] if n != "InputLayer"]


def smallest_key(rec: dict) -> tuple:
    params = (rec.get("facts") or {}).get("keras_params")
    return (len(_layers(rec)) or 10**6, params if isinstance(params, int) else 10**12, int(rec["opset"]),
            rec["converter"], rec["case"])


def affected(doc: dict, cause_id: str) -> list[dict]:
    return [r for r in doc["records"] if r.get("cause") == cause_id and r.get("status") == "XFAIL"]


def inline_repro(folder: Path) -> str:
    """The repro script of ``folder`` with its model, inputs and custom objects' modules embedded (base64),
    runnable alone."""
    script = (folder / "repro.py").read_text(encoding="utf-8")
    blobs = {}
    # the model, its inputs and the modules of its custom objects (imported from the same folder)
    for p in [folder / "model.keras", folder / "inputs.npz", *sorted(folder.glob("*.py"))]:
        if p.is_file() and p.name != "repro.py":
            blobs[p.name] = base64.b64encode(p.read_bytes()).decode("ascii")
    anchor = "HERE = os.path.dirname(os.path.abspath(__file__))"
    if anchor not in script:
        raise ResultsError(f"{folder / 'repro.py'}: not a repro written by this suite (no {anchor!r})")
    embed = ["# the model and its inputs, embedded (base64) so that this file runs alone; written to a temporary folder",
             "import base64 as _b64, tempfile as _tmp",
             "HERE = _tmp.mkdtemp(prefix='repro-')",
             "_FILES = {"]
    embed += [f"    {name!r}: (\n" + "\n".join(f"        {data[i:i + 100]!r}" for i in range(0, len(data), 100)) + "),"
              for name, data in blobs.items()]
    embed += ["}", "for _name, _data in _FILES.items():",
              "    with open(os.path.join(HERE, _name), 'wb') as _fh:",
              "        _fh.write(_b64.b64decode(_data))"]
    return script.replace(anchor, "\n".join(embed), 1)


def _repro_folder(rec: dict, results_path: Path, run_repro: bool) -> tuple[Path | None, str]:
    rep = rec.get("repro") or {}
    if rep.get("path"):   # the script's path (repro/<cell id>/repro.py), relative to the results file
        p = Path(rep["path"])
        p = p if p.is_absolute() else results_path.parent / p
        p = p.parent if p.suffix == ".py" else p
        if (p / "repro.py").is_file():
            return p, ""
    if not run_repro:
        return None, "not made (--no-repro)"
    out = results_path.parent / "repro"
    cmd = [sys.executable, "-m", "conformance.report", "repro", rec["id"], "--results", str(results_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=dict(os.environ))
    cand = [p for p in (out / rec["id"], *out.glob(f"{rec['id']}*")) if (p / "repro.py").is_file()]
    if proc.returncode not in (0, 1) or not cand:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        return None, f"could not be made: `{' '.join(cmd[1:])}` said: {tail[0][:300]}"
    return cand[0], ""


def _versions(doc: dict, stacks: list[str]) -> list[str]:
    meta = stacks_meta(doc)
    env = meta.get(stacks[0], {}).get("environment", {})
    pks = {s: meta.get(s, {}).get("environment", {}).get("packages") or {} for s in stacks}

    def version(pk, p):
        return pk.get(p) or pk.get(p.replace("-", "_"))
    names = [p for p in VERSION_PACKAGES if any(version(pk, p) for pk in pks.values())]
    lines = ["| stack | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for s in stacks:
        lines.append(f"| {s} | " + " | ".join(str(version(pks[s], p) or "-") for p in names) + " |")
    py = env.get("python")
    if py:
        lines.append(f"\nPython {py}" + (f", {env.get('platform')}" if env.get("platform") else ""))
    return lines


def _outcome(rec: dict) -> list[str]:
    stages = rec.get("stages") or {}
    cmp_ = stages.get("compare") or {}
    lines = []
    if rec.get("observed_status") == "MISMATCH" and cmp_.get("failures"):
        lines.append("Expected: onnxruntime's outputs equal Keras's within the case's tolerance, at both batch sizes.")
        lines.append("Got:")
        lines += [f"    {f}" for f in cmp_["failures"][:4]]
    else:
        stage = rec.get("stage") or "?"
        lines.append(f"Expected: the converted model passes `{stage}` (a valid, runnable ONNX model that matches Keras).")
        lines.append(f"Got ({rec.get('observed_status')} at {stage}):")
        lines.append("    " + " ".join(str(stages.get(stage, {}).get("error")
                                          or "; ".join(stages.get(stage, {}).get("problems", []) or [])
                                          or rec.get("signature") or "").split())[:1200])
    return lines


def write_issue(cause_id: str, results: list[str | Path], registry: list, repro: bool = True) -> str:
    """The markdown report of ``cause_id`` from ``results`` files (judged against ``registry`` first)."""
    cause, doc, recs, paths = affected_cells(cause_id, results, registry)
    small = min(recs, key=smallest_key)
    folder, why = _repro_folder(small, results_path_of(small, paths), repro)
    return "\n".join(compose(cause, doc, recs, small, folder, why))


def affected_cells(cause_id: str, results: list[str | Path], registry: list) -> tuple:
    """(cause, the merged and re-judged document, the cells it explains, the results paths)."""
    by_id = {c.id: c for c in registry}
    if cause_id not in by_id:
        raise ResultsError(f"issue: no cause {cause_id!r} in the registry ({len(by_id)} causes; see causes.toml)")
    targets = sorted({t for s in by_id[cause_id].scopes for t in s.targets or ()})
    if targets:  # a target's run has no repro of its own: its report is written by hand, repro included
        raise ResultsError(f"issue: cause {cause_id!r} names the target(s) {', '.join(targets)}, not cells; "
                           "report issue drafts from a cell's repro (a target's report is written by hand: "
                           "docs/upstream/openvino-resize-exclude-outside.md is one)")
    paths = [Path(p) for p in results]
    docs = [(str(p), load(p)) for p in paths]
    doc = docs[0][1] if len(docs) == 1 else merge_docs(docs)
    doc = rejudge(doc, registry)[0]
    recs = affected(doc, cause_id)
    if not recs:
        raise ResultsError(f"issue: no cell of {', '.join(map(str, paths))} shows cause {cause_id!r}")
    return by_id[cause_id], doc, recs, paths


def results_path_of(rec: dict, paths: list[Path]) -> Path:
    """The results file that holds ``rec`` (several stacks: the one whose records have its id)."""
    if len(paths) > 1:
        for p in paths:
            if any(r.get("id") == rec["id"] and str(r.get("stack") or "default") == str(rec.get("stack") or "default")
                   for r in load(p)["records"]):
                return p
    return paths[0]


def compose(cause, doc: dict, recs: list[dict], small: dict, folder: Path | None, why: str,
            minimized: dict | None = None) -> list[str]:
    """The report's lines.  ``minimized`` (``{"record", "line", "left"}``): the reducer's smallest model of
    ``small``, whose cell and repro the report shows instead of the case."""
    stacks = sorted({str(r.get("stack") or "default") for r in recs})
    layers = collections.Counter(n for r in recs for n in set(_layers(r)))
    convs = sorted({r["converter"] for r in recs})
    opsets = sorted({int(r["opset"]) for r in recs})
    cases = sorted({r["case"] for r in recs})

    out = [f"# {cause.title}", ""]
    out += [f"{cause.reason}", ""]
    out += [f"Found by the Keras -> ONNX conformance suite (cause `{cause.id}`, kind: {cause.kind}): "
            f"{len(recs)} cells, {len(cases)} cases, converter rows {', '.join(convs)}, opsets "
            f"{', '.join(map(str, opsets))}.", ""]
    out += ["## Versions", ""] + _versions(doc, stacks) + [""]
    shown = small
    if minimized:
        shown = minimized["record"]
        out += ["## Smallest failing model", ""]
        out += [f"Minimised by the suite's reducer (`python -m conformance.report minimize`) from the smallest affected "
                f"case, `{small['case']}` converted by `{small['converter']}` at opset {small['opset']}: "
                f"{minimized['line']}.", ""]
        out += [f"The model left: {minimized.get('left') or ', '.join(_layers(shown)) or 'unknown'}"
                + (f" ({shown['facts']['keras_params']} parameters)" if (shown.get("facts") or {}).get("keras_params")
                   is not None else "") + f", converted by `{shown['converter']}` at opset {shown['opset']}.", ""]
    else:
        out += ["## Smallest affected case", ""]
        desc = small.get("description") or ""
        out += [f"`{small['case']}` ({desc.rstrip('.')}; layers: {', '.join(_layers(small)) or 'unknown'}"
                + (f"; {small['facts']['keras_params']} parameters" if (small.get("facts") or {}).get("keras_params")
                   is not None else "") + f"), converted by `{small['converter']}` at opset {small['opset']}.", ""]
    conv = (shown.get("stages") or {}).get("convert") or {}
    if conv.get("command"):
        out += ["The conversion, as the cell ran it:", "", "```", str(conv["command"])[:2000], "```", ""]
    out += _outcome(shown) + [""]
    div = shown.get("divergence") or {}
    if div.get("ok") and div.get("layer"):
        c = div.get("comparison") or {}
        where = (f"layer {div.get('position')} of {div.get('layers')}, " if div.get("position") else "") \
            + f"found by {div.get('method') or 'the search'}"
        what = (f": {c.get('mismatched')}/{c.get('total')} elements outside rtol={c.get('rtol')}, atol={c.get('atol')}, "
                f"max abs err {c.get('max_abs'):.3g}" if isinstance(c.get("max_abs"), (int, float)) else "")
        out += ["## First divergent layer", "",
                f"`{div.get('layer')}` ({div.get('class') or ''}; {where}){what}.", ""]
    elif shown.get("divergence"):
        out += ["## First divergent layer", "", " ".join(str(div.get("reason") or "not found").split())[:400], ""]
    second = shown.get("second_opinion") or {}
    if second.get("verdict"):
        out += [f"onnx's reference evaluator: {second['verdict']} ({' '.join(str(second.get('detail') or '').split())[:300]})", ""]
    out += [REPRO_HEADING, ""]
    if folder is not None:
        text = inline_repro(folder)
        if len(text) <= INLINE_LIMIT:
            out += ["Save as `repro.py` and run `python repro.py` (numpy, the converter, onnx and onnxruntime "
                    "installed); it prints the cell's status and exits 1 while the bug is there.", "",
                    "```python", text.rstrip(), "```", ""]
        else:
            out += [f"The repro is {len(text) // 1000} kB with its model embedded: attach {folder.name}/ (repro.py, "
                    "model.keras, inputs.npz).", ""]
    else:
        out += [f"The repro {why}.", ""]
    out += ["## Affected", ""]
    if layers:
        out += ["Keras layer classes (cells): " + ", ".join(f"{n} ({k})" for n, k in layers.most_common()), ""]
    out += ["| case | converter | opsets | stacks |", "|---|---|---|---|"]
    grid: dict[tuple, tuple[set, set]] = collections.defaultdict(lambda: (set(), set()))
    for r in recs:
        o, s = grid[(r["case"], r["converter"])]
        o.add(int(r["opset"]))
        s.add(str(r.get("stack") or "default"))
    for (case, c), (o, s) in sorted(grid.items()):
        out.append(f"| {case} | {c} | {', '.join(map(str, sorted(o)))} | {', '.join(sorted(s))} |")
    out += ["", f"Link: {cause.link}" if cause.link != causes_mod.NOT_REPORTED else "Not reported upstream yet.", ""]
    return out


#: the heading the inline repro follows (``report upstream --check`` finds the script under it)
REPRO_HEADING = "## Standalone repro"
