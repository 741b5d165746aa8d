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
    targets = ["fp16"]                           # optional: the cause is of a target's run of the converted
                                                 #   model (conformance.targets; globs), not of the cell itself
    needs = { ops = ["Erfc"] }                   # optional: what a model must hold for the cause to name its
                                                 #   failure outside the listed cases (a user's --model file)
    link = "https://github.com/onnx/tensorflow-onnx/pull/2463"   # issue, PR or source line
    reason = "why, in words, next to its subject"
    workaround = "what to do instead, where something works"     # optional: shown with the cause
    strict = true                                # optional (default true), see below

``targets`` (optional) names what ran the converted model: without it a part names the cell itself (its
onnxruntime run, ``ort``); with it, only those targets' runs of the cells of its scope (``--targets``:
``record["targets"][NAME]``, judged by the same signature, status and ``when``, which may name the target's
packages: ``when = ["onnxconverter-common>=1.16"]``).  A target that differs from Keras exactly as the cell's
onnxruntime run did (``blame = "conversion"``) takes the cell's cause and needs none of its own.

``scope`` (optional) is a list of inline tables with the same scope keys (and ``when``/``missing``),
for a cause whose cells are not one product: each table is one part of the scope, and keys given
on the cause itself are defaults for every part.  A part's ``except = { cases = [...] }`` (or
``layers``, ``tags``, ``converters``, ``opsets``) leaves those cells out of it: "every case at opset
9 but the Dense ones" is one line instead of a list of every other case.  Without ``scope`` the cause's own keys are its
one part.  ``link = "not reported"`` says that nobody reported it upstream yet; then ``report``
names the drafted report (``python -m conformance.report issue ID RESULTS`` writes one).

``needs`` (optional, on the cause or a part) says what a model must hold for the bug to happen, so the
cause can name the same failure in a model it has never seen: ``layers`` (Keras layer classes the model
holds, globs), ``models`` (the class of the model itself: ``Sequential``, ``Functional``, a subclass),
``ops`` (op types in the converted graph, globs over the op histogram), ``settings``
(layer configs: a list of inline tables, e.g. ``{ layer = "Conv*", groups = ">1" }``: a layer whose
class matches and whose config has every other key at that value; a string value that starts with
``>``, ``>=``, ``<``, ``<=`` or ``!=`` compares numbers), or ``any_model = true`` (the converter fails on
every model there).  Every given key must hold (each list: any of its entries).

Matching a cell (pure, here): a cause *covers* a cell when its ``when`` holds and some part of its
scope takes the cell's converter, opset, case name, tags and layer classes.  A failing cell is
expected when a cause that covers it lists the observed status and its signature matches the
normalized observed reason; a failure no cause explains fails the run.  A cell of a case that is
not the suite's own (a ``--model`` file, a ``--cases-module`` case) is named by a cause whose scope
does not list it when a part with ``needs`` holds there (its ``when``, converters and opsets) and the
model meets the needs, with the same status and signature (``Match.by == "needs"``); such a cell is
never XPASS (strictness is for the suite's own cases, where the lists are exact).  A passing cell covered by a
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

from conformance.statuses import BEFORE_CONVERSION, BUG_KINDS, EXPECTABLE, KINDS as STATUS_KINDS, STATUSES_OF_KIND, Status
from conformance.tomlfile import read_toml, tables

#: kind -> the statuses a cause of that kind may produce (a kind says what a user should fear most): the
#: statuses table's ``kinds`` column (:mod:`conformance.statuses`)
KINDS: dict[str, frozenset[str]] = dict(STATUSES_OF_KIND)
#: the order in which pages and summaries list kinds (silent wrong answers first)
KIND_ORDER = list(STATUS_KINDS)
#: the reason ``report causes propose`` drafts; the loader refuses a cause that still has it
PLACEHOLDER = "TODO"
NOT_REPORTED = "not reported"
#: a link that is an upstream issue or pull request
UPSTREAM_LINK = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+")

#: kind -> the status a cause of that kind produces when it names none
KIND_STATUS: dict[str, str] = dict(STATUS_KINDS)

_SELECTOR_KEYS = {"converters", "opsets", "cases", "tags", "layers", "targets"}
_SCOPE_KEYS = _SELECTOR_KEYS | {"when", "missing", "except", "needs"}
_KEYS = _SCOPE_KEYS | {"id", "title", "kind", "status", "signature", "scope", "link", "report", "reason", "strict",
                       "workaround"}
_NEEDS_KEYS = {"models", "layers", "ops", "settings", "any_model"}
_COMPARISON = re.compile(r"^\s*(>=|<=|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
#: the modules of the suite's own cases (cases/): where cause scopes list cells exactly
OWN_CASE_MODULES = "cases."


#: what ran the converted model in the cell itself (conformance.targets.base.ORT): a part without ``targets`` names it
ORT = "ort"
#: how a target's run of a cell is named: ``CELL_ID@TARGET``
TARGET_SEP = "@"


def cells_of(record: Mapping, inherited: bool = False) -> list[Mapping]:
    """The record itself, then one record per target that ran its converted model (``record["targets"]``): the
    cell's fields with the target's ``status``, ``observed_status``, ``stage``, ``reason``, ``signature`` and
    ``cause``, ``target`` set and ``id`` ``CELL_ID@TARGET``.  A target whose failure is the conversion's (it
    differs from Keras exactly as the cell's onnxruntime run did: ``blame = "conversion"``) counts with the
    cell, not again: left out unless ``inherited``."""
    out = [record]
    for name, t in (record.get("targets") or {}).items():
        if not isinstance(t, Mapping) or (t.get("blame") == "conversion" and not inherited):
            continue
        view = {k: v for k, v in record.items() if k not in ("targets", "stages", "signature", "cause", "cause_by",
                                                            "expected_status", "repro", "divergence",
                                                            "second_opinion", "notes")}
        view.update({k: v for k, v in t.items() if k not in ("stages", "facts")}, target=name,
                    id=f"{record.get('id')}{TARGET_SEP}{name}")
        out.append(view)
    return out


#: the module reference of a saved model file (``--model``; cases.files.PREFIX)
MODEL_FILE_PREFIX = "model:"


def model_file(module: str | None) -> bool:
    """Whether a case is a user's saved model file: its name is the file's, so the case-name globs of the
    registry (which name the suite's own cases) never take it."""
    return str(module or "").startswith(MODEL_FILE_PREFIX)


def own_case(module: str | None) -> bool:
    """Whether a case of ``module`` is the suite's own (a built-in family, the layer library, the models
    tier) rather than a user's (``--model`` file, ``--cases-module``).  Unknown (a slim record): own."""
    return not module or str(module).startswith(OWN_CASE_MODULES)
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


# ------------------------------------------------------------------------------------ records
def observed_reason(rec: dict) -> str | None:
    """The words the checks said of a record's cell, before a cause was folded in (None: not recorded)."""
    reason = rec.get("reason")
    if reason is None:
        return None
    reason = str(reason)
    if ". Observed: " in reason and str(rec.get("status")) == Status.XFAIL.value:
        return reason.split(". Observed: ", 1)[1]
    return re.sub(r" \[note: .*?\]$", "", reason)


def signature_of(rec: dict) -> str | None:
    """The normalized signature of a record (None for an old slim record that kept no reason)."""
    if rec.get("signature") is not None:
        return str(rec["signature"])
    reason = observed_reason(rec)
    return None if reason is None else normalize(reason)



# ------------------------------------------------------------------------------------ the data
@dataclasses.dataclass(frozen=True)
class CellView:
    """What a cause's scope looks at: a cell's case, converter, opset, tags and layer classes
    (``layers`` None: unknown, the case was not built); for ``needs``: whether the case is the suite's own,
    the op types of its converted graph and its layers' settings (None: unknown)."""
    case: str
    converter: str
    opset: int
    tags: frozenset[str] = frozenset()
    layers: frozenset[str] | None = None
    own: bool = True
    ops: frozenset[str] | None = None
    settings: tuple[Mapping, ...] | None = None
    #: a user's saved model file (--model): case-name globs never take it (its name is a file's)
    file: bool = False
    #: the class of the model itself (Functional, Sequential, a subclass), None: unknown
    model: str | None = None
    #: what ran the converted model: "ort" (the cell itself) or a target (conformance.targets) on the cell
    target: str = ORT

    @classmethod
    def of_record(cls, rec: Mapping) -> "CellView":
        facts = rec.get("facts") or {}
        layers, ops, settings = facts.get("keras_layers"), facts.get("op_histogram"), facts.get("layer_settings")
        return cls(str(rec["case"]), str(rec["converter"]), int(rec["opset"]), frozenset(rec.get("tags") or ()),
                   frozenset(layers) if layers else None, own_case(rec.get("case_module")),
                   frozenset(ops) if ops else None, tuple(settings) if settings else None,
                   model_file(rec.get("case_module")), facts.get("keras_model"), str(rec.get("target") or ORT))


def _setting_value_holds(want, have) -> bool:
    if isinstance(want, str) and not isinstance(have, str) and isinstance(have, (int, float)) \
            and not isinstance(have, bool):
        m = _COMPARISON.match(want)
        if m:
            op, number = m.group(1), float(m.group(2))
            return {">": have > number, ">=": have >= number, "<": have < number, "<=": have <= number,
                    "!=": have != number}[op]
    return want == have


@dataclasses.dataclass(frozen=True)
class Needs:
    """What a model must hold for a cause to name its failure outside the listed cases (see the module doc)."""
    any_model: bool = False
    layers: tuple[str, ...] | None = None
    ops: tuple[str, ...] | None = None
    settings: tuple[tuple[tuple[str, object], ...], ...] | None = None
    models: tuple[str, ...] | None = None

    def met(self, cell: CellView) -> bool:
        if self.models is not None and not (cell.model and _any_glob(cell.model, self.models)):
            return False
        if self.layers is not None and not (cell.layers and any(_any_glob(n, self.layers) for n in cell.layers)):
            return False
        if self.ops is not None and not (cell.ops and any(_any_glob(o, self.ops) for o in cell.ops)):
            return False
        if self.settings is not None and not any(self._setting_met(dict(s), cell.settings or ()) for s in self.settings):
            return False
        return True

    @staticmethod
    def _setting_met(want: dict, layers) -> bool:
        glob = str(want.get("layer", "*"))
        keys = {k: v for k, v in want.items() if k != "layer"}
        return any(fnmatch.fnmatchcase(str(have.get("class", "")), glob)
                   and all(k in have and _setting_value_holds(v, have[k]) for k, v in keys.items())
                   for have in layers)

    def setting_keys(self) -> set[str]:
        return {k for s in self.settings or () for k, _ in s if k != "layer"}

    def evidence(self, cell: CellView) -> str:
        """What the cell's model holds that meets the needs, in words ("MultiHeadAttention", "the op Erfc")."""
        if self.any_model:
            return "any model fails here"
        parts = []
        if self.models and cell.model:
            parts.append(f"a {cell.model} model")
        if self.layers:
            parts += sorted(n for n in cell.layers or () if _any_glob(n, self.layers))[:3]
        if self.settings:
            for s in self.settings:
                want = dict(s)
                for have in cell.settings or ():
                    if self._setting_met(want, [have]):
                        shown = ", ".join(f"{k}={have[k]}" for k in sorted(want) if k != "layer")
                        parts.append(f"{have.get('class')}({shown})")
                        break
        if self.ops:
            parts += [f"the op {o}" for o in sorted(o for o in cell.ops or () if _any_glob(o, self.ops))[:3]]
        return ", ".join(dict.fromkeys(parts))

    def describe(self) -> str:
        if self.any_model:
            return "any model"
        parts = []
        if self.models:
            parts.append("a model " + " or ".join(self.models))
        if self.layers:
            parts.append("a layer " + " or ".join(self.layers))
        if self.settings:
            parts.append(" or ".join("a " + ", ".join(f"{k}={v}" for k, v in s) for s in self.settings))
        if self.ops:
            parts.append("the op " + " or ".join(self.ops) + " in the converted graph")
        return " and ".join(parts)

    def to_json(self) -> dict:
        out: dict = {"any_model": True} if self.any_model else {}
        if self.models:
            out["models"] = list(self.models)
        if self.layers:
            out["layers"] = list(self.layers)
        if self.ops:
            out["ops"] = list(self.ops)
        if self.settings:
            out["settings"] = [dict(s) for s in self.settings]
        return out


@dataclasses.dataclass(frozen=True)
class Scope:
    converters: tuple[str, ...] | None = None
    #: the targets (globs) whose runs of the converted model the part names; None: the cell itself ("ort")
    targets: tuple[str, ...] | None = None
    opsets: SpecifierSet | tuple[int, ...] | None = None
    cases: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    layers: tuple[str, ...] | None = None
    when: tuple[Requirement, ...] = ()
    missing: tuple[str, ...] = ()
    #: ``except``: cells this part leaves out (same keys: cases, tags, layers, converters, opsets)
    unless: "Scope | None" = None
    #: what a model must hold for this part to name a failure outside its listed cases
    needs: Needs | None = None

    def holds(self, versions: Mapping[str, str | None]) -> bool:
        return (all(requirement_holds(r, versions) for r in self.when)
                and not any(installed(m, versions) for m in self.missing))

    def _row(self, cell: CellView) -> bool:
        """The part's converters, opsets and targets take the cell (the row, the opset and what ran the model,
        whatever the case)."""
        if not _any_glob(cell.target, self.targets or (ORT,)):
            return False
        if self.converters is not None and not _any_glob(cell.converter, self.converters):
            return False
        if isinstance(self.opsets, tuple) and cell.opset not in self.opsets:
            return False
        return not (isinstance(self.opsets, SpecifierSet) and Version(str(cell.opset)) not in self.opsets)

    def takes(self, cell: CellView) -> bool:
        if not self._row(cell):
            return False
        if self.cases is not None and (cell.file or not _any_glob(cell.case, self.cases)):
            return False
        if self.tags is not None and not cell.tags & set(self.tags):
            return False
        if self.layers is not None and not (cell.layers and any(_any_glob(n, self.layers) for n in cell.layers)):
            return False
        return not self._left_out(cell)

    def _left_out(self, cell: CellView) -> bool:
        """``except`` takes the cell: what it leaves out, it leaves out whatever ran the model (the cell itself or a
        target), unless it names targets itself."""
        if self.unless is None:
            return False
        return self.unless.takes(cell if self.unless.targets is not None else dataclasses.replace(cell, target=ORT))

    def reaches(self, cell: CellView) -> bool:
        """The part names ``cell`` by its needs: a user's case (not the suite's own) on a converter and opset
        of the part, outside what ``except`` leaves out, whose model meets the needs."""
        if self.needs is None or cell.own or not self._row(cell):
            return False
        return not self._left_out(cell) and self.needs.met(cell)

    def to_json(self) -> dict:
        out: dict = {}
        for f in ("converters", "targets", "cases", "tags", "layers", "missing"):
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
        if self.needs is not None:
            out["needs"] = self.needs.to_json()
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
    workaround: str = ""

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

    @property
    def upstream(self) -> bool:
        """Its link is an upstream issue or pull request (not a source line, not a project's front page)."""
        return bool(UPSTREAM_LINK.match(self.link))

    @property
    def owes_report(self) -> bool:
        """A converter's or runtime's bug nobody has an upstream issue or pull request for: a drafted report
        (docs/upstream/, ``python -m conformance.report upstream``) is owed."""
        return self.kind in BUG_KINDS and not self.upstream

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "kind": self.kind, "status": list(self.statuses),
                "signature": self.signature, "scope": [s.to_json() for s in self.scopes], "link": self.link,
                "report": self.report, "reason": self.reason, "strict": self.strict, "workaround": self.workaround}

    def setting_keys(self) -> set[str]:
        """The layer config keys its needs read (the worker records those of a user's model)."""
        return {k for s in self.scopes if s.needs is not None for k in s.needs.setting_keys()}


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
    for key in ("converters", "cases", "tags", "layers", "targets"):
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
    if "needs" in raw:
        kw["needs"] = _needs(raw["needs"], where)
    return Scope(**kw)


def _needs(raw, where: str) -> Needs:
    example = 'needs = { ops = ["Erfc"] } or { layers = ["Masking"] } or { settings = [{ layer = "Conv2D", groups = ">1" }] }'
    if not isinstance(raw, dict) or not raw or set(raw) - _NEEDS_KEYS:
        raise CausesError(f"{where}: 'needs' must be an inline table of {', '.join(sorted(_NEEDS_KEYS))}, e.g. {example}")
    if "any_model" in raw:
        if raw["any_model"] is not True or len(raw) > 1:
            raise CausesError(f"{where}: 'needs' with any_model takes only any_model = true")
        return Needs(any_model=True)
    kw: dict = {}
    for key in ("models", "layers", "ops"):
        if key in raw:
            kw[key] = _globs(raw[key], f"{where} needs", key)
    if "settings" in raw:
        items = raw["settings"]
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list) or not items or not all(isinstance(s, dict) and s for s in items):
            raise CausesError(f"{where}: needs 'settings' must be a list of inline tables such as "
                              '{ layer = "Dense", activation = "gelu" }')
        for s in items:
            for k, v in s.items():
                if not isinstance(v, (str, int, float, bool)):
                    raise CausesError(f"{where}: needs setting {k!r} must be a string, number or boolean")
        kw["settings"] = tuple(tuple(sorted(s.items())) for s in items)
    return Needs(**kw)


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
        workaround = _text(raw, "workaround", where)
        out.append(Cause(index=i, id=cid, title=title, kind=kind, statuses=statuses, signature=sig,
                         scopes=scopes, link=link, reason=reason, report=report, strict=strict, workaround=workaround))
    return out


def load(path: str | Path | None) -> list[Cause]:
    if path is None:
        return []
    return parse(read_toml(path, "causes file", CausesError), source=str(path))


# ------------------------------------------------------------------------------------ matching
@dataclasses.dataclass(frozen=True)
class Match:
    """What the registry says of one decided cell: the cause that explains its failure (or None),
    and every cause that covers the cell (for XPASS and for the note on an unexplained failure).
    ``by``: "scope" (the cause lists the cell) or "needs" (a user's model that meets its needs);
    ``strict``: whether a pass inside a strict cause's scope is XPASS (the suite's own cases only)."""
    cause: Cause | None
    covering: tuple[Cause, ...]
    signature: str | None
    by: str = "scope"
    strict: bool = True
    #: by needs: what the model holds that meets them
    evidence: str = ""




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
            return Match(None, covering, None, strict=cell.own)
        sig = signature if signature is not None else None if reason is None else normalize(reason)
        for c in covering:
            if c.explains(observed, sig):
                return Match(c, covering, sig, strict=cell.own)
        if not cell.own and sig is not None:  # a user's model: a cause whose needs it meets names the same failure
            for c, parts in self._holding:
                part = next((p for p in parts if p.reaches(cell)), None)
                if part is not None and c.explains(observed, sig):
                    return Match(c, covering, sig, by="needs", strict=False, evidence=part.needs.evidence(cell))
        return Match(None, covering, sig, strict=cell.own)

    def setting_keys(self) -> list[str]:
        """The layer config keys the causes' needs read: the worker records them for a user's model."""
        return sorted({k for c in self.causes for k in c.setting_keys()})

    def stale(self, records: Iterable[Mapping]) -> list[Cause]:
        """Causes the run could have seen (it covered them with their converter available) and did not."""
        covered: set[str] = set()
        used: set[str] = set()
        for r in (view for rec in records for view in cells_of(rec)):
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
