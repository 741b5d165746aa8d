"""Dense heads: a softmax MLP classifier and a sigmoid binary head."""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.api import Case

FAMILY = "dense"


def _features(n: int, rng: np.random.Generator, batch: int):
    return [rng.standard_normal((batch, n)).astype("float32")]


def _build_mlp_softmax():
    import keras

    x = keras.Input((20,), name="features")
    y = keras.layers.Dense(32, activation="relu")(x)
    y = keras.layers.Dense(16, activation="relu")(y)
    return keras.Model(x, keras.layers.Dense(10, activation="softmax")(y))


def _build_binary_sigmoid():
    import keras

    x = keras.Input((12,), name="features")
    y = keras.layers.Dense(8, activation="tanh")(x)
    return keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(y))


def _build_mlp_gelu():
    import keras

    x = keras.Input((20,), name="features")
    y = keras.layers.Dense(16, activation="gelu")(x)
    return keras.Model(x, keras.layers.Dense(4, activation="softmax")(y))


def _build_sequential_mlp():
    import keras

    return keras.Sequential([
        keras.Input((20,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(4, activation="softmax"),
    ])


CASES = [
    Case("mlp_softmax", FAMILY, _build_mlp_softmax, partial(_features, 20), tags=frozenset({"seed"}),
         description="MLP classifier: Dense(32, relu) -> Dense(16, relu) -> Dense(10, softmax)"),
    Case("binary_sigmoid", FAMILY, _build_binary_sigmoid, partial(_features, 12), tags=frozenset({"seed"}),
         description="binary head: Dense(8, tanh) -> Dense(1, sigmoid)"),
    Case("mlp_gelu", FAMILY, _build_mlp_gelu, partial(_features, 20),
         description="Dense(16, gelu) -> Dense(4, softmax): exact GELU uses erf"),
    Case("sequential_mlp", FAMILY, _build_sequential_mlp, partial(_features, 20),
         description="the same MLP written as keras.Sequential"),
]
