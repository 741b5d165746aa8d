"""What the targets made of the converted models: ``python -m conformance.report deploy RESULTS...``.

Built from records alone (``record["targets"]``, written by a run with ``--targets``): per target, how many
cells it was tried on and passed (a target that did not run because onnxruntime did not run the model, or
whose packages are missing, is not tried), how many failures are the target's own (it differs from the
cell's onnxruntime run) and how many it inherits from the conversion; then the failing target cells, grouped
by cause (or signature, unexplained).  The page's Deploy view (:mod:`conformance.report.html`) and the
terminal summary read :func:`view`.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import sys

from conformance.causes import ORT, cells_of, signature_of
from conformance.statuses import NOT_TRIED, PASSING, SHORT

#: rows of the Deploy table listed on the page at most (failing rows first)
PAGE_ROWS = 400


@dataclasses.dataclass
class Rate:
    """One target's line: its cells by status, tried and passed (XPASS passes too), its own failures and the
    conversion's it inherits."""
    target: str
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    own: int = 0
    inherited: int = 0
    #: the fallback variant run where the target failed (fp16 keeping some ops in float32): name -> [passed, tried]
    fallback: dict = dataclasses.field(default_factory=dict)

    @property
    def tried(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in NOT_TRIED and s != "UNAVAILABLE")

    @property
    def passed(self) -> int:
        return sum(n for s, n in self.counts.items() if s in PASSING)

    @property
    def rate(self) -> float | None:
        return self.passed / self.tried if self.tried else None

    def __str__(self) -> str:
        rate = "-" if self.rate is None else f"{self.rate:.0%}"
        rest = ", ".join(f"{s} {n}" for s, n in sorted(self.counts.items()) if s not in PASSING)
        fb = "".join(f"; its fallback {n} passes on {p} of those {t}" for n, (p, t) in sorted(self.fallback.items()))
        return (f"{self.target}: {self.passed}/{self.tried} pass ({rate}); {self.own} failure(s) of its own, "
                f"{self.inherited} inherited from the conversion" + (f"; {rest}" if rest else "") + fb)

    def to_json(self) -> dict:
        return {"target": self.target, "tried": self.tried, "passed": self.passed, "rate": self.rate,
                "own_failures": self.own, "inherited": self.inherited, "counts": dict(self.counts),
                "fallback": {n: {"passed": p, "tried": t} for n, (p, t) in self.fallback.items()}}


def targets_of(records) -> list[str]:
    """The targets the records hold, in the order the run gave them."""
    return list(dict.fromkeys(n for r in records for n in (r.get("targets") or {})))


def rates(records) -> list[Rate]:
    """``ort`` (the cells themselves, where onnxruntime ran the converted model: the cells the targets are tried
    on) and each target, in the run's order."""
    names = targets_of(records)
    out = {n: Rate(n) for n in [ORT] + names}
    for r in records:
        if not r.get("targets"):
            continue
        if ((r.get("stages") or {}).get("run") or {}).get("ok"):  # ort: the cells whose model onnxruntime ran
            out[ORT].counts[str(r["status"])] += 1
            out[ORT].own += str(r.get("observed_status") or r["status"]) not in PASSING
        for n, t in r["targets"].items():
            rate = out[n]
            rate.counts[str(t.get("status"))] += 1
            if t.get("blame") == "conversion":
                rate.inherited += 1
            elif str(t.get("observed_status")) not in PASSING and str(t.get("observed_status")) not in NOT_TRIED \
                    and t.get("observed_status") != "UNAVAILABLE":
                rate.own += 1
            fb = (t.get("facts") or {}).get("fallback")
            if isinstance(fb, dict) and fb.get("name"):
                tally = rate.fallback.setdefault(str(fb["name"]), [0, 0])
                tally[1] += 1
                tally[0] += all(st.get("ok", True) for st in (fb.get("stages") or {}).values() if isinstance(st, dict))
    return list(out.values()) if names else []


def failures(records) -> list[dict]:
    """The target cells that failed on their own (not inherited), grouped by cause, else by signature:
    ``[{"target", "cause", "signature", "status", "cells": [ids]}]``, the largest group first."""
    groups: dict[tuple, dict] = {}
    for r in records:
        for v in cells_of(r)[1:]:
            observed = str(v.get("observed_status"))
            if observed in PASSING or observed in NOT_TRIED:
                continue
            key = (v["target"], v.get("cause") or "", "" if v.get("cause") else signature_of(v) or "", str(v["status"]))
            g = groups.setdefault(key, {"target": key[0], "cause": key[1] or None, "signature": key[2] or None,
                                        "status": key[3], "observed": observed, "cells": []})
            g["cells"].append(str(r.get("id")))
    return sorted(groups.values(), key=lambda g: (-len(g["cells"]), g["target"], g["cause"] or "", g["signature"] or ""))


def rows(records, limit: int = PAGE_ROWS) -> tuple[list[dict], int]:
    """Case x converter (x opset, x stack) rows with one status per target (``ort`` first), the rows with a
    failing target first; at most ``limit``.  Returns (rows, how many rows were left out: all theirs passed)."""
    names = [ORT] + targets_of(records)
    out = []
    for r in records:
        if not r.get("targets"):
            continue
        cols = [{"target": ORT, "status": r["status"], "reason": r.get("reason", ""), "cause": r.get("cause")}]
        for n in names[1:]:
            t = (r.get("targets") or {}).get(n) or {}
            cols.append({"target": n, "status": t.get("status", "-"), "reason": t.get("reason", ""),
                         "cause": t.get("cause"), "blame": t.get("blame")})
        bad = any(c["status"] not in PASSING for c in cols)
        out.append({"id": r.get("id"), "case": r["case"], "converter": r["converter"], "opset": r["opset"],
                    "stack": str(r.get("stack") or "default"), "cols": cols, "failing": bad})
    out.sort(key=lambda row: not row["failing"])
    shown = [row for row in out if row["failing"]][:limit]
    return shown, len(out) - len(shown)


def view(records) -> dict | None:
    """What the page's Deploy view shows (None: the run had no target)."""
    records = list(records)
    r = rates(records)
    if not r:
        return None
    shown, left = rows(records)
    return {"targets": [x.target for x in r], "rates": [x.to_json() for x in r], "rows": shown, "left_out": left,
            "failures": failures(records)[:60], "short": SHORT}


def lines(records) -> list[str]:
    """The terminal's lines: one per target."""
    r = rates(records)
    return (["targets (what users do next with the converted model):"] + [f"  {x}" for x in r]) if r else []


def main(paths: list[str], as_json: bool = False, out=sys.stdout, registry: list | None = None) -> int:
    """``registry``: the causes to judge the records by again (:func:`conformance.report.causes.rejudge`), as
    ``causes check`` does; None: as recorded."""
    from conformance.report.causes import rejudge
    from conformance.run.results import load

    docs = [load(p) for p in paths]
    if registry is not None:
        docs = [rejudge(d, registry)[0] for d in docs]
    records = [rec for d in docs for rec in d["records"]]
    if as_json:
        json.dump({"rates": [x.to_json() for x in rates(records)], "failures": failures(records)}, out, indent=1)
        out.write("\n")
        return 0
    if not rates(records):
        print("no target ran in these results (run with --targets, e.g. --targets ort,openvino,fp16)", file=out)
        return 0
    for line in lines(records):
        print(line, file=out)
    groups = failures(records)
    if groups:
        print(f"failing target cells ({sum(len(g['cells']) for g in groups)}), by cause or signature:", file=out)
    for g in groups:
        what = f"cause {g['cause']}" if g["cause"] else f"UNEXPLAINED {g['observed']}: {str(g['signature'])[:160]}"
        cells = ", ".join(g["cells"][:4]) + (f" and {len(g['cells']) - 4} more" if len(g["cells"]) > 4 else "")
        print(f"  {g['target']}: {len(g['cells'])} x {g['status']} {what} ({cells})", file=out)
    return 0
