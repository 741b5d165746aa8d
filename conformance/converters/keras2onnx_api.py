"""tf2onnx.keras2onnx_api.convert_keras: keras2onnx's API as carried on inside tf2onnx."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext, OpsetRejected, tf2onnx_rejects_opset


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

        try:
            onnx_model = keras2onnx_api.convert_keras(model, target_opset=ctx.opset)
        except ValueError as exc:
            if tf2onnx_rejects_opset(str(exc)):
                raise OpsetRejected(str(exc)) from exc
            raise
        return Conversion(onnx_model, command=f"tf2onnx.keras2onnx_api.convert_keras(model, target_opset={ctx.opset})")


CONVERTER = Keras2OnnxApi()
