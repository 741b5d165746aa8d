"""tf2onnx.keras2onnx_api.convert_keras: keras2onnx's API as carried on inside tf2onnx."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext, tf2onnx_opset_refusal


class Keras2OnnxApi(Converter):
    name = "keras2onnx-api"
    distribution = "tf2onnx"
    summary = "tf2onnx.keras2onnx_api.convert_keras(model, target_opset=N)"

    def load(self) -> str:
        import tf2onnx
        from tf2onnx import keras2onnx_api  # noqa: F401  (fails on onnx >= 1.16: onnx.mapping is gone)

        return tf2onnx.__version__

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        from tf2onnx import keras2onnx_api

        with tf2onnx_opset_refusal():
            onnx_model = keras2onnx_api.convert_keras(model, target_opset=ctx.opset)
        return Conversion(onnx_model, command=f"tf2onnx.keras2onnx_api.convert_keras(model, target_opset={ctx.opset})")


CONVERTER = Keras2OnnxApi()
