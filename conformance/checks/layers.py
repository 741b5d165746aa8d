"""Which ``keras.layers`` classes a built model holds, and which classes ``keras.layers`` has.

Runs in the worker, on the built model: coverage counts what a case's model really contains
(wrappers, cells and the sublayers of composite layers included), never names read from code.
A class is named by ``cls.__name__``; aliases (``Conv2D`` and ``Convolution2D``) are one class.
"""
from __future__ import annotations

import inspect


def _layers_module(model):
    """``keras.layers`` of the Keras that built ``model`` (Keras 3, or tf_keras / Keras 2)."""
    top = type(model).__module__.split(".", 1)[0]
    if top == "tf_keras":
        import tf_keras

        return tf_keras.layers
    import keras

    return keras.layers


def inventory(layers_module) -> dict[str, list[str]]:
    """``{class name: [every public name of it]}`` over the Layer classes of a ``keras.layers`` module."""
    base = layers_module.Layer
    classes: dict[type, list[str]] = {}
    for name in dir(layers_module):
        obj = getattr(layers_module, name, None)
        if inspect.isclass(obj) and issubclass(obj, base):
            classes.setdefault(obj, []).append(name)
    return {cls.__name__: sorted(names) for cls, names in sorted(classes.items(), key=lambda kv: kv[0].__name__)}


def _children(layer) -> list:
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return list(getattr(layer, "layers", []) or [])
    try:
        return list(flatten(include_self=False, recursive=False))
    except TypeError:  # an old signature
        return list(flatten(include_self=False))


def model_layers(model) -> list[str]:
    """The ``keras.layers`` classes in ``model`` (recursively: wrapped layers, cells, sublayers), sorted."""
    public = {}
    layers_module = _layers_module(model)
    for names in inventory(layers_module).values():
        for n in names:
            public[getattr(layers_module, n)] = None
    found: set[str] = set()
    seen: set[int] = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if type(layer) in public and layer is not model:
            found.add(type(layer).__name__)
        stack.extend(_children(layer))
    return sorted(found)


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def layer_settings(model, keys) -> list[dict]:
    """Each distinct ``{"class": name, key: value, ...}`` over the model's layers (recursively, any class, the
    user's own too) for the config ``keys`` a layer has with a plain value: what causes' ``needs`` read."""
    keys = set(keys or ())
    if not keys:
        return []
    found: dict[str, dict] = {}
    seen: set[int] = set()
    stack = list(_children(model))
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        stack.extend(_children(layer))
        try:
            config = layer.get_config()
        except Exception:  # a layer without a config (a subclassed one): nothing to read
            continue
        picked = {k: config[k] for k in sorted(keys) if k in config and _scalar(config[k])}
        if picked:
            entry = {"class": type(layer).__name__, **picked}
            found.setdefault(repr(sorted(entry.items())), entry)
    return [found[k] for k in sorted(found)]


def keras_inventory() -> dict[str, list[str]]:
    """The inventory of the installed ``keras.layers`` (Keras 3, or Keras 2 on old stacks)."""
    import keras

    return inventory(keras.layers)
