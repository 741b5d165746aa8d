"""results.json stays small: ``conformance.run.slim.slim_record`` keeps what decides and what the
reports read, and drops the heavy facts where they don't help.  No TensorFlow: fake records."""
from __future__ import annotations

import copy
import json

import jinja2
import pytest

from conformance.run.slim import TRACE_LIMIT, slim_record
from conformance.run.verdict import decide
from tests.report_fakes import cause, doc, rec

TRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "/venv/lib/python3.11/site-packages/pkg/mod{i}.py", line {i}, in f{i}\n    x = f{i + 1}()\n'  # machine-path: example
    for i in range(16)) + "ValueError: boom\n"


def _unavailable(case: str, opset: int, cause_id: str | None = "k2o") -> dict:
    r = rec(case, "k2o", opset, "XFAIL" if cause_id else "UNAVAILABLE", cause=cause_id,
            reason="converter unavailable: ModuleNotFoundError: No module named 'onnx.mapping'")
    r.update(observed_status="UNAVAILABLE", stage="availability", signature="converter unavailable: x",
             stages={"availability": {"ok": False, "error": "ModuleNotFoundError: No module named 'onnx.mapping'",
                                      "traceback": TRACE, "reused": True}},
             facts={"converter_version": None},
             repro={"ok": True, "path": "repro/k2o-unavailable/repro.py", "files": ["repro.py"], "standalone": True,
                    "notes": ["the converter could not be imported here, so no model was saved with it"]})
    return r


def _passing(case: str, converter: str, opset: int, **kw) -> dict:
    r = rec(case, converter, opset, "PASS", cause=None, signature=None, **kw)
    st = r["stages"]
    st["build"].update(keras_seconds=[0.035597512999999026, 0.003372710000007828], batches=[3, 1])
    st["signature"].update(inputs=[{"name": "x", "type": "tensor(float)", "shape": ["unk__6", 4]}],
                           outputs=[{"name": "y", "type": "tensor(float)", "shape": ["unk__7", 2]}], fed_by="name")
    st["compare"]["batches"].append(copy.deepcopy(st["compare"]["batches"][0]) | {"batch": 1})
    st["session"] = {"ok": True, "seconds": 0.0036618790000048}
    st["applicable"] = {"ok": True, "reason": None}
    r["facts"].update(onnx_inputs=["x"], onnx_outputs=["y"], check_seconds=0.0002903830000207108,
                      custom_domains=[], keras_layers=["Dense", "InputLayer"],
                      deployable={"ok": True, "error": None, "custom_domains": [], "unregistered_domains": [],
                                  "seconds": 0.17622887300001366, "onnxruntime": "1.32.0", "identical": True,
                                  "max_abs_diff": 0.0, "forbidden_modules_loaded": [], "checked": True})
    return r


def _cases() -> list[dict]:
    invalid = rec("gelu", "c1", 13, "XFAIL", cause="erfc", expected_status="INVALID")
    invalid.update(observed_status="INVALID", stage="checker")
    invalid["stages"]["checker"] = {"ok": False, "error": "ValidationError: No Op registered for Erfc"}
    invalid["stages"]["compare"]["ok"] = True
    invalid["stages"]["compare"]["failures"] = []
    conv = rec("lstm", "c1", 13, "CONVERT_ERROR", cause=None, signature="conversion failed: ValueError: boom")
    conv["stages"]["convert"]["traceback"] = TRACE * 3
    conv["repro"] = {"ok": False, "reason": "not written: the search failed", "traceback": TRACE * 2}
    mism = rec("gru", "c1", 9, "MISMATCH", cause=None, signature="outputs differ from Keras: y: N/N elements outside")
    return [_passing("mlp", "c1", 13), _passing("mlp", "c1", 15), _unavailable("mlp", 13), _unavailable("gru", 13, None),
            invalid, conv, mism, rec("mlp", "c2", 13, "NOT_APPLICABLE", cause=None)]


@pytest.mark.parametrize("i", range(len(_cases())))
def test_slim_record_is_pure_and_decides_the_same(i):
    r = _cases()[i]
    before = copy.deepcopy(r)
    s = slim_record(r)
    assert r == before                                                  # pure: the record given is unchanged
    assert decide(s["stages"]) == decide(r["stages"])                   # status, reason, deciding stage
    for k in ("id", "case", "converter", "opset", "stack", "status", "observed_status", "stage", "expected_status",
              "outcome", "reason", "cause", "nodeid", "tags", "description", "family", "keras"):
        assert s.get(k) == r.get(k), k
    from conformance.report.causes import signature_of   # an explained failure's signature: derived again
    if r.get("signature") is not None:
        assert signature_of(s) == r["signature"] or (r["status"] == "XFAIL" and "signature" not in s)
    assert json.loads(json.dumps(s)) == s and slim_record(s) == s       # plain JSON, and slimming twice changes nothing


def test_tracebacks_only_on_unexpected_failures_and_cut_to_their_tail():
    by_id = {r["id"]: slim_record(r) for r in _cases()}
    assert "traceback" not in by_id["mlp-k2o-opset13"]["stages"]["availability"]          # expected (XFAIL)
    kept = by_id["gru-k2o-opset13"]["stages"]["availability"]["traceback"]                  # unexpected: kept
    assert kept == TRACE
    cut = by_id["lstm-c1-opset13"]["stages"]["convert"]["traceback"]
    assert len(cut) <= TRACE_LIMIT + 4 and cut.endswith("ValueError: boom\n") and cut.startswith("...\n")
    assert by_id["lstm-c1-opset13"]["repro"]["traceback"].endswith("ValueError: boom\n")   # the second task's own
    assert by_id["mlp-k2o-opset13"]["repro"] == {"ok": True, "path": "repro/k2o-unavailable/repro.py", "standalone": True}
    assert "files" not in by_id["gru-k2o-opset13"]["repro"] and by_id["gru-k2o-opset13"]["repro"]["notes"]
    # the error of a stage that failed after the deciding one is cut; the deciding stage's is whole
    r = rec("gelu", "c1", 13, "XFAIL", cause="erfc", observed_status="INVALID", stage="checker")
    r["stages"]["checker"] = {"ok": False, "error": "ValidationError: No Op registered for Erfc " + "c" * 900}
    r["stages"]["session"] = {"ok": False, "error": "InvalidGraph: No Op registered for Erfc " + "s" * 900}
    for k in ("signature", "run", "compare"):
        r["stages"].pop(k)
    s = slim_record(r)
    assert s["stages"]["checker"] == r["stages"]["checker"] and len(s["stages"]["session"]["error"]) == 300
    assert decide(s["stages"]) == decide(r["stages"])


def test_comparison_statistics_and_io_listings_only_on_failing_cells():
    by_id = {r["id"]: slim_record(r) for r in _cases()}
    ok = by_id["mlp-c1-opset13"]
    assert ok["stages"]["compare"] == {"ok": True}
    assert ok["stages"]["signature"] == {"ok": True, "fed_by": "name"}
    assert "onnx_inputs" not in ok["facts"] and "custom_domains" not in ok["facts"]
    assert set(ok["stages"]) == {"availability", "build", "convert", "session", "signature", "run", "compare"}
    assert ok["stages"]["build"] == {"ok": True, "seconds": 0.5, "batches": [3, 1], "cached": False}
    assert ok["facts"]["deployable"] == {"ok": True, "seconds": 0.1762, "identical": True, "max_abs_diff": 0.0,
                                         "checked": True}
    assert ok["facts"]["keras_layers"] == ["Dense", "InputLayer"] and ok["facts"]["op_histogram"]
    # a failing cell keeps its statistics (rounded to float32's 7 significant digits)
    mism = by_id["gru-c1-opset9"]["stages"]["compare"]
    assert mism["batches"][0]["outputs"][0]["mismatched"] == 3 and mism["failures"]
    # an invalid model whose outputs still matched: the comparison passed, its statistics go
    inv = by_id["gelu-c1-opset13"]
    assert inv["stages"]["compare"] == {"ok": True} and inv["stages"]["checker"]["error"].startswith("ValidationError")
    assert inv["facts"]["max_abs_error"] == 1.5e-7 and inv["facts"]["onnx_inputs"] if "onnx_inputs" in \
        _cases()[4]["facts"] else inv["facts"]["max_abs_error"] == 1.5e-7


def _doc(records: list[dict]) -> dict:
    return doc(records, causes=[cause("erfc", kind="invalid graph", status=("INVALID",)),
                                cause("k2o", kind="unavailable", status=("UNAVAILABLE",))])


def test_the_page_and_the_reports_work_on_slimmed_records(tmp_path):
    from conformance.report import diff, gate, layers, merge, overhead, stacks, terminal
    from conformance.report.html import make_env, page_data, render

    full = _doc(_cases())
    full["records"][0]["facts"]["layer_inventory"] = {"Dense": ["Dense"], "InputLayer": ["InputLayer"]}
    slim = dict(full, records=[slim_record(r) for r in full["records"]])
    html = render(slim, env=make_env(jinja2.StrictUndefined))
    data = page_data(html)
    assert len(data["cells"]) == len(full["records"]) and 'id="cause-erfc"' in html
    assert not diff.diff(full, slim).changes                                     # no cell reads differently
    assert gate.slim_baseline(full)["records"] == gate.slim_baseline(slim)["records"]
    assert layers.coverage(full, {}).to_json() == layers.coverage(slim, {}).to_json()
    a, b = overhead.measure(full), overhead.measure(slim)
    assert all(b[k] == pytest.approx(a[k], abs=1e-3) for k in a)
    assert terminal.summary_lines(full["records"], [], full["causes"]) == \
        terminal.summary_lines(slim["records"], [], slim["causes"])
    assert stacks.build_view(slim, stacks_file="/no/such/stacks.toml")["n_rows"] == \
        stacks.build_view(full, stacks_file="/no/such/stacks.toml")["n_rows"]
    other = doc([slim_record(_passing("mlp", "c1", 13))], stack="legacy", packages={"tensorflow": "2.13.1"})
    merged = merge.merge_docs([("a.json", slim), ("b.json", other)])
    assert len(merged["records"]) == len(slim["records"]) + 1
    render(merged, env=make_env(jinja2.StrictUndefined))


# the default tier as it ran (2026-12-02, 5160 cells, before the causes), per observed
# status: its share of the cells and, written by results.write under the causes contract, about
# PASS 5.8 kB, UNAVAILABLE 3.0 kB (a 1.3 kB traceback each: four converters cannot be imported),
# NOT_APPLICABLE 1.9 kB, INVALID 4.5 kB, CONVERT_ERROR 4.1 kB, MISMATCH 8.6 kB; one keras.layers
# inventory per worker.  The fakes below are built to weigh about as much.
MIX = {"PASS": 0.405, "UNAVAILABLE": 0.40, "NOT_APPLICABLE": 0.095, "INVALID": 0.08, "CONVERT_ERROR": 0.015,
       "MISMATCH": 0.005}
INVENTORY = {f"Layer{i}": [f"Layer{i}", f"Alias{i}"] for i in range(220)}
OPS = {op: i + 1 for i, op in enumerate(("Add", "Cast", "Concat", "Conv", "Gather", "MatMul", "Mul", "Reshape",
                                          "Shape", "Sigmoid", "Slice", "Squeeze", "Transpose", "Unsqueeze"))}


def _fake(status: str, i: int) -> dict:
    case, conv, opset = f"layer_case_{i // 10}_with_a_name", f"converter-{i % 10}", 18
    if status == "UNAVAILABLE":
        r = _unavailable(case, opset)
        r["converter"] = conv
        r["reason"] = f"expected UNAVAILABLE [cause-{i % 4}]: the converter's package imports a module onnx " \
                      "no longer has. Observed: converter unavailable: ModuleNotFoundError: No module named 'onnx.mapping'"
    elif status == "NOT_APPLICABLE":
        why = "the converter replays the seed's literal command only for the seed RNN models at the seed's sizes " * 2
        r = rec(case, conv, opset, "NOT_APPLICABLE", cause=None, signature=why, reason=why)
        r["stages"] = {"availability": {"ok": True, "version": "1.17.0"}, "case": {"ok": True},
                       "applicable": {"ok": False, "reason": why}}
        r["facts"] = {"converter_version": "1.17.0"}
    else:
        r = _passing(case, conv, opset)
        r["facts"].update(op_histogram=OPS, keras_layers=["Conv2D", "Dense", "InputLayer", "LSTM", "LSTMCell"],
                          deployable={"checked": False, "checked_at_opset": 9,
                                      "note": "CONFORMANCE_DEPLOY=once: checked at one opset per case and converter"}
                          if i % 6 else r["facts"]["deployable"])
        if status != "PASS":
            r.update(status="XFAIL", observed_status=status, cause=f"cause-{i % 30}", expected_status=status,
                     reason=f"expected {status} [cause-{i % 30}]: a title of a cause. Observed: " + "x" * 250,
                     signature="n" * 250, outcome="xfailed",
                     repro={"ok": True, "path": f"repro/{case}-{conv}-opset18/repro.py", "files": ["repro.py"],
                            "standalone": True})
            st = r["stages"]
            if status == "INVALID":
                st["checker"] = {"ok": False, "error": "ValidationError: No Op registered for Erfc " + "e" * 200}
                st["session"] = {"ok": False, "error": "InvalidGraph: No Op registered for Erfc " + "s" * 800}
                for k in ("signature", "run", "compare"):
                    st.pop(k)
                r["stage"] = "checker"
            elif status == "CONVERT_ERROR":
                st["convert"] = {"ok": False, "error": "ValueError: " + "c" * 300, "traceback": TRACE, "seconds": 0.3}
                for k in ("checker", "shape_inference", "session", "signature", "run", "compare"):
                    st.pop(k, None)
                r["stage"] = "convert"
            else:
                st["compare"]["ok"] = False
                st["compare"]["failures"] = ["batch 3: y: 3/6 elements outside rtol=0.0001"]
                r["stage"] = "compare"
                r["divergence"] = {"ok": True, "method": "onnx-outputs", "layer": "masking", "class": "Masking",
                                   "position": 1, "layers": 3, "probes": [{"layer": f"l{j}", "ok": j < 5} for j in range(8)]}
    if "convert" in r["stages"] and r["stages"]["convert"].get("ok"):
        r["stages"]["convert"]["command"] = ("model.export(path, format=\"tf_saved_model\"); python -m tf2onnx.convert "
                                             f"--saved-model saved_model --output model.onnx --opset {opset}")
        r["facts"].update(ir_version=8, outputs_matched_by="position", producer="tf2onnx 1.17.0 None",
                          opset_import={"ai.onnx": opset, "ai.onnx.ml": 2})
    if status == "UNAVAILABLE":
        r["signature"] = "converter unavailable: ModuleNotFoundError: No module named 'onnx.mapping'"
    r["id"] = f"{case}-{conv}-opset{opset}-{i}"
    r["case_module"] = "cases.layers.activations"
    r["description"] = f"Input(12, 10, 3) -> Layer(arg={i}, seed=1) -> Conv2D(4, 3); on (4, 6), inputs normal * 3.0"
    r["tags"] = ["layers"]
    return r


def _default_tier(n: int = 5160) -> dict:
    records: list[dict] = []
    for status, share in MIX.items():
        for _ in range(round(n * share)):
            records.append(_fake(status, len(records)))
    records[0]["facts"]["layer_inventory"] = INVENTORY
    return doc(records)


@pytest.fixture(scope="module")
def default_tier(tmp_path_factory) -> dict:
    """Bytes of a 5160-cell default tier, before and after slim_record: a quarter of it built and
    written (the mix is the same in every quarter, the size is linear in the cells), times four."""
    from conformance.run.results import write

    full = _default_tier(5160 // 4)
    slim = dict(full, records=[slim_record(r) for r in full["records"]])
    d = tmp_path_factory.mktemp("size")
    sizes = {"before": 4 * write(full, d / "before.json").stat().st_size,
             "after": 4 * write(slim, d / "after.json").stat().st_size,
             "compact": 4 * len(json.dumps(slim, separators=(",", ":")).encode())}
    print(f"\n{4 * len(full['records'])} cells: {sizes['before'] / 1e6:.1f} MB -> {sizes['after'] / 1e6:.1f} MB as "
          f"results.write writes it (indent=1), {sizes['compact'] / 1e6:.1f} MB compact")
    return sizes


def test_slimming_halves_a_default_tier_sized_results_file(default_tier):
    """Measured on the real default tier (5160 cells, written before causes, indented): 22.9 MB; records
    slimmed and written one per line (results.write): about 8 MB (docs/measurements.md has the real run's)."""
    assert default_tier["before"] > 12e6, "the fake records are no longer as heavy as a real default-tier run's"
    assert default_tier["after"] < 0.6 * default_tier["before"]
    assert default_tier["after"] < 8.5e6
