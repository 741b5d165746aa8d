"""Command-line converters: ``python -m MODULE ARGS`` for a conversion, with its failure mapped to
the suite's terms (the converter's own opset refusal -> OpsetRejected, any other non-zero exit ->
RuntimeError with the last error line).  The no-network guard holds in the child process."""
from __future__ import annotations

import shlex
import subprocess

from conformance.converters.base import ConvertContext, OpsetRejected, last_error_line, tf2onnx_rejects_opset
from conformance.worker import guard


def shown_command(module: str, args: list[str]) -> str:
    """The plain command line a user would type (the repro line of the record)."""
    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *map(str, args)])


def run_module(module: str, args: list[str], ctx: ConvertContext) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` (guarded) within the cell's remaining time; raise on failure."""
    proc = subprocess.run(guard.command(module, *map(str, args)), capture_output=True, text=True,
                          timeout=ctx.remaining(), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        text = proc.stderr + proc.stdout
        if tf2onnx_rejects_opset(text):
            raise OpsetRejected(last_error_line(text))
        raise RuntimeError(f"exit code {proc.returncode}: {last_error_line(text)}")
    return proc
