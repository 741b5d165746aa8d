"""Comparing two results files cell by cell: regressions, fixes, changes, new and removed cells.

A *regression* is a cell that was in an accepted state (PASS, XFAIL; XPASS counts
as passing too: its outputs matched) and is now in a worse one.  Worse is by the rank of the
status table (:mod:`conformance.statuses`):
passing (PASS, XPASS) < expected failure (XFAIL) < anything else.  So PASS -> XFAIL
is a regression (the cell now fails, an expectation entry only hides it), and
XFAIL -> CRASH is one (it fails differently than accepted).  A *fix* is a move to a
better rank; a *change* is any other status change (e.g. MISMATCH -> CONVERT_ERROR).
New and removed cells are reported; only regressions fail the gate.

Cells are paired by (case, converter, opset).  When both files hold the same set
of stacks the stack is part of the key; when each holds one stack (the upgrade
workflow: old stack against new stack) the stacks are paired with each other.
"""
from __future__ import annotations

import dataclasses

from conformance.run.results import ResultsError
from conformance.statuses import ACCEPTED, rank


KINDS = ("regression", "fix", "changed", "new", "removed")


@dataclasses.dataclass(frozen=True)
class Change:
    kind: str                 # one of KINDS
    key: tuple                # (stack or "", case, converter, opset)
    old: dict | None
    new: dict | None

    @property
    def old_status(self) -> str | None:
        return self.old["status"] if self.old else None

    @property
    def new_status(self) -> str | None:
        return self.new["status"] if self.new else None

    @property
    def record(self) -> dict:
        return self.new if self.new is not None else self.old

    def label(self) -> str:
        stack, case, conv, opset = self.key
        return f"{case} / {conv} / opset {opset}" + (f" [{stack}]" if stack else "")

    def to_json(self) -> dict:
        stack, case, conv, opset = self.key
        r = self.record
        return {"kind": self.kind, "stack": stack or None, "case": case, "converter": conv, "opset": opset,
                "old_status": self.old_status, "new_status": self.new_status,
                "stage": r.get("stage"), "reason": r.get("reason", ""), "nodeid": r.get("nodeid")}


@dataclasses.dataclass
class Diff:
    old_stacks: list[str]
    new_stacks: list[str]
    by_stack: bool
    changes: list[Change]
    unchanged: int

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def regressions(self) -> list[Change]:
        return self.of("regression")

    def counts(self) -> dict[str, int]:
        return {k: len(self.of(k)) for k in KINDS} | {"unchanged": self.unchanged}

    def to_json(self) -> dict:
        return {"old_stacks": self.old_stacks, "new_stacks": self.new_stacks, "paired_by_stack": self.by_stack,
                "counts": self.counts(), "changes": [c.to_json() for c in self.changes]}


def stacks_of(doc: dict) -> list[str]:
    return sorted({str(r.get("stack") or "default") for r in doc["records"]}) or \
        [str(doc.get("run", {}).get("stack") or "default")]


def _strict(rec: dict, causes: dict | None) -> bool | None:
    """Whether the cause a record names (its expectation entry, in a file written before causes) is strict."""
    if rec.get("cause"):
        return ((causes or {}).get(rec["cause"]) or {}).get("strict")
    return (rec.get("expectation") or {}).get("strict")


def classify(old: dict | None, new: dict | None, causes: dict | None = None) -> str | None:
    """The kind of change between two records of one cell, None when its status is the same
    (``causes``: the new document's registry, ``doc["causes"]``)."""
    if old is None:
        return "new"
    if new is None:
        return "removed"
    a, b = old["status"], new["status"]
    if a == b:
        return None
    if {a, b} == {"PASS", "XFAIL"} and _strict(new, causes) is False:
        return "changed"  # a failure its entry says comes and goes (strict = false) came or went
    if a in ACCEPTED and rank(b) > rank(a):
        return "regression"
    if rank(b) < rank(a):
        return "fix"
    return "changed"


def diff(old_doc: dict, new_doc: dict) -> Diff:
    old_stacks, new_stacks = stacks_of(old_doc), stacks_of(new_doc)
    if old_stacks == new_stacks:
        by_stack = len(old_stacks) > 1
    elif len(old_stacks) == 1 and len(new_stacks) == 1:
        by_stack = False
    else:
        raise ResultsError(f"cannot pair stacks: the old file holds {', '.join(old_stacks)}, the new one "
                           f"{', '.join(new_stacks)}; diff one stack against one stack or the same stacks")

    def keyed(doc: dict) -> dict:
        out = {}
        for r in doc["records"]:
            k = (str(r.get("stack") or "default") if by_stack else "", r["case"], r["converter"], int(r["opset"]))
            out[k] = r
        return out

    old, new = keyed(old_doc), keyed(new_doc)
    changes, unchanged = [], 0
    order = {k: i for i, k in enumerate(KINDS)}
    for k in sorted(set(old) | set(new)):
        kind = classify(old.get(k), new.get(k), new_doc.get("causes"))
        if kind is None:
            unchanged += 1
        else:
            changes.append(Change(kind, k, old.get(k), new.get(k)))
    changes.sort(key=lambda c: (order[c.kind], c.key))
    return Diff(old_stacks, new_stacks, by_stack, changes, unchanged)


def _short(text: str, width: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def table_lines(d: Diff, kinds=KINDS, reason_width: int = 100) -> list[str]:
    """A plain-text table of the changes of the given kinds, then one line of counts."""
    rows = [(c.kind.upper(), c.label(), c.old_status or "-", c.new_status or "-", c.record.get("stage") or "-",
             _short(c.record.get("reason", ""), reason_width)) for c in d.changes if c.kind in kinds]
    lines = []
    if rows:
        head = ("change", "cell", "old", "new", "stage", "now (reason)")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]
        fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1]  # noqa: E731
        lines.append(fmt(head))
        lines.append(fmt(tuple("-" * w for w in widths) + ("-" * 12,)))
        lines += [fmt(r) for r in rows]
    pairing = (f"stacks {', '.join(d.old_stacks)} -> {', '.join(d.new_stacks)}" if not d.by_stack
               else f"stacks paired by name: {', '.join(d.new_stacks)}")
    lines.append(counts_text(d) + f" ({pairing})")
    return lines


_PLURAL = {"regression": "regressions", "fix": "fixes"}


def counts_text(d: Diff) -> str:
    """E.g. '2 regressions, 1 fix, 0 changed, 3 new, 0 removed, 40 unchanged'."""
    return ", ".join(f"{n} {_PLURAL.get(k, k) if n != 1 else k}" for k, n in d.counts().items())
