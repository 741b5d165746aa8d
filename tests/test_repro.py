"""One source per fact for the standalone repro (no TensorFlow here).

A repro script holds the suite's own code, copied when it is written: the dependency-free checks
(:mod:`conformance.checks.standalone`), the Keras call (:mod:`cases.model_io`) and each converter's
:class:`~conformance.converters.base.Repro`.  And what a converter needs is said once, in its module
(``packages``): the environment, the stacks page, the causes and the ORT-only child derive their lists.
The real scripts run in fresh processes in ``tests/test_divergence.py``.
"""
from __future__ import annotations

import ast
import inspect
import sys

import numpy as np
import pytest

import cases.model_io
from conformance.checks import deploy_child, repro, standalone
from conformance.checks.compare import compare, tolerance_for
from conformance.converters.base import Repro
from conformance.loader import builtin_converters, converter_packages
from conformance.run import verdict
from tests.fakes.converters import tiny_onnx

#: built-in converters a script cannot convert with on its own (none: the JAX and PyTorch rows' scripts set the
#: backend before Keras is imported)
NO_STANDALONE: set[str] = set()


def _script(conv, **kw) -> str:
    args = dict(case_name="dense", converter=conv, converter_name=getattr(conv, "name", "gone"), opset=13,
                observed="MISMATCH", seed=7, flavour="keras", command="the suite's call",
                inputs=[("x", (None, 3), "float32")], input_aliases={}, outputs=[("y", (3,), "float32", 1e-4, 1e-5)],
                batches=[2, 1], model_file="model.keras", distribution="tf2onnx")
    args.update(kw)
    return repro.script_text(**args)[0]


def _top_level_names(text: str) -> list[str]:
    names = []
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def test_the_standalone_module_needs_only_the_standard_library_and_numpy():
    tree = ast.parse(inspect.getsource(standalone))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"numpy", "onnx", "onnxruntime"}, imported
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    assert top <= set(sys.stdlib_module_names) | {"numpy"}   # onnx and onnxruntime only inside functions
    # copied next to cases.model_io in every script: no name of one shadows the other's
    assert not set(_top_level_names(repro.module_body(standalone))) & set(_top_level_names(
        repro.module_body(cases.model_io)))


@pytest.mark.parametrize("conv", builtin_converters(), ids=lambda c: c.name)
def test_every_converter_declares_its_packages_and_its_repro(conv):
    assert conv.packages and conv.distribution in conv.packages, conv.name
    spec = conv.repro()
    if conv.name in NO_STANDALONE:
        assert spec is None
        return
    assert isinstance(spec, Repro) and spec.convert.strip() and callable(spec.check)
    # the converter's own load runs the same check as the script (by name, or as the row's ``ready``)
    load = inspect.getsource(type(conv).load)
    assert spec.check.__name__ in load or (getattr(type(conv), "ready", None) is spec.check and "self.ready()" in load)


@pytest.mark.parametrize("conv", builtin_converters(), ids=lambda c: c.name)
def test_the_script_holds_the_suites_code_verbatim(conv):
    text = _script(conv)
    for module in repro.EMBEDDED:   # whole, as inspect.getsource gives it
        body = repro.module_body(module)
        assert body in text and body in inspect.getsource(module)
    spec = conv.repro()
    for fn in (spec.check, *spec.helpers) if spec else ():   # the converter's own functions, not a copy by hand
        assert inspect.getsource(fn) in text
    names = _top_level_names(text)
    assert not {n for n in names if names.count(n) > 1}, "a name defined twice in the script"
    # nothing of this project is imported: the script runs outside the checkout
    imports = [ln.split()[1].split(".")[0] for ln in text.splitlines() if ln.startswith(("import ", "from "))]
    assert not {"conformance", "cases"} & set(imports)
    for copied_by_hand in ("def _compare(", "ORT_TYPES = {\"float32\": \"tensor(float)\"", "def structured("):
        assert copied_by_hand not in text


@pytest.mark.parametrize("name, backend", [("keras-export-jax", "jax"), ("keras-export-torch", "torch")])
def test_a_backend_rows_script_sets_its_keras_backend_before_keras_is_imported(name, backend):
    conv = next(c for c in builtin_converters() if c.name == name)
    text = _script(conv)
    line = f"os.environ['KERAS_BACKEND'] = {backend!r}"
    assert line in text
    first_keras = min(i for i, ln in enumerate(text.splitlines()) if "import keras" in ln)
    assert text.splitlines().index(next(ln for ln in text.splitlines() if ln.startswith(line))) < first_keras


def test_a_converter_without_a_repro_gets_a_script_that_says_so():
    class Gone:
        name, distribution = "my-converter", "my-package"

        def repro(self):
            return None

    text, known = repro.script_text(case_name="dense", converter=Gone(), converter_name="my-converter", opset=13,
                                    observed="MISMATCH", seed=7, flavour="keras", command="my_package.to_onnx(model)",
                                    inputs=[], input_aliases={}, outputs=[], batches=[], model_file=None)
    assert not known and "this repro has no standalone call for converter 'my-converter'" in text


def test_a_helper_the_script_cannot_hold_is_a_writers_error():
    namespace = {"__name__": "conformance.converters.mine", "re": __import__("re")}
    exec("pattern = re.compile('Opset')\ndef rejects(text):\n    return pattern.search(text) is not None\n", namespace)
    with pytest.raises(repro.ScriptError, match="'pattern'"):
        repro.helper_sources([namespace["rejects"]], "    return None\n", set())
    with pytest.raises(repro.ScriptError, match="not one of its Repro's helpers"):
        repro.helper_sources([], "    return undefined_helper(model)\n", set())


# ---------------------------------------------------------------- the same words as the worker

def _fake_cell(tmp_path):
    arrays = [np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3), np.full((1, 3), 0.5, dtype="float32")]
    np.savez(tmp_path / "inputs.npz", b0_0=arrays[0], b1_0=arrays[1])
    return dict(model_path=str(tmp_path / "model"), inputs_path=str(tmp_path / "inputs.npz"),
                input_specs=[("x", (None, 3), "float32")], input_aliases={},
                output_specs=[("y", (3,), "float32", *standalone.tolerance("float32"))], batches=[2, 1],
                table=repro.stage_table(), pass_reason="outputs match Keras at both batch sizes",
                rejects_opset=lambda text: "Opset" in text), arrays


@pytest.mark.parametrize("offset,status", [(1.0, "PASS"), (1.5, "MISMATCH")])
def test_the_scripts_run_says_what_the_worker_says(tmp_path, capsys, offset, status):
    """standalone.repro on y = 2x + 1 (a model made with onnx.helper) against a reference 2x + offset: the
    verdict line is the one the worker's stages give (verdict.decide), comparison lines and all."""
    kw, arrays = _fake_cell(tmp_path)
    ref = lambda model, xs, names: [2 * xs[0] + offset]  # noqa: E731
    code = standalone.repro(lambda: None, lambda model, work: (tiny_onnx(13), ["y"]), lambda path: "model", ref,
                            **kw)
    line = capsys.readouterr().out.strip()
    assert code == (0 if status == "PASS" else 1) and line.startswith(status + ": ")
    failures = []
    for a in arrays:
        tol = tolerance_for("float32")
        comps = [vars(compare("y", 2 * a + offset, 2 * a + 1, tol.rtol, tol.atol))]
        failures += standalone.batch_failures(a.shape[0], comps, 1, 1)
    stages = {"availability": {"ok": True}, "case": {"ok": True}, "applicable": {"ok": True}, "build": {"ok": True},
              "reference": {"ok": True, "problems": []}, "convert": {"ok": True}, "checker": {"ok": True},
              "shape_inference": {"ok": True}, "session": {"ok": True}, "signature": {"ok": True, "problems": []},
              "run": {"ok": True}, "compare": {"ok": not failures, "failures": failures}}
    decision = verdict.decide(stages)
    assert line == f"{decision.status.value}: {decision.reason}"


@pytest.mark.parametrize("stages", [
    {"availability": {"ok": False, "error": "ImportError: no tf2onnx"}},
    {"availability": {"ok": True}, "convert": {"ok": False, "error": "ValueError: Opset 21 is not supported",
                                               "opset_rejected": True}},
    {"availability": {"ok": True}, "convert": {"ok": False, "error": "KeyError: 'x'"}},
    {"availability": {"ok": True}, "convert": {"ok": True}, "checker": {"ok": False, "error": "ValidationError: v"},
     "shape_inference": {"ok": True}, "session": {"ok": True}, "signature": {"ok": True}, "run": {"ok": True},
     "compare": {"ok": True, "failures": []}},
    {"availability": {"ok": True}, "convert": {"ok": True}, "checker": {"ok": True}, "shape_inference": {"ok": True},
     "session": {"ok": True}, "signature": {"ok": False, "problems": ["input x is tensor(double), Keras feeds tensor(float)"]},
     "run": {"ok": True}, "compare": {"ok": False, "failures": ["batch 2: y: shape (2,) where Keras gives (2, 3)"]}},
    {"availability": {"ok": True}, "reference": {"ok": False, "problems": ["y is the constant 0.0 everywhere"]},
     "convert": {"ok": True}, "checker": {"ok": True}, "shape_inference": {"ok": True}, "session": {"ok": True},
     "signature": {"ok": True}, "run": {"ok": True}, "compare": {"ok": True, "failures": []}},
], ids=["unavailable", "opset", "convert", "invalid", "signature", "degenerate"])
def test_the_scripts_verdict_is_the_suites(stages):
    decision = verdict.decide({"case": {"ok": True}, "applicable": {"ok": True}, "build": {"ok": True},
                               "convert": {"ok": False}, "compare": {"ok": True}, **stages})
    assert standalone.decide(stages, repro.stage_table(), "outputs match Keras at both batch sizes") == \
        (decision.status.value, decision.reason)


# ---------------------------------------------------------------- what the converters need, said once

def test_the_environment_reports_the_stack_and_every_converters_and_targets_packages():
    from conformance.loader import target_packages
    from conformance.run.environment import PACKAGES

    before = {  # the list kept by hand until the converter modules said it
        "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos"), "keras": ("keras",),
        "tf_keras": ("tf-keras", "tf_keras"), "tf2onnx": ("tf2onnx",), "keras2onnx": ("keras2onnx",),
        "onnx": ("onnx",), "onnxruntime": ("onnxruntime",), "numpy": ("numpy",), "protobuf": ("protobuf",),
        "tensorflow_hub": ("tensorflow-hub",), "onnxconverter_common": ("onnxconverter-common",), "jax": ("jax",),
        "jaxlib": ("jaxlib",), "jax2onnx": ("jax2onnx",), "torch": ("torch",),
        # the targets' (conformance/targets/): onnxconverter-common is a converter's already
        "openvino": ("openvino",), "onnxsim": ("onnxsim",)}
    assert PACKAGES == before
    assert target_packages() == ("onnxconverter_common", "openvino", "onnxsim")   # module order: fp16, openvino_cpu, simplified
    assert converter_packages() == ("tf2onnx", "keras", "keras2onnx", "onnxconverter_common", "jax2onnx", "jax",
                                    "jaxlib", "torch")


def test_a_new_converter_module_adds_its_packages_everywhere():
    class Mine:
        name, distribution, packages = "mine", "mine2onnx", ("mine2onnx", "mine-runtime")

    got = converter_packages(converters=[*builtin_converters(), Mine()])
    assert got[-2:] == ("mine2onnx", "mine_runtime")
    assert converter_packages(own=True, converters=[*builtin_converters(), Mine()])[-1] == "mine2onnx"


def test_the_ort_only_child_forbids_every_converters_packages():
    before = ("tensorflow", "keras", "tf_keras", "tf2onnx", "tensorflow_hub", "keras2onnx", "torch", "jax")
    assert set(deploy_child.FORBIDDEN_MODULES) == set(before) | {"onnxconverter_common", "jax2onnx", "jaxlib"}


def test_the_stacks_page_explains_rows_by_the_converters_own_packages():
    from conformance.report import stacks

    assert stacks._SINCE_PACKAGES == ("tf2onnx", "tensorflow", "keras", "onnx", "onnxruntime", "tf_keras")
    assert stacks.PACKAGES == ("tf2onnx", "tensorflow", "keras", "tf_keras", "onnx", "onnxruntime", "keras2onnx",
                               "jax2onnx", "torch", "protobuf", "numpy")
    assert stacks._order_for("keras-export") == ("keras", "tf2onnx", "tensorflow", "onnx", "onnxruntime", "tf_keras")
    assert stacks._order_for("keras-export-jax")[0] == "keras"
    assert stacks._order_for("tf2onnx-cli") == stacks._order_for("someone-elses") == stacks._SINCE_PACKAGES


def test_the_causes_when_lists_know_every_converters_own_package():
    from conformance.report.causes import KEY_PACKAGES

    # derived from the converter modules: every row's own distribution, once, and the stack's packages
    assert set(converter_packages(own=True)) <= set(KEY_PACKAGES)
    assert {"tensorflow", "keras", "onnx", "onnxruntime"} <= set(KEY_PACKAGES)
    assert len(set(KEY_PACKAGES)) == len(KEY_PACKAGES)


def test_the_issue_reports_version_table_names_every_converters_packages():
    from conformance.report.issue import VERSION_PACKAGES

    before = ("tensorflow", "tensorflow-cpu", "keras", "tf-keras", "tf2onnx", "onnx", "onnxruntime", "numpy", "jax",
              "jax2onnx", "torch", "keras2onnx")
    assert set(VERSION_PACKAGES) == set(before) | {"onnxconverter-common", "jaxlib"}
