"""The reducer's passes: small functions over one graph and one oracle (PyTorch's fx_minifier's shape).

Each pass takes the current candidate and returns a smaller one that still fails the same way, or the
same candidate.  Every candidate a pass proposes is built from the original layers
(:meth:`conformance.minimize.graph.Graph.build`) and judged by the oracle; a candidate that cannot be
built (:class:`~conformance.minimize.graph.CutError`) is a failed candidate.

- :func:`truncate_tail`: an earlier tensor becomes the output (bisection over the nodes in topological
  order: the earliest output that still fails);
- :func:`cut_head`: a tensor every path to the output goes through becomes a new input fed its recorded
  value (bisection: the latest such cut that still fails);
- :func:`delta_debug`: shape-preserving layers replaced by their input, in halves, then one by one
  (Zeller's ddmin on the complement).
"""
from __future__ import annotations

import time

from conformance.minimize.graph import Candidate, CutError, Graph


class BudgetSpent(Exception):
    """The time budget is over: the reducer keeps the best candidate so far."""


class Judge:
    """The oracle behind a budget and a log: ``judge(candidate)`` -> bool (fails the same way)."""

    def __init__(self, graph: Graph, oracle, deadline: float, log=None):
        self.graph, self.oracle, self.deadline = graph, oracle, deadline
        self.log = log or (lambda line: None)
        self.tried = 0
        self.unbuildable = 0

    def __call__(self, c: Candidate) -> bool:
        if time.monotonic() > self.deadline:
            raise BudgetSpent()
        layers = len(self.graph.layers_in(c))
        try:
            model, arrays = self.graph.build(c)
        except CutError as exc:
            self.unbuildable += 1
            self.log(f"  cannot build a candidate of {layers} layer(s): {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - Keras refused the cut: a failed candidate, not a failed reducer
            self.unbuildable += 1
            self.log(f"  Keras refused a candidate of {layers} layer(s): {type(exc).__name__}: {str(exc)[:160]}")
            return False
        self.tried += 1
        verdict = self.oracle(model, arrays, layers)
        self.log(f"  {verdict}")
        return bool(verdict)


def _bisect(points: list, fails, earliest: bool):
    """The earliest (or latest) point for which ``fails`` holds, assuming it holds from (or up to) some point."""
    lo, hi, best = 0, len(points) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fails(points[mid]):
            best = points[mid]
            if earliest:
                hi = mid - 1
            else:
                lo = mid + 1
        elif earliest:
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def truncate_tail(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    nodes = g.layers_in(c)
    points = [n.outputs[0] for n in nodes if len(n.outputs) == 1 and n.outputs[0] not in c.outputs]
    if not points:
        return c
    best = _bisect(points, lambda t: judge(Candidate((t,), c.cuts, c.skipped)), earliest=True)
    return Candidate((best,), c.cuts, c.skipped) if best is not None else c


def cut_head(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    stop = set(c.cuts)
    nodes = g.layers_in(c)
    points = []
    for n in nodes:
        for t in n.outputs:
            if t in c.outputs:
                continue
            if g.sources(c.outputs, stop | {t}) == {t}:   # every path to the outputs goes through t
                points.append(t)
    if not points:
        return c
    best = _bisect(points, lambda t: judge(Candidate(c.outputs, (t,), c.skipped)), earliest=False)
    return Candidate(c.outputs, (best,), c.skipped) if best is not None else c


def delta_debug(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    producers = {g.producer.get(t) for t in c.outputs}
    todo = [n.index for n in g.layers_in(c) if g.removable(n.index) and n.index not in producers]
    chunk = max(1, len(todo) // 2)
    while todo and chunk >= 1:
        i, changed = 0, False
        while i < len(todo):
            part = todo[i:i + chunk]
            cand = Candidate(c.outputs, c.cuts, c.skipped | frozenset(part))
            if judge(cand):
                c, todo, changed = cand, todo[:i] + todo[i + chunk:], True
            else:
                i += chunk
        if chunk == 1 and not changed:
            break
        chunk = max(1, chunk // 2) if chunk > 1 else (1 if changed else 0)
    return c


PASSES = (("truncate the tail", truncate_tail), ("cut the head", cut_head), ("remove layers", delta_debug))
