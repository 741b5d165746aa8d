"""keras2onnx.convert_keras: the original, archived converter (last release 1.7.0)."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext


class Keras2Onnx(Converter):
    name = "keras2onnx"
    distribution = "keras2onnx"
    summary = "keras2onnx.convert_keras(model, model.name, target_opset=N)"

    def load(self) -> str:
        import keras2onnx

        return getattr(keras2onnx, "__version__", "unknown")

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import keras2onnx

        onnx_model = keras2onnx.convert_keras(model, model.name, target_opset=ctx.opset)
        return Conversion(onnx_model, command=f"keras2onnx.convert_keras(model, model.name, target_opset={ctx.opset})")


CONVERTER = Keras2Onnx()
