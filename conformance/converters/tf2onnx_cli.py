"""The command line: the model saved as a SavedModel, then `python -m tf2onnx.convert --saved-model`."""
from __future__ import annotations

from cases.api import KERAS, SAVED_MODEL, TF_KERAS
from conformance.converters._cli import shown_command
from conformance.converters._savedmodel import saved_model
from conformance.converters.base import Conversion, Converter, ConvertContext


class Tf2OnnxCli(Converter):
    name = "tf2onnx-cli"
    keras_flavours = frozenset({KERAS, TF_KERAS, SAVED_MODEL})  # a --model SavedModel directory is converted as given
    distribution = "tf2onnx"
    summary = "python -m tf2onnx.convert --saved-model DIR --output model.onnx --opset N"

    def load(self) -> str:
        import tf2onnx

        return tf2onnx.__version__

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        sm_dir, keys, how = saved_model(model, ctx)
        out = ctx.workdir / "model.onnx"
        ctx.run_module("tf2onnx.convert", self.args(sm_dir, out, ctx.opset))
        # the repro line names the files plainly, so it reads the same in every run
        shown = shown_command("tf2onnx.convert", self.args("saved_model", "model.onnx", ctx.opset))
        return Conversion(onnx.load(str(out)), output_names=keys or None, command=f"{how}; {shown}")

    @staticmethod
    def args(saved_model_dir, out, opset: int) -> list[str]:
        return ["--saved-model", str(saved_model_dir), "--output", str(out), "--opset", str(opset)]


CONVERTER = Tf2OnnxCli()
