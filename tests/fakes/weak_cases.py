"""A fake case whose reference is too weak to prove anything (no Keras, no TensorFlow).

``y = 2 x + 1`` on inputs that differ from sample to sample by about 1e-7: every sample's answer is
within the float32 tolerance of every other's, so an answer that ignores its input (the batch mean,
a neighbour's answer) would pass.  Not exactly constant, so only the impostor guard catches it.
"""
from __future__ import annotations

from cases.api import NO_KERAS, Case
from tests.fakes.cases import FEATURES, TinyModel


def _nearly_equal_inputs(rng, batch):
    return [(0.5 + 1e-7 * rng.standard_normal((batch, FEATURES))).astype("float32")]


CASES = [Case("fake_weak", "fake", TinyModel, _nearly_equal_inputs, keras=NO_KERAS,
              description="y = 2x + 1 on inputs equal to within 1e-7: input-ignoring answers would pass")]
