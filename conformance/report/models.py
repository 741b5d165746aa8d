"""The models tier's report: architecture -> status per converter row, and what each cell cost.

    python -m conformance.report models reports/results.json [--json FILE]

Built from a results file alone (nothing is run).  The cells are those of the models tier's cases
(tag ``models``: ``cases/models/``, docs/models.md).  For each architecture (case) and converter row
(and opset, when the run has several): the observed status, with the cause of causes.toml that
explains a failure (``record["cause"]``) or ``unexplained``.  Then one line per cell: conversion
time (``stages.convert.seconds``), the ONNX model's size (``facts.model_bytes``), the Keras model's
parameters (``facts.keras_params``), the task-level agreement beside the tolerance (top-1 agreement
of a classifier, the worst cosine similarity of a backbone's hidden states:
``facts.task_agreement``, :mod:`conformance.checks.agreement`; top-1 from ``facts.top5_agreement``
where a run predates it) and the worst absolute error.  Last, the failures with their cause or reason.
"""
from __future__ import annotations

import collections
import dataclasses

from conformance import statuses

#: the tag of the models tier's cases (conformance.run.cells.MODELS_TAG)
MODELS_TAG = "models"
#: characters of a failure's reason shown
REASON_WIDTH = 140


def _num(x) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def agreement(facts: dict | None) -> dict:
    """One cell's task-level agreement over all its batches: ``top1`` (agree, total) and/or ``cosine``
    (the worst vector's similarity); empty when the cell recorded none (it did not run)."""
    facts = facts or {}
    out: dict = {}
    for f in facts.get("task_agreement") or []:
        if f.get("kind") == "top1":
            agree, total = out.get("top1", (0, 0))
            out["top1"] = (agree + int(f.get("agree", 0)), total + int(f.get("total", 0)))
        elif f.get("kind") == "cosine" and _num(f.get("min")) is not None:
            out["cosine"] = min(out.get("cosine", 1.0), float(f["min"]))
    if "top1" not in out and facts.get("top5_agreement"):  # a run before task_agreement: top-1 from top-5
        rows = facts["top5_agreement"]
        out["top1"] = (sum(int(t.get("same_top1", 0)) for t in rows), sum(int(t.get("total", 0)) for t in rows))
    return out


@dataclasses.dataclass
class ModelCell:
    case: str
    family: str
    converter: str
    opset: int
    status: str          # observed (an expected failure shows as what it is)
    recorded: str        # the record's status (XFAIL, PASS, MISMATCH, ...)
    cause: str | None
    reason: str
    convert_seconds: float | None
    model_bytes: int | None
    params: int | None
    agreement: dict
    max_abs_error: float | None

    @property
    def failed(self) -> bool:
        return statuses.tried(self.status) and self.status not in statuses.PASSING

    @property
    def converted(self) -> bool:
        """The converter was reached: not a row that is unavailable, not applicable or whose case failed."""
        return self.status not in statuses.BEFORE_CONVERSION

    @property
    def column(self) -> tuple[str, int]:
        return self.converter, self.opset

    def label(self) -> str:
        """``PASS``, ``MISMATCH (cause-id)``, ``MISMATCH (unexplained)``, ``n/a``..."""
        if self.failed:
            return f"{self.status} ({self.cause or 'unexplained'})"
        return self.status

    def agreement_text(self) -> str:
        parts = []
        if "top1" in self.agreement:
            agree, total = self.agreement["top1"]
            parts.append(f"top-1 {agree}/{total}")
        if "cosine" in self.agreement:
            parts.append(f"cos {self.agreement['cosine']:.6f}")
        return ", ".join(parts)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        if "top1" in d["agreement"]:
            d["agreement"]["top1"] = list(d["agreement"]["top1"])
        return d


def model_cells(doc: dict) -> list[ModelCell]:
    """The models tier's cells of a results document, in the document's order."""
    out = []
    for r in doc.get("records") or []:
        if MODELS_TAG not in (r.get("tags") or []):
            continue
        facts = r.get("facts") or {}
        convert = (r.get("stages") or {}).get("convert") or {}
        observed = str(r.get("observed_status") or r.get("status"))
        out.append(ModelCell(
            case=r["case"], family=str(r.get("family") or ""), converter=r["converter"], opset=int(r["opset"]),
            status=observed, recorded=str(r.get("status")), cause=r.get("cause"), reason=str(r.get("reason") or ""),
            convert_seconds=_num(convert.get("seconds")),
            model_bytes=int(facts["model_bytes"]) if _num(facts.get("model_bytes")) is not None else None,
            params=int(facts["keras_params"]) if _num(facts.get("keras_params")) is not None else None,
            agreement=agreement(facts), max_abs_error=_num(facts.get("max_abs_error"))))
    return out


#: case-name prefixes of the models tier (cases/models/): a cause's cases outside them isolate it.  Not
#: derived from the run's cells: a narrowed run (-k) holds some architectures, a scope may name others
MODELS_PREFIXES = ("app_", "kerashub_")


def isolated_by(doc: dict) -> dict[str, list[str]]:
    """cause id -> the layer-library cases its scope names (the same cause shown alone, outside a
    whole architecture), from the registry the run recorded (``doc["causes"]``); a scope given by
    layer classes or tags names its part as ``layers Normalization``."""
    out: dict[str, list[str]] = {}
    for cid, info in (doc.get("causes") or {}).items():
        names: list[str] = []
        for part in info.get("scope") or []:
            names += [c for c in part.get("cases") or [] if not c.startswith(MODELS_PREFIXES)]
            if part.get("layers") and not part.get("cases"):
                names.append("layers " + ", ".join(part["layers"]))
        out[cid] = list(dict.fromkeys(names))
    return out


def _mb(n: int | None) -> str:
    return "" if n is None else f"{n / 1e6:.2f}"


def _secs(s: float | None) -> str:
    return "" if s is None else f"{s:.1f}"


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head).rstrip()] + [fmt.format(*row).rstrip() for row in body]


def table_lines(cells: list[ModelCell], source: str = "", isolated: dict[str, list[str]] | None = None) -> list[str]:
    if not cells:
        return [f"no cell of the models tier (tag {MODELS_TAG!r}) in {source or 'the results'}: "
                "run it with pytest conformance/ -m models"]
    columns = list(dict.fromkeys(c.column for c in cells))
    opsets = sorted({o for _, o in columns})
    name = (lambda col: col[0]) if len(opsets) == 1 else (lambda col: f"{col[0]}@{col[1]}")
    cases = list(dict.fromkeys(c.case for c in cells))
    by = {(c.case, c.column): c for c in cells}
    counts = collections.Counter(c.status for c in cells)
    tried = [c for c in cells if statuses.tried(c.status)]
    passed = sum(c.status in statuses.PASSING for c in tried)
    lines = [f"models tier: {len(cases)} architectures x {len(columns)} converter rows "
             f"(opset {', '.join(map(str, opsets))}){f', from {source}' if source else ''}: "
             f"{passed}/{len(tried)} tried cells pass; " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))]
    lines += _table(["architecture"] + [name(col) for col in columns],
                    [[case] + [by[(case, col)].label() if (case, col) in by else "" for col in columns]
                     for case in cases])
    lines.append("")
    lines.append("cells: conversion seconds, ONNX MB, Keras parameters, task-level agreement, worst abs error")
    lines += _table(["architecture", "converter", "opset", "status", "convert s", "ONNX MB", "params", "agreement",
                     "max abs err"],
                    [[c.case, c.converter, str(c.opset), c.status, _secs(c.convert_seconds), _mb(c.model_bytes),
                      "" if c.params is None else f"{c.params:,}", c.agreement_text(),
                      "" if c.max_abs_error is None else f"{c.max_abs_error:.2e}"] for c in cells])
    failed = [c for c in cells if c.failed]
    if failed:
        lines.append("")
        lines.append(f"failures ({len(failed)}): cause (causes.toml) or the reason of an unexplained one")
        for c in failed:
            why = f"cause {c.cause}" if c.cause else "unexplained: " + " ".join(c.reason.split())[:REASON_WIDTH]
            lines.append(f"  {c.case} / {c.converter} / opset {c.opset}: {c.status}: {why}")
        causes = list(dict.fromkeys(c.cause for c in failed if c.cause and c.converted))
        if causes and isolated is not None:
            lines.append("")
            lines.append("causes and the layer-library cases that show each alone:")
            for cid in causes:
                archs = list(dict.fromkeys(c.case for c in failed if c.cause == cid and c.converted))
                alone = ", ".join(isolated.get(cid) or []) or "none: a cause seen only on a model"
                lines.append(f"  {cid}: {len(archs)} architectures ({', '.join(archs)}); alone: {alone}")
    flips = [c for c in cells if "top1" in c.agreement and c.agreement["top1"][0] < c.agreement["top1"][1]]
    if flips:
        lines.append("")
        lines.append("top-1 class flipped (whatever the tolerance said):")
        lines.extend(f"  {c.case} / {c.converter} / opset {c.opset} ({c.status}): {c.agreement_text()}"
                     for c in flips)
    return lines


def view(doc: dict, converters: list[str] | None = None) -> dict | None:
    """The page's Models view: one row per architecture, one column per converter row (and opset when
    the run has several), each cell its observed status with the cause that explains it, conversion
    time, model size and task-level agreement; ``None`` when the run holds no models cell."""
    cells = model_cells(doc)
    if not cells:
        return None
    columns = list(dict.fromkeys(c.column for c in cells))
    if converters is not None:
        order = {c: i for i, c in enumerate(converters)}
        columns = sorted((col for col in columns if col[0] in order), key=lambda col: (order[col[0]], col[1]))
    # a row not applicable to any architecture (the seed's literal command) is no column
    columns = [col for col in columns if any(c.column == col and c.status != "NOT_APPLICABLE" for c in cells)]
    several = len({o for _, o in columns}) > 1
    by = {(c.case, c.column): c for c in cells}
    rows = []
    for case in dict.fromkeys(c.case for c in cells):
        mine = [c for c in cells if c.case == case]
        row = {"case": case, "family": mine[0].family, "params": mine[0].params, "cells": []}
        for col in columns:
            c = by.get((case, col))
            if c is None:
                row["cells"].append(None)
                continue
            row["cells"].append({"status": c.status, "recorded": c.recorded, "cause": c.cause,
                                 "failed": c.failed, "agreement": c.agreement_text(),
                                 "seconds": _secs(c.convert_seconds), "mb": _mb(c.model_bytes)})
        rows.append(row)
    pass_rates = []
    for col in columns:
        tried = [c for c in cells if c.column == col and statuses.tried(c.status)]
        if tried:
            pass_rates.append((f"{col[0]}@{col[1]}" if several else col[0],
                               sum(c.status in statuses.PASSING for c in tried), len(tried)))
    alone = isolated_by(doc)
    causes = []
    for cid in dict.fromkeys(c.cause for c in cells if c.failed and c.cause and c.converted):
        causes.append({"id": cid, "architectures": list(dict.fromkeys(c.case for c in cells
                                                                      if c.cause == cid and c.failed and c.converted)),
                       "alone": alone.get(cid) or []})
    return {"columns": [f"{c}@{o}" if several else c for c, o in columns], "rows": rows,
            "pass_rates": pass_rates, "architectures": len(rows), "causes": causes}


def to_json(cells: list[ModelCell]) -> dict:
    return {"cells": [c.to_json() for c in cells]}
