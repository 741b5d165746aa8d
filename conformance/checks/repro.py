"""A standalone repro for a failing cell (worker side): REPORT_DIR/repro/<cell id>/repro.py.

One self-contained Python file that imports only numpy, TensorFlow/Keras (or tf_keras), the
converter (and the onnx package it brings) and onnxruntime, nothing from this project.  Next to it:
``model.keras`` (the case's model as the case's own code built it with its seeds, saved once per
case and linked into each cell's folder) and ``inputs.npz`` (the inputs at both batch sizes).  The
script loads the model, converts it with the cell's exact call or command, checks the model
(onnx.checker, strict shape inference), runs onnxruntime, compares with Keras's output and prints
the result in the cell's words (``MISMATCH: outputs differ from Keras: ...`` or ``PASS: ...``);
exit code 0 for PASS, 1 otherwise.  Paste it, with its two files, into a converter's issue.

Nothing in the script is a second copy kept by hand: it holds the source of the suite's own code,
taken when it is written (``inspect.getsource``):

* :mod:`cases.model_io` (how the suite calls a Keras model: the reference outputs) and
  :mod:`conformance.checks.standalone` (the comparison, the I/O signature, the feed, the model
  checks and the run of the checks, :func:`~conformance.checks.standalone.repro`), whole;
* the converter's :class:`~conformance.converters.base.Repro` (its module's ``repro()``): its check
  and the functions its ``convert`` body calls, with every function of this project they call in turn;
* the suite's words for each failed stage, from the stage table (:mod:`conformance.stages`), as data.
"""
from __future__ import annotations

import ast
import builtins
import dis
import inspect
import os
import pprint
import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np

import cases.files
import cases.model_io
from cases.api import KERAS, NO_KERAS, TF_KERAS, import_tf_keras
from conformance.checks import standalone
from conformance.checks.standalone import load_keras_model
from conformance.errors import error_text
from conformance.statuses import REPRO_WITHOUT_MODEL

SCRIPT = "repro.py"
MODEL = "model.keras"
INPUTS = "inputs.npz"
#: statuses whose repro needs no model (the failure comes before it)
NO_MODEL = REPRO_WITHOUT_MODEL
#: the modules a script holds whole, in this order
EMBEDDED = (cases.model_io, standalone)
#: the modules a script imports, by the name its code uses
SCRIPT_MODULES = {"os": os, "re": re, "subprocess": None, "sys": None, "tempfile": None, "np": np}
#: constants of this project the copied functions may use: the script defines them with these values
SCRIPT_CONSTANTS = {"KERAS": KERAS, "TF_KERAS": TF_KERAS}


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


def keras_for(flavour: str):
    """The Keras a case of ``flavour`` is built with: tf_keras (``TF_KERAS``), else Keras."""
    if flavour == TF_KERAS:
        return import_tf_keras()
    import keras

    return keras


# ---------------------------------------------------------------- the source the script holds

class ScriptError(Exception):
    """The script cannot hold a function as it is (it uses a name the script lacks): the writer's bug."""


def module_body(module) -> str:
    """A module's source as it is, without its docstring and its ``from __future__`` import (the script
    has its own)."""
    source = inspect.getsource(module)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for i, node in enumerate(ast.parse(source).body):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        if docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            drop.update(range(node.lineno - 1, node.end_lineno))
    return "".join(ln for i, ln in enumerate(lines) if i not in drop).strip("\n") + "\n"


def _global_names(code: types.CodeType):
    """The global names a function's code (lambdas and nested functions included) reads."""
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            yield ins.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _embedded(value) -> bool:
    return getattr(value, "__module__", None) in {m.__name__ for m in EMBEDDED}


def _project(value) -> bool:
    return (getattr(value, "__module__", None) or "").split(".")[0] in ("cases", "conformance")


def _resolve(owner: str, name: str, value, has_name: bool, script_names: set[str], found: dict) -> None:
    """Where the script gets ``name`` (``value`` in ``owner``'s namespace) from; copies what it must."""
    if name in script_names:
        return
    if not has_name:
        if hasattr(builtins, name):
            return
        raise ScriptError(f"{owner} uses {name!r}, which is neither one of its module's names nor a builtin")
    if isinstance(value, types.ModuleType):
        if name in SCRIPT_MODULES and SCRIPT_MODULES[name] in (None, value):
            return
        raise ScriptError(f"{owner} uses the module {name!r}, which the script does not import")
    if inspect.isfunction(value) or inspect.isclass(value):
        if _embedded(value) and getattr(sys.modules.get(value.__module__), name, None) is value:
            return
        if _project(value) and value.__name__ == name:
            _collect(value, script_names, found)
            return
    if name in SCRIPT_CONSTANTS and SCRIPT_CONSTANTS[name] == value:
        return
    raise ScriptError(f"{owner} uses {name!r} ({type(value).__name__}), which the script cannot hold as it is")


def _collect(obj, script_names: set[str], found: dict) -> None:
    """``obj`` (a function or class of this project) and every function or class of this project it uses."""
    key = f"{obj.__module__}.{obj.__qualname__}"
    if key in found:
        return
    found[key] = obj
    namespace = obj.__globals__ if inspect.isfunction(obj) else vars(sys.modules[obj.__module__])
    codes = [obj.__code__] if inspect.isfunction(obj) else \
        [m.__code__ for m in vars(obj).values() if inspect.isfunction(m)]
    for code in codes:
        for name in _global_names(code):
            _resolve(key, name, namespace.get(name), name in namespace, script_names, found)


def _embedded_names() -> set[str]:
    names: set[str] = set()
    for module in EMBEDDED:
        for node in ast.parse(module_body(module)).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def helper_sources(roots, body: str, script_names: set[str]) -> list[str]:
    """The source of each function (or class) of this project that ``roots`` and the ``convert`` body use,
    as it is, dependencies included; raises ScriptError for a name the script cannot hold."""
    found: dict = {}
    for fn in roots:
        _collect(fn, script_names, found)
    by_name = {obj.__name__: obj for obj in found.values()}
    code = compile("def convert(model, work):\n    import onnx\n" + body, "<convert>", "exec")
    for name in _global_names(next(c for c in code.co_consts if isinstance(c, types.CodeType))):
        if name not in script_names and name not in by_name and not hasattr(builtins, name):
            raise ScriptError(f"the convert body uses {name!r}, which is not one of its Repro's helpers")
    names = [obj.__name__ for obj in found.values()]
    twice = sorted({n for n in names if names.count(n) > 1} | (set(names) & script_names))
    if twice:
        raise ScriptError(f"the script would define {', '.join(twice)} twice")
    return [inspect.getsource(obj).rstrip("\n") + "\n" for obj in found.values()]


def stage_table() -> list:
    """The suite's stage table (:mod:`conformance.stages`) as the script's data: [(stage, label, ok_default,
    [(status or None, reason template, when)])]."""
    from conformance.stages import TABLE

    return [(row.stage.value, row.label, row.ok_default,
             [(None if f.status is None else f.status.value, f.reason, f.when) for f in row.failures])
            for row in TABLE.values()]


# ---------------------------------------------------------------- the script

_HEAD = '''#!/usr/bin/env python3
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
The code below the settings is the suite's own, copied as it is.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
{environment}
HERE = os.path.dirname(os.path.abspath(__file__))
CASE = {case!r}
CONVERTER = {converter!r}
OPSET = {opset!r}
#: how the case's model is built: with Keras (KERAS) or tf_keras (TF_KERAS)
KERAS, TF_KERAS = {keras_const!r}, {tf_keras_const!r}
FLAVOUR = {flavour!r}
MODEL_FILE = {model_file_or_none!r}
INPUTS_FILE = {inputs_file!r}
#: the user's modules of custom Keras objects (--custom-objects), copied beside this script, imported before the model loads
CUSTOM_OBJECTS = {custom_objects!r}
#: the Keras inputs: (name, shape with None for free dimensions, dtype)
INPUT_SPECS = {input_specs!r}
#: Keras input name -> the other names of the same input (a model that takes a dict)
INPUT_ALIASES = {input_aliases!r}
#: the Keras outputs: (name, shape without batch, dtype, rtol, atol)
OUTPUT_SPECS = {output_specs!r}
BATCHES = {batch_sizes!r}
OBSERVED = {status!r}
#: the suite's words for each failed stage, in the order that decides the status
STAGE_TABLE = {stage_table}
PASS_REASON = {pass_reason!r}
'''

_TAIL = '''

def check_converter():
    """Raises when the converter cannot be used here."""
{check_body}


def convert(model, work):
    """The cell's conversion; returns (onnx model, ONNX output names in Keras's order, or None)."""
    import onnx  # noqa: F401
{convert_body}


def load_model(path):
    objects = {{}}
    for name in CUSTOM_OBJECTS:
        objects.update(import_custom_objects(os.path.join(HERE, name)))
    return load_keras_model(path, keras_for(FLAVOUR), objects)


if __name__ == "__main__":
    sys.exit(repro(check_converter, convert, load_model, keras_outputs,
                   model_path=None if MODEL_FILE is None else os.path.join(HERE, MODEL_FILE),
                   inputs_path=os.path.join(HERE, INPUTS_FILE), input_specs=INPUT_SPECS, input_aliases=INPUT_ALIASES,
                   output_specs=OUTPUT_SPECS, batches=BATCHES, table=STAGE_TABLE, pass_reason=PASS_REASON,
                   rejects_opset=tf2onnx_rejects_opset, opset=OPSET))
'''

#: the script's own names (the settings and its three functions)
_SCRIPT_NAMES = {"os", "re", "subprocess", "sys", "tempfile", "np", "HERE", "CASE", "CONVERTER", "OPSET", "KERAS",
                 "TF_KERAS", "FLAVOUR", "MODEL_FILE", "INPUTS_FILE", "INPUT_SPECS", "INPUT_ALIASES", "OUTPUT_SPECS",
                 "BATCHES", "OBSERVED", "STAGE_TABLE", "PASS_REASON", "check_converter", "convert", "load_model",
                 "annotations", "CUSTOM_OBJECTS"}


def _section(title: str, text: str) -> str:
    return f"\n\n# {'-' * 16} {title}\n\n{text.rstrip()}\n"


def script_text(*, case_name: str, converter, converter_name: str, opset: int, observed: str, seed: int,
                flavour: str, command: str, inputs: list, input_aliases: dict, outputs: list, batches: list,
                model_file: str | None, distribution: str = "", custom_objects: tuple[str, ...] = ()) -> tuple[str, bool]:
    """(the repro script, whether it converts on its own): ``converter`` (None: not loadable here) gives its
    :class:`~conformance.converters.base.Repro`; inputs [(name, shape, dtype)], outputs [(name, shape,
    dtype, rtol, atol)].  Needs no TensorFlow."""
    from conformance.converters.base import tf2onnx_rejects_opset
    from conformance.stages import PASS_REASON

    spec = converter.repro() if converter is not None else None
    embedded = _embedded_names()
    script_names = _SCRIPT_NAMES | embedded
    if spec is not None:
        body = spec.convert.strip("\n")
        roots = (spec.check, *spec.helpers, tf2onnx_rejects_opset, keras_for)
        check_body = f"    {spec.check.__name__}()"
    else:
        msg = f"this repro has no standalone call for converter {converter_name!r}; the suite called: {command}"
        body = "    raise RuntimeError('no standalone call')"
        roots = (tf2onnx_rejects_opset, keras_for)
        check_body = f"    raise RuntimeError({msg!r})"
    helpers = helper_sources(roots, body + "\n", script_names)
    head = _HEAD.format(
        case=case_name, converter=converter_name, opset=int(opset), status=observed, seed=seed, model_file=MODEL,
        inputs_file=INPUTS, batches=", ".join(map(str, batches)) or "-", batch_sizes=list(batches), keras=flavour,
        distribution=distribution or "the converter", script=SCRIPT,
        command_doc="\n".join("    " + ln for ln in (command or "(no command recorded)").splitlines()),
        keras_const=KERAS, tf_keras_const=TF_KERAS, flavour=flavour, model_file_or_none=model_file,
        input_specs=list(inputs), input_aliases=dict(input_aliases), output_specs=list(outputs),
        stage_table=pprint.pformat(stage_table(), width=116), pass_reason=PASS_REASON,
        custom_objects=list(custom_objects),
        environment="".join(f"os.environ[{k!r}] = {v!r}  # set before Keras is imported (the cell's worker had it)\n"
                            for k, v in (spec.environment if spec is not None else ())))
    text = (head
            + "".join(_section(f"from {m.__name__.replace('.', '/')}.py", module_body(m)) for m in EMBEDDED)
            + _section("the converter's code (its module's Repro) and what it uses", "\n\n".join(helpers))
            + _TAIL.format(check_body=check_body, convert_body=body))
    compile(text, SCRIPT, "exec")  # a writer's mistake fails here, not in a user's hands
    return text, spec is not None


def saved_model_file(model, flavour: str, folder: Path, check_arrays: list, refs: list) -> tuple[Path | None, str]:
    """Save the built model once (``model.keras``), load it back and check it gives Keras's outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL
    try:
        model.save(str(path))
        again = load_keras_model(path, keras_for(flavour), cases.files.custom_objects())
        back = cases.model_io.keras_outputs(again, check_arrays)
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


def write(out_dir: Path, *, case, converter, opset: int, observed: str, reason: str, command: str, built,
          model_file: Path | None, model_problem: str = "") -> dict:
    """Write repro.py (and inputs.npz, model.keras) into ``out_dir``; return what results.json lists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
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
        tols = list(getattr(built, "tolerances", None) or
                    [standalone.tolerance(dtype, None if case.tolerance is None else (case.tolerance.rtol,
                                                                                       case.tolerance.atol))
                     for _name, _shape, dtype in built.outputs])
        outputs = [(name, tuple(shape), dtype, *tol) for (name, shape, dtype), tol in zip(built.outputs, tols)]
        inputs = [(n, tuple(s), d) for n, s, d in built.inputs]
        aliases = dict(built.aliases)
        batches = [b.size for b in built.batches]
    else:
        inputs, outputs, aliases, batches = [], [], {}, []
        notes.append("the converter could not be imported here, so no model was saved with it")
    if needs_model and model_file is not None:
        _link_or_copy(model_file, out_dir / MODEL)
    modules = tuple(dict.fromkeys((*cases.files.current_loading().custom_objects, *case.custom_objects)))
    for path in modules:  # the custom objects (the user's, the case's own) travel with the script
        shutil.copy2(path, out_dir / Path(path).name)
    text, known = script_text(
        case_name=case.name, converter=converter, converter_name=converter.name, opset=opset, observed=observed,
        seed=case.seed, flavour=TF_KERAS if case.keras == TF_KERAS else KERAS, command=command, inputs=inputs,
        input_aliases=aliases, outputs=outputs, batches=batches, distribution=converter.distribution,
        model_file=MODEL if (needs_model and model_file is not None) else None,
        custom_objects=tuple(Path(p).name for p in modules))
    (out_dir / SCRIPT).write_text(text, encoding="utf-8")
    return {"ok": True, "path": str(out_dir / SCRIPT), "files": sorted(p.name for p in out_dir.iterdir()),
            "standalone": known, "notes": notes,
            **({} if known else {"reason": f"no standalone call is known for converter {converter.name}; the script "
                                           "names the suite's call and stops"})}
