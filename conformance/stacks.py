"""The software stacks as data: ``stacks.toml`` read, checked, and turned into tox sections and a CI matrix.

    python -m conformance.stacks list                 # the stacks, one a line (--installable: runnable only)
    python -m conformance.stacks show NAME            # one stack's pip requirements, one a line
    python -m conformance.stacks matrix               # GitHub Actions matrix JSON: one job per stack x group
    python -m conformance.stacks tox --write|--check  # tox.ini's generated stack sections
    python -m conformance.stacks durations RESULTS -o .test_durations   # pytest-split's durations, from a run

A malformed file or an unknown stack name is one line on stderr and exit code 2; ``tox --check``
exits 1 when tox.ini is not what stacks.toml generates.

Groups: a stack's run is split into ``groups`` CI jobs (``[ci] groups`` for every stack, a stack's own
``groups`` for that one) by pytest-split (``--splits N --group K``), which cuts the collected cells, in
their order, into N runs of about equal time by the seconds in ``.test_durations`` (a cell missing there
counts as the average).  ``durations`` writes that file from the per-cell ``seconds`` of results files.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from conformance.tomlfile import read_toml, tables

ROOT = Path(__file__).resolve().parent.parent
STACKS_FILE = ROOT / "stacks.toml"
TOX_FILE = ROOT / "tox.ini"
BEGIN = "# stacks:start (generated from stacks.toml by `python -m conformance.stacks tox --write`; edit stacks.toml, not this block)"
END = "# stacks:end"

_KEYS = {"name", "description", "python", "extra", "requirements", "keras", "installs", "install_error", "groups"}
_CI_KEYS = {"groups"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: pytest-split's durations file (its default name, in the directory pytest runs from: tox's is the checkout)
DURATIONS_FILE = ROOT / ".test_durations"
#: the test that runs a cell (conformance/test_matrix.py): a cell's pytest node id is ``CELL_TEST[<cell id>]``
CELL_TEST = "conformance/test_matrix.py::test_cell"
#: the least seconds a cell counts with (pytest-split's chunking misbehaves on cells of zero duration)
MIN_SECONDS = 0.001


class StacksError(Exception):
    """stacks.toml is malformed, or a stack is unknown; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Stack:
    name: str
    description: str
    python: str
    requirements: tuple[str, ...]
    extra: str | None = None
    keras: str = ""
    installs: bool = True
    install_error: str = ""
    #: how many CI jobs the stack's run is split into (pytest-split's --splits)
    groups: int = 1

    def pip_args(self, suite: str = ".") -> list[str]:
        """What pip installs for this stack: the suite (with its extra) and the pinned requirements."""
        return [f"{suite}[{self.extra}]" if self.extra else suite, *self.requirements]


def _groups(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise StacksError(f"{where}: 'groups' must be a whole number from 1 to 64 (the CI jobs a stack's run is split into)")
    return value


def parse(data: dict, source: str = "stacks.toml") -> list[Stack]:
    unknown_top = set(data) - {"stack", "ci"}
    if unknown_top:
        raise StacksError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}; stacks go in [[stack]] tables, "
                          "CI settings in [ci]")
    ci = data.get("ci", {})
    if not isinstance(ci, dict):
        raise StacksError(f"{source}: 'ci' must be a table ([ci])")
    if set(ci) - _CI_KEYS:
        raise StacksError(f"{source}: [ci]: unknown key(s) {sorted(set(ci) - _CI_KEYS)} (allowed: {sorted(_CI_KEYS)})")
    default_groups = _groups(ci.get("groups", 1), f"{source}: [ci]")
    raw_stacks = data.get("stack")
    if not isinstance(raw_stacks, list) or not raw_stacks:
        raise StacksError(f"{source}: no stacks; write one [[stack]] table per stack")
    out: list[Stack] = []
    seen: set[str] = set()
    for _, where, raw in tables(raw_stacks, f"{source}: stack", _KEYS, StacksError):
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise StacksError(f"{where}: 'name' must be lower-case letters, digits and dashes, e.g. 'tf215-tf2onnx116'")
        where = f"{source}: stack {name!r}"
        if name in seen:
            raise StacksError(f"{where}: named twice")
        seen.add(name)
        for key in ("description", "python"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise StacksError(f"{where}: '{key}' must be a non-empty string")
        reqs = raw.get("requirements")
        if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
            raise StacksError(f"{where}: 'requirements' must be a list of requirement strings (may be empty)")
        for r in reqs:
            try:
                Requirement(r)
            except InvalidRequirement:
                raise StacksError(f"{where}: requirement {r!r} is not a requirement such as 'onnx==1.14.1'") from None
        extra = raw.get("extra")
        if extra is not None and (not isinstance(extra, str) or not extra.strip()):
            raise StacksError(f"{where}: 'extra' must be the name of one of the suite's extras")
        if not reqs and not extra:
            raise StacksError(f"{where}: give 'requirements' or an 'extra'; a stack with neither installs nothing")
        installs = raw.get("installs", True)
        if not isinstance(installs, bool):
            raise StacksError(f"{where}: 'installs' must be true or false")
        error = raw.get("install_error", "")
        if not isinstance(error, str):
            raise StacksError(f"{where}: 'install_error' must be a string")
        if not installs and not error.strip():
            raise StacksError(f"{where}: installs = false needs the installer's error in 'install_error'")
        keras = raw.get("keras", "")
        if not isinstance(keras, str):
            raise StacksError(f"{where}: 'keras' must be a string")
        groups = _groups(raw.get("groups", default_groups), where)
        out.append(Stack(name=name, description=raw["description"].strip(), python=raw["python"].strip(),
                         requirements=tuple(reqs), extra=extra, keras=keras, installs=installs,
                         install_error=error.strip(), groups=groups))
    return out


def load(path: str | Path = STACKS_FILE) -> list[Stack]:
    return parse(read_toml(path, "stacks file", StacksError), source=str(path))


def get(stacks: list[Stack], name: str) -> Stack:
    for s in stacks:
        if s.name == name:
            return s
    raise StacksError(f"unknown stack {name!r}; stacks: {', '.join(s.name for s in stacks)}")


def tox_block(stacks: list[Stack]) -> str:
    """tox.ini's stack sections: one environment per installable stack, labelled ``stacks``."""
    lines = [BEGIN]
    for s in stacks:
        if not s.installs:
            lines += [f"# {s.name}: not installable ({s.install_error})"]
            continue
        lines += ["", f"[testenv:{s.name}]", f"description = {s.description}",
                  f"base_python = python{s.python}", "labels = stacks"]
        if s.extra:
            lines.append(f"extras = {s.extra}")
        if s.requirements:
            lines.append("deps =")
            lines += [f"    {r}" for r in s.requirements]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def tox_with_block(text: str, block: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise StacksError(f"tox.ini has no generated block (the lines '{BEGIN[:16]}...' and '{END}'); add them once")
    rest = text[end + len(END):]
    return text[:start] + block + (rest[1:] if rest.startswith("\n") else rest)


def github_matrix(stacks: list[Stack]) -> dict:
    """One job per installable stack and group: ``group`` (1..``groups``) is pytest-split's ``--group``."""
    return {"include": [{"stack": s.name, "python": s.python, "group": g, "groups": s.groups}
                        for s in stacks if s.installs for g in range(1, s.groups + 1)]}


def cell_durations(docs: list[tuple[str, dict]], opsets: set[int] | None = None) -> dict[str, float]:
    """pytest-split's durations ({node id: seconds}) from loaded results documents, given as (label, doc):
    each cell's ``seconds`` as its run recorded it, the mean where several runs (stacks) hold the cell.
    ``opsets``: only the cells at these opsets.  Records without seconds (slim baselines) are left out;
    StacksError if no record has any."""
    seen: dict[str, list[float]] = {}
    for _label, doc in docs:
        for r in doc["records"]:
            seconds = r.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                continue
            if opsets and int(r["opset"]) not in opsets:
                continue
            cell = r.get("id") or f"{r['case']}-{r['converter']}-opset{r['opset']}"
            nodeid = r.get("nodeid") or f"{CELL_TEST}[{cell}]"
            seen.setdefault(nodeid, []).append(float(seconds))
    if not seen:
        labels = ", ".join(label for label, _ in docs)
        raise StacksError(f"{labels}: no cell with its seconds{' at the opsets asked for' if opsets else ''} "
                          "(slim baselines keep none): give the results.json of a run")
    return {n: round(max(sum(v) / len(v), MIN_SECONDS), 3) for n, v in sorted(seen.items())}


def plan(doc: dict, groups: list[int]) -> list[dict]:
    """What the workflow's jobs would take per stack of a results document, for each number of groups:
    pytest-split's own cut (``duration_based_chunks``, in the run's cell order, by each cell's seconds)
    and the longest group's share of the run's work, times the run's wall time (each group also pays
    its install, not counted).  One dict per stack: cells, cell seconds, wall seconds and, per number of
    groups, the longest group's cells, its cell seconds and its estimated wall seconds."""
    from types import SimpleNamespace

    from pytest_split.algorithms import Algorithms

    by: dict[str, list[dict]] = {}
    for r in doc["records"]:
        by.setdefault(str(r.get("stack") or "default"), []).append(r)
    walls = {}
    for run in (doc.get("run") or {}).get("runs") or [doc.get("run") or {}]:
        walls[str(run.get("stack") or doc.get("environment", {}).get("stack") or "default")] = float(
            run.get("wall_seconds") or 0)
    out = []
    for stack, records in by.items():
        durations = cell_durations([(stack, {"records": records})])
        items = [SimpleNamespace(nodeid=n) for n in durations]
        total = sum(durations.values())
        wall = walls.get(stack) or walls.get("default") or 0.0
        row = {"stack": stack, "cells": len(records), "cell_seconds": round(total, 1), "wall_seconds": round(wall, 1),
               "groups": {}}
        for n in groups:
            cut = Algorithms.duration_based_chunks.value(n, items, durations)
            longest = max(cut, key=lambda g: g.duration)
            row["groups"][n] = {"cells": len(longest.selected), "cell_seconds": round(longest.duration, 1),
                                "wall_seconds": round(wall * longest.duration / total, 1) if total else 0.0}
        out.append(row)
    return out


def write_durations(durations: dict[str, float], path: str | Path) -> Path:
    """The file as pytest-split's --store-durations writes it (sorted keys, 4-space indent)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(durations, sort_keys=True, indent=4) + "\n", encoding="utf-8")
    return p


def _load_results(path: str) -> dict:
    """A results.json, or an interrupted run's results.partial.jsonl (every cell that finished)."""
    from conformance.run.results import ResultsError, load, rebuild

    try:
        return rebuild(path) if str(path).endswith(".jsonl") else load(path)
    except ResultsError as exc:
        raise StacksError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="python -m conformance.stacks", description="The software stacks of stacks.toml.")
    p.add_argument("--file", default=str(STACKS_FILE), help="the stacks file (default: the checkout's stacks.toml)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="the stacks, one name a line")
    ls.add_argument("--installable", action="store_true", help="only the stacks that install (the runnable ones)")
    ls.add_argument("--sep", default="\n", help="separator (default: newline; ',' for tox -e)")
    sh = sub.add_parser("show", help="one stack's pip requirements, one a line")
    sh.add_argument("name")
    sub.add_parser("matrix", help="GitHub Actions matrix JSON: one job per installable stack and group")
    du = sub.add_parser("durations", help="pytest-split's durations file (--splits/--group) from results files")
    du.add_argument("results", nargs="+",
                    help="results.json files of runs (or a merged one of several stacks: the mean per cell); "
                         "an interrupted run's results.partial.jsonl")
    du.add_argument("-o", "--output", required=True, help="the durations file to write, e.g. .test_durations")
    du.add_argument("--opsets", default=None, metavar="LIST",
                    help="only the cells at these opsets, e.g. 13 (default: every cell of the results)")
    du.add_argument("--update", action="store_true",
                    help="keep the output file's cells that these results do not hold (add a tier's cells)")
    pl = sub.add_parser("plan", help="per stack of runs' results: the longest CI group's time for 1..N groups")
    pl.add_argument("results", nargs="+", help="results.json files of stack runs (or a merged one)")
    pl.add_argument("--groups", default="1,2,3,4", metavar="LIST", help="numbers of groups to plan (default 1,2,3,4)")
    t = sub.add_parser("tox", help="tox.ini's generated stack sections")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="rewrite the generated block of tox.ini")
    g.add_argument("--check", action="store_true", help="exit 1 if tox.ini's block is not what stacks.toml generates")
    t.add_argument("--tox-ini", default=str(TOX_FILE), help="the tox.ini to write or check")
    args = p.parse_args(argv)
    try:
        if args.command == "durations":
            return _durations(args)
        if args.command == "plan":
            return _plan(args)
        stacks = load(args.file)
        if args.command == "list":
            names = [s.name for s in stacks if s.installs or not args.installable]
            print(args.sep.join(names))
        elif args.command == "show":
            for r in get(stacks, args.name).pip_args():
                print(r)
        elif args.command == "matrix":
            print(json.dumps(github_matrix(stacks)))
        elif args.command == "tox":
            block = tox_block(stacks)
            if not (args.write or args.check):
                sys.stdout.write(block)
                return 0
            ini = Path(args.tox_ini)
            if not ini.is_file():
                raise StacksError(f"{ini}: no such file")
            text = ini.read_text(encoding="utf-8")
            new = tox_with_block(text, block)
            if args.check:
                if new != text:
                    print(f"{ini} is out of date with {args.file}: run python -m conformance.stacks tox --write",
                          file=sys.stderr)
                    return 1
                print(f"{ini} is up to date with {args.file}")
            else:
                ini.write_text(new, encoding="utf-8")
                print(f"wrote the stack sections of {ini} ({sum(s.installs for s in stacks)} environments)")
    except StacksError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _durations(args) -> int:
    opsets = None
    if args.opsets:
        try:
            opsets = {int(o) for o in args.opsets.split(",") if o.strip()}
        except ValueError:
            raise StacksError(f"--opsets {args.opsets!r}: give opsets as numbers, e.g. 13 or 11,13") from None
    durations = cell_durations([(path, _load_results(path)) for path in args.results], opsets)
    if args.update and Path(args.output).is_file():
        try:
            kept = json.loads(Path(args.output).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StacksError(f"{args.output}: not a durations file ({exc})") from None
        if not isinstance(kept, dict):
            raise StacksError(f"{args.output}: not a durations file (a JSON object of node id -> seconds)")
        durations = dict(sorted({**kept, **durations}.items()))
    out = write_durations(durations, args.output)
    print(f"wrote {out}: {len(durations)} cells, {sum(durations.values()):.0f} s in all")
    return 0



def _plan(args) -> int:
    try:
        groups = sorted({int(n) for n in args.groups.split(",") if n.strip()})
    except ValueError:
        raise StacksError(f"--groups {args.groups!r}: give numbers of groups, e.g. 1,2,3") from None
    if not groups or min(groups) < 1:
        raise StacksError(f"--groups {args.groups!r}: give numbers of groups of at least 1")
    rows = [row for path in args.results for row in plan(_load_results(path), groups)]
    head = ["stack", "cells", "cell s", "wall"] + [f"{n} group{'s' if n > 1 else ''}: longest" for n in groups]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        cols = [row["stack"], str(row["cells"]), f"{row['cell_seconds']:.0f}", _mmss(row["wall_seconds"])]
        cols += [_mmss(row["groups"][n]["wall_seconds"]) for n in groups]
        print("| " + " | ".join(cols) + " |")
    for n in groups:
        longest = max(row["groups"][n]["wall_seconds"] for row in rows)
        print(f"{n} group(s) per stack: {len(rows) * n} jobs, the longest {_mmss(longest)} of tests (plus its install); "
              f"{_mmss(sum(row['wall_seconds'] for row in rows))} one stack after another on one machine")
    return 0


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60} min {int(seconds) % 60:02d} s"


if __name__ == "__main__":
    sys.exit(main())
