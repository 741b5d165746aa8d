"""The all-stacks page: ``python -m conformance.report stacks RESULTS... -o stacks.html``.

One row per case x converter, one column per stack (oldest first, in the order of stacks.toml),
caniuse style: each cell says whether the case converts and matches on that stack (every opset
run), fails as a cause of ``causes.toml`` says (``known``), fails otherwise, or does not apply; the
last column says since which version of which package it works, or broke, as far as the runs
show.  The Causes view lists every cause across the stacks (cells per stack, since when fixed).
A click on a cell opens its per-opset records (status, deciding stage, reason, the cause and its
link).

Built for every case of every stack (25,000 cells and more): the page embeds one compact data
document (a string table, rows as indices, records per cell) and its script draws the rows that the
filters keep, rows that differ across stacks first, and the details of a cell on its click, with
``textContent`` only.

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

from conformance.causes import KIND_ORDER
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


class _Strings:
    """A string table: every text of the page once, cells and records point to it by index."""

    def __init__(self):
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text) -> int:
        text = "" if text is None else str(text)
        i = self._index.get(text)
        if i is None:
            i = self._index[text] = len(self.items)
            self.items.append(text)
        return i


#: how much of a record's reason the page keeps (the stack's own results.json and matrix page keep it all)
REASON_CHARS = 300


def _record(rec: dict, s: _Strings, cause_ix: dict[str, int]) -> list:
    """One per-opset record, compact: [opset, status, observed, stage, reason, cause, seconds] (strings by index;
    cause -1 when none).  An explained failure keeps its normalized signature (the same failure reads the same
    on every stack and case, so the table holds it once), anything else the start of its reason."""
    text = rec.get("signature") if rec.get("cause") and rec.get("signature") else rec.get("reason")
    text = " ".join(str(text or "").split())
    if len(text) > REASON_CHARS:
        text = text[:REASON_CHARS].rsplit(" ", 1)[0] + " ..."
    seconds = rec.get("seconds")
    return [int(rec["opset"]), s(rec.get("status")), s(rec.get("observed_status") or rec.get("status")),
            s(rec.get("stage")), s(text), cause_ix.get(rec.get("cause") or "", -1),
            None if seconds is None else round(float(seconds), 1)]


def _causes_across(doc: dict, rows: list[dict], names: list[str], envs: dict) -> list[dict]:
    """Every cause a record names, across stacks: cells per stack, which rows, and since when it is gone
    (``since`` over the stacks that ran its rows: a stack where none of them shows it counts as fixed)."""
    registry = doc.get("causes") or {}
    seen: dict[str, dict] = {}
    for i, row in enumerate(rows):
        for n, recs in row["records"].items():
            for r in recs:
                cid = r.get("cause")
                if cid:
                    c = seen.setdefault(cid, {"cells": collections.Counter(), "rows": set()})
                    c["cells"][n] += 1
                    c["rows"].add(i)
    out = []
    for cid, c in seen.items():
        outcomes = {}
        for n in names:
            recs = [r for i in c["rows"] for r in rows[i]["records"].get(n, []) if facts(r["status"]).tried]
            if recs:
                outcomes[n] = not any(r.get("cause") == cid for r in recs)
        meta = registry.get(cid) or {}
        gone = since(outcomes, envs)
        # told as the cause's: "works" is where it is not seen
        text = {"works": gone["text"].replace("works since", "fixed since", 1).replace("(fails up to", "(seen up to"),
                "broken": gone["text"].replace("broken since", "seen since", 1).replace("(works up to", "(not up to"),
                "all": "", "never": "seen on every stack that ran its cases"}.get(gone["kind"], gone["text"])
        out.append({"id": cid, "title": meta.get("title") or cid, "kind": meta.get("kind") or "",
                    "link": meta.get("link") or "", "reason": meta.get("reason") or "",
                    "cells": [c["cells"].get(n, 0) for n in names], "rows": sorted(c["rows"]),
                    "since": text, "also": gone["also"]})
    kind_rank = {k: i for i, k in enumerate(KIND_ORDER)}
    out.sort(key=lambda c: (kind_rank.get(c["kind"], len(kind_rank)), -sum(c["cells"]), c["id"]))
    return out


def build_view(doc: dict, stacks_file=None, title: str | None = None) -> dict:
    """The page's view: summary tables (rendered by the template) and one compact data document
    (``data``, embedded once) from which the page's script draws the grid, the causes and the details."""
    metas = stacks_meta(doc)
    cells: dict[tuple[str, str], dict[str, list[dict]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    families: dict[str, str] = {}
    layers: dict[str, set[str]] = collections.defaultdict(set)
    for r in doc["records"]:
        stack = str(r.get("stack") or "default")
        cells[(r["case"], r["converter"])][stack].append(r)
        families.setdefault(r["case"], str(r.get("family") or ""))
        layers[r["case"]].update(name for name in ((r.get("facts") or {}).get("keras_layers") or ()) if name != "InputLayer")
    names = _stack_order(sorted({s for by in cells.values() for s in by}), metas, stacks_file)
    envs = {n: metas.get(n, {}).get("environment", {}).get("packages", {}) or {} for n in names}
    columns = [p for p in PACKAGES if p not in _OWN[1:] or any(envs[n].get(p) for n in names)]

    stacks_rows, per_conv = [], collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    rows = []
    for (case, conv) in sorted(cells, key=lambda k: (k[1], families.get(k[0], ""), k[0])):
        by = cells[(case, conv)]
        row_cells, outcomes, records = [], {}, {}
        for n in names:
            recs = sorted(by.get(n, []), key=lambda r: int(r["opset"]))
            if not recs:
                row_cells.append({"kind": "missing", "label": ""})
                continue
            v = verdict(recs)
            per_conv[conv][n][v["kind"]] += 1
            if v["kind"] in ("pass", "known", "fail", "part"):
                outcomes[n] = v["kind"] == "pass"
            records[n] = recs
            row_cells.append(v)
        s = since(outcomes, envs, _order_for(conv))
        differs = len({c["kind"] for c in row_cells if c["kind"] != "missing"}) > 1
        rows.append({"case": case, "converter": conv, "family": families.get(case, ""), "cells": row_cells,
                     "since": s, "differs": differs, "records": records})
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
                         "pass" if c["pass"] == tried else "fail" if c["fail"] else
                         "known" if c["pass"] == 0 and not c["part"] else "part"})
        converters.append({"name": conv, "cells": line})

    s = _Strings()
    causes = _causes_across(doc, rows, names, envs)
    cause_ix = {c["id"]: i for i, c in enumerate(causes)}
    case_names = sorted({r["case"] for r in rows})
    case_ix = {c: i for i, c in enumerate(case_names)}
    conv_names = sorted({r["converter"] for r in rows})
    conv_ix = {c: i for i, c in enumerate(conv_names)}
    layer_names = sorted({name for c in case_names for name in layers[c]})
    layer_ix = {name: i for i, name in enumerate(layer_names)}
    kinds = ["missing", "pass", "known", "fail", "part", "na"]
    details: list[list] = []
    data_rows = []
    for row in rows:
        packed = []
        for n, c in zip(names, row["cells"]):
            if c["kind"] == "missing":
                packed.append(0)
                continue
            details.append([_record(r, s, cause_ix) for r in row["records"][n]])
            packed.append([kinds.index(c["kind"]), s(c["label"]), len(details) - 1])
        data_rows.append([case_ix[row["case"]], conv_ix[row["converter"]], packed, s(row["since"]["text"]),
                          s(row["since"]["kind"]), [s(a) for a in row["since"]["also"]], int(row["differs"])])
    data = {
        "stacks": names, "converters": conv_names, "kinds": kinds, "layers": layer_names,
        "cases": [[c, s(families.get(c, "")), sorted(layer_ix[name] for name in layers[c])] for c in case_names],
        "rows": data_rows, "details": details,
        "causes": [{**{k: c[k] for k in ("id", "title", "kind", "link", "cells", "rows", "since", "also")},
                    "reason": c["reason"]} for c in causes],
        "strings": s.items,
    }
    return {"title": title or f"Keras -> ONNX across {len(names)} stacks", "stacks": names,
            "packages": columns, "stack_rows": stacks_rows, "converters": converters,
            "families": sorted({f for f in families.values() if f}), "layers": layer_names,
            "rows": rows, "causes": causes, "data": _embed(data), "n_rows": len(rows),
            "n_differ": sum(r["differs"] for r in rows), "n_causes": len(causes)}


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
