"""The target interface: what a user does with the converted model after conversion, one small class each.

A target takes the model a converter wrote, exactly the bytes onnxruntime just ran for the cell, and does
what users do next: run it in onnxruntime with other options, simplify it, convert it to float16,
quantise it to int8, run it in OpenVINO.  Each module holds everything about its target, so the table of
targets (``python -m conformance.targets``, docs/deploy.md) is read off the modules:

* ``name``: its column in the matrix (``--targets NAME,...``);
* ``summary``: the call, one line;
* ``packages``: the distributions it imports beyond the suite's onnx, onnxruntime and numpy (the
  ``deploy`` extra installs them; missing, the target is UNAVAILABLE with the import error); their
  versions are recorded, and a cause's ``when`` may name them;
* ``yardstick``: how its outputs are judged (:data:`YARDSTICKS`; :mod:`conformance.checks.yardstick`),
  against Keras and against the cell's own onnxruntime run;
* ``blames``: who a difference from the cell's own onnxruntime run is blamed on (a difference that the
  onnxruntime run shows too is the conversion's);
* ``transform(model_bytes, ctx)``: the model it makes (default: the same bytes), and ``open(model_bytes,
  ctx)``: a runner, ``feeds -> outputs`` in the order of ``ctx.output_names`` (default: onnxruntime on the
  CPU with :meth:`session_options`, at ``graph_optimization``).

A module must import without the target's packages: import them in ``load``, ``transform`` and ``open``.
Adding a target is one module (built in: a file in this package; a user's: ``--targets-module PATH``).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata as md
from pathlib import Path
from typing import Any, Callable, ClassVar

#: the yardsticks a target may name -> what it means (the docs' table reads this)
YARDSTICKS = {
    "fp32": "the cell's own tolerance (float32), against Keras and against the cell's onnxruntime run",
    "fp16": "the float16 tolerance (rtol 1e-2, atol 1e-3, or the case's if looser; atol at least 4 float16 ulps "
            "of the output's largest magnitude), against Keras and onnxruntime",
    "task": "task-level agreement: top-1 of every sample for classifiers, else cosine >= 0.99 of every sample's "
            "output (integer outputs exactly), against Keras and onnxruntime",
}
#: the name of the cell itself (onnxruntime on the CPU, default options): always run, never a target column
ORT = "ort"


@dataclasses.dataclass
class TargetContext:
    """What a target may need besides the model."""

    #: scratch directory of this target on this cell (removed afterwards)
    workdir: Path
    threads: int
    #: the ONNX input names and the feeds the cell's onnxruntime run got, one dict per batch
    feeds: list[dict]
    #: the ONNX output names, in the order of the Keras model's outputs
    output_names: list[str]
    #: the case's tags (``classifier``, ``backbone``: the task-level yardstick reads them)
    tags: tuple[str, ...] = ()


Runner = Callable[[dict], list]


class TargetUnavailable(Exception):
    """A package of the target cannot be imported here: the target is UNAVAILABLE with this message."""


def versions_of(packages) -> dict[str, str]:
    """Import each package (its module name: ``onnxconverter-common`` -> ``onnxconverter_common``) and give its
    version; raises TargetUnavailable with the import error of the first that fails."""
    out = {}
    for dist in packages:
        module = dist.replace("-", "_")
        try:
            importlib.import_module(module)
        except BaseException as exc:  # an import can raise anything, even SystemExit
            raise TargetUnavailable(f"{dist} cannot be imported ({type(exc).__name__}: {exc}); "
                                    f"pip install 'keras-onnx-conformance[deploy]'") from exc
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = getattr(importlib.import_module(module), "__version__", "unknown")
    return out


class Target:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    packages: ClassVar[tuple[str, ...]] = ()
    yardstick: ClassVar[str] = "fp32"
    blames: ClassVar[str] = ""
    #: what runs the model (the session stage's label: "OpenVINO cannot load the model")
    runtime: ClassVar[str] = "onnxruntime"
    #: onnxruntime's graph optimisation level for the default :meth:`open` (a GraphOptimizationLevel member's
    #: name: ORT_DISABLE_ALL, ORT_ENABLE_BASIC, ...); None: onnxruntime's default, every optimisation
    graph_optimization: ClassVar[str | None] = None

    def load(self) -> dict[str, str]:
        """Import the target's packages; their versions (onnxruntime's too).  Raise when it cannot run here."""
        return versions_of(("onnxruntime",) + tuple(self.packages))

    def transform(self, model_bytes: bytes, ctx: TargetContext) -> bytes:
        """The model the target makes of the converted one (default: the same)."""
        return model_bytes

    def session_options(self, ctx: TargetContext) -> Any:
        """onnxruntime's session options of this target (default: the cell's, all graph optimisations on)."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(ctx.threads))
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        if self.graph_optimization:
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, self.graph_optimization)
        return so

    def open(self, model_bytes: bytes, ctx: TargetContext) -> Runner:
        """A runner of the model: onnxruntime on the CPU with :meth:`session_options`."""
        import onnxruntime as ort

        sess = ort.InferenceSession(model_bytes, self.session_options(ctx), providers=["CPUExecutionProvider"])
        names = list(ctx.output_names)
        return lambda feeds: sess.run(names, feeds)

    def fallback(self) -> "Target | None":
        """A variant recorded beside the target when the target itself fails (fp16 keeping some ops in
        float32); None: no variant."""
        return None

    def __repr__(self) -> str:
        return f"<target {self.name}>"


def on_model(model_bytes: bytes, change) -> bytes:
    """``change(onnx.ModelProto) -> onnx.ModelProto`` on serialized bytes (a transform written over the proto)."""
    import onnx

    return change(onnx.load_from_string(model_bytes)).SerializeToString()


def markdown(targets) -> str:
    """The table of targets (docs/deploy.md; ``python -m conformance.targets`` prints it)."""
    lines = ["| target | what it does | packages | yardstick | a difference from `ort` is blamed on |",
             "|---|---|---|---|---|",
             f"| `{ORT}` | the cell itself: onnxruntime on the CPU, default options (every graph optimisation) | "
             "onnxruntime | the case's tolerance against Keras | the converter |"]
    for t in targets:
        pkgs = ", ".join(t.packages) or "onnxruntime"
        lines.append(f"| `{t.name}` | {t.summary} | {pkgs} | `{t.yardstick}` | {t.blames} |")
    return "\n".join(lines)
