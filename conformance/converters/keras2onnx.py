"""keras2onnx.convert_keras: the original, archived converter (last release 1.7.0)."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext, Repro


class tensor_equality:  # noqa: N801 (used like a function: ``with tensor_equality(): ...``)
    """Run a block with TensorFlow's tensor equality as it is (``enabled`` None) or set, and give the
    process back what it had.  ``import keras2onnx`` calls ``tf.compat.v1.disable_tensor_equality()``
    (keras2onnx/__init__.py) before it fails to import on any current stack, which made ``a != b`` of
    two tensors a Python bool in the whole worker: a later case whose model compares tensors
    (KerasHub's Swin builds its shifted-window mask with ``!=``) was built wrong, in the order xdist
    happened to give the cells."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = enabled

    def __enter__(self):
        import tensorflow as tf

        self.before = bool(getattr(tf.Tensor, "_USE_EQUALITY", True))
        if self.enabled is not None:
            (tf.compat.v1.enable_tensor_equality if self.enabled else tf.compat.v1.disable_tensor_equality)()
        return self

    def __exit__(self, *exc):
        import tensorflow as tf

        (tf.compat.v1.enable_tensor_equality if self.before else tf.compat.v1.disable_tensor_equality)()
        return False


def keras2onnx_version() -> str:
    """keras2onnx's version; raises when it cannot be imported."""
    with tensor_equality():
        import keras2onnx

    return getattr(keras2onnx, "__version__", "unknown")


def keras2onnx_convert(model, opset: int):
    with tensor_equality():
        import keras2onnx
    with tensor_equality(enabled=False):  # what keras2onnx's import sets up for its own conversion
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
        return Repro(check=keras2onnx_version, helpers=(tensor_equality, keras2onnx_convert), convert='''
    return keras2onnx_convert(model, OPSET), None
''')


CONVERTER = Keras2Onnx()
