"""The runtimes of a cell: an onnxruntime session and its I/O signature against Keras's, and the
thread settings that onnxruntime and TensorFlow share (the benchmarks use the same two functions).

Each check returns plain data (a dict with ``ok`` and what it found); none decides a status.
"""
from __future__ import annotations

import re
import time

from conformance.errors import error_text

#: Keras dtype name -> onnxruntime type string
_ORT_TYPES = {
    "float32": "tensor(float)", "float64": "tensor(double)", "float16": "tensor(float16)",
    "bfloat16": "tensor(bfloat16)", "int8": "tensor(int8)", "int16": "tensor(int16)",
    "int32": "tensor(int32)", "int64": "tensor(int64)", "uint8": "tensor(uint8)", "bool": "tensor(bool)",
    "string": "tensor(string)",
}



def session_options(intra: int, inter: int = 1, spinning: str | None = None):
    """onnxruntime SessionOptions: ``intra``/``inter`` op threads, quiet logs, optional spinning policy."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, intra)
    so.inter_op_num_threads = max(1, inter)
    so.log_severity_level = 3
    if spinning is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        so.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    return so


def configure_tensorflow_threads(intra: int, inter: int) -> dict:
    """Set TensorFlow's thread pools before its first op (later calls are ignored); return what holds."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # already initialised
        pass
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def open_session(model_bytes: bytes, threads: int):
    """(session, stage dict).  CPU provider only; threads as the Keras side uses."""
    import onnxruntime as ort

    so = session_options(threads, 1)
    t0 = time.perf_counter()
    try:
        sess = ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        return None, {"ok": False, "error": error_text(exc, 2000)}
    return sess, {"ok": True, "seconds": time.perf_counter() - t0}


def check_signature(sess, keras_inputs, keras_outputs, aliases: dict | None = None) -> tuple[dict, list[str]]:
    """Compare the session's I/O with Keras's.

    keras_inputs: [(name, shape, dtype)]; keras_outputs: [(name, shape, dtype)]; aliases: Keras input
    name -> other names of the same input (:func:`cases.model_io.input_aliases`).
    Returns (stage dict, feed order) where feed order lists, for each Keras
    input, the ONNX input name to feed it to: by name when the names agree (a
    model that takes a dict of inputs: its keys or the names of its
    ``keras.Input`` layers, in any order), else by the names once a ``:0``
    tensor suffix and letter case are set aside (still a problem: the names
    differ), else by position (a problem too).
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
    feed, fed_by = feed_names(k_names, o_names, aliases)
    if fed_by != "name" and len(onnx_in) == len(keras_inputs):
        how = "by position" if fed_by == "position" else "by the names without ':0' and case"
        problems.append(f"input names {o_names} differ from Keras's {k_names} (fed {how})")
    onnx_by_name = {i.name: i for i in onnx_in}
    for (_kname, kshape, kdtype), oname in zip(keras_inputs, feed):
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
    for (_kname, _kshape, kdtype), oo in zip(keras_outputs, onnx_out):
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
        "fed_by": fed_by,
    }
    return stage, feed


def _loose(name: str) -> str:
    return re.sub(r":\d+$", "", name).lower()


def _match(candidates: list[list[str]], onnx_names: list[str], key) -> list[str] | None:
    """One ONNX name per Keras input (its first candidate name that matches exactly one ONNX input under
    ``key``), all distinct; None if any input finds none."""
    index: dict[str, list[str]] = {}
    for o in onnx_names:
        index.setdefault(key(o), []).append(o)
    out = []
    for names in candidates:
        hit = next((index[key(n)][0] for n in names if len(index.get(key(n), [])) == 1), None)
        if hit is None:
            return None
        out.append(hit)
    return out if len(set(out)) == len(out) else None


def feed_names(keras_names: list[str], onnx_names: list[str],
               aliases: dict[str, list[str]] | None = None) -> tuple[list[str], str]:
    """(the ONNX input name for each Keras input, how they were matched: "name", "loose name" or
    "position").  By name when every Keras input is an ONNX input by its name or one of its ``aliases``
    (a model that takes a dict: the key, and the name of the ``keras.Input`` under it); by loose name
    when they match one to one once a ``:N`` tensor suffix and letter case are set aside; else by position."""
    if len(keras_names) == len(onnx_names):
        candidates = [[k, *((aliases or {}).get(k) or [])] for k in keras_names]
        for key, how in ((str, "name"), (_loose, "loose name")):
            got = _match(candidates, onnx_names, key)
            if got is not None:
                return got, how
    return list(onnx_names[: len(keras_names)]), "position"


def output_order(sess, preferred: list[str] | None) -> tuple[list[str], str]:
    """ONNX output names in Keras's output order: the converter's mapping when it
    names outputs that exist, else the graph's order."""
    names = [o.name for o in sess.get_outputs()]
    if preferred and all(p in names for p in preferred):
        return list(preferred), "name"
    return names, "position"
