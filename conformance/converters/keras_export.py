"""Keras 3's own exporter: model.export(path, format="onnx", opset_version=N)."""
from __future__ import annotations

from cases.api import KERAS
from conformance.converters.base import Conversion, Converter, ConvertContext, Repro, keras_major, tf2onnx_opset_refusal


def keras_export_version() -> str:
    """Keras's version, when it has model.export(format="onnx") on TensorFlow; raises otherwise."""
    import keras

    if keras_major() < 3:
        raise RuntimeError(f"Keras {keras.__version__} has no model.export(format='onnx'); it needs Keras 3")
    import keras.src.export.onnx  # noqa: F401
    import tf2onnx  # noqa: F401  (Keras exports through tf2onnx on the TensorFlow backend)

    return keras.__version__


def export_onnx(model, path, opset: int) -> None:
    """``model.export(path, format="onnx", opset_version=opset)``, quietly (every backend's row)."""
    model.export(str(path), format="onnx", opset_version=opset, verbose=False)


class KerasExport(Converter):
    name = "keras-export"
    distribution = "keras"
    packages = ("keras", "tf2onnx")
    summary = 'model.export(path, format="onnx", opset_version=N) (Keras 3, TensorFlow backend)'
    keras_flavours = frozenset({KERAS})

    def load(self) -> str:
        return keras_export_version()

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        path = ctx.workdir / "model.onnx"
        with tf2onnx_opset_refusal():
            export_onnx(model, path, ctx.opset)
        return Conversion(onnx.load(str(path)), command=f'model.export("model.onnx", format="onnx", opset_version={ctx.opset})')

    def repro(self) -> Repro:
        return Repro(check=keras_export_version, helpers=(export_onnx,), convert='''
    path = os.path.join(work, "model.onnx")
    export_onnx(model, path, OPSET)
    return onnx.load(path), None
''')


CONVERTER = KerasExport()
