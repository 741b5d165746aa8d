"""The layer library: at least one case for every ``keras.layers`` class an inference model can hold.

One module per group (``conv``, ``pooling``, ``normalization``, ...); each declares a ``CASES``
list, mostly through :func:`layer_case`: one layer class, the arguments that change its
conversion, and the input shape.  Declaring a case imports no TensorFlow.  The classes no case
can hold are listed with their reason in ``excluded.toml`` beside this file; ``python -m
conformance.report layers`` says which classes the cases cover (found by walking the built
models) and how each converter fares on them.

Every case here carries the ``layers`` tag: the default tier runs it at one opset, 18 or the
nearest selected (:data:`conformance.run.cells.LAYER_OPSETS`), ``--tier full`` at every selected opset.

The library is written against Keras 3.15.  On a Keras without one of the classes or activations a
case uses (Keras 2, early Keras 3), the case is NOT_APPLICABLE there, saying which name is missing
(:func:`not_applicable`, every case's ``Case.not_applicable``, asked by the worker about any build failure);
any other build failure stays CASE_ERROR.
"""
from __future__ import annotations

import re

from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cases.api import Case, Tolerance

#: the tag of every layer-library case
LAYERS_TAG = "layers"
#: the classes no case holds, with the reason (read by the coverage report)
EXCLUDED_FILE = Path(__file__).with_name("excluded.toml")


def normal(shape: Sequence[int], rng: np.random.Generator, batch: int, scale: float = 1.0) -> list[np.ndarray]:
    """One float32 input of ``(batch, *shape)``, standard normal times ``scale``."""
    return [(rng.standard_normal((batch, *shape)) * scale).astype("float32")]


def integers(shape: Sequence[int], high: int, rng: np.random.Generator, batch: int,
             dtype: str = "int32", low: int = 0) -> list[np.ndarray]:
    """One integer input of ``(batch, *shape)`` in ``[low, high)``."""
    return [rng.integers(low, high, size=(batch, *shape)).astype(dtype)]


def uniform(shape: Sequence[int], low: float, high: float, rng: np.random.Generator, batch: int) -> list[np.ndarray]:
    """One float32 input of ``(batch, *shape)``, uniform in ``[low, high)`` (images: 0..255)."""
    return [rng.uniform(low, high, size=(batch, *shape)).astype("float32")]


_WRITTEN_FOR = "(the layer library is written against Keras 3.15)"
#: an argument the installed Keras refuses by name: Keras 3 (``Unrecognized keyword arguments passed to
#: Resizing: {'antialias': True}``), Keras 2's base Layer (``('Keyword argument not understood:', 'rms_scaling')``),
#: a function or call without it (``Got an unexpected keyword argument 'negative_slope'``)
_REFUSED_ARGUMENT = re.compile(r"Unrecognized keyword arguments passed to \w+: \{'(\w+)'"
                               r"|\('Keyword argument not understood:', '(\w+)'\)"
                               r"|[Gg]ot an unexpected keyword argument '(\w+)'")
#: a value the installed Keras does not offer yet (interpolation='area' before Keras 3.4)
_REFUSED_VALUE = re.compile(r"when calling (\w+)\.call\(\).*Invalid value for argument `(\w+)`\. Expected of one "
                            r"(\([^)]*\))\. Received: \w+=(\w+)", re.S)
#: a name that keras (or one of its modules) lacks, where the AttributeError lost its obj (re-raised by a
#: layer's call on Keras 2) or the builder imported it
_MISSING_NAME = re.compile(r"module 'keras(?:\.(\w+))?' has no attribute '(\w+)'|cannot import name '(\w+)' from 'keras'")


def _keras_class(exc: BaseException) -> str | None:
    """The Keras layer whose constructor or call refused (the outermost frame whose ``self`` is a Keras
    layer), for the message."""
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and type(owner).__module__.split(".")[0] in ("keras", "tf_keras"):
            return type(owner).__name__
        tb = tb.tb_next
    return None


def not_applicable(exc: BaseException) -> str | None:
    """Why ``exc``, raised while building a case, means the case cannot exist on the installed Keras (a
    layer, activation, op, argument or argument value it lacks), or None for any other failure."""
    import keras

    version = f"Keras {keras.__version__}"
    text = str(exc)
    if isinstance(exc, AttributeError) and getattr(exc, "name", None):
        # told apart by the AttributeError's own obj and name (Python 3.10+), not by its message
        modules = {"keras.layers.": keras.layers, "keras.activations.": keras.activations,
                   "keras.ops.": getattr(keras, "ops", None), "keras.": keras}   # keras.ops itself on Keras 2
        where = next((k for k, m in modules.items() if m is not None and getattr(exc, "obj", None) is m), None)
        if where:
            return f"{version} has no {where}{exc.name} {_WRITTEN_FOR}"
    if isinstance(exc, (AttributeError, ImportError)):
        m = _MISSING_NAME.search(text)
        if m:
            return f"{version} has no keras.{m.group(1) + '.' if m.group(1) else ''}{m.group(2) or m.group(3)} {_WRITTEN_FOR}"
    if isinstance(exc, (TypeError, ValueError)):
        m = _REFUSED_VALUE.search(text)
        if m:
            return f"{version}'s {m.group(1)} takes no {m.group(2)}={m.group(4)!r}, only one of {m.group(3)} {_WRITTEN_FOR}"
        m = _REFUSED_ARGUMENT.search(text)
        if m:
            arg = next(g for g in m.groups() if g)
            named = re.search(r"\(type (\w+)\)", text)   # Keras 2 names the layer whose call refused
            where = _keras_class(exc) or (named.group(1) if named else None)
            if m.group(1):   # Keras 3: the refusing class is named; an argument it has is another failure
                import inspect

                where = re.search(r"passed to (\w+):", text).group(1)
                cls = getattr(keras.layers, where, None)
                if cls is None or arg in inspect.signature(cls.__init__).parameters:
                    return None
            owner = f"{version}'s keras.layers.{where}" if where else version
            return f"{owner} takes no argument {arg!r} {_WRITTEN_FOR}"
    return None


def _build_single(cls: str, kwargs: dict, shape: tuple, dtype: str, call: dict, head: str | None):
    import keras

    layer = getattr(keras.layers, cls)(**kwargs)
    x = keras.Input(shape, dtype=dtype, name="x")
    y = layer(x, **call) if call else layer(x)
    if head == "flatten_dense":  # a trainable head keeps a layer with no weights honest about its whole output
        y = keras.layers.Dense(4)(keras.layers.Flatten()(y))
    return keras.Model(x, y)


def layer_case(name: str, family: str, cls: str, kwargs: dict | None = None, *, shape: Sequence[int],
               dtype: str = "float32", inputs: Callable | None = None, call: dict | None = None,
               tolerance: Tolerance | None = None, tags: Sequence[str] = (), description: str = "",
               batch: int = 3, head: str | None = None) -> Case:
    """A case of one ``keras.layers.<cls>(**kwargs)`` applied to ``keras.Input(shape, dtype)``.

    ``inputs`` defaults to standard-normal floats (or integers in 0..9 for an integer dtype);
    ``call`` gives keyword arguments of the layer call; ``head="flatten_dense"`` adds
    Flatten -> Dense(4) after the layer.
    """
    kwargs = dict(kwargs or {})
    shape = tuple(shape)
    if inputs is None:
        inputs = partial(integers, shape, 10, dtype=dtype) if "int" in dtype else partial(normal, shape)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return Case(name, family, partial(_build_single, cls, kwargs, shape, dtype, dict(call or {}), head),
                inputs, batch=batch, tolerance=tolerance, tags=frozenset({LAYERS_TAG, *tags}),
                description=description or f"{cls}({args}) on input {shape} {dtype}", not_applicable=not_applicable)


def model_case(name: str, family: str, build: Callable[[], Any], inputs: Callable | None = None, *,
               tolerance: Tolerance | None = None, tags: Sequence[str] = (), description: str = "",
               batch: int = 3, custom_objects: Sequence[str] = ()) -> Case:
    """A layer-library case with its own builder (several inputs, wrappers, masks, ...)."""
    return Case(name, family, build, inputs, batch=batch, tolerance=tolerance,
                tags=frozenset({LAYERS_TAG, *tags}), description=description, not_applicable=not_applicable,
                custom_objects=tuple(custom_objects))
