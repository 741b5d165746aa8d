"""Fake cases for the suite's own tests: no Keras, no TensorFlow (keras flavour "none").

The "model" is a tiny callable object that looks like a Keras model to the worker
(``inputs`` with name/shape/dtype, ``output_names``, ``model(x, training=False)``)
and computes ``y = 2 x + 1``; the fake converters in converters.py emit the same.

    pytest conformance/ --cases-module tests/fakes/cases.py --converters-module tests/fakes/converters.py ...
"""
from __future__ import annotations

import types

import numpy as np

from cases.api import NO_KERAS, Case

FEATURES = 3
HTML = "<script>alert('case')</script><b>bold</b>"


class TinyModel:
    """y = 2 x + 1 on float32 inputs of shape (batch, 3)."""

    def __init__(self):
        self.inputs = [types.SimpleNamespace(name="x", shape=(None, FEATURES), dtype="float32")]
        self.output_names = ["y"]

    def __call__(self, x, training=False):
        return np.asarray(x, dtype=np.float32) * 2.0 + 1.0


def _inputs(rng, batch):
    return [rng.standard_normal((batch, FEATURES)).astype("float32")]


def _builder_raises():
    raise ValueError("the builder of this case is broken <img src=x onerror=alert(1)>")


CASES = [
    Case("fake_tiny", "fake", TinyModel, _inputs, keras=NO_KERAS, description=f"a tiny fake model {HTML}"),
    *[Case(f"fake_tiny_{i}", "fake", TinyModel, _inputs, keras=NO_KERAS, seed=i) for i in range(1, 7)],
    Case("fake_builder_raises", "fake", _builder_raises, _inputs, keras=NO_KERAS,
         description="a case whose builder raises"),
]
