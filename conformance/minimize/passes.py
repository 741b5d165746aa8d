"""The reducer's passes: small functions over one graph and one oracle (PyTorch's fx_minifier's shape).

Each pass takes the current candidate and returns a smaller one that still fails the same way, or the
same candidate.  Every candidate a pass proposes is built from the original layers
(:meth:`conformance.minimize.graph.Graph.build`) and judged by the oracle; a candidate that cannot be
built (:class:`~conformance.minimize.graph.CutError`) is a failed candidate.

- :func:`truncate_tail`: an earlier tensor becomes the output (bisection over the nodes in topological
  order: the earliest output that still fails);
- :func:`cut_head`: the layers before a point removed, the tensors the rest takes from them (one or
  several) new inputs fed their recorded values (bisection: the latest such point that still fails);
- :func:`delta_debug`: shape-preserving layers replaced by their input, in halves, then one by one
  (Zeller's ddmin on the complement).

Once the layers are as few as they get, the smaller model (fewer parameters, smaller inputs):

- :func:`shrink_settings`: each integer setting of a layer (units, filters, heads, ...) tried at 1, then
  halved while the failure stays;
- :func:`shrink_inputs`: each fixed axis of each input (sequence length, image size, features) the same.
"""
from __future__ import annotations

import dataclasses
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
        #: why the last candidate could not be built or saved ("" if none was refused)
        self.refused = ""

    def __call__(self, c: Candidate) -> bool:
        if time.monotonic() > self.deadline:
            raise BudgetSpent()
        layers = len(self.graph.layers_in(c))
        try:
            model, arrays = self.graph.build(c)
        except CutError as exc:
            self.unbuildable += 1
            self.refused = str(exc)
            self.log(f"  cannot build a candidate of {layers} layer(s): {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - Keras refused the cut: a failed candidate, not a failed reducer
            self.unbuildable += 1
            self.refused = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
            self.log(f"  Keras refused a candidate of {layers} layer(s): {self.refused}")
            return False
        try:
            verdict = self.oracle(model, arrays, layers, candidate=c)
        except CutError as exc:
            self.unbuildable += 1
            self.refused = str(exc)
            self.log(f"  cannot run a candidate of {layers} layer(s): {exc}")
            return False
        self.tried += 1
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
    best = _bisect(points, lambda t: judge(dataclasses.replace(c, outputs=(t,))), earliest=True)
    return dataclasses.replace(c, outputs=(best,)) if best is not None else c


def cut_head(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    """Every layer before the i-th one removed: the tensors the later layers take from the earlier ones (one, or
    several: an encoder's hidden states beside its padding mask) become inputs fed their recorded values;
    bisection for the latest i that still fails."""
    nodes = g.layers_in(c)
    points = []
    for i in range(1, len(nodes)):
        before = {n.index for n in nodes[:i]}
        frontier = sorted({t for n in nodes[i:] for t in n.inputs if g.producer.get(t) in before},
                          key=lambda t: (g.producer[t], g.nodes[g.producer[t]].outputs.index(t)))
        kept = [t for t in c.cuts if any(t in n.inputs for n in nodes[i:])]
        if frontier:
            points.append(tuple(dict.fromkeys([*kept, *frontier])))
    if not points:
        return c
    best = _bisect(points, lambda cuts: judge(dataclasses.replace(c, cuts=cuts)), earliest=False)
    return dataclasses.replace(c, cuts=best) if best is not None else c


def delta_debug(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    producers = {g.producer.get(t) for t in c.outputs}
    todo = [n.index for n in g.layers_in(c) if g.removable(n.index) and n.index not in producers]
    chunk = max(1, len(todo) // 2)
    while todo and chunk >= 1:
        i, changed = 0, False
        while i < len(todo):
            part = todo[i:i + chunk]
            cand = dataclasses.replace(c, skipped=c.skipped | frozenset(part))
            if judge(cand):
                c, todo, changed = cand, todo[:i] + todo[i + chunk:], True
            else:
                i += chunk
        if chunk == 1 and not changed:
            break
        chunk = max(1, chunk // 2) if chunk > 1 else (1 if changed else 0)
    return c


PASSES = (("truncate the tail", truncate_tail), ("cut the head", cut_head), ("remove layers", delta_debug))


def _smallest(value: int, make, judge: Judge):
    """The smallest of 1, value // 2, value // 4, ... for which ``make(v)`` still fails the same way (None: none)."""
    if value > 1 and judge(make(1)):
        return make(1)
    best, v = None, value // 2
    while v > 1:
        cand = make(v)
        if not judge(cand):
            break
        best, v = cand, v // 2
    return best


def shrink_settings(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    for node, key, value in g.settings_of(c):
        smaller = _smallest(value, lambda v, c=c, node=node, key=key: c.with_setting(node, key, v), judge)
        c = smaller or c
    return c


def shrink_inputs(g: Graph, c: Candidate, judge: Judge) -> Candidate:
    for tensor, axis, size in g.sizes_of(c):
        smaller = _smallest(size, lambda v, c=c, tensor=tensor, axis=axis: c.with_size(tensor, axis, v), judge)
        c = smaller or c
    return c


SHRINK_PASSES = (("smaller settings", shrink_settings), ("smaller inputs", shrink_inputs))
