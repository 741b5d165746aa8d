"""Fake targets for the suite's own tests: each behaves in one way.  No TensorFlow, no extra package.

    pytest conformance/ --cases-module tests/fakes/cases.py --converters-module tests/fakes/converters.py \\
        --converters fake-ok --targets-module tests/fakes/targets.py --targets ort,fake-same,fake-off-by-one ...
"""
from __future__ import annotations

import os

from conformance.targets.base import Target, versions_of


class FakeSame(Target):
    name = "fake-same"
    summary = "onnxruntime with every graph optimisation off (as ort-noopt), from a test module"
    blames = "nobody: it matches"
    graph_optimization = "ORT_DISABLE_ALL"


class FakeOffByOne(Target):
    name = "fake-off-by-one"
    summary = "onnxruntime, then adds 1 to every output (a runtime that changes the answer)"
    blames = "itself"

    def open(self, model_bytes, ctx):
        run = super().open(model_bytes, ctx)
        return lambda feeds: [o + 1.0 for o in run(feeds)]


class FakeMissing(Target):
    name = "fake-missing"
    summary = "needs a package that is not installed"
    packages = ("fancy-runtime-that-is-not-installed",)
    blames = "-"

    def load(self):
        return versions_of(self.packages)


class FakeBrokenTransform(Target):
    name = "fake-broken-transform"
    summary = "its transform raises"
    blames = "itself"

    def transform(self, model_bytes, ctx):
        raise RuntimeError("the fake transform gave up on <b>this</b> model")


class FakeDies(Target):
    name = "fake-dies"
    summary = "kills the worker while opening the model (a segfault inside a runtime)"
    blames = "itself"

    def open(self, model_bytes, ctx):
        os._exit(139)


TARGETS = [FakeSame(), FakeOffByOne(), FakeMissing(), FakeBrokenTransform(), FakeDies()]
