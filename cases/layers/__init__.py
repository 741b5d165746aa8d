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
(:func:`needs_keras_names`); any other build failure stays CASE_ERROR.
"""
from __future__ import annotations

import re

from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cases.api import Case, CaseNotApplicable, Tolerance

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


def needs_keras_names(build: Callable[[], Any]) -> Callable[[], Any]:
    """``build`` whose lookup of a name that ``keras.layers``, ``keras.activations`` or ``keras.ops``
    does not have on the installed Keras raises :class:`CaseNotApplicable` (the cell is NOT_APPLICABLE:
    the case cannot exist there) instead of CASE_ERROR.  Told apart by the AttributeError's own
    ``obj`` and ``name`` (Python 3.10+), not by its message."""
    def build_where_it_exists():
        try:
            return build()
        except ValueError as exc:
            # an argument the installed Keras's layer does not take yet (Resizing(antialias=...) before
            # Keras 3.9): Keras's base Layer refuses it by name; checked against the constructor's signature
            import inspect

            import keras

            m = re.match(r"Unrecognized keyword arguments passed to (\w+): \{'(\w+)'", str(exc))
            cls = getattr(keras.layers, m.group(1), None) if m else None
            if cls is not None and m.group(2) not in inspect.signature(cls.__init__).parameters:
                raise CaseNotApplicable(f"Keras {keras.__version__}'s keras.layers.{m.group(1)} takes no argument "
                                        f"{m.group(2)!r} (the layer library is written against Keras 3.15)") from exc
            raise
        except AttributeError as exc:
            import keras

            modules = {"layers": keras.layers, "activations": keras.activations, "ops": getattr(keras, "ops", None)}
            where = next((k for k, m in modules.items() if m is not None and getattr(exc, "obj", None) is m), None)
            if where and getattr(exc, "name", None):
                raise CaseNotApplicable(f"Keras {keras.__version__} has no keras.{where}.{exc.name} "
                                        "(the layer library is written against Keras 3.15)") from exc
            raise

    return build_where_it_exists


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
    return Case(name, family, needs_keras_names(partial(_build_single, cls, kwargs, shape, dtype, dict(call or {}), head)),
                inputs, batch=batch, tolerance=tolerance, tags=frozenset({LAYERS_TAG, *tags}),
                description=description or f"{cls}({args}) on input {shape} {dtype}")


def model_case(name: str, family: str, build: Callable[[], Any], inputs: Callable | None = None, *,
               tolerance: Tolerance | None = None, tags: Sequence[str] = (), description: str = "",
               batch: int = 3) -> Case:
    """A layer-library case with its own builder (several inputs, wrappers, masks, ...)."""
    return Case(name, family, needs_keras_names(build), inputs, batch=batch, tolerance=tolerance,
                tags=frozenset({LAYERS_TAG, *tags}), description=description)
