"""The layer library's machinery: the walk of a built model, the coverage report, its command, the tier."""
from __future__ import annotations

import json
import subprocess
import sys

import re

import pytest

from cases.layers import LAYERS_TAG
from conformance.loader import builtin_modules, load_cases
from conformance.report import layers as cov_mod
from conformance.report.__main__ import main as report_main
from conformance.run.cells import layer_opsets, tiered
from conformance.run.results import write
from tests.helpers import FakeCell
from tests.report_fakes import doc, rec

INVENTORY = {"Conv2D": ["Conv2D", "Convolution2D"], "Dense": ["Dense"], "InputLayer": ["InputLayer"],
             "LSTM": ["LSTM"], "Layer": ["Layer"], "TFSMLayer": ["TFSMLayer"]}


def _with_layers(r: dict, layers: list[str], inventory: dict | None = None) -> dict:
    r["facts"]["keras_layers"] = layers
    if inventory:
        r["facts"]["layer_inventory"] = inventory
    return r


def _fake_run() -> dict:
    return doc([
        _with_layers(rec("conv", "tf2onnx-keras", 13, "PASS"), ["Conv2D", "InputLayer"], INVENTORY),
        _with_layers(rec("conv", "tf2onnx-keras", 18, "MISMATCH"), ["Conv2D", "InputLayer"]),
        _with_layers(rec("conv", "keras-export", 13, "PASS"), ["Conv2D", "InputLayer"]),
        _with_layers(rec("mlp", "tf2onnx-keras", 13, "XFAIL"), ["Dense", "InputLayer"]),
        _with_layers(rec("mlp", "keras-export", 13, "NOT_APPLICABLE"), ["Dense", "InputLayer"]),
    ])


EXCLUDED = {"Layer": "the abstract base", "TFSMLayer": "a SavedModel endpoint", "Gone": "not in this Keras"}


def test_coverage_counts_classes_found_in_built_models_aliases_once():
    cov = cov_mod.coverage(_fake_run(), EXCLUDED)
    # InputLayer (every model's input) is no layer row: not covered, not counted
    assert [r.name for r in cov.covered] == ["Conv2D", "Dense"]
    assert [r.name for r in cov.missing] == ["LSTM"] and "InputLayer" not in {r.name for r in cov.rows}
    assert len(cov.relevant) == 3 and cov.percent == pytest.approx(200 / 3)
    assert cov.unknown_excluded == ["Gone"]
    conv = next(r for r in cov.rows if r.name == "Conv2D")
    assert conv.aliases == ["Conv2D", "Convolution2D"] and conv.cases == ["conv"]


def test_status_per_converter_counts_observed_statuses():
    cov = cov_mod.coverage(_fake_run(), EXCLUDED)
    row = {r.name: r for r in cov.rows}
    assert row["Conv2D"].summary("tf2onnx-keras") == "1/2 pass; MISMATCH"
    assert row["Conv2D"].summary("keras-export") == "PASS 1/1"
    assert row["Dense"].summary("tf2onnx-keras") == "0/1 pass; MISMATCH"  # the XFAIL counts as what it is
    assert row["Dense"].summary("keras-export") == "n/a"
    assert row["LSTM"].summary("keras-export") == ""


def test_a_run_without_inventory_is_one_line_error(tmp_path, capsys):
    d = _fake_run()
    for r in d["records"]:
        r["facts"].pop("layer_inventory", None)
    path = write(d, tmp_path / "results.json")
    assert report_main(["layers", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no record") and err.count("\n") == 1


def test_excluded_entries_need_a_reason(tmp_path, capsys):
    bad = tmp_path / "excluded.toml"
    bad.write_text('[Layer]\nreason = ""\n')
    path = write(_fake_run(), tmp_path / "results.json")
    assert report_main(["layers", str(path), "--excluded", str(bad)]) == 2
    assert "needs a reason" in capsys.readouterr().err


def test_command_prints_the_table_and_gates_on_min(tmp_path, capsys):
    ex = tmp_path / "excluded.toml"
    ex.write_text('[Layer]\nreason = "base"\n[TFSMLayer]\nreason = "endpoint"\n')
    path = write(_fake_run(), tmp_path / "results.json")
    assert report_main(["layers", str(path), "--excluded", str(ex), "--min", "66"]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 inference-relevant" in out and "LSTM" in out and "TFSMLayer: endpoint" in out
    assert report_main(["layers", str(path), "--excluded", str(ex), "--min", "90", "--json", "-"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["percent"] == 66.7 and data["covered"] == 2


def test_page_has_a_layers_view(tmp_path):
    from conformance.report.html import page_data, render  # noqa: F401 - page_data: the page stays readable

    html = render(_fake_run())
    assert 'id="layers-table"' in html and 'href="#case-conv"' in html and 'id="case-conv"' in html


def test_layer_library_is_collected_and_tagged():
    mods = builtin_modules()
    assert "cases.layers.merging" in mods and "cases.layers._check" not in mods
    lib = [c for c in load_cases(mods) if c.module.startswith("cases.layers.")]
    assert lib and all(LAYERS_TAG in c.tags for c in lib)




def test_default_tier_runs_the_layer_library_at_opset_18():
    opsets = (9, 11, 13, 15, 17, 18)
    cells = [FakeCell(n, t, o) for n, t in (("seed", ()), ("conv", {LAYERS_TAG})) for o in opsets]
    default = tiered(cells, opsets)
    assert [(c.case.name, c.opset) for c in default if c.case.name == "conv"] == [("conv", 18)]
    assert len([c for c in default if c.case.name == "seed"]) == len(opsets)
    assert tiered(cells, opsets, "full") == cells
    assert layer_opsets((9, 11)) == {11}


WALK = r"""
import json, os
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras
from conformance.checks.layers import model_layers, keras_inventory
x = keras.Input((6, 8))
y = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))(x)
y = keras.layers.MultiHeadAttention(2, 4)(y, y)
y = keras.layers.TimeDistributed(keras.layers.Dense(3))(y)
inv = keras_inventory()
print(json.dumps({"layers": model_layers(keras.Model(x, y)), "conv2d": inv["Conv2D"], "n": len(inv)}))
"""


def test_walk_finds_wrapped_cells_and_sublayers():
    out = subprocess.run([sys.executable, "-c", WALK], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"Bidirectional", "LSTM", "LSTMCell", "MultiHeadAttention", "EinsumDense", "TimeDistributed",
            "Dense", "InputLayer"} <= set(got["layers"])
    assert "Functional" not in got["layers"]
    assert got["conv2d"] == ["Conv2D", "Convolution2D"]
    assert got["n"] > 100


def judged(build) -> str | None:
    """What the worker makes of a layer case whose ``build`` raises: the case's reason why it cannot exist on
    the installed Keras (the cell is NOT_APPLICABLE), or None (the cell is CASE_ERROR)."""
    from cases.layers import not_applicable

    try:
        build()
    except Exception as exc:  # noqa: BLE001 - as the worker does: any exception of a build is judged
        return not_applicable(exc)
    raise AssertionError("the build did not raise")


def test_a_keras_name_the_installed_keras_lacks_makes_the_case_not_applicable():
    """Told apart by the AttributeError's obj and name: a missing keras.layers/activations name is
    NOT_APPLICABLE (the case says why); any other AttributeError of a builder stays an error of the case."""
    import keras


    assert re.search(r"has no keras\.layers\.NoSuchLayer", judged(lambda: keras.layers.NoSuchLayer()))
    assert re.search(r"has no keras\.activations\.no_such_fn", judged(lambda: keras.activations.no_such_fn))

    def other():
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    assert judged(other) is None


def test_an_argument_the_installed_keras_layer_lacks_makes_the_case_not_applicable():
    """Resizing(antialias=True) on Keras 3.8 (no such argument there) is NOT_APPLICABLE, not CASE_ERROR:
    the base Layer's refusal names the argument, and the layer's signature confirms it is not one of its
    own.  An argument the layer has (a ValueError for another reason) stays an error of the case."""
    import keras


    def refuse(arg):
        def build():
            raise ValueError(f"Unrecognized keyword arguments passed to Resizing: {{'{arg}': True}}")
        return build

    assert re.search(r"keras\.layers\.Resizing takes no argument 'antialias_v2'", judged(refuse("antialias_v2")))
    assert judged(refuse("antialias")) is None             # Keras 3.15's Resizing has antialias: not this case
    # the real refusal of the installed Keras, end to end
    assert judged(lambda: keras.layers.Resizing(4, 4, antialias_v2=True))


def test_an_argument_value_the_installed_keras_lacks_makes_the_case_not_applicable():
    """Resizing(interpolation='area') on Keras 3.3 (the value came with Keras 3.4): Keras's own validation
    names the argument and the values it takes, so the case is NOT_APPLICABLE there, saying so; the same
    refusal outside a layer call, or another ValueError, stays an error of the case."""

    keras33 = ("Exception encountered when calling Resizing.call().\n\n\x1b[1mInvalid value for argument "
               "`interpolation`. Expected of one ('bilinear', 'nearest', 'bicubic'). Received: interpolation=area"
               "\x1b[0m\n\nArguments received by Resizing.call():\n  inputs=tf.Tensor(shape=(3, 12, 10, 3))")

    def raising(message):
        def build():
            raise ValueError(message)
        return build

    assert re.search(r"Resizing takes no interpolation='area', only one of \('bilinear', 'nearest', 'bicubic'\)",
                     judged(raising(keras33)))
    assert judged(raising(keras33.split("\n\n", 1)[1])) is None
    assert judged(raising("The last dimension of `query_shape` and `value_shape` must be equal")) is None


def test_what_keras_2_refuses_makes_the_case_not_applicable():
    """How Keras 2.12 to 2.15 refuse what came with Keras 3 (seen on the stacks tf212 to tf215): a constructor
    argument its base Layer does not understand, a keyword a function does not take, `from keras import ops`,
    keras.ops inside a Lambda (re-raised by the layer's call without obj); the refusing layer is named
    from the traceback.  A TypeError of another kind stays an error of the case."""
    import keras


    class Old(keras.layers.Layer):
        def __init__(self, **kwargs):
            raise TypeError("('Keyword argument not understood:', 'rms_scaling')")

    Old.__module__ = "keras.layers.normalization"     # where Keras 2's own layers live
    assert re.search(r"keras\.layers\.Old takes no argument 'rms_scaling'", judged(lambda: Old(rms_scaling=True)))

    def raising(exc):
        def build():
            raise exc
        return build

    for exc, said in [
        (TypeError("Exception encountered when calling layer \"activation_1\" (type Activation). Got an unexpected "
                   "keyword argument 'negative_slope'"), "keras.layers.Activation takes no argument 'negative_slope'"),
        (ImportError("cannot import name 'ops' from 'keras' (/x/keras/__init__.py)"), "has no keras.ops "),
        (AttributeError("Exception encountered when calling layer \"lambda\" (type Lambda). module 'keras' has no "
                        "attribute 'ops'"), "has no keras.ops "),
    ]:
        assert re.search(re.escape(said), judged(raising(exc)))
    assert judged(raising(TypeError("unsupported operand type(s) for +: 'int' and 'str'"))) is None
