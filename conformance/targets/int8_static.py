"""Static int8 quantisation (QDQ), calibrated on the case's own inputs, in onnxruntime."""
from __future__ import annotations

from conformance.targets.base import Target, TargetContext


class Int8Static(Target):
    name = "int8-static"
    summary = ("onnxruntime.quantization.quantize_static(model, out, reader over the case's inputs) "
               "(QDQ, int8 weights and activations, MinMax calibration), then onnxruntime")
    yardstick = "task"
    blames = "the int8 quantisation (onnxruntime.quantization) or int8 itself"

    def transform(self, model_bytes: bytes, ctx: TargetContext) -> bytes:
        from onnxruntime.quantization import CalibrationDataReader, quantize_static

        class Reader(CalibrationDataReader):
            def __init__(self, feeds):
                self.feeds = iter(feeds)

            def get_next(self):
                return next(self.feeds, None)

        src, out = ctx.workdir / "model.onnx", ctx.workdir / "int8.onnx"
        src.write_bytes(model_bytes)
        quantize_static(str(src), str(out), Reader(list(ctx.feeds)))
        return out.read_bytes()


TARGET = Int8Static()
