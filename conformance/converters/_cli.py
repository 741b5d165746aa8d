"""Command-line converters: the repro line of a ``python -m MODULE ARGS`` conversion, and the same run
in a standalone repro script.

The call itself is :meth:`conformance.converters.base.ConvertContext.run_module`: through the
worker's launcher (:mod:`conformance.worker.launcher`: a warm fork of a preloaded server, or a
fresh interpreter), with the outcome mapped to the suite's terms (the converter's own opset
refusal -> OpsetRejected, death by a signal -> ConverterCrashed, overrun -> ConverterTimedOut, any
other non-zero exit -> RuntimeError with the last error line: :func:`~conformance.converters.base.exit_error`).
The no-network guard holds in the child.  A repro script runs the module in a plain fresh
interpreter instead (:func:`run_fresh`), with the same mapping."""
from __future__ import annotations

import shlex

from conformance.converters.base import exit_error, last_error_line


def shown_command(module: str, args: list[str]) -> str:
    """The plain command line a user would type (the repro line of the record)."""
    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *map(str, args)])


def run_fresh(module: str, args) -> None:
    """``python -m module args`` in a fresh interpreter (a repro script's command-line conversion); raises as
    the worker's ``ConvertContext.run_module`` does."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True)
    text = done.stderr + done.stdout
    if done.returncode < 0:
        raise RuntimeError(f"`python -m {module}` died of signal {-done.returncode}; last output: "
                           f"{last_error_line(text)}")
    if done.returncode != 0:
        raise exit_error(done.returncode, text)
