"""Finding cases: the built-in case modules and user modules given by path.

Both the test process (to collect the matrix) and the conversion workers (to
build a model) load cases through here, by the same *module reference*: a
dotted name for built-in modules, a file path for user modules.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path
from typing import Iterable

from cases.api import Case

#: modules of the ``cases`` package that hold machinery, not cases (``files``: saved model files, ``--model``)
_NOT_CASE_MODULES = {"api", "loader", "inputs", "files", "cache"}


class ModuleLoadError(Exception):
    """A case or converter module could not be loaded; the message is one line for the user."""


CaseLoadError = ModuleLoadError


def builtin_modules() -> list[str]:
    """``cases.<module>`` and ``cases.<package>.<module>`` (the layer library, ``cases.layers.conv``, ...)."""
    import cases

    found = []
    for m in pkgutil.walk_packages(cases.__path__, prefix="cases."):
        leaf = m.name.rsplit(".", 1)[-1]
        if m.ispkg or leaf.startswith("_") or leaf in _NOT_CASE_MODULES:
            continue
        found.append(m.name)
    return sorted(found)


def import_module(ref: str, what: str = "case module"):
    """Import a module by dotted name or by file path."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        path = Path(ref).resolve()
        if not path.is_file():
            raise CaseLoadError(f"{what} {ref}: no such file")
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        mod_name = f"_conformance_user_{path.stem}_{digest}"
        if mod_name in sys.modules:
            return sys.modules[mod_name]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's module is broken: one line
            del sys.modules[mod_name]
            raise CaseLoadError(f"{what} {ref} failed to import: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(ref)
    except Exception as exc:
        raise CaseLoadError(f"{what} {ref} failed to import: {type(exc).__name__}: {exc}") from exc


def _user_function_case(name: str, fn) -> Case:
    """A plain ``case_<name>()`` function returning a model or (model, inputs)."""
    doc = inspect.getdoc(fn) or ""
    return Case(name=name, family="user", build=fn, build_returns_inputs=True,
                description=doc.splitlines()[0] if doc else "")


def declared(module, kind: type, list_attr: str, extra=None) -> list:
    """The instances of ``kind`` a module declares, in declaration order: module-level values and the
    items of its ``list_attr`` list; ``extra(attr, value)`` may make one of another attribute (or None)."""
    found = []
    for attr, value in vars(module).items():
        if isinstance(value, kind):
            found.append(value)
        elif attr == list_attr:
            found.extend(v for v in value if isinstance(v, kind))
        elif extra is not None and (made := extra(attr, value)) is not None:
            found.append(made)
    return found


def cases_in_module(module, ref: str) -> list[Case]:
    def function_case(attr, value):
        if attr.startswith("case_") and inspect.isfunction(value) and value.__module__ == module.__name__:
            return _user_function_case(attr[len("case_"):], value)
        return None

    found = declared(module, Case, "CASES", function_case)
    unique: dict[str, Case] = {}
    for c in found:
        if c.name in unique and unique[c.name] is not c:
            raise CaseLoadError(f"case module {ref}: two cases are named {c.name!r}")
        unique[c.name] = c
    return [c.with_module(ref) for c in unique.values()]


def _cases_of(ref: str) -> list[Case]:
    from cases import files

    if files.is_ref(ref):  # a saved model file (--model): one case, made from the reference alone
        try:
            return [files.case_for(ref)]
        except files.ModelFileError as exc:
            raise CaseLoadError(str(exc)) from None
    return cases_in_module(import_module(ref), ref)


def load_cases(refs: Iterable[str]) -> list[Case]:
    """All cases of the given module references, in a stable order; names unique."""
    out: dict[str, Case] = {}
    for ref in refs:
        for c in _cases_of(ref):
            if c.name in out:
                raise CaseLoadError(f"case {c.name!r} is declared in both {out[c.name].module} and {ref}")
            out[c.name] = c
    return list(out.values())


def find_case(ref: str, name: str) -> Case:
    """The case ``name`` of module ``ref``.

    A module may also make cases on demand: a module-level ``resolve_case(name)``
    returning a Case (or None) is asked for names it does not declare.  The
    generated cases of :mod:`conformance.fuzz.model` use it: their name encodes
    their whole configuration, so a worker rebuilds them from the name alone.
    """
    from cases import files

    if files.is_ref(ref):  # a saved model file (--model): rebuilt from the reference alone
        for c in _cases_of(ref):
            if c.name == name:
                return c
        _not_found(ref, name)
    module = import_module(ref)
    for c in cases_in_module(module, ref):
        if c.name == name:
            return c
    resolve = getattr(module, "resolve_case", None)
    if callable(resolve):
        made = resolve(name)
        if isinstance(made, Case):
            return made.with_module(ref)
    _not_found(ref, name)


def _not_found(ref: str, name: str):
    raise CaseLoadError(f"case {name!r} not found in {ref}")


# ---------------------------------------------------------------- converter and target modules
def _named_in_module(ref: str, what: str, base: type, list_attr: str) -> list:
    """The named instances of ``base`` a module declares (module-level values and its ``list_attr`` list), the
    first of each name."""
    module = import_module(ref, what=f"{what} module")
    seen = {}
    for item in declared(module, base, list_attr):
        if not item.name:
            raise ModuleLoadError(f"{what} module {ref}: {type(item).__name__} has no name")
        seen.setdefault(item.name, item)
    return list(seen.values())


def _load_named(refs, what: str, in_module) -> dict:
    """name -> (module reference, instance), in declaration order; names unique."""
    out: dict = {}
    for ref in refs:
        for item in in_module(ref):
            if item.name in out and out[item.name][0] != ref:
                raise ModuleLoadError(f"{what} {item.name!r} is declared in both {out[item.name][0]} and {ref}")
            out[item.name] = (ref, item)
    return out


def _find_named(ref: str, name: str, what: str, in_module):
    for item in in_module(ref):
        if item.name == name:
            return item
    raise ModuleLoadError(f"{what} {name!r} not found in {ref}")


def converters_in_module(ref: str) -> list:
    from conformance.converters.base import Converter

    return _named_in_module(ref, "converter", Converter, "CONVERTERS")


def load_converters(refs) -> dict:
    """name -> (module reference, converter), in declaration order; names unique."""
    return _load_named(refs, "converter", converters_in_module)


def find_converter(ref: str, name: str):
    return _find_named(ref, name, "converter", converters_in_module)


@functools.lru_cache(maxsize=1)
def builtin_converters() -> tuple:
    """The converters of the built-in converter modules, in module order."""
    from conformance.converters import builtin_modules

    return tuple(conv for _, conv in load_converters(builtin_modules()).values())


def package_name(distribution: str) -> str:
    """The name a distribution is reported and imported by (``onnxconverter-common`` -> ``onnxconverter_common``)."""
    return distribution.replace("-", "_")


def converter_packages(own: bool = False, converters=None) -> tuple[str, ...]:
    """What the converters (default: the built-in ones) need, by reported name (:func:`package_name`), each
    once: their ``packages`` (``own``: only each one's own, its ``distribution``), the one most converters
    need first, then in the order of the converters.  The one list the environment, the stacks page, the
    causes' ``when`` and the ORT-only child derive theirs from: a new converter module adds its packages."""
    counts: collections.Counter = collections.Counter()
    for conv in builtin_converters() if converters is None else converters:
        needs = (conv.distribution,) if own else (conv.packages or (conv.distribution,))
        counts.update(list(dict.fromkeys(package_name(p) for p in needs if p)))
    first = {p: i for i, p in enumerate(counts)}
    return tuple(sorted(counts, key=lambda p: (-counts[p], first[p])))


# ---------------------------------------------------------------- target modules
def targets_in_module(ref: str) -> list:
    from conformance.targets.base import Target

    return _named_in_module(ref, "target", Target, "TARGETS")


def load_targets(refs) -> dict:
    """name -> (module reference, target), in declaration order; names unique."""
    return _load_named(refs, "target", targets_in_module)


def find_target(ref: str, name: str):
    return _find_named(ref, name, "target", targets_in_module)


@functools.lru_cache(maxsize=1)
def builtin_targets() -> tuple:
    """The targets of the built-in target modules, in module order."""
    from conformance.targets import builtin_modules

    return tuple(t for _, t in load_targets(builtin_modules()).values())


def target_packages() -> tuple[str, ...]:
    """What the built-in targets import beyond the suite's stack, by reported name, each once (the environment
    records their versions; a cause's ``when`` may name them)."""
    return tuple(dict.fromkeys(package_name(p) for t in builtin_targets() for p in t.packages))
