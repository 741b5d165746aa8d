"""Expected failures as data: loading, validating and matching expectations.toml.

    [[expected]]
    case = "seed_*"                     # glob or list of globs (fnmatch)
    converter = "keras2onnx"            # glob or list of globs
    opsets = ">=9,<13"                  # optional: int, list of ints or a specifier
    when = ["keras2onnx==1.7.0"]        # optional: package requirements, all must hold
    missing = ["jax2onnx"]              # optional: distributions that must all be absent
    status = "UNAVAILABLE"              # the status seen when the entry was written
    reason = "why, in a sentence"
    link = "https://..."                # optional: issue or source line
    strict = false                      # optional: the failure comes and goes (default true)

The first entry that matches a cell applies.  An entry that matches no cell of
a run is *stale* and is reported as such.  A cell that passes against a strict
entry is XPASS (fix or narrow the entry); against a ``strict = false`` entry,
kept for a failure seen to come and go between runs of the same cell, it is
PASS with a note (pytest's ``xfail(strict=False)``).
"""
from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path
from typing import Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from conformance.run.statuses import EXPECTABLE
from conformance.tomlfile import read_toml, tables

_KEYS = {"case", "converter", "opsets", "when", "missing", "status", "reason", "link", "strict"}
_REQUIRED = ("case", "converter", "status", "reason")


#: the reason ``python -m conformance.report propose`` writes; the loader refuses an entry that still has it
PLACEHOLDER = "TODO"


class ExpectationsError(Exception):
    """The expectations file is malformed; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Expectation:
    index: int
    case: tuple[str, ...]
    converter: tuple[str, ...]
    status: str
    reason: str
    link: str = ""
    opsets: SpecifierSet | None = None
    opset_list: tuple[int, ...] | None = None
    when: tuple[Requirement, ...] = ()
    #: distributions that must not be installed (an optional row whose packages are absent: UNAVAILABLE)
    missing: tuple[str, ...] = ()
    #: False: the failure is not deterministic (seen to come and go); a pass is PASS, not XPASS
    strict: bool = True

    def matches(self, case: str, converter: str, opset: int, versions: Mapping[str, str | None]) -> bool:
        if not any(fnmatch.fnmatchcase(case, p) for p in self.case):
            return False
        if not any(fnmatch.fnmatchcase(converter, p) for p in self.converter):
            return False
        if self.opset_list is not None and opset not in self.opset_list:
            return False
        if self.opsets is not None and Version(str(opset)) not in self.opsets:
            return False
        if any(_installed(name, versions) for name in self.missing):
            return False
        return all(_requirement_holds(r, versions) for r in self.when)

    def describe(self) -> str:
        parts = [f"case={'|'.join(self.case)}", f"converter={'|'.join(self.converter)}"]
        if self.opset_list is not None:
            parts.append(f"opsets={list(self.opset_list)}")
        if self.opsets is not None:
            parts.append(f"opsets{self.opsets}")
        if self.when:
            parts.append("when " + ", ".join(map(str, self.when)))
        if self.missing:
            parts.append("missing " + ", ".join(self.missing))
        if not self.strict:
            parts.append("not strict")
        return f"#{self.index} ({' '.join(parts)} -> {self.status})"

    def to_json(self) -> dict:
        return {"index": self.index, "case": list(self.case), "converter": list(self.converter),
                "opsets": (list(self.opset_list) if self.opset_list is not None
                           else str(self.opsets) if self.opsets is not None else None),
                "when": [str(r) for r in self.when], "missing": list(self.missing),
                "status": self.status, "reason": self.reason,
                "link": self.link, "strict": self.strict}


def _installed(name: str, versions: Mapping[str, str | None]) -> bool:
    norm = {canonicalize_name(k): v for k, v in versions.items()}
    if canonicalize_name(name) in norm:
        return norm[canonicalize_name(name)] is not None
    import importlib.metadata as md

    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def _requirement_holds(req: Requirement, versions: Mapping[str, str | None]) -> bool:
    norm = {canonicalize_name(k): v for k, v in versions.items()}
    have = norm.get(canonicalize_name(req.name))
    if have is None:
        return False
    try:
        return req.specifier.contains(Version(have), prereleases=True)
    except InvalidVersion:
        return False


def _globs(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ExpectationsError(f"{where}: '{key}' must be a non-empty string or list of strings")


def parse(data: Mapping, source: str = "<expectations>") -> list[Expectation]:
    unknown_top = set(data) - {"expected"}
    if unknown_top:
        raise ExpectationsError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}; entries go in [[expected]] tables")
    entries = data.get("expected", [])
    if not isinstance(entries, list):
        raise ExpectationsError(f"{source}: 'expected' must be an array of tables ([[expected]])")
    out = []
    for i, where, raw in tables(entries, f"{source}: entry", _KEYS, ExpectationsError):
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise ExpectationsError(f"{where}: missing required key(s) {missing}")
        status = raw["status"]
        if status not in {s.value for s in EXPECTABLE}:
            raise ExpectationsError(f"{where}: status {status!r} is not an expected-failure status "
                                    f"({', '.join(sorted(s.value for s in EXPECTABLE))})")
        reason = raw["reason"]
        if not isinstance(reason, str) or not reason.strip():
            raise ExpectationsError(f"{where}: 'reason' must say why, in words")
        if reason.strip().upper().startswith(PLACEHOLDER):
            raise ExpectationsError(f"{where}: 'reason' is still the placeholder of a proposal ({reason.strip()[:40]!r}); "
                                    "write why the cell fails, in words, and the link")
        link = raw.get("link", "")
        if not isinstance(link, str):
            raise ExpectationsError(f"{where}: 'link' must be a string")
        opsets, opset_list = None, None
        if "opsets" in raw:
            o = raw["opsets"]
            if isinstance(o, bool):
                raise ExpectationsError(f"{where}: 'opsets' must be an int, a list of ints or a specifier string")
            if isinstance(o, int):
                opset_list = (o,)
            elif isinstance(o, list) and o and all(isinstance(v, int) and not isinstance(v, bool) for v in o):
                opset_list = tuple(o)
            elif isinstance(o, str):
                try:
                    opsets = SpecifierSet(o)
                except InvalidSpecifier:
                    raise ExpectationsError(f"{where}: 'opsets' {o!r} is not a version specifier such as '>=9,<13'") from None
            else:
                raise ExpectationsError(f"{where}: 'opsets' must be an int, a list of ints or a specifier string")
        when = raw.get("when", [])
        if isinstance(when, str):
            when = [when]
        if not isinstance(when, list) or not all(isinstance(w, str) for w in when):
            raise ExpectationsError(f"{where}: 'when' must be a list of requirement strings such as 'tf2onnx>=1.17'")
        reqs = []
        for w in when:
            try:
                reqs.append(Requirement(w))
            except InvalidRequirement:
                raise ExpectationsError(f"{where}: 'when' item {w!r} is not a requirement such as 'onnx>=1.19'") from None
        missing = raw.get("missing", [])
        if isinstance(missing, str):
            missing = [missing]
        if not isinstance(missing, list) or not all(isinstance(m, str) and m.strip() for m in missing):
            raise ExpectationsError(f"{where}: 'missing' must be a list of distribution names such as 'jax2onnx'")
        strict = raw.get("strict", True)
        if not isinstance(strict, bool):
            raise ExpectationsError(f"{where}: 'strict' must be true or false")
        out.append(Expectation(index=i, case=_globs(raw["case"], where, "case"),
                               converter=_globs(raw["converter"], where, "converter"),
                               status=status, reason=reason.strip(), link=link, opsets=opsets,
                               opset_list=opset_list, when=tuple(reqs), missing=tuple(m.strip() for m in missing),
                               strict=strict))
    return out


def load(path: str | Path | None) -> list[Expectation]:
    if path is None:
        return []
    return parse(read_toml(path, "expectations file", ExpectationsError), source=str(path))


class Matcher:
    """Finds the entry for a cell and remembers which entries were used."""

    def __init__(self, entries: list[Expectation], versions: Mapping[str, str | None]):
        self.entries = entries
        self.versions = dict(versions)
        self.used: set[int] = set()

    def find(self, case: str, converter: str, opset: int) -> Expectation | None:
        for e in self.entries:
            if e.matches(case, converter, opset, self.versions):
                return e
        return None

    def mark_collected(self, cells) -> None:
        """Note the entries that match any collected cell (the rest are stale)."""
        for case, converter, opset in cells:
            e = self.find(case, converter, opset)
            if e is not None:
                self.used.add(e.index)

    def stale(self) -> list[Expectation]:
        return [e for e in self.entries if e.index not in self.used]
