"""tf2onnx.convert.from_keras with an input signature named like the Keras inputs.

A model that takes a dict of inputs (KerasHub backbones) gets ``input_signature=[{key: tf.TensorSpec(...,
name=key)}]``: one positional argument with the model's structure, which from_keras traces as
``model(x)`` (tf2onnx 1.17 on TensorFlow >= 2.16: ``tf.function(input_signature=...)(lambda *args:
model(*args))``); the ONNX inputs are named by the specs' names, so by key."""
from __future__ import annotations

from conformance.converters.base import Conversion, Converter, ConvertContext, input_signature, tf2onnx_opset_refusal


class Tf2OnnxKeras(Converter):
    name = "tf2onnx-keras"
    distribution = "tf2onnx"
    summary = "tf2onnx.convert.from_keras(model, input_signature=[tf.TensorSpec(...)], opset=N)"

    def load(self) -> str:
        import tf2onnx
        import tf2onnx.convert  # noqa: F401

        return tf2onnx.__version__

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import tf2onnx

        spec = input_signature(model, ctx)
        with tf2onnx_opset_refusal():
            onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ctx.opset)
        # from_keras names graph outputs after the Keras outputs, in order
        return Conversion(onnx_model, command=f"tf2onnx.convert.from_keras(model, input_signature={spec!r}, opset={ctx.opset})")


CONVERTER = Tf2OnnxKeras()
