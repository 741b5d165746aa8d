"""`--cli-launch warm` and `--cli-launch fresh` give the same statuses and the same graphs.

Real conversions: the seed cases (not the slow vision ones) through `python -m tf2onnx.convert`
(row tf2onnx-cli) at opset 13, once per launch mode, with --keep-onnx.  tf2onnx is not
byte-deterministic even between two fresh interpreters on the same SavedModel (measured: node
names differ, which of two equal constant subgraphs its de-duplication keeps, the order of some
Loop-body nodes, and in 1 of 4 fresh calls of rnn_grucell which Identity alias feeds a Loop-body
output), so "the same graph" is what two fresh calls share: the same ops in the same numbers,
subgraphs included, the same weights, the same I/O signature, and bit-identical outputs on the
same inputs in onnxruntime.
"""
from __future__ import annotations

import hashlib

import pytest

from tests.helpers import run_matrix

onnx = pytest.importorskip("onnx")
pytest.importorskip("tf2onnx")


def content(model) -> tuple:
    """What a graph is made of, names and order aside: its nodes' (op, domain) counts and the digests
    of its weights, subgraphs (Loop and If bodies) included, and its I/O signature."""
    import collections

    from onnx import numpy_helper

    ops, weights = collections.Counter(), collections.Counter()

    def walk(g):
        for t in g.initializer:
            arr = numpy_helper.to_array(t)
            weights[hashlib.sha1(arr.tobytes() + str(arr.shape).encode() + str(arr.dtype).encode()).hexdigest()] += 1
        for n in g.node:
            ops[(n.domain, n.op_type)] += 1
            for attr in n.attribute:
                if attr.g is not None and attr.g.node:
                    walk(attr.g)

    walk(model.graph)
    io = tuple((v.name, v.type.SerializeToString()) for v in list(model.graph.input) + list(model.graph.output))
    return ops, weights, io


def outputs(model, feeds: dict) -> list:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def feeds_for(record: dict) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    for spec in record["facts"]["keras_inputs"]:
        shape = [3 if d is None else d for d in spec["shape"]]
        out[spec["name"]] = rng.standard_normal(shape).astype(spec["dtype"])
    return out


SEED_KINDS = "mlp_softmax or binary_sigmoid or (seed_lstm and not seq16) or (seed_gru and not seq16) or rnn_grucell"


def test_seed_cases_convert_the_same_both_ways(tmp_path):
    runs = {}
    for mode in ("fresh", "warm"):
        report = tmp_path / mode
        # five seed cases of every kind (dense, sigmoid, the LSTM op, a GRU's Loop, an RNN cell): each fresh launch
        # imports TensorFlow again (5 s a cell), so all eleven took 105 s of CI time for the same claim
        proc, doc = run_matrix(report, "-n", "2", "-m", "seed and not slow", "-k", SEED_KINDS, "--converters",
                               "tf2onnx-cli", "--opsets", "13", "--keep-onnx", "--cli-launch", mode, timeout=900)
        assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs[mode] = {r["case"]: r for r in doc["records"]}
    assert set(runs["warm"]) == set(runs["fresh"]) == {"mlp_softmax", "binary_sigmoid", "seed_lstm", "seed_gru",
                                                       "rnn_grucell"}
    for case, warm in runs["warm"].items():
        fresh = runs["fresh"][case]
        assert warm["status"] == fresh["status"] == "PASS", (case, warm["reason"], fresh["reason"])
        a = onnx.load(fresh["facts"]["onnx_path"])
        b = onnx.load(warm["facts"]["onnx_path"])
        assert content(a) == content(b), case
        feeds = feeds_for(warm)
        for x, y in zip(outputs(a, feeds), outputs(b, feeds), strict=True):
            assert x.shape == y.shape and (x == y).all(), case   # bit-identical numbers
        assert warm["stages"]["convert"]["command"] == fresh["stages"]["convert"]["command"]
        assert "python -m tf2onnx.convert --saved-model" in warm["stages"]["convert"]["command"]
