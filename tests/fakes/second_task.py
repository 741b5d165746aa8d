"""A converter whose numbers are wrong (MISMATCH), and faults planted in a failing cell's second task.
No Keras, no TensorFlow: it takes the fake cases of tests/fakes/cases.py.

``fake-off`` builds ``y = 2 x + 1.5`` where the fake model computes ``2 x + 1``: a MISMATCH whose second
task (first divergent layer, second opinion, repro) runs without TensorFlow.

``CONFORMANCE_TEST_FAULTS`` plants exceptions when this module is imported (as a ``--converters-module``
it is imported in the pytest process and in every conversion worker, before any second task): a
comma-separated list of ``CASE=FAULT`` (``*`` for every case), FAULT one of

    find             conformance.checks.divergence.find raises (worker)
    write            conformance.checks.repro.write raises (worker)
    opinion          conformance.checks.second_opinion.run raises (worker)
    entry            conformance.worker.failing.run_failing raises (the worker's entry of the second task)
    exit             conformance.worker.failing.run_failing kills the worker (os._exit)
    summary          conformance.checks.divergence.summary raises (pytest process; every case)
    opinion-summary  conformance.checks.second_opinion.summary raises (pytest process; every case)

    CONFORMANCE_TEST_FAULTS="fake_tiny_1=find,*=summary" pytest conformance/ --cases-module tests/fakes/cases.py \\
        --converters-module tests/fakes/second_task.py --converters fake-ok,fake-off --opsets 13 --causes none
"""
from __future__ import annotations

import os

from cases.api import NO_KERAS
from conformance.converters.base import Conversion, Converter

ENV = "CONFORMANCE_TEST_FAULTS"
FAULTS = ("find", "write", "opinion", "entry", "exit", "summary", "opinion-summary")


def off_onnx(opset: int):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    off = helper.make_tensor("off", TensorProto.FLOAT, [], [1.5])
    nodes = [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Add", ["x2", "off"], ["y"])]
    graph = helper.make_graph(nodes, "off", [x], [y], initializer=[two, off])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="fake")
    model.ir_version = min(model.ir_version, 8)
    return model


class FakeOff(Converter):
    name = "fake-off"
    distribution = "onnx"
    summary = "builds y = 2x + 1.5 (off by 0.5: MISMATCH)"
    keras_flavours = frozenset({NO_KERAS})

    def load(self) -> str:
        import onnx

        return onnx.__version__

    def convert(self, model, ctx):
        return Conversion(off_onnx(ctx.opset), output_names=["y"], command="fake-off")


CONVERTER = FakeOff()


class PlantedFault(RuntimeError):
    pass


def planted() -> dict[str, set[str]]:
    """FAULT -> the case names it applies to ("*": all)."""
    out: dict[str, set[str]] = {}
    for item in filter(None, (p.strip() for p in os.environ.get(ENV, "").split(","))):
        case, _, fault = item.rpartition("=")
        if fault not in FAULTS:
            raise ValueError(f"{ENV}: unknown fault {fault!r} (one of {', '.join(FAULTS)})")
        out.setdefault(fault, set()).add(case or "*")
    return out


def _applies(fault: str, faults: dict, case_name: str | None) -> bool:
    cases = faults.get(fault, set())
    return "*" in cases or (case_name is not None and case_name in cases)


def _plant() -> None:
    faults = planted()
    if not faults:
        return
    from conformance.checks import divergence, repro, second_opinion
    from conformance.worker import failing

    def wrap(module, attr, names, case_of):
        original = getattr(module, attr)
        if getattr(original, "_planted", False):  # imported twice (by path and by name): plant once
            return

        def patched(*args, **kwargs):
            for fault in names:
                if _applies(fault, faults, case_of(args, kwargs)):
                    if fault == "exit":
                        os._exit(3)
                    raise PlantedFault(f"planted fault {fault!r} in {module.__name__}.{attr}")
            return original(*args, **kwargs)

        patched._planted = True
        setattr(module, attr, patched)

    def case_kw(args, kwargs):
        case = kwargs.get("case")
        return getattr(case, "name", None)

    def case_task(args, kwargs):
        return (args[0] if args else kwargs.get("task", {})).get("case")

    wrap(divergence, "find", ["find"], case_kw)
    wrap(repro, "write", ["write"], case_kw)
    wrap(second_opinion, "run", ["opinion"], case_kw)
    wrap(divergence, "summary", ["summary"], lambda a, k: None)
    wrap(second_opinion, "summary", ["opinion-summary"], lambda a, k: None)
    wrap(failing, "run_failing", ["exit", "entry"], case_task)


_plant()
