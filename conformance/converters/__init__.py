"""Converter adapters, one module per converter; see :mod:`conformance.converters.base`.

Every module of this package whose name does not start with ``_`` and is not
``base`` is collected; user converter modules join with ``--converters-module``.  Loading them is
:mod:`conformance.loader`'s job (one loader for case and converter modules): ``load_converters``,
``find_converter``.
"""
from __future__ import annotations

import pkgutil


_NOT_CONVERTER_MODULES = {"base"}


def builtin_modules() -> list[str]:
    import conformance.converters as pkg

    return [f"conformance.converters.{m.name}" for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)
            if not m.name.startswith("_") and m.name not in _NOT_CONVERTER_MODULES]
