"""The one status table: every status a cell can end in, and everything the suite makes of it.

Every other module reads this table (pytest outcome, which statuses a cause may
name, the rank the diff and the baseline gate compare, whether a cell counts as tried in a
pass rate, what the fuzz property does with it, the short label and the colour of the page).  A
new status is one new row here, and, for a status a cell's checks give, the failure of the stage
that gives it in the stage table (:mod:`conformance.stages`; ``tests/test_verdict.py`` checks that
every failing status comes from some stage).

``rank``: 0 passing < 1 expected failure < 2 anything else (a regression is a move from an
accepted rank to a worse one).  ``fuzz``: ``fine`` (the property holds), ``discard`` (the
generated example proves nothing: hypothesis rejects it) or ``fail``.
"""
from __future__ import annotations

import dataclasses
import enum


class Status(str, enum.Enum):
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

    def __str__(self) -> str:
        return self.value


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


_ = Facts
TABLE: dict[Status, Facts] = {
    Status.PASS:              _("passed",  False, 0, True,  "fine",    "pass",  "every check passed", "#2e9e4f"),
    Status.MISMATCH:          _("failed",  True,  2, True,  "fail",    "mism",  "outputs differ from Keras beyond tolerance", "#f08c2e"),
    Status.SIGNATURE:         _("failed",  True,  2, True,  "fail",    "sig",   "inputs/outputs differ from Keras (count, names, dtypes, fixed batch)", "#f4b183"),
    Status.RUNTIME_ERROR:     _("failed",  True,  2, True,  "fail",    "ort",   "onnxruntime cannot load or run the model", "#d9463b"),
    Status.INVALID:           _("failed",  True,  2, True,  "fail",    "inval", "onnx.checker or strict shape inference rejects the model", "#9b59b6"),
    Status.CONVERT_ERROR:     _("failed",  True,  2, True,  "fail",    "conv",  "the converter raised or exited non-zero", "#b0282c"),
    Status.UNSUPPORTED_OPSET: _("skipped", True,  2, False, "fine",    "opset", "the converter itself refused the opset or wrote another one", "#dfe3e6"),
    Status.DEGENERATE:        _("failed",  True,  2, True,  "discard", "degen", "Keras's reference proves nothing; fix the case", "#e58fb1"),
    Status.CASE_ERROR:        _("failed",  True,  2, True,  "fail",    "case",  "the case's builder or inputs raised", "#7b4a2d"),
    Status.CRASH:             _("failed",  True,  2, True,  "fail",    "crash", "the conversion worker died (segfault, abort, out of memory)", "#222222"),
    Status.TIMEOUT:           _("failed",  True,  2, True,  "fail",    "time",  "the cell overran --cell-timeout", "#4b2a7b"),
    Status.UNAVAILABLE:       _("failed",  True,  2, True,  "fail",    "unav",  "the converter cannot be imported here", "#c3c8cc"),
    Status.NOT_APPLICABLE:    _("skipped", True,  2, False, "fine",    "n/a",   "the converter does not take this kind of model", "#eef0f2"),
    Status.XFAIL:             _("xfailed", False, 1, True,  "fine",    "xfail", "failed exactly as a cause of causes.toml says", "#e9c46a"),
    Status.XPASS:             _("failed",  False, 0, True,  "fine",    "xpass", "passed although a cause expects a failure: narrow or remove the cause", "#2f6fd0"),
}
del _
assert set(TABLE) == set(Status), "every status needs a row in the table"


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
