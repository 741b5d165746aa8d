"""The ORT-only deployability child: ``python -I -m conformance.checks.deploy_child DIR THREADS``.

``python -I -m conformance.checks.deploy_child --serve THREADS`` is the same child kept alive by a
worker: it reads one DIR per line on stdin and answers each with one JSON line, so a run pays the
interpreter and onnxruntime start once per worker instead of once per checked cell.  The check for
TensorFlow/Keras modules runs after every model, so the process stays ORT-only for its whole life.

Loads DIR/model.onnx in onnxruntime alone (no custom-op library), runs it on the feeds the
worker wrote and checks that it reproduces the worker's outputs; at the end, that no
TensorFlow or Keras module was loaded.  It imports numpy, onnxruntime and, from this suite,
only modules of the standard library and numpy (:mod:`conformance.errors`, :mod:`conformance.checks.runtime`,
and the converter modules through :mod:`conformance.loader`, for the packages they need; none imports its
converter before ``load``).
Prints one JSON line; :mod:`conformance.checks.deploy` reads it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from conformance.checks.runtime import cpu_session, session_options
from conformance.errors import error_text
from conformance.loader import converter_packages

#: modules whose presence in the child means the model was not served by onnxruntime alone: the frameworks a
#: case is built with, and every package a converter needs (its module's ``packages``)
FORBIDDEN_MODULES = tuple(dict.fromkeys(("tensorflow", "keras", "tf_keras", "tensorflow_hub") + converter_packages()))


def _child(folder: Path, threads: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    plan = json.loads((folder / "plan.json").read_text())
    data = np.load(folder / "data.npz")
    so = session_options(threads, 1)
    result = {"ok": False, "error": None, "onnxruntime": ort.__version__, "identical": None, "max_abs_diff": None}
    try:
        sess = cpu_session(str(folder / "model.onnx"), so)
    except Exception as exc:
        result["error"] = f"onnxruntime alone cannot load the model: {error_text(exc, 2000)}"
        return result
    identical, close, worst = True, True, 0.0
    for b, step in enumerate(plan):
        feed = {name: data[f"in_{b}_{i}"] for i, name in enumerate(step["inputs"])}
        try:
            got = sess.run(step["outputs"], feed)
        except Exception as exc:
            result["error"] = f"onnxruntime alone failed to run the model: {error_text(exc, 2000)}"
            return result
        for j, g in enumerate(got):
            w = data[f"out_{b}_{j}"]
            if g.shape != w.shape or g.dtype != w.dtype:
                result["error"] = (f"output {step['outputs'][j]}: {g.dtype}{list(g.shape)} here, "
                                   f"{w.dtype}{list(w.shape)} in the worker")
                return result
            floating = np.issubdtype(w.dtype, np.floating)
            if np.array_equal(g, w, equal_nan=bool(floating)):
                continue
            identical = False
            if np.issubdtype(w.dtype, np.number):
                diff = np.abs(g.astype("float64") - w.astype("float64"))
                worst = max(worst, float(np.nanmax(diff)))
                close = close and bool(np.allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=bool(floating)))
            else:
                close = False
    result["identical"] = identical
    result["max_abs_diff"] = worst
    # same onnxruntime and threads as the worker: at most thread-scheduling noise is allowed
    result["ok"] = close
    if not close:
        result["error"] = f"outputs differ from the worker's onnxruntime run by up to {worst:.3g}"
    return result


def _one(folder: Path, threads: int) -> dict:
    try:
        result = _child(folder, threads)
    except Exception as exc:  # report as data; the parent flags it
        result = {"ok": False, "error": error_text(exc, 2000)}
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN_MODULES)
    result["forbidden_modules_loaded"] = sorted({m.split(".")[0] for m in leaked})
    if leaked:
        result["ok"] = False
        result["error"] = f"the onnxruntime-only process loaded {', '.join(result['forbidden_modules_loaded'])}"
    return result


def serve(threads: int) -> int:
    """One folder per stdin line, one JSON line per folder on the real stdout (libraries print to stderr)."""
    import os

    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    for line in sys.stdin:
        folder = line.strip()
        if not folder:
            continue
        out.write(json.dumps(_one(Path(folder), threads)) + "\n")
        out.flush()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--serve":
        return serve(int(argv[1]))
    if len(argv) != 2:
        print("usage: python -I -m conformance.checks.deploy_child DIR THREADS", file=sys.stderr)
        return 2
    print(json.dumps(_one(Path(argv[0]), int(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
