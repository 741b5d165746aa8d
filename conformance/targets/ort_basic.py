"""onnxruntime with the basic graph optimisations only (constant folding, redundant nodes; no fusions)."""
from __future__ import annotations

from conformance.targets.base import Target


class OrtBasic(Target):
    name = "ort-basic"
    summary = "onnxruntime on the CPU with graph_optimization_level = ORT_ENABLE_BASIC"
    yardstick = "fp32"
    blames = "onnxruntime's basic graph optimisations"
    graph_optimization = "ORT_ENABLE_BASIC"


TARGET = OrtBasic()
