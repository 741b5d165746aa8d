"""Security of a run: markup stays text in the report, no network, temporary files kept and removed.

Real `pytest conformance/` runs over the TF-free fakes of tests/fakes/ (see test_reliability.py).
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from conformance.worker import guard
from conformance.run import results
from tests.report_fakes import doc as fake_doc
from tests.report_fakes import rec as fake_rec
from tests.helpers import ROOT, run_module
from tests.test_reliability import run_conformance

RAW_MARKUP = ["<script>alert(", "<img src=x", "<b>friends</b>", "<b>bold</b>"]
UNREACHABLE = ("192.0.2.1", 9)  # TEST-NET-1: never routed


def render(results_path: Path, out: Path) -> str:
    proc = run_module("conformance.report", "html", results_path, "-o", out, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return out.read_text(encoding="utf-8")


def _script_tags(html: str) -> int:
    return len(re.findall(r"<script\b", html, flags=re.I))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    report = tmp_path_factory.mktemp("hostile")
    proc = run_conformance(report, "--converters", "fake-ok,fake-raises,fake-network,fake-tempfile",
                           "-k", "fake_tiny- or fake_builder_raises-fake-ok")
    doc = results.load(report / results.RESULTS)
    return proc, {r["id"]: r for r in doc["records"]}, report


# -- markup in names, descriptions and errors is text ----------------------------------------------
def test_markup_in_errors_and_descriptions_is_shown_as_text(hostile_run, tmp_path):
    _, records, report = hostile_run
    assert "<script>" in records["fake_tiny-fake-raises-opset13"]["reason"]      # the record keeps it verbatim
    assert "<img src=x" in records["fake_builder_raises-fake-ok-opset13"]["reason"]
    html = render(report / results.RESULTS, tmp_path / "page.html")
    clean = render(_without_markup(report / results.RESULTS, tmp_path), tmp_path / "clean.html")
    for raw in RAW_MARKUP:
        assert raw not in html, raw
    assert "&lt;script&gt;alert(" in html
    # a reason lives in the page's embedded data (gzip + base64, rendered with textContent on click)
    from conformance.report.html import page_data

    assert "<img src=x onerror=alert(1)>" in json.dumps(page_data(html), ensure_ascii=False)
    assert _script_tags(html) == _script_tags(clean)  # only the page's own scripts


def _without_markup(path: Path, tmp_path: Path) -> Path:
    doc = json.loads(path.read_text())
    text = json.dumps(doc)
    for raw in ("<script>", "</script>", "<img", "<b>", "</b>"):
        text = text.replace(raw, "")
    out = tmp_path / "clean.json"
    out.write_text(text)
    return out


def test_a_tampered_results_file_cannot_inject_markup(tmp_path):
    evil = '<script>alert("name")</script>'
    records = [fake_rec(f"case{evil}", 'conv"><img src=x onerror=alert(2)>', 13, "CONVERT_ERROR",
                        reason=f"boom {evil}", family=f"fam{evil}", description=f"desc {evil}",
                        converter_summary=f"summary {evil}"),
               fake_rec("plain", "conv", 13, "PASS")]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(fake_doc(records)))
    html = render(path, tmp_path / "evil.html")
    clean_path = tmp_path / "clean.json"
    clean_path.write_text(json.dumps(fake_doc([fake_rec("plain", "conv", 13, "PASS")])))
    clean = render(clean_path, tmp_path / "clean.html")
    assert 'alert("name")</script>' not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert _script_tags(html) == _script_tags(clean)


# -- no network --------------------------------------------------------------------------------
def test_a_converter_that_connects_is_refused_and_the_cell_says_so(hostile_run):
    _, records, _ = hostile_run
    rec = records["fake_tiny-fake-network-opset13"]
    assert rec["status"] == "CONVERT_ERROR"
    assert "NetworkAccessDenied" in rec["reason"] and "192.0.2.1" in rec["reason"] and "not allowed" in rec["reason"]


def test_the_tests_themselves_cannot_connect():
    # tests/conftest.py installs the guard for this process: any test that touches the network fails
    with pytest.raises(guard.NetworkAccessDenied):
        socket.create_connection(UNREACHABLE, timeout=2)


def test_loopback_stays_usable():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_converter_subprocesses_run_guarded(tmp_path):
    # what tf2onnx-cli does: `python -m conformance.worker.guard tf2onnx.convert ...` keeps the guard in the child
    (tmp_path / "connects.py").write_text(
        "import socket\nsocket.create_connection(('192.0.2.1', 9), timeout=3)\nprint('connected')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{ROOT}", "CONFORMANCE_NO_NETWORK": "1"}
    proc = subprocess.run(guard.command("connects"), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "connected" not in proc.stdout
    assert "NetworkAccessDenied" in proc.stderr and "not allowed" in proc.stderr


def test_guard_runner_usage_is_one_line():
    proc = run_module("conformance.worker.guard", timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("usage:")


# -- temporary files -----------------------------------------------------------------------------
def test_temporary_files_stay_in_the_run_directory_and_are_removed(hostile_run):
    _, records, report = hostile_run
    command = records["fake_tiny-fake-tempfile-opset13"]["stages"]["convert"]["command"]
    found = dict(part.split("=", 1) for part in command.split())
    work = (report / ".work").resolve()
    for key in ("tempfile", "workdir"):
        path = Path(found[key]).resolve()
        assert work in path.parents, f"{key} {path} is outside the run's directory {work}"
        assert not path.exists(), f"{key} {path} was not removed at the end of the run"
    assert not work.exists() or not any(work.iterdir()), sorted(p.name for p in work.iterdir())
