"""A fake classifier whose conversion flips a near-tied top-1 class while every element stays inside the
tolerance (the models tier's task-level agreement, tests/test_models.py).  No Keras, no TensorFlow.

The "model" computes ``y = 2 x + 1`` on three scores; row 0 of the inputs has two scores 1e-5 apart.  The
converter emits ``y = 2 x + 1 + [4e-5, 0, 0]``: the first score overtakes the second (top-1 1 -> 0) with
an absolute error of 4e-5 and a relative one of 2e-5, inside rtol 1e-4 (an element fails only past both).
"""
from __future__ import annotations

from cases.api import NO_KERAS, Case
from conformance.converters.base import Conversion
from tests.fakes.cases import TinyModel
from tests.fakes.converters import _Fake


def _inputs(rng, batch):
    x = rng.uniform(-3, 3, size=(batch, 3)).astype("float32")
    x[0] = [0.5, 0.50001, -1.0]
    return [x]


CASES = [Case("fake_near_tie", "fake", TinyModel, _inputs, keras=NO_KERAS, tags={"classifier"},
              description="y = 2x + 1 with two near-tied scores in row 0")]


def _flipping_onnx(opset: int):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    inits = [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("nudge", TensorProto.FLOAT, [3], [4e-5, 0.0, 0.0])]
    nodes = [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Add", ["x2", "one"], ["x3"]),
             helper.make_node("Add", ["x3", "nudge"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "flip", [x], [y], initializer=inits),
                              opset_imports=[helper.make_opsetid("", opset)], producer_name="fake")
    model.ir_version = min(model.ir_version, 8)
    return model


class FakeFlip(_Fake):
    name = "fake-flip"
    summary = "y = 2x + 1 plus 4e-5 on the first score"

    def convert(self, model, ctx):
        return Conversion(_flipping_onnx(ctx.opset), output_names=["y"], command="fake-flip")


CONVERTERS = [FakeFlip()]
