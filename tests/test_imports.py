"""Imports go one way (the design's directions), and no two modules import each other.

Every ``import`` and ``from ... import`` of the modules of ``cases/`` and ``conformance/`` is read
with :mod:`ast` (module level and inside functions alike: a lazy import is still a dependency),
resolved to the module it names, and checked against the rules below.  Nothing is imported.

The rules (``DESIGN.md``, "Directions"):

* ``cases.*`` import no ``conformance.*``; of ``cases``, only the case API (``cases.api``, and its
  neutral helpers ``cases.inputs``, ``cases.model_io``, ``cases.cache``, ``cases.files``: a case made
  of a saved model file, as ``--model`` makes one and the minimised models of the tier are) and
  modules of their own family (``cases.layers.*`` among themselves);
* ``conformance.converters.*`` import, of ``conformance``, only ``conformance.converters.*`` and
  ``conformance.errors`` (the case API is below everything, so ``cases.api`` and its helpers too);
* ``conformance.targets.*`` the same: only ``conformance.targets.*`` and ``conformance.errors``;
* ``conformance.checks.*`` import nothing of ``conformance.run``, ``conformance.worker``,
  ``conformance.report``;
* ``conformance.report.*`` import nothing of ``conformance.checks``, ``conformance.worker``;
* no cycle between modules.

``KNOWN`` lists the violations of today, each with what fixing it needs: the test reports them
and passes; it fails on any new one, and on a listed one that is gone (remove it from the list).
"""
from __future__ import annotations

import ast
import warnings
from pathlib import Path

from tests.helpers import ROOT

PACKAGES = ("cases", "conformance")

#: the case API and its neutral helpers, which any module may import
CASE_API = {"cases", "cases.api", "cases.inputs", "cases.model_io", "cases.cache", "cases.files"}

#: (importer, imported) -> what removing it needs.  Remove an entry when it is fixed.
KNOWN: dict[tuple[str, str], str] = {
}


def module_files() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(name: str, modules) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules) -> set[str]:
    """The modules of ours that ``module`` imports, anywhere in its file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of this module
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # ``from a import b``: b may be a module (a.b) or a name in a
            names = [f"{origin}.{a.name}" for a in node.names] + [origin]
            names = [n for n in names[:-1] if n in modules] or [origin]
        else:
            continue
        found |= {r for r in (_resolve(n, modules) for n in names) if r and r != module}
    return found


def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _family(module: str) -> str:
    """``cases.layers.conv`` -> ``cases.layers``; ``cases.dense`` -> ``cases.dense``."""
    return ".".join(module.split(".")[:2])


def forbidden(src: str, dst: str) -> str | None:
    """Why ``src`` may not import ``dst``, or None."""
    if _under(src, "cases"):
        if _under(dst, "conformance"):
            return "cases import no conformance module"
        if dst not in CASE_API and _family(dst) != _family(src):
            return "cases import only the case API and their own family"
    if _under(src, "conformance.converters") and _under(dst, "conformance"):
        if not (_under(dst, "conformance.converters") or dst == "conformance.errors"):
            return "converters import only conformance.converters.* and conformance.errors"
    if _under(src, "conformance.targets") and _under(dst, "conformance"):
        if not (_under(dst, "conformance.targets") or dst == "conformance.errors"):
            return "targets import only conformance.targets.* and conformance.errors (like converters)"
    if _under(src, "conformance.checks"):
        for side in ("conformance.run", "conformance.worker", "conformance.report"):
            if _under(dst, side):
                return f"checks import nothing of {side}"
    if _under(src, "conformance.report"):
        for side in ("conformance.checks", "conformance.worker"):
            if _under(dst, side):
                return f"report imports nothing of {side}"
    return None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    pkg = tmp_path / "conformance" / "checks"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def f():\n    from conformance.run import matrix\n    from . import y\n")
    modules = {"conformance.checks.x": pkg / "x.py", "conformance.checks.y": pkg / "y.py",
               "conformance.run.matrix": None, "conformance.run": None}
    got = imports_of("conformance.checks.x", pkg / "x.py", modules)
    assert got == {"conformance.run.matrix", "conformance.checks.y"}
    assert forbidden("conformance.checks.x", "conformance.run.matrix")
    assert not forbidden("conformance.checks.x", "conformance.statuses")   # the status table is neutral
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_go_one_way_and_have_no_cycles():
    edges = graph()
    violations = {(src, dst): why for src, dsts in edges.items() for dst in dsts if (why := forbidden(src, dst))}
    new = {k: why for k, why in violations.items() if k not in KNOWN}
    gone = sorted(set(KNOWN) - set(violations))
    loops = cycles(edges)
    for (src, dst), need in sorted(KNOWN.items()):   # reported every time, so they are not forgotten
        if (src, dst) in violations:
            warnings.warn(f"known import violation {src} -> {dst} ({violations[src, dst]}); needs: {need}",
                          stacklevel=1)
    problems = [f"{src} -> {dst}: {why}" for (src, dst), why in sorted(new.items())]
    problems += [f"cycle: {' -> '.join(loop)}" for loop in loops]
    problems += [f"{src} -> {dst} no longer happens: remove it from KNOWN in tests/test_imports.py"
                 for src, dst in gone]
    assert not problems, "\n".join(problems)
