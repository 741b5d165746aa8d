"""The speedup table from pytest-benchmark JSON (conformance/speedup.py), with fake benchmark results.

No TensorFlow: the entries are shaped like pytest-benchmark's own (their ``stats`` come from
pytest_benchmark.stats.Stats, so the keys are the plugin's).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_benchmark.stats import Stats

from benchmarks import speedup
from tests.helpers import run_pytest

ROOT = Path(__file__).resolve().parents[1]


def _stats(values) -> dict:
    s = Stats()
    for v in values:
        s.update(v)
    d = s.as_dict()
    d["iterations"] = 1
    return d


def warm(case, batch, mode, values, **info) -> dict:
    return {"group": f"{case} batch {batch}", "name": f"test_warm[{case}-b{batch}-{mode}]",
            "fullname": f"benchmarks/test_inference.py::test_warm[{case}-b{batch}-{mode}]",
            "params": None, "param": None, "options": {},
            "extra_info": {"case": case, "batch": batch, "mode": mode, **info}, "stats": _stats(values)}


def cold(case, side, launch, wall) -> dict:
    mode = "cold_keras" if side == "keras" else "cold_onnxruntime"
    return {"name": f"test_cold[{case}-cold-{side}]", "fullname": f"x::test_cold[{case}-cold-{side}]",
            "extra_info": {"case": case, "batch": 1, "mode": mode, "since_launch_s": launch,
                           "import_s": [0.5] * len(launch), "load_s": [0.1] * len(launch),
                           "predict_s": [0.01] * len(launch), "artifact": "model.onnx"},
            "stats": _stats(wall)}


def group(case="seed_lstm", batch=1, predict=0.1, call=0.02, tf_function=0.004, ort=0.002):
    return [warm(case, batch, "predict", [predict] * 5), warm(case, batch, "call", [call] * 5),
            warm(case, batch, "tf_function", [tf_function] * 5), warm(case, batch, "onnxruntime", [ort] * 5)]


def by_mode(rows, case="seed_lstm", batch=1):
    return {r["mode"]: r for r in rows if r["case"] == case and r["batch"] == batch}


def test_warm_speedups_are_keras_median_over_onnxruntime_median():
    rows = by_mode(speedup.build_rows(group()))
    assert rows["predict"]["speedup"] == pytest.approx(50)
    assert rows["call"]["speedup"] == pytest.approx(10)
    assert rows["tf_function"]["speedup"] == pytest.approx(2)
    ort = rows["onnxruntime"]
    assert ort["speedup"] == pytest.approx(1)
    assert "speedup_low" not in ort  # no range of onnxruntime against itself
    for r in rows.values():  # every row of the group carries the group's speedups
        assert r["speedup_vs_predict"] == pytest.approx(50)
        assert r["speedup_vs_call"] == pytest.approx(10)
        assert r["speedup_vs_tf_function"] == pytest.approx(2)
        assert r["kind"] == "warm"
        assert {"median_s", "iqr_s", "stddev_s", "rounds"} <= set(r)


def test_spread_comes_from_pytest_benchmark_statistics():
    rows = by_mode(speedup.build_rows([warm("a", 1, "predict", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                                       warm("a", 1, "onnxruntime", [0.5, 0.5, 1.0, 1.0])]), "a")
    p = rows["predict"]
    assert p["median_s"] == 3.5 and p["rounds"] == 6
    assert p["iqr_s"] == pytest.approx(3.0)  # Stats: q1 = median(1,2,3) = 2, q3 = median(4,5,6) = 5
    assert p["speedup"] == pytest.approx(3.5 / 0.75)
    assert p["speedup_low"] == pytest.approx(2.0 / 1.0) and p["speedup_high"] == pytest.approx(5.0 / 0.5)


def test_cold_rows_use_the_in_child_times_and_keep_wall_times():
    rows = by_mode(speedup.build_rows([cold("m", "keras", [4.0, 6.0, 5.0], [7.0, 8.0, 9.0]),
                                       cold("m", "onnxruntime", [0.4, 0.6, 0.5], [0.9, 1.0, 1.1])]), "m")
    k, o = rows["cold_keras"], rows["cold_onnxruntime"]
    assert (k["kind"], k["median_s"], k["rounds"], k["wall_median_s"]) == ("cold", 5.0, 3, 8.0)
    assert k["speedup"] == pytest.approx(10) and o["speedup_vs_cold_keras"] == pytest.approx(10)
    assert k["import_median_s"] == 0.5 and k["predict_median_s"] == 0.01
    assert "speedup_vs_predict" not in k


def test_missing_onnxruntime_gives_no_speedup_and_a_dash():
    entries = [warm("x", 1, "predict", [0.1] * 3), warm("x", 1, "call", [0.1] * 3)]
    rows = speedup.build_rows(entries)
    assert all(r["speedup"] is None for r in rows)
    assert "| x | 1 | " in speedup.markdown({"rows": rows}) and "| - |" in speedup.markdown({"rows": rows})


def test_markdown_flags_an_onnxruntime_model_whose_outputs_differ():
    entries = group()
    entries[-1]["extra_info"].update(outputs_match=False, max_abs_diff=0.5)
    rows = speedup.build_rows(entries)
    assert by_mode(rows)["onnxruntime"]["outputs_match"] is False
    assert "(outputs differ from Keras!)" in speedup.markdown({"rows": rows})
    assert "outputs differ" not in speedup.markdown({"rows": speedup.build_rows(group())})


def test_entries_that_are_not_ours_are_ignored_and_duplicates_refused():
    foreign = {"name": "test_other", "extra_info": {}, "stats": _stats([1.0])}
    no_stats = {"name": "n", "extra_info": {"case": "x", "batch": 1, "mode": "call"}, "stats": {}}
    unknown_mode = warm("x", 1, "jit", [1.0])
    assert speedup.build_rows([foreign, no_stats, unknown_mode]) == []
    with pytest.raises(speedup.SpeedupError, match="two benchmarks measure case x batch 1 mode call"):
        speedup.build_rows([warm("x", 1, "call", [1.0]), warm("x", 1, "call", [2.0])])


def test_rows_keep_case_order_then_warm_before_cold_then_batch_then_mode():
    entries = [cold("b", "onnxruntime", [1.0], [1.0]), *group("b", 32), *group("a", 1)[::-1], *group("b", 1),
               cold("b", "keras", [2.0], [2.0])]
    keys = [(r["case"], r["batch"], r["mode"]) for r in speedup.build_rows(entries)]
    assert keys[0][0] == "b" and keys[-1] == ("a", 1, "onnxruntime")
    b = [k for k in keys if k[0] == "b"]
    assert b[:4] == [("b", 1, m) for m in speedup.WARM_MODES]
    assert b[-2:] == [("b", 1, "cold_keras"), ("b", 1, "cold_onnxruntime")]


@settings(max_examples=60, deadline=None)
@given(keras=st.lists(st.floats(1e-6, 10.0), min_size=1, max_size=12),
       ort=st.lists(st.floats(1e-6, 10.0), min_size=1, max_size=12))
def test_speedup_lies_within_its_quartile_bounds(keras, ort):
    row = by_mode(speedup.build_rows([warm("h", 1, "call", keras), warm("h", 1, "onnxruntime", ort)]), "h")["call"]
    assert row["speedup"] * by_mode(speedup.build_rows([warm("h", 1, "onnxruntime", ort)]), "h")["onnxruntime"][
        "median_s"] == pytest.approx(row["median_s"])
    assert row["speedup_low"] <= row["speedup"] * (1 + 1e-9)
    assert row["speedup"] <= row["speedup_high"] * (1 + 1e-9)


def test_document_from_pytest_benchmark_json_keeps_threads_and_conversion():
    bench = {"machine_info": {"node": "h"}, "benchmarks": group(),
             "conformance": {"threads": {"intra_op": 2, "inter_op": 1}, "command": "pytest benchmarks/",
                             "conversion": {"converter": "tf2onnx-keras", "opset": 13}}}
    doc = speedup.from_benchmark_json(bench, "x.json")
    assert doc["schema_version"] == 1 and doc["threads"]["intra_op"] == 2
    assert doc["conversion"]["opset"] == 13 and len(doc["rows"]) == 4
    text = speedup.markdown(doc)
    assert "| seed_lstm | 1 | 100 ms ± 0 us |" in text
    assert "50.00x" in text and "intra-op 2, inter-op 1" in text and "`pytest benchmarks/`" in text
    with pytest.raises(speedup.SpeedupError, match="not a pytest-benchmark JSON"):
        speedup.from_benchmark_json({"records": []}, "results.json")


def test_cli_build_and_markdown(tmp_path, capsys):
    src = tmp_path / "bench.json"
    src.write_text(json.dumps({"benchmarks": group() + [cold("seed_lstm", "keras", [5.0], [6.0]),
                                                         cold("seed_lstm", "onnxruntime", [0.5], [0.6])]}))
    out = tmp_path / "speedup.json"
    assert speedup.main(["build", str(src), "-o", str(out)]) == 0
    doc = speedup.load_speedup(out)
    assert [r["mode"] for r in doc["rows"]][-2:] == ["cold_keras", "cold_onnxruntime"]
    capsys.readouterr()
    assert speedup.main(["markdown", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| seed_lstm (1) | 5.00 s ± 0 us | 500 ms ± 0 us | 10.00x" in text


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"benchmarks": [{"name": "t", "extra_info": {}, "stats": {}}]}), "no benchmark with case/batch/mode"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    assert speedup.main(["build", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("error: ")


def test_markdown_refuses_other_schema(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"schema_version": 2, "rows": []}))
    assert speedup.main(["markdown", str(path)]) == 2
    assert "schema version 2, this report reads 1" in capsys.readouterr().err


def test_benchmarks_are_opt_in():
    """Without --benchmark-only every benchmark is skipped, without importing TensorFlow."""
    env = dict(os.environ, CONFORMANCE_BENCHMARKS="0")
    proc = run_pytest("benchmarks/", "-q", "-rs", "-p", "no:cacheprovider", "--bench-cases", "mlp_softmax",
                      timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # 2 batches x 4 modes + 2 cold sides + the all-stacks page
    assert "11 skipped" in proc.stdout and "passed" not in proc.stdout
    assert "benchmarks are opt-in" in proc.stdout


def test_benchmark_table_is_attached_to_results_and_rendered(tmp_path):
    """The speedup table lands in results.json (key "speedup") and in the rebuilt matrix.html."""
    from benchmarks.conftest import _attach_to_results
    from conformance.run import results
    from tests.report_fakes import doc as results_doc
    from tests.report_fakes import rec

    results.write(results_doc([rec("seed_lstm", "tf2onnx-keras", 13, "PASS")]), tmp_path / "results.json")
    bench = {"benchmarks": group()}
    sp = tmp_path / "speedup.json"
    speedup.write(speedup.from_benchmark_json(bench, "x.json"), sp)
    assert _attach_to_results(sp) == tmp_path / "results.json"
    doc = results.load(tmp_path / "results.json")
    assert doc["speedup"]["rows"] and doc["records"][0]["case"] == "seed_lstm"
    page = (tmp_path / "matrix.html").read_text()
    assert 'id="speedup-table"' in page and "speedup_vs_predict" in page and "benchmarks/test_inference" not in page
    assert _attach_to_results(tmp_path / "elsewhere" / "speedup.json") is None
