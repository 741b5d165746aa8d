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


def test_broken_case_module_and_causes(tmp_path):
    bad_mod = tmp_path / "bad_cases.py"
    bad_mod.write_text("raise RuntimeError('my module is broken')\n")
    p = run_collect("--cases-module", str(bad_mod), tmp_path=tmp_path)
    assert p.returncode != 0 and "my module is broken" in p.stderr and "Traceback" not in p.stderr
    bad_exp = tmp_path / "e.toml"
    bad_exp.write_text('[[cause]]\nid = "a"\ntitle = "t"\nkind = "invalid graph"\nsignature = "s"\nlink = "l"\n'
                       'status = "WHATEVER"\nreason = "r"\n')
    for option in ("--causes", "--expectations"):  # the old name stays an alias of --causes
        p = run_collect(option, str(bad_exp), tmp_path=tmp_path)
        assert p.returncode != 0 and "not an expected-failure status" in p.stderr and "Traceback" not in p.stderr


def test_collection_is_case_major_and_complete(tmp_path):
    p = run_collect("--converters", "tf2onnx-keras,keras-export", "--opsets", "13,15", "-m", "not slow",
                    tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    ids = [ln.split("[", 1)[1].rstrip("]") for ln in p.stdout.splitlines() if "test_cell[" in ln]
    assert ids[:4] == [f"{ids[0].split('-')[0]}-{c}-opset{o}" for c in ("tf2onnx-keras", "keras-export") for o in (13, 15)]
    # every case has both converters at each opset it runs at (the layer library at one opset, the rest at both)
    per_case: dict[str, list[str]] = {}
    for i in ids:
        case, rest = i.split("-", 1)
        per_case.setdefault(case, []).append(rest)
    assert len(per_case) >= 20 and list(per_case) == list(dict.fromkeys(i.split("-", 1)[0] for i in ids))
    for case, cells in per_case.items():
        opsets = {c.rsplit("-", 1)[1] for c in cells}
        assert sorted(cells) == sorted(f"{c}-{o}" for c in ("tf2onnx-keras", "keras-export") for o in opsets), case


def _ids(proc) -> list[str]:
    return [ln.split("[", 1)[1].rstrip("]") for ln in proc.stdout.splitlines() if "test_cell[" in ln]


def test_tiers_in_collection_heavy_cases_only_when_asked_layers_at_one_opset(tmp_path):
    """The default tier: the vision (``slow``) cases only with ``-m slow``, at opset 13, heavy cases first;
    the layer library at opset 18; ``--tier full`` runs both at every selected opset."""
    common = ("--converters", "tf2onnx-keras", "--opsets", "13,18")
    default = _ids(run_collect(*common, tmp_path=tmp_path))
    assert default and not any(i.startswith(("resnet50_", "hub_")) for i in default)
    assert {i.rsplit("-", 1)[1] for i in default if i.startswith("conv2d_valid-")} == {"opset18"}
    heavy = _ids(run_collect(*common, "-m", "slow", tmp_path=tmp_path))
    assert heavy and all(i.startswith(("resnet50_", "hub_")) and i.endswith("opset13") for i in heavy)
    mixed = _ids(run_collect(*common, "-m", "slow or seed", tmp_path=tmp_path))
    assert mixed[0].startswith(("resnet50_", "hub_")) and any(i.startswith("seed_") for i in mixed)
    full = _ids(run_collect(*common, "--tier", "full", tmp_path=tmp_path))
    assert {i for i in full if i.startswith("conv2d_valid-")} == {"conv2d_valid-tf2onnx-keras-opset13",
                                                                  "conv2d_valid-tf2onnx-keras-opset18"}
    assert any(i.startswith("resnet50_imagenet-") and i.endswith("opset18") for i in full)
