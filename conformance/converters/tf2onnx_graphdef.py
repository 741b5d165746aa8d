"""The frozen-GraphDef route ("convert through TensorFlow"): freeze, write model.pb, run the tf2onnx CLI.

Three rows:

- ``tf2onnx-graphdef``: frozen with convert_variables_to_constants_v2's default
  ``lower_control_flow=True`` (While/If lowered to Enter/Exit/Switch/Merge).
- ``tf2onnx-graphdef-functional``: frozen with ``lower_control_flow=False``
  (functional While/If kept), which tf2onnx turns into ONNX Loop/If.
- ``tf2onnx-graphdef-seed-cmd``: the seed's literal command, which also passed
  ``--fold_const``; only for the seed RNN cases it came from.

The first two run ``python -m tf2onnx.convert --input model.pb --inputs x:0,...
--outputs Identity:0 --output model.onnx --opset N`` plus ``--rename-inputs``
giving the ONNX inputs the Keras input names (the CLI otherwise keeps the graph's
``x:0``), so onnxruntime is fed by name as for every other row.
"""
from __future__ import annotations

from cases.api import KERAS, SAVED_MODEL, TF_KERAS, Case
from conformance.converters._cli import run_fresh, shown_command
from conformance.converters._frozen import freeze, frozen_graph
from conformance.converters.base import Conversion, Converter, ConvertContext, Repro, tf2onnx_version


def graphdef_args(pb, inputs, outputs, out, opset: int, extra_flags=(), rename_to=None) -> list[str]:
    """The arguments of ``python -m tf2onnx.convert`` for a frozen graph ``pb`` with tensors ``inputs`` and
    ``outputs``; ``rename_to``: the names to give the ONNX inputs (``--rename-inputs``), or None."""
    cmd = ["--input", str(pb), "--inputs", ",".join(inputs), "--outputs", ",".join(outputs), "--output", str(out),
           "--opset", str(opset), *extra_flags]
    if rename_to is not None:
        cmd += ["--rename-inputs", ",".join(rename_to)]
    return cmd


class Tf2OnnxGraphDef(Converter):
    name = "tf2onnx-graphdef"
    keras_flavours = frozenset({KERAS, TF_KERAS, SAVED_MODEL})  # a --model SavedModel: its serving signature, frozen
    distribution = "tf2onnx"
    packages = ("tf2onnx",)
    summary = ("convert_variables_to_constants_v2(concrete_fn) (lower_control_flow=True, the default) -> model.pb; "
               "python -m tf2onnx.convert --input model.pb --inputs x:0 --outputs Identity:0 --opset N --rename-inputs x")
    lower_control_flow = True
    #: flags the seed passed that are not needed for the conversion itself
    extra_flags: tuple = ()
    rename_inputs = True

    def load(self) -> str:
        return tf2onnx_version()

    def command(self, pb, graph, out, opset: int, keras_names: list[str]) -> list[str]:
        """The arguments of ``python -m tf2onnx.convert``."""
        return graphdef_args(pb, graph.inputs, graph.outputs, out, opset, self.extra_flags,
                             keras_names if self.rename_inputs else None)

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        graph = frozen_graph(model, ctx, self.lower_control_flow)
        out = ctx.workdir / "model.onnx"
        keras_names = [name for name, _, _ in ctx.inputs]
        ctx.run_module("tf2onnx.convert", self.command(graph.path, graph, out, ctx.opset, keras_names))
        # the repro line names the files plainly, so it reads the same in every run
        shown = f"{graph.how}; " + shown_command(
            "tf2onnx.convert", self.command("model.pb", graph, "model.onnx", ctx.opset, keras_names))
        return Conversion(onnx.load(str(out)), output_names=list(graph.outputs), command=shown)

    def repro(self) -> Repro:
        rename = "[name for name, _, _ in INPUT_SPECS]" if self.rename_inputs else "None"
        return Repro(check=tf2onnx_version, helpers=(freeze, graphdef_args, run_fresh), convert=f'''
    pb, ins, outs = freeze(model, INPUT_SPECS, work, {self.lower_control_flow!r})
    out = os.path.join(work, "model.onnx")
    run_fresh("tf2onnx.convert", graphdef_args(pb, ins, outs, out, OPSET, {self.extra_flags!r}, {rename}))
    return onnx.load(out), outs
''')


class Tf2OnnxGraphDefFunctional(Tf2OnnxGraphDef):
    name = "tf2onnx-graphdef-functional"
    summary = ("convert_variables_to_constants_v2(concrete_fn, lower_control_flow=False) -> model.pb; "
               "python -m tf2onnx.convert --input model.pb --inputs x:0 --outputs Identity:0 --opset N --rename-inputs x")
    lower_control_flow = False


class Tf2OnnxGraphDefSeedCommand(Tf2OnnxGraphDef):
    """The seed's command as its user ran it, ``--fold_const`` included, graph names kept."""

    name = "tf2onnx-graphdef-seed-cmd"
    summary = ("the seed's literal command: model.pb frozen with the defaults; "
               "python -m tf2onnx.convert --input model.pb --inputs x:0 --outputs Identity:0 --output m.onnx "
               "--opset N --fold_const (seed RNN models at the seed's sizes only)")
    extra_flags = ("--fold_const",)
    rename_inputs = False

    def accepts(self, case: Case) -> str | None:
        why = super().accepts(case)
        if why:
            return why
        if case.name not in ("seed_simplernn", "seed_gru", "seed_lstm"):
            return ("the seed's literal graphdef command is replayed only for the seed RNN models at the seed's "
                    "sizes (seed_simplernn, seed_gru, seed_lstm); tf2onnx-graphdef and tf2onnx-graphdef-functional "
                    "cover the seed cases")
        return None


CONVERTERS = [Tf2OnnxGraphDef(), Tf2OnnxGraphDefFunctional(), Tf2OnnxGraphDefSeedCommand()]
