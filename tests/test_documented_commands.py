"""Every command of README.md and docs/*.md runs somewhere in the tests.

The commands are read from the documents themselves (their ```bash blocks, and every
``python -m conformance.report|conformance.stacks|benchmarks.X`` named anywhere in the text), so a
command added to the docs is noticed:

* each documented command has a smoke test here (``SMOKED``) or is left out with a reason
  (``NOT_RUN``: it installs, builds virtual environments or is the test suite itself);
* every ``python -m`` command of the suite named in the docs answers ``--help`` (its subcommand
  exists), and every other ``python -m conformance.*`` module named exists;
* the report and stacks subcommands run on small fake results (``tests/report_fakes.py``); every
  option of a documented ``pytest`` line is one ``pytest PATH --help`` knows; the documented ``pytest conformance/ --cases-module examples/my_cases.py`` line runs for real on
  one case, and the documented benchmarks line on one tiny case, one round each.

Everything writes under the test's tmp folder.  About 60-90 s on two cores; the two real runs
(TensorFlow) are most of it.
"""
from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests import report_fakes as fakes
from tests.helpers import ROOT, run_module, run_pytest

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: python -m modules whose first word is a subcommand
SUBCOMMANDED = ("conformance.report", "conformance.stacks", "benchmarks.speedup")

#: other documented python -m commands for people (argparse; the worker's own entry points take no --help)
WITH_HELP = ("conformance.worker.check_layers",)

#: documented command (see ``command_key``) -> the test here that runs it
SMOKED = {
    "pytest conformance/": "test_documented_user_cases_line_runs_one_case, test_documented_pytest_options_exist",
    "pytest benchmarks/": "test_documented_benchmarks_line_runs_one_tiny_case, test_documented_pytest_options_exist",
    "python -m conformance.stacks list": "test_documented_stacks_lines_run",
    "python -m conformance.stacks show": "test_documented_stacks_lines_run",
    "python -m conformance.stacks matrix": "test_documented_stacks_lines_run",
    "python -m conformance.stacks tox": "test_documented_stacks_lines_run (--write on a copy of tox.ini)",
    "python -m conformance.stacks durations": "test_documented_stacks_lines_run (on a fake results file, "
                                              "into the tmp folder)",
    "python -m benchmarks.speedup markdown": "test_report_subcommand_on_fake_results[speedup-markdown]",
    # python -m conformance.report SUB: test_report_subcommand_on_fake_results[SUB] (REPORT_SMOKES below)
}

#: documented command -> why no test here runs it
NOT_RUN = {
    "pytest tests/": "the machinery's own tests: this file is one of them",
    "pytest tests/fuzz": "the fuzz is part of `pytest tests/` (tests/fuzz/)",
    "pytest --pyargs conformance": "the installed plugin, from a wheel in a fresh virtual environment: "
                                   "tests/test_plugin_install.py (-m slow_install)",
    "tox": "creates virtual environments and installs whole stacks (minutes, network); tox.ini itself is "
           "checked by `python -m conformance.stacks tox --check` (test_documented_stacks_lines_run)",
    "pip": "installs packages",
    "python -m pip": "installs packages",
    "python -m venv": "creates a virtual environment",
    "python -m webbrowser": "opens a browser",
    "python SCRIPT": "a repro script that a failing cell writes (tests/test_divergence.py runs repros)",
    "python -m conformance.report minimize": "runs candidates as cells (TensorFlow, a converter, up to minutes): "
                                             "tests/test_minimize.py reduces a real model with it",
    "python -m conformance.report upstream": "reduces a real cell and runs each draft's repro alone (TensorFlow, a "
                                             "converter, a minute a cause): tests/test_upstream.py tests its parts "
                                             "and checks the committed drafts it wrote",
    "python -m conformance.report repro": "re-runs one real cell of a results file (TensorFlow, the cell's "
                                          "converter); the repro writer is tested by tests/test_divergence.py",
    "python -m benchmarks.seed_cells": "runs the seed cells twice (the suite and a plain loop): minutes",
    "python -m benchmarks.speedup build": "needs a saved pytest-benchmark JSON; the same builder runs at the end "
                                          "of test_documented_benchmarks_line_runs_one_tiny_case",
}


# -- the commands the documents hold ----------------------------------------------------------------

def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every command line of every ```bash block (continuations joined,
    comments dropped, ``a && b`` split)."""
    out = []
    for doc in DOCS:
        for block in _bash_blocks(doc.read_text(encoding="utf-8")):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = re.sub(r"(^|\s)#.*$", "", line).strip()
                out += [(doc.name, part.strip()) for part in line.split("&&") if part.strip()]
    return out


def _tokens(command: str) -> list[str]:
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):  # VAR=value prefixes
        tokens = tokens[1:]
    return tokens


def command_key(command: str) -> str | None:
    """What kind of command a documented line is: ``pytest conformance/``, ``python -m conformance.report
    html``, ``tox``...; None for a shell builtin or a variable assignment."""
    tokens = _tokens(command)
    if not tokens or tokens[0] in (".", "source", "cd", "export"):
        return None
    prog = tokens[0]
    if re.fullmatch(r"python[0-9.]*", prog):
        rest = [t for t in tokens[1:] if t != "-I"]
        if rest[:1] == ["-m"] and len(rest) > 1:
            module = rest[1]
            if module == "pytest":
                return command_key("pytest " + " ".join(shlex.quote(t) for t in rest[2:]))
            words = [t for t in rest[2:] if not t.startswith("-")]
            return f"python -m {module} {words[0]}" if module in SUBCOMMANDED and words else f"python -m {module}"
        return "python SCRIPT"
    if prog == "pytest":
        if "--pyargs" in tokens:
            return "pytest --pyargs conformance"
        paths = [t for t in tokens[1:] if not t.startswith("-")]
        return f"pytest {paths[0].rstrip('/')}/".replace("tests/fuzz/", "tests/fuzz") if paths else "pytest"
    return prog


def mentioned_python_m() -> set[tuple[str, ...]]:
    """Every ``python -m MODULE [WORD [WORD]]`` of the suite's own modules named anywhere in the docs, as
    argv tuples (``list|show`` alternatives expanded; words stop at the first path, option or placeholder)."""
    found: set[tuple[str, ...]] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"python[0-9.]* (?:-I )?-m ((?:conformance|benchmarks|cases)(?:\.\w+)*)([^\n`]*)", text):
            words = []
            for token in m.group(2).split():
                if not re.fullmatch(r"[a-z][a-z0-9_-]*(\|[a-z][a-z0-9_-]*)*", token):
                    break
                words.append(token)
            for first in (words[0].split("|") if words else [None]):
                argv = (m.group(1),) + ((first,) if first else ()) + tuple(words[1:2])
                found.add(argv)
    return found


def _documented_report_subcommands() -> set[str]:
    return {key.split()[3] for _, line in documented_commands()
            if (key := command_key(line) or "").startswith("python -m conformance.report ")}


def test_every_documented_command_is_smoked_or_left_out_with_a_reason():
    commands = documented_commands()
    assert len(commands) > 20, "the docs' bash blocks were not found"
    covered = set(SMOKED) | set(NOT_RUN) | {f"python -m conformance.report {s}" for s in REPORT_SMOKES}
    new = sorted({(command_key(line), doc, line) for doc, line in commands
                  if command_key(line) and command_key(line) not in covered})
    assert not new, ("documented commands with no smoke test in tests/test_documented_commands.py (add one, or "
                     "a reason to NOT_RUN):\n" + "\n".join(f"{key}  ({doc}: {line})" for key, doc, line in new))


# -- pytest benchmarks/ -------------------------------------------------------------------------------

def test_documented_benchmarks_line_runs_one_tiny_case(tmp_path):
    """The documented benchmarks line with a case list, narrowed to one tiny case, one round per mode and
    one cold-start run per side; the speedup table goes to the tmp folder."""
    line = next(line for _, line in documented_commands()
                if command_key(line) == "pytest benchmarks/" and "--bench-cases" in line)
    argv = _without(_without(_tokens(line)[1:], "--bench-cases"), "--bench-cold-runs")
    speedup = tmp_path / "speedup.json"
    argv += ["--bench-cases", "mlp_softmax", "--bench-cold-runs", "1", "--benchmark-min-rounds", "1",
             "--benchmark-max-time", "0.000001", "--benchmark-warmup", "off", "--speedup-json", str(speedup),
             "-p", "no:cacheprovider", "-q"]
    proc = run_pytest(*argv, timeout=600, env=_plain_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = json.loads(speedup.read_text())
    assert {r["case"] for r in doc["rows"]} == {"mlp_softmax"}
    assert {r["mode"] for r in doc["rows"]} >= {"predict", "call", "tf_function", "cold_keras"}
    assert doc["environment"]["executable"] == Path(sys.executable).name   # no path of this machine


# -- pytest conformance/ ------------------------------------------------------------------------------

def _without(argv: list[str], option: str, takes_value: bool = True) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == option:
            skip = takes_value
            continue
        out.append(a)
    return out


def _pytest_lines(key: str) -> list[str]:
    return sorted({line for _, line in documented_commands() if command_key(line) == key})


def _options(line: str) -> set[str]:
    return {t.split("=", 1)[0] for t in _tokens(line)[1:] if t.startswith("--")}


def test_documented_pytest_options_exist():
    """Every ``--option`` of a documented ``pytest conformance/``, ``tests/`` or ``benchmarks/`` line is one
    that ``pytest PATH --help`` lists (the plugin's, pytest's, xdist's, pytest-benchmark's, hypothesis's):
    an option renamed in the code and not in the docs fails here.  (Collecting each line would take a
    minute; the two lines below run for real.)"""
    keys = ["pytest conformance/", "pytest tests/", "pytest tests/fuzz", "pytest benchmarks/"]
    wanted = {key: set().union(*[_options(line) for line in _pytest_lines(key)]) for key in keys}
    assert wanted["pytest conformance/"] and wanted["pytest benchmarks/"]

    # one `pytest --help` over both folders: the plugin's options (an entry point: everywhere), pytest's,
    # xdist's and hypothesis's, benchmarks/conftest.py's and pytest-benchmark's
    proc = run_pytest("benchmarks/", "tests/fuzz", "--help", "-p", "no:cacheprovider", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    known = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", proc.stdout))
    bad = [f"{key}: {opt} ({', '.join(line for line in _pytest_lines(key) if opt in line)[:200]})"
           for key in keys for opt in sorted(wanted[key] - known)]
    assert not bad, "documented pytest options that pytest --help does not know:\n" + "\n".join(bad)


def test_documented_user_cases_line_runs_one_case(tmp_path):
    """The README's ``--cases-module examples/my_cases.py`` line, narrowed to one case at opset 13 (its
    converters kept: one or two real cells)."""
    line = next(line for line in _pytest_lines("pytest conformance/") if "examples/my_cases.py" in line)
    argv = _without(_without(_without(_tokens(line)[1:], "-n"), "-k"), "--opsets")
    argv += ["-k", "my_layernorm_mlp", "--opsets", "13", "-p", "no:cacheprovider", "--report-dir", str(tmp_path)]
    proc = run_pytest(*argv, timeout=600, env=_plain_env())
    doc = json.loads((tmp_path / "results.json").read_text()) if (tmp_path / "results.json").exists() else None
    assert doc is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert 1 <= len(doc["records"]) <= 2 and {r["case"] for r in doc["records"]} == {"my_layernorm_mlp"}
    assert all(r["status"] == "PASS" for r in doc["records"]), [(r["id"], r["reason"]) for r in doc["records"]]
    assert proc.returncode == 0, proc.stdout[-2000:]


def _plain_env() -> dict:
    """This process's environment without xdist's worker variables: a pytest started from an xdist worker
    would take itself for one (pytest-benchmark then refuses --benchmark-only)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}


def _run(argv, timeout=120, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_documented_suite_commands_answer_help_and_modules_exist():
    mentioned = mentioned_python_m()
    assert ("conformance.report", "html") in mentioned and ("conformance.stacks", "list") in mentioned
    runnable = sorted(a for a in mentioned if a[0] in SUBCOMMANDED or a[0] in WITH_HELP or a[0].startswith("benchmarks."))
    missing = sorted(a[0] for a in mentioned if a not in runnable and importlib.util.find_spec(a[0]) is None)
    assert not missing, f"the docs name modules that do not exist: {missing}"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda a: (a, _run(["-m", *a, "--help"], timeout=60)), runnable))
    bad = [f"python -m {' '.join(a)} --help: exit {p.returncode}: {(p.stderr or p.stdout).strip()[-300:]}"
           for a, p in done if p.returncode != 0 or "usage" not in p.stdout.lower()]
    assert not bad, "documented commands that do not answer --help:\n" + "\n".join(bad)


# -- python -m conformance.report SUB, on fake results ----------------------------------------------

def _fake_files(tmp: Path) -> dict[str, str]:
    """Small results files: an old and a new run (one regression), a layer-coverage run, a run with a cell
    of a cause, an interrupted run's partial file."""
    from tests.test_layers import _fake_run

    old = fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS"), fakes.rec("lstm", "tf2onnx", 13, "PASS")],
                    stack="legacy")
    new = fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS"), fakes.rec("lstm", "tf2onnx", 13, "MISMATCH")],
                    stack="modern")
    # a cell that the checkout's causes.toml explains (cause masked-rnn-opset9): issue re-judges it
    caused = fakes.doc([fakes.rec("masking_lstm", "tf2onnx-keras", 9, "MISMATCH",
                                  reason="outputs differ from Keras: batch 3: y: 3/6 elements outside")])
    files = {"old": old, "new": new, "layers": _fake_run(), "caused": caused}
    out = {}
    for name, doc in files.items():
        out[name] = str(tmp / f"{name}.json")
        Path(out[name]).write_text(json.dumps(doc), encoding="utf-8")
    header = {"kind": "header", "schema_version": new["schema_version"], "run": new["run"],
              "environment": new["environment"], "converters": new["converters"]}
    out["partial"] = str(tmp / "results.partial.jsonl")
    Path(out["partial"]).write_text("\n".join(json.dumps(x) for x in [header] + [
        {"kind": "record", "record": r} for r in new["records"]]) + "\n", encoding="utf-8")
    out["tmp"] = str(tmp)
    return out


#: subcommand -> (argv after ``python -m conformance.report``, the exit codes its docs allow, files it writes)
REPORT_SMOKES = {
    "html": (["html", "{new}", "-o", "{tmp}/m.html", "--baseline", "{old}",
              "--speedup", "docs/measurements/speedup.json"], {0}, ["m.html"]),
    "diff": (["diff", "{old}", "{new}"], {1}, []),                       # exit 1: the planted regression
    "merge": (["merge", "{old}", "{new}", "-o", "{tmp}/merged.json", "--html", "{tmp}/merged.html"], {0},
              ["merged.json", "merged.html"]),
    "rebuild": (["rebuild", "{partial}", "-o", "{tmp}/rebuilt.json", "--html", "{tmp}/rebuilt.html"], {0},
                ["rebuilt.json", "rebuilt.html"]),
    "baseline": (["baseline", "{new}", "-o", "{tmp}/baseline.json"], {0}, ["baseline.json"]),
    "overhead": (["overhead", "{new}"], {0}, []),
    "stacks": (["stacks", "{old}", "{new}", "-o", "{tmp}/stacks.html"], {0}, ["stacks.html"]),
    "layers": (["layers", "{layers}", "--json", "{tmp}/layers.json"], {0}, ["layers.json"]),
    "models": (["models", "{new}", "--json", "{tmp}/models.json"], {0}, ["models.json"]),
    "route": (["route", "{new}", "--json", "{tmp}/route.json"], {0}, ["route.json"]),
    "causes": (["causes", "check", "{new}"], {0, 1}, []),             # exit 1: a failure no cause explains
    "causes-propose": (["causes", "propose", "{new}", "-o", "{tmp}/drafts.toml"], {0}, ["drafts.toml"]),
    "issue": (["issue", "masked-rnn-opset9", "{caused}", "--no-repro", "-o", "{tmp}/issue.md"], {0}, ["issue.md"]),
    "deploy": (["deploy", "{new}"], {0}, []),       # no target in the fakes: says so (tests/test_targets.py: with)
}


@pytest.mark.parametrize("name", [*REPORT_SMOKES, "speedup-markdown"])
def test_report_subcommand_on_fake_results(name, tmp_path):
    files = _fake_files(tmp_path)
    if name == "speedup-markdown":
        proc = run_module("benchmarks.speedup", "markdown", "docs/measurements/speedup.json", timeout=60)
        assert proc.returncode == 0 and "| case | batch |" in proc.stdout, proc.stderr[-2000:]
        return
    argv, codes, writes = REPORT_SMOKES[name]
    proc = run_module("conformance.report", *[a.format(**files) for a in argv], timeout=60)
    assert proc.returncode in codes, f"exit {proc.returncode}: {proc.stdout[-1500:]}{proc.stderr[-1500:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for name_ in writes:
        assert (tmp_path / name_).stat().st_size > 0, name_
    if name == "baseline":   # a baseline is committed: no path of this machine in it
        text = (tmp_path / "baseline.json").read_text()
        assert '"executable": "python"' in text and "/venv/" not in text


def test_documented_report_subcommands_all_have_a_smoke_test():
    documented = _documented_report_subcommands()
    assert "html" in documented
    missing = sorted(documented - set(REPORT_SMOKES) - {k.split()[-1] for k in NOT_RUN
                                                        if k.startswith("python -m conformance.report ")})
    assert not missing, f"report subcommands in the docs with no entry in REPORT_SMOKES: {missing}"


# -- python -m conformance.stacks ---------------------------------------------------------------------

def test_documented_stacks_lines_run(tmp_path):
    lines = sorted({line for _, line in documented_commands()
                    if (command_key(line) or "").startswith("python -m conformance.stacks ")})
    assert {command_key(line).split()[3] for line in lines} >= {"list", "show", "matrix", "tox"}
    tox_copy = tmp_path / "tox.ini"
    tox_copy.write_text((ROOT / "tox.ini").read_text(encoding="utf-8"), encoding="utf-8")
    results = tmp_path / "results.json"
    results.write_text(json.dumps(fakes.doc([fakes.rec("mlp", "tf2onnx", 13, "PASS")])), encoding="utf-8")

    def run(line):
        argv = _tokens(line)[3:]
        if "--write" in argv:   # never the checkout's tox.ini
            argv += ["--tox-ini", str(tox_copy)]
        if argv[:1] == ["durations"]:   # a fake run's results, written into the tmp folder (never the checkout's)
            opsets = argv[argv.index("--opsets"):argv.index("--opsets") + 2] if "--opsets" in argv else []
            argv = ["durations", str(results), "-o", str(tmp_path / ".test_durations"), *opsets]
        return line, run_module("conformance.stacks", *argv, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        done = list(pool.map(run, lines))
    bad = [f"{line}: exit {p.returncode}: {p.stderr.strip()[-300:]}" for line, p in done if p.returncode != 0]
    assert not bad, "\n".join(bad)
    assert all(p.stdout.strip() or "--write" in line or "--check" in line for line, p in done)
    assert tox_copy.read_text(encoding="utf-8") == (ROOT / "tox.ini").read_text(encoding="utf-8")
    if any(command_key(line).endswith(" durations") for line in lines):
        assert json.loads((tmp_path / ".test_durations").read_text()) == {
            "conformance/test_matrix.py::test_cell[mlp-tf2onnx-opset13]": 2.0}
