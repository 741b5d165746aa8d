"""A stack's run split into groups (pytest-split, as the stacks workflow runs it) and merged again.

The durations file comes from results files (``python -m conformance.stacks durations``); two groups of
a real ``pytest conformance/`` run over the TF-free fakes of tests/fakes/, one of them under xdist,
merged with ``python -m conformance.report merge``, hold the same cells with the same statuses as one
unsplit run: none missing, none twice.
"""
from __future__ import annotations

import json
import types

import pytest

from conformance import stacks
from tests import helpers
from tests import report_fakes as fakes

ROOT = helpers.ROOT
FAKES = ROOT / "tests" / "fakes"
#: 8 fake cases x 3 fake converters at opset 13: PASS, INVALID, CONVERT_ERROR and CASE_ERROR cells
FAKE_ARGS = ("--cases-module", str(FAKES / "cases.py"), "--converters-module", str(FAKES / "converters.py"),
             "--converters", "fake-ok,fake-invalid,fake-raises", "--causes", "none", "--opsets", "13",
             "-k", "fake_")
CELLS = 8 * 3


def _write(tmp_path, name: str, doc: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


# -- python -m conformance.stacks durations -----------------------------------------------------------

def test_durations_are_each_cells_seconds_by_node_id_the_mean_over_stacks(tmp_path, capsys):
    legacy = fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS", stack="legacy", seconds=3.0),
                        fakes.rec("mlp", "tf2onnx", 9, "PASS", stack="legacy", seconds=7.0),
                        fakes.rec("lstm", "tf2onnx", 13, "PASS", stack="legacy", seconds=0.0)], stack="legacy")
    modern = fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS", seconds=5.0)])
    out = tmp_path / "durations" / ".test_durations"
    argv = ["durations", _write(tmp_path, "legacy.json", legacy), _write(tmp_path, "modern.json", modern),
            "-o", str(out), "--opsets", "13"]
    assert stacks.main(argv) == 0
    assert "2 cells" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert json.loads(text) == {"conformance/test_matrix.py::test_cell[lstm-tf2onnx-opset13]": stacks.MIN_SECONDS,
                                "conformance/test_matrix.py::test_cell[mlp-tf2onnx-opset13]": 4.0}
    # pytest-split's own format (--store-durations): sorted keys, 4-space indent
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=4) + "\n"
    # without --opsets: every cell; a record without its node id gets the one its cell has
    bare = fakes.rec("gru", "keras-export", 18, "PASS")
    bare.pop("nodeid")
    assert stacks.main(["durations", _write(tmp_path, "legacy.json", legacy),
                        _write(tmp_path, "bare.json", fakes.doc([bare])), "-o", str(out)]) == 0
    assert set(json.loads(out.read_text())) == {f"conformance/test_matrix.py::test_cell[{c}]" for c in (
        "mlp-tf2onnx-opset13", "mlp-tf2onnx-opset9", "lstm-tf2onnx-opset13", "gru-keras-export-opset18")}


def test_plan_cuts_each_stack_as_pytest_split_would_and_scales_the_runs_wall_time(tmp_path, capsys):
    """Four cells of 1, 3, 2 and 2 s in a run of 80 s wall: one group is the whole run, two groups cut
    consecutive slices of about equal seconds ([1, 3] and [2, 2]: the longest holds 4 of the 8 s, so 40 s)."""
    recs = [fakes.rec(f"c{i}", "tf2onnx", 13, "PASS", stack="old", seconds=s) for i, s in enumerate([1.0, 3.0, 2.0, 2.0])]
    d = fakes.doc(recs, stack="old")
    d["run"]["wall_seconds"] = 80.0
    row = stacks.plan(d, [1, 2])[0]
    assert (row["stack"], row["cells"], row["cell_seconds"], row["wall_seconds"]) == ("old", 4, 8.0, 80.0)
    assert row["groups"][1] == {"cells": 4, "cell_seconds": 8.0, "wall_seconds": 80.0}
    assert row["groups"][2] == {"cells": 2, "cell_seconds": 4.0, "wall_seconds": 40.0}
    assert stacks.main(["plan", _write(tmp_path, "old.json", d), "--groups", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "| old | 4 | 8 | 1 min 20 s | 1 min 20 s | 0 min 40 s |" in out
    assert stacks.main(["plan", _write(tmp_path, "old.json", d), "--groups", "two"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_durations_from_an_interrupted_runs_partial_file(tmp_path):
    doc = fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS", seconds=1.5)])
    partial = tmp_path / "results.partial.jsonl"
    header = {"kind": "header", "schema_version": doc["schema_version"], "run": doc["run"],
              "environment": doc["environment"], "converters": doc["converters"]}
    partial.write_text("\n".join(json.dumps(x) for x in [header, {"kind": "record", "record": doc["records"][0]}]),
                       encoding="utf-8")
    out = tmp_path / "d.json"
    assert stacks.main(["durations", str(partial), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == {"conformance/test_matrix.py::test_cell[mlp-tf2onnx-opset13]": 1.5}


def test_durations_update_adds_a_tiers_cells_and_keeps_the_rest(tmp_path, capsys):
    out = tmp_path / ".test_durations"
    out.write_text(json.dumps({"conformance/test_matrix.py::test_cell[mlp-tf2onnx-opset13]": 2.0,
                               "conformance/test_matrix.py::test_cell[gru-tf2onnx-opset13]": 3.0}))
    models = fakes.doc([fakes.rec("app_vgg16", "tf2onnx", 13, "PASS", seconds=26.0),
                        fakes.rec("mlp", "tf2onnx", 13, "PASS", seconds=5.0)])
    assert stacks.main(["durations", _write(tmp_path, "models.json", models), "-o", str(out), "--update"]) == 0
    assert json.loads(out.read_text()) == {"conformance/test_matrix.py::test_cell[app_vgg16-tf2onnx-opset13]": 26.0,
                                           "conformance/test_matrix.py::test_cell[gru-tf2onnx-opset13]": 3.0,
                                           "conformance/test_matrix.py::test_cell[mlp-tf2onnx-opset13]": 5.0}
    out.write_text("[1, 2]")
    assert stacks.main(["durations", _write(tmp_path, "models.json", models), "-o", str(out), "--update"]) == 2
    assert "not a durations file" in capsys.readouterr().err


@pytest.mark.parametrize("what, message", [
    ("slim", "no cell with its seconds"),
    ("missing", "no such file"),
    ("opsets", "no cell with its seconds at the opsets asked for"),
    ("bad-opsets", "give opsets as numbers"),
])
def test_durations_refuse_bad_input_with_one_line(tmp_path, capsys, what, message):
    slim = fakes.doc([{"case": "mlp", "converter": "tf2onnx", "opset": 13, "status": "PASS", "stack": "modern"}])
    full = fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS")])
    argv = {"slim": ["durations", _write(tmp_path, "slim.json", slim)],
            "missing": ["durations", str(tmp_path / "nothing.json")],
            "opsets": ["durations", _write(tmp_path, "full.json", full), "--opsets", "9"],
            "bad-opsets": ["durations", _write(tmp_path, "full.json", full), "--opsets", "nine"]}[what]
    out = tmp_path / "d.json"
    assert stacks.main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not out.exists()


def test_pytest_split_cuts_every_cell_into_one_group_unknown_cells_by_the_average():
    """pytest-split's cut (the workflow's default algorithm) over node ids, with the durations this suite
    writes: consecutive groups, every cell in exactly one, a cell missing from the file counted as the
    average of the known ones."""
    from pytest_split import algorithms

    items = [types.SimpleNamespace(nodeid=f"{stacks.CELL_TEST}[c{i}-fake-ok-opset13]") for i in range(10)]
    durations = {it.nodeid: 10.0 for it in items[:5]}          # c5..c9 unknown: 10 s each, the average
    durations["conformance/test_matrix.py::test_cell[gone-opset13]"] = 1000.0   # not collected: ignored
    groups = algorithms.Algorithms.duration_based_chunks.value(2, items, durations)
    assert [len(g.selected) for g in groups] == [5, 5] and [g.duration for g in groups] == [50.0, 50.0]
    assert [it for g in groups for it in g.selected] == items    # in order, each cell once
    skewed = {it.nodeid: 10.0 for it in items} | {items[0].nodeid: 90.0}   # a heavy first cell: a group of its own
    groups = algorithms.Algorithms.duration_based_chunks.value(2, items, skewed)
    assert groups[0].selected == items[:1] and groups[1].selected == items[1:]


def test_the_committed_durations_file_is_pytest_splits_format_of_cells():
    durations = json.loads(stacks.DURATIONS_FILE.read_text(encoding="utf-8"))
    assert len(durations) >= 100
    assert all(k.startswith(stacks.CELL_TEST + "[") and k.endswith("]") for k in durations)
    assert all(isinstance(v, float) and v > 0 for v in durations.values())


# -- two groups merged == one unsplit run ------------------------------------------------------------

def _statuses(doc: dict) -> dict[str, str]:
    ids = [r["id"] for r in doc["records"]]
    assert len(ids) == len(set(ids)), "a cell twice"
    return {r["id"]: r["status"] for r in doc["records"]}


def test_two_groups_merged_are_one_unsplit_run(tmp_path):
    proc, whole = helpers.run_matrix(tmp_path / "whole", *FAKE_ARGS, timeout=300)
    assert whole is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
    expected = _statuses(whole)
    assert len(expected) == CELLS and {"PASS", "INVALID", "CONVERT_ERROR", "CASE_ERROR"} <= set(expected.values())

    # the durations from the unsplit run: its cells' node ids, as pytest-split looks them up
    durations = tmp_path / ".test_durations"
    made = helpers.run_module("conformance.stacks", "durations", tmp_path / "whole" / "results.json",
                              "-o", durations, timeout=60)
    assert made.returncode == 0, made.stderr
    known = json.loads(durations.read_text())
    assert set(known) == {r["nodeid"] for r in whole["records"]}
    # the seconds of so short a run are mostly its first cell's start; even ones make the cut predictable:
    # 12 cells each, one of them missing from the file (a new case: it counts as the average)
    known = {nodeid: 1.0 for nodeid in known}
    known.pop("conformance/test_matrix.py::test_cell[fake_tiny_3-fake-ok-opset13]")
    durations.write_text(json.dumps(known), encoding="utf-8")

    parts = []
    for group, extra in ((1, ("-n", "2")), (2, ())):   # one group under xdist, as the workflow runs them
        proc, doc = helpers.run_matrix(tmp_path / f"group{group}", *FAKE_ARGS, *extra, "--splits", "2",
                                       "--group", str(group), "--durations-path", str(durations), timeout=300)
        assert doc is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert proc.returncode == 1, proc.stdout[-2000:]     # failing cells in each, no causes given
        assert doc["run"]["complete"] is True and doc["run"]["xdist_workers"] == (2 if extra else 0)
        parts.append(_statuses(doc))
    assert "[pytest-split] Running group 2/2" in proc.stdout
    assert [len(p) for p in parts] == [CELLS // 2, CELLS // 2] and not set(parts[0]) & set(parts[1])

    merged_path = tmp_path / "merged.json"
    merged = helpers.run_module("conformance.report", "merge", tmp_path / "group1" / "results.json",
                                tmp_path / "group2" / "results.json", "-o", merged_path, timeout=60)
    assert merged.returncode == 0, merged.stderr
    doc = json.loads(merged_path.read_text())
    assert _statuses(doc) == expected
    assert doc["run"]["complete"] is True and doc["run"]["cells"] == CELLS
