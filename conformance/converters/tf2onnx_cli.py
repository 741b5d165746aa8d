"""The command line: the model saved as a SavedModel, then `python -m tf2onnx.convert --saved-model`."""
from __future__ import annotations

from cases.api import KERAS, SAVED_MODEL, TF_KERAS
from conformance.converters._cli import run_fresh, shown_command
from conformance.converters._savedmodel import save_for_serving, saved_model
from conformance.converters.base import Conversion, Converter, ConvertContext, Repro, tf2onnx_version


def saved_model_args(saved_model_dir, out, opset: int) -> list[str]:
    """The arguments of ``python -m tf2onnx.convert``."""
    return ["--saved-model", str(saved_model_dir), "--output", str(out), "--opset", str(opset)]


class Tf2OnnxCli(Converter):
    name = "tf2onnx-cli"
    keras_flavours = frozenset({KERAS, TF_KERAS, SAVED_MODEL})  # a --model SavedModel directory is converted as given
    distribution = "tf2onnx"
    packages = ("tf2onnx",)
    summary = "python -m tf2onnx.convert --saved-model DIR --output model.onnx --opset N"

    def load(self) -> str:
        return tf2onnx_version()

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        sm_dir, keys, how = saved_model(model, ctx)
        out = ctx.workdir / "model.onnx"
        ctx.run_module("tf2onnx.convert", saved_model_args(sm_dir, out, ctx.opset))
        # the repro line names the files plainly, so it reads the same in every run
        shown = shown_command("tf2onnx.convert", saved_model_args("saved_model", "model.onnx", ctx.opset))
        return Conversion(onnx.load(str(out)), output_names=keys or None, command=f"{how}; {shown}")

    def repro(self) -> Repro:
        return Repro(check=tf2onnx_version, helpers=(save_for_serving, saved_model_args, run_fresh), convert='''
    saved = os.path.join(work, "saved_model")
    keys, _ = save_for_serving(model, saved, FLAVOUR, len(OUTPUT_SPECS))
    out = os.path.join(work, "model.onnx")
    run_fresh("tf2onnx.convert", saved_model_args(saved, out, OPSET))
    return onnx.load(out), keys or None
''')


CONVERTER = Tf2OnnxCli()
