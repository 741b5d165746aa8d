"""Proposed expectations.toml entries from runs' results: ``python -m conformance.report propose RESULTS...``.

Every unexpected failure of a run (a cell that failed, not as an entry expected, with an observed
status the status table marks expectable) becomes a proposed ``[[expected]]`` entry with the status
seen and ``when`` from the run's environment (``environment.packages``).  Given the results of
several stacks, a cell that fails the same way on several of them gets version ranges
(``tf2onnx>=1.16,<1.18``): the fewest packages whose ranges take in exactly the stacks where it
failed that way and none of the stacks where the same cell did something else.

The command never writes a reason of its own: every entry's reason is the placeholder
``TODO: ...``, which the expectations loader refuses, so a proposal cannot be committed before a
person writes why the cells fail and links the upstream issue.  What the cells reported is kept
as comments above the entry, to help with that.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from collections import defaultdict

from packaging.version import InvalidVersion, Version

from conformance.report.merge import stacks_meta
from conformance.run.expectations import PLACEHOLDER
from conformance.run.statuses import Status, facts

#: the packages a `when` is made of, in order of preference (a converter's own package first)
KEY_PACKAGES = ("tf2onnx", "tensorflow", "keras", "onnx", "onnxruntime", "tf_keras", "keras2onnx", "jax2onnx", "torch")
#: statuses that do not depend on the opset: their entries name no opsets when every opset run failed
_OPSET_FREE = {Status.UNAVAILABLE.value}
REASON = f"{PLACEHOLDER}: write why these cells fail, in words, and link the upstream issue"


def unexpected(rec: dict) -> bool:
    """A failed cell that no entry explains, with an observed status an entry may name."""
    status = str(rec.get("status"))
    observed = str(rec.get("observed_status") or status)
    return (facts(status).outcome == "failed" and status != Status.XPASS.value
            and facts(observed).expectable)


@dataclasses.dataclass
class Proposal:
    cases: list[str]
    converters: list[str]
    opsets: list[int] | None
    when: list[str]
    status: str
    stacks: list[str]
    seen: list[str]          # what the cells reported (comments only)
    opsets_run: list[int]

    def toml(self) -> str:
        def val(items):
            return json.dumps(items[0]) if len(items) == 1 else json.dumps(items)
        lines = [f"# seen on {', '.join(self.stacks)}"
                 + (f" at opsets {', '.join(map(str, self.opsets_run))}" if self.opsets_run else "")]
        lines += [f"# observed: {s}" for s in self.seen]
        lines += ["[[expected]]", f"case = {val(self.cases)}", f"converter = {val(self.converters)}"]
        if self.opsets is not None:
            lines.append(f"opsets = {self.opsets[0] if len(self.opsets) == 1 else json.dumps(self.opsets)}")
        lines += [f"when = {json.dumps(self.when)}", f"status = {json.dumps(self.status)}",
                  f"reason = {json.dumps(REASON)}", 'link = ""']
        return "\n".join(lines) + "\n"


def _version(v) -> Version | None:
    try:
        return Version(str(v)) if v else None
    except InvalidVersion:
        return None


def _minor(v: Version) -> str:
    return f"{v.release[0]}.{v.release[1] if len(v.release) > 1 else 0}"


def _next_minor(v: Version) -> str:
    return f"{v.release[0]}.{(v.release[1] if len(v.release) > 1 else 0) + 1}"


def _requirement(pkg: str, inside: list[Version], outside: list[Version]) -> str | None:
    """A requirement on ``pkg`` that every version in ``inside`` meets and none in ``outside``, or None."""
    name = pkg.replace("_", "-")
    lo, hi = min(inside), max(inside)
    candidates = []
    if _minor(lo) == _minor(hi):
        candidates.append((f"{name}=={_minor(lo)}.*", lambda v: _minor(v) == _minor(lo)))
    candidates.append((f"{name}>={_minor(lo)},<{_next_minor(hi)}",
                       lambda v: Version(_minor(lo)) <= v < Version(_next_minor(hi))))
    candidates.append((f"{name}>={lo},<={hi}", lambda v: lo <= v <= hi))
    if lo == hi:
        candidates.append((f"{name}=={lo}", lambda v: v == lo))
    for text, holds in candidates:
        if not any(holds(v) for v in outside):
            return text
    return None


def when_for(failing: list[dict], others: list[dict]) -> list[list[str]]:
    """``when`` lists that select the ``failing`` environments (package dicts) and none of ``others``.

    One list when a few packages' ranges separate them (a single package preferred); otherwise one
    list per failing environment, each pinning that environment's versions.
    """
    pkgs = [p for p in KEY_PACKAGES if all(_version(env.get(p)) for env in failing)]
    if len(failing) == 1 and not others:
        # one run, nothing to compare with: its environment as it was, at minor-version level
        return [[f"{p.replace('_', '-')}=={_minor(_version(failing[0][p]))}.*" for p in pkgs]]
    for size in (1, 2, 3):
        for combo in itertools.combinations(pkgs, size):
            reqs, ok = [], True
            for p in combo:
                inside = [_version(env[p]) for env in failing]
                # a stack without the package never meets the requirement: it is outside already
                outside = [v for v in (_version(env.get(p)) for env in others) if v is not None]
                r = _requirement(p, inside, outside)
                if r is None:
                    ok = False
                    break
                reqs.append(r)
            if ok and _selects_exactly(reqs, failing, others):
                return [reqs]
    return [[f"{p.replace('_', '-')}=={env[p]}" for p in KEY_PACKAGES if _version(env.get(p))] for env in failing]


def _selects_exactly(reqs: list[str], failing: list[dict], others: list[dict]) -> bool:
    from conformance.run.expectations import _requirement_holds
    from packaging.requirements import Requirement

    parsed = [Requirement(r) for r in reqs]

    def holds(env):
        return all(_requirement_holds(r, env) for r in parsed)
    return all(holds(e) for e in failing) and not any(holds(e) for e in others)


def rejudge(doc: dict, entries: list) -> tuple[dict, list[dict]]:
    """``doc`` with every record's status decided again from its observed status against ``entries``
    (an expectations file as loaded), as a run with that file would decide it; and the cells that
    would then be XPASS (an entry to narrow or remove).  Nothing is run: observed statuses are data."""
    from conformance.run.expectations import Matcher
    from conformance.run.verdict import Decision, apply_expectation

    meta = stacks_meta(doc)
    out, xpass = [], []
    matchers: dict[str, Matcher] = {}
    for r in doc["records"]:
        stack = str(r.get("stack") or "default")
        if stack not in matchers:
            env = (meta.get(stack) or next(iter(meta.values()))).get("environment", {}).get("packages") or {}
            matchers[stack] = Matcher(entries, env)
        observed = str(r.get("observed_status") or r["status"])
        try:
            decision = Decision(Status(observed), str(r.get("reason") or ""), r.get("stage"))
        except ValueError:
            out.append(r)
            continue
        e = matchers[stack].find(r["case"], r["converter"], int(r["opset"]))
        d = apply_expectation(decision, e)
        r = dict(r, status=d.status.value, observed_status=observed,
                 expected_status=e.status if e is not None else None)
        if d.status == Status.XPASS:
            xpass.append(r)
        out.append(r)
    return dict(doc, records=out), xpass


def propose(docs: list[tuple[str, dict]]) -> list[Proposal]:
    """Proposed entries from loaded results documents, given as (label, doc)."""
    envs: dict[str, dict] = {}
    cells: dict[tuple[str, str, int], dict[str, dict]] = defaultdict(dict)   # (case, conv, opset) -> stack -> rec
    for _label, doc in docs:
        meta = stacks_meta(doc)
        for r in doc["records"]:
            stack = str(r.get("stack") or "default")
            envs.setdefault(stack, dict((meta.get(stack) or next(iter(meta.values())))
                                        .get("environment", {}).get("packages") or {}))
            cells[(r["case"], r["converter"], int(r["opset"]))][stack] = r
    opsets_run: dict[tuple[str, str, str], set[int]] = defaultdict(set)   # (case, conv, stack) -> opsets
    for (case, conv, opset), by_stack in cells.items():
        for stack in by_stack:
            opsets_run[(case, conv, stack)].add(opset)

    # (case, converter, status) -> opset -> (stacks failing that way, stacks that ran the cell otherwise)
    groups: dict[tuple[str, str, str], dict[int, tuple[frozenset, frozenset]]] = defaultdict(dict)
    seen: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for (case, conv, opset), by_stack in sorted(cells.items()):
        for status in sorted({str(r.get("observed_status") or r["status"]) for r in by_stack.values()
                              if unexpected(r)}):
            same = frozenset(s for s, r in by_stack.items() if str(r.get("observed_status") or r["status"]) == status)
            groups[(case, conv, status)][opset] = (same, frozenset(by_stack) - same)
            for s in sorted(same):
                reason = " ".join(str(by_stack[s].get("reason") or "").split())[:200]
                line = f"{s}: {case} / {conv} / opset {opset}: {reason}"
                if len(seen[(case, conv, status)]) < 3:
                    seen[(case, conv, status)].append(line)

    raw: list[Proposal] = []
    for (case, conv, status), by_opset in groups.items():
        # opsets failing with the same stacks on each side go together
        by_sides: dict[tuple[frozenset, frozenset], list[int]] = defaultdict(list)
        for opset, sides in sorted(by_opset.items()):
            by_sides[sides].append(opset)
        for (same, other), opsets in by_sides.items():
            ran = sorted(set().union(*(opsets_run[(case, conv, s)] for s in same)))
            every = all(opsets_run[(case, conv, s)] <= set(opsets) for s in same)
            entry_opsets = None if (every and status in _OPSET_FREE) else opsets
            for when in when_for([envs[s] for s in sorted(same)], [envs[s] for s in sorted(other)]):
                raw.append(Proposal([case], [conv], entry_opsets, when, status, sorted(same),
                                    seen[(case, conv, status)], ran))
    return _combine(raw)


def _combine(raw: list[Proposal]) -> list[Proposal]:
    """Entries that differ only in case become one entry with a list of cases."""
    def merge(items, key, field):
        out: dict = {}
        for p in items:
            k = key(p)
            if k in out:
                getattr(out[k], field).extend(x for x in getattr(p, field) if x not in getattr(out[k], field))
                out[k].stacks = sorted(set(out[k].stacks) | set(p.stacks))
                out[k].seen = (out[k].seen + [s for s in p.seen if s not in out[k].seen])[:3]
            else:
                out[k] = dataclasses.replace(p, cases=list(p.cases), converters=list(p.converters))
        return list(out.values())

    def base(p):
        return (p.status, tuple(p.opsets or ()), p.opsets is None, tuple(p.when))
    # converters stay apart: two converters failing alike usually fail for two reasons
    return merge(raw, lambda p: (base(p), tuple(p.converters)), "cases")


def render(proposals: list[Proposal], sources: list[str]) -> str:
    head = [
        "# Proposed expectations.toml entries (python -m conformance.report propose), from:",
        *[f"#   {s}" for s in sources],
        "# Each entry still needs a person: the reason (why the cells fail, in words) and the link to the",
        f"# upstream issue.  The loader refuses a reason that starts with {PLACEHOLDER!r}, so an unedited",
        "# proposal cannot be committed.  Check each `when` against the stacks you ran.",
        "",
    ]
    if not proposals:
        head.append("# no unexpected failure: nothing to propose")
    return "\n".join(head) + "\n" + "\n".join(p.toml() for p in proposals)
