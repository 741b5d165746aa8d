"""Checks of a converted ONNX model: validity, onnxruntime session, I/O signature, facts.

Each check returns plain data (a dict with ``ok`` and what it found); none of
them decides a cell's status.  onnx and onnxruntime are imported lazily so the
test process never pays for them.
"""
from __future__ import annotations

import collections
import time

#: Keras dtype name -> onnxruntime type string
_ORT_TYPES = {
    "float32": "tensor(float)", "float64": "tensor(double)", "float16": "tensor(float16)",
    "bfloat16": "tensor(bfloat16)", "int8": "tensor(int8)", "int16": "tensor(int16)",
    "int32": "tensor(int32)", "int64": "tensor(int64)", "uint8": "tensor(uint8)", "bool": "tensor(bool)",
    "string": "tensor(string)",
}


def _first_line(exc: BaseException, limit: int = 2000) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def check_validity(model) -> dict:
    """onnx.checker with full_check, then strict shape inference with type checks."""
    import onnx

    out = {}
    try:
        onnx.checker.check_model(model, full_check=True)
        out["checker"] = {"ok": True}
    except Exception as exc:
        out["checker"] = {"ok": False, "error": _first_line(exc)}
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        out["shape_inference"] = {"ok": True}
    except Exception as exc:
        out["shape_inference"] = {"ok": False, "error": _first_line(exc)}
    return out


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


def open_session(model_bytes: bytes, threads: int):
    """(session, stage dict).  CPU provider only; threads as the Keras side uses."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    t0 = time.perf_counter()
    try:
        sess = ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        return None, {"ok": False, "error": _first_line(exc)}
    return sess, {"ok": True, "seconds": time.perf_counter() - t0}


def check_signature(sess, keras_inputs, keras_outputs) -> tuple[dict, list[str]]:
    """Compare the session's I/O with Keras's.

    keras_inputs: [(name, shape, dtype)]; keras_outputs: [(name, shape, dtype)].
    Returns (stage dict, feed order) where feed order lists, for each Keras
    input, the ONNX input name to feed it to (by name when the names agree,
    else by position).
    """
    problems: list[str] = []
    onnx_in = sess.get_inputs()
    onnx_out = sess.get_outputs()
    k_names = [n for n, _, _ in keras_inputs]
    o_names = [i.name for i in onnx_in]
    if len(onnx_in) != len(keras_inputs):
        problems.append(f"{len(onnx_in)} inputs {o_names}, Keras has {len(keras_inputs)} {k_names}")
    if len(onnx_out) != len(keras_outputs):
        problems.append(f"{len(onnx_out)} outputs, Keras has {len(keras_outputs)}")
    by_name = set(k_names) == set(o_names)
    if not by_name and len(onnx_in) == len(keras_inputs):
        problems.append(f"input names {o_names} differ from Keras's {k_names} (fed by position)")
    feed = k_names if by_name else o_names[: len(k_names)]
    onnx_by_name = {i.name: i for i in onnx_in}
    for (kname, kshape, kdtype), oname in zip(keras_inputs, feed):
        oi = onnx_by_name.get(oname)
        if oi is None:
            continue
        want = _ORT_TYPES.get(kdtype, kdtype)
        if oi.type != want:
            problems.append(f"input {oname} is {oi.type}, Keras feeds {want}")
        if kshape and kshape[0] is None and oi.shape and isinstance(oi.shape[0], int):
            problems.append(f"input {oname} has a fixed batch dimension {oi.shape[0]}")
        if kshape and oi.shape and len(oi.shape) != len(kshape):
            problems.append(f"input {oname} has rank {len(oi.shape)}, Keras has {len(kshape)}")
    for (kname, _kshape, kdtype), oo in zip(keras_outputs, onnx_out):
        want = _ORT_TYPES.get(kdtype, kdtype)
        if oo.type != want:
            problems.append(f"output {oo.name} is {oo.type}, Keras gives {want}")
    stage = {
        "ok": not problems,
        "problems": problems,
        "inputs": [{"name": i.name, "type": i.type, "shape": [d if isinstance(d, int) else str(d) for d in (i.shape or [])]}
                   for i in onnx_in],
        "outputs": [{"name": o.name, "type": o.type, "shape": [d if isinstance(d, int) else str(d) for d in (o.shape or [])]}
                    for o in onnx_out],
        "fed_by": "name" if by_name else "position",
    }
    return stage, feed


def output_order(sess, preferred: list[str] | None) -> tuple[list[str], str]:
    """ONNX output names in Keras's output order: the converter's mapping when it
    names outputs that exist, else the graph's order."""
    names = [o.name for o in sess.get_outputs()]
    if preferred and all(p in names for p in preferred):
        return list(preferred), "name"
    return names, "position"
