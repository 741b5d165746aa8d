"""ORT-only deployability: the child process reproduces outputs, flags what it cannot serve, loads no TF."""
import sys

import numpy as np
import pytest

from conformance.checks import deploy, deploy_child

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def _model(domain: str = "", op: str = "Relu", opset: int = 13) -> bytes:
    node = helper.make_node(op, ["x"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=imports, ir_version=8).SerializeToString()


def _run(tmp_path, model, expected=None, domains=()):
    x = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], dtype="float32")
    want = np.maximum(x, 0) if expected is None else expected
    return deploy.check(model, ["y"], [{"x": x}, {"x": x[:1]}], [[want], [want[:1]]], tmp_path / "d", 1, domains)


def test_reproduces_outputs_without_tensorflow(tmp_path):
    fact = _run(tmp_path, _model())
    assert fact["ok"] is True, fact
    assert fact["identical"] is True and fact["max_abs_diff"] == 0.0
    assert fact["forbidden_modules_loaded"] == []
    assert fact["error"] is None


def test_different_outputs_are_flagged(tmp_path):
    wrong = np.full((2, 3), 7.0, dtype="float32")
    fact = _run(tmp_path, _model(), expected=wrong)
    assert fact["ok"] is False
    assert fact["identical"] is False and fact["max_abs_diff"] == pytest.approx(7.0)
    assert "differ" in fact["error"]


def test_unregistered_custom_domain_is_flagged(tmp_path):
    fact = _run(tmp_path, _model(domain="ai.onnx.contrib", op="StringRegexReplace"), domains=["ai.onnx.contrib"])
    assert fact["ok"] is False
    assert "cannot load" in fact["error"]
    assert fact["unregistered_domains"] == ["ai.onnx.contrib"]


def test_builtin_domains_are_not_unregistered():
    assert deploy.unregistered_domains(["com.microsoft", "ai.onnx.ml", "ai.onnx.converters.tensorflow"]) == \
        ["ai.onnx.converters.tensorflow"]


def test_child_loading_tensorflow_is_caught(tmp_path, monkeypatch, capsys):
    """A child that ends with a forbidden module loaded fails, whatever its outputs were."""
    import json

    for name in [m for m in sys.modules if m.split(".")[0] in deploy_child.FORBIDDEN_MODULES]:
        monkeypatch.delitem(sys.modules, name)  # loaded by another test of this process: not the child's doing
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    monkeypatch.setattr(deploy_child, "_child", lambda folder, threads: {"ok": True, "error": None})
    assert deploy_child.main([str(tmp_path), "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ok"] is False and result["forbidden_modules_loaded"] == ["tensorflow"]


def test_mode_from_env(monkeypatch):
    monkeypatch.delenv("CONFORMANCE_DEPLOY", raising=False)
    assert deploy.mode_from_env() == "once"
    monkeypatch.setenv("CONFORMANCE_DEPLOY", "ALL")
    assert deploy.mode_from_env() == "all"
    monkeypatch.setenv("CONFORMANCE_DEPLOY", "sometimes")
    with pytest.raises(deploy.DeployConfigError, match="CONFORMANCE_DEPLOY"):
        deploy.mode_from_env()


@pytest.mark.parametrize("mode, checked", [("once", [True, False]), ("all", [True, True]), ("off", [None, None])])
def test_cell_fact_policy(tmp_path, monkeypatch, mode, checked):
    monkeypatch.setenv("CONFORMANCE_DEPLOY", mode)
    calls = []
    monkeypatch.setattr(deploy, "check", lambda *a, **k: calls.append(a) or {"ok": True})
    memo = {}
    got = [deploy.cell_fact(memo, ("m", "case", "conv"), opset, b"", ["y"], [], tmp_path, 1) for opset in (13, 15)]
    assert [None if g is None else g["checked"] for g in got] == checked
    assert len(calls) == sum(1 for c in checked if c)
    if mode == "once":
        assert got[1]["checked_at_opset"] == 13
