"""`--cli-launch warm` and `--cli-launch fresh` give the same statuses and the same graphs.

Real conversions: the seed cases (not the slow vision ones) through `python -m tf2onnx.convert`
(row tf2onnx-cli) at opset 13, once per launch mode, with --keep-onnx.  tf2onnx names some
nodes differently from one call to the next even in fresh interpreters (which of two identical
constant subgraphs its de-duplication keeps; measured: two fresh calls on the same SavedModel
differ in names only), so graphs are compared with tensor names replaced by their position:
same nodes in the same order, same attributes, same wiring, same initializer values.
"""
from __future__ import annotations

import hashlib

import pytest

from tests.helpers import run_matrix

onnx = pytest.importorskip("onnx")
pytest.importorskip("tf2onnx")


def canonical(model) -> tuple:
    return _graph(model.graph, {}, "")


def _graph(g, outer: dict, depth: str) -> tuple:
    """A graph with every tensor name replaced by where it comes from: a graph input by position, an
    initializer by its values, a node output by (depth, node index, output index); subgraphs (Loop and
    If bodies) the same way, seeing the names of the graphs around them."""
    from onnx import AttributeProto, numpy_helper

    names = dict(outer)
    for i, x in enumerate(g.input):
        names[x.name] = f"{depth}in{i}" if depth else "in:" + x.name
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        names[t.name] = "const:" + hashlib.sha1(arr.tobytes() + str(arr.shape).encode() + str(arr.dtype).encode()).hexdigest()
    nodes = []
    for k, n in enumerate(g.node):
        attrs = []
        for a in sorted(n.attribute, key=lambda a: a.name):
            if a.type == AttributeProto.GRAPH:
                attrs.append((a.name, _graph(a.g, names, f"{depth}{k}/")))
            else:
                attrs.append((a.name, a.SerializeToString()))
        nodes.append((n.op_type, n.domain, tuple(names.get(i, "?" + i) for i in n.input), tuple(attrs)))
        for j, o in enumerate(n.output):
            names[o] = f"{depth}n{k}.{j}"
    return tuple(nodes), tuple(names.get(o.name, "?" + o.name) for o in g.output)


def test_seed_cases_convert_the_same_both_ways(tmp_path):
    runs = {}
    for mode in ("fresh", "warm"):
        report = tmp_path / mode
        proc, doc = run_matrix(report, "-n", "2", "-m", "seed and not slow", "--converters", "tf2onnx-cli",
                               "--opsets", "13", "--keep-onnx", "--cli-launch", mode, timeout=900)
        assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs[mode] = {r["case"]: r for r in doc["records"]}
    assert len(runs["warm"]) >= 11 and set(runs["warm"]) == set(runs["fresh"])
    for case, warm in runs["warm"].items():
        fresh = runs["fresh"][case]
        assert warm["status"] == fresh["status"] == "PASS", (case, warm["reason"], fresh["reason"])
        a = onnx.load(fresh["facts"]["onnx_path"])
        b = onnx.load(warm["facts"]["onnx_path"])
        assert canonical(a) == canonical(b), case
        assert warm["stages"]["convert"]["command"] == fresh["stages"]["convert"]["command"]
        assert "python -m tf2onnx.convert --saved-model" in warm["stages"]["convert"]["command"]
