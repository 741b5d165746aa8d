"""Converter adapters, one module per converter; see :mod:`conformance.converters.base`.

Every module of this package whose name does not start with ``_`` and is not
``base`` is collected; user converter modules join with ``--converters-module``.
"""
from __future__ import annotations

import pkgutil

from conformance.loader import ModuleLoadError, import_module
from conformance.converters.base import Converter

_NOT_CONVERTER_MODULES = {"base"}


def builtin_modules() -> list[str]:
    import conformance.converters as pkg

    return [f"conformance.converters.{m.name}" for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)
            if not m.name.startswith("_") and m.name not in _NOT_CONVERTER_MODULES]


def converters_in_module(ref: str) -> list[Converter]:
    module = import_module(ref, what="converter module")
    found: list[Converter] = []
    for attr, value in vars(module).items():
        if isinstance(value, Converter):
            found.append(value)
        elif attr == "CONVERTERS":
            found.extend(v for v in value if isinstance(v, Converter))
    seen = {}
    for c in found:
        if not c.name:
            raise ModuleLoadError(f"converter module {ref}: {type(c).__name__} has no name")
        seen.setdefault(c.name, c)
    return list(seen.values())


def load_converters(refs) -> dict[str, tuple[str, Converter]]:
    """name -> (module reference, converter), in declaration order; names unique."""
    out: dict[str, tuple[str, Converter]] = {}
    for ref in refs:
        for conv in converters_in_module(ref):
            if conv.name in out and out[conv.name][0] != ref:
                raise ModuleLoadError(f"converter {conv.name!r} is declared in both {out[conv.name][0]} and {ref}")
            out[conv.name] = (ref, conv)
    return out


def find_converter(ref: str, name: str) -> Converter:
    for conv in converters_in_module(ref):
        if conv.name == name:
            return conv
    raise ModuleLoadError(f"converter {name!r} not found in {ref}")
