"""No file of the repository holds a path of the machine it was written on.

Results, baselines and the speedup table record where they ran (argv, the expectations file, the
interpreter); committed, those absolute paths leak a machine's layout and mean nothing elsewhere.
The writers make them portable (``conformance/report/portable.py``: relative to the checkout, or
``.../parent/name``; the interpreter by its name); this test reads every file git tracks
(``git ls-files``).  A line that must hold such a path as test data (say, a test that machine paths
are normalized away) says so with ``machine-path: example`` in a comment on that line.

``expectations.toml`` is left out (being replaced as a whole, by its own owner).
"""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.helpers import ROOT

#: an absolute path under a home, a scratch or a checkout folder, or into an installed package
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:root|work|tmp|home|Users)/[^\s\"'`)]*"
                          r"|(?<![\w.~-])/[^\s\"'`]*/(?:site|dist)-packages\b")
EXCLUDED = {"expectations.toml", "conformance/expectations.toml"}


def _listed() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT,
                             capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    return sorted({p for p in out.decode().split("\0") if p})


ALLOWED = "machine-path: example"


def machine_paths(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    found = [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in MACHINE_PATH.finditer(text)]
    return [(n, hit) for n, hit in found if ALLOWED not in lines[n - 1]]


def test_the_pattern_finds_machine_paths_and_leaves_the_rest():
    s = "/"   # the examples are built, so that this file holds none of them
    found = machine_paths(f'a\n"executable": "{s}work/venv/bin/python", --report-dir={s}tmp/x\n'
                          f'{s}opt/venv/lib/python3.11/site-packages/onnx/__init__.py {s}home/me/x')
    assert [line for line, _ in found] == [2, 2, 3, 3]
    assert not machine_paths(f"x = '{s}home/ci/venv/lib'  # {ALLOWED}: a path that normalize() removes")
    assert not machine_paths("reports/baseline/x.json .../ci5/expectations.toml https://example.org/home/x "
                             "/usr/bin/time added 1,573 MB to site-packages python3.11 ~/tmp/x")


def test_no_committed_file_holds_a_path_of_this_machine():
    offenders = []
    for rel in _listed():
        if rel in EXCLUDED:
            continue
        path = ROOT / rel
        if not path.is_file():      # deleted in the work tree, or a link to a folder
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:    # binary
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{rel}:{line}: {hit}" for line, hit in machine_paths(text)]
    assert not offenders, ("absolute paths of a machine in the repository (make them relative; for results "
                           "files, conformance.report.portable):\n" + "\n".join(offenders[:40]))
