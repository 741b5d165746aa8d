"""onnxruntime with every graph optimisation off: the converter's graph as it is written."""
from __future__ import annotations

from conformance.targets.base import Target


class OrtNoOpt(Target):
    name = "ort-noopt"
    summary = "onnxruntime on the CPU with graph_optimization_level = ORT_DISABLE_ALL"
    yardstick = "fp32"
    blames = "onnxruntime's graph optimiser (the default `ort` run optimises; this one does not)"
    graph_optimization = "ORT_DISABLE_ALL"


TARGET = OrtNoOpt()
