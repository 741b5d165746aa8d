"""ORT-only deployability: can the converted model be served without TensorFlow?

The seed shipped inference in a frozen executable that had onnxruntime and
numpy, nothing else.  For a cell whose comparison passed, the worker writes
the .onnx file, the inputs it fed and the outputs onnxruntime gave in the
worker, then runs this file as a separate, isolated interpreter
(``python -I conformance/deploy.py DIR THREADS``) that imports only numpy and
onnxruntime, registers no custom-op library, runs the model on the same
inputs and checks that it reproduces the worker's outputs.  At the end it
checks that no TensorFlow or Keras module was loaded.  A model that needs
TensorFlow, or an op domain onnxruntime does not register by itself, fails
here and is flagged in the cell's ``facts["deployable"]``; the cell's status
does not change.

How often (``$CONFORMANCE_DEPLOY``):
  ``once`` (default) - the first passing cell of each (case, converter) in a
                       worker, i.e. one opset; the other cells note where it ran.
  ``all``            - every passing cell.
  ``off``            - never.

This module's top level imports only the standard library: it is the child's
whole program.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODES = ("once", "all", "off")
#: modules whose presence in the child means the model was not served by onnxruntime alone
FORBIDDEN_MODULES = ("tensorflow", "keras", "tf_keras", "tf2onnx", "tensorflow_hub", "keras2onnx", "torch", "jax")
#: domains onnxruntime's CPU build registers without any extra library
BUILTIN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc",
                             "com.microsoft.experimental", "ai.onnx.preview.training", "ai.onnx.training"})
CHILD_TIMEOUT = 300.0


class DeployConfigError(ValueError):
    pass


def mode_from_env() -> str:
    mode = (os.environ.get("CONFORMANCE_DEPLOY") or "once").strip().lower()
    if mode not in MODES:
        raise DeployConfigError(f"CONFORMANCE_DEPLOY={mode!r}: use one of {', '.join(MODES)}")
    return mode


# ------------------------------------------------------------------ parent side (inside the worker)


def unregistered_domains(custom_domains) -> list[str]:
    return sorted(d for d in (custom_domains or []) if d not in BUILTIN_DOMAINS)


def check(model_bytes: bytes, output_names: list[str], feeds: list[dict], outputs: list[list], folder: Path,
          threads: int, custom_domains=(), timeout: float = CHILD_TIMEOUT) -> dict:
    """Write the model, the feeds and the outputs (named ``output_names``) onnxruntime gave in the worker
    to ``folder``; run the ORT-only child on them and return the ``deployable`` fact."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model_bytes)
    arrays, plan = {}, []
    for b, (feed, outs) in enumerate(zip(feeds, outputs)):
        names = []
        for i, (name, arr) in enumerate(feed.items()):
            arrays[f"in_{b}_{i}"] = np.asarray(arr)
            names.append(name)
        for j, arr in enumerate(outs):
            arrays[f"out_{b}_{j}"] = np.asarray(arr)
        plan.append({"inputs": names, "outputs": list(output_names)})
    np.savez(folder / "data.npz", **arrays)
    (folder / "plan.json").write_text(json.dumps(plan))
    fact = {"ok": False, "error": None, "custom_domains": list(custom_domains or []),
            "unregistered_domains": unregistered_domains(custom_domains)}
    t0 = time.perf_counter()
    cmd = [sys.executable, "-I", str(Path(__file__).resolve()), str(folder), str(max(1, threads))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        fact.update(error=f"the onnxruntime-only process took more than {timeout:.0f} s",
                    seconds=time.perf_counter() - t0)
        return fact
    fact["seconds"] = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        fact["error"] = f"the onnxruntime-only process failed (exit code {proc.returncode}): {tail}"
        return fact
    fact.update(json.loads(lines[-1]))
    return fact


def cell_fact(memo: dict, key: tuple, opset: int, model_bytes: bytes, output_names, ran, folder: Path,
              threads: int, custom_domains=()) -> dict | None:
    """The ``deployable`` fact of a passing cell, following ``$CONFORMANCE_DEPLOY``; None when off.

    ``key`` is (case module, case, converter); ``ran`` is [(feeds, outputs)] per batch.
    """
    mode = mode_from_env()
    if mode == "off":
        return None
    memo_key = ("deploy",) + tuple(key)
    if mode == "once" and memo_key in memo:
        return {"checked": False, "checked_at_opset": memo[memo_key],
                "note": "CONFORMANCE_DEPLOY=once: checked at one opset per case and converter"}
    fact = check(model_bytes, output_names, [f for f, _ in ran], [o for _, o in ran], folder, threads,
                 custom_domains)
    memo[memo_key] = opset
    return dict(fact, checked=True)


# ------------------------------------------------------------------ child side: onnxruntime and numpy only


def _child(folder: Path, threads: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    plan = json.loads((folder / "plan.json").read_text())
    data = np.load(folder / "data.npz")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    result = {"ok": False, "error": None, "onnxruntime": ort.__version__, "identical": None, "max_abs_diff": None}
    try:
        sess = ort.InferenceSession(str(folder / "model.onnx"), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        result["error"] = f"onnxruntime alone cannot load the model: {type(exc).__name__}: {exc}"[:2000]
        return result
    identical, close, worst = True, True, 0.0
    for b, step in enumerate(plan):
        feed = {name: data[f"in_{b}_{i}"] for i, name in enumerate(step["inputs"])}
        try:
            got = sess.run(step["outputs"], feed)
        except Exception as exc:
            result["error"] = f"onnxruntime alone failed to run the model: {type(exc).__name__}: {exc}"[:2000]
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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -I conformance/deploy.py DIR THREADS", file=sys.stderr)
        return 2
    folder, threads = Path(argv[0]), int(argv[1])
    try:
        result = _child(folder, threads)
    except Exception as exc:  # report as data; the parent flags it
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN_MODULES)
    result["forbidden_modules_loaded"] = sorted({m.split(".")[0] for m in leaked})
    if leaked:
        result["ok"] = False
        result["error"] = f"the onnxruntime-only process loaded {', '.join(result['forbidden_modules_loaded'])}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
