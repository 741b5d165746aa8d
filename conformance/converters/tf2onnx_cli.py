"""The command line: the model saved as a SavedModel, then `python -m tf2onnx.convert --saved-model`."""
from __future__ import annotations

from conformance.converters._cli import run_module, shown_command
from conformance.converters._savedmodel import saved_model
from conformance.converters.base import Conversion, Converter, ConvertContext


class Tf2OnnxCli(Converter):
    name = "tf2onnx-cli"
    distribution = "tf2onnx"
    summary = "python -m tf2onnx.convert --saved-model DIR --output model.onnx --opset N"

    def load(self) -> str:
        import tf2onnx

        return tf2onnx.__version__

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        sm_dir, keys, how = saved_model(model, ctx)
        out = ctx.workdir / "model.onnx"
        args = ["--saved-model", str(sm_dir), "--output", str(out), "--opset", str(ctx.opset)]
        run_module("tf2onnx.convert", args, ctx)
        return Conversion(onnx.load(str(out)), output_names=keys or None,
                          command=f"{how}; {shown_command('tf2onnx.convert', args)}")


CONVERTER = Tf2OnnxCli()
