"""Merging results files (xdist shards, CI jobs, several stacks) into one results document.

Every input is checked by :func:`conformance.run.results.load`, so a file of another
schema version is refused with one line.  A cell (stack, case, converter, opset)
may appear in only one input; two inputs that claim the same stack must agree on
its package versions (otherwise the stack label is wrong).  Per-stack metadata is
kept under ``stacks``; ``environment``/``converters``/``run`` describe the first
stack so that readers of a single-stack file keep working.
"""
from __future__ import annotations

import datetime
from pathlib import Path

from conformance.report.portable import portable_text
from conformance.run.results import SCHEMA_VERSION, ResultsError, document, load, record_key


def stack_name(doc: dict) -> str:
    return str(doc.get("environment", {}).get("stack") or doc.get("run", {}).get("stack") or "default")


def stacks_meta(doc: dict) -> dict[str, dict]:
    """{stack: {environment, converters, runs, stale_causes}} for a loaded document."""
    if isinstance(doc.get("stacks"), dict) and doc["stacks"]:
        return doc["stacks"]
    names = sorted({str(r.get("stack") or "default") for r in doc["records"]}) or [stack_name(doc)]
    return {n: {"environment": doc.get("environment", {}), "converters": doc.get("converters", {}),
                "runs": [doc.get("run", {})], "stale_causes": list(doc.get("stale_causes", []))}
            for n in names}


def _merge_converters(a: dict, b: dict) -> dict:
    out = dict(a)
    for name, info in b.items():
        if name not in out or (out[name].get("available") is None and info.get("available") is not None):
            out[name] = info
    return out


def _stale(lists: list[list[str]], used: set[str]) -> list[str]:
    """A cause is stale for the merge if an input that covered it found it stale and no cell of the merged
    stack matched it (a shard may cover a cause that another shard's cells match)."""
    out: list[str] = []
    for lst in lists:
        out += [c for c in lst if isinstance(c, str) and c not in used and c not in out]
    return out


def case_table(doc: dict) -> dict[str, dict]:
    """{case: {"tags": [...], "layers": [...]}} from a results document's records (a slim one's own table)."""
    table: dict[str, dict] = {k: dict(v) for k, v in (doc.get("cases") or {}).items()}
    for r in doc["records"]:
        entry = table.setdefault(r["case"], {})
        if r.get("tags") and "tags" not in entry:
            entry["tags"] = sorted(r["tags"])
        layers = (r.get("facts") or {}).get("keras_layers")
        if layers and "layers" not in entry:
            entry["layers"] = sorted(set(layers) - {"InputLayer"})
    return {k: v for k, v in sorted(table.items()) if v}


def merge_docs(docs: list[tuple[str, dict]]) -> dict:
    """Merge loaded documents given as (label, doc); raise ResultsError with one line on a conflict."""
    if not docs:
        raise ResultsError("merge: no results file given")
    for label, doc in docs:
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise ResultsError(f"{label}: schema version {doc.get('schema_version')!r}, this suite reads {SCHEMA_VERSION}")
    owner: dict[tuple, str] = {}
    records: list[dict] = []
    stacks: dict[str, dict] = {}
    stack_from: dict[str, str] = {}
    stale_lists: dict[str, list] = {}
    causes: dict[str, dict] = {}
    for label, doc in docs:
        for cid, c in (doc.get("causes") or {}).items():
            causes.setdefault(cid, c)
        for r in doc["records"]:
            r = dict(r, stack=str(r.get("stack") or "default"))
            k = record_key(r)
            if k in owner:
                raise ResultsError(f"merge: cell {r['case']}-{r['converter']}-opset{r['opset']} (stack {k[0]}) "
                                   f"is in both {owner[k]} and {label}")
            owner[k] = label
            records.append(r)
        for name, meta in stacks_meta(doc).items():
            if name in stacks:
                mine = stacks[name].get("environment", {}).get("packages")
                theirs = meta.get("environment", {}).get("packages")
                if mine and theirs and mine != theirs:
                    diffs = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
                    raise ResultsError(f"merge: stack {name!r} has different package versions in {stack_from[name]} "
                                       f"and {label} ({', '.join(diffs)}); label the runs with different --stack")
                stacks[name] = {**stacks[name],
                                "converters": _merge_converters(stacks[name].get("converters", {}),
                                                                meta.get("converters", {})),
                                "runs": stacks[name].get("runs", []) + list(meta.get("runs", []))}
            else:
                stacks[name] = {"environment": meta.get("environment", {}),
                                "converters": dict(meta.get("converters", {})),
                                "runs": list(meta.get("runs", []))}
                stack_from[name] = label
            if all(run.get("complete") for run in meta.get("runs", [])):
                stale_lists.setdefault(name, []).append(list(meta.get("stale_causes", [])))
    for name, lists in stale_lists.items():
        used = {str(r["cause"]) for r in records if r["stack"] == name and r.get("cause") and r["status"] == "XFAIL"}
        stacks[name]["stale_causes"] = _stale(lists, used)
    for meta in stacks.values():
        meta.setdefault("stale_causes", [])
    runs = [run for meta in stacks.values() for run in meta["runs"]]
    first = next(iter(stacks.values()))
    started = [r["started"] for r in runs if r.get("started")]
    finished = [r["finished"] for r in runs if r.get("finished")]
    run = {
        "id": "merged-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
        "merged_from": [portable_text(label) for label, _ in docs],   # no paths of this machine
        "run_ids": [r.get("id") for r in runs],
        "started": min(started) if started else None,
        "finished": max(finished) if finished else None,
        "wall_seconds": sum(float(r.get("wall_seconds") or 0) for r in runs),
        "opsets": sorted({int(o) for r in runs for o in r.get("opsets", [])}),
        "converters": sorted({c for r in runs for c in r.get("converters", [])}),
        "stack": ", ".join(stacks),
    }
    complete = all(r.get("complete") for r in runs)
    stale = sorted({c for meta in stacks.values() for c in meta["stale_causes"]})
    doc = document(run, first["environment"], _merge_converters(
        first["converters"], {k: v for m in stacks.values() for k, v in m["converters"].items()}),
        records, stale, complete, causes)
    doc["stacks"] = stacks
    if any("cases" in d for _label, d in docs):   # slim baselines: their per-case table (tags, layers)
        table: dict[str, dict] = {}
        for _label, d in docs:
            for case, entry in case_table(d).items():
                table.setdefault(case, entry)
        doc["cases"] = table
    return doc


def merge_files(paths: list[str | Path]) -> dict:
    return merge_docs([(str(p), load(p)) for p in paths])
