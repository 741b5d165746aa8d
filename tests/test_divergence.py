"""From a red cell to an upstream report: the first divergent layer and the standalone repro.

TF-free unit tests of the search's pieces, then one real run (TensorFlow, tf2onnx: a real
converter): the planted-bug converter (tests/fakes/planted_bug.py adds 0.01 after the layer named
"planted") must be found by both methods, and the masked LSTM's known MISMATCH at opset 9 must
name its layer and leave a repro that reproduces the status in a fresh process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conformance.checks.divergence import _tf_unique, layer_scopes, methods_from_env, summary
from tests.helpers import run_matrix


def test_tensorflow_scope_names_are_simulated():
    used: dict = {}
    # Keras 3 enters each layer's scope twice: dense -> dense_1; a layer named dense_1 -> dense_1_2
    got = [[_tf_unique(used, n) for _ in range(2)][-1] for n in ("dense", "dense_1x", "dense_1", "dense_2")]
    assert got == ["dense_1", "dense_1x_1", "dense_1_2", "dense_2_1"]
    scopes = layer_scopes(["dense", "dense_1"], {"functional_1", "dense_1", "dense_1_2"})
    assert scopes == {"dense": "dense_1", "dense_1": "dense_1_2"}
    # tf_keras-style single entry explains a graph with plain names better
    assert layer_scopes(["dense", "lstm"], {"model", "dense", "lstm"}) == {"dense": "dense", "lstm": "lstm"}


def test_methods_and_summary():
    assert methods_from_env("auto") == ("onnx-outputs", "bisect")
    assert methods_from_env("off") == ()
    assert methods_from_env("bisect") == ("bisect",)
    with pytest.raises(ValueError):
        methods_from_env("guess")
    line = summary({"ok": True, "layer": "masking", "class": "Masking", "position": 1, "layers": 3,
                    "method": "onnx-outputs", "previous": None,
                    "comparison": {"mismatched": 18, "total": 72, "rtol": 1e-4, "atol": 1e-5, "max_abs": 0.92}})
    assert line == ("first divergent layer: masking (Masking, layer 1 of 3; onnx-outputs): 18/72 elements outside "
                    "rtol=0.0001, atol=1e-05, max abs err 0.92; it is the first layer")
    assert summary({"ok": False, "reason": "no method applies"}) == "first divergent layer: not found (no method applies)"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted-bug converter on a Dense chain, searched by each method alone."""
    out = {}
    for method in ("onnx-outputs", "bisect"):
        rd = tmp_path_factory.mktemp(f"planted-{method}")
        env = dict(os.environ, CONFORMANCE_DIVERGENCE=method)
        proc, res = run_matrix(rd, "--cases-module", "tests/fakes/planted_cases.py", "--converters-module",
                               "tests/fakes/planted_bug.py", "--converters", "planted-bug", "--opsets", "13",
                               "-k", "planted_chain", "--causes", "none", env=env, timeout=300)
        assert res is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
        out[method] = (proc, res, rd)
    return out


@pytest.mark.parametrize("method", ["onnx-outputs", "bisect"])
def test_planted_bug_is_found_at_its_layer(planted, method):
    proc, res, _ = planted[method]
    (r,) = res["records"]
    assert r["status"] == "MISMATCH"                         # the search never changes a status
    div = r["divergence"]
    assert div["ok"] and div["method"] == method, div
    assert div["layer"] == "planted" and div["class"] == "Dense" and div["previous"] == "first"
    assert div["config"]["units"] == 6 and div["config"]["activation"] == "tanh"
    assert div["comparison"]["max_abs"] == pytest.approx(0.01, rel=1e-3)
    # the terminal reason names it
    assert "first divergent layer: planted (Dense, layer 2 of 4; " + method in proc.stdout
    assert "first divergent layer: planted" in r["reason"]


def test_planted_bug_repro_is_written_but_says_it_is_not_standalone(planted):
    _, res, rd = planted["onnx-outputs"]
    rep = res["records"][0]["repro"]
    assert rep["ok"] and rep["standalone"] is False and rep["path"] == "repro/planted_chain-planted-bug-opset13/repro.py"
    assert {"repro.py", "model.keras", "inputs.npz"} <= set(os.listdir(rd / "repro" / "planted_chain-planted-bug-opset13"))


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    """The masked LSTM at opset 9: a real silent MISMATCH (an expected failure) of two converters."""
    rd = tmp_path_factory.mktemp("masked")
    # expected failures get a repro only when asked (CONFORMANCE_REPRO=on; the default is unexpected ones)
    proc, res = run_matrix(rd, "--converters", "tf2onnx-keras,tf2onnx-cli", "--opsets", "9",
                           "-k", "masking_lstm", timeout=400, env=dict(os.environ, CONFORMANCE_REPRO="on"))
    assert res is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, res, rd


def test_real_mismatch_names_its_first_divergent_layer(masked):
    _, res, _ = masked
    assert len(res["records"]) == 2
    for r in res["records"]:
        assert r["status"] == "XFAIL" and r["observed_status"] == "MISMATCH"
        div = r["divergence"]
        assert div["ok"] and div["class"] in ("Masking", "LSTM", "Dense"), div
        assert r["repro"]["ok"] and r["repro"]["standalone"] is True
        assert r["explain_seconds"] > 0   # the second task's time, for the overhead report


def test_repros_reproduce_their_status_in_fresh_processes(masked, tmp_path):
    _, res, rd = masked
    for r in res["records"]:
        script = rd / r["repro"]["path"]
        text = script.read_text()
        assert "conformance" not in [ln.split()[1].split(".")[0] for ln in text.splitlines()
                                     if ln.startswith(("import ", "from "))]
        # a fresh interpreter, isolated (-I: no project on sys.path), run from elsewhere
        p = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES=""))
        first = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-2000:]
        assert first.startswith(r["observed_status"] + ": "), first
        assert p.returncode == 1
        # the same words as the cell: the reason's comparison line is in the repro's output
        cell_line = r["reason"].split("Observed: ", 1)[1].split("; first divergent layer")[0]
        assert cell_line.split("; batch 1")[0] in first


def test_results_list_the_repro_and_the_page_links_it(masked):
    from conformance.report.html import page_data, render

    _, res, rd = masked
    data = json.dumps(page_data(render(res)), ensure_ascii=False)   # the details the page renders on click
    for r in res["records"]:
        assert (rd / r["repro"]["path"]).is_file()
        assert json.dumps(r["repro"]["path"])[1:-1] in data
