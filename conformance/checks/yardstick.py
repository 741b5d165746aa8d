"""A target's outputs against Keras's and against the cell's own onnxruntime run.

A target (:mod:`conformance.targets`) runs the converted model again, changed or on another runtime.  Its
outputs are judged by the target's yardstick, twice: against Keras's reference (does the deployed model
still answer like Keras?) and against the outputs the cell's own onnxruntime run gave (did the step
itself change the answer?).  The second comparison says whose a difference is: a target that differs
from Keras exactly as onnxruntime already did inherits the conversion's failure (``blame =
"conversion"``); one that differs from onnxruntime changed the answer itself (``blame = "target"``).

Yardsticks (:data:`conformance.targets.base.YARDSTICKS`):

* ``fp32``: the cell's own tolerance per output (:mod:`conformance.checks.compare`);
* ``fp16``: the float16 tolerance (or the cell's where looser), its ``atol`` at least :data:`HALF_ULPS`
  float16 ulps of the output's largest magnitude: float16 carries 11 significant bits, so an output whose
  values reach 300 is computed to about 0.25 everywhere, and an element near zero that came out of sums of
  such values (cancellation) differs by that much in any float16 computation, not by the conversion's fault;
* ``task``: task-level agreement (:mod:`conformance.checks.agreement`): every sample's top-1 class for a
  ``classifier`` case, else every sample's output (flattened) at cosine >= :data:`MIN_COSINE` (a rank-1
  output: the whole batch as one vector); an integer output exactly.  Per sample, not per vector of the last
  axis: a feature-map pixel whose channels are all near zero after a ReLU has a cosine that int8's rounding
  alone moves, while the sample's answer stays.

Plain data out (the stage's dict), no status decided here.
"""
from __future__ import annotations

import numpy as np

from conformance.checks import agreement
from conformance.checks.standalone import comparison_line, compare, tolerance

#: the cosine similarity every sample must keep under the task-level yardstick
MIN_COSINE = 0.99
#: the float16 ulps (2**-10 of the magnitude) of an output's largest value that the fp16 yardstick's atol allows
HALF_ULPS = 4
_HALF_EPS = 2.0 ** -10
#: the keys of a comparison a target's record keeps
_KEEP = ("output", "passed", "max_abs", "max_rel", "mismatched", "total", "rtol", "atol", "problem", "kind", "value")


def _tolerance(yardstick: str, cell: tuple, expected=None) -> tuple[float, float]:
    if yardstick == "fp16":
        half = tolerance("float16")
        e = np.asarray(expected) if expected is not None else np.zeros(0)
        finite = np.abs(e[np.isfinite(e)]) if e.size and np.issubdtype(e.dtype, np.floating) else np.zeros(0)
        scale = float(finite.max()) * _HALF_EPS * HALF_ULPS if finite.size else 0.0
        return max(half[0], cell[0]), max(half[1], cell[1], scale)
    return tuple(cell)


def _task(name: str, expected, actual, tags) -> dict:
    """One output under the task-level yardstick: a dict with ``passed``, ``kind``, ``value`` and a ``line``."""
    e, a = np.asarray(expected), np.asarray(actual)
    if e.shape != a.shape:
        return {"output": name, "passed": False, "problem": f"shape {list(a.shape)} instead of {list(e.shape)}"}
    if not np.issubdtype(e.dtype, np.floating):
        same = bool(np.array_equal(e, a))
        return {"output": name, "passed": same, "kind": "exact", "value": float(same),
                "line": "" if same else f"{name}: {int(np.sum(e != a))}/{e.size} integer elements differ"}
    if agreement.CLASSIFIER_TAG in tags and e.ndim == 2 and e.shape[1] > 1:
        t = agreement.top1(name, e.shape[0], e, a)
        ok = t["agree"] == t["total"]
        return {"output": name, "passed": ok, "kind": "top1", "value": t["value"],
                "line": "" if ok else f"{name}: top-1 class differs for {t['total'] - t['agree']} of {t['total']} samples"}
    # one vector per sample (a rank-1 output: the batch as one vector)
    e, a = (e.reshape(1, -1), a.reshape(1, -1)) if e.ndim < 2 else (e.reshape(e.shape[0], -1), a.reshape(a.shape[0], -1))
    c = agreement.cosine(name, 0, e, a)
    if c is None:
        return {"output": name, "passed": False, "problem": "not a float tensor the cosine can be taken of"}
    ok = c["min"] >= MIN_COSINE
    return {"output": name, "passed": ok, "kind": "cosine", "value": c["min"],
            "line": "" if ok else f"{name}: cosine similarity {c['min']:.4f} < {MIN_COSINE} (mean {c['mean']:.4f} "
                                  f"over {c['vectors']} samples)"}


def _one(yardstick: str, name: str, expected, actual, cell_tol: tuple, tags) -> dict:
    if yardstick == "task":
        return _task(name, expected, actual, tags)
    rtol, atol = _tolerance(yardstick, cell_tol, expected)
    c = compare(name, expected, actual, rtol, atol)
    c["line"] = "" if c["passed"] else comparison_line(c)
    return c


def judge(yardstick: str, names: list[str], refs: list, ort_outs: list, outs: list, tolerances: list,
          tags=(), batch: int = 0) -> dict:
    """One batch: the target's outputs ``outs`` against Keras's ``refs`` and onnxruntime's ``ort_outs``
    (``tolerances``: the cell's (rtol, atol) per output).  ``{"keras": [...], "ort": [...], "failures": [...],
    "ort_failures": [...]}``: the kept comparisons and the failure lines of each."""
    tags = set(tags or ())
    out: dict = {"keras": [], "ort": [], "failures": [], "ort_failures": []}
    if len(outs) != len(refs):
        line = f"batch {batch}: the target gives {len(outs)} outputs, Keras {len(refs)}"
        out["failures"].append(line)
        out["ort_failures"].append(line)
    for name, ref, ort_out, got, tol in zip(names, refs, ort_outs, outs, tolerances):
        for key, fails, expected in (("keras", "failures", ref), ("ort", "ort_failures", ort_out)):
            c = _one(yardstick, name, expected, got, tuple(tol), tags)
            if not c["passed"]:
                out[fails].append(f"batch {batch}: {c.get('line') or c['output'] + ': ' + str(c.get('problem'))}")
            out[key].append({k: c[k] for k in _KEEP if k in c and c[k] not in ("", None)} | {"batch": batch})
    return out


def stage(yardstick: str, judged: list[dict]) -> dict:
    """The compare stage of a target from its batches' :func:`judge`: ``ok`` (matches Keras), the failures,
    whether it matches onnxruntime, and whose a difference is (``blame``)."""
    failures = [f for j in judged for f in j["failures"]]
    ort_failures = [f for j in judged for f in j["ort_failures"]]
    st = {"ok": not failures, "yardstick": yardstick, "failures": failures, "matches_ort": not ort_failures}
    if failures:
        st["blame"] = "conversion" if not ort_failures else "target"
        st["keras"] = [c for j in judged for c in j["keras"]]
        st["ort"] = [c for j in judged for c in j["ort"]]
        if ort_failures:
            st["ort_failures"] = ort_failures
    elif ort_failures:  # matches Keras where the cell's onnxruntime run did not
        st["ort_failures"] = ort_failures
    worst = [c["max_abs"] for j in judged for c in j["keras"] if "max_abs" in c]
    if worst:
        st["max_abs_error"] = max(worst)
    values = [c["value"] for j in judged for c in j["keras"] if c.get("kind") in ("top1", "cosine")]
    if values:
        st["agreement"] = min(values)
    return st
