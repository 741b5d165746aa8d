"""Expectations as data: parsing, validation errors, matching, staleness."""
import pytest

from conformance.run.expectations import ExpectationsError, Matcher, load, parse

GOOD = {"expected": [
    {"case": "seed_*", "converter": "keras2onnx", "status": "UNAVAILABLE", "reason": "onnx.mapping removed",
     "when": ["keras2onnx==1.7.0", "onnx>=1.16"]},
    {"case": ["a", "b"], "converter": "tf2onnx-*", "opsets": ">=9,<13", "status": "MISMATCH", "reason": "r"},
    {"case": "c", "converter": "x", "opsets": [9, 11], "status": "INVALID", "reason": "r", "link": "https://e"},
]}
VERSIONS = {"keras2onnx": "1.7.0", "onnx": "1.23.2", "tf2onnx": "1.17.0"}


def test_matching_by_globs_opsets_and_versions():
    m = Matcher(parse(GOOD), VERSIONS)
    assert m.find("seed_lstm", "keras2onnx", 13).index == 1
    assert m.find("a", "tf2onnx-cli", 11).index == 2
    assert m.find("a", "tf2onnx-cli", 13) is None
    assert m.find("c", "x", 11).index == 3
    assert m.find("c", "x", 13) is None


def test_version_requirements_must_all_hold():
    m = Matcher(parse(GOOD), dict(VERSIONS, onnx="1.14.1"))
    assert m.find("seed_lstm", "keras2onnx", 13) is None
    m = Matcher(parse(GOOD), {"onnx": "1.23.2"})  # keras2onnx not installed: no match
    assert m.find("seed_lstm", "keras2onnx", 13) is None


@pytest.mark.parametrize("bad,msg", [
    ({"expected": [{"case": "a", "converter": "b", "status": "UNAVAILABLE"}]}, "missing required key"),
    ({"expected": [{"case": "a", "converter": "b", "status": "NOPE", "reason": "r"}]}, "not an expected-failure status"),
    ({"expected": [{"case": "a", "converter": "b", "status": "PASS", "reason": "r"}]}, "not an expected-failure status"),
    ({"expected": [{"case": "a", "converter": "b", "status": "INVALID", "reason": " "}]}, "'reason'"),
    ({"expected": [{"case": "a", "converter": "b", "status": "INVALID", "reason": "r", "statu": 1}]}, "unknown key"),
    ({"expected": [{"case": "a", "converter": "b", "status": "INVALID", "reason": "r", "opsets": "banana"}]}, "specifier"),
    ({"expected": [{"case": "a", "converter": "b", "status": "INVALID", "reason": "r", "when": ["onnx>>1"]}]}, "requirement"),
    ({"expected": [{"case": "", "converter": "b", "status": "INVALID", "reason": "r"}]}, "'case'"),
    ({"expect": []}, "unknown top-level"),
    ({"expected": [{"case": "a", "converter": "b", "status": "INVALID", "reason": "r", "strict": "no"}]}, "'strict'"),
])
def test_malformed_entries_give_one_line(bad, msg):
    with pytest.raises(ExpectationsError) as err:
        parse(bad, "x.toml")
    assert msg in str(err.value) and "\n" not in str(err.value)


def test_bad_toml_and_missing_file(tmp_path):
    p = tmp_path / "e.toml"
    p.write_text("[[expected]\ncase=")
    with pytest.raises(ExpectationsError, match="not valid TOML"):
        load(p)
    with pytest.raises(ExpectationsError, match="no such file"):
        load(tmp_path / "missing.toml")


def test_stale_entries_are_those_matching_no_cell():
    m = Matcher(parse(GOOD), VERSIONS)
    m.mark_collected([("seed_gru", "keras2onnx", 9), ("zzz", "tf2onnx-cli", 9)])
    assert [e.index for e in m.stale()] == [2, 3]


def test_checked_in_expectations_file_is_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    entries = load(root / "expectations.toml")
    for e in entries:
        assert e.reason and e.when, f"entry {e.describe()} must name the stack it was observed on"
