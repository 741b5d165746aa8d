"""keras2onnx.convert_keras: the original, archived converter (last release 1.7.0)."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext, Repro


def keras2onnx_version() -> str:
    """keras2onnx's version; raises when it cannot be imported."""
    import keras2onnx

    return getattr(keras2onnx, "__version__", "unknown")


def keras2onnx_convert(model, opset: int):
    import keras2onnx

    return keras2onnx.convert_keras(model, model.name, target_opset=opset)


class Keras2Onnx(Converter):
    name = "keras2onnx"
    distribution = "keras2onnx"
    packages = ("keras2onnx", "onnxconverter-common")
    summary = "keras2onnx.convert_keras(model, model.name, target_opset=N)"

    def load(self) -> str:
        return keras2onnx_version()

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        onnx_model = keras2onnx_convert(model, ctx.opset)
        return Conversion(onnx_model, command=f"keras2onnx.convert_keras(model, model.name, target_opset={ctx.opset})")

    def repro(self) -> Repro:
        return Repro(check=keras2onnx_version, helpers=(keras2onnx_convert,), convert='''
    return keras2onnx_convert(model, OPSET), None
''')


CONVERTER = Keras2Onnx()
