"""The HTML compatibility matrix: one self-contained page built from results documents.

Rows are cases grouped by family, columns are stack x converter x opset; every
cell is coloured by its (already decided) status and opens a detail view.  All
text goes through Jinja2 with autoescape, because reasons and errors contain
``<``, ``>`` and quotes.  Several results files become several stacks side by
side; a baseline diff marks the changed cells.
"""
from __future__ import annotations

import collections
import datetime
import json
import math
import os
import shlex
from pathlib import Path

import jinja2

from conformance.report import diff as diff_mod
from conformance.report.merge import merge_docs, stacks_meta
from conformance.report.speedup import load_speedup, speedup_view
from conformance.run import statuses
from conformance.run.results import load

CHANGE_MARK = {"regression": "\u25bc", "fix": "\u25b2", "changed": "\u2022", "new": "+"}
TRACE_LIMIT = 4000

def make_env(undefined=jinja2.Undefined) -> jinja2.Environment:
    """The page's Jinja2 environment (autoescape on).  Missing keys of older or partial records
    render empty; the project's tests render with StrictUndefined to catch template mistakes."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.report", "templates"),
        autoescape=True,
        undefined=undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["secs"] = _secs
    env.filters["safe_link"] = _safe_link
    return env


def _fmt(value) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0:
            return "0"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _secs(value) -> str:
    text = _fmt(value)
    return text if text == "-" else text + " s"


def _safe_link(url) -> str | None:
    url = str(url or "").strip()
    return url if url.startswith(("https://", "http://")) else None




# ---------------------------------------------------------------- combining inputs

def _relabel(doc: dict, old: str, new: str) -> dict:
    doc = json.loads(json.dumps(doc))  # deep copy; records are plain JSON
    for r in doc["records"]:
        if str(r.get("stack") or "default") == old:
            r["stack"] = new
    meta = stacks_meta(doc)
    if old in meta:
        m = meta.pop(old)
        m["environment"] = dict(m.get("environment", {}), stack=new)
        meta[new] = m
    doc["stacks"] = meta
    return doc


def combine(docs: list[tuple[str, dict]]) -> dict:
    """Several results documents as one for the page.  Files of one stack with disjoint cells
    (shards) join; a stack label that two files use with different package versions, or for the
    same cells (e.g. two runs both called 'default'), is told apart by the file name."""
    if len(docs) == 1:
        return docs[0][1]
    seen: dict[str, tuple[set, dict | None]] = {}
    fixed = []
    for label, doc in docs:
        for name, meta in list(stacks_meta(doc).items()):
            keys = {(r["case"], r["converter"], int(r["opset"])) for r in doc["records"]
                    if str(r.get("stack") or "default") == name}
            pkgs = meta.get("environment", {}).get("packages")
            if name in seen and (seen[name][0] & keys or (pkgs and seen[name][1] and pkgs != seen[name][1])):
                new = f"{name} ({Path(label).stem})"
                n = 2
                while new in seen:
                    new, n = f"{name} ({Path(label).stem} {n})", n + 1
                doc = _relabel(doc, name, new)
                name = new
            old_keys = seen.get(name, (set(), None))[0]
            seen[name] = (old_keys | keys, pkgs)
        fixed.append((label, doc))
    return merge_docs(fixed)


# ---------------------------------------------------------------- the view model

def _deciding_stage(rec: dict) -> tuple[str, dict] | None:
    """The stage that decided the record's status: ``verdict.decide`` wrote its name in the record
    (results files written before records carried it: asked of the same ``decide``)."""
    if "stage" in rec:
        name = rec["stage"]
    else:
        from conformance.run.verdict import decide

        name = decide(rec.get("stages") or {}).stage
    st = (rec.get("stages") or {}).get(name) if name else None
    return (name, st) if isinstance(st, dict) else None


def _repro(rec: dict, converter_module: str | None) -> str:
    """The command that reruns exactly this cell (the node id plus the options that select it)."""
    nodeid = rec.get("nodeid") or f"conformance/test_matrix.py::test_cell[{rec.get('id')}]"
    rest = ["--converters", str(rec["converter"]), "--opsets", str(rec["opset"])]
    if rec.get("case_module") and not str(rec["case_module"]).startswith("cases."):
        rest += ["--cases-module", str(rec["case_module"])]
    if converter_module and not converter_module.startswith("conformance.converters."):
        rest += ["--converters-module", converter_module]
    if rec.get("stack") and rec["stack"] != "default":
        rest += ["--stack", str(rec["stack"])]
    return f'pytest "{nodeid}" ' + shlex.join(rest)


def _comparisons(stages: dict) -> list[dict]:
    out = []
    for b in (stages.get("compare") or {}).get("batches", []) or []:
        for o in b.get("outputs", []) or []:
            out.append(dict(o, batch=b.get("batch")))
    return out


def _cell_view(rec: dict, idx: int, meta: dict, change: diff_mod.Change | None) -> dict:
    stages = rec.get("stages") or {}
    facts = rec.get("facts") or {}
    conv_info = (meta.get("converters") or {}).get(rec["converter"], {})
    fail = _deciding_stage(rec)
    error = None
    if fail:
        name, st = fail
        text = (st.get("error") or st.get("reason") or "; ".join(map(str, st.get("problems", []) or []))
                or "; ".join(map(str, st.get("failures", []) or [])) or "no detail recorded")
        tb = str(st.get("traceback") or "")
        error = {"stage": name, "text": text, "traceback": tb[-TRACE_LIMIT:] if tb else ""}
    hist = facts.get("op_histogram") or {}
    if isinstance(hist, dict):
        hist = sorted(hist.items(), key=lambda kv: (-kv[1] if isinstance(kv[1], (int, float)) else 0, kv[0]))
    else:
        hist = []
    other_facts = [(k, v) for k, v in sorted(facts.items())
                   if k not in ("op_histogram", "keras_inputs", "keras_outputs")]
    convert = stages.get("convert") or {}
    status = str(rec.get("status"))
    return {
        "idx": idx,
        "id": rec.get("id") or f"{rec['case']}-{rec['converter']}-opset{rec['opset']}",
        "rec": rec,
        "status": status,
        "short": statuses.facts(status).short,
        "css": status if status in statuses.SHORT else "OTHER",
        "error": error,
        "hist": hist,
        "facts": other_facts,
        "io": {"inputs": facts.get("keras_inputs") or [], "outputs": facts.get("keras_outputs") or []},
        "comparisons": _comparisons(stages),
        "signature_problems": (stages.get("signature") or {}).get("problems") or [],
        "convert_seconds": convert.get("seconds"),
        "convert_command": convert.get("command"),
        "build": stages.get("build") or {},
        "repro": _repro(rec, conv_info.get("module")),
        "change": change,
        "mark": CHANGE_MARK.get(change.kind, "") if change else "",
        "expectation": rec.get("expectation"),
    }


def _pass_rate(counts: collections.Counter) -> tuple[float | None, int]:
    tried = sum(n for s, n in counts.items() if statuses.tried(s))
    passing = sum(n for s, n in counts.items() if s in statuses.PASSING)
    return (passing / tried if tried else None), tried


def build_view(doc: dict, *, baseline: dict | None = None, baseline_label: str = "",
               speedup: dict | None = None, sources: list[str] | None = None, title: str | None = None) -> dict:
    records = doc["records"]
    meta = stacks_meta(doc)
    stacks = list(meta)
    for r in records:
        s = str(r.get("stack") or "default")
        if s not in stacks:
            stacks.append(s)
    conv_order: list[str] = []
    for m in meta.values():
        for run in m.get("runs", []):
            for c in run.get("converters", []):
                if c not in conv_order:
                    conv_order.append(c)
    for c in sorted({r["converter"] for r in records}):
        if c not in conv_order:
            conv_order.append(c)

    the_diff = diff_mod.diff(baseline, doc) if baseline is not None else None
    changes: dict[tuple, diff_mod.Change] = {}
    if the_diff is not None:
        only = stacks[0] if not the_diff.by_stack else None
        for c in the_diff.changes:
            if c.new is not None:
                st, case, conv, opset = c.key
                changes[(only or st, case, conv, opset)] = c

    present = {(str(r.get("stack") or "default"), r["converter"], int(r["opset"])) for r in records}
    columns = [{"stack": s, "converter": c, "opset": o, "key": f"{s}|{c}|{o}"}
               for s in stacks for c in conv_order
               for o in sorted({p[2] for p in present if p[0] == s and p[1] == c})]
    col_index = {(c["stack"], c["converter"], c["opset"]): i for i, c in enumerate(columns)}

    cells, families = [], collections.OrderedDict()
    by_case: dict[str, dict] = {}
    for idx, r in enumerate(sorted(records, key=lambda r: (r.get("family", ""), r["case"]))):
        st = str(r.get("stack") or "default")
        k = (st, r["case"], r["converter"], int(r["opset"]))
        view = _cell_view(r, idx, meta.get(st, {}), changes.get(k))
        if len(stacks) > 1:  # the same cell id exists once per stack
            view["id"] = f"{view['id']}@{st}"
        cells.append(view)
        row = by_case.get(r["case"])
        if row is None:
            row = by_case[r["case"]] = {"case": r["case"], "description": r.get("description") or "",
                                        "tags": r.get("tags") or [], "keras": r.get("keras") or "",
                                        "family": r.get("family") or "other", "cells": [None] * len(columns)}
            families.setdefault(row["family"], []).append(row)
        row["cells"][col_index[(st, r["converter"], int(r["opset"]))]] = view

    summary = []
    for s in stacks:
        convs = meta.get(s, {}).get("converters", {})
        for c in conv_order:
            recs = [r for r in records if str(r.get("stack") or "default") == s and r["converter"] == c]
            if not recs:
                continue
            counts = collections.Counter(str(r["status"]) for r in recs)
            rate, tried = _pass_rate(counts)
            info = convs.get(c, {})
            version = info.get("version") or next(
                (r.get("facts", {}).get("converter_version") for r in recs
                 if r.get("facts", {}).get("converter_version")), None)
            available = info.get("available")  # run.matrix.converters_summary decided it from the records
            summary.append({"stack": s, "converter": c, "summary": info.get("summary") or recs[0].get("converter_summary"),
                            "version": version, "available": available,
                            "unavailable_reason": info.get("reason"), "total": len(recs), "tried": tried,
                            "rate": rate, "counts": counts})
    statuses_present = [s for s in statuses.ORDER if any(c["status"] == s for c in cells)] + sorted(
        {c["status"] for c in cells} - set(statuses.ORDER))

    envs = {s: meta.get(s, {}).get("environment", {}) for s in stacks}
    packages = sorted({p for e in envs.values() for p in (e.get("packages") or {})})
    runs = [(s, run) for s in stacks for run in meta.get(s, {}).get("runs", [])]
    stale = [(s, e) for s in stacks for e in meta.get(s, {}).get("stale_expectations", []) or []]

    return {
        "title": title or "Keras \u2192 ONNX compatibility matrix",
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": sources or [],
        "stacks": stacks,
        "converters": conv_order,
        "columns": columns,
        "families": families,
        "cells": cells,
        "summary": summary,
        "statuses": statuses_present,
        "all_statuses": statuses.ORDER,
        "short": statuses.SHORT,
        "envs": envs,
        "packages": packages,
        "runs": runs,
        "stale": stale,
        "diff": the_diff,
        "baseline_label": baseline_label,
        "change_mark": CHANGE_MARK,
        "speedup": speedup_view(speedup) if speedup is not None else None,
        "not_tried": sorted(statuses.NOT_TRIED),
    }


# ---------------------------------------------------------------- rendering

def render(doc: dict, env: jinja2.Environment | None = None, **kwargs) -> str:
    return (env or make_env()).get_template("matrix.html.j2").render(**build_view(doc, **kwargs))


def write_html(doc: dict, out: str | Path, **kwargs) -> Path:
    """Render and write the page atomically, readable like any other output file (not 0600)."""
    from conformance.run.results import atomic_write

    out = Path(out)
    atomic_write(out, render(doc, **kwargs))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(out, 0o666 & ~mask)
    return out


def render_files(paths: list[str | Path], out: str | Path, baseline: str | Path | None = None,
                 speedup: str | Path | None = None, title: str | None = None) -> Path:
    docs = [(str(p), load(p)) for p in paths]
    doc = combine(docs)
    base = load(baseline) if baseline else None
    # a benchmark run attaches its table to results.json ("speedup"); --speedup FILE overrides it
    sp = load_speedup(speedup) if speedup else next((d["speedup"] for _, d in docs if d.get("speedup")), None)
    return write_html(doc, out, baseline=base, baseline_label=str(baseline or ""), speedup=sp,
                      sources=[str(p) for p in paths], title=title)
