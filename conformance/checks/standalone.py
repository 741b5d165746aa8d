"""The checks of a cell that a standalone repro needs, in one module of the standard library and numpy.

One implementation, run in two places: the worker's checks import these functions
(:mod:`conformance.checks.compare` builds its ``Comparison`` from :func:`compare`,
:mod:`conformance.checks.runtime` takes the I/O signature, the feed and the output order from here,
:mod:`conformance.checks.validity` the two model checks), and :mod:`conformance.checks.repro` copies
this module's source, as it is, into every repro script (``inspect.getsource``), where
:func:`repro` runs the cell's checks in the suite's words.

So this module imports nothing of this project, nothing at module level but the standard library
and numpy (onnx, onnxruntime, Keras inside the functions that use them), and defines no top-level
name that :mod:`cases.model_io` (copied into the scripts too: the Keras reference call) defines;
``tests/test_repro.py`` checks all three.
"""
from __future__ import annotations

import math
import re
import tempfile

import numpy as np

# ---------------------------------------------------------------- tolerance and comparison

#: (rtol, atol) by the floating dtype of the reference output (any other dtype: float32's)
TOLERANCES = {
    "float64": (1e-6, 1e-7),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-2),
}
HALF_PRECISION = ("float16", "bfloat16")


def tolerance(dtype, override=None) -> tuple[float, float]:
    """(rtol, atol) for an output of ``dtype``, unless the case overrides it (an (rtol, atol) pair).

    A case override never makes a half-precision output stricter than its dtype allows."""
    rtol, atol = TOLERANCES.get(str(dtype), TOLERANCES["float32"])
    if override is None:
        return rtol, atol
    if str(dtype) in HALF_PRECISION:
        return max(override[0], rtol), max(override[1], atol)
    return override[0], override[1]


def _inf_unless_finite(x: float) -> float:
    return float(x) if math.isfinite(x) else float("inf")


def compare(output: str, expected, actual, rtol: float, atol: float) -> dict:
    """One output against its Keras reference, element-wise: every statistic, as a dict with the fields
    of :class:`conformance.checks.compare.Comparison` (``passed`` says whether it agrees).

    Semantics follow Polygraphy's element-wise comparator: an element fails only when its absolute
    error exceeds ``atol`` *and* its relative error exceeds ``rtol``.  NaN against a number fails;
    NaN against NaN and equal infinities pass."""
    exp = np.asarray(expected)
    act = np.asarray(actual)
    out = dict(output=output, passed=True, rtol=rtol, atol=atol, shape_expected=tuple(exp.shape),
               shape_actual=tuple(act.shape), dtype_expected=str(exp.dtype), dtype_actual=str(act.dtype),
               total=0, mismatched=0, nan_mismatched=0, max_abs=0.0, max_rel=0.0, mean_abs=0.0, p99_abs=0.0,
               min_passing_atol=0.0, min_passing_rtol=0.0, worst_index=(), worst_expected=None, worst_actual=None,
               problem="")
    if exp.shape != act.shape:
        out.update(passed=False, problem=f"shape {tuple(act.shape)} where Keras gives {tuple(exp.shape)}")
        return out
    if exp.size == 0:
        return out
    e = exp.astype(np.float64)
    a = act.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        e_nan, a_nan = np.isnan(e), np.isnan(a)
        both_nan = e_nan & a_nan
        same_inf = np.isinf(e) & np.isinf(a) & (e == a)
        absdiff = np.abs(a - e)
        absdiff[both_nan | same_inf] = 0.0
        one_nan = e_nan ^ a_nan
        absdiff[one_nan] = np.inf
        magnitude = np.abs(e)
        reldiff = np.where(magnitude > 0, absdiff / np.where(magnitude > 0, magnitude, 1.0),
                           np.where(absdiff > 0, np.inf, 0.0))
        # an infinite error (inf against -inf or a finite value, NaN against a number) is infinitely relative too
        reldiff[np.isinf(absdiff) | np.isnan(reldiff)] = np.inf
        failed = (absdiff > atol) & (reldiff > rtol)
    n_failed = int(failed.sum())
    flat = absdiff.ravel()
    finite = flat[np.isfinite(flat)]
    worst = int(np.argmax(np.where(np.isnan(flat), np.inf, flat)))
    # smallest atol passing at this rtol: the largest error among elements the rtol alone fails
    beyond_rtol = absdiff[reldiff > rtol]
    beyond_atol = reldiff[absdiff > atol]
    out.update(
        passed=n_failed == 0,
        total=int(exp.size),
        mismatched=n_failed,
        nan_mismatched=int(one_nan.sum()),
        max_abs=_inf_unless_finite(float(flat.max())),
        max_rel=_inf_unless_finite(float(reldiff.max())),
        mean_abs=float(finite.mean()) if finite.size else float("inf"),
        p99_abs=float(np.percentile(finite, 99)) if finite.size else float("inf"),
        min_passing_atol=_inf_unless_finite(float(beyond_rtol.max()) if beyond_rtol.size else 0.0),
        min_passing_rtol=_inf_unless_finite(float(beyond_atol.max()) if beyond_atol.size else 0.0),
        worst_index=tuple(int(i) for i in np.unravel_index(worst, exp.shape)),
        worst_expected=float(e.ravel()[worst]),
        worst_actual=float(a.ravel()[worst]),
    )
    return out


def comparison_line(c) -> str:
    """One comparison (:func:`compare`'s dict) in the suite's words: ``NAME: 3/12 elements outside rtol=...,
    atol=...; max abs err ..., max rel err ..., worst at [i, j]: expected x got y``, or its problem."""
    if c["problem"]:
        return f"{c['output']}: {c['problem']}"
    return (f"{c['output']}: {c['mismatched']}/{c['total']} elements outside rtol={c['rtol']:g}, "
            f"atol={c['atol']:g}; max abs err {c['max_abs']:.3g}, max rel err {c['max_rel']:.3g}"
            + (f", worst at {list(c['worst_index'])}: expected {c['worst_expected']:.6g} got {c['worst_actual']:.6g}"
               if c["worst_index"] else ""))


def batch_failures(batch: int, comparisons, n_onnx: int, n_keras: int) -> list[str]:
    """The failure lines of one batch (size ``batch``) in the suite's words: onnxruntime giving another number
    of outputs than Keras, and each comparison (:func:`compare`'s dicts) that failed."""
    lines = [f"batch {batch}: onnxruntime gives {n_onnx} outputs, Keras {n_keras}"] if n_onnx != n_keras else []
    return lines + [f"batch {batch}: {comparison_line(c)}" for c in comparisons if not c["passed"]]


def degenerate_reasons(name: str, ref) -> list[str]:
    """Why a Keras reference output proves nothing, if it doesn't.

    A reference that is non-finite, a single repeated value, or the same for
    every sample in the batch cannot tell a right conversion from a wrong one.
    """
    r = np.asarray(ref)
    reasons = []
    if r.size == 0:
        return [f"{name} is empty"]
    if np.issubdtype(r.dtype, np.number) and not np.all(np.isfinite(r)):
        reasons.append(f"{name} has non-finite values")
    elif r.size > 1 and np.all(r == r.ravel()[0]):
        reasons.append(f"{name} is the constant {r.ravel()[0]!r} everywhere")
    elif r.ndim >= 1 and r.shape[0] > 1 and np.all(r == r[:1]):
        reasons.append(f"{name} is the same for every sample of the batch")
    return reasons


def impostor_reasons(name: str, ref, rtol: float, atol: float) -> list[str]:
    """Why a Keras reference is too weak to tell a right conversion from an input-ignoring one: an
    answer that ignores each sample's input, the batch mean for every sample or the batch rolled by
    one sample (every sample given its neighbour's answer), would pass the same comparison.  Needs a
    numeric batch of at least two samples that is not already degenerate (constant, non-finite)."""
    r = np.asarray(ref)
    if r.ndim < 1 or r.shape[0] < 2 or not np.issubdtype(r.dtype, np.number) or not np.all(np.isfinite(r)):
        return []
    if np.all(r == r[:1]):  # the same for every sample: degenerate_reasons says so already
        return []
    reasons = []
    impostors = (("the batch mean", np.broadcast_to(r.astype(np.float64).mean(axis=0), r.shape).astype(r.dtype)),
                 ("the batch rolled by one sample", np.roll(r, 1, axis=0)))
    for label, fake in impostors:
        if compare(name, r, fake, rtol, atol)["passed"]:
            reasons.append(f"{name}: {label} would pass the same comparison (rtol={rtol:g}, "
                           f"atol={atol:g}), so agreement would not show the input was used")
    return reasons


# ---------------------------------------------------------------- the converted model and onnxruntime

def opset_check(model, asked: int) -> dict:
    """Whether the converter wrote the ONNX opset it was asked for: the model's ``ai.onnx`` opset_import
    (a converter may ignore the request: Keras 3.8's model.export writes tf2onnx's default, 15)."""
    written = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written == int(asked):
        return {"ok": True, "written": written}
    return {"ok": False, "asked": int(asked), "written": written,
            "error": f"asked for opset {asked}, the converter wrote opset {written} (the model's ai.onnx opset_import)"}


def model_checks(model) -> list[tuple[str, BaseException | None]]:
    """onnx.checker with full_check, then strict shape inference with type checks: (stage name, the
    exception the check raised or None) for each.  Strict shape inference runs only on a model the
    checker accepts: the checker's failure decides the cell anyway (it comes first in the stage table),
    and onnx 1.14.0's shape inference with data propagation crashes the process (SIGSEGV) on graphs the
    checker rejects, raw TensorFlow ops or outputs without a shape at opset 15 and later (seen on the
    tf212 stack), which would turn the converter's INVALID into a CRASH of the check."""
    import onnx

    checks = (("checker", lambda: onnx.checker.check_model(model, full_check=True)),
              ("shape_inference", lambda: onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True,
                                                                             data_prop=True)))
    out = []
    for stage, check in checks:
        try:
            check()
            out.append((stage, None))
        except Exception as exc:
            out.append((stage, exc))
            break
    return out


#: Keras dtype name -> onnxruntime's type string
ORT_TYPES = {
    "float32": "tensor(float)", "float64": "tensor(double)", "float16": "tensor(float16)",
    "bfloat16": "tensor(bfloat16)", "int8": "tensor(int8)", "int16": "tensor(int16)",
    "int32": "tensor(int32)", "int64": "tensor(int64)", "uint8": "tensor(uint8)", "bool": "tensor(bool)",
    "string": "tensor(string)",
}


def ort_type(dtype) -> str:
    """onnxruntime's type string of a Keras dtype (``float32`` -> ``tensor(float)``); an unknown one as it is."""
    return ORT_TYPES.get(str(dtype), str(dtype))


def session_options(intra: int | None, inter: int = 1, spinning: str | None = None):
    """onnxruntime SessionOptions: ``intra``/``inter`` op threads (``intra`` None: onnxruntime's default
    threads), quiet logs, optional spinning policy."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if intra is not None:
        so.intra_op_num_threads = max(1, intra)
        so.inter_op_num_threads = max(1, inter)
    so.log_severity_level = 3
    if spinning is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        so.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    return so


def cpu_session(model_bytes: bytes, so):
    """An onnxruntime session on the CPU provider only (raises what onnxruntime raises)."""
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])


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
        want = ort_type(kdtype)
        if oi.type != want:
            problems.append(f"input {oname} is {oi.type}, Keras feeds {want}")
        if kshape and kshape[0] is None and oi.shape and isinstance(oi.shape[0], int):
            problems.append(f"input {oname} has a fixed batch dimension {oi.shape[0]}")
        if kshape and oi.shape and len(oi.shape) != len(kshape):
            problems.append(f"input {oname} has rank {len(oi.shape)}, Keras has {len(kshape)}")
    for (_kname, _kshape, kdtype), oo in zip(keras_outputs, onnx_out):
        want = ort_type(kdtype)
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


# ---------------------------------------------------------------- Keras

def load_keras_model(path, keras_module, custom_objects=None):
    """A saved ``.keras`` model loaded back with ``keras_module`` (Keras or tf_keras), not compiled, with
    safe_mode off where the Keras has it (a case's Lambda layers) and the user's ``custom_objects``."""
    try:
        return keras_module.models.load_model(str(path), compile=False, safe_mode=False, custom_objects=custom_objects)
    except TypeError:
        return keras_module.models.load_model(str(path), compile=False, custom_objects=custom_objects)


def import_custom_objects(path) -> dict:
    """Import the user's module of custom Keras objects at ``path`` under its file's name (its registered
    classes resolve) and return its ``custom_objects`` dict ({} without one)."""
    import importlib.util
    import os
    import sys

    name = os.path.splitext(os.path.basename(str(path)))[0]
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return dict(getattr(module, "custom_objects", None) or {})


# ---------------------------------------------------------------- the verdict

def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _after(stages: dict) -> str:
    """For a structurally failing model: did onnxruntime still run it and agree?"""
    if stages.get("compare") is None:
        return ""
    if stages["compare"].get("ok"):
        return " (onnxruntime still ran it and its outputs matched Keras)"
    return " (onnxruntime ran it but its outputs differ from Keras)"


def decide(stages: dict, table, pass_reason: str) -> tuple[str, str]:
    """(status, reason) of the stages a repro ran, in the suite's words: the first failed stage of
    ``table`` decides, as in the suite.  ``table`` is the suite's stage table as data
    (:mod:`conformance.stages`, written into each script): [(stage, label, ok_default, [(status or
    None, reason template, when)])]."""
    for name, label, ok_default, failures in table:
        st = stages.get(name)
        if st is None or st.get("ok", ok_default):
            continue
        status, template = next((s, t) for s, t, when in failures if when is None or st.get(when))
        err = st.get("error") or "; ".join(st.get("problems", [])) or "no detail"
        fields = {"err": err, "error": st.get("error"), "reason": st.get("reason"), "label": label,
                  "failures": "; ".join(st.get("failures", [])), "problems": "; ".join(st.get("problems", [])),
                  "after": _after(stages)}
        return status or st.get("status"), template.format(**fields)
    return "PASS", pass_reason


def say(status: str, reason: str) -> int:
    """Print the verdict line, ``STATUS: reason``; the exit code: 0 for PASS, 1 otherwise."""
    print(f"{status}: {reason}")
    return 0 if status == "PASS" else 1


def repro(check, convert, load_model, reference, *, model_path, inputs_path, input_specs, input_aliases, output_specs,
          batches, table, pass_reason, rejects_opset, opset=None) -> int:
    """A repro script's run: the cell's checks in the worker's order, then its verdict line (:func:`say`).

    check(): raises when the converter cannot be used; convert(model, work) -> (ONNX model, ONNX output
    names in Keras's order or None); load_model(path) -> the Keras model; reference(model, arrays, names)
    -> Keras's outputs (:func:`cases.model_io.keras_outputs`); input_specs: [(name, shape,
    dtype)]; output_specs: [(name, shape, dtype, rtol, atol)]; batches: the batch sizes of the inputs
    saved in ``inputs_path`` (``b<batch>_<input>``); table, pass_reason: the suite's words
    (:func:`decide`); rejects_opset(text): whether a conversion error is the converter's refusal of
    the opset; opset: the opset asked for (the converted model must declare it, :func:`opset_check`)."""
    stages: dict = {}
    try:
        check()
        stages["availability"] = {"ok": True}
    except BaseException as exc:  # an import may exit
        stages["availability"] = {"ok": False, "error": _error_line(exc)}
        return say(*decide(stages, table, pass_reason))
    if model_path is None:
        return say("UNAVAILABLE", "the model was not saved with this repro: the converter could not be imported "
                                  "where it was written")
    model = load_model(model_path)
    data = np.load(inputs_path)
    arrays = [[data[f"b{b}_{i}"] for i in range(len(input_specs))] for b in range(len(batches))]
    names = [n for n, _, _ in input_specs]
    refs = [reference(model, a, names) for a in arrays]
    problems = [p for (name, _, _, _, _), r in zip(output_specs, refs[0]) for p in degenerate_reasons(name, r)]
    problems += [p for (name, _, _, rtol, atol), r in zip(output_specs, refs[0])
                 for p in impostor_reasons(name, r, rtol, atol)]
    stages["reference"] = {"ok": not problems, "problems": problems}
    with tempfile.TemporaryDirectory() as work:
        try:
            onnx_model, preferred = convert(model, work)
            model_bytes = onnx_model.SerializeToString()
            stages["convert"] = {"ok": True}
        except Exception as exc:
            text = _error_line(exc)
            stages["convert"] = {"ok": False, "error": text, "opset_rejected": rejects_opset(text)}
            return say(*decide(stages, table, pass_reason))
    if opset is not None:
        stages["opset"] = opset_check(onnx_model, opset)
    for stage, exc in model_checks(onnx_model):
        stages[stage] = {"ok": exc is None, **({} if exc is None else {"error": _error_line(exc)})}
    try:
        sess = cpu_session(model_bytes, session_options(None))
        stages["session"] = {"ok": True}
    except Exception as exc:
        stages["session"] = {"ok": False, "error": _error_line(exc)}
        return say(*decide(stages, table, pass_reason))
    stages["signature"], feed = check_signature(sess, input_specs, [s[:3] for s in output_specs], input_aliases)
    order, _ = output_order(sess, preferred)
    failures = []
    for batch, ref in zip(arrays, refs):
        try:
            outs = sess.run(order, dict(zip(feed, batch)))
        except Exception as exc:
            stages["run"] = {"ok": False, "error": _error_line(exc)}
            return say(*decide(stages, table, pass_reason))
        comparisons = [compare(name, r, o, rtol, atol) for (name, _, _, rtol, atol), r, o in zip(output_specs, ref, outs)]
        failures += batch_failures(int(batch[0].shape[0]), comparisons, len(outs), len(ref))
    stages["run"] = {"ok": True}
    stages["compare"] = {"ok": not failures, "failures": failures}
    return say(*decide(stages, table, pass_reason))
