"""The speedup table in a report: reading a speedup file (written by ``python -m benchmarks.speedup``)
and the view of its rows for the page."""
from __future__ import annotations

from pathlib import Path

from conformance.run.results import ResultsError, read_json

SCHEMA_VERSION = 1

_SPEEDUP_FIRST = ["case", "batch", "mode", "median_s", "iqr_s", "rounds", "speedup"]
#: the columns shown when the rows come from the benchmarks; others are detail
_SPEEDUP_BENCH = ["case", "kind", "batch", "label", "median_s", "iqr_s", "rounds",
                  "speedup_vs_predict", "speedup_vs_call", "speedup_vs_tf_function", "outputs_match"]


def load_speedup(path: str | Path) -> dict:
    """A speedup file, checked; ResultsError with one line otherwise."""
    p = Path(path)
    doc = read_json(p, "speedup file")
    if not isinstance(doc, dict) or not isinstance(doc.get("rows", []), list):
        raise ResultsError(f"speedup file {p}: expected an object with a 'rows' list")
    if doc.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise ResultsError(f"speedup file {p}: schema version {doc.get('schema_version')!r}, "
                           f"this report reads {SCHEMA_VERSION}")
    return doc


def speedup_view(doc: dict) -> dict:
    rows = [r for r in doc.get("rows", []) if isinstance(r, dict)]
    if any("speedup_vs_predict" in r for r in rows):  # the benchmarks' table: a readable subset
        cols = [c for c in _SPEEDUP_BENCH if any(c in r for r in rows)]
    else:
        cols = [c for c in _SPEEDUP_FIRST if any(c in r for r in rows)]
        for r in rows:
            for k in r:
                if k not in cols:
                    cols.append(k)
    extra = {k: v for k, v in doc.items() if k not in ("rows", "schema_version") and not isinstance(v, (dict, list))}
    return {"columns": cols, "rows": [[r.get(c) for c in cols] for r in rows], "meta": extra}
