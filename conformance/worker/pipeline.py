"""The flow of one cell inside a conversion worker.

build (cached per case) -> convert -> validity -> session -> signature -> run at
two batch sizes -> compare.  Every stage lands in ``record["stages"]`` as plain
data, under its name of the stage table (:class:`conformance.stages.Stage`);
:func:`conformance.run.verdict.decide` turns them into a status later, in the table's order.
The worker stops at a stage after which nothing can run (no converter, no model, no session);
after a failed validity check or I/O signature it goes on, so the reason can say what
onnxruntime made of the model.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from cases import files
from cases.api import KERAS, NO_KERAS, TF_KERAS, Case, CaseNotApplicable, Tolerance, import_tf_keras
from cases.inputs import from_specs, input_hints
from cases.model_io import declared_batch, input_aliases, input_specs, keras_outputs
from conformance.loader import find_case
from conformance.checks.runtime import check_signature, configure_tensorflow_threads, open_session, output_order
from conformance.checks.layers import keras_inventory, layer_settings, model_layers
from conformance.checks.standalone import opset_check
from conformance.checks.validity import check_validity, model_facts
from conformance.errors import error_text, traceback_tail
from conformance.stages import Stage
from conformance.checks import agreement, deploy, topk
from conformance.checks.precision import Precision, compute_dtype, float32_model, judge, yardstick_line
from conformance.checks.compare import batch_failures, compare, degenerate_reasons, impostor_reasons, tolerance_for
from conformance.loader import find_converter
from conformance.converters.base import ConvertContext, ConverterCrashed, ConverterTimedOut, OpsetRejected
from conformance.worker.launcher import DEFAULT_MODE, Launcher

#: state.memo key of the last cell's onnxruntime run: (cell key, ONNX output names in Keras's order, [(feeds, outputs)]
LAST_RUN = "_last_run"
#: how many built cases a worker keeps (cells are ordered case by case)
CASE_CACHE_SIZE = 2


@dataclasses.dataclass
class Batch:
    size: int
    arrays: list
    refs: list
    keras_seconds: float
    #: the model recomputed in float32 with the same weights (a half-precision model only; None otherwise)
    truth: list | None = None


@dataclasses.dataclass
class Built:
    model: object
    inputs: list          # [(name, shape, dtype)]
    outputs: list         # [(name, shape, dtype)]
    batches: list[Batch]
    degenerate: list[str]
    seconds: float
    #: the keras.layers classes the built model holds (walked, wrappers and sublayers included)
    layers: list[str] = dataclasses.field(default_factory=list)
    #: input name -> its other names (a dict-input model: the keras.Input's name under a different key)
    aliases: dict = dataclasses.field(default_factory=dict)
    #: the model's contract beyond its specs: the batch size its inputs declare (None: dynamic), the
    #: half precision its layers compute in (None: float32 or wider) and why no float32 recompute exists
    fixed_batch: int | None = None
    precision: Precision | None = None
    truth_problem: str = ""
    #: (rtol, atol) per output: its dtype's, or the compute dtype's for a half-precision model, or the case's
    tolerances: list = dataclasses.field(default_factory=list)
    #: what the model promised (the record's ``facts.contract``), made once by :meth:`contract`
    promised: dict = dataclasses.field(default_factory=dict)
    #: config keys -> the layer settings the causes' needs read (a user's model), walked once
    settings: dict = dataclasses.field(default_factory=dict)

    def contract(self) -> dict:
        """What the model promised, as the record's ``facts.contract``."""
        out: dict = {"batches": [b.size for b in self.batches]}
        if self.fixed_batch is not None:
            out["fixed_batch"] = self.fixed_batch
        if self.precision is not None:
            out["compute_dtype"] = self.precision.compute_dtype
            out["tolerance_from"] = self.precision.describe()
            out["float32_recompute"] = not self.truth_problem
            if self.truth_problem:
                out["float32_recompute_problem"] = self.truth_problem
            else:
                errs = [float(np.max(np.abs(np.asarray(r, np.float64) - np.asarray(t, np.float64))))
                        for b in self.batches for r, t in zip(b.refs, b.truth or []) if np.size(r)]
                out["keras_vs_float32"] = max(errs) if errs else 0.0
        return out


def _seed_everything(case: Case) -> None:
    random.seed(case.seed)
    np.random.seed(case.seed)
    if case.keras == NO_KERAS:  # a fake case of the suite's own tests: never load TensorFlow
        return
    if case.keras == KERAS and keras_backend() != "tensorflow":  # Keras 3 on JAX or PyTorch: no TensorFlow
        import keras

        keras.utils.set_random_seed(case.seed)
        return
    import tensorflow as tf

    tf.random.set_seed(case.seed)
    if case.keras == KERAS:
        import keras

        keras.utils.set_random_seed(case.seed)
    elif case.keras == TF_KERAS:
        import_tf_keras().utils.set_random_seed(case.seed)
    # a SavedModel (--model DIR): TensorFlow's seed is all it needs


def keras_backend() -> str:
    """The Keras backend of this worker (the pool sets KERAS_BACKEND per converter backend)."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def _output_names(model, n: int) -> list[str]:
    names = list(getattr(model, "output_names", []) or [])
    if len(names) != n or len(set(names)) != n:
        return [f"output_{i}" for i in range(n)]
    return names


def _not_applicable(case: Case, exc: BaseException) -> str | None:
    """The case's reason why ``exc`` means it cannot exist on this stack, or None (also when its
    classifier itself fails: then the build's own error is what the cell records)."""
    if case.not_applicable is None:
        return None
    try:
        return case.not_applicable(exc)
    except Exception:  # noqa: BLE001 - a faulty classifier must not hide the build's error
        return None


def build_case(case: Case) -> Built:
    t0 = time.perf_counter()
    _seed_everything(case)
    made = case.build()
    given = None
    if case.build_returns_inputs and isinstance(made, tuple):
        model, given = made
    else:
        model = made
    specs = input_specs(model)
    fixed = declared_batch(specs)  # a model that declares its batch is checked at that batch only
    if given is not None:
        primary = [np.asarray(a) for a in (given if isinstance(given, (list, tuple)) else [given])]
        if len(primary) != len(specs):
            raise ValueError(f"case gives {len(primary)} input arrays, the model has {len(specs)} inputs")
        n = primary[0].shape[0]
        if fixed is not None and n != fixed:
            raise ValueError(f"the model declares a batch of {fixed}; the case gives {n} rows")
        second = None if fixed is not None else [a[:1] for a in primary] if n > 1 else \
            [np.concatenate([a, a]) for a in primary]
    else:
        if case.inputs is not None:
            gen = case.inputs
        else:  # generated to fit the model: ids inside its vocabulary, masks with real padding
            hints = input_hints(model) if case.keras != NO_KERAS else {}
            gen = lambda rng, b: from_specs(specs, rng, b, hints)  # noqa: E731
        primary = [np.asarray(a) for a in gen(np.random.default_rng(case.seed), fixed or case.batch)]
        second_size = 1 if case.batch > 1 else 2
        second = None if fixed is not None else \
            [np.asarray(a) for a in gen(np.random.default_rng(case.seed + 1), second_size)]
        if len(primary) != len(specs):
            raise ValueError(f"case inputs give {len(primary)} arrays, the model has {len(specs)} inputs")
    precision = compute_dtype(model) if case.keras in (KERAS, TF_KERAS) else None
    truth_model, truth_problem = None, ""
    if precision is not None:  # Keras's own half-precision output is no float32 truth: recompute it
        try:
            truth_model = float32_model(model, files.custom_objects())
        except Exception as exc:  # noqa: BLE001 - no recompute: the compute dtype's tolerance alone judges
            truth_problem = f"the model cannot be rebuilt in float32: {error_text(exc, 300)}"
    batches = []
    names_in = [n for n, _, _ in specs]
    for arrays in [primary] + ([second] if second is not None else []):
        k0 = time.perf_counter()
        refs = keras_outputs(model, arrays, names_in)
        batch = Batch(int(arrays[0].shape[0]), arrays, refs, time.perf_counter() - k0)
        if truth_model is not None:
            batch.truth = keras_outputs(truth_model, arrays, names_in)
        batches.append(batch)
    names = _output_names(model, len(batches[0].refs))
    outputs = [(n, tuple(r.shape[1:]), str(r.dtype)) for n, r in zip(names, batches[0].refs)]
    tols = tolerances(case, outputs, precision)
    degenerate = [p for n, r in zip(names, batches[0].refs) for p in degenerate_reasons(n, r)]
    # an input-ignoring answer (the batch mean, a neighbour's answer) that would pass proves the reference weak
    degenerate += [p for (n, _shape, _dtype), r, (rtol, atol) in zip(outputs, batches[0].refs, tols)
                   for p in impostor_reasons(n, r, Tolerance(rtol, atol))]
    built = Built(model, specs, outputs, batches, degenerate, time.perf_counter() - t0, _layers_of(case, model),
                  input_aliases(model) if case.keras != NO_KERAS else {}, fixed_batch=fixed, precision=precision,
                  truth_problem=truth_problem, tolerances=tols)
    built.promised = built.contract()
    return built


def tolerances(case: Case, outputs, precision: Precision | None) -> list:
    """(rtol, atol) per output: the compute dtype of a half-precision model sets it, else the output's dtype
    (a case's own tolerance overrides either, never stricter than a half precision allows)."""
    return [tuple(dataclasses.astuple(tolerance_for(precision.compute_dtype if precision else dtype, case.tolerance)))
            for _name, _shape, dtype in outputs]


def _compare_note(built: Built, runs: list) -> str:
    """How the comparison was made when the model's contract changed it (the PASS reason says so)."""
    parts = []
    if built.fixed_batch is not None:
        parts.append(f"at the model's fixed batch size {built.fixed_batch}")
    else:
        parts.append("at both batch sizes")
    if built.precision is not None:
        parts.append(f"within the {built.precision.compute_dtype} tolerance of its compute dtype "
                     f"(dtype policy {built.precision.policy})")
        by_truth = sorted({c["output"] for r in runs for c in r["outputs"]
                           if c.get("float32_yardstick", {}).get("passed")})
        if by_truth:
            parts.append(f"{', '.join(by_truth)} no farther from the float32 recompute than Keras itself")
    return ", ".join(parts) if (built.fixed_batch is not None or built.precision is not None) else ""


def _param_count(model) -> int | None:
    """The model's number of parameters (``report issue`` picks the smallest affected case by it)."""
    try:
        return int(model.count_params())
    except Exception:  # a SavedModel or a model not built: unknown
        return None


def _layers_of(case: Case, model) -> list[str]:
    if case.keras not in (KERAS, TF_KERAS):
        return []
    try:
        return model_layers(model)
    except Exception:  # a model the walk does not understand: no coverage claim, no failure
        return []


class WorkerState:
    """What a worker keeps between cells: converters, availability, built cases, shared artifacts."""

    def __init__(self, run_dir: Path, threads: int):
        self.run_dir = Path(run_dir)
        self.threads = threads
        self.converters: dict = {}
        self.availability: dict = {}
        #: (module, name) -> (target, its availability): conformance.targets, loaded once per worker
        self.targets: dict = {}
        self.cases: dict = {}
        self.built: collections.OrderedDict = collections.OrderedDict()
        self.memo: dict = {}
        self.launchers: dict[str, Launcher] = {}
        #: the loading options applied in this worker (a task's "loading", as JSON) -> the error of applying them
        self.loadings: dict[str, str | None] = {}

    def configure_loading(self, data) -> str | None:
        """The task's loading options (custom objects imported, safe mode) made this worker's, once; the
        one-line error when a module of custom objects does not import, else None."""
        import json

        key = json.dumps(data or {}, sort_keys=True)
        if key not in self.loadings:
            try:
                files.configure(files.Loading.from_json(data))
                self.loadings[key] = None
            except files.ModelFileError as exc:
                self.loadings[key] = str(exc)
        return self.loadings[key]

    def launcher(self, mode: str) -> Launcher:
        """The command-line launcher of this worker for ``mode`` (warm: one fork server per worker)."""
        if mode not in self.launchers:
            self.launchers[mode] = Launcher(mode, scratch=self.run_dir / "launch")
        return self.launchers[mode]

    def converter(self, ref: str, name: str):
        key = (ref, name)
        if key not in self.converters:
            conv = find_converter(ref, name)
            try:
                version = conv.load()
                avail = {"ok": True, "version": version}
            except BaseException as exc:  # an import can raise anything, even SystemExit
                avail = {"ok": False, "error": error_text(exc), "traceback": traceback_tail(exc)}
            self.converters[key] = conv
            self.availability[key] = avail
        return self.converters[key], self.availability[key]

    def target(self, ref: str, name: str):
        """The target ``name`` of module ``ref`` and its availability (``load()`` once per worker)."""
        key = (ref, name)
        if key not in self.targets:
            from conformance.loader import find_target

            try:
                target = find_target(ref, name)
                avail = {"ok": True, "versions": target.load()}
            except BaseException as exc:  # an import can raise anything, even SystemExit
                target, avail = None, {"ok": False, "error": error_text(exc), "traceback": traceback_tail(exc)}
            self.targets[key] = (target, avail)
        return self.targets[key]

    def configure_tensorflow(self) -> None:
        """Thread limits for TensorFlow, once, before the first model is built (not for TF-free cases)."""
        if self.memo.get("_tensorflow_configured"):
            return
        self.memo["_tensorflow_configured"] = True
        if keras_backend() != "tensorflow":  # JAX/PyTorch workers: threads come from the pool's environment
            return
        configure_tensorflow_threads(self.threads, 1)

    def case(self, ref: str, name: str) -> Case:
        key = (ref, name)
        if key not in self.cases:
            self.cases[key] = find_case(ref, name)
        return self.cases[key]

    def build(self, case: Case) -> tuple[Built | None, dict]:
        key = (case.module, case.name)
        if key in self.built:
            self.built.move_to_end(key)
            built, stage = self.built[key]
            return built, dict(stage, cached=True)
        try:
            if case.keras != NO_KERAS:
                self.configure_tensorflow()
            built = build_case(case)
            stage = {"ok": True, "seconds": built.seconds,
                     "keras_seconds": [b.keras_seconds for b in built.batches],
                     "batches": [b.size for b in built.batches]}
        except CaseNotApplicable as exc:  # the case cannot exist on this stack: no claim, no failure
            built, stage = None, {"ok": False, "not_applicable": str(exc)}
        except files.ModelFileError as exc:  # a saved file that does not load: the one line that says why
            built, stage = None, {"ok": False, "error": str(exc), "traceback": traceback_tail(exc)}
        except Exception as exc:
            # the case's own judgement: a Keras that refuses an argument value only when the layer runs
            why = _not_applicable(case, exc)
            built, stage = None, ({"ok": False, "not_applicable": why} if why else
                                  {"ok": False, "error": error_text(exc), "traceback": traceback_tail(exc)})
        self.built[key] = (built, stage)
        while len(self.built) > CASE_CACHE_SIZE:
            (old_ref, old_name), _ = self.built.popitem(last=False)
            for k in [k for k in self.memo if k[:2] == (old_ref, old_name)]:
                del self.memo[k]
            shutil.rmtree(self.case_dir(old_ref, old_name), ignore_errors=True)
        return built, dict(stage, cached=False)

    def case_dir(self, ref: str, name: str) -> Path:
        import hashlib

        tag = hashlib.sha1(f"{ref}::{name}".encode()).hexdigest()[:8]
        return self.run_dir / "cases" / f"{name}-{tag}"


def run_cell(task: dict, state: WorkerState) -> dict:
    stages: dict = {}
    facts: dict = {}
    record = {"stages": stages, "facts": facts}
    conv, avail = state.converter(task["converter_module"], task["converter"])
    stages[Stage.AVAILABILITY] = avail
    facts["converter_version"] = avail.get("version")
    if not avail["ok"]:
        return record
    try:
        case = state.case(task["case_module"], task["case"])
        stages[Stage.CASE] = {"ok": True}
    except Exception as exc:
        stages[Stage.CASE] = {"ok": False, "error": error_text(exc)}
        return record
    why_not = conv.accepts(case)
    stages[Stage.APPLICABLE] = {"ok": why_not is None, "reason": why_not}
    if why_not:
        return record
    loading_error = state.configure_loading(task.get("loading"))
    if loading_error:  # a module of custom objects that does not import: no model can load
        stages[Stage.BUILD] = {"ok": False, "error": loading_error}
        return record
    built, stages[Stage.BUILD] = state.build(case)
    if stages[Stage.BUILD].get("not_applicable"):
        stages[Stage.APPLICABLE] = {"ok": False, "reason": stages[Stage.BUILD]["not_applicable"]}
    if built is None:
        return record
    stages[Stage.REFERENCE] = {"ok": not built.degenerate, "problems": built.degenerate}
    facts["keras_inputs"] = [{"name": n, "shape": list(s), "dtype": d} for n, s, d in built.inputs]
    facts["keras_outputs"] = [{"name": n, "shape": list(s), "dtype": d} for n, s, d in built.outputs]
    facts["keras_layers"] = built.layers
    facts["keras_params"] = _param_count(built.model)
    if case.keras in (KERAS, TF_KERAS):
        facts["keras_model"] = type(built.model).__name__
    if task.get("setting_keys") and case.keras in (KERAS, TF_KERAS):
        keys = tuple(task["setting_keys"])
        if keys not in built.settings:
            try:
                built.settings[keys] = layer_settings(built.model, keys)
            except Exception:  # a model the walk does not understand: no settings, no failure
                built.settings[keys] = []
        if built.settings[keys]:
            facts["layer_settings"] = built.settings[keys]
    if built.promised.keys() - {"batches"}:  # a fixed batch or a half precision: what set the batch and the tolerance
        facts["contract"] = built.promised
    if case.keras == KERAS and not state.memo.get("_inventory_sent"):
        state.memo["_inventory_sent"] = True  # once per worker: what keras.layers has, for the coverage report
        try:
            facts["layer_inventory"] = keras_inventory()
        except Exception:
            pass
    case_dir = state.case_dir(case.module, case.name)
    case_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cell-", dir=state.run_dir))
    try:
        _convert_and_check(task, state, conv, case, built, case_dir, workdir, stages, facts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return record


def _convert_and_check(task, state, conv, case, built, case_dir, workdir, stages, facts) -> None:
    ctx = ConvertContext(case=case, opset=int(task["opset"]), workdir=workdir, case_dir=case_dir,
                         inputs=built.inputs, outputs=built.outputs,
                         deadline=time.monotonic() + float(task.get("timeout", 600)), memo=state.memo,
                         launcher=state.launcher(task.get("cli_launch") or DEFAULT_MODE))
    t0 = time.perf_counter()
    try:
        conversion = conv.convert(built.model, ctx)
        model_bytes = conversion.model.SerializeToString()
    except OpsetRejected as exc:
        stages[Stage.CONVERT] = {"ok": False, "opset_rejected": True, "error": str(exc),
                             "seconds": time.perf_counter() - t0}
        return
    except (ConverterCrashed, ConverterTimedOut) as exc:  # the converter's own process died or hung
        status = "CRASH" if isinstance(exc, ConverterCrashed) else "TIMEOUT"
        stages[Stage.CONVERT] = {"ok": False, "error": str(exc), "seconds": time.perf_counter() - t0}
        stages[Stage.ISOLATION] = {"ok": False, "status": status, "error": str(exc)}
        return
    except Exception as exc:
        stages[Stage.CONVERT] = {"ok": False, "error": error_text(exc), "traceback": traceback_tail(exc),
                             "seconds": time.perf_counter() - t0}
        return
    stages[Stage.CONVERT] = {"ok": True, "seconds": time.perf_counter() - t0, "command": conversion.command}
    # kept for a "diverge" task on this cell (conformance.worker.failing): only the last conversion
    state.memo["_last_conversion"] = ((case.module, case.name, conv.name, ctx.opset), model_bytes,
                                      conversion.output_names, conversion.command)
    facts.update(model_facts(conversion.model, len(model_bytes)))
    stages[Stage.OPSET] = opset_check(conversion.model, ctx.opset)
    if task.get("keep_onnx_dir"):
        keep = Path(task["keep_onnx_dir"]) / f"{case.name}--{conv.name}--opset{ctx.opset}.onnx"
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(model_bytes)
        facts["onnx_path"] = str(keep)
    t0 = time.perf_counter()
    stages.update(check_validity(conversion.model))
    facts["check_seconds"] = time.perf_counter() - t0
    sess, stages[Stage.SESSION] = open_session(model_bytes, state.threads)
    if sess is None:
        return
    stages[Stage.SIGNATURE], feed = check_signature(sess, built.inputs, built.outputs, built.aliases)
    order, matched_by = output_order(sess, conversion.output_names)
    facts["outputs_matched_by"] = matched_by
    runs, failures, seconds = [], [], {}
    ran = []  # (feeds, outputs) per batch, for the ORT-only deployability check
    for batch in built.batches:
        feeds = {name: arr for name, arr in zip(feed, batch.arrays)}
        t0 = time.perf_counter()
        try:
            outs = sess.run(order, feeds)
        except Exception as exc:
            stages[Stage.RUN] = {"ok": False, "error": error_text(exc), "batch": batch.size}
            return
        seconds[str(batch.size)] = time.perf_counter() - t0
        comps = []
        for i, ((name, _shape, _dtype), ref, out, (rtol, atol)) in enumerate(
                zip(built.outputs, batch.refs, outs, built.tolerances)):
            comp = dataclasses.asdict(compare(name, ref, out, rtol, atol))
            if not comp["passed"] and not comp["problem"] and batch.truth is not None:
                # a half-precision model: no farther from the float32 truth than Keras itself passes
                comp["float32_yardstick"] = judge(comp, ref, out, batch.truth[i])
                comp["passed"] = comp["float32_yardstick"]["passed"]
            comps.append(comp)
        failures += batch_failures(batch.size, comps, len(outs), len(batch.refs))
        failures += [f"batch {batch.size}: {yardstick_line(c['float32_yardstick'])}" for c in comps
                     if not c["passed"] and "float32_yardstick" in c]
        runs.append({"batch": batch.size, "outputs": comps})
        ran.append((feeds, outs))
        if "classifier" in case.tags:
            facts.setdefault("top5_agreement", []).extend(
                t for t in (topk.agreement(n, batch.size, r, o) for (n, _, _), r, o in zip(built.outputs, batch.refs, outs))
                if t)
        facts.setdefault(agreement.FACT, []).extend(agreement.of_batch(case.tags, built.outputs, batch.size, batch.refs, outs))
    stages[Stage.RUN] = {"ok": True, "seconds": seconds}
    # what the targets of this cell start from (conformance.worker.targets): its feeds and onnxruntime's outputs
    state.memo[LAST_RUN] = ((case.module, case.name, conv.name, ctx.opset), order, ran)
    stages[Stage.COMPARE] = {"ok": not failures, "batches": runs, "failures": failures}
    note = _compare_note(built, runs)
    if note:
        stages[Stage.COMPARE]["note"] = note
    all_cmp = [o for r in runs for o in r["outputs"] if not o["problem"]]
    if all_cmp:
        facts["max_abs_error"] = max(o["max_abs"] for o in all_cmp)
        facts["max_rel_error"] = max(o["max_rel"] for o in all_cmp)
    if not failures:
        # the case's most recent conversion that onnxruntime ran in agreement with Keras: a MISMATCH cell's
        # second opinion checks the reference evaluator on it (conformance.worker.failing.PASSING)
        state.memo[(case.module, case.name, "last_passing")] = (f"{case.name}-{conv.name}-opset{ctx.opset}",
                                                                model_bytes, conversion.output_names)
        deployable = deploy.cell_fact(state.memo, (case.module, case.name, conv.name), ctx.opset, model_bytes, order,
                                      ran, workdir / "deploy", state.threads, facts.get("custom_domains"))
        if deployable is not None:
            facts["deployable"] = deployable
