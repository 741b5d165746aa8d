"""The one status table: every status a cell can end in, and everything the suite makes of it.

Every other module reads this table (pytest outcome, which statuses a cause may
name, the rank the diff and the baseline gate compare, whether a cell counts as tried in a
pass rate, what the fuzz property does with it, the short label and the colour of the page).  A
new status is one new row here, and, for a status a cell's checks give, the failure of the stage
that gives it in the stage table (:mod:`conformance.stages`; ``tests/test_verdict.py`` checks that
every failing status comes from some stage).

``kinds``: the kinds of cause (what a user should fear most) a failing status belongs to, the first
its own (``causes propose`` drafts it, the page groups by it); the others are kinds whose causes may
produce it too (an INVALID graph is a conversion error's or a runtime error's outcome as well).
:data:`KINDS` (kind -> its default status) orders the kinds, silent wrong answers first.

``rank``: 0 passing < 1 expected failure < 2 anything else (a regression is a move from an
accepted rank to a worse one).  ``fuzz``: ``fine`` (the property holds), ``discard`` (the
generated example proves nothing: hypothesis rejects it) or ``fail``.
"""
from __future__ import annotations

import dataclasses
import enum


class Name(str, enum.Enum):
    """A name of one of the suite's tables (a status, a stage): a string that prints as its value."""

    def __str__(self) -> str:
        return self.value


class Status(Name):
    PASS = "PASS"
    MISMATCH = "MISMATCH"
    SIGNATURE = "SIGNATURE"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    INVALID = "INVALID"
    CONVERT_ERROR = "CONVERT_ERROR"
    UNSUPPORTED_OPSET = "UNSUPPORTED_OPSET"
    DEGENERATE = "DEGENERATE"
    CASE_ERROR = "CASE_ERROR"
    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    XFAIL = "XFAIL"
    XPASS = "XPASS"


@dataclasses.dataclass(frozen=True)
class Facts:
    outcome: str        # the pytest outcome of the cell's test: passed, failed, skipped, xfailed
    expectable: bool    # a cause of causes.toml may produce it
    rank: int           # 0 passing, 1 expected failure, 2 other
    tried: bool         # counts in a converter's pass rate (False: no claim was made)
    fuzz: str           # fine, discard or fail
    short: str          # label inside a cell of the page
    meaning: str
    colour: str = "#999999"  # background of the status on the pages (the text colour is derived from it)
    kinds: tuple[str, ...] = ()  # the kinds of cause it belongs to, its own first (empty: not a failure)

    @property
    def kind(self) -> str | None:
        return self.kinds[0] if self.kinds else None


#: the kinds of cause, silent wrong answers first, each with the status a cause of that kind gives by default
KINDS: dict[str, str] = {
    "silent wrong answer": "MISMATCH", "invalid graph": "INVALID", "conversion error": "CONVERT_ERROR",
    "runtime error": "RUNTIME_ERROR", "unavailable": "UNAVAILABLE", "case error": "CASE_ERROR",
    "not applicable": "NOT_APPLICABLE",
}
SWA, INV, CONV, RT = "silent wrong answer", "invalid graph", "conversion error", "runtime error"
#: the kinds that are a converter's or a runtime's bug (an upstream report is owed for each such cause)
BUG_KINDS: tuple[str, ...] = (SWA, INV, CONV, RT)

_ = Facts
TABLE: dict[Status, Facts] = {
    Status.PASS:              _("passed",  False, 0, True,  "fine",    "pass",  "every check passed", "#2e9e4f"),
    Status.MISMATCH:          _("failed",  True,  2, True,  "fail",    "mism",  "outputs differ from Keras beyond tolerance", "#f08c2e", (SWA,)),
    Status.SIGNATURE:         _("failed",  True,  2, True,  "fail",    "sig",   "inputs/outputs differ from Keras (count, names, dtypes, fixed batch)", "#f4b183", (SWA, INV)),
    Status.RUNTIME_ERROR:     _("failed",  True,  2, True,  "fail",    "ort",   "onnxruntime cannot load or run the model", "#d9463b", (RT,)),
    Status.INVALID:           _("failed",  True,  2, True,  "fail",    "inval", "onnx.checker or strict shape inference rejects the model", "#9b59b6", (INV, CONV, RT)),
    Status.CONVERT_ERROR:     _("failed",  True,  2, True,  "fail",    "conv",  "the converter raised or exited non-zero", "#b0282c", (CONV, INV)),
    Status.UNSUPPORTED_OPSET: _("skipped", True,  2, False, "fine",    "opset", "the converter itself refused the opset or wrote another one", "#dfe3e6", (CONV,)),
    Status.DEGENERATE:        _("failed",  True,  2, True,  "discard", "degen", "Keras's reference proves nothing; fix the case", "#e58fb1", ("case error",)),
    Status.CASE_ERROR:        _("failed",  True,  2, True,  "fail",    "case",  "the case's builder or inputs raised", "#7b4a2d", ("case error",)),
    Status.CRASH:             _("failed",  True,  2, True,  "fail",    "crash", "the conversion worker died (segfault, abort, out of memory)", "#222222", (CONV,)),
    Status.TIMEOUT:           _("failed",  True,  2, True,  "fail",    "time",  "the cell overran --cell-timeout", "#4b2a7b", (CONV,)),
    Status.UNAVAILABLE:       _("failed",  True,  2, True,  "fail",    "unav",  "the converter cannot be imported here", "#c3c8cc", ("unavailable",)),
    Status.NOT_APPLICABLE:    _("skipped", True,  2, False, "fine",    "n/a",   "the converter does not take this kind of model", "#eef0f2", ("not applicable",)),
    Status.XFAIL:             _("xfailed", False, 1, True,  "fine",    "xfail", "failed exactly as a cause of causes.toml says", "#e9c46a"),
    Status.XPASS:             _("failed",  False, 0, True,  "fine",    "xpass", "passed although a cause expects a failure: narrow or remove the cause", "#2f6fd0"),
}
del _, SWA, INV, CONV, RT
assert set(TABLE) == set(Status), "every status needs a row in the table"
assert all(bool(f.kinds) == f.expectable for f in TABLE.values()), "a status a cause may produce has a kind, and only it"
assert all(k in KINDS for f in TABLE.values() for k in f.kinds), "every kind of a status is one of KINDS"
assert all(TABLE[Status(s)].kind == k for k, s in KINDS.items()), "a kind's default status is one of its own"


def facts(status: Status | str) -> Facts:
    """The row of ``status``; an unknown name (a newer results file) reads as a failure."""
    try:
        return TABLE[Status(status)]
    except ValueError:
        return Facts("failed", False, 2, True, "fail", str(status).lower()[:5], "unknown status")


def outcome(status: Status | str) -> str:
    return facts(status).outcome


def rank(status: Status | str) -> int:
    return facts(status).rank


def tried(status: Status | str) -> bool:
    return facts(status).tried


#: statuses a cause may produce
EXPECTABLE = frozenset(s for s, f in TABLE.items() if f.expectable)
#: status -> the kind of cause it belongs to (its own kind); kind -> the statuses its causes may produce
KIND_OF: dict[str, str] = {s.value: f.kind for s, f in TABLE.items() if f.kind}
STATUSES_OF_KIND: dict[str, frozenset[str]] = {k: frozenset(s.value for s, f in TABLE.items() if k in f.kinds)
                                               for k in KINDS}
#: statuses whose outputs matched (rank 0) and the accepted ones (rank 0 or 1): the baseline gate's terms
PASSING = frozenset(s.value for s, f in TABLE.items() if f.rank == 0)
ACCEPTED = frozenset(s.value for s, f in TABLE.items() if f.rank <= 1)
NOT_TRIED = frozenset(s.value for s, f in TABLE.items() if not f.tried)
#: statuses a cell ends in before its converter ran (missing converter, a model it does not take, a case
#: that cannot be built): such a cell shows no converter's cause
BEFORE_CONVERSION = frozenset({Status.UNAVAILABLE.value, Status.NOT_APPLICABLE.value, Status.CASE_ERROR.value})
FUZZ_FINE = frozenset(s for s, f in TABLE.items() if f.fuzz == "fine")
FUZZ_DISCARDED = frozenset(s for s, f in TABLE.items() if f.fuzz == "discard")
SHORT = {s.value: f.short for s, f in TABLE.items()}
#: observed statuses of a failing cell for which the first divergent layer is searched (the converted
#: model exists and ran, or could be made to run layer by layer)
DIVERGE = frozenset({Status.MISMATCH.value, Status.RUNTIME_ERROR.value, Status.SIGNATURE.value})
#: observed statuses whose standalone repro saves no model (the converter cannot even be imported)
REPRO_WITHOUT_MODEL = frozenset({Status.UNAVAILABLE.value})
ORDER = [s.value for s in Status]
