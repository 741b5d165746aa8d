"""Freezing a model's concrete function to a GraphDef ``.pb``, the "convert through TensorFlow" recipe.

    fn = tf.function(lambda *xs: model(xs))   # a dict-input model: model({name: x, ...})
    cf = fn.get_concrete_function(tf.TensorSpec(shape, dtype, name=KERAS_INPUT_NAME), ...)
    frozen = convert_variables_to_constants_v2(cf, lower_control_flow=...)
    tf.io.write_graph(frozen.graph, dir, "model.pb", as_text=False)

The placeholders are one per Keras input, flat, named like the Keras inputs (``x`` -> tensor ``x:0``;
a model that takes a dict: by key, ``token_ids:0``), and the traced function packs them the way
the model takes them (:func:`cases.model_io.call_model`);
the outputs are whatever the frozen function names them (``Identity:0``, ...),
in the Keras model's output order.  One frozen graph per case and freezing
choice is kept for the worker's life and shared by every opset.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from cases.model_io import call_model
from conformance.converters.base import ConvertContext, tensor_specs


@dataclasses.dataclass(frozen=True)
class FrozenGraph:
    path: Path
    #: graph tensor names ("x:0") in the Keras input order
    inputs: list
    #: graph tensor names ("Identity:0") in the Keras output order
    outputs: list
    #: the freezing call, for the repro line
    how: str


def freeze(model, inputs, folder, lower_control_flow: bool) -> tuple[str, list[str], list[str]]:
    """Freeze ``model``'s concrete function over ``inputs`` (``ctx.inputs``: [(name, shape, dtype)]) and write it
    as ``folder/model.pb``: (its path, its input tensor names in the Keras input order, its output tensor
    names in the Keras output order)."""
    import os

    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    names = [name for name, _, _ in inputs]
    fn = tf.function(lambda *xs: call_model(model, xs, names))  # a dict-input model gets {name: placeholder}
    concrete = fn.get_concrete_function(*tensor_specs(inputs))
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=lower_control_flow)
    tf.io.write_graph(frozen.graph, str(folder), "model.pb", as_text=False)
    ins = [t.name for t in frozen.inputs if t.dtype != tf.resource]
    outs = [t.name for t in frozen.outputs]
    return os.path.join(str(folder), "model.pb"), ins, outs


def frozen_graph(model, ctx: ConvertContext, lower_control_flow: bool) -> FrozenGraph:
    def make() -> FrozenGraph:
        folder = ctx.case_dir / f"frozen-lcf{int(lower_control_flow)}"
        folder.mkdir(parents=True, exist_ok=True)
        path, inputs, outputs = freeze(model, ctx.inputs, folder, lower_control_flow)
        how = ("convert_variables_to_constants_v2(tf.function(model).get_concrete_function(*specs), "
               f"lower_control_flow={lower_control_flow}); tf.io.write_graph(frozen.graph, DIR, 'model.pb', as_text=False)")
        return FrozenGraph(Path(path), inputs, outputs, how)

    return ctx.shared(f"frozen_graph:lower_control_flow={lower_control_flow}", make)
