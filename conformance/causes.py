"""Known failures as causes: the registry (causes.toml), normalized failure signatures, and matching.

A *cause* is one reason why cells fail: one converter bug, one missing handler, one limit of a
stack.  The registry is hand-written data (``causes.toml`` at the checkout's root, shipped in the
wheel); each ``[[cause]]`` block reads like this:

    [[cause]]
    id = "erfc"                                  # short, stable, unique: records and pages name it
    title = "exact GELU leaves TensorFlow's Erfc op in the graph"
    kind = "invalid graph"                       # one of KINDS
    status = "INVALID"                           # optional: the status(es) it produces (default: the kind's)
    signature = "No Op registered for Erfc"      # regex searched in the *normalized* observed reason
    converters = ["tf2onnx-keras", "tf2onnx-cli"]    # scope, all optional: globs of converter rows,
    opsets = ">=9"                               #   opsets (int, list or specifier), case names (globs),
    cases = ["mlp_gelu", "act_gelu*"]            #   case tags, Keras layer classes the model holds
    when = ["tf2onnx>=1.14,<1.18"]               # package requirements that must all hold
    missing = ["jax2onnx"]                       # optional: distributions that must be absent
    link = "https://github.com/onnx/tensorflow-onnx/pull/2463"   # issue, PR or source line
    reason = "why, in words, next to its subject"
    strict = true                                # optional (default true), see below

``scope`` (optional) is a list of inline tables with the same scope keys (and ``when``/``missing``),
for a cause whose cells are not one product: each table is one part of the scope, and keys given
on the cause itself are defaults for every part.  A part's ``except = { cases = [...] }`` (or
``layers``, ``tags``, ``converters``, ``opsets``) leaves those cells out of it: "every case at opset
9 but the Dense ones" is one line instead of a list of every other case.  Without ``scope`` the cause's own keys are its
one part.  ``link = "not reported"`` says that nobody reported it upstream yet; then ``report``
names the drafted report (``python -m conformance.report issue ID RESULTS`` writes one).

Matching a cell (pure, here): a cause *covers* a cell when its ``when`` holds and some part of its
scope takes the cell's converter, opset, case name, tags and layer classes.  A failing cell is
expected when a cause that covers it lists the observed status and its signature matches the
normalized observed reason; a failure no cause explains fails the run.  A passing cell covered by a
strict cause is XPASS (the scope is too wide, or the bug is fixed); covered only by ``strict =
false`` causes (failures seen to come and go) it is PASS with a note.  A cause is *stale* in a run
only if the run covered it with its converter available and no cell matched it.

Signatures are compared after :func:`normalize`, which strips what varies between runs and
machines (ANSI codes, paths, addresses, versions, numbers, numeric suffixes of node and tensor
names), so two runs of the same failure give the same text (the onnx2tf regression audit's idea).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import re
from pathlib import Path
from typing import Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from conformance.statuses import BEFORE_CONVERSION, EXPECTABLE, Status
from conformance.tomlfile import read_toml, tables

#: kind -> the statuses a cause of that kind may produce (a kind says what a user should fear most)
KINDS: dict[str, frozenset[str]] = {
    "silent wrong answer": frozenset({"MISMATCH", "SIGNATURE"}),
    "invalid graph": frozenset({"INVALID", "SIGNATURE", "CONVERT_ERROR"}),
    "conversion error": frozenset({"CONVERT_ERROR", "UNSUPPORTED_OPSET", "CRASH", "TIMEOUT", "INVALID"}),
    "runtime error": frozenset({"RUNTIME_ERROR", "INVALID"}),
    "unavailable": frozenset({"UNAVAILABLE"}),
    "case error": frozenset({"CASE_ERROR", "DEGENERATE"}),
    "not applicable": frozenset({"NOT_APPLICABLE"}),
}
#: the order in which pages and summaries list kinds (silent wrong answers first)
KIND_ORDER = list(KINDS)
#: the reason ``report causes propose`` drafts; the loader refuses a cause that still has it
PLACEHOLDER = "TODO"
NOT_REPORTED = "not reported"

#: kind -> the status a cause of that kind produces when it names none
KIND_STATUS: dict[str, str] = {
    "silent wrong answer": "MISMATCH", "invalid graph": "INVALID", "conversion error": "CONVERT_ERROR",
    "runtime error": "RUNTIME_ERROR", "unavailable": "UNAVAILABLE", "case error": "CASE_ERROR",
    "not applicable": "NOT_APPLICABLE",
}

_SELECTOR_KEYS = {"converters", "opsets", "cases", "tags", "layers"}
_SCOPE_KEYS = _SELECTOR_KEYS | {"when", "missing", "except"}
_KEYS = _SCOPE_KEYS | {"id", "title", "kind", "status", "signature", "scope", "link", "report", "reason", "strict"}
_REQUIRED = ("id", "title", "kind", "signature", "link", "reason")
_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


class CausesError(Exception):
    """The causes file is malformed; the message is one line."""


# ------------------------------------------------------------------------------------ normalizing
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\[(?:[0-9;]+)m")
_PATH = re.compile(r"(?<![\w./])(?:[A-Za-z]:)?(?:/[\w.@+~-]+){2,}/?")
_ADDR = re.compile(r"\b0x[0-9a-fA-F]+\b")
_HASH = re.compile(r"\b[0-9a-f]{12,}\b")
_SUFFIX = re.compile(r"(?<=[A-Za-z0-9])_+\d+(?=\b|_)")
_SUFFIXES = re.compile(r"(?:_N)+")
_TORCH_VALUE = re.compile(r"%\d+\b")
_VERSION = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?:[a-z]+\d*)?(?:\+\w+)?(?![\w.])")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
_SPACE = re.compile(r"\s+")


def normalize(text: str | None) -> str:
    """The failure text with what varies between runs and machines replaced by placeholders.

    ANSI codes go, paths become ``<path>``, addresses ``<addr>``, long hex ids ``<hash>``,
    versions ``<version>``, numeric suffixes of names ``_N`` (``node_Split_5`` -> ``node_Split_N``,
    ``keras_tensor_23_clone`` -> ``keras_tensor_N_clone``), torch values ``%N`` and other numbers ``N``;
    whitespace is collapsed.  Identifiers with digits inside (``Conv2D``, ``float32``) stay."""
    t = _ANSI.sub("", str(text or ""))
    t = _PATH.sub("<path>", t)
    t = _ADDR.sub("<addr>", t)
    t = _HASH.sub("<hash>", t)
    t = _SUFFIXES.sub("_N", _SUFFIX.sub("_N", t))
    t = _TORCH_VALUE.sub("%N", t)
    t = _VERSION.sub("<version>", t)
    t = _NUMBER.sub("N", t)
    return _SPACE.sub(" ", t).strip()


# ------------------------------------------------------------------------------------ the data
@dataclasses.dataclass(frozen=True)
class CellView:
    """What a cause's scope looks at: a cell's case, converter, opset, tags and layer classes
    (``layers`` None: unknown, the case was not built)."""
    case: str
    converter: str
    opset: int
    tags: frozenset[str] = frozenset()
    layers: frozenset[str] | None = None

    @classmethod
    def of_record(cls, rec: Mapping) -> "CellView":
        layers = (rec.get("facts") or {}).get("keras_layers")
        return cls(str(rec["case"]), str(rec["converter"]), int(rec["opset"]), frozenset(rec.get("tags") or ()),
                   frozenset(layers) if layers else None)


@dataclasses.dataclass(frozen=True)
class Scope:
    converters: tuple[str, ...] | None = None
    opsets: SpecifierSet | tuple[int, ...] | None = None
    cases: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    layers: tuple[str, ...] | None = None
    when: tuple[Requirement, ...] = ()
    missing: tuple[str, ...] = ()
    #: ``except``: cells this part leaves out (same keys: cases, tags, layers, converters, opsets)
    unless: "Scope | None" = None

    def holds(self, versions: Mapping[str, str | None]) -> bool:
        return (all(requirement_holds(r, versions) for r in self.when)
                and not any(installed(m, versions) for m in self.missing))

    def takes(self, cell: CellView) -> bool:
        if self.converters is not None and not _any_glob(cell.converter, self.converters):
            return False
        if isinstance(self.opsets, tuple) and cell.opset not in self.opsets:
            return False
        if isinstance(self.opsets, SpecifierSet) and Version(str(cell.opset)) not in self.opsets:
            return False
        if self.cases is not None and not _any_glob(cell.case, self.cases):
            return False
        if self.tags is not None and not cell.tags & set(self.tags):
            return False
        if self.layers is not None and not (cell.layers and any(_any_glob(n, self.layers) for n in cell.layers)):
            return False
        return self.unless is None or not self.unless.takes(cell)

    def to_json(self) -> dict:
        out: dict = {}
        for f in ("converters", "cases", "tags", "layers", "missing"):
            v = getattr(self, f)
            if v:
                out[f] = list(v)
        if isinstance(self.opsets, tuple):
            out["opsets"] = list(self.opsets)
        elif self.opsets is not None:
            out["opsets"] = str(self.opsets)
        if self.when:
            out["when"] = [str(r) for r in self.when]
        if self.unless is not None:
            out["except"] = self.unless.to_json()
        return out


@dataclasses.dataclass(frozen=True)
class Cause:
    index: int
    id: str
    title: str
    kind: str
    statuses: tuple[str, ...]
    signature: str
    scopes: tuple[Scope, ...]
    link: str
    reason: str
    report: str = ""
    strict: bool = True

    @property
    def pattern(self) -> re.Pattern:
        return _compiled(self.signature)

    def covers(self, cell: CellView, versions: Mapping[str, str | None]) -> bool:
        return any(s.holds(versions) and s.takes(cell) for s in self.scopes)

    def active(self, versions: Mapping[str, str | None]) -> bool:
        """Its ``when`` holds for some part of the scope on these versions."""
        return any(s.holds(versions) for s in self.scopes)

    def explains(self, status: str, normalized: str | None) -> bool:
        """``normalized`` None: the failure's words were not kept (an older slim file): status alone."""
        return status in self.statuses and (normalized is None or bool(self.pattern.search(normalized)))

    @property
    def silent(self) -> bool:
        return self.kind == "silent wrong answer"

    def describe(self) -> str:
        return f"{self.id} ({'|'.join(self.statuses)}: {self.title})"

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "kind": self.kind, "status": list(self.statuses),
                "signature": self.signature, "scope": [s.to_json() for s in self.scopes], "link": self.link,
                "report": self.report, "reason": self.reason, "strict": self.strict}


_PATTERNS: dict[str, re.Pattern] = {}


def _compiled(signature: str) -> re.Pattern:
    if signature not in _PATTERNS:
        _PATTERNS[signature] = re.compile(signature)
    return _PATTERNS[signature]


def _any_glob(name: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def _norm_versions(versions: Mapping[str, str | None]) -> dict[str, str | None]:
    return {canonicalize_name(k): v for k, v in versions.items()}


def installed(name: str, versions: Mapping[str, str | None]) -> bool:
    """Whether distribution ``name`` is installed: from ``versions`` when it names it, else asked."""
    norm = _norm_versions(versions)
    if canonicalize_name(name) in norm:
        return norm[canonicalize_name(name)] is not None
    import importlib.metadata as md

    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def requirement_holds(req: Requirement, versions: Mapping[str, str | None]) -> bool:
    have = _norm_versions(versions).get(canonicalize_name(req.name))
    if have is None:
        return False
    try:
        return req.specifier.contains(Version(have), prereleases=True)
    except InvalidVersion:
        return False


# ------------------------------------------------------------------------------------ loading
def _globs(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise CausesError(f"{where}: '{key}' must be a non-empty string or list of strings")


def _opsets(value, where: str):
    if isinstance(value, bool):
        raise CausesError(f"{where}: 'opsets' must be an int, a list of ints or a specifier string")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    if isinstance(value, str):
        try:
            return SpecifierSet(value)
        except InvalidSpecifier:
            raise CausesError(f"{where}: 'opsets' {value!r} is not a specifier such as '>=9,<13'") from None
    raise CausesError(f"{where}: 'opsets' must be an int, a list of ints or a specifier string")


def _requirements(value, where: str) -> tuple[Requirement, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise CausesError(f"{where}: 'when' must be a list of requirements such as 'tf2onnx>=1.17'")
    out = []
    for w in value:
        try:
            out.append(Requirement(w))
        except InvalidRequirement:
            raise CausesError(f"{where}: 'when' item {w!r} is not a requirement such as 'onnx>=1.19'") from None
    return tuple(out)


def _scope(raw: Mapping, where: str) -> Scope:
    kw: dict = {}
    for key in ("converters", "cases", "tags", "layers"):
        if key in raw:
            kw[key] = _globs(raw[key], where, key)
    if "opsets" in raw:
        kw["opsets"] = _opsets(raw["opsets"], where)
    if "when" in raw:
        kw["when"] = _requirements(raw["when"], where)
    if "missing" in raw:
        m = raw["missing"]
        m = [m] if isinstance(m, str) else m
        if not isinstance(m, list) or not all(isinstance(x, str) and x.strip() for x in m):
            raise CausesError(f"{where}: 'missing' must be a list of distribution names such as 'jax2onnx'")
        kw["missing"] = tuple(x.strip() for x in m)
    if "except" in raw:
        ex = raw["except"]
        if not isinstance(ex, dict) or not ex or set(ex) - _SELECTOR_KEYS:
            raise CausesError(f"{where}: 'except' must be an inline table of {', '.join(sorted(_SELECTOR_KEYS))}, "
                              "e.g. except = {{ cases = [\"dense_*\"] }}")
        kw["unless"] = _scope(ex, f"{where} except")
    return Scope(**kw)


def _text(raw: Mapping, key: str, where: str) -> str:
    v = raw.get(key, "")
    if not isinstance(v, str):
        raise CausesError(f"{where}: '{key}' must be a string")
    return " ".join(v.split())


def parse(data: Mapping, source: str = "<causes>") -> list[Cause]:
    unknown_top = set(data) - {"cause"}
    if unknown_top:
        raise CausesError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}; causes go in [[cause]] tables")
    items = data.get("cause", [])
    if not isinstance(items, list):
        raise CausesError(f"{source}: 'cause' must be an array of tables ([[cause]])")
    out: list[Cause] = []
    seen: dict[str, str] = {}
    for i, where, raw in tables(items, f"{source}: cause", _KEYS, CausesError):
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise CausesError(f"{where}: missing required key(s) {missing}")
        cid = raw["id"]
        if not isinstance(cid, str) or not _ID.match(cid):
            raise CausesError(f"{where}: 'id' {cid!r} must be lower-case letters, digits, '-' and '.'")
        where = f"{source}: cause {cid!r}"
        if cid in seen:
            raise CausesError(f"{where}: the id is used twice")
        seen[cid] = where
        kind = raw["kind"]
        if kind not in KINDS:
            raise CausesError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        statuses = _globs(raw.get("status", KIND_STATUS[kind]), where, "status")
        for s in statuses:
            if s not in {x.value for x in EXPECTABLE}:
                raise CausesError(f"{where}: status {s!r} is not an expected-failure status "
                                  f"({', '.join(sorted(x.value for x in EXPECTABLE))})")
        if not set(statuses) & KINDS[kind]:
            raise CausesError(f"{where}: a cause of kind {kind!r} produces one of {'|'.join(sorted(KINDS[kind]))}, "
                              f"not only {'|'.join(statuses)}")
        title, reason, link, report = (_text(raw, k, where) for k in ("title", "reason", "link", "report"))
        if not title or not reason:
            raise CausesError(f"{where}: 'title' and 'reason' must say what and why, in words")
        for text in (title, reason):
            if text.upper().startswith(PLACEHOLDER):
                raise CausesError(f"{where}: still the placeholder of a proposal ({text[:40]!r}); write what and why, "
                                  "in words, and the link")
        if not link:
            raise CausesError(f"{where}: 'link' must name the upstream issue, PR or source line, or say "
                              f"{NOT_REPORTED!r} (then 'report' names the drafted report)")
        if link == NOT_REPORTED and not report:
            raise CausesError(f"{where}: link = {NOT_REPORTED!r} needs 'report', the drafted upstream report "
                              "(python -m conformance.report issue ID RESULTS writes one)")
        sig = raw["signature"]
        if not isinstance(sig, str) or not sig:
            raise CausesError(f"{where}: 'signature' must be a regular expression over the normalized reason")
        try:
            re.compile(sig)
        except re.error as exc:
            raise CausesError(f"{where}: 'signature' is not a regular expression: {exc}") from None
        strict = raw.get("strict", True)
        if not isinstance(strict, bool):
            raise CausesError(f"{where}: 'strict' must be true or false")
        base = {k: raw[k] for k in _SCOPE_KEYS if k in raw}
        parts = raw.get("scope")
        if parts is None:
            scopes = (_scope(base, where),)
        else:
            if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
                raise CausesError(f"{where}: 'scope' must be a non-empty list of inline tables")
            for p in parts:
                unknown = set(p) - _SCOPE_KEYS
                if unknown:
                    raise CausesError(f"{where}: unknown scope key(s) {sorted(unknown)} (allowed: {sorted(_SCOPE_KEYS)})")
            scopes = tuple(_scope({**base, **p}, f"{where} scope #{n}") for n, p in enumerate(parts, start=1))
        out.append(Cause(index=i, id=cid, title=title, kind=kind, statuses=statuses, signature=sig,
                         scopes=scopes, link=link, reason=reason, report=report, strict=strict))
    return out


def load(path: str | Path | None) -> list[Cause]:
    if path is None:
        return []
    return parse(read_toml(path, "causes file", CausesError), source=str(path))


# ------------------------------------------------------------------------------------ matching
@dataclasses.dataclass(frozen=True)
class Match:
    """What the registry says of one decided cell: the cause that explains its failure (or None),
    and every cause that covers the cell (for XPASS and for the note on an unexplained failure)."""
    cause: Cause | None
    covering: tuple[Cause, ...]
    signature: str | None




class Registry:
    """The causes of one run (its package versions), matched against decided cells."""

    def __init__(self, causes: list[Cause], versions: Mapping[str, str | None]):
        self.causes = list(causes)
        self.versions = dict(versions)
        self.by_id = {c.id: c for c in self.causes}
        # the versions are the run's, fixed: which parts of each scope hold is decided once, not per cell
        self._holding = [(c, tuple(s for s in c.scopes if s.holds(self.versions))) for c in self.causes]

    def covering(self, cell: CellView) -> tuple[Cause, ...]:
        return tuple(c for c, parts in self._holding if any(s.takes(cell) for s in parts))

    def match(self, cell: CellView, observed: str, reason: str | None = None,
              signature: str | None = None) -> Match:
        """The cause explaining ``observed`` with ``reason`` (normalized here unless ``signature`` is
        given; neither: matched on status alone).  A passing cell has no signature."""
        covering = self.covering(cell)
        if observed == Status.PASS.value:
            return Match(None, covering, None)
        sig = signature if signature is not None else None if reason is None else normalize(reason)
        for c in covering:
            if c.explains(observed, sig):
                return Match(c, covering, sig)
        return Match(None, covering, sig)

    def stale(self, records: Iterable[Mapping]) -> list[Cause]:
        """Causes the run could have seen (it covered them with their converter available) and did not."""
        covered: set[str] = set()
        used: set[str] = set()
        for r in records:
            if r.get("cause"):
                used.add(str(r["cause"]))
            observed = str(r.get("observed_status") or r.get("status"))
            cell = None
            for c in self.causes:
                if c.id in covered:
                    continue
                if observed in BEFORE_CONVERSION and observed not in c.statuses:
                    continue  # the converter was not there, or the case never reached it: nothing could be seen
                cell = cell or CellView.of_record(r)
                if c.covers(cell, self.versions):
                    covered.add(c.id)
        return [c for c in self.causes if c.id in covered and c.id not in used]


def table(causes: Iterable[Cause], versions: Mapping[str, str | None]) -> dict[str, dict]:
    """The registry as the results document carries it: id -> cause (with ``active`` on this stack)."""
    return {c.id: dict(c.to_json(), active=c.active(versions)) for c in causes}
