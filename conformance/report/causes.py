"""The registry of causes against recorded runs: ``python -m conformance.report causes {check,propose} RESULTS...``.

Nothing is run: every record carries its observed status and its normalized failure signature
(``record["signature"]``; older files: derived from the reason), so a results file is judged
again against a registry exactly as a run with it would judge it (:func:`rejudge`).

* ``check``: exit 1 if a failure is unexplained, a cause would XPASS, or a cause is stale (the run
  covered it with its converter available and nothing matched it).
* ``propose``: clusters the unexplained failures of one or more results files by normalized
  signature and observed status, and drafts one ``[[cause]]`` per cluster: the signature's common
  text as the regex, the scope seen (converters, opsets, cases) and a ``when`` from the runs'
  environments (version ranges when several stacks ran).  Title and reason are the placeholder
  ``TODO: ...``, which the loader refuses: a person writes them, and the link, after reading the
  converter's source and tracker.  A failure that a cause of the registry would explain if only its
  ``when`` held there (same scope, status and signature: the same bug on another stack) is not drafted
  again: it is listed under that cause as a candidate for widening its ``when``.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections import defaultdict

from packaging.version import InvalidVersion, Version

from conformance import causes as causes_mod
from conformance.causes import observed_reason, signature_of  # noqa: F401 - read by the report's modules
from conformance.loader import converter_packages
from conformance.report.merge import stacks_meta
from conformance.statuses import KIND_OF, Status, facts


def rejudge(doc: dict, causes: list) -> tuple[dict, list[dict]]:
    """``doc`` with every record decided again against ``causes`` (loaded), as a run with that registry
    would decide it; and the records that would be XPASS.  A record without a signature (an older
    slim file) is matched on scope and status alone."""
    from conformance.run.verdict import Decision, apply_causes

    meta = stacks_meta(doc)
    registries: dict[str, causes_mod.Registry] = {}
    case_info = doc.get("cases") or {}
    out, xpass = [], []
    for r in doc["records"]:
        stack = str(r.get("stack") or "default")
        if stack not in registries:
            env = (meta.get(stack) or next(iter(meta.values()), {})).get("environment", {}).get("packages") or {}
            registries[stack] = causes_mod.Registry(causes, env)
        observed = str(r.get("observed_status") or r["status"])
        try:
            status = Status(observed)
        except ValueError:
            out.append(r)
            continue
        seen = r
        if "tags" not in r and r["case"] in case_info:   # a slim record: its case's tags and layers
            info = case_info[r["case"]]
            seen = dict(r, tags=info.get("tags") or [], facts={"keras_layers": info.get("layers")})
        match = registries[stack].match(causes_mod.CellView.of_record(seen), observed, signature=signature_of(r))
        d = apply_causes(Decision(status, observed_reason(r) or "", r.get("stage")), match)
        expected = match.cause or next((c for c in match.covering if c.id == d.cause), None)
        r = dict(r, status=d.status.value, observed_status=observed, cause=d.cause, signature=match.signature,
                 expected_status="|".join(expected.statuses) if expected else None)
        r.pop("cause_by", None)
        if match.cause is not None and match.by == "needs":
            r["cause_by"] = "needs"
        if d.status == Status.XPASS:
            xpass.append(r)
        if isinstance(r.get("targets"), dict):
            r = dict(r, targets=_rejudge_targets(r, registries[stack], seen, xpass))
        out.append(r)
    # the registry the records now name (its titles, kinds, links), not the one they were recorded with
    registry = {c.id: dict(c.to_json(), active=None) for c in causes}
    return dict(doc, records=out, causes=registry), xpass


def _rejudge_targets(r: dict, registry, seen: dict, xpass: list) -> dict:
    """The targets of a rejudged record (``r``, whose own status is decided again) decided again the same way:
    a failure inherited from the cell takes the cell's new status, the others are matched as the run would."""
    from conformance.run.verdict import Decision, decide_target_cell

    out = {}
    for name, t in r["targets"].items():
        try:
            status = Status(str(t.get("observed_status") or t.get("status")))
        except ValueError:
            out[name] = t
            continue
        view = dict(seen, target=name)
        found: list = []

        def match(t=t, view=view, status=status, found=found):
            found.append(registry.match(causes_mod.CellView.of_record(view), status.value,
                                        signature=signature_of(t)))
            return found[0]
        d = decide_target_cell(Decision(status, observed_reason(t) or "", t.get("stage")), t.get("blame"),
                               r["status"], r.get("cause"), match)
        t = dict(t, status=d.status.value, observed_status=status.value, cause=d.cause,
                 outcome=facts(d.status).outcome, **({"signature": found[0].signature} if found else {}))
        if d.cause is None:
            t.pop("cause")
        if d.status == Status.XPASS:
            xpass.append(next(v for v in causes_mod.cells_of(dict(r, targets={name: t})) if v.get("target") == name))
        out[name] = t
    return out


def unexplained(rec: dict) -> bool:
    """A failed cell that no cause explains, with an observed status a cause may name."""
    status = str(rec.get("status"))
    observed = str(rec.get("observed_status") or status)
    return facts(status).outcome == "failed" and status != Status.XPASS.value and facts(observed).expectable


def stale(docs: list[dict], causes: list) -> list[str]:
    """Ids of the causes some (rejudged) document could have seen on one of its stacks and none saw: a
    cause matched on any stack of any document is seen, as in a merged file."""
    used: set[str] = set()
    gone: set[str] = set()
    for doc in docs:
        meta = stacks_meta(doc)
        by_stack: dict[str, list[dict]] = defaultdict(list)
        for r in doc["records"]:
            by_stack[str(r.get("stack") or "default")].append(r)
        used |= {str(v["cause"]) for r in doc["records"] for v in causes_mod.cells_of(r) if v.get("cause")}
        for stack, recs in by_stack.items():
            env = (meta.get(stack) or next(iter(meta.values()), {})).get("environment", {}).get("packages") or {}
            gone |= {c.id for c in causes_mod.Registry(causes, env).stale(recs)}
    return [c.id for c in causes if c.id in gone - used]


# ------------------------------------------------------------------------------------ propose
#: the packages a `when` is made of, in order of preference (a converter's own package first)
_OWN = converter_packages(own=True)
#: the packages a version range is drafted over: the converters' own (from their modules) and the stack's
KEY_PACKAGES = tuple(dict.fromkeys(_OWN[:1] + ("tensorflow", "keras", "onnx", "onnxruntime", "tf_keras") + _OWN[1:]))


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
    from packaging.requirements import Requirement

    from conformance.causes import requirement_holds as _requirement_holds

    parsed = [Requirement(r) for r in reqs]

    def holds(env):
        return all(_requirement_holds(r, env) for r in parsed)
    return all(holds(e) for e in failing) and not any(holds(e) for e in others)



REASON = f"{causes_mod.PLACEHOLDER}: why these cells fail, in words, after reading the converter's source and tracker"


@dataclasses.dataclass
class Draft:
    status: str
    signature: str
    converters: list[str]
    opsets: list[int]
    cases: list[str]
    when: list[list[str]]
    stacks: list[str]
    seen: list[str]
    #: the reducer's smallest failing models of the cluster's cells (``--minimize``): "cell: line (path)"
    minimized: list[str] = dataclasses.field(default_factory=list)
    #: the Keras layer classes those smallest models hold (the draft's ``needs``: a user's model with them)
    layers: list[str] = dataclasses.field(default_factory=list)
    #: the target whose runs failed (--targets), none for the cells themselves
    targets: list[str] = dataclasses.field(default_factory=list)

    def toml(self, n: int) -> str:
        q = json.dumps
        lines = [f"# seen on {', '.join(self.stacks)}: {len(self.cases)} case(s) x {len(self.converters)} converter(s)"]
        lines += [f"# observed: {s}" for s in self.seen]
        lines += [f"# smallest failing model: {m}" for m in self.minimized]
        lines += ["[[cause]]", f'id = "todo-{n}"', f"title = {q(causes_mod.PLACEHOLDER + ': what fails, in a line')}",
                  f"kind = {q(KIND_OF.get(self.status, 'conversion error'))}", f"status = {q(self.status)}",
                  f"signature = {q(self.signature)}",
                  f"converters = {q(self.converters)}", f"opsets = {q(self.opsets)}", f"cases = {q(self.cases)}"]
        if self.targets:
            lines.append(f"targets = {q(self.targets)}")
        if len(self.when) == 1:
            lines.append(f"when = {q(self.when[0])}")
        else:
            lines.append("scope = [" + ", ".join("{ when = " + q(w) + " }" for w in self.when) + "]")
        if self.layers:   # what the smallest failing models hold: a user's model holding it meets the needs
            lines.append("needs = { layers = " + q(self.layers) + " }")
        lines += ['link = "TODO: the upstream issue, PR or source line (or \\"not reported\\" and a report)"',
                  f"reason = {q(REASON)}"]
        return "\n".join(lines) + "\n"


def cluster_key(sig: str) -> str:
    """What makes two failures the same for a proposal: the normalized text without the cell's own names."""
    s = re.sub(r"'[^']*'", "'…'", sig)          # quoted names (outputs, nodes, tensors)
    s = re.sub(r"; first divergent layer.*", "", s)
    return s[:160]


def signature_regex(sigs: list[str]) -> str:
    """A regex every signature of a cluster matches: their longest common prefix, escaped (at most 120
    characters, cut at a word boundary)."""
    prefix = sigs[0]
    for s in sigs[1:]:
        i = 0
        while i < min(len(prefix), len(s)) and prefix[i] == s[i]:
            i += 1
        prefix = prefix[:i]
    prefix = prefix[:120]
    if " " in prefix and len(prefix) >= 40:
        prefix = prefix[:prefix.rstrip().rfind(" ")] if not prefix.endswith(" ") else prefix
    return re.escape(prefix.strip()).replace("\\ ", " ") or ".*"   # spaces need no escape: keep it readable


def propose(docs: list[tuple[str, dict]], leave_out: set[int] = frozenset()) -> list[Draft]:
    """Draft causes for the unexplained failures of (already rejudged) documents, given as (label, doc);
    ``leave_out``: ids of records not to draft (the ones :func:`widen` assigned to a cause)."""
    envs: dict[str, dict] = {}
    ran: dict[tuple[str, str, int], set[str]] = defaultdict(set)     # cell -> stacks that ran it
    clusters: dict[tuple[str, str], list[tuple[str, dict]]] = defaultdict(list)
    for _label, doc in docs:
        meta = stacks_meta(doc)
        for rec in doc["records"]:
            stack = str(rec.get("stack") or "default")
            envs.setdefault(stack, dict((meta.get(stack) or next(iter(meta.values()), {}))
                                        .get("environment", {}).get("packages") or {}))
            ran[(rec["case"], rec["converter"], int(rec["opset"]))].add(stack)
            if id(rec) in leave_out:
                continue
            for r in causes_mod.cells_of(rec):   # the cell, then each target's run of it (--targets)
                if unexplained(r):
                    sig = signature_of(r) or ""
                    observed = str(r.get("observed_status") or r["status"])
                    clusters[(observed, str(r.get("target") or ""), cluster_key(sig))].append((stack, r))
    drafts = []
    for (status, target, _key), items in sorted(clusters.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        stacks = sorted({s for s, _ in items})
        others = sorted({s for _, r in items for s in ran[(r["case"], r["converter"], int(r["opset"]))]} - set(stacks))
        sigs = [signature_of(r) or "" for _, r in items]
        seen = [f"{s}: {r['case']} / {r['converter']} / opset {r['opset']}: {' '.join(str(sig).split())[:160]}"
                for (s, r), sig in zip(items[:3], sigs)]
        small = [(r, r["minimized"]) for _, r in items if (r.get("minimized") or {}).get("line")]
        drafts.append(Draft(status=status, signature=signature_regex(sigs),
                            converters=sorted({r["converter"] for _, r in items}),
                            opsets=sorted({int(r["opset"]) for _, r in items}),
                            cases=sorted({r["case"] for _, r in items}),
                            when=when_for([envs[s] for s in stacks], [envs[s] for s in others]),
                            stacks=stacks, seen=seen[:3],
                            minimized=[f"{r['id']}: {m['line']} ({m.get('path')})" for r, m in small[:3]],
                            layers=sorted({c for _, m in small for c in m.get("classes") or ()}),
                            targets=[target] if target else []))
    return drafts


@dataclasses.dataclass
class Widen:
    """A cause of the registry that would explain unexplained failures if its ``when`` held on their stacks."""
    cause: str
    when: list[str]          # the cause's own requirements, per part
    stacks: dict[str, dict]  # stack -> its key package versions
    cells: list[str]

    def comment(self) -> str:
        lines = [f"# WIDEN {self.cause}: its scope, status and signature explain {len(self.cells)} unexplained cell(s) on "
                 f"{', '.join(self.stacks)}, where its when ({'; '.join(self.when) or 'none'}) does not hold"]
        lines += [f"#   {stack}: " + ", ".join(f"{k} {v}" for k, v in sorted(pk.items())) for stack, pk in self.stacks.items()]
        lines += [f"#   e.g. {c}" for c in self.cells[:3]]
        return "\n".join(lines) + "\n"


def _without_when(causes: list) -> list:
    """The causes as if their ``when``/``missing`` held everywhere (scope, status and signature kept)."""
    return [dataclasses.replace(c, scopes=tuple(dataclasses.replace(s, when=(), missing=()) for s in c.scopes))
            for c in causes]


def widen(docs: list[tuple[str, dict]], causes: list) -> tuple[list[Widen], set[int]]:
    """Unexplained failures of (rejudged) documents that a cause would explain if its ``when`` held there,
    grouped by cause; and the ids (``id()``) of those records, which :func:`propose` leaves out."""
    loose = causes_mod.Registry(_without_when(causes), {})
    by_id = {c.id: c for c in causes}
    found: dict[str, Widen] = {}
    taken: set[int] = set()
    for _label, doc in docs:
        meta = stacks_meta(doc)
        for r in doc["records"]:
            if not unexplained(r):
                continue
            observed = str(r.get("observed_status") or r["status"])
            m = loose.match(causes_mod.CellView.of_record(r), observed, signature=signature_of(r))
            if m.cause is None:
                continue
            stack = str(r.get("stack") or "default")
            packages = (meta.get(stack) or next(iter(meta.values()), {})).get("environment", {}).get("packages") or {}
            w = found.setdefault(m.cause.id, Widen(m.cause.id, sorted({", ".join(map(str, sc.when))
                                                                      for sc in by_id[m.cause.id].scopes}), {}, []))
            w.stacks.setdefault(stack, {k: packages[k] for k in KEY_PACKAGES if packages.get(k)})
            w.cells.append(f"{stack}: {r['case']} / {r['converter']} / opset {r['opset']}")
            taken.add(id(r))
    return sorted(found.values(), key=lambda w: (-len(w.cells), w.cause)), taken


def render(drafts: list[Draft], sources: list[str], widened: list[Widen] | None = None) -> str:
    head = ["# Draft causes (python -m conformance.report causes propose), from:", *[f"#   {s}" for s in sources],
            "# Each still needs a person: the title, the reason and the link, after reading the converter's source and",
            f"# tracker; the loader refuses a title or reason that starts with {causes_mod.PLACEHOLDER!r}.  Narrow the",
            "# scope to what the cells share (case globs, tags, layer classes), widen `when` where the cause also holds",
            "# on other versions, and check with: python -m conformance.report causes check RESULTS", ""]
    head += [w.comment() for w in widened or []]
    if not drafts and not widened:
        head.append("# no unexplained failure: nothing to propose")
    return "\n".join(head) + "\n" + "\n".join(d.toml(n) for n, d in enumerate(drafts, start=1))


__all__ = ["KEY_PACKAGES", "Draft", "Widen", "observed_reason", "propose", "rejudge", "render", "signature_of", "stale",
           "unexplained", "widen"]
