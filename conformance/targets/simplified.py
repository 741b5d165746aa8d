"""onnxsim's simplifier (constant folding, shape inference, dead nodes), then onnxruntime."""
from __future__ import annotations

from conformance.targets.base import Target, TargetContext, on_model


def simplify(model):
    """``onnxsim.simplify`` of the model (a ModelProto); raises when it fails or cannot check its result."""
    import onnxsim

    model, checked = onnxsim.simplify(model)
    if not checked:
        raise RuntimeError("onnxsim.simplify: the simplified model failed onnxsim's own check against the original")
    return model


class Simplified(Target):
    name = "onnxsim"
    summary = "onnxsim.simplify(model), then onnxruntime on the CPU"
    packages = ("onnxsim",)
    yardstick = "fp32"
    blames = "onnxsim"

    def transform(self, model_bytes: bytes, ctx: TargetContext) -> bytes:
        return on_model(model_bytes, simplify)


TARGET = Simplified()
