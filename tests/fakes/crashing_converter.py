"""Converters that crash or hang on one layer: tf2onnx.convert.from_keras, except that a model holding an
``Activation("softsign")`` aborts the process (as a converter's native code can), or never returns.  For the
reducer's tests: it must finish, and reduce the model to that one layer.  Needs TensorFlow (they are
tf2onnx-keras otherwise)."""
from __future__ import annotations

import os
import time

from conformance.converters.tf2onnx_keras import Tf2OnnxKeras


def _holds_softsign(model) -> bool:
    for layer in getattr(model, "layers", []) or []:
        try:
            if type(layer).__name__ == "Activation" and layer.get_config().get("activation") == "softsign":
                return True
        except Exception:
            continue
    return False


class CrashOnSoftsign(Tf2OnnxKeras):
    name = "crash-on-softsign"
    summary = "tf2onnx.convert.from_keras, but the process aborts on a model with Activation('softsign')"

    def convert(self, model, ctx):
        if _holds_softsign(model):
            os.abort()
        return super().convert(model, ctx)


class HangOnSoftsign(Tf2OnnxKeras):
    name = "hang-on-softsign"
    summary = "tf2onnx.convert.from_keras, but a model with Activation('softsign') never converts (it sleeps)"

    def convert(self, model, ctx):
        if _holds_softsign(model):
            time.sleep(3600)
        return super().convert(model, ctx)


CONVERTERS = [CrashOnSoftsign(), HangOnSoftsign()]
