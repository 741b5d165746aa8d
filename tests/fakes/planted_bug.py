"""A converter with a planted bug, to prove the fuzz finds, shrinks and records a failure.

It converts with tf2onnx.convert.from_keras, then, for any model with a go_backwards layer
(generated names contain "_bwd"), adds 0.01 to the first output.  Needs TensorFlow.

    CONFORMANCE_FUZZ_CONVERTERS=planted-bug pytest tests/fuzz --converters-module tests/fakes/planted_bug.py
"""
from conformance.converters.base import Conversion, Converter


class PlantedBug(Converter):
    name = "planted-bug"
    distribution = "tf2onnx"
    summary = "tf2onnx.convert.from_keras, plus 0.01 on the first output of go_backwards models (a planted bug)"

    def load(self) -> str:
        import tf2onnx

        return tf2onnx.__version__

    def convert(self, model, ctx) -> Conversion:
        import onnx
        import tf2onnx
        from onnx import helper, numpy_helper
        import numpy as np

        from conformance.converters.base import tensor_specs

        proto, _ = tf2onnx.convert.from_keras(model, input_signature=tensor_specs(ctx), opset=ctx.opset)
        if "_bwd" in ctx.case.name:
            g = proto.graph
            out = g.output[0].name
            g.initializer.append(numpy_helper.from_array(np.array(0.01, dtype=np.float32), "planted_delta"))
            for node in g.node:
                node.output[:] = [f"{o}__pre" if o == out else o for o in node.output]
                node.input[:] = [f"{i}__pre" if i == out else i for i in node.input]
            g.node.append(helper.make_node("Add", [f"{out}__pre", "planted_delta"], [out], name="planted_add"))
            onnx.checker.check_model(proto)
        return Conversion(proto, command="tf2onnx.convert.from_keras(...) + planted 0.01 on go_backwards models")


CONVERTER = PlantedBug()
