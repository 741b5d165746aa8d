"""OpenVINO's ONNX frontend and its CPU plugin, at float32 precision.

``INFERENCE_PRECISION_HINT=f32``: without it the CPU plugin computes in bf16 on CPUs that have it, and
a difference would be the precision's, not the runtime's."""
from __future__ import annotations

from conformance.targets.base import Target, TargetContext, versions_of


class OpenVinoCpu(Target):
    name = "openvino"
    summary = "openvino.Core().read_model(onnx bytes), compile_model(..., 'CPU', {INFERENCE_PRECISION_HINT: f32})"
    packages = ("openvino",)
    yardstick = "fp32"
    blames = "OpenVINO (its ONNX frontend or CPU plugin)"
    runtime = "OpenVINO"

    def load(self) -> dict[str, str]:
        return versions_of(self.packages)

    def open(self, model_bytes: bytes, ctx: TargetContext):
        import openvino as ov

        core = ov.Core()
        model = core.read_model(model=model_bytes, weights=b"")
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                     "INFERENCE_NUM_THREADS": max(1, int(ctx.threads))})
        ports = [compiled.output(name) for name in ctx.output_names]
        request = compiled.create_infer_request()

        def run(feeds: dict) -> list:
            result = request.infer(feeds)
            return [result[p].copy() for p in ports]
        return run


TARGET = OpenVinoCpu()
