"""Keras 3's own exporter: model.export(path, format="onnx", opset_version=N)."""
from __future__ import annotations

from cases.api import KERAS
from conformance.converters.base import Conversion, Converter, ConvertContext, keras_major, tf2onnx_opset_refusal


class KerasExport(Converter):
    name = "keras-export"
    distribution = "keras"
    summary = 'model.export(path, format="onnx", opset_version=N) (Keras 3, TensorFlow backend)'
    keras_flavours = frozenset({KERAS})

    def load(self) -> str:
        import keras

        if keras_major() < 3:
            raise RuntimeError(f"Keras {keras.__version__} has no model.export(format='onnx'); it needs Keras 3")
        import keras.src.export.onnx  # noqa: F401
        import tf2onnx  # noqa: F401  (Keras exports through tf2onnx on the TensorFlow backend)

        return keras.__version__

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        path = ctx.workdir / "model.onnx"
        with tf2onnx_opset_refusal():
            model.export(str(path), format="onnx", opset_version=ctx.opset, verbose=False)
        return Conversion(onnx.load(str(path)), command=f'model.export("model.onnx", format="onnx", opset_version={ctx.opset})')


CONVERTER = KerasExport()
