"""Keras 3's backends as rows: each converter's cells run in a worker of its backend (KERAS_BACKEND),
and the JAX/PyTorch rows decline what they cannot build.  No TensorFlow: fake cases and converters."""
from __future__ import annotations

from cases.api import KERAS, SAVED_MODEL, TF_KERAS, TF_ONLY_TAG, Case
from conformance.converters.keras_export_backends import KerasExportJax, KerasExportTorch
from conformance.converters.keras_export import KerasExport
from conformance.converters.tf2onnx_cli import Tf2OnnxCli
from conformance.worker.pool import backend_env
from tests import helpers


def _case(**kw) -> Case:
    return Case("c", "f", lambda: None, **kw)


def test_each_backend_gets_its_own_worker_with_keras_backend_set(tmp_path):
    proc, doc = helpers.run_matrix(
        tmp_path / "reports", "--cases-module", "tests/fakes/cases.py",
        "--converters-module", "tests/fakes/backend_converters.py",
        "--converters", "fake-on-default,fake-on-jax,fake-on-torch", "--opsets", "13", "-k", "fake_tiny_1 or fake_tiny_2",
        "--conformance-threads", "1")
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stdout[-3000:]
    seen: dict[str, set] = {}
    for r in doc["records"]:
        assert r["status"] == "PASS", (r["id"], r["reason"])
        assert "tensorflow loaded: False" in r["stages"]["convert"]["command"]
        version = r["facts"]["converter_version"]
        seen.setdefault(r["converter"], set()).add(version.split(" pid=")[0])
        seen.setdefault(r["converter"] + ":pid", set()).add(version.split(" pid=")[1])
    assert seen["fake-on-default"] == {"KERAS_BACKEND=tensorflow OMP_NUM_THREADS=None"}
    assert seen["fake-on-jax"] == {"KERAS_BACKEND=jax OMP_NUM_THREADS=1"}
    assert seen["fake-on-torch"] == {"KERAS_BACKEND=torch OMP_NUM_THREADS=1"}
    # one long-lived worker per backend: the same pid for both cases, a different one per backend
    pids = [seen[f"{c}:pid"] for c in ("fake-on-default", "fake-on-jax", "fake-on-torch")]
    assert all(len(p) == 1 for p in pids) and len(set.union(*pids)) == 3


def test_backend_env():
    assert backend_env("tensorflow", 4) == {"KERAS_BACKEND": "tensorflow"}
    assert backend_env("torch", 2) == {"KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "2"}


def test_backend_rows_decline_tf_keras_tensorflow_only_and_saved_model_cases():
    for conv in (KerasExportJax(), KerasExportTorch()):
        assert conv.accepts(_case()) is None
        assert "tf_keras" in conv.accepts(_case(keras=TF_KERAS))
        assert "TensorFlow-only layers" in conv.accepts(_case(tags=frozenset({TF_ONLY_TAG})))
        assert "SavedModel directory, not a Keras model" in conv.accepts(_case(keras=SAVED_MODEL))
    assert KerasExportJax.backend == "jax" and KerasExportTorch.backend == "torch"
    assert KerasExport.backend == "tensorflow"
    # the TensorFlow rows still take TensorFlow-only cases; tf2onnx-cli takes a SavedModel directory
    assert KerasExport().accepts(_case(keras=KERAS, tags=frozenset({TF_ONLY_TAG}))) is None
    assert Tf2OnnxCli().accepts(_case(keras=SAVED_MODEL)) is None
    assert "SavedModel" in KerasExport().accepts(_case(keras=SAVED_MODEL))
