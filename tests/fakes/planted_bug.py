"""A converter with a planted bug, to prove the fuzz finds, shrinks and records a failure, and that
the first-divergent-layer search finds where it was planted.

It converts with tf2onnx.convert.from_keras, then adds 0.01:

- for any model with a go_backwards layer (generated names contain "_bwd"), to the first output;
- for a model with a layer named "planted" (tests/fakes/planted_cases.py), to that layer's output:
  the last op of the layer's TensorFlow name scope (``.../planted_1/Tanh``) gets an Add after it.

Needs TensorFlow.

    CONFORMANCE_FUZZ_CONVERTERS=planted-bug pytest tests/fuzz --converters-module tests/fakes/planted_bug.py
    pytest conformance/ --cases-module tests/fakes/planted_cases.py --converters-module tests/fakes/planted_bug.py \
        --converters planted-bug --opsets 13 --causes none
"""
import re

from conformance.converters.base import Conversion, Converter

PLANTED_LAYER = "planted"
_SCOPE = re.compile(rf"(^|/){PLANTED_LAYER}(_\d+)?/")


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

        proto, _ = tf2onnx.convert.from_keras(model, input_signature=tensor_specs(ctx.inputs), opset=ctx.opset)
        if "_bwd" in ctx.case.name:
            g = proto.graph
            out = g.output[0].name
            g.initializer.append(numpy_helper.from_array(np.array(0.01, dtype=np.float32), "planted_delta"))
            for node in g.node:
                node.output[:] = [f"{o}__pre" if o == out else o for o in node.output]
                node.input[:] = [f"{i}__pre" if i == out else i for i in node.input]
            g.node.append(helper.make_node("Add", [f"{out}__pre", "planted_delta"], [out], name="planted_add"))
            onnx.checker.check_model(proto)
        in_layer = [n for n in proto.graph.node if _SCOPE.search(n.name)]
        if in_layer:
            _add_after(proto.graph, in_layer[-1].output[0])
            onnx.checker.check_model(proto)
        return Conversion(proto, command="tf2onnx.convert.from_keras(...) + planted 0.01 on go_backwards models")


def _add_after(g, tensor: str) -> None:
    """Every reader of ``tensor`` (and the graph output of that name) sees ``tensor + 0.01``."""
    import numpy as np
    from onnx import helper, numpy_helper

    g.initializer.append(numpy_helper.from_array(np.array(0.01, dtype=np.float32), "planted_layer_delta"))
    for node in g.node:  # the producer writes tensor__pre; its readers keep reading tensor, now shifted
        node.output[:] = [f"{o}__pre" if o == tensor else o for o in node.output]
    producer = next(n for n in g.node if f"{tensor}__pre" in n.output)
    scope = producer.name.rsplit("/", 1)[0]  # one more op of the layer, as a converter's own bug would be
    g.node.append(helper.make_node("Add", [f"{tensor}__pre", "planted_layer_delta"], [tensor], name=f"{scope}/planted_add"))
    # keep the graph topologically sorted: the Add right after its producer
    nodes = list(g.node)
    add = nodes.pop()
    at = next(i for i, n in enumerate(nodes) if f"{tensor}__pre" in n.output) + 1
    nodes.insert(at, add)
    del g.node[:]
    g.node.extend(nodes)


CONVERTER = PlantedBug()
