"""Keras -> ONNX conformance suite: converters, checks, verdicts, results, reports."""
