"""The HTML compatibility matrix: one self-contained page built from results documents.

Rows are cases grouped by family, columns are stack x converter x opset; every
cell is coloured by its (already decided) status and opens a detail view.  All
text goes through Jinja2 with autoescape, because reasons and errors contain
``<``, ``>`` and quotes.  Several results files become several stacks side by
side; a baseline diff marks the changed cells.

The page leads with what matters: a converter that cannot be imported (every cell of its stack
observed ``UNAVAILABLE``) is one line above the tables, not columns; then the changed cells (with
a baseline), the unexpected failures (by signature), the silent wrong answers, the expected
failures (by cause) and the passes; then the causes seen in the run, each opening into its cells.
Status colours come from the status table (``conformance/statuses.py``, ``colour``); the stage that
decided a cell shows with its label from the stage table (``conformance/stages.py``).
"""
from __future__ import annotations

import base64
import collections
import gzip
import datetime
import json
import math
import os
import re
import shlex
from pathlib import Path

import jinja2
from markupsafe import Markup

from conformance.report import diff as diff_mod, route as route_mod
from conformance.report.merge import merge_docs, stacks_meta
from conformance.report.layers import layer_classes, view as layers_view
from conformance.report.deploy import view as deploy_view
from conformance.report.models import view as models_view
from conformance.report.speedup import load_speedup, speedup_view
from conformance import stages as stage_table, statuses
from conformance.run.results import load

CHANGE_MARK = {"regression": "\u25bc", "fix": "\u25b2", "changed": "\u2022", "new": "+"}
TRACE_LIMIT = 4000
#: observed statuses that are silent wrong answers: the model converts and runs, and its answer is wrong
SILENT = ("MISMATCH", "SIGNATURE")
#: a cause's kind when the results file does not say (an unknown id, an old file's expectation entry)
#: the groups of "failures and changes first", in order (a cell is in the first that takes it)
ATTENTION = (("changed", "Changed against the baseline"), ("unexpected", "Unexpected failures"),
             ("silent", "Silent wrong answers (expected)"), ("expected", "Expected failures"),
             ("pass", "Passes"), ("not_tried", "Not tried"))
#: rows of one group of that table (expected failures: the first few; the causes table has them all)
ATTENTION_ROWS = {"expected": 10}
ATTENTION_ROWS_DEFAULT = 60
#: packages a cause's "seen on" names when its ``when`` names none
SEEN_PACKAGES = ("tf2onnx", "tensorflow", "keras", "onnx", "onnxruntime")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

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
    merged = merge_docs(fixed)
    # the registry of causes of every input (merge_docs keeps them too; this keeps any it does not)
    causes: dict = {}
    for _, doc in fixed:
        for cid, info in causes_of(doc).items():
            causes.setdefault(cid, info)
    if causes:
        merged["causes"] = dict(causes, **(merged.get("causes") or {}))
    return merged


def causes_of(doc: dict) -> dict[str, dict]:
    """The registry of causes a results document carries (``causes``; per stack in a merged one)."""
    out = dict(doc.get("causes") or {})
    for meta in (doc.get("stacks") or {}).values():
        if isinstance(meta, dict):
            for cid, info in (meta.get("causes") or {}).items():
                out.setdefault(cid, info)
    return out


def _stale_list(doc: dict, stacks: list[str]) -> list[tuple[str, str]]:
    """(stack, cause id) of the stale causes: per stack when the document keeps them per stack,
    else the document's own list (a single run's, or what a merge kept)."""
    metas = doc.get("stacks") if isinstance(doc.get("stacks"), dict) else {}
    if any(isinstance(m, dict) and "stale_causes" in m for m in metas.values()):
        return [(s, str(c)) for s in stacks for c in (metas.get(s) or {}).get("stale_causes") or []]
    label = stacks[0] if len(stacks) == 1 else ", ".join(stacks)
    return [(label, str(c)) for c in doc.get("stale_causes") or []]


def status_colours() -> list[dict]:
    """The CSS of every status from the status table's ``colour`` (text colour: whichever of dark
    and white reads better on it), plus ``OTHER`` for a status this code does not know."""
    rows = [(s.value, f.colour) for s, f in statuses.TABLE.items()] + [("OTHER", statuses.facts("OTHER").colour)]
    return [{"name": name, "bg": c if _HEX.match(str(c)) else "#999999", "fg": _text_colour(c)} for name, c in rows]


def _text_colour(colour: str) -> str:
    c = str(colour).lstrip("#")
    if not _HEX.match("#" + c):
        return "#ffffff"
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)

    def lin(v: int) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(int(c[0:2], 16)) + 0.7152 * lin(int(c[2:4], 16)) + 0.0722 * lin(int(c[4:6], 16))
    dark = 0.0137  # relative luminance of #1d2327, the page's text colour
    return "#1d2327" if (lum + 0.05) / (dark + 0.05) >= 1.05 / (lum + 0.05) else "#ffffff"


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


#: fields of a comparison, in the order the page's data holds them
CMP_FIELDS = ["batch", "output", "passed", "max_abs", "max_rel", "mean_abs", "p99_abs", "min_passing_atol",
              "min_passing_rtol", "mismatched", "total", "rtol", "atol", "problem"]
#: facts shown elsewhere on the page (or per case): left out of a cell's facts table
_FACTS_SHOWN = {"op_histogram", "keras_inputs", "keras_outputs", "max_abs_error", "max_rel_error", "onnx_inputs",
                "onnx_outputs"}


def _num(v):
    """Numbers for the page's data: 4 significant digits (the page shows that much)."""
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return float(f"{v:.4g}")
    return v


def _comparisons(stages: dict) -> list[list]:
    out = []
    for b in (stages.get("compare") or {}).get("batches", []) or []:
        for o in b.get("outputs", []) or []:
            row = dict(o, batch=b.get("batch"))
            out.append([_num(row.get(k)) for k in CMP_FIELDS])
    return out


class Strings:
    """A string table for the page's data: a string that occurs more than once is stored once (reasons,
    tracebacks and expectation entries repeat across opsets); a value is then ``"~N"``."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self.table: list[str] = []
        self.index: dict[str, int] = {}

    def count(self, obj) -> None:
        if isinstance(obj, str):
            self.counts[obj] += 1
        elif isinstance(obj, dict):
            for v in obj.values():
                self.count(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                self.count(v)

    def pack(self, obj):
        if isinstance(obj, str):
            if obj.startswith("~") or (len(obj) >= 12 and self.counts[obj] > 1):
                if obj not in self.index:
                    self.index[obj] = len(self.table)
                    self.table.append(obj)
                return f"~{self.index[obj]}"
            return obj
        if isinstance(obj, dict):
            return {k: self.pack(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.pack(v) for v in obj]
        return obj


def _divergence_view(div) -> dict | None:
    if not isinstance(div, dict):
        return None
    from conformance.lines import divergence_line as summary

    out = {"ok": bool(div.get("ok")), "line": summary(div)}
    for k in ("method", "layer", "class", "position", "layers", "batch", "tensor", "previous", "problem", "reason"):
        if div.get(k) is not None:
            out[k] = div[k]
    if div.get("config") is not None:
        out["config"] = json.dumps(div["config"], sort_keys=True, default=str)[:1500]
    c = div.get("comparison")
    if isinstance(c, dict):
        out["cmp"] = [_num(c.get(k)) for k in CMP_FIELDS]
    if div.get("probes"):
        out["probes"] = [[p.get("layer"), bool(p.get("ok")), p.get("problem") or ""] for p in div["probes"]]
    return out


def _safe_rel(path) -> str | None:
    """A repro link: a relative path under the report directory, nothing else."""
    p = str(path or "")
    if not p or ":" in p or p.startswith(("/", "\\")) or ".." in p.split("/"):
        return None
    return p


def _detail(rec: dict, meta: dict, change: diff_mod.Change | None) -> dict:
    """What the detail view of one cell shows, as compact plain data (rendered by the page's script)."""
    stages = rec.get("stages") or {}
    facts = rec.get("facts") or {}
    conv_info = (meta.get("converters") or {}).get(rec["converter"], {})
    # case, converter, opset, stack and status are in the page's cell list; only the rest is here
    d: dict = {"reason": rec.get("reason") or ""}
    if rec.get("outcome") and rec["outcome"] != statuses.outcome(str(rec.get("status"))):
        d["outcome"] = rec["outcome"]
    if rec.get("expected_status"):
        d["expected"] = rec["expected_status"]
    fail = _deciding_stage(rec)
    if fail:
        name, st = fail
        d["stage"] = name
        d["error"] = str(st.get("error") or st.get("reason") or "; ".join(map(str, st.get("problems", []) or []))
                         or "; ".join(map(str, st.get("failures", []) or [])) or "no detail recorded")
        tb = str(st.get("traceback") or "")
        if tb:
            d["tb"] = tb[-TRACE_LIMIT:]
    rerun = _repro(rec, conv_info.get("module"))
    base = (f'pytest "conformance/test_matrix.py::test_cell[{rec.get("id")}]" --converters {rec["converter"]} '
            f'--opsets {rec["opset"]}')
    if not rerun.startswith(base):
        d["rerun"] = rerun
    elif rerun != base:  # the page's script writes the common part
        d["rx"] = rerun[len(base):]
    convert = stages.get("convert") or {}
    if convert.get("command"):
        cmd = convert["command"]
        d["cmd"] = cmd if isinstance(cmd, str) else " ".join(map(str, cmd))
    build = stages.get("build") or {}
    d["time"] = [_num(convert.get("seconds")), _num(build.get("seconds")), bool(build.get("cached")),
                 _num(rec.get("seconds"))]
    sig = (stages.get("signature") or {}).get("problems") or []
    if sig:
        d["sig"] = [str(p) for p in sig]
    cmps = _comparisons(stages)
    if cmps:
        d["cmp"] = cmps
    hist = facts.get("op_histogram") or {}
    if isinstance(hist, dict) and hist:
        d["hist"] = " ".join(f"{k}:{v}" for k, v in sorted(
            hist.items(), key=lambda kv: (-kv[1] if isinstance(kv[1], (int, float)) else 0, kv[0])))
    other = [[k, _fmt(_num(v) if isinstance(v, float) else v)] for k, v in sorted(facts.items())
             if k not in _FACTS_SHOWN]
    if other:
        d["facts"] = other
    cid = _cause_id(rec)
    if cid:
        d["cause"] = cid
    if rec.get("signature") and statuses.facts(str(rec.get("status"))).outcome == "failed":
        d["sgn"] = str(rec["signature"])
    if rec.get("expectation") and not rec.get("cause"):  # a results file written before causes
        e = rec["expectation"]
        d["exp"] = {"index": e.get("index"), "status": e.get("status"), "reason": e.get("reason"),
                    "link": _safe_link(e.get("link")), "link_text": e.get("link") or "",
                    "matches": "case " + " | ".join(map(str, e.get("case") or [])) + "; converter "
                               + " | ".join(map(str, e.get("converter") or []))
                               + (f"; opsets {_fmt(e.get('opsets'))}" if e.get("opsets") else "")
                               + (f"; when {', '.join(map(str, e.get('when') or []))}" if e.get("when") else "")}
    div = _divergence_view(rec.get("divergence"))
    if div:
        d["div"] = div
    rep = rec.get("repro")
    if isinstance(rep, dict):
        d["repro"] = {"path": _safe_rel(rep.get("path")), "ok": bool(rep.get("ok")), "reason": rep.get("reason") or "",
                      "standalone": rep.get("standalone")}
    mini = rec.get("minimized")
    if isinstance(mini, dict):
        d["mini"] = {"path": _safe_rel(mini.get("path")), "line": str(mini.get("line") or mini.get("error") or "")}
    targets = rec.get("targets")
    if isinstance(targets, dict) and targets:  # [name, status, reason, cause] per target (--targets)
        d["tg"] = [[str(n), str(t.get("status")), str(t.get("reason") or ""), str(t.get("cause") or "")]
                   for n, t in targets.items() if isinstance(t, dict)]
    if change is not None:
        d["change"] = [change.kind, change.old_status or "", change.new_status or ""]
    return d


def _cell_view(rec: dict, idx: int, change: diff_mod.Change | None, stacked: bool) -> dict:
    status = str(rec.get("status"))
    observed = str(rec.get("observed_status") or status)
    known = status == "XFAIL" and observed != status
    # a known failure shows what was observed (MISMATCH, UNAVAILABLE, ...) with a "known" mark
    shown = observed if known else status
    cid = rec.get("id") or f"{rec['case']}-{rec['converter']}-opset{rec['opset']}"
    if stacked:  # the same cell id exists once per stack
        cid = f"{cid}@{rec.get('stack') or 'default'}"
    return {
        "idx": idx,
        "id": cid,
        "status": status,
        "observed": observed,
        "known": known,
        "short": statuses.facts(shown).short,
        "css": shown if shown in statuses.SHORT else "OTHER",
        "change": change,
        "mark": CHANGE_MARK.get(change.kind, "") if change else "",
        "opset": int(rec["opset"]),
        "passing": status in statuses.PASSING,
        "tried": statuses.tried(observed),
        "case": rec["case"],
        "converter": rec["converter"],
        "stack": str(rec.get("stack") or "default"),
        "rid": rec.get("id") or f"{rec['case']}-{rec['converter']}-opset{rec['opset']}",
    }


def _deploy(records: list[dict], stacked: bool) -> dict | None:
    """The Deploy view (:func:`conformance.report.deploy.view`), its rows' ids the page's cell ids."""
    view = deploy_view(records)
    for row in (view or {}).get("rows", []):
        if stacked:
            row["id"] = f"{row['id']}@{row['stack']}"
    return view


def _pass_rate(counts: collections.Counter) -> tuple[float | None, int]:
    tried = sum(n for s, n in counts.items() if statuses.tried(s))
    passing = sum(n for s, n in counts.items() if s in statuses.PASSING)
    return (passing / tried if tried else None), tried


def _ranges(chosen: list[int], order: list[int]) -> str:
    """``11-18`` for runs of consecutive entries of ``order`` (the opsets run) that are all chosen."""
    parts, run = [], []
    for o in order:
        if o in chosen:
            run.append(o)
            continue
        if run:
            parts.append(run)
        run = []
    if run:
        parts.append(run)
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in parts)


def _case_summary(cells: list[dict]) -> dict:
    """caniuse style: one line for a case x converter from its per-opset cells."""
    order = sorted(c["opset"] for c in cells)
    works = [c["opset"] for c in cells if c["passing"]]
    tried = [c for c in cells if c["tried"]]
    fails = [c for c in tried if not c["passing"]]
    labels = sorted({statuses.facts(c["observed"]).short + (" known" if c["known"] else "") for c in fails})
    if not tried:
        kind, text = "none", "not tried (" + ", ".join(sorted({statuses.facts(c["observed"]).short for c in cells})) + ")"
    elif works and not fails:
        kind, text = "all", f"works at {'opset' if len(works) == 1 else 'opsets'} {_ranges(works, order)}"
    elif works:
        kind, text = "some", f"works at {'opset' if len(works) == 1 else 'opsets'} {_ranges(works, order)}"
    else:
        kind, text = "fail", "fails: " + ", ".join(labels)
    detail = "; ".join(f"{statuses.facts(c['observed']).short}{' (known)' if c['known'] else ''} at {c['opset']}"
                       for c in sorted(fails, key=lambda c: c["opset"]))
    return {"kind": kind, "text": text, "detail": detail, "cells": sorted(cells, key=lambda c: c["opset"])}


def _cause_id(rec: dict) -> str | None:
    """The id of the cause a record names; a file written before causes: its expectation entry, ``#N``."""
    if rec.get("cause"):
        return str(rec["cause"])
    e = rec.get("expectation")
    if isinstance(e, dict) and e.get("index") is not None:
        return f"#{e['index']}"
    return None


def _cause_info(cid: str, rec: dict, causes: dict) -> dict:
    info = causes.get(cid)
    if isinstance(info, dict):
        return info
    e = rec.get("expectation") if not rec.get("cause") else None
    if isinstance(e, dict):
        reason = str(e.get("reason") or "")
        return {"id": cid, "title": _one_line(reason, 120), "kind": None,
                "status": [e.get("status")] if e.get("status") else [], "link": e.get("link") or "",
                "reason": reason, "strict": e.get("strict", True), "when": e.get("when") or []}
    return {"id": cid, "title": "(not in this results file's registry)", "kind": None, "status": [], "link": "",
            "reason": "", "strict": True}


def _one_line(text, limit: int = 240) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _priority(status: str, observed: str) -> str:
    """Which group of "failures and changes first" a cell is in (a change is told apart by the caller)."""
    f = statuses.facts(status)
    if f.outcome == "failed":       # the run fails on it: unexpected failures (and passes a cause did not expect)
        return "unexpected"
    if observed in SILENT:
        return "silent"
    if f.outcome == "xfailed":
        return "expected"
    if f.outcome == "passed":
        return "pass"
    return "not_tried"


_GROUP_RANK = {k: i for i, (k, _) in enumerate(ATTENTION)}


def _packages_of(info: dict) -> list[str]:
    """The distributions a cause's ``when`` names (on the cause or on a part of its scope)."""
    reqs = list(info.get("when") or [])
    for part in info.get("scope") or []:
        if isinstance(part, dict):
            reqs += list(part.get("when") or [])
    out = []
    for r in reqs:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(r))
        if m:
            name = m.group(1).lower().replace("-", "_")
            if name not in out:
                out.append(name)
    return out


def _seen_on(info: dict, seen: list[str], others: list[str], envs: dict[str, dict]) -> str:
    """The package versions a cause was seen on; with several stacks, since / until which version
    (ordering the stacks by one package's version separates those that saw it from those that ran
    its cells and did not)."""
    from conformance.report.stacks import _SINCE_PACKAGES, _v

    pkgs = _packages_of(info) or list(SEEN_PACKAGES)

    def versions(stack):
        p = envs.get(stack, {}).get("packages") or {}
        return ", ".join(f"{k} {p[k]}" for k in pkgs if p.get(k))

    if len(seen) + len(others) <= 1 or not seen:
        return versions(seen[0]) if seen else ""
    text = "stacks " + ", ".join(seen)
    for pkg in list(dict.fromkeys(pkgs + list(_SINCE_PACKAGES))):
        yes = [_v((envs.get(s, {}).get("packages") or {}).get(pkg)) for s in seen]
        no = [_v((envs.get(s, {}).get("packages") or {}).get(pkg)) for s in others]
        if any(v is None for v in yes):
            continue
        no = [v for v in no if v is not None]
        if not no:
            continue
        if max(no) < min(yes):
            return f"{text}: since {pkg} {min(yes)} (not seen up to {max(no)})"
        if max(yes) < min(no):
            return f"{text}: until {pkg} {max(yes)} (gone in {min(no)})"
    return text + ("" if not others else f"; not on {', '.join(others)}")


def _causes_view(records: list[dict], cells: list[dict], causes: dict, envs: dict[str, dict],
                 stacks: list[str]) -> tuple[list[dict], dict]:
    """One row per cause seen in the run (silent wrong answers first, then by cells), and the
    page data of every cause named (id -> title, kind, reason, link, ...)."""
    rows: dict[str, dict] = {}
    ran: dict[str, set] = collections.defaultdict(set)  # stack -> (case, converter) run there
    for r, c in zip(records, cells):
        ran[c["stack"]].add((r["case"], r["converter"]))
        cid = c["cause"]
        if not cid:
            continue
        row = rows.get(cid)
        if row is None:
            info = _cause_info(cid, r, causes)
            row = rows[cid] = {"id": cid, "info": info, "cells": [], "per_stack": collections.Counter(),
                               "converters": [], "cases": set(), "layers": set(), "observed": collections.Counter(),
                               "statuses": collections.Counter(), "pairs": set()}
        row["cells"].append(c["idx"])
        row["per_stack"][c["stack"]] += 1
        if r["converter"] not in row["converters"]:
            row["converters"].append(r["converter"])
        row["cases"].add(r["case"])
        row["layers"].update(layer_classes(r))
        row["observed"][c["observed"]] += 1
        row["statuses"][(c["status"], c["observed"])] += 1
        row["pairs"].add((r["case"], r["converter"]))
    out = []
    for cid, row in rows.items():
        info = row["info"]
        kind = info.get("kind") or statuses.KIND_OF.get(row["observed"].most_common(1)[0][0], "other")
        seen = [s for s in stacks if row["per_stack"].get(s)]
        others = [s for s in stacks if s not in seen and ran[s] & row["pairs"]]
        out.append({
            "id": cid, "title": str(info.get("title") or ""), "kind": kind, "silent": kind == "silent wrong answer",
            "cells": row["cells"], "count": len(row["cells"]),
            "per_stack": [(s, row["per_stack"][s]) for s in seen] if len(stacks) > 1 else [],
            # what the cells observed (a known failure marked so), and the passes a cause expected to fail
            "statuses": [{"status": st, "shown": ob if st == "XFAIL" else st, "known": st == "XFAIL", "n": n}
                         for (st, ob), n in sorted(row["statuses"].items(), key=lambda kv: (
                             statuses.ORDER.index(kv[0][1]) if kv[0][1] in statuses.ORDER else 99, kv[0][0]))],
            "observed": [s for s, _ in row["observed"].most_common()],
            "converters": row["converters"], "cases": sorted(row["cases"]), "layers": sorted(row["layers"]),
            "seen_on": _seen_on(info, seen, others, envs),
            "link": _safe_link(info.get("link")), "link_text": str(info.get("link") or ""),
            "reason": str(info.get("reason") or ""), "strict": info.get("strict", True) is not False,
            "active": info.get("active"), "workaround": str(info.get("workaround") or ""),
            "report": str(info.get("report") or ""),
        })
    out.sort(key=lambda r: (not r["silent"], -r["count"], r["id"]))
    data = {}
    for r in out:
        info = rows[r["id"]]["info"]
        data[r["id"]] = {"title": r["title"], "kind": r["kind"], "reason": r["reason"], "link": r["link"],
                         "link_text": r["link_text"], "strict": r["strict"], "workaround": r["workaround"],
                         "status": "|".join(map(str, info.get("status") or [])),
                         "report": str(info.get("report") or ""), "signature": str(info.get("signature") or "")}
    return out, data


def _attention(cells: list[dict], records: list[dict], the_diff, causes_rows: list[dict]) -> list[dict]:
    """"Failures and changes first": the groups of ATTENTION, each with rows of cells alike
    (a change kind, a signature, a cause), bounded; passes and cells not tried are counts."""
    by_group: dict[str, list[tuple[dict, dict]]] = collections.defaultdict(list)
    aside: collections.Counter = collections.Counter()
    for c, r in zip(cells, records):
        if c["collapsed"]:  # a converter that cannot be imported: its line above the tables says it
            aside[c["group"]] += 1
            continue
        by_group[c["group"]].append((c, r))
        if c["change"] is not None:
            by_group["changed"].append((c, r))
    titles = {r["id"]: r["title"] for r in causes_rows}
    out = []
    for key, title in ATTENTION:
        items = by_group.get(key, [])
        if key == "changed" and the_diff is None:
            continue
        rows: dict[tuple, dict] = {}
        for c, r in items:
            if key == "changed":
                k, label = (c["change"].kind,), c["change"].kind
            elif key == "unexpected":
                sig = r.get("signature") or _one_line(r.get("reason"), 160)
                k, label = (c["observed"], sig), sig
            elif key in ("silent", "expected"):
                k = (c["cause"] or "", c["observed"])
                label = (c["cause"] + (": " + titles[c["cause"]] if titles.get(c["cause"]) else "")) if c["cause"] \
                    else _one_line(r.get("reason"), 160)
            else:
                continue
            row = rows.setdefault(k, {"label": label, "cause": c["cause"] if key in ("silent", "expected") else None,
                                      "observed": c["observed"], "cells": [], "converters": []})
            row["cells"].append(c["idx"])
            if c["converter"] not in row["converters"]:
                row["converters"].append(c["converter"])
        order = sorted(rows.values(), key=lambda r: (-len(r["cells"]), r["label"]))
        if key == "changed":
            kinds = list(diff_mod.KINDS)
            order = sorted(rows.values(), key=lambda r: kinds.index(r["label"]) if r["label"] in kinds else 99)
        limit = ATTENTION_ROWS.get(key, ATTENTION_ROWS_DEFAULT)
        out.append({"key": key, "title": title, "count": len(items), "distinct": len(rows),
                    "rows": order[:limit], "more": max(0, len(order) - limit), "aside": aside.get(key, 0),
                    "removed": len(the_diff.of("removed")) if key == "changed" else 0})
    return out


def _loading_lines(runs) -> list[str]:
    """What the runs gave Keras to load the users' files (--custom-objects, --unsafe-deserialization)."""
    out = []
    for stack, run in runs:
        loading = run.get("loading") or {}
        mods = [Path(p).name for p in loading.get("custom_objects") or []]
        parts = ([f"custom objects from {', '.join(mods)}"] if mods else []) + \
            (["unsafe deserialization ON (Keras's safe mode off: Lambda layers' code was loaded)"]
             if loading.get("unsafe_deserialization") else [])
        if parts:
            out.append(f"{stack}: {'; '.join(parts)}" if len({s for s, _ in runs}) > 1 else "; ".join(parts))
    return list(dict.fromkeys(out))


def build_view(doc: dict, *, baseline: dict | None = None, baseline_label: str = "",
               speedup: dict | None = None, sources: list[str] | None = None, title: str | None = None) -> dict:
    meta = stacks_meta(doc)
    stacks = list(meta)
    for r in doc["records"]:
        s = str(r.get("stack") or "default")
        if s not in stacks:
            stacks.append(s)
    conv_order: list[str] = []
    for m in meta.values():
        for run in m.get("runs", []):
            for c in run.get("converters", []):
                if c not in conv_order:
                    conv_order.append(c)
    for c in sorted({r["converter"] for r in doc["records"]}):
        if c not in conv_order:
            conv_order.append(c)
    causes = causes_of(doc)

    the_diff = diff_mod.diff(baseline, doc) if baseline is not None else None
    changes: dict[tuple, diff_mod.Change] = {}
    if the_diff is not None:
        only = stacks[0] if not the_diff.by_stack else None
        for c in the_diff.changes:
            if c.new is not None:
                st, case, conv, opset = c.key
                changes[(only or st, case, conv, opset)] = c

    def stack_of(r):
        return str(r.get("stack") or "default")

    # a converter that cannot be imported (every cell of its stack observed UNAVAILABLE) is one line
    # above the tables, with its reason and cause: no columns in the matrix, the summaries or the layers
    by_sc: dict[tuple, list] = collections.defaultdict(list)
    for r in doc["records"]:
        by_sc[(stack_of(r), r["converter"])].append(r)
    collapsed: dict[tuple, dict] = {}
    for key, recs in by_sc.items():
        if recs and all(str(r.get("observed_status") or r.get("status")) == "UNAVAILABLE" for r in recs):
            info = (meta.get(key[0], {}).get("converters") or {}).get(key[1], {})
            av = next(((r.get("stages") or {}).get("availability") or {} for r in recs), {})
            reason = str(info.get("reason") or av.get("error") or "the converter cannot be imported")
            named = collections.Counter(_cause_id(r) for r in recs if _cause_id(r))
            collapsed[key] = {"stack": key[0], "converter": key[1], "cells": len(recs),
                              "reason": _one_line(reason.strip().splitlines()[0] if reason.strip() else reason, 300),
                              "cause": named.most_common(1)[0][0] if named else None,
                              "status": collections.Counter(str(r["status"]) for r in recs).most_common(1)[0][0],
                              "opsets": sorted({int(r["opset"]) for r in recs})}

    # rows that lead with what matters: within a family, cases with unexpected failures first, then
    # silent wrong answers, expected failures, passes; families in the same order
    records = sorted(doc["records"], key=lambda r: (r.get("family", ""), r["case"], r["converter"], int(r["opset"])))
    present = {(stack_of(r), r["converter"], int(r["opset"])) for r in records}
    columns = []
    for s in stacks:
        for c in conv_order:
            if (s, c) in collapsed:
                continue
            opsets = sorted({p[2] for p in present if p[0] == s and p[1] == c})
            columns.extend({"stack": s, "converter": c, "opset": o, "key": f"{s}|{c}|{o}"} for o in opsets)
    col_index = {(col["stack"], col["converter"], col["opset"]): i for i, col in enumerate(columns)}

    stacked = len(stacks) > 1
    cells, details = [], []
    by_case: dict[str, dict] = {}
    for idx, r in enumerate(records):
        st = stack_of(r)
        k = (st, r["case"], r["converter"], int(r["opset"]))
        view = _cell_view(r, idx, changes.get(k), stacked)
        view["cause"] = _cause_id(r)
        view["group"] = _priority(view["status"], view["observed"])
        view["collapsed"] = (st, r["converter"]) in collapsed
        details.append(_detail(r, meta.get(st, {}), changes.get(k)))
        cells.append(view)
        row = by_case.get(r["case"])
        if row is None:
            facts = r.get("facts") or {}
            row = by_case[r["case"]] = {
                "case": r["case"], "description": r.get("description") or "", "tags": r.get("tags") or [],
                "keras": r.get("keras") or "", "family": r.get("family") or "other",
                "module": r.get("case_module") or "", "cells": [None] * len(columns), "groups": {},
                "rank": len(ATTENTION),
                "io": [f"input {io.get('name')}: {_fmt(io.get('shape'))} {io.get('dtype')}"
                       for io in facts.get("keras_inputs") or []]
                      + [f"output {io.get('name')}: {_fmt(io.get('shape'))} {io.get('dtype')}"
                         for io in facts.get("keras_outputs") or []]}
        elif not row["io"] and (r.get("facts") or {}).get("keras_inputs"):
            facts = r["facts"]
            row["io"] = ([f"input {io.get('name')}: {_fmt(io.get('shape'))} {io.get('dtype')}" for io in facts["keras_inputs"]]
                         + [f"output {io.get('name')}: {_fmt(io.get('shape'))} {io.get('dtype')}"
                            for io in facts.get("keras_outputs") or []])
        if view["collapsed"]:
            continue
        row["rank"] = min(row["rank"], _GROUP_RANK["changed"] if view["change"] else _GROUP_RANK[view["group"]])
        row["cells"][col_index[(st, r["converter"], int(r["opset"]))]] = view
        row["groups"].setdefault((st, r["converter"]), []).append(view)

    families: dict[str, list] = {}
    for row in sorted(by_case.values(), key=lambda row: (row["rank"], row["case"])):
        if columns and not any(row["cells"]):  # every cell of the case is in an unavailable converter's line
            continue
        families.setdefault(row["family"], []).append(row)
    for c in cells:
        if c["collapsed"]:
            collapsed[(c["stack"], c["converter"])].setdefault("first", c["id"])
    families = collections.OrderedDict(sorted(families.items(), key=lambda kv: (kv[1][0]["rank"], kv[0])))

    groups = [(s, c) for s in stacks for c in conv_order if (s, c) in by_sc and (s, c) not in collapsed]
    for rows in families.values():
        for row in rows:
            row["summary"] = [(_case_summary(row["groups"][g]) if g in row["groups"] else None) for g in groups]

    summary = []
    for s in stacks:
        convs = meta.get(s, {}).get("converters", {})
        for c in conv_order:
            recs = by_sc.get((s, c))
            if not recs or (s, c) in collapsed:
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
                            "unavailable_reason": info.get("reason"),
                            "total": len(recs), "tried": tried, "rate": rate, "counts": counts})
    shown = [c for c in cells if not c["collapsed"]]
    statuses_present = [s for s in statuses.ORDER if any(c["status"] == s for c in shown)] + sorted(
        {c["status"] for c in shown} - set(statuses.ORDER))
    observed_present = [s for s in statuses.ORDER if any(c["known"] and c["observed"] == s for c in shown)]

    envs = {s: meta.get(s, {}).get("environment", {}) for s in stacks}
    packages = sorted({p for e in envs.values() for p in (e.get("packages") or {})})
    runs = [(s, run) for s in stacks for run in meta.get(s, {}).get("runs", [])]
    stale = [(s, e) for s in stacks for e in meta.get(s, {}).get("stale_expectations", []) or []]
    stale_causes = [(s, cid, causes.get(cid) or {}) for s, cid in _stale_list(doc, stacks)]

    causes_rows, causes_data = _causes_view(records, cells, causes, envs, stacks)
    attention = _attention(cells, records, the_diff, causes_rows)
    matrix_converters = [c for c in conv_order if any(col["converter"] == c for col in columns)]

    case_ix = {c: i for i, c in enumerate(dict.fromkeys(c["case"] for c in cells))}
    conv_ix = {c: i for i, c in enumerate(dict.fromkeys(c["converter"] for c in cells))}
    stack_ix = {c: i for i, c in enumerate(dict.fromkeys(c["stack"] for c in cells))}
    strings = Strings()
    strings.count(details)
    packed = strings.pack(details)
    data = {"strings": strings.table, "details": packed, "cmp_fields": CMP_FIELDS,
            "cells": [[c["id"], c["status"], c["observed"], c["short"], c["css"], int(c["known"]), c["opset"],
                       case_ix[c["case"]], conv_ix[c["converter"]], stack_ix[c["stack"]], c["rid"]] for c in cells],
            "cases": list(case_ix), "convs": list(conv_ix), "stack_names": list(stack_ix),
            "short": statuses.SHORT, "outcome": {s.value: f.outcome for s, f in statuses.TABLE.items()},
            "stage_labels": stage_table.LABEL,
            "stacked": stacked, "causes": causes_data}

    return {
        "title": title or "Keras \u2192 ONNX compatibility matrix",
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": sources or [],
        "stacks": stacks,
        "converters": matrix_converters,
        "columns": columns,
        "collapsed": list(collapsed.values()),
        "groups": [{"stack": s, "converter": c} for s, c in groups],
        "families": families,
        "cells": cells,
        "summary": summary,
        "statuses": statuses_present,
        "observed_known": observed_present,
        "all_statuses": statuses.ORDER,
        "short": statuses.SHORT,
        "status_css": status_colours(),
        "envs": envs,
        "packages": packages,
        "runs": runs,
        "stale": stale,
        "stale_causes": stale_causes,
        "diff": the_diff,
        "baseline_label": baseline_label,
        "change_mark": CHANGE_MARK,
        "attention": attention,
        "routes": [{"case": r.case, "passed": r.passed, "text": str(r).split(": ", 1)[1]}
                   for r in route_mod.routes(records, causes, users_only=True)] if not stacked else [],
        "loading": _loading_lines(runs),
        "deploy": _deploy(records, stacked),
        "causes": causes_rows,
        "speedup": speedup_view(speedup) if speedup is not None else None,
        "layers": layers_view(doc, converters=[c for c in conv_order if (stacks[0], c) in by_sc
                                               and (stacks[0], c) not in collapsed]) if not stacked else None,
        "models": models_view(doc, [c for c in conv_order if (stacks[0], c) not in collapsed]) if not stacked else None,
        "not_tried": sorted(statuses.NOT_TRIED),
        "data_packed": embed_packed(data),
        "rows_json": embed_json({row["case"]: {k: row[k] for k in ("description", "family", "module", "keras", "tags", "io")}
                                 for rows in families.values() for row in rows}),
    }


def embed_packed(data) -> Markup:
    """The cells' details for a ``<script type="application/octet-stream" id="cell-data">`` block:
    JSON, gzip-compressed, base64 (the page inflates it with the browser's DecompressionStream).  The
    details repeat a lot (commands, reasons, facts), so this keeps the full-tier page small; base64 has
    no ``<``, ``>`` or ``&``, so no record can break out of the element."""
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
    return Markup(base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii"))


def page_data(html: str) -> dict:
    """The cells' details embedded in a page written by :func:`write_html` (as the page's script reads them)."""
    m = re.search(r'<script type="application/octet-stream" id="cell-data"[^>]*>(.*?)</script>', html, re.S)
    if m is None:
        raise ValueError("no cell data in this page")
    return json.loads(gzip.decompress(base64.b64decode(m.group(1).strip())).decode("utf-8"))


def embed_json(data) -> Markup:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` are escaped as
    ``\\u003c`` etc., so no string in a record can close the script element or open a comment."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


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
