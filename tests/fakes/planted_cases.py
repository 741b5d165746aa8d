"""Cases for the planted-bug converter (tests/fakes/planted_bug.py): a chain of Dense layers with one
named "planted", where that converter adds 0.01.  Keras 3; the first divergent layer must be "planted"."""
from __future__ import annotations

from cases.api import Case


def _build_chain():
    import keras

    x = keras.Input((4,), name="x")
    y = keras.layers.Dense(8, activation="relu", name="first")(x)
    y = keras.layers.Dense(6, activation="tanh", name="planted")(y)
    y = keras.layers.Dense(5, activation="relu", name="after")(y)
    return keras.Model(x, keras.layers.Dense(2, activation="sigmoid", name="head")(y))


PLANTED_CHAIN = Case("planted_chain", "planted", _build_chain, description="Dense chain; the bug is planted after 'planted'")
