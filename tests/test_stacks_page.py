"""The all-stacks page (python -m conformance.report stacks): per case x converter across stacks, since when."""
from __future__ import annotations

import html
import json
import re

from conformance.report.__main__ import main
from conformance.report.stacks import build_view, render, since, verdict
from tests.report_fakes import doc, rec
from tests.test_causes_report import MID, NEW, OLD

HOSTILE = "<script>window.pwned=1</script>&<b>"


def _docs():
    return [
        doc([rec("seq", "tf2onnx-keras", 13, "PASS"), rec("mlp", "tf2onnx-keras", 13, "PASS"),
             rec("mlp", "keras-export", 13, "UNAVAILABLE"), rec("cnn", "tf2onnx-keras", 13, "NOT_APPLICABLE")],
            stack="old", packages=OLD),
        doc([rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR", reason=HOSTILE), rec("mlp", "tf2onnx-keras", 13, "PASS"),
             rec("mlp", "keras-export", 13, "PASS"), rec("cnn", "tf2onnx-keras", 13, "NOT_APPLICABLE")],
            stack="mid", packages=MID),
        doc([rec("seq", "tf2onnx-keras", 13, "XFAIL",
                 expectation={"reason": "known bug", "link": "https://example.org/issue/1"}),
             rec("mlp", "tf2onnx-keras", 13, "PASS"), rec("mlp", "keras-export", 13, "PASS"),
             rec("cnn", "tf2onnx-keras", 13, "NOT_APPLICABLE")],
            stack="new", packages=NEW),
    ]


def _merged():
    from conformance.report.merge import merge_docs

    return merge_docs([(d["environment"]["stack"], d) for d in _docs()])


def test_verdict_of_a_stack_from_its_opsets():
    assert verdict([rec("a", "c", 13, "PASS"), rec("a", "c", 15, "PASS")])["kind"] == "pass"
    assert verdict([rec("a", "c", 13, "XFAIL")]) == {"kind": "known", "label": "mism"}
    assert verdict([rec("a", "c", 13, "PASS"), rec("a", "c", 9, "INVALID")]) == {"kind": "part", "label": "inval 1/2"}
    assert verdict([rec("a", "c", 13, "NOT_APPLICABLE")])["kind"] == "na"
    assert verdict([rec("a", "c", 13, "CONVERT_ERROR")]) == {"kind": "fail", "label": "conv"}


def test_since_names_the_package_version_that_separates_passing_from_failing_stacks():
    envs = {"old": OLD, "mid": MID, "new": NEW}
    works = since({"old": False, "mid": True, "new": True}, envs)
    assert works["kind"] == "works" and works["text"].startswith("works since tf2onnx 1.16.1 (fails up to 1.15.1)")
    assert any(a.startswith("works since tensorflow 2.16.2") for a in works["also"])
    broken = since({"old": True, "mid": False, "new": False}, envs)
    assert broken["text"] == "broken since tf2onnx 1.16.1 (works up to 1.15.1)"
    assert since({"old": True, "mid": False, "new": True}, envs)["kind"] == "mixed"
    assert since({"old": True, "new": True}, envs) == {"text": "works on all 2 stacks run", "kind": "all", "also": []}
    assert since({"old": False}, envs)["text"] == "fails on the stack run"
    # a package a failing stack does not have: it works since the package exists
    no_keras3 = {"old": dict(OLD, keras=None), "new": NEW}
    assert since({"old": False, "new": True}, no_keras3)["text"].startswith("works since tf2onnx 1.17.0")


def test_view_orders_stacks_oldest_first_and_rows_per_case_and_converter():
    view = build_view(_merged(), stacks_file="/no/such/stacks.toml")
    assert view["stacks"] == ["old", "mid", "new"]
    rows = {(r["case"], r["converter"]): r for r in view["rows"]}
    seq = rows[("seq", "tf2onnx-keras")]
    assert [c["kind"] for c in seq["cells"]] == ["pass", "fail", "known"]
    assert seq["since"]["text"].startswith("broken since tf2onnx 1.16.1")
    exp = rows[("mlp", "keras-export")]
    # Keras's own export: told in Keras versions first
    assert exp["since"]["text"].startswith("works since keras 3.3.3 (fails up to 2.14.0)") and exp["differs"]
    assert not rows[("mlp", "tf2onnx-keras")]["differs"]
    assert rows[("cnn", "tf2onnx-keras")]["since"]["kind"] == "none"


def test_page_is_escaped_and_details_are_data(tmp_path):
    page = render(_merged(), stacks_file="/no/such/stacks.toml")
    assert HOSTILE not in page and "<script>window.pwned" not in page
    m = re.search(r'<script type="application/json" id="cells">(.*?)</script>', page, re.S)
    details = json.loads(m.group(1))
    reasons = [c["reason"] for d in details for c in d["cells"]]
    assert HOSTILE in reasons
    links = [c["link"] for d in details for c in d["cells"] if c["link"]]
    assert links == ["https://example.org/issue/1"]
    assert html.escape("broken since tf2onnx 1.16.1 (works up to 1.15.1)") in page


def test_command_line_from_per_stack_files_and_bad_input(tmp_path, capsys):
    paths = []
    for d in _docs():
        p = tmp_path / f"{d['environment']['stack']}.json"
        p.write_text(json.dumps(d))
        paths.append(str(p))
    out = tmp_path / "stacks.html"
    assert main(["stacks", *paths, "-o", str(out)]) == 0
    assert "broken since tf2onnx 1.16.1" in out.read_text()
    missing = tmp_path / "missing.json"
    assert main(["stacks", str(missing), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and err.count("\n") == 1


# In Debian's chromium through playwright, like tests/test_browser.py (its fixtures; skips the same way).
from tests.test_browser import browser, chromium, tab  # noqa: E402,F401  (pytest fixtures)


def test_in_a_browser_a_click_opens_a_cells_records_as_text_and_filters_apply(tab, tmp_path):  # noqa: F811
    out = tmp_path / "stacks.html"
    out.write_text(render(_merged(), stacks_file="/no/such/stacks.toml"), encoding="utf-8")
    tab.goto(out.as_uri())
    title = tab.title()
    assert tab.locator("#details").is_hidden()
    # the cell of seq / tf2onnx-keras on stack "mid" (the failing one)
    row = tab.locator('tr[data-case="seq"][data-conv="tf2onnx-keras"]')
    row.locator("td.c").nth(1).click()
    assert tab.locator("#details").is_visible()
    assert tab.locator("#d-title").text_content() == "seq / tf2onnx-keras / mid"
    assert HOSTILE in tab.locator("#d-body").text_content()      # shown as text ...
    assert tab.title() == title and tab.evaluate("window.pwned") is None   # ... and never run
    row.locator("td.c").nth(2).click()
    assert tab.locator("#d-body a").get_attribute("href") == "https://example.org/issue/1"
    tab.locator("#close").click()
    assert tab.locator("#details").is_hidden()
    # only rows that differ: mlp / tf2onnx-keras passes everywhere and goes away
    assert tab.locator('tr[data-case="mlp"][data-conv="tf2onnx-keras"]').is_visible()
    tab.locator("#only-differ").check()
    assert tab.locator('tr[data-case="mlp"][data-conv="tf2onnx-keras"]').is_hidden()
    assert row.is_visible()
    tab.select_option("#conv-filter", "keras-export")
    assert row.is_hidden() and tab.locator('tr[data-case="mlp"][data-conv="keras-export"]').is_visible()


def test_command_line_can_judge_recorded_runs_against_a_registry_of_causes(tmp_path):
    paths = []
    for d in _docs():
        p = tmp_path / f"{d['environment']['stack']}.json"
        p.write_text(json.dumps(d))
        paths.append(str(p))
    exp = tmp_path / "causes.toml"
    exp.write_text('[[cause]]\nid = "seq"\ntitle = "seq fails"\nkind = "conversion error"\nsignature = ".*"\n'
                   'cases = "seq"\nconverters = "tf2onnx-keras"\nwhen = ["tf2onnx==1.16.*"]\n'
                   'status = "CONVERT_ERROR"\nlink = "https://example.org/1"\nreason = "a reason in words"\n')
    out = tmp_path / "stacks.html"
    assert main(["stacks", *paths, "-o", str(out), "--causes", str(exp)]) == 0
    page = out.read_text()
    row = re.search(r'<tr data-conv="tf2onnx-keras" data-case="seq".*?</tr>', page, re.S).group(0)
    # mid's CONVERT_ERROR is now known; new's XFAIL (recorded with another registry) has no cause here: MISMATCH
    assert re.findall(r'class="c (\w+)"', row) == ["pass", "known", "fail"]
    exp.write_text(exp.read_text().replace("a reason in words", "TODO: later"))
    assert main(["stacks", *paths, "-o", str(out), "--causes", str(exp)]) == 2
