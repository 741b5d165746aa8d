"""A second opinion on a MISMATCH cell (worker side): ONNX's reference evaluator as a third runtime.

A MISMATCH says Keras and onnxruntime disagree; it does not say which side of the ONNX model is
wrong: the converted graph, or onnxruntime's kernels.  ``onnx.reference.ReferenceEvaluator`` (ONNX's
own Python implementation of the operator specifications) runs the same converted model on the same
inputs (the batch that failed), and the three answers are compared with the suite's own comparison
(:func:`conformance.checks.compare.compare` with :func:`tolerance_for`, the cell's tolerance):

``runtime suspected``     the reference agrees with Keras, not with onnxruntime
``graph suspected``       the reference agrees with onnxruntime, not with Keras
``inconclusive``          it agrees with neither (or, within tolerance, with both)
``reference cannot run``  the reference evaluator cannot run the model (the op or the error is named)
``reference unreliable``  on another conversion of the same case, one that onnxruntime ran in agreement
                          with Keras (the worker's most recent passing cell of the case), the reference
                          does not agree with Keras: its word on this cell proves nothing.  Measured:
                          the masked LSTM converted by tf2onnx at opset 13 matches Keras in onnxruntime
                          (max abs error 6e-8) while the reference is off by 0.108.
``not run``               switched off, the model is too large, out of time, or the worker no longer
                          holds the cell's model (``reason`` says which)

The reference is slow (pure Python over numpy), so it is bounded: models with more than
:data:`MAX_NODES` nodes (subgraphs counted) are skipped, and both runs together get
:data:`SECONDS` seconds (a SIGALRM deadline in the worker's main thread).  It never changes a
status: the result is the record's ``second_opinion`` (plain data) and one line at the end of the
reason.  ``CONFORMANCE_SECOND_OPINION`` = ``auto`` (default) or ``off``.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time

import numpy as np

from cases.api import Tolerance
from conformance.checks.compare import compare, tolerance_for
from conformance.errors import error_text

ENV = "CONFORMANCE_SECOND_OPINION"
#: observed statuses that get a second opinion
STATUSES = frozenset({"MISMATCH"})
#: models with more nodes than this (subgraphs included) are not run through the reference evaluator
MAX_NODES = 1500
#: time for both reference runs of one cell (the cell's model, then the passing model of the case)
SECONDS = 30.0

RUNTIME = "runtime suspected"
GRAPH = "graph suspected"
INCONCLUSIVE = "inconclusive"
CANNOT_RUN = "reference cannot run"
UNRELIABLE = "reference unreliable"
NOT_RUN = "not run"
VERDICTS = (RUNTIME, GRAPH, INCONCLUSIVE, CANNOT_RUN, UNRELIABLE, NOT_RUN)


def enabled(value: str | None = None) -> bool:
    value = (value if value is not None else os.environ.get(ENV, "auto")).strip().lower() or "auto"
    if value in ("auto", "on", "1", "yes"):
        return True
    if value in ("off", "0", "no"):
        return False
    raise ValueError(f"{ENV}={value!r}: use auto or off")


def not_run(reason: str, **extra) -> dict:
    return {"ok": False, "verdict": NOT_RUN, "detail": reason, "reason": reason,
            "max_abs_ref_vs_keras": None, "max_abs_ref_vs_ort": None, **extra}


# ---------------------------------------------------------------- the three-way classification (pure)

def _max_abs(comps) -> float:
    """Largest max abs error of the comparisons (inf when one could not be made: a shape differs)."""
    worst = 0.0
    for c in comps:
        worst = max(worst, math.inf if c.problem else float(c.max_abs))
    return worst


def describe(comps) -> str:
    """How far the reference is from one side, in words: its shape where one differs, else the error."""
    for c in comps:
        if c.problem:
            return f"shape {c.shape_actual} for {c.output}, expected {c.shape_expected}"
    return f"max abs err {_max_abs(comps):.3g}"


def classify(names, keras, ort, ref, tolerances) -> dict:
    """The three-way agreement of one batch: per output, the reference against Keras and against
    onnxruntime, each with that output's tolerance.  ``names``, ``keras``, ``ort``, ``ref`` and
    ``tolerances`` (Tolerance objects) are parallel lists.  Returns ``verdict``, ``detail``,
    the two largest errors and the per-output statistics."""
    if not (len(names) == len(keras) == len(ort) == len(ref) == len(tolerances)):
        return {"ok": False, "verdict": INCONCLUSIVE, "max_abs_ref_vs_keras": None, "max_abs_ref_vs_ort": None,
                "detail": f"output counts differ: Keras {len(keras)}, onnxruntime {len(ort)}, reference {len(ref)}",
                "outputs": []}
    vs_keras = [compare(n, k, r, t.rtol, t.atol) for n, k, r, t in zip(names, keras, ref, tolerances)]
    vs_ort = [compare(n, o, r, t.rtol, t.atol) for n, o, r, t in zip(names, ort, ref, tolerances)]
    keras_agrees = all(c.passed for c in vs_keras)
    ort_agrees = all(c.passed for c in vs_ort)
    errs = f"vs Keras {describe(vs_keras)}; vs onnxruntime {describe(vs_ort)}"
    if keras_agrees and not ort_agrees:
        verdict, detail = RUNTIME, f"the reference evaluator agrees with Keras, not onnxruntime: {errs}"
    elif ort_agrees and not keras_agrees:
        verdict, detail = GRAPH, f"the reference evaluator agrees with onnxruntime, not Keras: {errs}"
    elif ort_agrees and keras_agrees:
        verdict, detail = INCONCLUSIVE, f"the reference evaluator is within tolerance of both: {errs}"
    else:
        verdict, detail = INCONCLUSIVE, f"the reference evaluator agrees with neither: {errs}"
    outputs = [{"output": n, "ref_vs_keras": _stats(a), "ref_vs_ort": _stats(b)}
               for n, a, b in zip(names, vs_keras, vs_ort)]
    return {"ok": True, "verdict": verdict, "detail": detail, "max_abs_ref_vs_keras": _max_abs(vs_keras),
            "max_abs_ref_vs_ort": _max_abs(vs_ort), "outputs": outputs}


def _stats(c) -> dict:
    return {"passed": c.passed, "mismatched": c.mismatched, "total": c.total, "max_abs": c.max_abs,
            **({"problem": c.problem} if c.problem else {})}


def agrees_with_keras(names, keras, ref, tolerances) -> tuple[bool, float, str]:
    """(agrees, max abs error, in words) of the reference's outputs against Keras's."""
    if len(keras) != len(ref):
        return False, math.inf, f"{len(ref)} outputs, not {len(keras)}"
    comps = [compare(n, k, r, t.rtol, t.atol) for n, k, r, t in zip(names, keras, ref, tolerances)]
    return all(c.passed for c in comps), _max_abs(comps), describe(comps)


# ---------------------------------------------------------------- running the reference, bounded

class OutOfTime(BaseException):
    """Raised by the deadline's SIGALRM inside the reference evaluator (a BaseException, so that no
    ``except Exception`` of the evaluator swallows it)."""


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise OutOfTime in the main thread after ``seconds``; elsewhere (no SIGALRM) no limit is set."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise OutOfTime()

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.001, float(seconds)))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def count_nodes(graph) -> int:
    """Nodes of a graph, those of its subgraphs (Loop, Scan, If bodies) included."""
    n = 0
    for node in graph.node:
        n += 1
        for attr in node.attribute:
            if attr.HasField("g"):
                n += count_nodes(attr.g)
            for g in attr.graphs:
                n += count_nodes(g)
    return n


def _ops(proto) -> list[str]:
    return sorted({(f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type for n in proto.graph.node})


def _session_io(model_bytes: bytes, built, threads: int):
    """(onnxruntime session, ONNX input name per Keras input) as the cell's pipeline feeds them."""
    from conformance.checks.runtime import check_signature, open_session

    sess, stage = open_session(model_bytes, threads)
    if sess is None:
        raise RuntimeError(f"onnxruntime cannot load the model: {stage.get('error')}")
    aliases = getattr(built, "aliases", None)  # a model that takes a dict: other names of its inputs
    _, feed = check_signature(sess, built.inputs, [], aliases) if aliases else check_signature(sess, built.inputs, [])
    return sess, feed


def reference_outputs(proto, feeds: dict, order: list[str]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    ev = ReferenceEvaluator(proto)
    return [np.asarray(v) for v in ev.run(order, feeds)]


def _run_reference(proto, feeds, order, budget_end: float):
    """(outputs or None, what went wrong or "")."""
    left = budget_end - time.monotonic()
    if left <= 0:
        return None, "out of time"
    try:
        with deadline(left):
            return reference_outputs(proto, feeds, order), ""
    except OutOfTime:
        return None, "out of time"
    except Exception as exc:
        return None, error_text(exc, 300)


def run(*, model_bytes: bytes, output_names, built, case, batch_index: int, threads: int,
        passing: tuple | None = None, seconds: float = SECONDS, max_nodes: int = MAX_NODES) -> dict:
    """The second opinion of one MISMATCH cell, as plain data for ``record["second_opinion"]``.

    ``built``: the worker's built case (inputs, outputs, batches); ``passing``: ``(cell id, model bytes,
    output names)`` of the worker's most recent passing conversion of the same case, or None."""
    import onnx

    from conformance.checks.runtime import output_order

    t0 = time.perf_counter()
    budget_end = time.monotonic() + seconds
    proto = onnx.load_from_string(model_bytes)
    nodes = count_nodes(proto.graph)
    if nodes > max_nodes:
        return not_run(f"the model has {nodes} nodes (subgraphs included), more than the {max_nodes} the reference "
                       f"evaluator is given", nodes=nodes)
    batch = built.batches[batch_index]
    names = [n for n, _, _ in built.outputs]
    tols = [Tolerance(*t) for t in built.tolerances] if getattr(built, "tolerances", None) else \
        [tolerance_for(dtype, case.tolerance) for _, _, dtype in built.outputs]
    sess, feed = _session_io(model_bytes, built, threads)
    order, _ = output_order(sess, output_names)
    feeds = dict(zip(feed, batch.arrays))
    ort_out = [np.asarray(v) for v in sess.run(order, feeds)]
    ref, problem = _run_reference(proto, feeds, order, budget_end)
    base = {"batch": batch.size, "nodes": nodes}
    if ref is None:
        if problem == "out of time":
            return not_run(f"out of time: the reference evaluator did not finish within {seconds:g} s", **base,
                           seconds=time.perf_counter() - t0)
        return {"ok": False, "verdict": CANNOT_RUN, "detail": problem, "reason": problem, "ops": _ops(proto),
                "max_abs_ref_vs_keras": None, "max_abs_ref_vs_ort": None, **base, "seconds": time.perf_counter() - t0}
    out = classify(names, batch.refs, ort_out, ref, tols)
    out.update(base)
    out["reference_check"] = _check_reference(passing, model_bytes, built, batch, names, tols, threads, budget_end)
    check = out["reference_check"]
    if check.get("ran") and not check.get("agrees"):
        out["three_way"] = out["verdict"]
        out["verdict"] = UNRELIABLE
        out["detail"] = (f"on {check['cell']}, where onnxruntime matches Keras, the reference evaluator does not "
                         f"({check['differs']}); on this cell it says {out['three_way']}: {out['detail']}")
    elif not check.get("ran"):
        out["detail"] += f"; the reference evaluator itself unchecked: {check['reason']}"
    else:
        out["detail"] += f"; it agrees with Keras on {check['cell']}"
    out["seconds"] = time.perf_counter() - t0
    return out


def _check_reference(passing, model_bytes, built, batch, names, tols, threads, budget_end) -> dict:
    """The reference on the case's passing conversion: does it agree with Keras where onnxruntime did?"""
    if not passing:
        return {"ran": False, "reason": "no passing conversion of this case ran before it in this worker"}
    cell_id, good_bytes, good_names = passing
    if good_bytes == model_bytes:
        return {"ran": False, "cell": cell_id, "reason": "the passing conversion is this very model"}
    try:
        import onnx

        from conformance.checks.runtime import output_order

        sess, feed = _session_io(good_bytes, built, threads)
        order, _ = output_order(sess, good_names)
        ref, problem = _run_reference(onnx.load_from_string(good_bytes), dict(zip(feed, batch.arrays)), order,
                                      budget_end)
    except Exception as exc:
        ref, problem = None, error_text(exc, 300)
    if ref is None:
        return {"ran": False, "cell": cell_id, "reason": f"on {cell_id}: {problem}"}
    agrees, worst, words = agrees_with_keras(names, batch.refs, ref, tols)
    return {"ran": True, "cell": cell_id, "agrees": agrees, "max_abs_ref_vs_keras": worst, "differs": words}


# ---------------------------------------------------------------- one line (parent side)

def summary(opinion: dict) -> str:
    """One line for the end of the cell's reason."""
    if not opinion:
        return ""
    verdict = opinion.get("verdict") or NOT_RUN
    detail = opinion.get("detail") or opinion.get("reason") or ""
    return f"second opinion: {verdict}" + (f" ({detail})" if detail else "")
