"""An example of a user's own case module.

    pytest conformance/ --cases-module examples/my_cases.py -k "my_" --converters tf2onnx-keras --opsets 13

Two ways to declare a case: a plain ``case_<name>`` function returning a built
model (inputs are then generated from its input specs) or ``(model, inputs)``;
or a full :class:`cases.api.Case` when you want tolerances, tags or batch sizes.
Models are randomly initialised; the suite seeds every RNG before building.
"""
import numpy as np

from cases.api import Case, Tolerance


def case_my_conv1d_classifier():
    """Conv1D -> GlobalAveragePooling1D -> Dense softmax over 16-step signals."""
    import keras

    x = keras.Input((16, 3), name="signal")
    y = keras.layers.Conv1D(8, 3, activation="relu")(x)
    y = keras.layers.GlobalAveragePooling1D()(y)
    return keras.Model(x, keras.layers.Dense(4, activation="softmax")(y))


def case_my_scorer_with_inputs():
    """A two-input scorer, with the inputs I care about."""
    import keras

    a = keras.Input((6,), name="user")
    b = keras.Input((6,), name="item")
    y = keras.layers.Dot(axes=1)([keras.layers.Dense(4)(a), keras.layers.Dense(4)(b)])
    model = keras.Model([a, b], keras.layers.Activation("sigmoid")(y))
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((5, 6)).astype("float32"), rng.standard_normal((5, 6)).astype("float32")]
    return model, inputs


def _build_layernorm_mlp():
    import keras

    x = keras.Input((10,), name="x")
    y = keras.layers.LayerNormalization()(keras.layers.Dense(16, activation="tanh")(x))
    return keras.Model(x, keras.layers.Dense(3)(y))


MY_LAYERNORM_MLP = Case(
    "my_layernorm_mlp", family="user", build=_build_layernorm_mlp,
    inputs=lambda rng, batch: [rng.standard_normal((batch, 10)).astype("float32")],
    batch=4, tolerance=Tolerance(rtol=1e-4, atol=1e-5),
    description="Dense(tanh) -> LayerNormalization -> Dense",
)
