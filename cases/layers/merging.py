"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.layers import model_case

FAMILY = "merging"


def _two(shape_a, shape_b, rng: np.random.Generator, batch: int):
    return [rng.standard_normal((batch, *shape_a)).astype("float32"),
            rng.standard_normal((batch, *shape_b)).astype("float32")]


def _three(shape, rng: np.random.Generator, batch: int):
    return [rng.standard_normal((batch, *shape)).astype("float32") for _ in range(3)]


def _build_merge(cls: str, n: int, shape: tuple, kwargs: dict):
    import keras

    xs = [keras.Input(shape, name=f"x{i}") for i in range(n)]
    return keras.Model(xs, getattr(keras.layers, cls)(**kwargs)(xs))


def _build_dot(shape_a: tuple, shape_b: tuple, axes, normalize: bool):
    import keras

    a, b = keras.Input(shape_a, name="a"), keras.Input(shape_b, name="b")
    return keras.Model([a, b], keras.layers.Dot(axes=axes, normalize=normalize)([a, b]))


def _build_concat_broadcast_free(axis: int):
    import keras

    a, b = keras.Input((4, 3), name="a"), keras.Input((4, 5), name="b")
    return keras.Model([a, b], keras.layers.Concatenate(axis=axis)([a, b]))


def _merge(cls: str, n: int = 2, shape=(4, 3), **kwargs):
    suffix = "" if n == 2 else f"_{n}inputs"
    inputs = partial(_two, shape, shape) if n == 2 else partial(_three, shape)
    return model_case(f"merge_{cls.lower()}{suffix}", FAMILY, partial(_build_merge, cls, n, tuple(shape), kwargs),
                      inputs, description=f"{cls}() over {n} inputs of shape {tuple(shape)}")


CASES = [
    _merge("Add"),
    _merge("Add", 3),
    _merge("Subtract"),
    _merge("Multiply"),
    _merge("Average", 3),
    _merge("Maximum"),
    _merge("Minimum"),
    _merge("Concatenate", axis=1),
    model_case("merge_concatenate_last_axis", FAMILY, partial(_build_concat_broadcast_free, -1),
               partial(_two, (4, 3), (4, 5)), description="Concatenate(axis=-1) of (4, 3) and (4, 5)"),
    model_case("merge_dot_vectors", FAMILY, partial(_build_dot, (6,), (6,), 1, False), partial(_two, (6,), (6,)),
               description="Dot(axes=1) of two vectors"),
    model_case("merge_dot_normalize", FAMILY, partial(_build_dot, (6,), (6,), 1, True), partial(_two, (6,), (6,)),
               description="Dot(axes=1, normalize=True): cosine similarity"),
    model_case("merge_dot_matrices", FAMILY, partial(_build_dot, (4, 3), (5, 3), (2, 2), False),
               partial(_two, (4, 3), (5, 3)), description="Dot(axes=(2, 2)) of (4, 3) and (5, 3): a batched matmul"),
]
