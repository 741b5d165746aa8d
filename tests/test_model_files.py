"""``--model PATH`` / ``--inputs FILE.npz``: saved models as cases.

The first tests are TF-free (paths, names, references, .npz checks against given specs, usage
errors that stop the run before anything starts).  The others run real saved models (written by
tests/model_files.py in a subprocess) through real converters at opset 13.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cases import files
from cases.api import KERAS, SAVED_MODEL
from conformance.run.options import OptionError, parse_models
from tests import helpers


# --- TF-free -------------------------------------------------------------------------------------

def test_kind_name_and_reference(tmp_path):
    keras_file = tmp_path / "my model-v2.keras"
    keras_file.write_bytes(b"x")
    sm = tmp_path / "exported"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(b"x")
    assert files.kind_of(keras_file) == ".keras" and files.kind_of(sm) == "saved_model"
    assert files.case_name(keras_file) == "my_model-v2".replace("-", "_") and files.case_name(sm) == "exported"
    assert files.flavour_of(sm) == SAVED_MODEL
    assert files.flavour_of(keras_file) == KERAS  # unreadable metadata: Keras decides when it loads the file
    ref = files.ref_for(keras_file, tmp_path / "in.npz")
    assert files.is_ref(ref) and files.parse_ref(ref) == (str(keras_file), str(tmp_path / "in.npz"))
    case = files.case_for(files.ref_for(sm))
    assert (case.name, case.keras, case.source, case.family) == ("exported", SAVED_MODEL, str(sm), "model-file")


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.keras", "no such file or directory"),
    (lambda d: (d / "weights.pt").write_bytes(b"x") and d / "weights.pt", "not a .keras or .h5 file nor a SavedModel"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "a directory without saved_model.pb"),
])
def test_bad_model_paths_are_one_line(tmp_path, make, message):
    with pytest.raises(OptionError, match=message) as err:
        parse_models([str(make(tmp_path))], [])
    assert "\n" not in str(err.value)


def test_inputs_pair_with_models_in_order(tmp_path):
    a, b = tmp_path / "a.keras", tmp_path / "sub" / "a.keras"
    b.parent.mkdir()
    for p in (a, b):
        p.write_bytes(b"x")
    npz = tmp_path / "a.npz"
    np.savez(npz, x=np.zeros((1, 2), "float32"))
    refs = parse_models([str(a)], [str(npz)])
    assert refs == (f"model:{a}|{npz}",)
    with pytest.raises(OptionError, match="2 .npz file.* for 1 --model"):
        parse_models([str(a)], [str(npz), str(npz)])
    with pytest.raises(OptionError, match="no such file"):
        parse_models([str(a)], [str(tmp_path / "nope.npz")])
    with pytest.raises(OptionError, match="also the name of"):
        parse_models([str(a), str(b)], [])


SPECS = [("features", (None, 8), "float32"), ("ids", (None, 3), "int32")]


def _npz(tmp_path, **arrays) -> str:
    path = tmp_path / "in.npz"
    np.savez(path, **arrays)
    return str(path)


def test_npz_arrays_in_input_order_and_every_mismatch_named(tmp_path):
    f = np.zeros((4, 8), "float32")
    i = np.zeros((4, 3), "int32")
    got = files.npz_arrays(_npz(tmp_path, ids=i, features=f), SPECS)
    assert [a.shape for a in got] == [(4, 8), (4, 3)]
    cases = [
        (dict(features=f), r"has arrays \['features'\]; the model's inputs are \['features', 'ids'\]"),
        (dict(features=f.astype("float64"), ids=i), "array 'features' is float64, the model's input 'features' takes float32"),
        (dict(features=f[:, :5], ids=i), r"array 'features' has shape \(4, 5\), the model's input 'features' is \(None, 8\)"),
        (dict(features=f, ids=i[:2]), "different batch sizes"),
    ]
    for arrays, message in cases:
        with pytest.raises(files.ModelFileError, match=message) as err:
            files.npz_arrays(_npz(tmp_path, **arrays), SPECS)
        assert "\n" not in str(err.value)
    (tmp_path / "junk.npz").write_bytes(b"not numpy")
    with pytest.raises(files.ModelFileError, match="not a readable .npz file"):
        files.npz_arrays(str(tmp_path / "junk.npz"), SPECS)


def _one_error_line(proc) -> str:
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_missing_model_path_stops_the_run_with_one_line(tmp_path):
    proc, doc = helpers.run_matrix(tmp_path / "reports", "--model", str(tmp_path / "nope.keras"), timeout=120)
    assert _one_error_line(proc) == f"ERROR: --model {tmp_path / 'nope.keras'}: no such file or directory"
    assert doc is None and not (tmp_path / "reports").exists()


# --- real saved models ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    import importlib.util

    if importlib.util.find_spec("keras") is None:  # (importing it here would load TensorFlow into the tests)
        pytest.skip("keras is not installed")
    from tests.helpers import model_files

    return model_files(Path(__file__).with_name("model_files.py"), tmp_path_factory.mktemp("saved_models"))


@pytest.mark.parametrize("npz, message", [
    ("wrong_name.npz", "--model trained_mlp.keras: --inputs wrong_name.npz has arrays ['x']; the model's inputs are "
                       "['features'] (features float32 (None, 8))"),
    ("wrong_dtype.npz", "--model trained_mlp.keras: --inputs wrong_dtype.npz: array 'features' is float64, the "
                        "model's input 'features' takes float32"),
    ("wrong_shape.npz", "--model trained_mlp.keras: --inputs wrong_shape.npz: array 'features' has shape (4, 5), "
                        "the model's input 'features' is (None, 8)"),
])
def test_npz_that_does_not_fit_the_model_stops_the_run_with_one_line(saved, tmp_path, npz, message):
    proc, doc = helpers.run_matrix(tmp_path / "reports", "--model", str(saved / "trained_mlp.keras"),
                                   "--inputs", str(saved / npz), "--converters", "tf2onnx-keras", "--opsets", "13",
                                   timeout=300)
    assert _one_error_line(proc) == f"ERROR: {message}"
    assert doc is None


def test_saved_models_run_through_the_rows_with_their_real_weights(saved, tmp_path):
    """The trained .keras (fed good.npz), its .h5 and its SavedModel, and a file that does not load."""
    rows = "tf2onnx-keras,tf2onnx-cli,keras-export,tf2onnx-graphdef-functional"
    proc, doc = helpers.run_matrix(
        tmp_path / "reports", "--model", str(saved / "trained_mlp.keras"), "--inputs", str(saved / "good.npz"),
        "--model", str(saved / "trained_mlp_savedmodel"), "--model", str(saved / "trained_mlp_h5.h5"),
        "--model", str(saved / "broken.keras"), "--converters", rows, "--opsets", "13", timeout=600)
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = {(r["case"], r["converter"]): r for r in doc["records"]}
    assert {c for c, _ in got} == {"trained_mlp", "trained_mlp_savedmodel", "trained_mlp_h5", "broken"}
    for conv in rows.split(","):
        assert got["trained_mlp", conv]["status"] == "PASS", got["trained_mlp", conv]["reason"]
        assert got["trained_mlp_h5", conv]["status"] == "PASS", got["trained_mlp_h5", conv]["reason"]
    # the .npz rows, then its first row alone; generated inputs: 3 rows, then 1
    assert got["trained_mlp", "tf2onnx-keras"]["stages"]["build"]["batches"] == [4, 1]
    assert got["trained_mlp_h5", "tf2onnx-keras"]["stages"]["build"]["batches"] == [3, 1]
    assert got["trained_mlp", "tf2onnx-keras"]["family"] == "model-file"
    sm = {conv: got["trained_mlp_savedmodel", conv] for conv in rows.split(",")}
    assert sm["tf2onnx-cli"]["status"] == "PASS", sm["tf2onnx-cli"]["reason"]
    assert sm["tf2onnx-graphdef-functional"]["status"] == "PASS", sm["tf2onnx-graphdef-functional"]["reason"]
    assert "SavedModel directory as given" in sm["tf2onnx-cli"]["stages"]["convert"]["command"]
    for conv in ("tf2onnx-keras", "keras-export"):
        assert sm[conv]["status"] == "NOT_APPLICABLE"
        assert "TensorFlow SavedModel directory, not a Keras model" in sm[conv]["reason"]
    # the same trained weights answer the same way through every format
    ref = got["trained_mlp", "tf2onnx-cli"]["facts"]["max_abs_error"]
    assert ref < 1e-5 and sm["tf2onnx-cli"]["facts"]["max_abs_error"] < 1e-5
    broken = got["broken", "tf2onnx-keras"]
    assert broken["status"] == "CASE_ERROR" and broken["stage"] == "build"
    assert "broken.keras" in broken["reason"] or "zip" in broken["reason"].lower(), broken["reason"]
    assert proc.returncode == 1  # the CASE_ERROR cells fail the run
    # the built-in cases are out of this run on purpose: their causes are not stale (stale means the run
    # covered a cause with its converter available and nothing matched it)
    assert doc["stale_causes"] == []
