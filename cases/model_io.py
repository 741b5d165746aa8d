"""How a model takes its inputs: their names, and the call that gives it the suite's arrays.

The suite keeps a model's inputs as a flat list of arrays in the order of ``model.inputs``, with
one name each (:func:`input_specs`).  A model may take them as one tensor, a list, or a dict keyed
by input name (KerasHub backbones take ``{"token_ids", "padding_mask", "segment_ids"}``), nested
or not: :func:`call_model` (and :func:`model_input`, the structure alone) packs the flat arrays
the way the model was built, which is what Keras 3's and tf_keras's functional models say in
``model.input`` (the structure given to the constructor; ``model.inputs`` is its flat list).

Every place that calls a Keras model with the suite's arrays goes through :func:`call_model`:
the reference outputs, the frozen-GraphDef function, the first-divergent-layer probe.  The
converters build their input signatures with :func:`model_input` over ``tf.TensorSpec`` leaves.

Duck-typed: nothing here imports Keras or TensorFlow.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Sequence


def input_structure(model) -> Any:
    """``model.input`` of a functional model (a symbolic tensor, or a list/tuple/dict of them, nested
    or not); None when the model does not say (Sequential, subclassed models, a SavedModel)."""
    try:
        return model.input
    except Exception:  # Sequential and subclassed models raise AttributeError ("never been called")
        return None


def _is_container(x) -> bool:
    return isinstance(x, (Mapping, list, tuple))


def is_structured(model) -> bool:
    """True when the model takes its inputs as a dict or a nested structure, not as one tensor or a
    flat list (the two ways the suite called every model before)."""
    struct = input_structure(model)
    if isinstance(struct, Mapping):
        return True
    if isinstance(struct, (list, tuple)):
        return any(_is_container(v) for v in struct)
    return False


def _leaves(struct, path=()):
    if isinstance(struct, Mapping):
        for k in struct:
            yield from _leaves(struct[k], path + (k,))
    elif isinstance(struct, (list, tuple)):
        for i, v in enumerate(struct):
            yield from _leaves(v, path + (i,))
    else:
        yield path, struct


def _pack(struct, leaf: Callable[[Any], Any]):
    if isinstance(struct, Mapping):
        return {k: _pack(v, leaf) for k, v in struct.items()}
    if isinstance(struct, list):
        return [_pack(v, leaf) for v in struct]
    if isinstance(struct, tuple):
        return tuple(_pack(v, leaf) for v in struct)
    return leaf(struct)


def _tensor_name(t) -> str:
    return str(getattr(t, "name", "") or "").split(":")[0]


def _symbolic_inputs(model):
    """``model.inputs``, or None for a model that has none (a subclassed model)."""
    try:
        return model.inputs
    except AttributeError:
        return None


def build_shapes(model) -> list[tuple] | None:
    """A subclassed model's input shapes, from the shapes it was built with (Keras 3's ``get_build_config``),
    batch free; None for a model with symbolic inputs or one that does not say."""
    if _symbolic_inputs(model) is not None:
        return None
    try:
        shape = (model.get_build_config() or {}).get("input_shape")
    except Exception:
        return None
    if not isinstance(shape, (list, tuple)) or not shape:
        return None
    shapes = [shape] if all(d is None or isinstance(d, int) for d in shape) else list(shape)
    if not all(isinstance(s, (list, tuple)) and s and all(d is None or isinstance(d, int) for d in s) for s in shapes):
        return None
    return [(None, *s[1:]) for s in shapes]


def input_names(model) -> list[str]:
    """One name per ``model.inputs`` entry, in that order: the dict key a structured model takes the
    input under (KerasHub: ``token_ids``), else the symbolic tensor's name (the ``keras.Input`` name).
    Tensor names are kept when the keys would not name every input uniquely.  A subclassed model (no
    symbolic inputs) has the names TensorFlow gives its positional arguments: ``args_0``, ``args_1``..."""
    shapes = build_shapes(model)
    if shapes is not None:
        return [f"args_{i}" for i in range(len(shapes))]
    tensors = list(getattr(model, "inputs", None) or [])
    names = [_tensor_name(t) for t in tensors]
    struct = input_structure(model)
    if not _is_container(struct):
        return names
    keyed = list(names)
    for path, leaf in _leaves(struct):
        i = next((j for j, t in enumerate(tensors) if t is leaf), None)
        if i is not None and path and isinstance(path[-1], str):
            keyed[i] = path[-1]
    return keyed if len(set(keyed)) == len(keyed) else names


def input_aliases(model) -> dict[str, list[str]]:
    """Input name (:func:`input_names`) -> the other name the same input goes by: for a model that takes a
    dict, the name of the ``keras.Input`` under a key that differs from it (a converter may name the ONNX
    input either way).  Empty for every other model."""
    try:
        tensors = list(model.inputs)
        names = input_names(model)
    except Exception:
        return {}
    return {n: [_tensor_name(t)] for n, t in zip(names, tensors) if _tensor_name(t) and _tensor_name(t) != n}


def _dims(shape) -> tuple:
    if hasattr(shape, "as_list"):
        shape = shape.as_list() if shape.rank is not None else []
    return tuple(None if d is None else int(d) for d in shape)


def _dtype_name(dt) -> str:
    return getattr(dt, "name", None) or str(dt)


def input_specs(model) -> list[tuple[str, tuple, str]]:
    """[(name, shape with None for unknown dimensions, dtype name)] in the order of ``model.inputs``; for a
    subclassed model, its build shapes (float32: the build config does not say the dtype)."""
    shapes = build_shapes(model)
    if shapes is not None:
        return [(name, tuple(shape), "float32") for name, shape in zip(input_names(model), shapes)]
    return [(name, _dims(t.shape), _dtype_name(t.dtype)) for name, t in zip(input_names(model), model.inputs)]


def declared_batch(specs) -> int | None:
    """The batch size a model's inputs declare (``keras.Input(batch_size=1)``; specs as :func:`input_specs`
    gives them), or None when it is free."""
    fixed = {int(shape[0]) for _n, shape, _d in specs if shape and shape[0] is not None}
    return min(fixed) if fixed else None


def model_input(model, values: Sequence | Mapping, names: Sequence[str] | None = None):
    """``values`` (one per model input: arrays, tensors or ``tf.TensorSpec``) packed the way the model
    takes them.

    ``values``: a sequence in the order of ``names`` (default: :func:`input_names`, the order of
    ``model.inputs``), or a mapping name -> value.  A model that takes one tensor gets the value
    itself, a flat list model the list (both as before dict inputs were known); a model built on a
    dict or a nested structure gets that structure, each leaf matched to its value by name (by
    position in ``model.inputs`` where the names do not tell)."""
    own = input_names(model) if getattr(model, "inputs", None) is not None else []
    if isinstance(values, Mapping):
        by_name = dict(values)
        order = own if own and all(n in by_name for n in own) else list(by_name)
        flat = [by_name[n] for n in order]
    else:
        flat = list(values)
        given = list(names) if names is not None else own
        by_name = dict(zip(given, flat)) if len(given) == len(flat) and len(set(given)) == len(given) else {}
    if not is_structured(model):
        if by_name and own and all(n in by_name for n in own):
            flat = [by_name[n] for n in own]
        return flat[0] if len(flat) == 1 else list(flat)
    tensors = list(model.inputs)

    def leaf(t):
        i = next((j for j, x in enumerate(tensors) if x is t), None)
        if i is None:
            raise ValueError(f"input {_tensor_name(t)!r} of the model's structure is not among model.inputs")
        if own[i] in by_name:
            return by_name[own[i]]
        if _tensor_name(t) in by_name:
            return by_name[_tensor_name(t)]
        return flat[i]

    return _pack(input_structure(model), leaf)


def call_model(model, arrays: Sequence | Mapping, names: Sequence[str] | None = None, training: bool = False):
    """``model(x, training=training)`` with ``arrays`` packed as the model takes them (:func:`model_input`):
    a single tensor, a list, or a dict keyed by input name.  ``arrays`` are in the order of ``names``
    (default: the model's own input order, :func:`input_specs`), or a mapping name -> array."""
    return model(model_input(model, arrays, names), training=training)


def keras_outputs(model, arrays, names=None) -> list:
    """The model's outputs on ``arrays`` (in the order of ``names``, default the model's input specs), as
    a flat list of NumPy arrays in the model's output order; the model gets the arrays the way it takes
    them (one tensor, a list, a dict by input name: :func:`call_model`)."""
    y = call_model(model, arrays, names)
    if isinstance(y, dict):
        y = [y[k] for k in model.output_names] if all(k in y for k in getattr(model, "output_names", [])) \
            else [y[k] for k in sorted(y)]
    elif not isinstance(y, (list, tuple)):
        y = [y]
    return [_numpy(t) for t in y]


def _numpy(t):
    import numpy as np

    if hasattr(t, "detach"):  # a torch tensor (Keras on the PyTorch backend) that may require grad
        t = t.detach().cpu()
    return np.asarray(t)
