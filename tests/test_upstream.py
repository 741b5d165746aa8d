"""Drafted upstream reports (``python -m conformance.report upstream``) and the registry's promise: every cause that
is a converter's or runtime's bug without an upstream issue or pull request has a draft in docs/upstream/, built
from its minimised case, whose repro was run alone outside the checkout and showed the failure.

TF-free: the drafts are read as files (their ``## Checked`` section is what the command wrote after running the
repro); ``python -m conformance.report upstream --check docs/upstream/X.md`` runs one again on a stack that has it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.causes import load, parse
from conformance.report import upstream
from conformance.statuses import BUG_KINDS

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = load(ROOT / "conformance" / "causes.toml")
OWING = [c for c in REGISTRY if c.owes_report]


def _cause(kind: str, link: str):
    return parse({"cause": [{"id": "x", "title": "t", "kind": kind, "signature": "s", "converters": "tf2onnx-keras",
                             "link": link, "reason": "r", "report": "docs/upstream/x.md" if link == "not reported" else ""}]})[0]


@pytest.mark.parametrize("kind, link, owes", [
    ("invalid graph", "https://github.com/onnx/tensorflow-onnx/issues/2099", False),
    ("runtime error", "https://github.com/onnx/tensorflow-onnx/pull/2241", False),
    ("silent wrong answer", "https://github.com/onnx/tensorflow-onnx/blob/main/tf2onnx/onnx_opset/nn.py", True),
    ("conversion error", "https://github.com/enpasos/jax2onnx", True),
    ("invalid graph", "not reported", True),
    ("unavailable", "https://github.com/onnx/keras-onnx", False),
    ("case error", "https://github.com/keras-team/keras/blob/master/x.py", False),
])
def test_a_bug_cause_without_an_upstream_issue_or_pull_request_owes_a_report(kind, link, owes):
    assert _cause(kind, link).owes_report is owes


def test_the_registry_links_a_draft_for_every_cause_that_owes_one_and_each_draft_was_checked():
    assert len(OWING) >= 26
    for c in OWING:
        assert c.kind in BUG_KINDS
        assert c.report == f"docs/upstream/{c.id}.md", f"{c.id}: report = {c.report!r}"
        text = (ROOT / c.report).read_text(encoding="utf-8")
        assert upstream.repro_of(text), f"{c.report}: no inline repro under {upstream.REPRO_HEADING!r}"
        if text.startswith(upstream.MARK):   # drafted by the command: it ran the repro alone and wrote what it printed
            checked = text[text.index(upstream.CHECK_HEADING):]
            assert "It shows the failure" in checked, f"{c.report}: its repro, run alone, did not show the failure"
            printed = re.search(r"```\n(.*?)\n```", checked, re.S).group(1)
            assert printed.split(":", 1)[0] in c.statuses, (c.id, printed[:200])
            assert "outside the checkout" in checked


def test_every_draft_in_docs_upstream_belongs_to_a_cause_and_names_no_path_of_this_machine():
    ids = {c.id for c in REGISTRY}
    for p in (ROOT / "docs" / "upstream").glob("*.md"):
        assert p.stem in ids, f"{p.name}: no cause {p.stem!r} in causes.toml"
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])/(root|home|tmp|work)/", text), p.name  # machine-path: example


def test_a_drafts_words_lose_this_machines_paths_and_its_repro_is_kept_as_written(tmp_path, monkeypatch):
    """The words around the repro go through the results files' own rewriting (conformance.report.portable)."""
    from conformance.report.portable import portable_text

    monkeypatch.chdir(tmp_path)
    text = "[Caused by " + str(tmp_path) + "/venv/lib/python3.11/site-packages/keras/src/ops/nn.py(300):]"  # machine-path: example
    assert portable_text(text) == "[Caused by venv/lib/python3.11/site-packages/keras/src/ops/nn.py(300):]"
    assert "portable_text(head) + script + portable_text(tail)" in Path(upstream.__file__).read_text()


def test_a_draft_repro_is_found_and_what_it_printed_is_read_from_its_status_line():
    draft = f"# t\n\n{upstream.REPRO_HEADING}\n\nSave as `repro.py`\n\n```python\nprint('x')\nimport sys\n```\n\n## Affected\n"
    assert upstream.repro_of(draft) == "print('x')\nimport sys"
    assert upstream.repro_of("# t\n\nno repro\n") is None
    out = "noise from TensorFlow\nINVALID: onnx.checker rejects the model: No Op registered for Erfc\n\n==> Context: x\n"
    assert upstream.said(out, "").startswith("INVALID: onnx.checker rejects") and "==> Context" in upstream.said(out, "")
    assert upstream.said("", "Traceback\nNameError: boom\n") == "NameError: boom"
    assert upstream.shows(("INVALID",), 1, "INVALID: x") and not upstream.shows(("INVALID",), 0, "PASS: x")
    assert not upstream.shows(("INVALID",), 1, "UNAVAILABLE: converter unavailable")


def test_a_draft_starts_from_the_smallest_cell_and_prefers_the_converters_own_api():
    def rec(converter, opset, layers=("Dense",), params=10):
        return {"id": f"c-{converter}-{opset}", "case": "c", "converter": converter, "opset": opset,
                "facts": {"keras_layers": list(layers), "keras_params": params}}
    cells = [rec("keras-export", 18), rec("tf2onnx-cli", 18), rec("tf2onnx-keras", 13), rec("tf2onnx-keras", 18),
             rec("tf2onnx-keras", 18, ("Dense", "Dense"))]
    best = min(cells, key=lambda r: upstream.draft_key(r, None))
    assert (best["converter"], best["opset"], len(best["facts"]["keras_layers"])) == ("tf2onnx-keras", 18, 1)


def test_check_says_which_draft_no_longer_shows_its_failure(tmp_path, capsys):
    cause = next(c for c in REGISTRY if c.id == "expm1")
    draft = tmp_path / "expm1.md"
    draft.write_text(f"{upstream.MARK}\n# t\n\n{upstream.REPRO_HEADING}\n\n```python\nimport sys\n"
                     "print('PASS: every check passed')\nsys.exit(0)\n```\n", encoding="utf-8")
    assert upstream.check([str(draft)], [cause]) == 1
    assert "expm1: does NOT show its failure (exit 0): PASS: every check passed" in capsys.readouterr().out
    draft.write_text(f"# t\n\n{upstream.REPRO_HEADING}\n\n```python\nimport sys\n"
                     "print('INVALID: No Op registered for Expm1')\nsys.exit(1)\n```\n", encoding="utf-8")
    assert upstream.check([str(draft)], [cause]) == 0
