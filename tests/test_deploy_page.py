"""The page's Deploy view in a real browser (Debian's Chromium through Playwright), from fake records with
targets: the pass rate per target at the top, the failing target cells by cause, one row per cell with a
failing target and a column per target; a status opens its cell.  No TensorFlow."""
from __future__ import annotations

from conformance.report.html import write_html
from tests.report_fakes import cause, doc, rec

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


def _target(status, reason, *, observed=None, stage=None, cause_id=None, blame=None):
    t = {"status": status, "observed_status": observed or status, "reason": reason,
         "outcome": "passed" if status == "PASS" else "xfailed" if status == "XFAIL" else "failed",
         "stages": {"availability": {"ok": True}}}
    for k, v in (("stage", stage), ("cause", cause_id), ("blame", blame)):
        if v:
            t[k] = v
    return t


def _page(tmp_path):
    ok = _target("PASS", "outputs match Keras (the target's yardstick)")
    mlp = rec("mlp", "tf2onnx", 17, "PASS")
    mlp["targets"] = {"openvino": ok, "fp16": ok}
    gru = rec("gru", "tf2onnx", 17, "PASS", family="recurrent")
    gru["targets"] = {"openvino": ok, "fp16": _target(
        "XFAIL", "expected RUNTIME_ERROR [fp16-cast]: ... Observed: the target's runtime cannot load the model: Type Error",
        observed="RUNTIME_ERROR", stage="session", cause_id="fp16-cast")}
    lstm = rec("lstm", "tf2onnx", 17, "PASS", family="recurrent")
    lstm["targets"] = {"openvino": _target("MISMATCH", f"outputs differ from Keras: {HOSTILE}", stage="compare",
                                           blame="target"), "fp16": ok}
    conv = rec("conv", "tf2onnx", 17, "CONVERT_ERROR")
    conv["targets"] = {n: _target("NOT_APPLICABLE", "not run: onnxruntime did not run the converted model")
                       for n in ("openvino", "fp16")}
    d = doc([mlp, gru, lstm, conv], causes=[cause("fp16-cast", kind="runtime error", status=("RUNTIME_ERROR",))])
    return write_html(d, tmp_path / "matrix.html")


def test_the_deploy_view_shows_rates_failures_and_opens_a_cell(tab, tmp_path):
    path = _page(tmp_path)
    tab.goto(path.as_uri())
    tab.wait_for_selector("html[data-ready='1']")
    assert tab.title() != "pwned"
    rates = {r["t"]: r for r in tab.eval_on_selector_all(
        "#deploy-rates tr.deploy-rate",
        "rows => rows.map(r => ({t: r.dataset.target, rate: r.querySelector('.rate').textContent,"
        " own: r.querySelector('.own').textContent}))")}
    assert list(rates) == ["ort", "openvino", "fp16"]
    assert rates["ort"]["rate"] == "100%"   # the cells whose model onnxruntime ran: 3 (the CONVERT_ERROR one has none)
    assert rates["openvino"]["rate"] == "67%" and rates["openvino"]["own"] == "1"
    assert rates["fp16"]["rate"] == "67%" and rates["fp16"]["own"] == "1"
    groups = tab.eval_on_selector_all("#deploy-failures tr.deploy-failure",
                                      "rows => rows.map(r => [r.dataset.target, r.dataset.cause || null])")
    assert sorted(groups, key=str) == sorted([["fp16", "fp16-cast"], ["openvino", None]], key=str)
    # one row per cell with a failing target; the all-pass cell is counted, not listed
    rows = tab.eval_on_selector_all("#deploy-table tr.deploy-row", "rows => rows.map(r => r.dataset.id)")
    assert sorted(rows) == ["conv-tf2onnx-opset17", "gru-tf2onnx-opset17", "lstm-tf2onnx-opset17"]
    assert "1 more cell where every target passed is not listed" in tab.inner_text("#deploy-left-out")
    cell = tab.locator('#deploy-table tr[data-id="lstm-tf2onnx-opset17"] td[data-target="openvino"] button')
    assert cell.get_attribute("title").startswith("openvino: MISMATCH: outputs differ from Keras: <img")
    assert cell.inner_text() == "mism"
    # a click on a target's status opens its cell's details
    cell.click()
    tab.locator("#panel").wait_for(state="visible")
    assert tab.get_attribute("html", "data-open-cell") == "lstm-tf2onnx-opset17"
    row = tab.locator('#panel table.targets tr[data-target="openvino"]')
    assert row.inner_text().startswith("openvino\tMISMATCH\toutputs differ from Keras: <img")
    assert tab.title() != "pwned"
