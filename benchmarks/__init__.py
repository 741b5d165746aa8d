"""Keras vs onnxruntime benchmarks (opt-in): ``pytest benchmarks/ --benchmark-only``."""
