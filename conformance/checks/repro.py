"""A standalone repro for a failing cell (worker side): REPORT_DIR/repro/<cell id>/repro.py.

One self-contained Python file that imports only numpy, TensorFlow/Keras (or tf_keras), the
converter (and the onnx package it brings) and onnxruntime, nothing from this project.  Next to it:
``model.keras`` (the case's model as the case's own code built it with its seeds, saved once per
case and linked into each cell's folder) and ``inputs.npz`` (the inputs at both batch sizes).  The
script loads the model, converts it with the cell's exact call or command, checks the model
(onnx.checker, strict shape inference), runs onnxruntime, compares with Keras's output and prints
the result in the cell's words (``MISMATCH: outputs differ from Keras: ...`` or ``PASS: ...``);
exit code 0 for PASS, 1 otherwise.  Paste it, with its two files, into a converter's issue.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from cases.api import NO_KERAS, TF_KERAS
from conformance.checks.compare import tolerance_for
from conformance.errors import error_text
from conformance.statuses import REPRO_WITHOUT_MODEL

SCRIPT = "repro.py"
MODEL = "model.keras"
INPUTS = "inputs.npz"
#: statuses whose repro needs no model (the failure comes before it)
NO_MODEL = REPRO_WITHOUT_MODEL


#: ``CONFORMANCE_REPRO``: ``auto`` (default) writes repros for unexpected failures (a final status other
#: than XFAIL), ``on`` for every failing cell, ``off`` for none
ENV = "CONFORMANCE_REPRO"
MODES = {"auto": "auto", "": "auto", "on": "on", "all": "on", "1": "on", "yes": "on", "off": "off", "0": "off",
         "no": "off"}


def repro_mode(value: str | None) -> tuple[str, str]:
    """(mode, problem): the mode ``CONFORMANCE_REPRO`` asks for; an unknown value is ``auto`` with a note."""
    key = (value or "").strip().lower()
    if key in MODES:
        return MODES[key], ""
    return "auto", f"{ENV}={value!r} is not one of auto, on, off: auto used"


def cell_dir(root: Path, cell_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@=-]", "_", cell_id)[:200]
    return Path(root) / safe


# ---------------------------------------------------------------- per converter: import check and call
# Each entry: (the import that says whether the converter is there, the body of convert(model, work)
# returning (onnx ModelProto, preferred output names or None)).  Bodies use the script's globals.

_TF2ONNX_IMPORT = "import tf2onnx, tf2onnx.convert"

_SAVED_MODEL = '''
    import tensorflow as tf
    sm = os.path.join(work, "saved_model")
    if KERAS == "keras" and int(keras_module().__version__.split(".")[0]) >= 3:
        model.export(sm, format="tf_saved_model", verbose=False)
        keys = ["output_%d" % i for i in range(len(OUTPUT_SPECS))]
    else:
        tf.saved_model.save(model, sm)
        keys = list(getattr(model, "output_names", []) or [])
'''

_FREEZE = '''
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    specs = [tf.TensorSpec(shape, tf.as_dtype(dtype), name=name) for name, shape, dtype in INPUT_SPECS]
    fn = tf.function(lambda *xs: model(keras_input(model, xs), training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(*specs), lower_control_flow={lcf})
    tf.io.write_graph(frozen.graph, work, "model.pb", as_text=False)
    ins = [t.name for t in frozen.inputs if t.dtype != tf.resource]
    outs = [t.name for t in frozen.outputs]
    args = ["--input", os.path.join(work, "model.pb"), "--inputs", ",".join(ins), "--outputs", ",".join(outs),
            "--output", os.path.join(work, "model.onnx"), "--opset", str(OPSET){extra}]
'''

CONVERTERS = {
    "tf2onnx-keras": (_TF2ONNX_IMPORT, '''
    import tensorflow as tf
    import tf2onnx
    spec = [tf.TensorSpec(shape, tf.as_dtype(dtype), name=name) for name, shape, dtype in INPUT_SPECS]
    if structured(model):  # a model that takes a dict of inputs: one argument with its structure
        spec = [keras_input(model, spec)]
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    return onnx_model, None
'''),
    "tf2onnx-cli": (_TF2ONNX_IMPORT, _SAVED_MODEL + '''
    out = os.path.join(work, "model.onnx")
    run_cli(["--saved-model", sm, "--output", out, "--opset", str(OPSET)])
    return onnx.load(out), keys or None
'''),
    "keras-export": ('''
import keras
if int(keras.__version__.split(".")[0]) < 3:
    raise RuntimeError("Keras %s has no model.export(format='onnx'); it needs Keras 3" % keras.__version__)
import keras.src.export.onnx, tf2onnx
''', '''
    path = os.path.join(work, "model.onnx")
    model.export(path, format="onnx", opset_version=OPSET, verbose=False)
    return onnx.load(path), None
'''),
    "tf2onnx-graphdef": (_TF2ONNX_IMPORT, _FREEZE.format(lcf=True, extra=', "--rename-inputs", ",".join(n for n, _, _ in INPUT_SPECS)') + '''
    run_cli(args)
    return onnx.load(os.path.join(work, "model.onnx")), outs
'''),
    "tf2onnx-graphdef-functional": (_TF2ONNX_IMPORT, _FREEZE.format(lcf=False, extra=', "--rename-inputs", ",".join(n for n, _, _ in INPUT_SPECS)') + '''
    run_cli(args)
    return onnx.load(os.path.join(work, "model.onnx")), outs
'''),
    "tf2onnx-graphdef-seed-cmd": (_TF2ONNX_IMPORT, _FREEZE.format(lcf=True, extra=', "--fold_const"') + '''
    run_cli(args)
    return onnx.load(os.path.join(work, "model.onnx")), outs
'''),
    "keras2onnx": ("import keras2onnx", '''
    import keras2onnx
    return keras2onnx.convert_keras(model, model.name, target_opset=OPSET), None
'''),
    "keras2onnx-api": ("import tf2onnx\nfrom tf2onnx import keras2onnx_api", '''
    from tf2onnx import keras2onnx_api
    return keras2onnx_api.convert_keras(model, target_opset=OPSET), None
'''),
}


def _indent(code: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + ln if ln.strip() else "" for ln in code.strip("\n").splitlines())


# ---------------------------------------------------------------- the script

_TEMPLATE = '''#!/usr/bin/env python3
"""Standalone repro: {case} converted by {converter} at ONNX opset {opset}.

Observed by keras-onnx-conformance: {status}.
Files next to this one: {model_file} (the case's Keras model, built by the case's own code with
seed {seed}, saved as is) and {inputs_file} (the inputs at batch sizes {batches}).
Needs only numpy, TensorFlow/Keras ({keras}), {distribution} and onnxruntime.  Run:

    python {script}

It converts the model the way the cell did:
{command_doc}
then checks the model (onnx.checker full_check, strict shape inference), runs onnxruntime on the
CPU and compares with Keras element-wise (an element fails when it exceeds both rtol and atol).
It prints one line, STATUS: reason (PASS, MISMATCH, CONVERT_ERROR, ...), and exits 0 for PASS.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASE = {case!r}
CONVERTER = {converter!r}
OPSET = {opset!r}
KERAS = {keras!r}
MODEL_FILE = {model_file_or_none!r}
#: the Keras inputs: (name, shape with None for free dimensions, dtype)
INPUT_SPECS = {input_specs!r}
#: the Keras outputs: (name, shape without batch, dtype, rtol, atol)
OUTPUT_SPECS = {output_specs!r}
BATCHES = {batch_sizes!r}
OBSERVED = {status!r}
ORT_TYPES = {{"float32": "tensor(float)", "float64": "tensor(double)", "float16": "tensor(float16)",
             "int8": "tensor(int8)", "int16": "tensor(int16)", "int32": "tensor(int32)", "int64": "tensor(int64)",
             "uint8": "tensor(uint8)", "bool": "tensor(bool)", "string": "tensor(string)"}}


def verdict(status, reason):
    print("%s: %s" % (status, reason))
    return 0 if status == "PASS" else 1


def keras_module():
    if KERAS == "tf_keras":
        try:
            import tf_keras
            return tf_keras
        except ImportError:
            import tensorflow as tf
            return tf.keras
    import keras
    return keras


def check_converter():
{import_check}


def run_cli(args):
    """python -m tf2onnx.convert ARGS; raise on failure like the suite does."""
    p = subprocess.run([sys.executable, "-m", "tf2onnx.convert"] + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        text = p.stderr + p.stdout
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if re.match(r"^[A-Za-z_][\\w.]*(Error|Exception|Exit|Interrupt)\\b", ln)
                     or ln.startswith("error:")), lines[-1] if lines else "(no output)")
        if p.returncode < 0:
            raise RuntimeError("`python -m tf2onnx.convert` died of signal %d; last output: %s" % (-p.returncode, last))
        raise RuntimeError("exit code %d: %s" % (p.returncode, last))


def convert(model, work):
    """The cell's conversion; returns (onnx model, ONNX output names in Keras's order, or None)."""
    import onnx
{convert_body}


def compare(name, expected, actual, rtol, atol):
    """None when every element agrees, else one line of statistics."""
    e, a = np.asarray(expected), np.asarray(actual)
    if e.shape != a.shape:
        return "%s: shape %s where Keras gives %s" % (name, tuple(a.shape), tuple(e.shape))
    if e.size == 0:
        return None
    e, a = e.astype(np.float64), a.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        both_nan, same_inf = np.isnan(e) & np.isnan(a), np.isinf(e) & np.isinf(a) & (e == a)
        absdiff = np.abs(a - e)
        absdiff[both_nan | same_inf] = 0.0
        absdiff[np.isnan(e) ^ np.isnan(a)] = np.inf
        mag = np.abs(e)
        rel = np.where(mag > 0, absdiff / np.where(mag > 0, mag, 1.0), np.where(absdiff > 0, np.inf, 0.0))
        rel[np.isinf(absdiff) | np.isnan(rel)] = np.inf
        failed = (absdiff > atol) & (rel > rtol)
    if not failed.any():
        return None
    flat = absdiff.ravel()
    worst = int(np.argmax(np.where(np.isnan(flat), np.inf, flat)))
    idx = [int(i) for i in np.unravel_index(worst, e.shape)]
    return ("%s: %d/%d elements outside rtol=%g, atol=%g; max abs err %.3g, max rel err %.3g, worst at %s: "
            "expected %.6g got %.6g" % (name, int(failed.sum()), e.size, rtol, atol, float(flat.max()),
                                        float(rel.max()), idx, e.ravel()[worst], a.ravel()[worst]))


def structured(model):
    """Does the model take its inputs as a dict (or a nested structure), not one tensor or a flat list?"""
    try:
        struct = model.input
    except Exception:
        return False
    if isinstance(struct, dict):
        return True
    return isinstance(struct, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in struct)


def keras_input(model, values):
    """``values`` (one per INPUT_SPECS entry: the model's inputs in the order of model.inputs) packed the
    way the model takes them: the value itself, a list, or the model's dict of named inputs."""
    values = list(values)
    if not structured(model):
        return values[0] if len(values) == 1 else values
    tensors = list(model.inputs)

    def pack(s):
        if isinstance(s, dict):
            return dict((k, pack(v)) for k, v in s.items())
        if isinstance(s, (list, tuple)):
            return type(s)(pack(v) for v in s)
        return values[[j for j, t in enumerate(tensors) if t is s][0]]

    return pack(model.input)


def keras_outputs(model, arrays):
    y = model(keras_input(model, arrays), training=False)
    if isinstance(y, dict):
        names = list(getattr(model, "output_names", []) or [])
        y = [y[k] for k in names] if names and all(k in y for k in names) else [y[k] for k in sorted(y)]
    elif not isinstance(y, (list, tuple)):
        y = [y]
    return [np.asarray(t) for t in y]


def degenerate(name, r):
    if r.size == 0:
        return ["%s is empty" % name]
    if np.issubdtype(r.dtype, np.number) and not np.all(np.isfinite(r)):
        return ["%s has non-finite values" % name]
    if r.size > 1 and np.all(r == r.ravel()[0]):
        return ["%s is the constant %r everywhere" % (name, r.ravel()[0])]
    if r.ndim >= 1 and r.shape[0] > 1 and np.all(r == r[:1]):
        return ["%s is the same for every sample of the batch" % name]
    return []


def main():
    try:
        check_converter()
    except BaseException as exc:
        return verdict("UNAVAILABLE", "converter unavailable: %s: %s" % (type(exc).__name__, exc))
    if MODEL_FILE is None:
        return verdict("UNAVAILABLE", "the model was not saved with this repro: the converter could not be imported "
                                      "where it was written")
    K = keras_module()
    try:
        model = K.models.load_model(os.path.join(HERE, MODEL_FILE), compile=False, safe_mode=False)
    except TypeError:
        model = K.models.load_model(os.path.join(HERE, MODEL_FILE), compile=False)
    data = np.load(os.path.join(HERE, {inputs_file!r}))
    batches = [[data["b%d_%d" % (b, i)] for i in range(len(INPUT_SPECS))] for b in range(len(BATCHES))]
    refs = [keras_outputs(model, arrays) for arrays in batches]

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as work:
        try:
            onnx_model, preferred = convert(model, work)
            model_bytes = onnx_model.SerializeToString()
        except Exception as exc:
            text = "%s: %s" % (type(exc).__name__, exc)
            if re.search(r"Opset \\d+ is not supported", text):
                return verdict("UNSUPPORTED_OPSET", "converter rejected the opset: " + text)
            return verdict("CONVERT_ERROR", "conversion failed: " + text)
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except Exception as exc:
        return verdict("INVALID", "onnx.checker (full_check) rejects the model: %s: %s" % (type(exc).__name__, exc))
    try:
        onnx.shape_inference.infer_shapes(onnx_model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        return verdict("INVALID", "strict shape inference rejects the model: %s: %s" % (type(exc).__name__, exc))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        return verdict("RUNTIME_ERROR", "onnxruntime cannot load the model: %s: %s" % (type(exc).__name__, exc))
    # the I/O signature: counts, names, dtypes, a dynamic batch dimension
    problems = []
    o_in, o_out = sess.get_inputs(), sess.get_outputs()
    k_names, o_names = [n for n, _, _ in INPUT_SPECS], [i.name for i in o_in]
    if len(o_in) != len(INPUT_SPECS):
        problems.append("%d inputs %s, Keras has %d %s" % (len(o_in), o_names, len(INPUT_SPECS), k_names))
    if len(o_out) != len(OUTPUT_SPECS):
        problems.append("%d outputs, Keras has %d" % (len(o_out), len(OUTPUT_SPECS)))
    by_name = set(k_names) == set(o_names)
    if not by_name and len(o_in) == len(INPUT_SPECS):
        problems.append("input names %s differ from Keras's %s (fed by position)" % (o_names, k_names))
    feed = k_names if by_name else o_names[:len(k_names)]
    onnx_by_name = dict((i.name, i) for i in o_in)
    for (kname, kshape, kdtype), oname in zip(INPUT_SPECS, feed):
        oi = onnx_by_name.get(oname)
        if oi is None:
            continue
        if oi.type != ORT_TYPES.get(kdtype, kdtype):
            problems.append("input %s is %s, Keras feeds %s" % (oname, oi.type, ORT_TYPES.get(kdtype, kdtype)))
        if kshape and kshape[0] is None and oi.shape and isinstance(oi.shape[0], int):
            problems.append("input %s has a fixed batch dimension %d" % (oname, oi.shape[0]))
        if kshape and oi.shape and len(oi.shape) != len(kshape):
            problems.append("input %s has rank %d, Keras has %d" % (oname, len(oi.shape), len(kshape)))
    for spec, oo in zip(OUTPUT_SPECS, o_out):
        if oo.type != ORT_TYPES.get(spec[2], spec[2]):
            problems.append("output %s is %s, Keras gives %s" % (oo.name, oo.type, ORT_TYPES.get(spec[2], spec[2])))
    names = [o.name for o in o_out]
    order = list(preferred) if preferred and all(p in names for p in preferred) else names
    failures = []
    for arrays, ref in zip(batches, refs):
        try:
            outs = sess.run(order, dict(zip(feed, arrays)))
        except Exception as exc:
            return verdict("RUNTIME_ERROR", "onnxruntime failed to run the model: %s: %s" % (type(exc).__name__, exc))
        n = arrays[0].shape[0]
        if len(outs) != len(ref):
            failures.append("batch %d: onnxruntime gives %d outputs, Keras %d" % (n, len(outs), len(ref)))
        for spec, r, o in zip(OUTPUT_SPECS, ref, outs):
            line = compare(spec[0], r, o, spec[3], spec[4])
            if line:
                failures.append("batch %d: %s" % (n, line))
    if problems:
        return verdict("SIGNATURE", "I/O signature differs from Keras: " + "; ".join(problems))
    if failures:
        return verdict("MISMATCH", "outputs differ from Keras: " + "; ".join(failures))
    bad = [p for spec, r in zip(OUTPUT_SPECS, refs[0]) for p in degenerate(spec[0], r)]
    if bad:
        return verdict("DEGENERATE", "Keras reference is degenerate, so agreement proves nothing: " + "; ".join(bad))
    return verdict("PASS", "outputs match Keras at both batch sizes")


if __name__ == "__main__":
    sys.exit(main())
'''

def _fallback_import(name: str, command: str) -> str:
    msg = f"this repro has no standalone call for converter {name!r}; the suite called: {command}"
    return f"    raise RuntimeError({msg!r})"


def saved_model_file(model, flavour: str, folder: Path, check_arrays: list, refs: list) -> tuple[Path | None, str]:
    """Save the built model once (``model.keras``), load it back and check it gives Keras's outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL
    try:
        model.save(str(path))
        if flavour == TF_KERAS:
            from cases.api import import_tf_keras

            K = import_tf_keras()
        else:
            import keras as K
        try:
            again = K.models.load_model(str(path), compile=False, safe_mode=False)
        except TypeError:
            again = K.models.load_model(str(path), compile=False)
        from cases.model_io import keras_outputs

        back = keras_outputs(again, check_arrays)
        if len(back) != len(refs) or any(not np.allclose(a, b, rtol=1e-6, atol=1e-7, equal_nan=True)
                                          for a, b in zip(back, refs)):
            return None, "the saved model.keras does not give the built model's outputs when loaded back"
    except Exception as exc:
        return None, f"the model cannot be saved and loaded back as {MODEL}: {error_text(exc, 300)}"
    return path, ""


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write(out_dir: Path, *, case, converter_name: str, distribution: str, opset: int, observed: str, reason: str,
          command: str, built, model_file: Path | None, model_problem: str = "") -> dict:
    """Write repro.py (and inputs.npz, model.keras) into ``out_dir``; return what results.json lists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    known = converter_name in CONVERTERS
    if known:
        import_check, body = CONVERTERS[converter_name]
    else:
        import_check = _fallback_import(converter_name, command or "")
        body = "    raise RuntimeError('no standalone call')\n"
    needs_model = observed not in NO_MODEL
    notes = []
    if case.keras == NO_KERAS:
        return {"ok": False, "reason": "not written: the case is not a Keras model (a fake of the suite's own tests)"}
    if built is None and needs_model:
        return {"ok": False, "reason": "not written: the case's model was not built (its own code fails: see the cell)"}
    if needs_model and model_file is None:
        return {"ok": False, "reason": f"not written: {model_problem}"}
    if built is not None:
        arrays = {f"b{b}_{i}": a for b, batch in enumerate(built.batches) for i, a in enumerate(batch.arrays)}
        np.savez(out_dir / INPUTS, **arrays)
        outputs = []
        for name, shape, dtype in built.outputs:
            tol = tolerance_for(dtype, case.tolerance)
            outputs.append((name, tuple(shape), dtype, tol.rtol, tol.atol))
        inputs = [(n, tuple(s), d) for n, s, d in built.inputs]
        batches = [b.size for b in built.batches]
    else:
        inputs, outputs, batches = [], [], []
        notes.append("the converter could not be imported here, so no model was saved with it")
    if needs_model and model_file is not None:
        _link_or_copy(model_file, out_dir / MODEL)
    flavour = "tf_keras" if case.keras == TF_KERAS else "keras"
    text = _TEMPLATE.format(
        case=case.name, converter=converter_name, opset=int(opset), status=observed, seed=case.seed,
        model_file=MODEL, inputs_file=INPUTS, batches=", ".join(map(str, batches)) or "-", batch_sizes=batches,
        keras=flavour,
        distribution=distribution or "the converter", script=SCRIPT,
        command_doc="\n".join("    " + ln for ln in (command or "(no command recorded)").splitlines()),
        model_file_or_none=MODEL if (needs_model and model_file is not None) else None,
        input_specs=inputs, output_specs=outputs,
        import_check=_indent(import_check, 4) if known else import_check.rstrip("\n"),
        convert_body=body.rstrip("\n"),
    )
    compile(text, str(out_dir / SCRIPT), "exec")  # a template mistake fails here, not in a user's hands
    (out_dir / SCRIPT).write_text(text, encoding="utf-8")
    return {"ok": True, "path": str(out_dir / SCRIPT), "files": sorted(p.name for p in out_dir.iterdir()),
            "standalone": known, "notes": notes,
            **({} if known else {"reason": f"no standalone call is known for converter {converter_name}; the script "
                                           "names the suite's call and stops"})}
