"""tf2onnx.convert.from_keras with an input signature named like the Keras inputs.

A model that takes a dict of inputs (KerasHub backbones) gets ``input_signature=[{key: tf.TensorSpec(...,
name=key)}]``: one positional argument with the model's structure, which from_keras traces as
``model(x)`` (tf2onnx 1.17 on TensorFlow >= 2.16: ``tf.function(input_signature=...)(lambda *args:
model(*args))``); the ONNX inputs are named by the specs' names, so by key."""
from __future__ import annotations

from conformance.converters.base import (Conversion, Converter, ConvertContext, Repro, input_signature,
                                         tf2onnx_opset_refusal, tf2onnx_version)


def from_keras_version() -> str:
    """tf2onnx's version, with its Python API; raises when it cannot be imported."""
    import tf2onnx.convert  # noqa: F401

    return tf2onnx_version()


def from_keras(model, inputs, opset: int) -> tuple:
    """``tf2onnx.convert.from_keras`` over the Keras inputs (``ctx.inputs``): (ONNX model, the input signature)."""
    import tf2onnx

    spec = input_signature(model, inputs)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    return onnx_model, spec


class Tf2OnnxKeras(Converter):
    name = "tf2onnx-keras"
    distribution = "tf2onnx"
    packages = ("tf2onnx",)
    summary = "tf2onnx.convert.from_keras(model, input_signature=[tf.TensorSpec(...)], opset=N)"

    def load(self) -> str:
        return from_keras_version()

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        with tf2onnx_opset_refusal():
            onnx_model, spec = from_keras(model, ctx.inputs, ctx.opset)
        # from_keras names graph outputs after the Keras outputs, in order
        return Conversion(onnx_model, command=f"tf2onnx.convert.from_keras(model, input_signature={spec!r}, opset={ctx.opset})")

    def repro(self) -> Repro:
        return Repro(check=from_keras_version, helpers=(from_keras,), convert='''
    return from_keras(model, INPUT_SPECS, OPSET)[0], None
''')


CONVERTER = Tf2OnnxKeras()
