"""The plainest loop over the seed cells, the yardstick the suite's speed is measured against.

    python -m benchmarks.plain_loop [--opsets 9,13,18] [--json FILE]

One process, no worker, no isolation: for each seed case (``seed`` tag, not ``slow``) build the
model once (seeded as the suite seeds it), compute Keras's outputs at the case's batch and at a
second batch, then for each converter row and opset: convert, ``onnx.checker.check_model(full_check)``,
an onnxruntime session, run both batches and compare with the case's tolerance.  The rows are
called as users call them: ``tf2onnx.convert.from_keras``, ``model.export(format="onnx")`` and
``python -m tf2onnx.convert --saved-model`` (a new interpreter per call; the SavedModel written
once per case).  It prints one line per cell and a JSON summary (wall time, per-row conversion
medians) on its last line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = ("tf2onnx-keras", "keras-export", "tf2onnx-cli")
DEFAULT_OPSETS = (9, 13, 18)


def seed_cases() -> list:
    from conformance.loader import builtin_modules, load_cases

    return [c for c in load_cases(builtin_modules()) if "seed" in c.tags and "slow" not in c.tags]


def _seed(case) -> None:
    import random

    import numpy as np
    import tensorflow as tf

    random.seed(case.seed)
    np.random.seed(case.seed)
    tf.random.set_seed(case.seed)
    if case.keras == "keras":
        import keras

        keras.utils.set_random_seed(case.seed)
    else:
        from cases.api import import_tf_keras

        import_tf_keras().utils.set_random_seed(case.seed)


def _outputs(model, arrays) -> list:
    import numpy as np

    y = model(arrays[0] if len(arrays) == 1 else list(arrays), training=False)
    y = list(y.values()) if isinstance(y, dict) else y
    return [np.asarray(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


def _convert(row: str, model, specs, opset: int, folder: Path, saved_model: Path | None):
    import onnx

    if row == "tf2onnx-keras":
        import tensorflow as tf
        import tf2onnx

        sig = [tf.TensorSpec(shape, tf.as_dtype(dtype), name=name) for name, shape, dtype in specs]
        return tf2onnx.convert.from_keras(model, input_signature=sig, opset=opset)[0]
    out = folder / f"{row}-{opset}.onnx"
    if row == "keras-export":
        model.export(str(out), format="onnx", opset_version=opset, verbose=False)
    else:
        proc = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model),
                               "--output", str(out), "--opset", str(opset)], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return onnx.load(str(out))


def run(opsets=DEFAULT_OPSETS, rows=ROWS, log=print) -> dict:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf

    from cases.inputs import from_specs
    from conformance.checks.compare import tolerance_for

    t_start = time.perf_counter()
    convert_times: dict[str, list[float]] = {r: [] for r in rows}
    cells, passed = 0, 0
    with tempfile.TemporaryDirectory(prefix="plain-loop-") as tmp:
        for case in seed_cases():
            _seed(case)
            model = case.build()
            specs = [(t.name.split(":")[0], tuple(t.shape), t.dtype if isinstance(t.dtype, str) else t.dtype.name)
                     for t in model.inputs]
            gen = case.inputs or (lambda rng, b, specs=specs: from_specs(specs, rng, b))
            batches = [gen(np.random.default_rng(case.seed), case.batch),
                       gen(np.random.default_rng(case.seed + 1), 1 if case.batch > 1 else 2)]
            refs = [_outputs(model, b) for b in batches]
            folder = Path(tmp) / case.name
            folder.mkdir()
            saved = None
            if "tf2onnx-cli" in rows:
                saved = folder / "saved_model"
                if case.keras == "keras":
                    model.export(str(saved), format="tf_saved_model", verbose=False)
                else:
                    tf.saved_model.save(model, str(saved))
            for row in rows:
                if row == "keras-export" and case.keras != "keras":
                    continue
                for opset in opsets:
                    cells += 1
                    t0 = time.perf_counter()
                    try:
                        onnx_model = _convert(row, model, specs, opset, folder, saved)
                    except Exception as exc:
                        log(f"{case.name} {row} {opset}: conversion failed: {type(exc).__name__}: {exc}"[:200])
                        continue
                    convert_times[row].append(time.perf_counter() - t0)
                    ok = True
                    try:
                        onnx.checker.check_model(onnx_model, full_check=True)
                        sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
                        names = [i.name for i in sess.get_inputs()]
                        keras_names = [name for name, _, _ in specs]
                        if set(names) == set(keras_names):  # by name (a SavedModel sorts its inputs)
                            names = keras_names
                        for arrays, ref in zip(batches, refs):
                            outs = sess.run(None, dict(zip(names, arrays)))
                            for r, o in zip(ref, outs):
                                tol = tolerance_for(str(r.dtype), case.tolerance)
                                ok = ok and r.shape == o.shape and bool(np.allclose(o, r, rtol=tol.rtol, atol=tol.atol))
                    except Exception as exc:
                        ok = False
                        log(f"{case.name} {row} {opset}: {type(exc).__name__}: {exc}"[:200])
                    passed += ok
                    log(f"{case.name} {row} opset {opset}: {'match' if ok else 'DIFFER'}")
    wall = time.perf_counter() - t_start
    return {"wall_seconds": wall, "cells": cells, "matched": passed, "opsets": list(opsets), "rows": list(rows),
            "convert_median_seconds": {r: statistics.median(v) if v else None for r, v in convert_times.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.plain_loop", description=__doc__.splitlines()[0])
    ap.add_argument("--opsets", default=",".join(map(str, DEFAULT_OPSETS)))
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    summary = run(tuple(int(o) for o in args.opsets.split(",")))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
