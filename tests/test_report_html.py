"""The HTML matrix from fake results: autoescaping, layout, stacks side by side, baseline marks, speed-up."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import jinja2
import pytest

from conformance.report.__main__ import main
from conformance.report.html import combine, make_env, render
from tests.report_fakes import doc, rec

EVIL = "<script>alert('x')</script> & \"quoted\" <b>bold</b>"


class _Cells(HTMLParser):
    """Collects the matrix cells and every <script>/<a href> of a page."""

    def __init__(self):
        super().__init__()
        self.cells, self.scripts, self.hrefs, self.ids = [], 0, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-id" in a:
            self.cells.append(a)
        if tag == "script":
            self.scripts += 1
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if "id" in a:
            self.ids.append(a["id"])


def parse(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def strict(doc_, **kw) -> str:
    return render(doc_, env=make_env(jinja2.StrictUndefined), **kw)


def page_data(html: str) -> dict:
    """The page's embedded data (the detail views are rendered from it on click), strings unpacked."""
    from conformance.report.html import page_data as read

    data = read(html)
    table = data["strings"]

    def un(v):
        if isinstance(v, str):
            return table[int(v[1:])] if v.startswith("~") else v
        if isinstance(v, list):
            return [un(x) for x in v]
        if isinstance(v, dict):
            return {k: un(x) for k, x in v.items()}
        return v

    data["details"] = un(data["details"])
    data["by_id"] = {c[0]: d for c, d in zip(data["cells"], data["details"])}
    return data


def test_reason_and_error_with_markup_render_as_text():
    bad_link = {"index": 3, "case": ["a*"], "converter": ["c1"], "opsets": None, "when": [],
                "status": "CONVERT_ERROR", "reason": EVIL, "link": "javascript:alert(1)"}
    good_link = dict(bad_link, link="https://github.com/onnx/tensorflow-onnx/issues/1", reason="known")
    d = doc([rec("a<b>", "c1", 13, "CONVERT_ERROR", reason=EVIL + "</script><!--", expectation=bad_link),
             rec("ok", "c1", 13, "XFAIL", expectation=good_link, description=EVIL)])
    html = strict(d)
    assert "<script>alert" not in html and "<b>bold</b>" not in html and "</script><!--" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html       # the description, autoescaped
    assert "a&lt;b&gt;" in html
    page = parse(html)
    assert page.scripts == 3                                  # the page's script and its two JSON blocks
    assert len(re.findall(r"</script>", html)) == 3           # no string in the data closes a script element
    # the embedded data gives the exact strings back; the page's script shows them with textContent
    data = page_data(html)
    bad = data["by_id"]["a<b>-c1-opset13"]
    assert bad["reason"] == EVIL + "</script><!--" and bad["exp"]["link"] is None     # unsafe link: text only
    assert bad["exp"]["link_text"] == "javascript:alert(1)"
    assert data["by_id"]["ok-c1-opset13"]["exp"]["link"] == "https://github.com/onnx/tensorflow-onnx/issues/1"
    assert "innerHTML" not in html                            # the script never parses data as markup


def test_embedded_json_cannot_close_its_script_element():
    from conformance.report.html import embed_json

    text = str(embed_json({"k": "</script><script>alert(1)</script><!-- & \u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"k": "</script><script>alert(1)</script><!-- & \u2028"}


def test_matrix_layout_summary_details_and_environment():
    d = doc([rec("mlp", "c1", 13, "PASS"), rec("mlp", "c1", 15, "MISMATCH"), rec("mlp", "c2", 13, "XFAIL"),
             rec("lstm", "c1", 13, "CONVERT_ERROR", family="recurrent"),
             rec("lstm", "c2", 13, "NOT_APPLICABLE", family="recurrent")])
    html = strict(d)
    page = parse(html)
    assert sorted(c["data-id"] for c in page.cells) == sorted(r["id"] for r in d["records"])
    status = {c["data-id"]: c["data-status"] for c in page.cells}
    assert status["mlp-c1-opset15"] == "MISMATCH" and "s-MISMATCH" in next(
        c["class"] for c in page.cells if c["data-id"] == "mlp-c1-opset15")
    # families group the rows; columns are converter x opset (c1: 13, 15; c2: 13)
    assert html.index('data-family="dense"') < html.index('data-family="recurrent"')
    assert len(re.findall(r'<th data-col="\d+"', html)) == 3
    # details: data embedded once, one entry per cell, rendered on click (no detail markup in the page)
    data = page_data(html)
    assert len(data["details"]) == 5 and '<section class="detail"' not in html
    mism = data["by_id"]["mlp-c1-opset15"]
    # the re-run command's common part is written by the page's script; the data keeps what differs
    assert "rerun" not in mism and mism["rx"] == " --stack modern"
    assert """'pytest "conformance/test_matrix.py::test_cell[' + c[10] + ']" --converters '""" in html
    assert mism["hist"].startswith("Add:2 MatMul:2") and mism["time"][0] == 1.25 and mism["stage"] == "compare"
    assert dict(zip(data["cmp_fields"], mism["cmp"][0]))["mismatched"] == 3
    # summary: c1 has 1 PASS of 3 tried cells; c2's NOT_APPLICABLE is not tried: XFAIL only -> 0%
    rows = re.findall(r'<tr data-stack="modern" data-converter="(c\d)">.*?<td class="num">(\d+%|-)</td>', html, re.S)
    assert dict(rows) == {"c1": "33%", "c2": "0%"}
    for pkg, version in (("tensorflow", "2.21.0"), ("onnxruntime", "1.32.0")):
        assert re.search(rf"<th>{pkg}</th><td>{re.escape(version)}</td>", html)
    for f in ("f-family", "f-status", "f-converter"):
        assert f in page.ids
    assert "cdn" not in html.lower() and "http://" not in html and '<link' not in html   # self-contained


def test_stacks_side_by_side_and_same_label_told_apart():
    legacy = doc([rec("mlp", "c1", 13, "PASS"), rec("mlp", "k2o", 13, "PASS")], stack="legacy",
                 packages={"tensorflow": "2.13.1"})
    modern = doc([rec("mlp", "c1", 13, "PASS"), rec("mlp", "k2o", 13, "UNAVAILABLE")], stack="modern")
    html = strict(combine([("legacy.json", legacy), ("modern.json", modern)]))
    assert re.search(r'<th colspan="2" data-stack="legacy" data-span="2">legacy</th>', html)
    assert re.search(r'<th colspan="2" data-stack="modern" data-span="2">modern</th>', html)
    assert "f-stack" in parse(html).ids and len(parse(html).cells) == 4
    # two runs both labelled "default" with the same cells: told apart by file name, not merged away
    a, b = doc([rec("mlp", "c1", 13, "PASS")], stack="default"), doc([rec("mlp", "c1", 13, "CRASH")], stack="default")
    both = combine([("run1/old.json", a), ("run2/new.json", b)])
    assert sorted(both["stacks"]) == ["default", "default (new)"]
    # shards of one stack (disjoint cells, same packages) join into one stack
    shards = combine([("s1.json", doc([rec("mlp", "c1", 13, "PASS")])), ("s2.json", doc([rec("mlp", "c1", 15, "PASS")]))])
    assert list(shards["stacks"]) == ["modern"] and len(shards["records"]) == 2


def test_baseline_marks_changed_cells():
    old = doc([rec("a", "c1", 13, "PASS"), rec("b", "c1", 13, "MISMATCH"), rec("gone", "c1", 13, "PASS")],
              stack="legacy")
    new = doc([rec("a", "c1", 13, "UNAVAILABLE"), rec("b", "c1", 13, "PASS"), rec("n", "c1", 13, "PASS")])
    html = strict(new, baseline=old, baseline_label="old.json")
    cells = {c["data-id"]: c for c in parse(html).cells}
    assert cells["a-c1-opset13"]["data-change"] == "regression" and "chg-regression" in cells["a-c1-opset13"]["class"]
    assert cells["b-c1-opset13"]["data-change"] == "fix"
    assert cells["n-c1-opset13"]["data-change"] == "new"
    assert "1 regression</b>" in html and "1 removed" in html and "changes-table" in html
    assert re.search(r"<td><b>removed</b></td><td>gone</td>", html)
    assert "f-changed" in parse(html).ids


def test_speedup_table_tolerates_missing_keys(tmp_path, capsys):
    results = tmp_path / "r.json"
    results.write_text(json.dumps(doc([rec("a", "c1", 13, "PASS")])))
    sp = tmp_path / "speedup.json"
    sp.write_text(json.dumps({"schema_version": 1, "machine": "2 cores",
                              "rows": [{"case": "a", "batch": 1, "mode": "ort", "median_s": 0.00123, "speedup": 3.5},
                                       {"case": "a", "mode": "keras", "extra": "x<y"}, "junk"]}))
    out = tmp_path / "m.html"
    assert main(["html", str(results), "-o", str(out), "--speedup", str(sp)]) == 0
    html = out.read_text()
    assert "speedup-table" in html and "0.00123" in html and "x&lt;y" in html and "2 cores" in html
    assert re.search(r"<th>case</th><th>batch</th><th>mode</th><th>median_s</th><th>speedup</th><th>extra</th>", html)
    sp.write_text(json.dumps({"schema_version": 2, "rows": []}))
    assert main(["html", str(results), "-o", str(out), "--speedup", str(sp)]) == 2
    assert "schema version 2" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["stages", "facts", "expectation", "nodeid", "description", "family"])
def test_records_with_missing_keys_still_render(missing):
    r = rec("a", "c1", 13, "PASS")
    del r[missing]
    html = render(doc([r]))
    assert 'data-id="a-c1-opset13"' in html


def test_empty_results_render_a_page():
    html = strict(doc([]))
    assert "0 cells" in html and parse(html).cells == []


def test_first_failing_stage_shows_its_text():
    d = page_data(strict(doc([rec("a", "c1", 13, "MISMATCH")])))["by_id"]["a-c1-opset13"]
    assert d["stage"] == "compare" and d["error"] == "y: 3/6 elements outside"


def test_page_terminal_and_diff_show_the_deciding_stage_not_the_first_failing_key():
    """The record's `stage` (from verdict.decide) is what the page and the diff show."""
    from conformance.report.diff import diff, table_lines

    r = rec("a", "c1", 13, "RUNTIME_ERROR")
    r["stages"]["signature"] = {"ok": False, "problems": ["input x has a fixed batch dimension 3"]}
    r["stages"]["run"] = {"ok": False, "error": "Got invalid dimensions for input: x"}
    r["stages"].pop("compare")
    from conformance.run.verdict import decide

    r["stage"] = decide(r["stages"]).stage
    d = page_data(strict(doc([r])))["by_id"]["a-c1-opset13"]
    assert d["stage"] == "run" and "Got invalid dimensions" in d["error"]
    rows = table_lines(diff(doc([rec("a", "c1", 13, "PASS")]), doc([r])))
    assert any("REGRESSION" in line and "  run  " in line for line in rows)


def test_a_full_tier_sized_page_stays_small():
    """1680 cells (35 cases x 8 converters x 6 opsets), each with its own numbers in its reason and
    command: the details are embedded once, compressed, so the page stays well under the 1.5 MB the
    full tier may take (these fake records give 0.39 MB packed, 1.2 MB as plain embedded JSON)."""
    import random

    rnd = random.Random(0)
    statuses_ = ["PASS"] * 6 + ["XFAIL", "MISMATCH", "CONVERT_ERROR", "UNAVAILABLE"]
    records = []
    for c in range(35):
        for v in range(8):
            for opset in (9, 11, 13, 15, 17, 18):
                st = rnd.choice(statuses_)
                r = rec(f"case_{c}", f"conv_{v}", opset, st,
                        reason=f"{st}: batch 3: y: {rnd.randint(1, 6)}/6 elements outside rtol=0.0001; "
                               f"max abs err {rnd.random():.4g} worst at [{rnd.randint(0, 2)}, 1]")
                r["stages"]["convert"]["command"] = f"python -m conv_{v}.convert --opset {opset} --seed {rnd.random()}"
                records.append(r)
    html = render(doc(records))
    assert len(parse(html).cells) == 1680
    size = len(html.encode("utf-8"))
    assert size < 700_000, f"{size} bytes"
