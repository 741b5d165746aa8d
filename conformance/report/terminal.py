"""Plain-text summary of a run's records, for the terminal."""
from __future__ import annotations

import collections


def summary_lines(records: list[dict], stale: list[dict]) -> list[str]:
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
    if stale:
        shown = ", ".join(f"#{e['index']} ({e['status']}, {_names(e['case'])} x {_names(e['converter'])})"
                          for e in stale[:STALE_SHOWN])
        more = (f", and {len(stale) - STALE_SHOWN} more (all in results.json, 'stale_expectations')"
                if len(stale) > STALE_SHOWN else "")
        lines.append(f"{len(stale)} stale expectation(s), matching no collected cell: {shown}{more}")
    return lines


#: stale entries named in the terminal (a run narrowed with -m, -k or --opsets leaves many unused)
STALE_SHOWN = 5


def _names(globs: list[str], limit: int = 4) -> str:
    return "|".join(globs[:limit]) + (f"|... ({len(globs)} names)" if len(globs) > limit else "")
