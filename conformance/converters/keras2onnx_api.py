"""tf2onnx.keras2onnx_api.convert_keras: keras2onnx's API as carried on inside tf2onnx."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext, Repro, tf2onnx_opset_refusal, tf2onnx_version


def keras2onnx_api_version() -> str:
    """tf2onnx's version, with its keras2onnx API; raises when it cannot be imported."""
    from tf2onnx import keras2onnx_api  # noqa: F401  (fails on onnx >= 1.16: onnx.mapping is gone)

    return tf2onnx_version()


def keras2onnx_api_convert(model, opset: int):
    from tf2onnx import keras2onnx_api

    return keras2onnx_api.convert_keras(model, target_opset=opset)


class Keras2OnnxApi(Converter):
    name = "keras2onnx-api"
    distribution = "tf2onnx"
    packages = ("tf2onnx",)
    summary = "tf2onnx.keras2onnx_api.convert_keras(model, target_opset=N)"

    def load(self) -> str:
        return keras2onnx_api_version()

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        with tf2onnx_opset_refusal():
            onnx_model = keras2onnx_api_convert(model, ctx.opset)
        return Conversion(onnx_model, command=f"tf2onnx.keras2onnx_api.convert_keras(model, target_opset={ctx.opset})")

    def repro(self) -> Repro:
        return Repro(check=keras2onnx_api_version, helpers=(keras2onnx_api_convert,), convert='''
    return keras2onnx_api_convert(model, OPSET), None
''')


CONVERTER = Keras2OnnxApi()
