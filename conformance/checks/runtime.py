"""The runtimes of a cell: an onnxruntime session and its I/O signature against Keras's, and the
thread settings that onnxruntime and TensorFlow share (the benchmarks use the same two functions).

Each check returns plain data (a dict with ``ok`` and what it found); none decides a status.  The
I/O signature, the feed by name, the output order, onnxruntime's type table and the session options
are :mod:`conformance.checks.standalone`'s (the repro scripts carry the same functions).
"""
from __future__ import annotations

import time

from conformance.checks.standalone import (ORT_TYPES, check_signature, cpu_session, feed_names, ort_type,
                                           output_order, session_options)
from conformance.errors import error_text

__all__ = ["ORT_TYPES", "check_signature", "configure_tensorflow_threads", "feed_names", "open_session", "ort_type",
           "output_order", "session_options"]


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
    so = session_options(threads, 1)
    t0 = time.perf_counter()
    try:
        sess = cpu_session(model_bytes, so)
    except Exception as exc:
        return None, {"ok": False, "error": error_text(exc, 2000)}
    return sess, {"ok": True, "seconds": time.perf_counter() - t0}
