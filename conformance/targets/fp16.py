"""float16 weights and activations (onnxconverter-common), inputs and outputs kept float32, in onnxruntime."""
from __future__ import annotations

from conformance.targets.base import Target, TargetContext, on_model

#: the op types the fallback keeps in float32 besides onnxconverter-common's own block list
KEEP_FLOAT32 = ("LayerNormalization", "Softmax")


def to_float16(model, keep: tuple[str, ...] = ()):
    """``convert_float_to_float16(model, keep_io_types=True)`` (a ModelProto); ``keep``: op types added to its
    block list."""
    from onnxconverter_common import float16

    kw = {"op_block_list": list(float16.DEFAULT_OP_BLOCK_LIST) + list(keep)} if keep else {}
    return float16.convert_float_to_float16(model, keep_io_types=True, **kw)


class Float16(Target):
    name = "fp16"
    summary = "onnxconverter_common.float16.convert_float_to_float16(model, keep_io_types=True), then onnxruntime"
    packages = ("onnxconverter-common",)
    yardstick = "fp16"
    blames = "the float16 conversion (onnxconverter-common) or float16 itself"

    def transform(self, model_bytes: bytes, ctx: TargetContext) -> bytes:
        return on_model(model_bytes, to_float16)

    def fallback(self) -> Target:
        return Float16KeepNorms()


class Float16KeepNorms(Float16):
    """The variant recorded when the plain conversion fails: LayerNormalization and Softmax stay float32."""
    name = "fp16-keep-norms"
    summary = ("convert_float_to_float16(model, keep_io_types=True, op_block_list=DEFAULT_OP_BLOCK_LIST + "
               "['LayerNormalization', 'Softmax'])")

    def transform(self, model_bytes: bytes, ctx: TargetContext) -> bytes:
        return on_model(model_bytes, lambda m: to_float16(m, KEEP_FLOAT32))

    def fallback(self) -> None:
        return None


TARGET = Float16()
