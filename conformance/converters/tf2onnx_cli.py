"""The command line: the model saved as a SavedModel, then `python -m tf2onnx.convert --saved-model`."""
from __future__ import annotations

import shlex
import subprocess
import sys

from conformance import guard
from conformance.converters._savedmodel import saved_model
from conformance.converters.base import (Conversion, Converter, ConvertContext, OpsetRejected, last_error_line,
                                         tf2onnx_rejects_opset)


class Tf2OnnxCli(Converter):
    name = "tf2onnx-cli"
    distribution = "tf2onnx"
    summary = "python -m tf2onnx.convert --saved-model DIR --output model.onnx --opset N"

    def load(self) -> str:
        import tf2onnx

        return tf2onnx.__version__

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        import onnx

        sm_dir, keys, how = saved_model(model, ctx)
        out = ctx.workdir / "model.onnx"
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(sm_dir),
               "--output", str(out), "--opset", str(ctx.opset)]
        # run through conformance.guard so the no-network guard holds in the subprocess as well
        proc = subprocess.run(guard.command(*cmd[2:]), capture_output=True, text=True, timeout=ctx.remaining(),
                              stdin=subprocess.DEVNULL)
        shown = f"{how}; " + " ".join(shlex.quote(c) for c in ["python"] + cmd[1:])
        if proc.returncode != 0:
            text = proc.stderr + proc.stdout
            if tf2onnx_rejects_opset(text):
                raise OpsetRejected(last_error_line(text))
            raise RuntimeError(f"exit code {proc.returncode}: {last_error_line(text)}")
        return Conversion(onnx.load(str(out)), output_names=keys or None, command=shown)


CONVERTER = Tf2OnnxCli()
