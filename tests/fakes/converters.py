"""Fake converters for the suite's own tests: each misbehaves in one way.  No TensorFlow.

They take only the fake cases (keras flavour "none") and build ``y = 2 x + 1`` with
onnx.helper, except where the point is to fail.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import time

from cases.api import NO_KERAS
from conformance.converters.base import Conversion, Converter

HTML_ERROR = "converter exploded: <script>alert('error')</script> & <b>friends</b>"
#: TEST-NET-1 (RFC 5737): never routed, so even an unguarded attempt cannot reach anyone
UNREACHABLE = ("192.0.2.1", 9)


def tiny_onnx(opset: int, broken: bool = False):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [helper.make_node("Mul", ["x", "missing_input" if broken else "two"], ["x2"]),
             helper.make_node("Add", ["x2", "one"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [x], [y], initializer=[two, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="fake")
    model.ir_version = min(model.ir_version, 8)
    return model


class _Fake(Converter):
    distribution = "onnx"
    keras_flavours = frozenset({NO_KERAS})

    def load(self) -> str:
        import onnx

        return onnx.__version__


class FakeOk(_Fake):
    name = "fake-ok"
    summary = "builds y = 2x + 1 correctly"

    def convert(self, model, ctx):
        # says whether anything in this worker loaded TensorFlow (the fakes must not need it)
        return Conversion(tiny_onnx(ctx.opset), output_names=["y"],
                          command=f"fake-ok; tensorflow loaded: {'tensorflow' in sys.modules}")


class FakeSlow(_Fake):
    name = "fake-slow"
    summary = ("correct, after $FAKE_SLOW_SECONDS (default 1) seconds; with $FAKE_SLOW_HOLD_AFTER=N, the"
               " worker's conversions after the Nth wait until the worker's parent is gone")
    done = 0

    def convert(self, model, ctx):
        hold_after = os.environ.get("FAKE_SLOW_HOLD_AFTER")
        if hold_after is not None and FakeSlow.done >= int(hold_after):
            parent = os.getppid()
            while os.getppid() == parent:   # the run was killed: this worker is reparented
                time.sleep(0.1)
        time.sleep(float(os.environ.get("FAKE_SLOW_SECONDS", "1")))
        FakeSlow.done += 1
        return Conversion(tiny_onnx(ctx.opset), output_names=["y"], command="fake-slow")


class FakeSegfault(_Fake):
    name = "fake-segv"
    summary = "kills its own process with SIGSEGV"

    def convert(self, model, ctx):
        print("fake-segv: about to segfault", flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(60)


class FakeHang(_Fake):
    name = "fake-hang"
    summary = "never returns"

    def convert(self, model, ctx):
        print("fake-hang: sleeping forever", flush=True)
        while True:
            time.sleep(60)


class FakeGarbage(_Fake):
    name = "fake-garbage"
    summary = "writes garbage bytes as its model file, then loads it"

    def convert(self, model, ctx):
        import onnx

        path = ctx.workdir / "model.onnx"
        path.write_bytes(b"\xff\xff\xff\xff this is not a protobuf \x00\x01\x02")
        return Conversion(onnx.load(str(path)), command=f"fake-garbage -> {path}")


class FakeInvalid(_Fake):
    name = "fake-invalid"
    summary = "returns a graph whose node reads an undefined tensor"

    def convert(self, model, ctx):
        return Conversion(tiny_onnx(ctx.opset, broken=True), output_names=["y"], command="fake-invalid")


class FakeRaises(_Fake):
    name = "fake-raises"
    summary = "raises an exception whose message holds HTML"

    def convert(self, model, ctx):
        raise RuntimeError(HTML_ERROR)


class FakeNetwork(_Fake):
    name = "fake-network"
    summary = "tries to open a TCP connection"

    def convert(self, model, ctx):
        socket.create_connection(UNREACHABLE, timeout=3).close()
        return Conversion(tiny_onnx(ctx.opset), output_names=["y"], command="fake-network: connected (!)")


class FakeTempfile(_Fake):
    name = "fake-tempfile"
    summary = "leaves a file in the system temp dir and one in its workdir; says where"

    def convert(self, model, ctx):
        fd, path = tempfile.mkstemp(prefix="fake-converter-", suffix=".tmp")
        os.write(fd, b"left behind on purpose")
        os.close(fd)
        (ctx.workdir / "scratch.bin").write_bytes(b"scratch")
        return Conversion(tiny_onnx(ctx.opset), output_names=["y"],
                          command=f"tempfile={path} workdir={ctx.workdir}")


CONVERTERS = [FakeOk(), FakeSlow(), FakeSegfault(), FakeHang(), FakeGarbage(), FakeInvalid(), FakeRaises(),
              FakeNetwork(), FakeTempfile()]


class _FakeCli(_Fake):
    """A command-line converter: ``python -m tests.fakes.cli_tool MODE model.onnx OPSET`` through
    ``ctx.run_module`` (the run's launcher, warm or fresh)."""

    mode = "ok"

    def convert(self, model, ctx):
        import onnx

        out = ctx.workdir / "model.onnx"
        done = ctx.run_module("tests.fakes.cli_tool", [self.mode, str(out), str(ctx.opset)])
        return Conversion(onnx.load(str(out)), output_names=["y"],
                          command=f"python -m tests.fakes.cli_tool {self.mode} model.onnx {ctx.opset}; "
                                  f"saw {done.stdout.strip()}")


class FakeCliOk(_FakeCli):
    name = "fake-cli-ok"
    summary = "python -m tests.fakes.cli_tool ok: writes y = 2x + 1"


class FakeCliSegfault(_FakeCli):
    name = "fake-cli-segv"
    summary = "python -m tests.fakes.cli_tool segv: the command dies of SIGSEGV"
    mode = "segv"


class FakeCliHang(_FakeCli):
    name = "fake-cli-hang"
    summary = "python -m tests.fakes.cli_tool hang: the command never ends"
    mode = "hang"


class FakeCliOpset(_FakeCli):
    name = "fake-cli-opset"
    summary = "python -m tests.fakes.cli_tool raise: refuses the opset the way tf2onnx does"
    mode = "raise"


class FakeMemoryHog(_Fake):
    name = "fake-memory"
    summary = "holds $FAKE_MEMORY_GIB (default 2) GiB of resident memory until its worker is stopped"

    def convert(self, model, ctx):
        import numpy as np

        hog = np.ones(int(float(os.environ.get("FAKE_MEMORY_GIB", "2")) * 2**30) // 8)
        # held until the memory limit (or the cell's time limit) stops the worker: a memory poll
        # that comes late on a busy machine still finds it
        while hog.size:
            time.sleep(60)


CONVERTERS += [FakeCliOk(), FakeCliSegfault(), FakeCliHang(), FakeCliOpset(), FakeMemoryHog()]
