"""Validity of a converted ONNX model (onnx.checker, strict shape inference) and what it is made of.

Each check returns plain data (a dict with ``ok`` and what it found); none of
them decides a cell's status.  onnx is imported lazily so the test process never
pays for it.
"""
from __future__ import annotations

import collections

from conformance.checks.standalone import model_checks
from conformance.errors import error_text


def check_validity(model) -> dict:
    """onnx.checker with full_check, then strict shape inference with type checks
    (:func:`conformance.checks.standalone.model_checks`)."""
    return {stage: {"ok": True} if exc is None else {"ok": False, "error": error_text(exc, 2000)}
            for stage, exc in model_checks(model)}


def _walk_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _walk_nodes(attr.g)
            for g in attr.graphs:
                yield from _walk_nodes(g)


def model_facts(model, size_bytes: int) -> dict:
    """What the graph is made of: op histogram (subgraphs included), opsets, size."""
    hist = collections.Counter()
    for node in _walk_nodes(model.graph):
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        hist[key] += 1
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    custom = sorted({d for d in opsets if d not in ("ai.onnx", "ai.onnx.ml")}
                    | {k.split("::")[0] for k in hist if "::" in k})
    return {
        "op_histogram": dict(sorted(hist.items())),
        "node_count": sum(hist.values()),
        "opset_import": opsets,
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "model_bytes": size_bytes,
        "custom_domains": custom,
        "onnx_inputs": [i.name for i in model.graph.input],
        "onnx_outputs": [o.name for o in model.graph.output],
    }
