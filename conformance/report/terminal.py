"""Plain-text summary of a run's records, for the terminal.

Besides the cells per converter and status, it counts causes, not only cells: how many failing
cells the causes explain and which causes (silent wrong answers first), how many unexpected
failures there are and in how many distinct signatures, and the stale causes by id.  Every list
is bounded to one line of about ``LINE_LIMIT`` characters; results.json holds the rest.
"""
from __future__ import annotations

import collections

from conformance import statuses as status_table

#: stale entries named in the terminal (a run narrowed with -m, -k or --opsets leaves many unused)
STALE_SHOWN = 5
#: characters of a line that lists causes, signatures or stale ids (the rest: "and N more")
LINE_LIMIT = 240
#: characters of one signature in the unexpected failures' line
SIGNATURE_WIDTH = 70
#: observed statuses that are silent wrong answers (when the registry does not give the cause's kind)
_SILENT = {"MISMATCH", "SIGNATURE"}


def summary_lines(records: list[dict], stale_causes: list | None = None, causes: dict | None = None) -> list[str]:
    """The table of cells per converter and status, then what the causes say of the run.

    ``stale_causes``: ids of the causes the run could have seen and did not (``doc["stale_causes"]``);
    a list of expectation entries (dicts, a run before causes) is still shown as it was.
    ``causes``: the registry, ``doc["causes"]`` (id -> cause); omitted, kinds are told by observed status."""
    causes = causes or {}
    stale_causes = list(stale_causes or [])
    by_conv: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        by_conv[r["converter"]][r["status"]] += 1
    statuses = sorted({s for c in by_conv.values() for s in c})
    lines = []
    if by_conv:
        width = max(len(n) for n in by_conv) + 2
        lines.append("converter".ljust(width) + "  ".join(s.rjust(max(4, len(s))) for s in statuses))
        for name in sorted(by_conv):
            c = by_conv[name]
            lines.append(name.ljust(width) + "  ".join(str(c.get(s, 0)).rjust(max(4, len(s))) for s in statuses))
    lines += cause_lines(records, causes)
    from conformance.report.deploy import lines as deploy_lines

    lines += deploy_lines(records)
    if stale_causes and isinstance(stale_causes[0], dict):
        lines.append(_stale_entries(stale_causes))
    elif stale_causes:
        ids = [str(c) for c in stale_causes]
        lines.append(bounded(f"{len(ids)} stale cause(s), covered by this run and matching no cell: ", ids,
                             " (all in results.json, 'stale_causes')"))
    return lines


def cause_lines(records: list[dict], causes: dict) -> list[str]:
    """"N failing cells explained by M causes (K silent wrong answers): ...", "N unexpected failures
    in M distinct signatures: ..." and the passes a cause expected to fail; each line bounded."""
    lines = []
    explained: collections.Counter = collections.Counter()
    observed: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    unexpected: collections.Counter = collections.Counter()
    passed_against: collections.Counter = collections.Counter()
    for r in records:
        status = str(r.get("status"))
        seen = str(r.get("observed_status") or status)
        cause = r.get("cause")
        if status == "XFAIL" and cause:
            explained[str(cause)] += 1
            observed[str(cause)][seen] += 1
        elif status == "XPASS":
            passed_against[str(cause or "?")] += 1
        elif status_table.facts(status).outcome == "failed":
            sig = r.get("signature") or f"{seen}: {' '.join(str(r.get('reason') or '').split())}"
            unexpected[_short(str(sig), SIGNATURE_WIDTH)] += 1

    def silent(cid: str) -> bool:
        kind = (causes.get(cid) or {}).get("kind")
        if kind:
            return kind == "silent wrong answer"
        return observed[cid].most_common(1)[0][0] in _SILENT

    if explained:
        order = sorted(explained, key=lambda c: (not silent(c), -explained[c], c))
        n_silent = sum(1 for c in order if silent(c))
        head = (f"{sum(explained.values())} failing cells explained by {len(order)} cause(s) "
                f"({n_silent} silent wrong answer{'s' if n_silent != 1 else ''}): ")
        lines.append(bounded(head, [f"{c} ({explained[c]} cell{'s' if explained[c] != 1 else ''})" for c in order]))
    if unexpected:
        n = sum(unexpected.values())
        head = f"{n} unexpected failure{'s' if n != 1 else ''} in {len(unexpected)} distinct signature(s): "
        lines.append(bounded(head, [f"{s} ({k})" for s, k in unexpected.most_common()]))
    if passed_against:
        n = sum(passed_against.values())
        lines.append(bounded(f"{n} cell(s) passed although a cause expects a failure (XPASS): ",
                             [f"{c} ({k})" for c, k in passed_against.most_common()]))
    return lines


def bounded(head: str, items: list[str], tail: str = "", limit: int = LINE_LIMIT) -> str:
    """``head`` and as many of ``items`` as fit in ``limit`` characters, then ", and N more"."""
    shown: list[str] = []
    for i, item in enumerate(items):
        more = len(items) - i - 1
        rest = f", and {more} more" if more else ""
        if shown and len(head) + len(", ".join(shown + [item])) + len(rest) + len(tail) > limit:
            break
        shown.append(item)
    left = len(items) - len(shown)
    return head + ", ".join(shown) + (f", and {left} more" if left else "") + tail


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _stale_entries(stale: list[dict]) -> str:
    """Stale expectation entries, as a run before causes gave them."""
    shown = ", ".join(f"#{e['index']} ({e['status']}, {_names(e['case'])} x {_names(e['converter'])})"
                      for e in stale[:STALE_SHOWN])
    more = (f", and {len(stale) - STALE_SHOWN} more (all in results.json, 'stale_expectations')"
            if len(stale) > STALE_SHOWN else "")
    return f"{len(stale)} stale expectation(s), matching no collected cell: {shown}{more}"


def _names(globs: list[str], limit: int = 4) -> str:
    return "|".join(globs[:limit]) + (f"|... ({len(globs)} names)" if len(globs) > limit else "")
