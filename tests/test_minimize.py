"""The reducer: from a failing cell to the smallest Keras model that fails the same way.

TF-free: what "the same way" means (:func:`failure_key`) and the bisection.  Real: a two-block encoder
with exact GELU, saved outside the checkout, run as a user runs it, then reduced with
``python -m conformance.report minimize``; the smallest model's case module runs through the matrix.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.minimize.graph import Candidate
from conformance.minimize.oracle import failure_key
from conformance.minimize.passes import _bisect
from tests import helpers

HERE = Path(__file__).resolve().parent
MAKE = HERE / "user_models" / "make.py"


def test_the_same_failure_is_the_same_status_stage_and_signature_without_names():
    a = ("onnx.checker (full_check) rejects the model: ValidationError: No Op registered for Erfc with domain_version "
         "of 17 ==> Context: Bad node spec for node. Name: functional_10_1/dense_12_1/Gelu/Erfc OpType: Erfc")
    b = a.replace("functional_10_1/dense_12_1", "functional_1/dense_3")
    assert failure_key("INVALID", "checker", a) == failure_key("INVALID", "checker", b)
    assert failure_key("INVALID", "checker", a) != failure_key("RUNTIME_ERROR", "run", a)
    assert failure_key("INVALID", "checker", a) != failure_key("INVALID", "checker", a.replace("Erfc", "Expm1"))
    # a numeric failure is outputs outside tolerance at the cut's own outputs, whatever the numbers and names
    assert failure_key("MISMATCH", "compare", "dense_3: 5/6 elements") == failure_key("MISMATCH", "compare", "lstm: 1/2")


def test_the_same_failure_does_not_depend_on_the_explanation_or_on_how_many_names_a_list_holds():
    whole = ("onnxruntime failed to run the model: ValueError: Required inputs (['functional_N/norm/Sqrt/x:N', "
             "'functional_N/norm/Add/x:N']) are missing from input feed (['x']).; first divergent layer: norm (bisect)")
    cut = "onnxruntime failed to run the model: ValueError: Required inputs (['functional_N_N/norm/Sqrt/x:N']) are " \
          "missing from input feed (['x'])."
    assert failure_key("RUNTIME_ERROR", "run", whole) == failure_key("RUNTIME_ERROR", "run", cut)
    assert failure_key("RUNTIME_ERROR", "run", cut) != failure_key("RUNTIME_ERROR", "run", "Required outputs")


def test_a_candidate_changes_one_setting_or_size_at_a_time():
    c = Candidate((1,)).with_setting(3, "units", 8).with_setting(3, "units", 2).with_size(7, 1, 4)
    assert c.setting(3, "units", 64) == 2 and c.setting(3, "filters", 16) == 16
    assert c.size(7, 1, 10) == 4 and c.size(7, 2, 10) == 10
    assert len(c.settings) == 1 and hash(c) == hash(Candidate((1,)).with_setting(3, "units", 2).with_size(7, 1, 4))


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return pytest.importorskip("keras")


def test_nested_models_are_opened_into_their_layers_and_a_cut_can_fall_inside_one():
    """A backbone (functional) and a block (Sequential) inside a model: their layers are the graph's nodes, the
    recorded values are the model's, and a cut inside the backbone builds and computes the same outputs."""
    import numpy as np

    keras = _keras()
    from conformance.minimize.graph import Graph

    bi = keras.Input((8,), name="bi")
    backbone = keras.Model(bi, keras.layers.Dense(6, activation="relu")(keras.layers.Dense(5)(bi)), name="backbone")
    block = keras.Sequential([keras.layers.Dense(4), keras.layers.Activation("gelu")], name="block")
    x = keras.Input((8,), name="x")
    model = keras.Model(x, keras.layers.Dense(2)(block(backbone(x))))
    g = Graph(model)
    assert [type(n.layer).__name__ for n in g.nodes] == ["Dense", "Dense", "Dense", "Activation", "Dense"]
    assert g.opened == ["Functional(backbone)", "Sequential(block)"] and g.kept_whole == []
    data = np.random.default_rng(0).random((3, 8), dtype=np.float32)
    g.record([data])
    want = np.asarray(model(data))
    np.testing.assert_allclose(g.values[g.output_ids[0]], want, rtol=1e-6)
    cut = Candidate(tuple(g.output_ids), cuts=(g.nodes[1].outputs[0],))
    small, arrays = g.build(cut)
    assert g.describe(cut) == "Dense(dense_2), Activation(activation), Dense(dense_3)" or len(g.layers_in(cut)) == 3
    np.testing.assert_allclose(np.asarray(small(arrays[0])), want, rtol=1e-5)
    # a nested model called twice is kept whole the second time, and the reduction says so
    twice = keras.Model(x, keras.layers.Add()([backbone(x), backbone(x)]))
    g2 = Graph(twice)
    assert len(g2.kept_whole) == 1 and "called more than once" in g2.kept_whole[0]


def test_smaller_settings_and_inputs_keep_the_leading_slice_of_the_original_weights_and_values():
    import numpy as np

    keras = _keras()
    from conformance.minimize.graph import CutError, Graph

    x = keras.Input((10, 6), name="x")
    h = keras.layers.Conv1D(16, 3, padding="same", groups=2)(x)
    y = keras.layers.Dense(4)(keras.layers.Dense(32, activation="relu")(h))
    model = keras.Model(x, y)
    g = Graph(model)
    g.record([np.random.default_rng(1).random((3, 10, 6), dtype=np.float32)])
    c = Candidate(tuple(g.output_ids))
    assert (1, "units", 32) in g.settings_of(c) and (0, "groups", 2) in g.settings_of(c)
    small = c.with_setting(1, "units", 2).with_size(g.input_ids[0], 1, 4)
    built, arrays = g.build(small)
    assert arrays[0].shape == (3, 4, 6) and tuple(built.outputs[0].shape) == (None, 4, 4)
    dense = [layer for layer in built.layers if isinstance(layer, keras.layers.Dense)]
    np.testing.assert_array_equal(np.asarray(dense[0].kernel), np.asarray(model.layers[2].kernel)[:, :2])
    np.testing.assert_array_equal(np.asarray(dense[1].kernel), np.asarray(model.layers[3].kernel)[:2, :])
    assert g.describe_smaller(small) == ["Dense(dense).units 32 -> 2", "input x axis 1: 10 -> 4"] or \
        g.describe_smaller(small)[1] == "input x axis 1: 10 -> 4"
    with pytest.raises(CutError, match="cannot be made"):   # 3 filters in 2 groups: Keras refuses, said in one line
        g.build(c.with_setting(0, "filters", 3))


def test_a_candidate_as_a_spec_is_the_same_candidate_in_a_model_built_again():
    """A model Keras cannot save and load back is reduced through specs: tensors by position, rebuilt from the
    original case in the worker.  The same spec on the same model built again (same seeds) is the same model."""
    import numpy as np

    keras = _keras()
    from conformance.minimize.graph import Graph

    def made():
        keras.utils.set_random_seed(7)
        x = keras.Input((6,), name="x")
        h = keras.layers.Dense(8, activation="relu")(x)
        return keras.Model(x, keras.layers.Dense(3)(keras.layers.Dense(5)(h)))

    data = np.random.default_rng(2).random((3, 6), dtype=np.float32)
    first, again = Graph(made()), Graph(made())
    first.record([data])
    again.record([data])
    c = Candidate((first.nodes[1].outputs[0],), cuts=(first.nodes[0].outputs[0],)).with_setting(1, "units", 2)
    spec = first.to_spec(c)
    assert spec == {"outputs": [[1, 0]], "cuts": [[0, 0]], "skipped": [], "settings": [[1, "units", 2]], "sizes": []}
    both = c.with_size(first.input_ids[0], 1, 3).with_size(first.nodes[0].outputs[0], 1, 4)   # inputs and cuts mixed
    assert first.from_spec(first.to_spec(both)) == both
    a, arrays_a = first.build(c)
    b, arrays_b = again.build(again.from_spec(json.loads(json.dumps(spec))))
    np.testing.assert_array_equal(arrays_a[0], arrays_b[0])
    np.testing.assert_allclose(np.asarray(a(arrays_a[0])), np.asarray(b(arrays_b[0])), rtol=1e-6)


def test_cutting_the_head_keeps_a_second_input_and_makes_the_hidden_states_one():
    """An encoder layer takes its hidden states and the model's padding mask: the head is cut before it, the hidden
    states become an input fed their recorded values, the mask stays the model's input."""
    import numpy as np

    keras = _keras()
    from conformance.minimize.graph import Graph
    from conformance.minimize.passes import cut_head

    x, mask = keras.Input((5,), name="x"), keras.Input((5,), name="mask")
    hidden = keras.layers.Dense(5)(keras.layers.Dense(5)(x))
    model = keras.Model([x, mask], keras.layers.Dense(2)(keras.layers.Multiply()([hidden, mask])))
    g = Graph(model)
    g.record([np.random.default_rng(3).random((3, 5), dtype=np.float32), np.ones((3, 5), np.float32)])
    asked = []

    def judge(c):
        asked.append(c)
        return "Multiply" in g.describe(c)

    small = cut_head(g, Candidate(tuple(g.output_ids)), judge)
    assert g.describe(small) == "Multiply(multiply), Dense(dense_3)" or g.describe(small).startswith("Multiply(")
    built, arrays = g.build(small)
    assert [i.name for i in built.inputs][0] == "mask" and len(arrays) == 2
    np.testing.assert_allclose(arrays[1], g.values[g.nodes[1].outputs[0]])
    assert len(asked) <= 3


def test_the_models_tiers_minimised_cases_are_data_that_kept_their_failure_and_a_cause_names_each():
    """cases/models/minimized/<architecture>/: the reducer's output (docs/minimize.md's table), one folder an
    architecture, the same failure kept; its min_<architecture> case is in the scope of the cause that explains
    the architecture's cells."""
    from conformance.causes import load

    root = HERE.parent / "cases" / "models" / "minimized"
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    assert len(folders) >= 16
    registry = load(HERE.parent / "causes.toml")
    named = {g for c in registry for part in c.scopes for g in part.cases or ()}
    for folder in folders:
        summary = json.loads((folder / "reduction.json").read_text())
        assert summary["same"] and summary["case"] == folder.name, folder.name
        assert summary["layers_after"] <= 2 < summary["layers_before"] or summary["layers_after"] == 1, summary["line"]
        has_file = (folder / "model.keras").is_file() and (folder / "inputs.npz").is_file()
        assert has_file or (folder / "spec.json").is_file(), folder.name
        assert not list(folder.glob("*.py")), f"{folder.name}: data only (cases/ imports nothing of conformance/)"
        assert f"min_{folder.name}" in named, f"no cause names min_{folder.name}"


@pytest.mark.parametrize("first_failing", [0, 3, 9])
def test_bisection_finds_the_earliest_and_the_latest_failing_point(first_failing):
    points = list(range(10))
    asked = []

    def fails(p):
        asked.append(p)
        return p >= first_failing

    assert _bisect(points, fails, earliest=True) == first_failing
    assert len(asked) <= 4
    assert _bisect(points, lambda p: p <= first_failing, earliest=False) == first_failing
    assert _bisect(points, lambda p: False, earliest=True) is None


def test_a_two_block_encoder_with_exact_gelu_reduces_to_the_gelu_dense(tmp_path):
    work = tmp_path / "user"
    work.mkdir()
    made = subprocess.run([sys.executable, str(MAKE), str(work), "encoder_two_blocks"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert made.returncode == 0, made.stderr[-2000:]
    proc = helpers.run_pytest("--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--report-dir",
                              str(work / "reports"), "--model", "encoder_two_blocks.keras", "--inputs",
                              "encoder_two_blocks.npz", "--converters", "tf2onnx-keras", "--opsets", "17",
                              cwd=work, timeout=600)
    results = work / "reports" / "results.json"
    assert results.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    cell = "encoder_two_blocks-tf2onnx-keras-opset17"
    out = tmp_path / "min"
    red = helpers.run_module("conformance.report", "minimize", cell, str(results), "--out", str(out), "--budget", "300",
                             cwd=work, timeout=600)
    assert red.returncode == 0, red.stdout[-3000:] + red.stderr[-3000:]
    assert "layers -> 1 layer(s) (Dense(" in red.stdout or "layers -> 2 layer(s)" in red.stdout, red.stdout[-2000:]
    for name in ("model.keras", "inputs.npz", "case.py", "report.md", "repro/repro.py"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "No Op registered for Erfc" in report and "NOT the same failure" not in report
    # the smallest model's case module runs through the matrix, and the registry names its failure
    proc = helpers.run_matrix(tmp_path / "again", "--cases-module", str(out / "case.py"), "--converters",
                              "tf2onnx-keras", "--opsets", "17", "-k", "min_encoder_two_blocks", timeout=600)[0]
    doc = json.loads((tmp_path / "again" / "results.json").read_text())
    (rec,) = doc["records"]
    assert (rec["case"], rec["observed_status"], rec["cause"]) == ("min_encoder_two_blocks", "INVALID", "erfc"), rec["reason"]
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.deep
def test_a_converter_that_crashes_on_one_layer_is_reduced_to_that_layer_by_the_run_itself(tmp_path):
    """``--minimize``: after the run, the unexplained CRASH cell is reduced (the oracle runs candidates in the worker
    pool: each crash costs a worker, never the reducer); the record and the page say where the smallest model is."""
    made = subprocess.run([sys.executable, str(MAKE), str(tmp_path), "softsign_stack"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert made.returncode == 0, made.stderr[-2000:]
    crashing = HERE / "fakes" / "crashing_converter.py"
    proc = helpers.run_pytest("--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--report-dir",
                              str(tmp_path / "reports"), "--model", "softsign_stack.keras", "--inputs", "softsign_stack.npz",
                              "--converters-module", str(crashing), "--converters", "crash-on-softsign", "--opsets", "17",
                              "--minimize", "300", cwd=tmp_path, timeout=900)
    doc = json.loads((tmp_path / "reports" / "results.json").read_text())
    (rec,) = doc["records"]
    assert rec["observed_status"] == "CRASH", proc.stdout[-2000:]
    assert rec["minimized"]["path"] == "minimized/softsign_stack-crash-on-softsign-opset17", rec.get("minimized")
    assert "5 layers -> 1 layer(s) (Activation(" in rec["minimized"]["line"]
    out = tmp_path / "reports" / rec["minimized"]["path"]
    assert "CRASH at isolation" in (out / "report.md").read_text() and (out / "case.py").is_file()
    assert not (out / ".work").exists()
    assert "minimized 1 of 1 unexplained failing cell(s)" in proc.stdout
    assert proc.returncode == 1   # the CRASH itself stays an unexplained failure


@pytest.mark.deep
def test_a_converter_that_hangs_on_one_layer_is_reduced_to_that_layer(tmp_path):
    """A converter that never returns on one layer: each hanging candidate is a TIMEOUT cell (the worker is
    replaced), the reduction finishes within its budget and keeps the one layer."""
    made = subprocess.run([sys.executable, str(MAKE), str(tmp_path), "softsign_stack"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert made.returncode == 0, made.stderr[-2000:]
    hanging = HERE / "fakes" / "crashing_converter.py"
    helpers.run_pytest("--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--report-dir", str(tmp_path / "reports"),
                       "--model", "softsign_stack.keras", "--inputs", "softsign_stack.npz", "--converters-module",
                       str(hanging), "--converters", "hang-on-softsign", "--opsets", "17", "--cell-timeout", "20",
                       cwd=tmp_path, timeout=900)
    results = tmp_path / "reports" / "results.json"
    (rec,) = json.loads(results.read_text())["records"]
    assert rec["observed_status"] == "TIMEOUT", rec.get("reason")
    out = tmp_path / "min"
    red = helpers.run_module("conformance.report", "minimize", rec["id"], str(results), "--out", str(out), "--budget",
                             "400", cwd=tmp_path, timeout=900)
    assert red.returncode == 0, red.stdout[-3000:] + red.stderr[-3000:]
    assert "5 layers -> 1 layer(s) (Activation(" in red.stdout, red.stdout[-2000:]
    summary = json.loads((out / "reduction.json").read_text())
    assert summary["same"] and summary["final"].startswith("TIMEOUT"), summary
