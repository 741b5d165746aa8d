"""The report machinery without TensorFlow: diff classification, merge, rebuild, CLI exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.report import diff as diff_mod
from conformance.report.__main__ import main
from conformance.report.merge import merge_docs
from conformance.report.gate import after_run, load_baseline, summary_lines
from conformance.run.results import ResultsError, ResultsWriter, load
from conformance.statuses import Status
from tests.helpers import run_module, run_pytest
from tests.report_fakes import doc, rec

ROOT = Path(__file__).resolve().parents[1]
STATUSES = [s.value for s in Status]


def write(tmp_path: Path, name: str, d: dict) -> str:
    p = tmp_path / name
    p.write_text(json.dumps(d), encoding="utf-8")
    return str(p)


# ---------------------------------------------------------------- classification

@pytest.mark.parametrize("old,new,kind", [
    ("PASS", "MISMATCH", "regression"),
    ("PASS", "UNAVAILABLE", "regression"),
    ("PASS", "NOT_APPLICABLE", "regression"),
    ("PASS", "XFAIL", "regression"),        # now failing; an expectation only hides it
    ("XFAIL", "CRASH", "regression"),
    ("XPASS", "CONVERT_ERROR", "regression"),
    ("XFAIL", "PASS", "fix"),
    ("XFAIL", "XPASS", "fix"),
    ("MISMATCH", "PASS", "fix"),
    ("CRASH", "XFAIL", "fix"),
    ("MISMATCH", "CONVERT_ERROR", "changed"),
    ("PASS", "XPASS", "changed"),
    ("PASS", "PASS", None),
    ("CRASH", "CRASH", None),
])
def test_classify_table(old, new, kind):
    assert diff_mod.classify({"status": old}, {"status": new}) == kind


def test_a_failure_that_comes_and_goes_under_a_non_strict_entry_is_no_regression():
    loose = {"status": "XFAIL", "expectation": {"strict": False}}
    assert diff_mod.classify({"status": "PASS"}, loose) == "changed"
    assert diff_mod.classify({"status": "PASS"}, dict(loose, expectation={"strict": True})) == "regression"
    assert diff_mod.classify({"status": "PASS"}, {"status": "MISMATCH", "expectation": {"strict": False}}) == "regression"


def test_classify_new_and_removed():
    assert diff_mod.classify(None, {"status": "CRASH"}) == "new"
    assert diff_mod.classify({"status": "PASS"}, None) == "removed"


@given(st.sampled_from(STATUSES), st.sampled_from(STATUSES))
def test_classify_properties(a, b):
    kind = diff_mod.classify({"status": a}, {"status": b})
    if a == b:
        assert kind is None
        return
    assert kind in ("regression", "fix", "changed")
    # a regression needs an accepted starting point and a strictly worse end
    assert (kind == "regression") == (a in diff_mod.ACCEPTED and diff_mod.rank(b) > diff_mod.rank(a))
    if kind == "regression":
        assert diff_mod.classify({"status": b}, {"status": a}) == "fix"
    if kind == "fix":
        assert diff_mod.rank(b) < diff_mod.rank(a)


def _pair():
    old = doc([rec("a", "c1", 13, "PASS"), rec("b", "c1", 13, "XFAIL"), rec("c", "c1", 13, "MISMATCH"),
               rec("d", "c1", 13, "PASS"), rec("gone", "c1", 13, "PASS"), rec("e", "c1", 13, "CRASH")],
              stack="legacy")
    new = doc([rec("a", "c1", 13, "MISMATCH"), rec("b", "c1", 13, "PASS"), rec("c", "c1", 13, "CONVERT_ERROR"),
               rec("d", "c1", 13, "PASS"), rec("fresh", "c1", 13, "PASS"), rec("e", "c1", 13, "CRASH")],
              stack="modern")
    return old, new


def test_diff_pairs_single_stacks_and_classifies():
    old, new = _pair()
    d = diff_mod.diff(old, new)
    assert not d.by_stack and d.old_stacks == ["legacy"] and d.new_stacks == ["modern"]
    got = {(c.kind, c.key[1]) for c in d.changes}
    assert got == {("regression", "a"), ("fix", "b"), ("changed", "c"), ("new", "fresh"), ("removed", "gone")}
    assert d.unchanged == 2
    assert [c.key[1] for c in d.regressions] == ["a"]
    lines = diff_mod.table_lines(d)
    assert lines[0].split()[:4] == ["change", "cell", "old", "new"]
    assert any(ln.startswith("REGRESSION") and "a / c1 / opset 13" in ln for ln in lines)
    assert lines[-1].startswith("1 regression, 1 fix, 1 changed, 1 new, 1 removed, 2 unchanged")


def test_diff_by_stack_when_both_hold_the_same_stacks():
    both_old = merge_docs([("l", doc([rec("a", "c", 13, "PASS", stack="legacy")], stack="legacy")),
                           ("m", doc([rec("a", "c", 13, "PASS", stack="modern")], stack="modern"))])
    both_new = merge_docs([("l", doc([rec("a", "c", 13, "PASS", stack="legacy")], stack="legacy")),
                           ("m", doc([rec("a", "c", 13, "CRASH", stack="modern")], stack="modern"))])
    d = diff_mod.diff(both_old, both_new)
    assert d.by_stack and [(c.kind, c.key[0]) for c in d.changes] == [("regression", "modern")]
    with pytest.raises(ResultsError, match="cannot pair stacks"):
        diff_mod.diff(both_old, doc([rec("a", "c", 13, "PASS", stack="x")], stack="x"))


# ---------------------------------------------------------------- CLI: diff

def test_cli_diff_exit_codes(tmp_path, capsys):
    old, new = _pair()
    o, n = write(tmp_path, "old.json", old), write(tmp_path, "new.json", new)
    assert main(["diff", o, n]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "FIX" in out and "NEW" in out and "REMOVED" in out
    assert main(["diff", o, o]) == 0
    assert "0 regressions" in capsys.readouterr().out
    # a fix alone does not fail
    assert main(["diff", n, write(tmp_path, "fixed.json", doc([rec("a", "c1", 13, "PASS")]))]) == 0
    capsys.readouterr()
    assert main(["diff", o, n, "--json", "-"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["regression"] == 1 and data["changes"][0]["kind"] == "regression"


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ('{"records": []}', "no schema_version"),
    ('{"schema_version": 99, "records": []}', "schema version 99"),
    ('{"schema_version": 1, "records": [{"case": "a"}]}', "lacks case/converter/opset/status"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, content, message):
    good = write(tmp_path, "good.json", doc([rec("a", "c", 13, "PASS")]))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    for argv in (["diff", good, str(bad)], ["merge", good, str(bad), "-o", str(tmp_path / "m.json")],
                 ["html", str(bad), "-o", str(tmp_path / "x.html")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "x.html").exists()


def test_cli_diff_unpairable_stacks_exit_2(tmp_path, capsys):
    two = merge_docs([("l", doc([rec("a", "c", 13, "PASS", stack="legacy")], stack="legacy")),
                      ("m", doc([rec("a", "c", 13, "PASS", stack="modern")], stack="modern"))])
    assert main(["diff", write(tmp_path, "two.json", two),
                 write(tmp_path, "one.json", doc([rec("a", "c", 13, "PASS", stack="x")], stack="x"))]) == 2
    assert "cannot pair stacks" in capsys.readouterr().err


def test_cli_subprocess_real_exit_codes_no_traceback(tmp_path):
    old, new = _pair()
    o, n = write(tmp_path, "old.json", old), write(tmp_path, "new.json", new)
    run = lambda *a: run_module("conformance.report", *a, timeout=60)  # noqa: E731
    p = run("diff", o, n)
    assert p.returncode == 1 and "REGRESSION" in p.stdout
    p = run("diff", o, str(tmp_path / "missing.json"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = run("frobnicate")
    assert p.returncode == 2 and "Traceback" not in p.stderr


# ---------------------------------------------------------------- merge

def test_merge_shards_of_one_stack(tmp_path, capsys):
    a = doc([rec("a", "c1", 13, "PASS"), rec("b", "c1", 13, "CRASH")], run_id="gw0",
            stale=["one", "two"])
    b = doc([rec("a", "c1", 15, "PASS"), rec("b", "c2", 13, "XFAIL", cause="one")], run_id="gw1",
            stale=["two"])
    out = tmp_path / "merged.json"
    assert main(["merge", write(tmp_path, "a.json", a), write(tmp_path, "b.json", b), "-o", str(out),
                 "--html", str(tmp_path / "m.html")]) == 0
    m = load(out)
    assert len(m["records"]) == 4 and m["run"]["complete"] is True
    assert m["run"]["run_ids"] == ["gw0", "gw1"] and m["run"]["opsets"] == [13, 15]
    assert list(m["stacks"]) == ["modern"] and set(m["converters"]) == {"c1", "c2"}
    # cause "one" matched a cell in shard b, so only "two" is stale for the merged run
    assert m["stale_causes"] == ["two"]
    assert (tmp_path / "m.html").is_file()


def test_merge_refuses_duplicates_other_schema_and_mislabelled_stacks(tmp_path, capsys):
    a = write(tmp_path, "a.json", doc([rec("a", "c1", 13, "PASS")]))
    out = str(tmp_path / "m.json")
    assert main(["merge", a, a, "-o", out]) == 2
    assert "is in both" in capsys.readouterr().err
    old = write(tmp_path, "old.json", doc([rec("z", "c1", 13, "PASS")], schema_version=0))
    assert main(["merge", a, old, "-o", out]) == 2
    err = capsys.readouterr().err
    assert "schema version 0" in err and len(err.strip().splitlines()) == 1
    other = write(tmp_path, "o.json", doc([rec("z", "c1", 13, "PASS")], packages={"tensorflow": "2.13.1"}))
    assert main(["merge", a, other, "-o", out]) == 2
    assert "different package versions" in capsys.readouterr().err
    with pytest.raises(ResultsError, match="schema version 5"):
        merge_docs([("x", doc([], schema_version=5))])


def test_merge_two_stacks_keeps_both_environments():
    m = merge_docs([("l", doc([rec("a", "c", 13, "PASS", stack="legacy")], stack="legacy",
                              packages={"tensorflow": "2.13.1"})),
                    ("m", doc([rec("a", "c", 13, "CRASH", stack="modern")], stack="modern"))])
    assert list(m["stacks"]) == ["legacy", "modern"]
    assert m["stacks"]["legacy"]["environment"]["packages"]["tensorflow"] == "2.13.1"
    assert m["run"]["stack"] == "legacy, modern"


# ---------------------------------------------------------------- rebuild

def _partial(tmp_path: Path, n: int) -> Path:
    w = ResultsWriter(tmp_path / "rep", {"id": "r", "stack": "modern", "converters": ["c1"], "opsets": [13]},
                      {"stack": "modern", "packages": {}}, {})
    for i in range(n):
        w.add(rec(f"case{i}", "c1", 13, "PASS"))
    w._fh.flush()
    return w.partial_path


def test_cli_rebuild_interrupted_run(tmp_path, capsys):
    partial = _partial(tmp_path, 3)
    with open(partial, "a") as fh:  # a killed run can leave a cut-off last line
        fh.write('{"kind": "record", "rec')
    out = tmp_path / "results.json"
    assert main(["rebuild", str(partial), "-o", str(out), "--html", str(tmp_path / "m.html")]) == 0
    d = load(out)
    assert len(d["records"]) == 3 and d["run"]["complete"] is False and d["run"]["interrupted"] is True
    assert "interrupted, rebuilt" in (tmp_path / "m.html").read_text()
    assert main(["rebuild", str(tmp_path / "nope.jsonl"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- the run's gate

def test_after_run_gate_and_page(tmp_path):
    base = doc([rec("a", "c1", 13, "PASS"), rec("b", "c1", 13, "XFAIL"), rec("other", "c1", 13, "PASS")],
               stack="legacy")
    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc([rec("a", "c1", 13, "UNAVAILABLE"), rec("b", "c1", 13, "XFAIL")])))
    rep = after_run(results, base, "base.json")
    assert rep.failed and [c.key[1] for c in rep.regressions] == ["a"]
    assert rep.not_run == 1                      # 'other' was not run: counted, not "removed"
    assert rep.html_path == tmp_path / "matrix.html" and rep.html_path.is_file()
    lines = summary_lines(rep)
    assert any("REGRESSION" in ln for ln, _ in lines) and lines[-1][0].startswith("BASELINE GATE FAILED")
    assert [ln for ln, alarm in lines if alarm] == [lines[-1][0]]   # only the gate's verdict is red
    assert "chg-regression" in rep.html_path.read_text()
    ok = after_run(results, doc([rec("a", "c1", 13, "CRASH")]), "b2.json")
    assert not ok.failed and not any("GATE" in ln for ln, _ in summary_lines(ok))
    plain = after_run(results, None)
    assert plain.diff is None and plain.html_path.is_file() and not plain.failed


def test_load_baseline_refuses_several_stacks(tmp_path):
    two = merge_docs([("l", doc([rec("a", "c", 13, "PASS", stack="legacy")], stack="legacy")),
                      ("m", doc([rec("a", "c", 13, "PASS", stack="modern")], stack="modern"))])
    with pytest.raises(ResultsError, match="holds 2 stacks"):
        load_baseline(write(tmp_path, "two.json", two))
    assert load_baseline(None) is None


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ('{"schema_version": 2, "records": []}', "schema version 2"),
])
def test_pytest_baseline_option_bad_file_is_usage_error(tmp_path, content, message):
    bad = tmp_path / "base.json"
    if content is not None:
        bad.write_text(content)
    p = run_pytest("conformance/", "--collect-only", "-q", "--report-dir", str(tmp_path / "r"), "--baseline", str(bad),
                   timeout=120)
    err = (p.stderr + p.stdout).strip()
    assert p.returncode == 4 and "--baseline" in err and message in err and "Traceback" not in err


def test_after_run_page_failure_fails_the_run(tmp_path, monkeypatch):
    import conformance.report.html as html_mod

    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc([rec("a", "c1", 13, "PASS")])))

    def broken(*a, **k):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(html_mod, "write_html", broken)
    rep = after_run(results, None)
    assert rep.failed and rep.html_path is None
    assert summary_lines(rep) == [("REPORT FAILED: matrix.html not written: RuntimeError: template exploded", True)]


def test_overhead_splits_capacity_into_raw_work_and_where_the_rest_went():
    from conformance.report.overhead import measure

    def rec(convert, seconds, explain=None, build=None):
        r = {"seconds": seconds, "stages": {"convert": {"seconds": convert}, "session": {"seconds": 0.1},
                                              "run": {"seconds": {"3": 0.05, "1": 0.05}}}}
        if build is not None:
            r["stages"]["build"] = {"ok": True, "seconds": build, "cached": False}
        if explain is not None:
            r["explain_seconds"] = explain
        return r

    doc = {"run": {"wall_seconds": 10.0, "xdist_workers": 2},
           "records": [rec(3.0, 4.0, build=0.5), rec(2.0, 2.5, explain=1.0), rec(1.0, 1.5)]}
    m = measure(doc)
    assert m["raw_seconds"] == pytest.approx(3 * 0.2 + 6.0 + 0.5)        # ORT + conversion + the one uncached build
    assert m["overhead_seconds"] == pytest.approx(20.0 - 7.1)
    assert m["in_cells_seconds"] == pytest.approx(8.0 - 7.1)
    assert m["explain_seconds"] == pytest.approx(1.0)
    parts = m["in_cells_seconds"] + m["explain_seconds"] + m["outside_cells_seconds"]
    assert parts == pytest.approx(m["overhead_seconds"])                 # the three parts are the whole overhead


def test_terminal_names_a_few_stale_entries_and_points_to_the_rest():
    from conformance.report.terminal import STALE_SHOWN, summary_lines as terminal_lines

    stale = [{"index": i, "status": "INVALID", "case": [f"case_{j}" for j in range(9)], "converter": ["c"]}
             for i in range(STALE_SHOWN + 3)]
    line = terminal_lines([], stale)[-1]
    assert line.startswith(f"{STALE_SHOWN + 3} stale expectation(s)") and "and 3 more" in line
    assert "case_3|... (9 names)" in line and f"#{STALE_SHOWN}" not in line and len(line) < 600
