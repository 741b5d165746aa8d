"""What the benchmarks measure: a case's model prepared once for every inference mode.

``prepare`` builds the case's model through the suite's own case API
(``conformance.worker.pipeline.build_case``: same seeds, weights and input generator as
the conformance matrix), converts it with a converter row of the matrix
(``tf2onnx-keras`` at opset 13 by default), opens one onnxruntime session with
the same thread counts TensorFlow was given, and checks that onnxruntime
reproduces the Keras outputs on the benchmark inputs (recorded, not judged:
the conformance matrix judges).  It also saves what a cold start loads: the
Keras model (``.keras`` for the keras package, a SavedModel for tf_keras), the
``.onnx`` file and the inputs.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cases.api import KERAS, Case
from conformance.checks import runtime
from conformance.checks.compare import batch_failures, tolerance_for
from conformance.loader import ModuleLoadError, builtin_modules, cases_in_module, import_module

ORT = "onnxruntime"
WARM_MODES = ("predict", "call", "tf_function", ORT)
COLD_SIDES = ("keras", ORT)

#: (case name, batch sizes).  Small models: 1 and 32; vision models: 1 and 8.
SMALL_BATCHES = (1, 32)
VISION_BATCHES = (1, 8)
DEFAULT_CASES = (
    "seed_simplernn", "seed_gru", "seed_lstm",
    "seed_simplernn_seq16", "seed_gru_seq16", "seed_lstm_seq16",
    "mlp_softmax", "binary_sigmoid",
    "resnet50_imagenet", "hub_efficientnetb0_binary",
)
CHILD = Path(__file__).with_name("_cold_child.py")


class BenchSetupError(Exception):
    """The case cannot be benchmarked here; the message says why (the tests skip with it)."""


def batches_for(case: Case) -> tuple[int, ...]:
    heavy = case.family == "vision" or "slow" in case.tags
    return VISION_BATCHES if heavy else SMALL_BATCHES


def find_cases(names) -> dict[str, Case | str]:
    """name -> Case, or the reason it is not there.  A broken case module only loses its own cases."""
    found: dict[str, Case] = {}
    broken: list[str] = []
    for ref in builtin_modules():
        try:
            for case in cases_in_module(import_module(ref), ref):
                found.setdefault(case.name, case)
        except ModuleLoadError as exc:
            broken.append(str(exc))
    out: dict[str, Case | str] = {}
    for name in names:
        if name in found:
            out[name] = found[name]
        else:
            why = f"case {name!r} is not in cases/"
            if broken:
                why += f" ({'; '.join(broken)})"
            out[name] = why
    return out


# -- threads ---------------------------------------------------------------------------------

def configure_tensorflow_threads(intra: int, inter: int) -> dict:
    """Set TensorFlow's thread pools before it runs anything; returns what TensorFlow reports back."""
    got = runtime.configure_tensorflow_threads(intra, inter)
    if got != {"intra_op": intra, "inter_op": inter}:  # TensorFlow had already initialised its runtime
        raise BenchSetupError(f"TensorFlow reports threads {got}, asked for intra {intra} inter {inter}")
    return got


def ort_session(model_bytes: bytes, intra: int, inter: int, spinning: str | None = None):
    """spinning: None keeps onnxruntime's default (worker threads spin while waiting), "0"/"1" sets it."""
    so = runtime.session_options(intra, inter, spinning)
    sess = runtime.cpu_session(model_bytes, so)
    opts = sess.get_session_options()
    return sess, {"intra_op": opts.intra_op_num_threads, "inter_op": opts.inter_op_num_threads,
                  "allow_spinning": "default (on)" if spinning is None else spinning,
                  "execution_mode": str(opts.execution_mode), "graph_optimization_level": str(opts.graph_optimization_level)}


# -- preparing one case ----------------------------------------------------------------------

def _to_numpy(y):
    import tensorflow as tf

    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), y)


def _flat(y) -> list[np.ndarray]:
    import tensorflow as tf

    if isinstance(y, dict):
        y = [y[k] for k in sorted(y)]
    return [np.asarray(t) for t in tf.nest.flatten(y)]


def _inputs_at(case: Case, built, batch: int) -> list[np.ndarray]:
    from cases.inputs import from_specs

    if case.build_returns_inputs:  # the case gave fixed arrays: repeat them to the batch
        base = built.batches[0].arrays
        return [np.resize(a, (batch,) + a.shape[1:]).astype(a.dtype) for a in base]
    gen = case.inputs or (lambda rng, b: from_specs(built.inputs, rng, b))
    arrays = [np.asarray(a) for a in gen(np.random.default_rng(case.seed), batch)]
    # a generator with a fixed number of samples (e.g. image files) is repeated to the batch
    return [a if a.shape[0] == batch else np.resize(a, (batch,) + a.shape[1:]).astype(a.dtype) for a in arrays]


@dataclasses.dataclass
class Prepared:
    case: Case
    model: object
    inputs: dict            # batch -> [arrays in Keras input order]
    session: object
    feed_names: list        # ONNX input name for each Keras input
    output_names: list
    tf_function: object
    conversion: dict        # converter, opset, version, command, seconds
    ort_threads: dict
    checks: dict            # batch -> {"max_abs_diff", "outputs_match", "problems"}
    artifacts: dict         # "keras": path, "onnx": path, "inputs": {batch: npz}
    keras_kind: str         # "keras" | "tf_keras" (which loader the cold start uses)

    def keras_input(self, batch: int):
        arrays = self.inputs[batch]
        return arrays[0] if len(arrays) == 1 else list(arrays)

    def feeds(self, batch: int) -> dict:
        return dict(zip(self.feed_names, self.inputs[batch]))

    def mode_fn(self, mode: str, batch: int):
        """A zero-argument callable running one inference; every mode returns NumPy arrays."""
        model, x = self.model, self.keras_input(batch)
        if mode == "predict":
            return lambda: model.predict(x, verbose=0)
        if mode == "call":
            return lambda: _to_numpy(model(x, training=False))
        if mode == "tf_function":
            f = self.tf_function
            return lambda: _to_numpy(f(x))
        if mode == ORT:
            sess, names, feeds = self.session, self.output_names, self.feeds(batch)
            return lambda: sess.run(names, feeds)
        raise ValueError(f"unknown mode {mode!r}")


def _convert(case: Case, built, converter_name: str, opset: int, workdir: Path) -> tuple[object, dict]:
    from conformance.converters import builtin_modules as converter_modules
    from conformance.loader import load_converters
    from conformance.converters.base import ConvertContext
    from conformance.worker.launcher import Launcher

    convs = load_converters(converter_modules())
    if converter_name not in convs:
        raise BenchSetupError(f"unknown converter {converter_name!r} (known: {', '.join(convs)})")
    conv = convs[converter_name][1]
    try:
        version = conv.load()
    except BaseException as exc:
        raise BenchSetupError(f"converter {converter_name} unavailable: {type(exc).__name__}: {exc}") from None
    why = conv.accepts(case)
    if why:
        raise BenchSetupError(why)
    (workdir / "cell").mkdir(parents=True, exist_ok=True)
    ctx = ConvertContext(case=case, opset=opset, workdir=workdir / "cell", case_dir=workdir,
                         inputs=built.inputs, outputs=built.outputs, deadline=time.monotonic() + 1800,
                         launcher=Launcher("fresh"))   # command-line converters: a fresh interpreter
    t0 = time.perf_counter()
    try:
        conversion = conv.convert(built.model, ctx)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise BenchSetupError(f"{converter_name} opset {opset} failed: {type(exc).__name__}: {first}") from None
    info = {"converter": converter_name, "opset": opset, "version": version, "command": conversion.command,
            "seconds": time.perf_counter() - t0}
    return conversion, info


def _save_keras(model, case: Case, workdir: Path) -> tuple[str, str]:
    if case.keras == KERAS:
        path = workdir / "model.keras"
        model.save(str(path))
        return str(path), "keras"
    path = workdir / "saved_model"
    model.save(str(path), save_format="tf")
    return str(path), "tf_keras"


def prepare(case: Case, batches, *, converter: str, opset: int, intra: int, inter: int, workdir: Path,
            spinning: str | None = None, cold: bool = True) -> Prepared:
    import tensorflow as tf

    from conformance.checks.compare import compare
    from conformance.worker.pipeline import build_case

    workdir.mkdir(parents=True, exist_ok=True)
    try:
        built = build_case(case)
    except Exception as exc:
        raise BenchSetupError(f"case {case.name} does not build: {type(exc).__name__}: {exc}") from None
    conversion, conv_info = _convert(case, built, converter, opset, workdir)
    model_bytes = conversion.model.SerializeToString()
    try:
        sess, ort_threads = ort_session(model_bytes, intra, inter, spinning)
    except Exception as exc:
        raise BenchSetupError(f"onnxruntime cannot load the {converter} model: {type(exc).__name__}: {exc}") from None
    # the matrix's own signature check and output order (conformance/checks/runtime.py), not a copy
    sig, feed_names = runtime.check_signature(sess, built.inputs, built.outputs)
    out_names, _matched = runtime.output_order(sess, conversion.output_names)
    inputs = {b: _inputs_at(case, built, b) for b in batches}
    model = built.model
    fn = tf.function(lambda x: model(x, training=False), jit_compile=False)
    prepared = Prepared(case, model, inputs, sess, list(feed_names), out_names, fn, conv_info, ort_threads,
                        {}, {}, case.keras)
    for b in batches:
        ref = _flat(_to_numpy(model(prepared.keras_input(b), training=False)))
        got = sess.run(out_names, prepared.feeds(b))
        comps = []
        for (name, _s, dtype), r, o in zip(built.outputs, ref, got):
            tol = tolerance_for(dtype, case.tolerance)
            comps.append(compare(name, r, np.asarray(o), tol.rtol, tol.atol))
        problems = list(sig["problems"]) + batch_failures(b, [vars(c) for c in comps], len(got), len(ref))
        diffs = [c.max_abs for c in comps if not c.problem]
        prepared.checks[b] = {"max_abs_diff": max(diffs) if diffs else None, "outputs_match": not problems,
                              "problems": problems}
    if cold:
        onnx_path = workdir / "model.onnx"
        onnx_path.write_bytes(model_bytes)
        keras_path, kind = _save_keras(model, case, workdir)
        npz = {}
        for b in batches:
            npz[b] = str(workdir / f"inputs_b{b}.npz")
            np.savez(npz[b], **{f"x{i}": a for i, a in enumerate(inputs[b])})
        prepared.artifacts = {"keras": keras_path, "onnx": str(onnx_path), "inputs": npz}
        prepared.keras_kind = kind
    return prepared


def release(prepared: Prepared | None) -> None:
    """Drop a prepared case (vision models are large)."""
    del prepared
    gc.collect()


# -- cold start ------------------------------------------------------------------------------

def cold_start(prepared: Prepared, side: str, batch: int, intra: int, inter: int, spinning: str | None = None,
               timeout: float = 900) -> dict:
    """Start a fresh Python that loads the saved model and predicts once; timings from the child + wall."""
    path = prepared.artifacts["onnx"] if side == ORT else prepared.artifacts["keras"]
    kind = ORT if side == ORT else prepared.keras_kind
    names = prepared.feed_names if side == ORT else [f"x{i}" for i in range(len(prepared.feed_names))]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    spec = {"kind": kind, "path": path, "inputs": prepared.artifacts["inputs"][batch], "intra_op": intra,
            "inter_op": inter, "feed_names": names, "allow_spinning": spinning}
    t0 = time.perf_counter()
    spec["launched_at"] = time.time()
    proc = subprocess.run([sys.executable, str(CHILD), json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(Path(path).parent))
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(f"cold start ({kind}) exited {proc.returncode}: {err[-1] if err else '(no output)'}")
    out = json.loads(lines[-1])
    out["wall_s"] = wall
    out["kind"] = kind
    out["artifact"] = Path(path).name
    return out
