"""The all-stacks page: ``python -m conformance.report stacks RESULTS... -o stacks.html``.

One row per case x converter, one column per stack (oldest first, in the order of stacks.toml),
caniuse style: each cell says whether the case converts and matches on that stack (every opset
run), fails as an expectations entry says (``known``), fails otherwise, or does not apply; the
last column says since which version of which package it works, or broke, as far as the runs
show.  A click on a cell opens its per-opset records (status, deciding stage, reason, the entry
and its link), rendered from data embedded once in the page, with ``textContent`` only.

Built from results files alone (several per-stack files, or one merged file); status facts
(rank, tried, labels) come from the status table, ``conformance/statuses.py``.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import jinja2
from markupsafe import Markup
from packaging.version import InvalidVersion, Version

from conformance.loader import builtin_converters, converter_packages, package_name
from conformance.report.merge import merge_docs, stacks_meta
from conformance.run.results import ResultsError, load
from conformance.statuses import Status, facts

#: the converters' own packages (their modules' ``distribution``), the one most rows use first (tf2onnx)
_OWN = converter_packages(own=True)
#: the columns of the stacks table: that package, the suite's stack, every other converter's own package (shown
#: where some stack has it), protobuf and numpy
PACKAGES = tuple(dict.fromkeys(_OWN[:1] + ("tensorflow", "keras", "tf_keras", "onnx", "onnxruntime") + _OWN[1:]
                               + ("protobuf", "numpy")))
#: the packages that "since" ranges are told in, in order of preference, after the row's converter's own
_SINCE_PACKAGES = tuple(dict.fromkeys(_OWN[:1] + ("tensorflow", "keras", "onnx", "onnxruntime", "tf_keras")))
TEMPLATES = Path(__file__).parent / "templates"


def _v(text) -> Version | None:
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def verdict(records: list[dict]) -> dict:
    """One stack's cell from its per-opset records: kind (pass, known, fail, part, na) and a label."""
    tried = [r for r in records if facts(r["status"]).tried]
    if not tried:
        st = records[0]["status"]
        return {"kind": "na", "label": facts(st).short}
    passing = [r for r in tried if facts(r["status"]).rank == 0]
    failing = [r for r in tried if facts(r["status"]).rank > 0]
    if not failing:
        return {"kind": "pass", "label": "pass" if len(tried) == 1 else f"pass {len(tried)}/{len(tried)}"}
    worst = max(failing, key=lambda r: facts(r["status"]).rank)
    observed = str(worst.get("observed_status") or worst["status"])
    label = facts(observed).short
    if passing:
        return {"kind": "part", "label": f"{label} {len(failing)}/{len(tried)}"}
    if all(r["status"] == Status.XFAIL.value for r in failing):
        return {"kind": "known", "label": label}
    return {"kind": "fail", "label": label}


def _order_for(converter: str) -> tuple[str, ...]:
    """The packages to explain a row with, the converter's own first (its module's ``packages``: Keras's
    export: keras)."""
    own = next((c.packages or (c.distribution,) for c in builtin_converters() if c.name == converter), ())
    return tuple(dict.fromkeys(tuple(package_name(p) for p in own) + _SINCE_PACKAGES))


def since(outcomes: dict[str, bool], envs: dict[str, dict], order: tuple[str, ...] = _SINCE_PACKAGES) -> dict:
    """"works since" / "broken since" from which stacks pass (True) or fail (False).

    A package explains the row when, ordering the stacks by its version, every passing stack is on
    one side of a version and every failing one on the other.  Returns {text, also: [...]}.
    """
    if not outcomes:
        return {"text": "", "kind": "none", "also": []}
    n = len(outcomes)
    if all(outcomes.values()):
        return {"text": "works on the stack run" if n == 1 else f"works on all {n} stacks run", "kind": "all", "also": []}
    if not any(outcomes.values()):
        return {"text": "fails on the stack run" if n == 1 else f"fails on all {n} stacks run", "kind": "never", "also": []}
    found = []
    for pkg in order:
        vers = {s: _v(envs.get(s, {}).get(pkg)) for s in outcomes}
        good = [vers[s] for s, ok in outcomes.items() if ok]
        bad = [vers[s] for s, ok in outcomes.items() if not ok]
        # a stack without the package: the package is absent where it fails (works since it exists)
        if any(v is None for v in good):
            continue
        bad_known = [v for v in bad if v is not None]
        if not bad_known or max(bad_known) < min(good):
            found.append(("works", pkg, min(good), f"works since {pkg} {min(good)}"
                          + (f" (fails up to {max(bad_known)})" if bad_known else " (fails without it)")))
        elif None not in bad and max(good) < min(bad):
            found.append(("broken", pkg, min(bad), f"broken since {pkg} {min(bad)} (works up to {max(good)})"))
    if not found:
        return {"text": "varies: no one package's version explains it", "kind": "mixed", "also": []}
    kind, _pkg, _ver, text = found[0]
    return {"text": text, "kind": kind, "also": [f[3] for f in found[1:]]}


def _stack_order(names: list[str], metas: dict[str, dict], stacks_file) -> list[str]:
    order: list[str] = []
    try:
        from conformance import stacks as stacks_mod

        listed = [s.name for s in stacks_mod.load(stacks_file or stacks_mod.STACKS_FILE)]
    except Exception:  # no stacks.toml (an installed suite) or another one: order by versions instead
        listed = []
    order = [n for n in listed if n in names]

    def key(n):
        pk = metas[n].get("environment", {}).get("packages", {})
        return tuple(_v(pk.get(p)) or Version("0") for p in ("tensorflow", "tf2onnx", "onnx")) + (n,)
    return order + sorted((n for n in names if n not in order), key=key)


def _embed(data) -> Markup:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _detail(rec: dict, causes: dict | None = None) -> dict:
    exp = ((causes or {}).get(rec["cause"]) or {}) if rec.get("cause") else (rec.get("expectation") or {})
    return {"opset": rec.get("opset"), "status": rec.get("status"), "observed": rec.get("observed_status"),
            "stage": rec.get("stage"), "reason": " ".join(str(rec.get("reason") or "").split())[:600],
            "entry": exp.get("reason") if isinstance(exp, dict) else None,
            "link": exp.get("link") if isinstance(exp, dict) else None,
            "seconds": rec.get("seconds"), "nodeid": rec.get("nodeid")}


def build_view(doc: dict, stacks_file=None, title: str | None = None) -> dict:
    metas = stacks_meta(doc)
    cells: dict[tuple[str, str], dict[str, list[dict]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    families: dict[str, str] = {}
    for r in doc["records"]:
        stack = str(r.get("stack") or "default")
        cells[(r["case"], r["converter"])][stack].append(r)
        families.setdefault(r["case"], str(r.get("family") or ""))
    names = _stack_order(sorted({s for by in cells.values() for s in by}), metas, stacks_file)
    envs = {n: metas.get(n, {}).get("environment", {}).get("packages", {}) or {} for n in names}
    columns = [p for p in PACKAGES if p not in _OWN[1:] or any(envs[n].get(p) for n in names)]

    stacks_rows, per_conv = [], collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    rows, details = [], []
    for (case, conv) in sorted(cells, key=lambda k: (k[1], families.get(k[0], ""), k[0])):
        by = cells[(case, conv)]
        row_cells, outcomes = [], {}
        for n in names:
            recs = sorted(by.get(n, []), key=lambda r: int(r["opset"]))
            if not recs:
                row_cells.append({"kind": "missing", "label": "", "d": None})
                continue
            v = verdict(recs)
            per_conv[conv][n][v["kind"]] += 1
            if v["kind"] in ("pass", "known", "fail", "part"):
                outcomes[n] = v["kind"] == "pass"
            details.append({"case": case, "converter": conv, "stack": n,
                            "cells": [_detail(r, doc.get("causes")) for r in recs]})
            row_cells.append(dict(v, d=len(details) - 1))
        s = since(outcomes, envs, _order_for(conv))
        differs = len({c["kind"] for c in row_cells if c["kind"] != "missing"}) > 1
        rows.append({"case": case, "converter": conv, "family": families.get(case, ""), "cells": row_cells,
                     "since": s, "differs": differs})
    for n in names:
        meta = metas.get(n, {})
        runs = meta.get("runs", [])
        counts = collections.Counter(r["status"] for by in cells.values() for r in by.get(n, []))
        stacks_rows.append({
            "name": n, "packages": [envs[n].get(p) or "-" for p in columns],
            "python": meta.get("environment", {}).get("python", ""),
            "cells": sum(counts.values()), "pass": counts.get("PASS", 0), "xfail": counts.get("XFAIL", 0),
            "other": sum(c for st, c in counts.items() if facts(st).tried and facts(st).rank == 2),
            "wall": sum(float(r.get("wall_seconds") or 0) for r in runs),
            "opsets": sorted({int(o) for r in runs for o in r.get("opsets", [])}),
        })
    converters = []
    for conv in sorted(per_conv):
        line = []
        for n in names:
            c = per_conv[conv][n]
            tried = c["pass"] + c["known"] + c["fail"] + c["part"]
            line.append({"pass": c["pass"], "tried": tried,
                         "kind": "missing" if not sum(c.values()) else "na" if not tried else
                         "pass" if c["pass"] == tried else "fail" if c["pass"] == 0 else "part"})
        converters.append({"name": conv, "cells": line})
    return {"title": title or f"Keras -> ONNX across {len(names)} stacks", "stacks": names,
            "packages": columns, "stack_rows": stacks_rows, "converters": converters, "rows": rows,
            "details": _embed(details), "n_rows": len(rows),
            "n_differ": sum(r["differs"] for r in rows)}


def render(doc: dict, stacks_file=None, title: str | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("stacks.html.j2").render(**build_view(doc, stacks_file, title))


def render_files(paths: list[str | Path], out: str | Path, stacks_file=None, title: str | None = None,
                 causes: list | None = None) -> Path:
    """The page from results files; with ``causes`` (a loaded registry), each cell's observed status
    is judged against it first, as a run with that registry would (``report.causes.rejudge``)."""
    if not paths:
        raise ResultsError("stacks: no results file given")
    docs = [(str(p), load(p)) for p in paths]
    doc = docs[0][1] if len(docs) == 1 else merge_docs(docs)
    if causes is not None:
        from conformance.report.causes import rejudge

        doc = rejudge(doc, causes)[0]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(doc, stacks_file, title), encoding="utf-8")
    return out
