"""Command-line converters: the repro line of a ``python -m MODULE ARGS`` conversion.

The call itself is :meth:`conformance.converters.base.ConvertContext.run_module`: through the
worker's launcher (:mod:`conformance.worker.launcher`: a warm fork of a preloaded server, or a
fresh interpreter), with the outcome mapped to the suite's terms (the converter's own opset
refusal -> OpsetRejected, death by a signal -> ConverterCrashed, overrun -> ConverterTimedOut, any
other non-zero exit -> RuntimeError with the last error line).  The no-network guard holds in the
child."""
from __future__ import annotations

import shlex


def shown_command(module: str, args: list[str]) -> str:
    """The plain command line a user would type (the repro line of the record)."""
    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *map(str, args)])
