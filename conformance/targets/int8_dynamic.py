"""Dynamic int8 quantisation of the weights (onnxruntime.quantization), in onnxruntime."""
from __future__ import annotations

from conformance.targets.base import Target, TargetContext


class Int8Dynamic(Target):
    name = "int8-dynamic"
    summary = "onnxruntime.quantization.quantize_dynamic(model, out, weight_type=QuantType.QInt8), then onnxruntime"
    yardstick = "task"
    blames = "the int8 quantisation (onnxruntime.quantization) or int8 itself"

    def transform(self, model_bytes: bytes, ctx: TargetContext) -> bytes:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        src, out = ctx.workdir / "model.onnx", ctx.workdir / "int8.onnx"
        src.write_bytes(model_bytes)
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8)
        return out.read_bytes()


TARGET = Int8Dynamic()
