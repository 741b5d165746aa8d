"""The recommended route of each model: which converter and opset to use, and the exact call.

Built from records alone.  For each case, the route is the cell whose checks all passed (observed
``PASS``) with the smallest max abs error against Keras, then the fastest conversion; with it go the
call the cell ran (the converter's own API call or command, ``stages.convert.command``) and the
error.  Where no cell passes, the nearest one is named instead (the cell that got furthest through
the stages, then the smallest error) with the causes to read: those that explain the case's failing
cells, with their links and workarounds.

    python -m conformance.report route RESULTS [--case GLOB]

The terminal summary of a run and the top of the page show the routes of the models a user brought
(``--model`` files, ``--cases-module`` cases); this command shows every case's.
"""
from __future__ import annotations

import dataclasses
import fnmatch
from typing import Iterable, Mapping

from conformance.causes import own_case
from conformance.stages import ORDER as STAGE_ORDER
from conformance.statuses import NOT_TRIED, PASSING as PASSING_STATUSES

#: the observed status of a cell whose checks all passed
PASSED = "PASS"


@dataclasses.dataclass(frozen=True)
class Route:
    """One model's recommended route (``passed``) or, where none passes, its nearest cell."""

    case: str
    passed: bool
    converter: str | None = None
    opset: int | None = None
    max_abs_error: float | None = None
    convert_seconds: float | None = None
    call: str = ""
    #: the nearest cell's status and deciding stage (no route passes)
    status: str = ""
    stage: str | None = None
    #: (cause id, link, workaround) of the causes that explain the case's failing cells
    causes: tuple[tuple[str, str, str], ...] = ()
    #: cells of the case that passed, and that were tried
    passing: int = 0
    tried: int = 0
    #: the targets (--targets) whose runs of the route's converted model passed, and those that did not:
    #: (target, status, cause or None)
    survives: tuple[str, ...] = ()
    fails: tuple[tuple[str, str, str | None], ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def where(self) -> str:
        return f"{self.converter} at opset {self.opset}" if self.converter else "no cell was tried"

    def __str__(self) -> str:
        err = "" if self.max_abs_error is None else f"max abs err {self.max_abs_error:.2g}"
        secs = "" if self.convert_seconds is None else f"converted in {self.convert_seconds:.2f} s"
        detail = ", ".join(x for x in (err, secs) if x)
        if self.passed:
            head = f"{self.case}: {self.where()} ({detail}; {self.passing} of {self.tried} cells pass)"
            return (f"{head}: {self.call}" if self.call else head) + self.deploy_text()
        near = f"nearest {self.where()} ({self.status}{f' at {self.stage}' if self.stage else ''}" \
               f"{f', {detail}' if detail else ''})" if self.converter else self.where()
        read = "; causes to read: " + ", ".join(f"{cid} ({link}{f'; workaround: {w}' if w else ''})"
                                                 for cid, link, w in self.causes) if self.causes else ""
        return f"{self.case}: no route passes; {near}{read}"

    def deploy_text(self) -> str:
        """"; survives ort-noopt, openvino; fails fp16 (RUNTIME_ERROR, cause ...)" (nothing without targets)."""
        parts = []
        if self.survives:
            parts.append("survives " + ", ".join(self.survives))
        if self.fails:
            parts.append("fails " + ", ".join(f"{t} ({s}{f', cause {c}' if c else ''})" for t, s, c in self.fails))
        return f"; {'; '.join(parts)}" if parts else ""

    def to_json(self) -> dict:
        return {k: (list(map(list, v)) if k in ("causes", "fails") else list(v) if k == "survives" else v)
                for k, v in dataclasses.asdict(self).items()}


def _seconds(rec: Mapping) -> float | None:
    s = ((rec.get("stages") or {}).get("convert") or {}).get("seconds")
    return float(s) if isinstance(s, (int, float)) else None


def _error(rec: Mapping) -> float | None:
    e = (rec.get("facts") or {}).get("max_abs_error")
    return float(e) if isinstance(e, (int, float)) else None


def _inf(x: float | None) -> float:
    return float("inf") if x is None else x


def _reach(rec: Mapping) -> int:
    """How far through the stages the cell got (the index of its deciding stage; a pass goes furthest)."""
    stage = rec.get("stage")
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else -1


def _targets(rec: Mapping) -> tuple[tuple[str, ...], tuple[tuple[str, str, str | None], ...]]:
    """The targets that passed on the cell, and the others that were tried (status, cause)."""
    survives, fails = [], []
    for name, t in (rec.get("targets") or {}).items():
        status = str(t.get("status"))
        if status in PASSING_STATUSES:
            survives.append(name)
        elif status not in NOT_TRIED:
            fails.append((name, status, t.get("cause")))
    return tuple(survives), tuple(fails)


def route(case: str, records: list[Mapping], causes: Mapping[str, Mapping] | None = None) -> Route:
    """The route of one case from its records."""
    causes = causes or {}
    tried = [r for r in records if str(r.get("observed_status") or r.get("status")) not in NOT_TRIED]
    passing = [r for r in tried if str(r.get("observed_status") or r.get("status")) == PASSED]
    if passing:
        # the route that survives the most targets (--targets), then the smallest error, then the fastest
        best = min(passing, key=lambda r: (-len(_targets(r)[0]), _inf(_error(r)), _inf(_seconds(r)), r["converter"],
                                           r["opset"]))
        survives, fails = _targets(best)
        return Route(case, True, best["converter"], int(best["opset"]), _error(best), _seconds(best),
                     str(((best.get("stages") or {}).get("convert") or {}).get("command") or ""),
                     passing=len(passing), tried=len(tried), survives=survives, fails=fails)
    cause_ids = list(dict.fromkeys(str(r["cause"]) for r in records if r.get("cause") and r.get("status") == "XFAIL"))
    read = tuple((cid, str((causes.get(cid) or {}).get("link") or ""), str((causes.get(cid) or {}).get("workaround")
                                                                           or "")) for cid in cause_ids)
    if not tried:
        return Route(case, False, causes=read)
    near = max(tried, key=lambda r: (_reach(r), -_inf(_error(r)), -_inf(_seconds(r))))
    return Route(case, False, near["converter"], int(near["opset"]), _error(near), _seconds(near),
                 str(((near.get("stages") or {}).get("convert") or {}).get("command") or ""),
                 str(near.get("observed_status") or near.get("status")), near.get("stage"), read, 0, len(tried))


def routes(records: Iterable[Mapping], causes: Mapping[str, Mapping] | None = None, *, users_only: bool = False,
           case_glob: str | None = None) -> list[Route]:
    """Every case's route, in case order.  ``users_only``: only the cases a user brought (``--model`` files,
    ``--cases-module`` cases), not the suite's own."""
    by_case: dict[str, list[Mapping]] = {}
    for r in records:
        if users_only and own_case(r.get("case_module")):
            continue
        if case_glob and not fnmatch.fnmatchcase(str(r["case"]), case_glob):
            continue
        by_case.setdefault(str(r["case"]), []).append(r)
    return [route(case, recs, causes) for case, recs in sorted(by_case.items())]


def lines(found: list[Route], header: str = "recommended route per model:") -> list[str]:
    """The routes as terminal lines (none: no lines)."""
    if not found:
        return []
    return [header] + [f"  {r}" for r in found]
