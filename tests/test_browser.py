"""The matrix page in a real browser: Playwright drives Debian's headless Chromium.

Playwright (the pip package) launches the system browser through ``executable_path`` (no browser
download).  Needs Debian's ``chromium`` on PATH; without it the tests skip, unless
CONFORMANCE_INSTALL_CHROMIUM=1, in which case the set-up runs
``apt-get update && apt-get install -y chromium`` once (as root, like CI).  No TensorFlow: the
page is rendered from fake records.  The screenshots stay in the test's tmp_path and their paths
are printed (``pytest -s`` shows them).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.report.html import combine, write_html
from tests.report_fakes import cause, doc, rec

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"></script><script>document.title='pwned'</script>"
KNOWN_LINK = "https://github.com/onnx/tensorflow-onnx/issues/2096"
UNAVAILABLE = "ImportError: cannot import name 'mapping' from 'onnx'"


CAUSES = [cause("masked-gru", title="masked GRU at opset 9", link=KNOWN_LINK, converters=("tf2onnx",)),
          cause("k2o-onnx-mapping", kind="unavailable", status=("UNAVAILABLE",), converters=("keras2onnx",),
                title="keras2onnx imports onnx.mapping", link="https://github.com/onnx/keras-onnx")]


def _unavailable(case: str, opset: int, family: str = "dense") -> dict:
    r = rec(case, "keras2onnx", opset, "XFAIL", family=family, reason=f"expected UNAVAILABLE: {UNAVAILABLE}",
            cause="k2o-onnx-mapping", signature=f"converter unavailable: {UNAVAILABLE}")
    r["observed_status"] = "UNAVAILABLE"
    r["expected_status"] = "UNAVAILABLE"
    r["stage"] = "availability"
    r["stages"] = {"availability": {"ok": False, "error": UNAVAILABLE}}
    return r


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, dict]:
    gru9 = rec("gru", "tf2onnx", 9, "XFAIL", family="recurrent", cause="masked-gru",
               signature="outputs differ from Keras: y: N/N elements outside",
               divergence={"ok": True, "method": "onnx-outputs", "layer": "masking", "class": "Masking",
                           "position": 1, "layers": 3, "batch": 3, "previous": None, "tensor": "m/masking_1/SelectV2:0",
                           "config": {"mask_value": 0.0}, "comparison": None},
               repro={"ok": True, "path": "repro/gru-tf2onnx-opset9/repro.py", "standalone": True})
    legacy = doc([rec("mlp", "tf2onnx", 13, "PASS"), rec("mlp", "keras2onnx", 13, "PASS"),
                  rec("lstm", "tf2onnx", 13, "MISMATCH", family="recurrent"),
                  rec("lstm", "keras2onnx", 13, "CONVERT_ERROR", family="recurrent", reason=HOSTILE),
                  rec("gru", "tf2onnx", 13, "XFAIL", family="recurrent"),
                  rec("gru", "keras2onnx", 13, "PASS", family="recurrent")],
                 stack="legacy", packages={"tensorflow": "2.13.1", "tf2onnx": "1.16.1"})
    modern = doc([rec("mlp", "tf2onnx", 9, "PASS"), rec("mlp", "tf2onnx", 13, "PASS"),
                  rec("lstm", "tf2onnx", 9, "PASS", family="recurrent"),
                  rec("lstm", "tf2onnx", 13, "PASS", family="recurrent"), gru9,
                  rec("gru", "tf2onnx", 13, "PASS", family="recurrent"),
                  *[_unavailable(c, o, "dense" if c == "mlp" else "recurrent")
                    for c in ("mlp", "lstm", "gru") for o in (9, 13)]], stack="modern", causes=CAUSES)
    d = combine([("legacy.json", legacy), ("modern.json", modern)])
    out = write_html(d, tmp_path_factory.mktemp("page") / "matrix.html")
    return out, d


def _open(tab, url: str) -> None:
    tab.goto(url)
    tab.wait_for_selector("html[data-ready='1']")


def test_every_cell_renders_and_filters_apply(tab, page, tmp_path):
    path, d = page
    _open(tab, path.as_uri())
    ids = tab.eval_on_selector_all("#matrix-table td.c[data-id]", "els => els.map(e => e.dataset.id)")
    # keras2onnx on the modern stack cannot be imported: its 6 records are one line above the tables
    assert len(ids) == len(d["records"]) - 6
    assert tab.get_attribute("html", "data-visible-cells") == str(len(ids))
    # a filter in the URL hash: only MISMATCH cells stay (the known failure is XFAIL, filtered out)
    _open(tab, path.as_uri() + "#status=MISMATCH")
    shown = tab.eval_on_selector_all("#matrix-table td.c[data-id]:not(.off):not(.hide)",
                                     "els => els.map(e => e.dataset.id)")
    assert shown == ["lstm-tf2onnx-opset13@legacy"]
    # a real click unticks a stack: its columns disappear and the hash records it
    _open(tab, path.as_uri())
    tab.click('#filters input[name="stack"][value="legacy"]')
    assert "stack=modern" in tab.evaluate("location.hash")
    assert not tab.is_visible('td.c[data-id="mlp-tf2onnx-opset13@legacy"]')
    tab.click("#reset")
    assert tab.get_attribute("html", "data-visible-cells") == str(len(ids))


def test_clicking_a_cell_opens_its_lazily_rendered_details(tab, page, tmp_path):
    path, _ = page
    _open(tab, path.as_uri())
    # the details are not in the page until a cell is clicked: they are built from the embedded data
    assert tab.locator("section.detail").count() == 0
    tab.click('td.c[data-id="lstm-tf2onnx-opset13@legacy"]')
    panel = tab.locator("#panel")
    panel.wait_for(state="visible")
    text = panel.inner_text()
    assert "lstm · tf2onnx · opset 13 · legacy" in text and "Deciding stage: outputs vs Keras (compare)" in text
    assert 'pytest "conformance/test_matrix.py::test_cell[lstm-tf2onnx-opset13]" --converters tf2onnx --opsets 13' in text
    assert "min passing atol" in text and "MatMul" in text
    assert tab.get_attribute("html", "data-open-cell") == "lstm-tf2onnx-opset13@legacy"
    assert "open=" in tab.evaluate("location.hash")
    shot = tab.screenshot(path=str(tmp_path / "detail.png"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot: {tmp_path / 'detail.png'}")
    tab.click("#panel-close")
    panel.wait_for(state="hidden")
    assert tab.locator("section.detail").count() == 0


def test_known_failure_shows_what_was_observed(tab, page, tmp_path):
    path, _ = page
    _open(tab, path.as_uri())
    cell = tab.locator('td.c[data-id="gru-tf2onnx-opset9@modern"]')
    # XFAIL on the record, but the cell shows the MISMATCH it is, marked known
    assert cell.get_attribute("data-status") == "XFAIL" and cell.get_attribute("data-observed") == "MISMATCH"
    assert "s-MISMATCH" in cell.get_attribute("class") and "known" in cell.get_attribute("class")
    assert cell.inner_text().replace("\n", "") == "mismknown"
    # ... and looks different from a conversion error (colours from the status table)
    conv = tab.locator('td.c[data-id="lstm-keras2onnx-opset13@legacy"]')
    assert "s-CONVERT_ERROR" in conv.get_attribute("class")
    assert cell.evaluate("e => getComputedStyle(e).backgroundColor") != conv.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    cell.click()
    panel = tab.locator("#panel")
    panel.wait_for(state="visible")
    # the failing cell names its cause, with the cause's link
    assert tab.locator("#panel a.cause-id").inner_text() == "masked-gru"
    assert tab.locator("#panel a", has_text="(link)").get_attribute("href") == KNOWN_LINK
    text = panel.inner_text()
    assert "masked GRU at opset 9" in text and "silent wrong answer" in text
    assert "First divergent layer" in text and "Masking" in text and "onnx-outputs" in text
    assert tab.locator("#panel a", has_text="repro/gru-tf2onnx-opset9/repro.py").get_attribute("href") == \
        "repro/gru-tf2onnx-opset9/repro.py"
    tab.screenshot(path=str(tmp_path / "known.png"))
    print(f"\nscreenshot: {tmp_path / 'known.png'}")


def test_unimportable_converter_is_one_line_not_columns(tab, page):
    path, _ = page
    _open(tab, path.as_uri())
    line = tab.locator('#unavailable-converters li[data-converter="keras2onnx"][data-stack="modern"]')
    assert line.count() == 1
    text = line.inner_text()
    assert UNAVAILABLE in text and "k2o-onnx-mapping" in text and "6 cells" in text
    assert tab.locator('#unavailable-converters li').count() == 1
    # no column of it on the modern stack, in the matrix or the caniuse table; the legacy stack's worked
    assert tab.locator('#matrix-table thead th[data-converter="keras2onnx"][data-stack="modern"]').count() == 0
    assert tab.locator('#matrix-table td.c[data-id^="mlp-keras2onnx"][data-id$="@modern"]').count() == 0
    assert tab.locator('#bycase-table th[data-converter="keras2onnx"][data-stack="modern"]').count() == 0
    assert tab.locator('#matrix-table thead tr.head-opset th[data-converter="keras2onnx"][data-stack="legacy"]').count() == 1
    # the line comes before the tables, and its details open one of its cells
    assert tab.evaluate("document.getElementById('unavailable').compareDocumentPosition("
                        "document.getElementById('matrix')) & Node.DOCUMENT_POSITION_FOLLOWING") != 0
    line.locator("button.open-cell").click()
    tab.locator("#panel").wait_for(state="visible")
    assert "keras2onnx" in tab.locator("#panel h2").inner_text()
    assert tab.locator("#panel a.cause-id").inner_text() == "k2o-onnx-mapping"


def test_causes_view_lists_a_causes_cells_on_click(tab, page, tmp_path):
    path, _ = page
    _open(tab, path.as_uri())
    rows = tab.locator("#causes-table tr.cause-row")
    # silent wrong answers first
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.cause)") == ["masked-gru", "k2o-onnx-mapping"]
    masked = tab.locator('#causes-table tr[data-cause="masked-gru"]')
    assert "silent wrong answer" in masked.inner_text() and "Masking" not in masked.inner_text()
    assert masked.locator("a").get_attribute("href") == KNOWN_LINK
    count = masked.locator("td.cells")
    assert count.locator(".chip").count() == 0
    count.locator("button").click()
    chips = count.locator(".chip")
    assert chips.count() == 1 and chips.first.get_attribute("data-id") == "gru-tf2onnx-opset9@modern"
    assert "known" in chips.first.get_attribute("class")
    k2o = tab.locator('#causes-table tr[data-cause="k2o-onnx-mapping"] td.cells')
    k2o.locator("button").click()
    assert k2o.locator(".chip").count() == 6
    tab.screenshot(path=str(tmp_path / "causes.png"), full_page=True)
    print(f"\nscreenshot: {tmp_path / 'causes.png'}")
    chips.first.click()
    tab.locator("#panel").wait_for(state="visible")
    assert tab.get_attribute("html", "data-open-cell") == "gru-tf2onnx-opset9@modern"
    assert tab.locator("#panel a.cause-id").inner_text() == "masked-gru"
    # the same count closes again
    count.locator("button").click()
    assert count.get_attribute("aria-expanded") == "false"


def test_failures_first_lists_unexpected_failures_before_the_rest(tab, page):
    path, _ = page
    _open(tab, path.as_uri())
    groups = tab.locator("#attention-table tbody").evaluate_all("bs => bs.map(b => b.dataset.group)")
    assert groups == ["unexpected", "silent", "expected", "pass", "not_tried"]
    unexpected = tab.locator('#attention-table tbody[data-group="unexpected"]')
    assert "Unexpected failures: 2 cells in 2 distinct signatures" in unexpected.inner_text()
    first = unexpected.locator("td.cells").first
    first.locator("button").click()
    assert first.locator(".chip").count() == 1


def test_layers_view_has_no_input_layer_row_and_no_unavailable_column(tab, tmp_path):
    inventory = {"Dense": ["Dense"], "InputLayer": ["InputLayer"], "LSTM": ["LSTM"]}
    mlp = rec("mlp", "tf2onnx", 13, "PASS")
    mlp["facts"].update(keras_layers=["Dense", "InputLayer"], layer_inventory=inventory)
    d = doc([mlp, _unavailable("mlp", 13)], causes=CAUSES)
    out = write_html(d, tmp_path / "layers.html")
    _open(tab, out.as_uri())
    names = tab.locator("#layers-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.layer)")
    assert names == ["Dense", "LSTM"]
    heads = tab.locator("#layers-table thead th").all_inner_texts()
    assert heads == ["layer", "cases", "tf2onnx"]
    assert "1 of 2 inference-relevant" in tab.locator("#layers").inner_text()


def test_summary_opens_into_per_opset_cells(tab, page, tmp_path):
    path, _ = page
    _open(tab, path.as_uri())
    row = tab.locator('#bycase-table tr[data-case="gru"]')
    texts = row.locator("td.sum").all_inner_texts()
    # gru, modern tf2onnx: known MISMATCH at 9, PASS at 13
    assert "works at opset 13" in texts
    summary = row.locator('td.sum[data-stack="modern"][data-converter="tf2onnx"]')
    assert summary.inner_text() == "works at opset 13"
    assert summary.get_attribute("aria-expanded") == "false" and summary.locator(".chip").count() == 0
    summary.click()
    assert summary.get_attribute("aria-expanded") == "true"
    chips = summary.locator(".chip")
    assert chips.all_inner_texts() == ["9 mism", "13 pass"]
    assert "known" in chips.first.get_attribute("class")
    tab.screenshot(path=str(tmp_path / "summary.png"), full_page=True)
    print(f"\nscreenshot: {tmp_path / 'summary.png'}")
    chips.first.click()
    tab.locator("#panel").wait_for(state="visible")
    assert tab.get_attribute("html", "data-open-cell") == "gru-tf2onnx-opset9@modern"
    # a converter that works nowhere says so
    assert any(t.startswith("fails: conv") for t in tab.locator('#bycase-table tr[data-case="lstm"] td.sum').all_inner_texts())


def test_hostile_strings_render_as_text(tab, page):
    path, _ = page
    _open(tab, path.as_uri() + "#open=" + "lstm-keras2onnx-opset13%40legacy")
    tab.locator("#panel").wait_for(state="visible")
    assert HOSTILE in tab.locator("#panel pre.reason").inner_text()
    assert tab.locator("#panel img").count() == 0 and tab.locator("#panel script").count() == 0
    assert tab.title() != "pwned"
