"""python -m conformance.report propose: entries from a run's unexpected failures, ranges across stacks,
and no reason of its own (TF-free: fake results documents)."""
from __future__ import annotations

import json
import tomllib

import pytest

from conformance.report.__main__ import main
from conformance.report.propose import REASON, propose, render
from conformance.run.expectations import ExpectationsError, Matcher, parse
from tests.report_fakes import PACKAGES, doc, rec

ODD_REASON = "KeyError: 'keras_tensor_7' in reverse_lookup (a sentence no entry should copy)"


def _run(stack: str, packages: dict, records: list[dict]) -> dict:
    return doc(records, stack=stack, packages=packages)


def _text(docs: list[tuple[str, dict]]) -> str:
    return render(propose(docs), [label for label, _ in docs])


def _entries(text: str) -> list[dict]:
    return tomllib.loads(text).get("expected", [])


def _with_reasons(text: str) -> str:
    """What a person does: replace every placeholder with a reason in words."""
    return text.replace(json.dumps(REASON), json.dumps("converter bug, reported upstream"))


def test_each_unexpected_failure_becomes_an_entry_with_the_status_seen_and_the_run_environment():
    records = [
        rec("mlp", "tf2onnx-keras", 13, "PASS"),
        rec("mlp", "keras-export", 13, "XFAIL"),                                  # expected: no entry
        rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR", reason=ODD_REASON),
        rec("lstm", "tf2onnx-cli", 13, "MISMATCH"),
        rec("lstm", "tf2onnx-cli", 11, "PASS"),
        rec("cnn", "tf2onnx-keras", 13, "NOT_APPLICABLE"),                         # a skip: no entry
        rec("gru", "tf2onnx-keras", 13, "XPASS", observed_status="PASS"),          # remove an entry instead
        rec("gru", "keras2onnx", 13, "UNAVAILABLE", observed_status="UNAVAILABLE"),
    ]
    entries = _entries(_text([("modern.json", _run("modern", PACKAGES, records))]))
    got = {(e["case"], e["converter"], e["status"]) for e in entries}
    assert got == {("seq", "tf2onnx-keras", "CONVERT_ERROR"), ("lstm", "tf2onnx-cli", "MISMATCH"),
                   ("gru", "keras2onnx", "UNAVAILABLE")}
    by = {e["case"]: e for e in entries}
    # one run: its environment as it was (minor versions of the packages it has)
    assert by["seq"]["when"] == ["tf2onnx==1.17.*", "tensorflow==2.21.*", "keras==3.15.*", "onnx==1.23.*",
                                 "onnxruntime==1.32.*"]
    # failing at one of the opsets run: the entry names that opset; UNAVAILABLE at every opset: none
    assert by["lstm"]["opsets"] == 13
    assert "opsets" not in by["gru"]


def test_no_reason_is_invented_and_the_loader_refuses_the_placeholder():
    records = [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR", reason=ODD_REASON)]
    text = _text([("modern.json", _run("modern", PACKAGES, records))])
    entries = _entries(text)
    assert [e["reason"] for e in entries] == [REASON] and REASON.startswith("TODO")
    assert all(e["link"] == "" for e in entries)
    # what the cell said is there for the person, as a comment, never as the entry's reason
    assert ODD_REASON.split(" (")[0] in text and ODD_REASON not in entries[0]["reason"]
    with pytest.raises(ExpectationsError, match="placeholder"):
        parse(tomllib.loads(text), "proposal.toml")
    # once a person writes the reason, the entry loads and matches the cell it came from
    loaded = parse(tomllib.loads(_with_reasons(text)), "edited.toml")
    versions = dict(PACKAGES, **{"tensorflow-cpu": PACKAGES["tensorflow"]})
    assert Matcher(loaded, versions).find("seq", "tf2onnx-keras", 13) is not None


OLD = {"tensorflow": "2.14.1", "keras": "2.14.0", "tf2onnx": "1.15.1", "onnx": "1.14.1", "onnxruntime": "1.16.3"}
MID = {"tensorflow": "2.16.2", "keras": "3.3.3", "tf2onnx": "1.16.1", "onnx": "1.16.2", "onnxruntime": "1.18.1"}
NEW = {"tensorflow": "2.21.0", "keras": "3.15.1", "tf2onnx": "1.17.0", "onnx": "1.23.2", "onnxruntime": "1.32.0"}


def test_the_same_failure_on_several_stacks_becomes_a_version_range_that_excludes_the_passing_stack():
    docs = [
        ("old.json", _run("old", OLD, [rec("seq", "tf2onnx-keras", 13, "PASS")])),
        ("mid.json", _run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
        ("new.json", _run("new", NEW, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
    ]
    text = _text(docs)
    (entry,) = _entries(text)
    assert entry["when"] == ["tf2onnx>=1.16,<1.18"]
    assert "seen on mid, new" in text
    loaded = parse(tomllib.loads(_with_reasons(text)), "edited.toml")
    for env, hit in ((OLD, False), (MID, True), (NEW, True)):
        assert (Matcher(loaded, env).find("seq", "tf2onnx-keras", 13) is not None) is hit


def test_a_failure_in_the_middle_gets_a_range_of_its_own_and_different_statuses_stay_apart():
    docs = [
        ("old.json", _run("old", OLD, [rec("a", "tf2onnx-cli", 13, "PASS"), rec("b", "tf2onnx-cli", 13, "INVALID")])),
        ("mid.json", _run("mid", MID, [rec("a", "tf2onnx-cli", 13, "MISMATCH"), rec("b", "tf2onnx-cli", 13, "INVALID")])),
        ("new.json", _run("new", NEW, [rec("a", "tf2onnx-cli", 13, "PASS"), rec("b", "tf2onnx-cli", 13, "CONVERT_ERROR")])),
    ]
    entries = _entries(_text(docs))
    by = {(e["case"], e["status"]): e["when"] for e in entries}
    assert by[("a", "MISMATCH")] == ["tf2onnx==1.16.*"]
    assert by[("b", "INVALID")] == ["tf2onnx>=1.15,<1.17"]
    assert by[("b", "CONVERT_ERROR")] == ["tf2onnx==1.17.*"]


def test_cases_failing_alike_share_one_entry():
    records = [rec(c, "tf2onnx-graphdef", 13, "INVALID") for c in ("seed_gru", "seed_lstm", "rnn_grucell")]
    (entry,) = _entries(_text([("m.json", _run("modern", PACKAGES, records))]))
    assert entry["case"] == ["rnn_grucell", "seed_gru", "seed_lstm"]


def test_a_merged_file_of_several_stacks_reads_like_the_separate_files(tmp_path):
    from conformance.report.merge import merge_docs

    docs = [("mid.json", _run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
            ("new.json", _run("new", NEW, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
            ("old.json", _run("old", OLD, [rec("seq", "tf2onnx-keras", 13, "PASS")]))]
    merged = merge_docs(docs)
    assert _entries(_text([("merged.json", merged)])) == _entries(_text(docs))


def test_no_unexpected_failure_proposes_nothing():
    text = _text([("m.json", _run("modern", PACKAGES, [rec("mlp", "tf2onnx-keras", 13, "PASS")]))])
    assert _entries(text) == [] and "nothing to propose" in text


def test_command_line_writes_toml_and_refuses_bad_input(tmp_path, capsys):
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("modern", PACKAGES, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])))
    out = tmp_path / "proposed.toml"
    assert main(["propose", str(f), "-o", str(out)]) == 0
    assert _entries(out.read_text())[0]["status"] == "CONVERT_ERROR"
    assert main(["propose", str(f)]) == 0
    assert "[[expected]]" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["propose", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not valid JSON" in err and err.count("\n") == 1


def test_check_judges_observed_statuses_against_an_expectations_file(tmp_path, capsys):
    """--expectations FILE --check: what a run with that file would say, from the results alone."""
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR"),
                                              rec("mlp", "tf2onnx-keras", 13, "PASS")])))
    exp = tmp_path / "expectations.toml"

    def entry(case, when):
        return (f'[[expected]]\ncase = "{case}"\nconverter = "tf2onnx-keras"\nwhen = {json.dumps(when)}\n'
                'status = "CONVERT_ERROR"\nreason = "a reason in words"\n')
    exp.write_text(entry("seq", ["tf2onnx==1.17.*"]))         # another stack's entry: does not apply here
    assert main(["propose", str(f), "--expectations", str(exp), "--check"]) == 1
    assert "1 proposed entries" in capsys.readouterr().err
    exp.write_text(entry("seq", ["tf2onnx>=1.16,<1.18"]))
    assert main(["propose", str(f), "--expectations", str(exp), "--check"]) == 0
    capsys.readouterr()
    exp.write_text(entry("seq", ["tf2onnx>=1.16,<1.18"]) + entry("mlp", ["tf2onnx==1.16.*"]))
    assert main(["propose", str(f), "--expectations", str(exp), "--check"]) == 1
    assert "XPASS mid: mlp / tf2onnx-keras / opset 13" in capsys.readouterr().err
    exp.write_text(entry("seq", ["tf2onnx==1.16.*"]).replace('"a reason in words"', '"TODO: later"'))
    assert main(["propose", str(f), "--expectations", str(exp), "--check"]) == 2
