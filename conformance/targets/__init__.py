"""What users do with a converted model next, one small module per target; see :mod:`conformance.targets.base`.

Every module of this package whose name does not start with ``_`` and is not ``base`` is collected (as
:mod:`conformance.converters` collects converters); user target modules join with ``--targets-module``.
``python -m conformance.targets`` prints the table of targets (docs/deploy.md holds it).
"""
from __future__ import annotations

import pkgutil

_NOT_TARGET_MODULES = {"base"}


def builtin_modules() -> list[str]:
    import conformance.targets as pkg

    return [f"conformance.targets.{m.name}" for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)
            if not m.name.startswith("_") and m.name not in _NOT_TARGET_MODULES]
