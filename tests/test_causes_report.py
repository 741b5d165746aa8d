"""python -m conformance.report causes {propose,check} and issue: drafts clustered by normalized signature,
version ranges across stacks, no reason of their own, checks from results alone (TF-free: fake documents)."""
from __future__ import annotations

import json
import tomllib

import pytest

from conformance.causes import CausesError, CellView, Registry, parse
from conformance.report.__main__ import main
from conformance.report.causes import REASON, propose, render
from tests.report_fakes import PACKAGES, doc, rec

SPLIT = "onnx.checker (full_check) rejects the model: ValidationError: Node(node_Split_{n}) with schema(::Split:11) has input size 2"
OLD = {"tensorflow": "2.14.1", "keras": "2.14.0", "tf2onnx": "1.15.1", "onnx": "1.14.1", "onnxruntime": "1.16.3"}
MID = {"tensorflow": "2.16.2", "keras": "3.3.3", "tf2onnx": "1.16.1", "onnx": "1.16.2", "onnxruntime": "1.18.1"}
NEW = {"tensorflow": "2.21.0", "keras": "3.15.1", "tf2onnx": "1.17.0", "onnx": "1.23.2", "onnxruntime": "1.32.0"}


def _run(stack, packages, records):
    return doc(records, stack=stack, packages=packages)


def _drafts(docs):
    return tomllib.loads(render(propose(docs), [label for label, _ in docs])).get("cause", [])


def _edited(text: str) -> str:
    """What a person does: title, reason and link in words."""
    return (text.replace(json.dumps(REASON), json.dumps("jax2onnx writes the opset-13 form"))
            .replace('"TODO: what fails, in a line"', '"Split in its later form"')
            .replace('"TODO: the upstream issue, PR or source line (or \\"not reported\\" and a report)"',
                     '"https://github.com/enpasos/jax2onnx"'))


def test_failures_with_the_same_normalized_signature_become_one_draft_and_others_their_own():
    records = [rec("a", "keras-export-jax", 11, "INVALID", reason=SPLIT.format(n=5)),
               rec("b", "keras-export-jax", 11, "INVALID", reason=SPLIT.format(n=17)),   # another node number
               rec("c", "keras-export-jax", 11, "CONVERT_ERROR", reason="conversion failed: Reverse scan"),
               rec("d", "keras-export-jax", 11, "PASS"), rec("e", "keras-export-jax", 11, "XFAIL")]
    drafts = _drafts([("m.json", _run("modern", PACKAGES, records))])
    assert [(d["status"], d["cases"]) for d in drafts] == [("INVALID", ["a", "b"]), ("CONVERT_ERROR", ["c"])]
    assert "node_Split_N" in drafts[0]["signature"] and drafts[0]["kind"] == "invalid graph"
    assert drafts[0]["when"] == ["tf2onnx==1.17.*", "tensorflow==2.21.*", "keras==3.15.*", "onnx==1.23.*",
                                 "onnxruntime==1.32.*"]


def test_no_reason_is_invented_the_loader_refuses_a_draft_and_an_edited_one_explains_its_cells():
    records = [rec("a", "keras-export-jax", 11, "INVALID", reason=SPLIT.format(n=5))]
    d = _run("modern", PACKAGES, records)
    text = render(propose([("m.json", d)]), ["m.json"])
    assert REASON.startswith("TODO")
    with pytest.raises(CausesError, match="placeholder"):
        parse(tomllib.loads(text), "draft.toml")
    loaded = parse(tomllib.loads(_edited(text)), "edited.toml")
    m = Registry(loaded, PACKAGES).match(CellView("a", "keras-export-jax", 11), "INVALID", SPLIT.format(n=99))
    assert m.cause is not None


def test_the_same_failure_on_several_stacks_becomes_a_version_range_that_excludes_the_passing_stack():
    docs = [("old.json", _run("old", OLD, [rec("seq", "tf2onnx-keras", 13, "PASS")])),
            ("mid.json", _run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
            ("new.json", _run("new", NEW, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")]))]
    (draft,) = _drafts(docs)
    assert draft["when"] == ["tf2onnx>=1.16,<1.18"]


def test_a_merged_file_of_several_stacks_reads_like_the_separate_files():
    from conformance.report.merge import merge_docs

    docs = [("mid.json", _run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
            ("new.json", _run("new", NEW, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])),
            ("old.json", _run("old", OLD, [rec("seq", "tf2onnx-keras", 13, "PASS")]))]
    assert _drafts([("merged.json", merge_docs(docs))]) == _drafts(docs)


def _cause(case, when, status="CONVERT_ERROR", title="from_keras fails", cid=None):
    return (f'[[cause]]\nid = "{cid or "c-" + case}"\ntitle = "{title}"\nkind = "conversion error"\nstatus = "{status}"\n'
            f'signature = "because"\nconverters = "tf2onnx-keras"\ncases = "{case}"\nwhen = {json.dumps(when)}\n'
            'link = "https://example.org/issue/1"\nreason = "a reason in words"\n')


def test_check_judges_recorded_runs_against_a_registry(tmp_path, capsys):
    """causes check: what a run with that registry would say, from the results alone; exit 1 for an
    unexplained failure, an XPASS or a stale cause, 2 for a malformed registry."""
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR"),
                                              rec("mlp", "tf2onnx-keras", 13, "PASS")])))
    reg = tmp_path / "causes.toml"
    reg.write_text(_cause("seq", ["tf2onnx==1.17.*"]))              # another stack's cause: does not apply here
    assert main(["causes", "check", str(f), "--causes", str(reg)]) == 1
    assert "UNEXPLAINED mid: seq / tf2onnx-keras / opset 13" in capsys.readouterr().out
    reg.write_text(_cause("seq", ["tf2onnx>=1.16,<1.18"]))
    assert main(["causes", "check", str(f), "--causes", str(reg)]) == 0
    capsys.readouterr()
    reg.write_text(_cause("seq", ["tf2onnx>=1.16,<1.18"]) + _cause("mlp", ["tf2onnx==1.16.*"]))
    assert main(["causes", "check", str(f), "--causes", str(reg)]) == 1
    assert "XPASS mid: mlp / tf2onnx-keras / opset 13" in capsys.readouterr().out
    reg.write_text(_cause("seq", ["tf2onnx>=1.16,<1.18"]).replace('"because"', '"another error"'))
    assert main(["causes", "check", str(f), "--causes", str(reg)]) == 1
    out = capsys.readouterr().out
    assert "UNEXPLAINED" in out and "STALE c-seq" in out
    reg.write_text(_cause("seq", ["tf2onnx==1.16.*"], title="TODO: later"))
    assert main(["causes", "check", str(f), "--causes", str(reg)]) == 2
    err = capsys.readouterr().err
    assert "placeholder" in err and err.count("\n") == 1


def test_a_cause_seen_on_one_stack_is_not_stale_because_another_covered_it_without_a_match(tmp_path, capsys):
    """Several results files are judged together: a cause that one stack shows and another stack could have
    shown but did not (its cells failed first for another cause there) is seen, not stale, as in a merged file."""
    mid, new = tmp_path / "mid.json", tmp_path / "new.json"
    mid.write_text(json.dumps(_run("mid", MID, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR",
                                                    reason="ValueError: because of A")])))
    new.write_text(json.dumps(_run("new", NEW, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR",
                                                    reason="ValueError: other B")])))
    reg = tmp_path / "causes.toml"
    reg.write_text(_cause("seq", ["tf2onnx>=1.16,<1.18"])
                   + "\n" + _cause("seq", ["tf2onnx==1.17.*"], cid="c-other").replace('"because"', '"other"'))
    assert main(["causes", "check", str(new), "--causes", str(reg)]) == 1
    assert "STALE c-seq" in capsys.readouterr().out
    assert main(["causes", "check", str(mid), str(new), "--causes", str(reg)]) == 0
    assert "STALE" not in capsys.readouterr().out


def test_propose_command_line_and_bad_input(tmp_path, capsys):
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("modern", PACKAGES, [rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR")])))
    out = tmp_path / "drafts.toml"
    assert main(["causes", "propose", str(f), "--causes", "none", "-o", str(out)]) == 0
    assert tomllib.loads(out.read_text())["cause"][0]["status"] == "CONVERT_ERROR"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["causes", "propose", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not valid JSON" in err and err.count("\n") == 1


def test_propose_drafts_from_the_minimised_models_their_layers_as_needs(tmp_path):
    """A cell reduced by ``--minimize`` carries its smallest model: the draft names it and asks, as its needs, for
    the layer classes that alone fail (a user's model holding them is named by the cause once it is written)."""
    r = rec("big_encoder", "tf2onnx-keras", 17, "INVALID", reason="No Op registered for Erfc")
    r["minimized"] = {"path": "minimized/big_encoder-tf2onnx-keras-opset17", "classes": ["Dense"],
                      "line": "big_encoder, 16 layers -> 1 layer(s) (Dense(dense_3)), 7 candidates, 22 s"}
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("modern", PACKAGES, [r])))
    out = tmp_path / "drafts.toml"
    assert main(["causes", "propose", str(f), "--causes", "none", "-o", str(out)]) == 0
    text = out.read_text()
    assert "# smallest failing model: big_encoder-tf2onnx-keras-opset17: big_encoder, 16 layers -> 1 layer(s)" in text
    assert "(minimized/big_encoder-tf2onnx-keras-opset17)" in text
    assert tomllib.loads(text)["cause"][0]["needs"] == {"layers": ["Dense"]}


def test_issue_reports_the_smallest_affected_case_versions_and_every_affected_cell(tmp_path, capsys):
    big = rec("big_mlp", "tf2onnx-keras", 13, "CONVERT_ERROR", reason="conversion failed: because")
    big["facts"].update(keras_layers=["InputLayer", "Dense", "Dense", "Dropout"], keras_params=900)
    small = rec("tiny", "tf2onnx-keras", 13, "CONVERT_ERROR", reason="conversion failed: because")
    small["facts"].update(keras_layers=["InputLayer", "Dense"], keras_params=12)
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("mid", MID, [big, small])))
    reg = tmp_path / "causes.toml"
    reg.write_text(_cause("*", ["tf2onnx>=1.16"], cid="from-keras"))
    out = tmp_path / "issue.md"
    assert main(["issue", "nope", str(f), "--causes", str(reg)]) == 2   # no such cause: one line
    assert "no cause 'nope'" in capsys.readouterr().err
    assert main(["issue", "from-keras", str(f), "--causes", str(reg), "--no-repro", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# from_keras fails") and "`tiny`" in text and "12 parameters" in text
    assert "| mid | " in text and "1.16.1" in text                       # the versions it was seen on
    assert "| big_mlp | tf2onnx-keras | 13 | mid |" in text and "Dense (2)" in text
    assert "https://example.org/issue/1" in text


def test_propose_lists_a_known_cause_whose_when_does_not_hold_as_one_to_widen(tmp_path, capsys):
    """The same bug on another stack (scope, status and signature of a cause; only its `when` does not hold
    there) is not drafted again: propose names the cause to widen, with the stack's versions."""
    f = tmp_path / "results.json"
    f.write_text(json.dumps(_run("mid", MID, [
        rec("seq", "tf2onnx-keras", 13, "CONVERT_ERROR", reason="conversion failed: because"),
        rec("other", "tf2onnx-keras", 13, "CONVERT_ERROR", reason="conversion failed: something else")])))
    reg = tmp_path / "causes.toml"
    reg.write_text(_cause("seq", ["tf2onnx==1.17.*"]))               # the modern stack's cause
    out = tmp_path / "drafts.toml"
    assert main(["causes", "propose", str(f), "--causes", str(reg), "-o", str(out)]) == 0
    text = out.read_text()
    assert "# WIDEN c-seq: its scope, status and signature explain 1 unexplained cell(s) on mid" in text
    assert "tf2onnx 1.16.1" in text and "e.g. mid: seq / tf2onnx-keras / opset 13" in text
    drafts = tomllib.loads(text)["cause"]
    assert [d["cases"] for d in drafts] == [["other"]]                  # only the new failure is drafted
    reg.write_text(_cause("seq", ["tf2onnx>=1.16,<1.18"]))             # widened: explained, nothing to widen
    assert main(["causes", "propose", str(f), "--causes", str(reg), "-o", str(out)]) == 0
    assert "WIDEN" not in out.read_text()


def test_a_slim_baseline_keeps_each_cases_tags_and_layers_so_it_can_be_judged_by_scope():
    """A cause scoped by tag or Keras layer class judges the committed stacks baseline too: the slim file
    keeps, once per case, the tags and layer classes its records had (merge keeps the table)."""
    from conformance.report.causes import rejudge
    from conformance.report.gate import slim_baseline
    from conformance.report.merge import merge_docs

    r = rec("act_elu", "keras2onnx-api", 13, "CONVERT_ERROR", tags=["layers"])
    r["facts"]["keras_layers"] = ["InputLayer", "ELU"]
    slim = slim_baseline(doc([r]))
    assert slim["cases"] == {"act_elu": {"tags": ["layers"], "layers": ["ELU"]}}
    assert "tags" not in slim["records"][0] and "facts" not in slim["records"][0]
    merged = merge_docs([("a", slim), ("b", slim_baseline(doc([rec("mlp", "tf2onnx", 13, "PASS", stack="b")], stack="b")))])
    assert merged["cases"]["act_elu"] == {"tags": ["layers"], "layers": ["ELU"]}
    for scope in ('tags = "layers"', 'layers = "ELU"'):
        causes = parse(tomllib.loads(f'[[cause]]\nid = "k"\ntitle = "t"\nkind = "conversion error"\nsignature = "x"\n'
                                    f'{scope}\nlink = "https://example.org/1"\nreason = "r"\n'), "t.toml")
        judged, _ = rejudge(merged, causes)
        assert [x["status"] for x in judged["records"] if x["case"] == "act_elu"] == ["XFAIL"], scope
