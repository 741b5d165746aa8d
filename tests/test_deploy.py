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


def _server_run(tmp_path, server, name, model, expected=None):
    x = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], dtype="float32")
    want = np.maximum(x, 0) if expected is None else expected
    return deploy.check(model, ["y"], [{"x": x}], [[want]], tmp_path / name, 1, server=server)


def test_server_answers_many_models_from_one_process(tmp_path):
    server = deploy.DeployServer(1, tmp_path / "child.log")
    try:
        first = _server_run(tmp_path, server, "a", _model())
        pid = server.proc.pid
        wrong = _server_run(tmp_path, server, "b", _model(), expected=np.zeros((2, 3), "float32"))
        third = _server_run(tmp_path, server, "c", _model())
        assert first["ok"] and third["ok"] and first["forbidden_modules_loaded"] == []
        assert not wrong["ok"] and "differ" in wrong["error"]
        assert server.proc.pid == pid  # one interpreter for all three
    finally:
        server.close()


def test_server_that_dies_fails_one_request_and_is_restarted(tmp_path):
    server = deploy.DeployServer(1, tmp_path / "child.log")
    try:
        assert _server_run(tmp_path, server, "a", _model())["ok"]
        pid = server.proc.pid
        server.proc.kill()
        server.proc.wait()
        assert _server_run(tmp_path, server, "b", _model())["ok"] and server.proc.pid != pid  # restarted
        # a child that dies while it holds a request (a segfault inside onnxruntime): that request fails
        server.proc = deploy.subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.readline(); sys.exit(3)"],
            stdin=deploy.subprocess.PIPE, stdout=deploy.subprocess.PIPE, bufsize=0)
        died = _server_run(tmp_path, server, "c", _model())
        assert not died["ok"] and "exit code 3" in died["error"]
        assert _server_run(tmp_path, server, "d", _model())["ok"]
    finally:
        server.close()


def test_server_that_hangs_is_killed_at_the_timeout(tmp_path, monkeypatch):
    server = deploy.DeployServer(1, tmp_path / "child.log")
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setattr(deploy.sys, "executable", sys.executable)
    server.proc = deploy.subprocess.Popen([sys.executable, str(hang)], stdin=deploy.subprocess.PIPE,
                                          stdout=deploy.subprocess.PIPE, bufsize=0)
    answer, error = server.ask(tmp_path, timeout=1.0)
    assert answer is None and "more than 1 s" in error and server.proc is None
