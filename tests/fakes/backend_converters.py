"""Fake converters that say which Keras backend their worker runs (KERAS_BACKEND).  No TensorFlow.

    --converters-module tests/fakes/backend_converters.py --converters fake-on-default,fake-on-jax,fake-on-torch
"""
from __future__ import annotations

import os
import sys

from cases.api import NO_KERAS
from conformance.converters.base import Conversion, Converter
from tests.fakes.converters import tiny_onnx


class _Reporting(Converter):
    distribution = "onnx"
    keras_flavours = frozenset({NO_KERAS})

    def load(self) -> str:
        # the row's "version" is the worker's backend and pid: the test reads both from the records
        return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} pid={os.getpid()}"

    def convert(self, model, ctx):
        return Conversion(tiny_onnx(ctx.opset), output_names=["y"],
                          command=f"{self.name}; tensorflow loaded: {'tensorflow' in sys.modules}")


class FakeOnDefault(_Reporting):
    name = "fake-on-default"
    summary = "y = 2x + 1 in the default (TensorFlow) worker"


class FakeOnJax(_Reporting):
    name = "fake-on-jax"
    summary = "y = 2x + 1 in the worker of the jax backend"
    backend = "jax"


class FakeOnTorch(_Reporting):
    name = "fake-on-torch"
    summary = "y = 2x + 1 in the worker of the torch backend"
    backend = "torch"


CONVERTERS = [FakeOnDefault(), FakeOnJax(), FakeOnTorch()]
