"""Layer coverage: which ``keras.layers`` classes the run's cases hold, and how each converter fares on them.

Built from a results file alone.  The worker walks every built model and records the classes it
holds (``facts.keras_layers``: wrapped layers, cells and sublayers included) and, once per worker,
what ``keras.layers`` of that stack has (``facts.layer_inventory``: class name -> its public
names, so aliases count once).  The classes no case can hold are listed with their reason in
``cases/layers/excluded.toml``.

    python -m conformance.report layers reports/results.json [--min 90] [--json FILE]

A class's status per converter counts the cells of every case that holds it, by observed status
(an expected failure counts as what it is): ``PASS 8/8`` or ``6/8 pass; MISMATCH``.

``InputLayer`` is not a layer row: every functional model holds one (it is the model's input, not
something a converter translates), so it would be "covered" by every case and count in the
percentage.  The walk records it as it is (the facts stay true); coverage leaves it out of the
inventory and of what cases hold (:data:`NOT_LAYERS`), for old results files too.
"""
from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

from conformance import statuses
from conformance.tomlfile import read_toml

EXCLUDED_FILE = Path(__file__).resolve().parents[2] / "cases" / "layers" / "excluded.toml"
#: classes every model holds that are no layer to convert: not rows, not counted in coverage
NOT_LAYERS = frozenset({"InputLayer"})


def layer_classes(record: dict) -> list[str]:
    """The ``keras.layers`` classes a record's case holds (``facts.keras_layers``), minus :data:`NOT_LAYERS`."""
    return [n for n in (record.get("facts") or {}).get("keras_layers") or [] if n not in NOT_LAYERS]


class CoverageError(Exception):
    """A results file without an inventory, or a malformed excluded-layers file: one line."""


@dataclasses.dataclass
class LayerRow:
    name: str
    aliases: list[str]
    state: str                                   # covered, missing or excluded
    reason: str = ""                             # why excluded
    cases: list[str] = dataclasses.field(default_factory=list)
    #: converter -> observed status -> cells
    statuses: dict[str, collections.Counter] = dataclasses.field(default_factory=dict)

    def summary(self, converter: str) -> str:
        return status_summary(self.statuses.get(converter) or collections.Counter())

    def to_json(self) -> dict:
        return {"name": self.name, "aliases": self.aliases, "state": self.state, "reason": self.reason,
                "cases": self.cases, "statuses": {c: dict(n) for c, n in self.statuses.items()}}


@dataclasses.dataclass
class Coverage:
    rows: list[LayerRow]
    converters: list[str]
    #: excluded entries naming a class this Keras does not have (an older or newer Keras)
    unknown_excluded: list[str]

    @property
    def relevant(self) -> list[LayerRow]:
        return [r for r in self.rows if r.state != "excluded"]

    @property
    def covered(self) -> list[LayerRow]:
        return [r for r in self.rows if r.state == "covered"]

    @property
    def missing(self) -> list[LayerRow]:
        return [r for r in self.rows if r.state == "missing"]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.relevant) if self.relevant else 0.0

    def to_json(self) -> dict:
        return {"percent": round(self.percent, 1), "covered": len(self.covered), "relevant": len(self.relevant),
                "excluded": len(self.rows) - len(self.relevant), "converters": self.converters,
                "unknown_excluded": self.unknown_excluded, "layers": [r.to_json() for r in self.rows]}


def status_summary(counts: collections.Counter) -> str:
    """``PASS 8/8``, ``6/8 pass; MISMATCH, INVALID`` or ``n/a`` (no cell tried)."""
    tried = {s: n for s, n in counts.items() if statuses.tried(s)}
    total = sum(tried.values())
    if not total:
        return "n/a" if counts else ""
    ok = sum(n for s, n in tried.items() if s in statuses.PASSING)
    if ok == total:
        return f"PASS {ok}/{total}"
    bad = [s for s in statuses.ORDER if s in tried and s not in statuses.PASSING]
    bad += sorted(s for s in tried if s not in statuses.ORDER)
    return f"{ok}/{total} pass; {', '.join(bad)}"


def load_excluded(path: str | Path | None = None) -> dict[str, str]:
    """``{class name: reason}`` from the excluded-layers file; every entry needs a non-empty reason."""
    doc = read_toml(path or EXCLUDED_FILE, "excluded-layers file", CoverageError)
    out = {}
    for name, entry in doc.items():
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            raise CoverageError(f"excluded-layers file {path or EXCLUDED_FILE}: [{name}] needs a reason = \"...\"")
        out[name] = reason.strip()
    return out


def inventory_of(records: list[dict]) -> dict[str, list[str]] | None:
    for r in records:
        inv = (r.get("facts") or {}).get("layer_inventory")
        if inv:
            return {str(k): list(v) for k, v in inv.items()}
    return None


def coverage(doc: dict, excluded: dict[str, str] | None = None) -> Coverage:
    records = doc.get("records") or []
    inv = inventory_of(records)
    if inv is not None:
        inv = {k: v for k, v in inv.items() if k not in NOT_LAYERS}
    if inv is None:
        raise CoverageError("no record of this results file carries the keras.layers inventory "
                            "(no Keras 3 case was built in the run, or it predates layer coverage)")
    excluded = load_excluded() if excluded is None else excluded
    holders: dict[str, set[str]] = collections.defaultdict(set)
    for r in records:
        for name in layer_classes(r):
            holders[name].add(r["case"])
    converters = list(dict.fromkeys(r["converter"] for r in records))
    by_case: dict[str, list[dict]] = collections.defaultdict(list)
    for r in records:
        by_case[r["case"]].append(r)
    rows = []
    for name, aliases in sorted(inv.items()):
        cases = sorted(holders.get(name, ()))
        if cases:
            state = "covered"
        elif name in excluded:
            state = "excluded"
        else:
            state = "missing"
        row = LayerRow(name, aliases, state, excluded.get(name, ""), cases)
        for case in cases:
            for r in by_case[case]:
                observed = str(r.get("observed_status") or r.get("status"))
                row.statuses.setdefault(r["converter"], collections.Counter())[observed] += 1
        rows.append(row)
    return Coverage(rows, converters, sorted(set(excluded) - set(inv)))


def unavailable(cov: Coverage) -> list[str]:
    """Converters every counted cell of which observed UNAVAILABLE (they cannot be imported here)."""
    out = []
    for c in cov.converters:
        seen = {s for r in cov.rows for s in (r.statuses.get(c) or {})}
        if seen == {statuses.Status.UNAVAILABLE.value}:
            out.append(c)
    return out


def table_lines(cov: Coverage, *, cases_width: int = 60) -> list[str]:
    lines = [f"layer coverage: {len(cov.covered)} of {len(cov.relevant)} inference-relevant keras.layers classes "
             f"covered ({cov.percent:.1f} %); {len(cov.rows) - len(cov.relevant)} excluded with a reason"]
    gone = unavailable(cov)
    shown = [c for c in cov.converters if c not in gone]
    if gone:
        lines.append(f"not in the table (cannot be imported here: every cell UNAVAILABLE): {', '.join(gone)}")
    head = ["layer", "cases"] + shown
    body = []
    for r in cov.covered:
        names = ", ".join(r.cases)
        if len(names) > cases_width:
            names = names[:cases_width - 1] + "\u2026"
        body.append([r.name, f"{len(r.cases)}: {names}"] + [r.summary(c) for c in shown])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines.append(fmt.format(*head))
    lines.extend(fmt.format(*row) for row in body)
    if cov.missing:
        lines.append(f"missing ({len(cov.missing)}): no case holds these and excluded.toml gives no reason:")
        lines.extend(f"  {r.name}" for r in cov.missing)
    excl = [r for r in cov.rows if r.state == "excluded"]
    if excl:
        lines.append(f"excluded ({len(excl)}):")
        lines.extend(f"  {r.name}: {r.reason}" for r in excl)
    if cov.unknown_excluded:
        lines.append(f"excluded.toml names classes this Keras does not have: {', '.join(cov.unknown_excluded)}")
    return lines


def view(doc: dict, excluded: dict[str, str] | None = None, converters: list[str] | None = None) -> dict | None:
    """The page's "layers" view, or None when the run carries no inventory (nothing to show).
    ``converters``: the columns, in order (the page leaves out converters that cannot be imported:
    they are one line above its tables); default every converter of the run."""
    try:
        if excluded is None:
            try:
                excluded = load_excluded()
            except CoverageError:  # an installed copy without the file: no exclusions to show
                excluded = {}
        cov = coverage(doc, excluded)
    except CoverageError:
        return None
    shown = cov.converters if converters is None else [c for c in converters if c in cov.converters]
    return {"percent": f"{cov.percent:.1f}", "covered": len(cov.covered), "relevant": len(cov.relevant),
            "converters": shown,
            "rows": [{"name": r.name, "aliases": [a for a in r.aliases if a != r.name], "state": r.state,
                      "reason": r.reason, "cases": r.cases,
                      "cells": [(r.summary(c), _css(r.statuses.get(c))) for c in shown]}
                     for r in cov.rows]}


def _css(counts) -> str:
    if not counts:
        return "none"
    tried = {s: n for s, n in counts.items() if statuses.tried(s)}
    if not tried:
        return "skip"
    if all(s in statuses.PASSING for s in tried):
        return "pass"
    return "partial" if any(s in statuses.PASSING for s in tried) else "fail"
