"""The HTML matrix from fake results: autoescaping, layout, stacks side by side, baseline marks, speed-up."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import jinja2
import pytest

from conformance.report.__main__ import main
from conformance.report.html import combine, make_env, render
from tests.report_fakes import cause, doc, rec

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
    # modern's k2o cannot be imported: one line above the tables, no column
    assert re.search(r'<th colspan="1" data-stack="modern" data-span="1">modern</th>', html)
    assert re.search(r'<li class="unavailable-line" data-stack="modern" data-converter="k2o"', html)
    assert "f-stack" in parse(html).ids and len(parse(html).cells) == 3
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
    data = page_data(strict(doc([rec("a", "c1", 13, "MISMATCH")])))
    d = data["by_id"]["a-c1-opset13"]
    assert d["stage"] == "compare" and d["error"] == "y: 3/6 elements outside"
    # the detail view names the stage with the stage table's label (conformance/stages.py)
    from conformance.stages import LABEL

    assert data["stage_labels"] == LABEL and data["stage_labels"]["compare"] == "outputs vs Keras"


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


# ------------------------------------------------------------------ the page leads with what matters

UNAV = "ModuleNotFoundError: No module named 'onnx.mapping'"


def _unavailable(case: str, converter: str, opset: int, cause_id: str | None = "k2o-mapping") -> dict:
    r = rec(case, converter, opset, "XFAIL" if cause_id else "UNAVAILABLE", cause=cause_id,
            reason=f"converter unavailable: {UNAV}", signature=None if cause_id else "converter unavailable: x")
    r.update(observed_status="UNAVAILABLE", expected_status="UNAVAILABLE" if cause_id else None, stage="availability",
             stages={"availability": {"ok": False, "error": UNAV + "\n  File x, line 3", "traceback": "Traceback"}},
             facts={"converter_version": None})
    return r


def _with_layers(r: dict, layers: list[str], inventory: dict | None = None) -> dict:
    r["facts"]["keras_layers"] = layers
    if inventory:
        r["facts"]["layer_inventory"] = inventory
    return r


INVENTORY = {"Conv2D": ["Conv2D", "Convolution2D"], "Dense": ["Dense"], "InputLayer": ["InputLayer"], "LSTM": ["LSTM"]}


def _causes_run() -> dict:
    """conv: silent wrong answer on c1 at 13 (cause masked-conv), XFAIL CONVERT_ERROR on c2 (cause no-handler);
    mlp: an unexpected MISMATCH (no cause) on c1, PASS on c2; dense: PASS; k2o cannot be imported anywhere."""
    records = [
        _with_layers(rec("conv", "c1", 13, "XFAIL", cause="masked-conv", expected_status="MISMATCH",
                         signature="outputs differ from Keras: y: N/N elements outside"),
                     ["Conv2D", "InputLayer"], INVENTORY),
        _with_layers(rec("conv", "c1", 15, "PASS"), ["Conv2D", "InputLayer"]),
        _with_layers(rec("conv", "c2", 13, "XFAIL", cause="no-handler", expected_status="CONVERT_ERROR"),
                     ["Conv2D", "InputLayer"]),
        _with_layers(rec("mlp", "c1", 13, "MISMATCH", cause=None, signature="outputs differ from Keras: y: N/N"),
                     ["Dense", "InputLayer"]),
        _with_layers(rec("mlp", "c2", 13, "PASS"), ["Dense", "InputLayer"]),
        _with_layers(rec("aaa", "c1", 13, "PASS"), ["Dense", "InputLayer"]),
        *[_unavailable(c, "k2o", o) for c in ("conv", "mlp", "aaa") for o in (13, 15)],
    ]
    records[2]["observed_status"] = "CONVERT_ERROR"
    records[2]["reason"] = "expected CONVERT_ERROR: no handler. Observed: conversion failed: no handler for Foo"
    return doc(records, causes=[
        cause("masked-conv", link="https://github.com/onnx/tensorflow-onnx/issues/2096", when=["tf2onnx>=1.16"],
              report="Title: masked conv\n\nSteps: ..."),
        cause("no-handler", kind="conversion error", status=("CONVERT_ERROR",)),
        cause("k2o-mapping", kind="unavailable", status=("UNAVAILABLE",), converters=("k2o",)),
        cause("never-seen", kind="runtime error", status=("RUNTIME_ERROR",))], stale_causes=["never-seen"])


def test_unavailable_converter_is_one_line_not_columns():
    d = _causes_run()
    html = strict(d)
    page = parse(html)
    # no column, no caniuse group, no summary row, no layers column for k2o; its cells stay in the data
    assert 'data-converter="k2o"' not in html.split('id="unavailable-converters"')[1].split("</ul>")[1]
    assert not [c for c in page.cells if "-k2o-" in c["data-id"]]
    line = re.search(r'<li class="unavailable-line" data-stack="modern" data-converter="k2o" data-cause="k2o-mapping">(.*?)</li>',
                     html, re.S).group(1)
    assert "ModuleNotFoundError: No module named &#39;onnx.mapping&#39;</code>" in line   # one line: the first
    assert "line 3" not in line and 'href="#cause-k2o-mapping"' in line and "6 cells" in line
    assert html.index('id="unavailable"') < html.index('id="attention"') < html.index('id="matrix"')
    data = page_data(html)
    assert "conv-k2o-opset13" in data["by_id"] and data["by_id"]["conv-k2o-opset13"]["cause"] == "k2o-mapping"
    layers = html.split('id="layers-table"')[1].split("</thead>")[0]
    assert "<th>k2o</th>" not in layers and "<th>c1</th>" in layers
    from conformance.report.layers import coverage, table_lines

    text = table_lines(coverage(d, {}))
    assert "not in the table (cannot be imported here: every cell UNAVAILABLE): k2o" in text[1]
    assert "k2o" not in text[2] and "c1" in text[2]
    # a converter with some importable cells keeps its columns
    d2 = doc([rec("mlp", "k2o", 13, "PASS"), _unavailable("conv", "k2o", 13)], causes=[])
    assert 'id="unavailable"' not in strict(d2) and len(parse(strict(d2)).cells) == 2


def test_input_layer_is_not_a_layer_row_and_coverage_leaves_it_out():
    from conformance.report.layers import coverage

    html = strict(_causes_run())
    rows = re.findall(r'<tr class="layer-(\w+)" data-layer="(\w+)">', html)
    assert ("covered", "Conv2D") in rows and ("missing", "LSTM") in rows
    assert "InputLayer" not in {name for _, name in rows}
    cov = coverage(_causes_run(), {})
    assert [r.name for r in cov.covered] == ["Conv2D", "Dense"] and len(cov.relevant) == 3
    assert "2 of 3 inference-relevant" in html


def test_failures_and_changes_come_first():
    d = _causes_run()
    html = strict(d)
    groups = re.findall(r'<tbody data-group="(\w+)">\s*<tr class="grp grp-\w+"><th colspan="4">([^<]*)', html)
    assert [g for g, _ in groups] == ["unexpected", "silent", "expected", "pass", "not_tried"]
    assert dict(groups)["unexpected"].startswith("Unexpected failures: 1 cell in 1 distinct signature")
    assert dict(groups)["silent"].startswith("Silent wrong answers (expected): 1 cell, 1 cause")
    # the unavailable converter's expected failures are its line above, not rows here
    assert "(and 6 of converters that cannot be imported, above)" in html
    # matrix rows: the case with an unexpected failure first, then the silent wrong answer, then passes
    assert re.findall(r'<tr class="case-row" data-case="(\w+)">', html) == ["mlp", "conv", "aaa"]
    # with a baseline: the changed cells lead
    old = doc([rec("mlp", "c1", 13, "PASS"), rec("aaa", "c1", 13, "PASS")])
    html = strict(d, baseline=old, baseline_label="old.json")
    groups = re.findall(r'<tbody data-group="(\w+)">', html)
    assert groups[0] == "changed"
    changed = html.split('<tbody data-group="changed">')[1].split("</tbody>")[0]
    assert "Changed against the baseline: " in changed and ">regression</code>" in changed


def test_causes_view_rows_cells_layers_and_versions():
    d = _causes_run()
    html = strict(d)
    body = html.split('id="causes-table"')[1].split("</table>")[0]
    ids = re.findall(r'<tr class="cause-row" id="cause-([\w.-]+)"', body)
    # silent wrong answers first, then by cells; a cause no record names is not a row
    assert ids == ["masked-conv", "k2o-mapping", "no-handler"]
    row = body.split('id="cause-masked-conv"')[1].split("</tr>")[0]
    assert "silent wrong answer" in row and "<td>c1</td>" in row and "Conv2D" in row and "InputLayer" not in row
    assert "1: conv" in row and "tf2onnx 1.17.0" in row and 'href="https://github.com/onnx/tensorflow-onnx/issues/2096"' in row
    data = page_data(html)
    cells = re.search(r'data-cells="([\d,]+)"', row).group(1).split(",")
    assert [data["cells"][int(i)][0] for i in cells] == ["conv-c1-opset13"]
    k2o = body.split('id="cause-k2o-mapping"')[1].split("</tr>")[0]
    assert len(re.search(r'data-cells="([\d,]+)"', k2o).group(1).split(",")) == 6
    assert re.search(r'class="badge s-UNAVAILABLE known"[^>]*>unav<sup>known</sup></span> 6', k2o)
    # stale causes by id
    assert re.search(r"<li>\[modern\] <b>never-seen</b>", html)


def test_causes_view_counts_per_stack_and_tells_since_which_version():
    new = _causes_run()
    old = doc([rec("conv", "c1", 13, "PASS"), rec("conv", "c2", 13, "XFAIL", cause="no-handler", expected_status="CONVERT_ERROR")],
              stack="legacy", packages={"tf2onnx": "1.16.1", "tensorflow": "2.13.1", "onnx": "1.14.1"}, causes=[
                  cause("no-handler", kind="conversion error", status=("CONVERT_ERROR",))])
    html = strict(combine([("legacy.json", old), ("modern.json", new)]))
    body = html.split('id="causes-table"')[1].split("</table>")[0]
    masked = body.split('id="cause-masked-conv"')[1].split("</tr>")[0]
    # seen on modern only, whose tf2onnx is newer than legacy's, which ran the same cell and passed
    assert "since tf2onnx 1.17.0 (not seen up to 1.16.1)" in masked
    handler = body.split('id="cause-no-handler"')[1].split("</tr>")[0]
    assert re.search(r'class="muted per-stack">legacy 1, modern 1<', handler)


def test_failing_cell_detail_names_its_cause():
    data = page_data(strict(_causes_run()))
    d = data["by_id"]["conv-c1-opset13"]
    assert d["cause"] == "masked-conv" and "exp" not in d
    c = data["causes"]["masked-conv"]
    assert c["kind"] == "silent wrong answer" and c["link"] == "https://github.com/onnx/tensorflow-onnx/issues/2096"
    assert c["report"].startswith("Title: masked conv") and c["status"] == "MISMATCH"
    # an unexpected failure: no cause, its normalized signature instead
    assert "cause" not in data["by_id"]["mlp-c1-opset13"] and data["by_id"]["mlp-c1-opset13"]["sgn"].startswith("outputs differ")


def test_old_results_with_expectation_entries_still_render():
    entry = {"index": 7, "case": ["conv"], "converter": ["c1"], "opsets": None, "when": [], "status": "MISMATCH",
             "reason": "masked conv at opset 13", "link": "https://github.com/onnx/tensorflow-onnx/issues/7", "strict": True}
    html = strict(doc([rec("conv", "c1", 13, "XFAIL", expectation=entry), rec("conv", "c1", 15, "PASS")]))
    data = page_data(html)
    d = data["by_id"]["conv-c1-opset13"]
    assert d["exp"]["index"] == 7 and d["cause"] == "#7"
    assert 'id="cause-#7"' in html and "masked conv at opset 13" in html


def test_status_colours_come_from_the_status_table(monkeypatch):
    import dataclasses

    from conformance import statuses
    from conformance.statuses import Status

    html = strict(doc([rec("a", "c1", 13, "PASS")]))
    for s, f in statuses.TABLE.items():
        assert re.search(rf"\.s-{s.value} {{ background: {re.escape(f.colour)}; color: #(1d2327|ffffff); }}", html)
    monkeypatch.setitem(statuses.TABLE, Status.PASS, dataclasses.replace(statuses.TABLE[Status.PASS], colour="#123456"))
    assert ".s-PASS { background: #123456; color: #ffffff; }" in strict(doc([rec("a", "c1", 13, "PASS")]))
    # the template names no status colour of its own
    from pathlib import Path

    import conformance.report.html as html_mod

    template = (Path(html_mod.__file__).parent / "templates" / "matrix.html.j2").read_text()
    assert not re.search(r"\.s-[A-Z_]+ \{ background: #", template)


# ------------------------------------------------------------------ causes in the terminal and the other reports

def test_terminal_counts_causes_and_signatures():
    from conformance.report.terminal import LINE_LIMIT, summary_lines

    d = _causes_run()
    lines = summary_lines(d["records"], ["never-seen"], d["causes"])
    text = "\n".join(lines)
    assert "8 failing cells explained by 3 cause(s) (1 silent wrong answer): masked-conv (1 cell), k2o-mapping (6 cells), no-handler (1 cell)" in text
    assert "1 unexpected failure in 1 distinct signature(s): outputs differ from Keras: y: N/N (1)" in text
    assert lines[-1].startswith("1 stale cause(s)") and "never-seen" in lines[-1]
    # bounded: many causes and stale ids give one line each, with "and N more"
    many = [dict(r, cause=f"cause-{i}", status="XFAIL") for i, r in enumerate(rec("x", "c", 13, "MISMATCH") for _ in range(80))]
    lines = summary_lines(many, [f"stale-{i}" for i in range(80)])
    assert all(len(line) <= LINE_LIMIT + 60 for line in lines[-2:])
    assert "and " in lines[-2] and "more" in lines[-2] and "and " in lines[-1]
    # the old call: records and stale expectation entries
    assert summary_lines(d["records"], [])[0].startswith("converter")


def test_diff_and_stacks_page_read_the_cause_not_the_entry():
    from conformance.report.diff import diff
    from conformance.report.stacks import build_view

    loose = cause("flaky", strict=False)
    old = doc([rec("a", "c1", 13, "PASS", cause="flaky")], causes=[loose])
    new = doc([rec("a", "c1", 13, "XFAIL", cause="flaky")], causes=[loose])
    assert [c.kind for c in diff(old, new).changes] == ["changed"]          # a non-strict cause came and went
    strict_new = doc([rec("a", "c1", 13, "XFAIL", cause="firm")], causes=[cause("firm")])
    assert [c.kind for c in diff(old, strict_new).changes] == ["regression"]
    view = build_view(new, stacks_file="/no/such/stacks.toml")
    assert [c["link"] for c in view["causes"]] == ["https://github.com/onnx/tensorflow-onnx/issues/1"]
    assert "https://github.com/onnx/tensorflow-onnx/issues/1" in str(view["data"])
