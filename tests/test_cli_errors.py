"""Bad input to `pytest conformance/` gives one clear line and a non-zero exit."""

import pytest

from tests.helpers import ROOT, run_pytest  # noqa: F401


def run_collect(*args, tmp_path):
    return run_pytest("conformance/", "--collect-only", "-q", "--report-dir", str(tmp_path), *args, timeout=120)


@pytest.mark.parametrize("args,message", [
    (["--converters", "nosuch"], "unknown converter(s) nosuch"),
    (["--opsets", "99"], "99 is not an ONNX opset"),
    (["--opsets", "x"], "is not an opset number"),
    (["--cell-timeout", "0"], "--cell-timeout must be a positive"),
    (["--cases-module", "does/not/exist.py"], "no such file"),
])
def test_bad_option_is_one_line_and_nonzero(args, message, tmp_path):
    p = run_collect(*args, tmp_path=tmp_path)
    assert p.returncode != 0
    err = (p.stderr + p.stdout).strip()
    assert message in err
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) <= 2, err


def test_broken_case_module_and_expectations(tmp_path):
    bad_mod = tmp_path / "bad_cases.py"
    bad_mod.write_text("raise RuntimeError('my module is broken')\n")
    p = run_collect("--cases-module", str(bad_mod), tmp_path=tmp_path)
    assert p.returncode != 0 and "my module is broken" in p.stderr and "Traceback" not in p.stderr
    bad_exp = tmp_path / "e.toml"
    bad_exp.write_text('[[expected]]\ncase = "a"\nconverter = "b"\nstatus = "WHATEVER"\nreason = "r"\n')
    p = run_collect("--expectations", str(bad_exp), tmp_path=tmp_path)
    assert p.returncode != 0 and "not an expected-failure status" in p.stderr and "Traceback" not in p.stderr


def test_collection_is_case_major_and_complete(tmp_path):
    p = run_collect("--converters", "tf2onnx-keras,keras-export", "--opsets", "13,15", "-m", "not slow",
                    tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    ids = [ln.split("[", 1)[1].rstrip("]") for ln in p.stdout.splitlines() if "test_cell[" in ln]
    assert ids[:4] == [f"{ids[0].split('-')[0]}-{c}-opset{o}" for c in ("tf2onnx-keras", "keras-export") for o in (13, 15)]
    assert len(ids) % 4 == 0 and len(ids) >= 4 * 20
