"""Command-line converters: ``python -m MODULE ARGS`` for a conversion through the worker's
launcher (:mod:`conformance.worker.launcher`: a warm fork of a preloaded server, or a fresh
interpreter), with the outcome mapped to the suite's terms: the converter's own opset refusal ->
OpsetRejected, death by a signal -> ConverterCrashed, overrun -> ConverterTimedOut, any other
non-zero exit -> RuntimeError with the last error line.  The no-network guard holds in the child."""
from __future__ import annotations

import shlex

from conformance.converters.base import (ConvertContext, ConverterCrashed, ConverterTimedOut, OpsetRejected,
                                         last_error_line, tf2onnx_rejects_opset)


def shown_command(module: str, args: list[str]) -> str:
    """The plain command line a user would type (the repro line of the record)."""
    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *map(str, args)])


def run_module(module: str, args: list[str], ctx: ConvertContext):
    """Run ``python -m module args`` within the cell's remaining time; raise on failure."""
    from conformance.worker.launcher import Launcher

    launcher = ctx.launcher or Launcher("fresh")
    done = launcher.run(module, list(map(str, args)), timeout=ctx.remaining())
    text = done.stderr + done.stdout
    if done.timed_out:
        raise ConverterTimedOut(f"`python -m {module}` did not finish within the cell's time limit "
                                f"({launcher.mode} launch, killed after {done.seconds:.0f} s)")
    if done.returncode < 0:
        raise ConverterCrashed(f"`python -m {module}` died of {done.signal_name} ({launcher.mode} launch)"
                               + (f"; last output: {last_error_line(text)}" if text.strip() else ""))
    if done.returncode != 0:
        if tf2onnx_rejects_opset(text):
            raise OpsetRejected(last_error_line(text))
        raise RuntimeError(f"exit code {done.returncode}: {last_error_line(text)}")
    return done
