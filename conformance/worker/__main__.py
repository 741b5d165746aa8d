"""A long-lived conversion worker: `python -m conformance.worker RUN_DIR THREADS`.

Reads one JSON task per line on stdin, answers one JSON record per line on the
protocol stream (the original stdout; anything the libraries print goes to
stderr, which the parent sends to a log file).
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from conformance.stages import Stage


def sanitize(obj):
    """Plain JSON: non-finite floats become strings, tuples lists, numpy scalars Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return sanitize(obj.item())
    return obj


def main(argv: list[str]) -> int:
    run_dir, threads = Path(argv[0]), int(argv[1])
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints from converters go to the log
    sys.stdout = sys.stderr
    from conformance.worker import guard

    guard.install_from_env()
    from conformance.errors import error_text, traceback_tail
    from conformance.worker.pipeline import WorkerState, run_cell

    run_dir.mkdir(parents=True, exist_ok=True)
    state = WorkerState(run_dir, threads)
    # TensorFlow's thread limits are set by WorkerState before the first Keras model is built,
    # so a worker that runs only TF-free cells (the suite's own tests) never imports it
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            if task.get("kind") == "diverge":  # the second task of a failing cell (first divergent layer, repro)
                from conformance.worker.failing import run_failing

                record = run_failing(task, state)
            elif task.get("kind") == "targets":  # what users do next with the cell's converted model
                from conformance.worker.targets import run_targets

                record = run_targets(task, state)
            else:
                record = run_cell(task, state)
        except Exception as exc:  # a bug of the suite, not of the converter: say so
            record = {"stages": {Stage.ISOLATION: {"ok": False, "status": "CRASH",
                                               "error": f"suite error in the worker: {error_text(exc)}",
                                               "traceback": traceback_tail(exc)}}, "facts": {}}
        print(f"[conformance] finished {task.get('case')} {task.get('converter')} opset {task.get('opset')}",
              file=sys.stderr, flush=True)
        proto.write(json.dumps(sanitize(record)) + "\n")
        proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
