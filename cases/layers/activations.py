"""Activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax) and ``Activation(name)`` for every function
of ``keras.activations``.

The function list is every public callable of ``keras.activations`` in Keras 3.15 except the helpers
``get``, ``serialize`` and ``deserialize``; ``swish`` (= ``silu``) and ``hard_swish`` (= ``hard_silu``)
are aliases of one function and counted once.  Functions whose default arguments cannot be reached
by name (``threshold`` needs two, ``gelu(approximate=True)``) are given as a ``functools.partial``.
Inputs are standard normal times 3, so every function's bends and saturations are exercised.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.layers import layer_case, model_case, normal

FAMILY = "activations"
SHAPE = (4, 6)  # 6 is even: glu halves the last axis
SCALE = 3.0

#: keras.activations in Keras 3.15, aliases once (swish -> silu, hard_swish -> hard_silu)
ACTIVATION_NAMES = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_tanh",
    "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu",
    "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus",
    "tanh", "tanh_shrink",
)
#: functions with arguments a name cannot give: (case suffix, function, keyword arguments)
ACTIVATION_PARTIALS = (
    ("threshold", "threshold", {"threshold": 0.5, "default_value": -1.0}),
    ("gelu_approximate", "gelu", {"approximate": True}),
    ("leaky_relu_slope", "leaky_relu", {"negative_slope": 0.05}),
    ("celu_alpha", "celu", {"alpha": 0.5}),
    ("squareplus_b", "squareplus", {"b": 1.0}),
    ("log_softmax_axis1", "log_softmax", {"axis": 1}),
)

_WIDE = partial(normal, SHAPE, scale=SCALE)


def _build_activation(name: str, kwargs: dict):
    import keras

    x = keras.Input(SHAPE, name="x")
    # looked up even when passed by name: a Keras without it is NOT_APPLICABLE (cases.layers.not_applicable), not a build error
    found = getattr(keras.activations, name)
    fn = partial(found, **kwargs) if kwargs else name
    return keras.Model(x, keras.layers.Activation(fn)(x))


def _build_prelu(shape: tuple, shared_axes):
    import keras

    x = keras.Input(shape, name="x")
    layer = keras.layers.PReLU(shared_axes=shared_axes)
    y = layer(x)
    (alpha,) = layer.get_weights()  # zeros at init: a plain ReLU; give every slope its own value
    layer.set_weights([np.random.default_rng(5).uniform(-0.5, 1.5, alpha.shape).astype("float32")])
    return keras.Model(x, y)


def _build_softmax_mask():
    import keras

    x = keras.Input(SHAPE, name="x")
    m = keras.Input(SHAPE, dtype="bool", name="mask")
    return keras.Model([x, m], keras.layers.Softmax()(x, mask=m))


def _softmax_mask_inputs(rng: np.random.Generator, batch: int):
    x = (rng.standard_normal((batch, *SHAPE)) * SCALE).astype("float32")
    mask = rng.random((batch, *SHAPE)) < 0.6
    mask[..., 0] = True  # every row keeps at least one position
    return [x, mask]


def _layer(name: str, cls: str, **kwargs):
    return layer_case(f"act_{name}", FAMILY, cls, kwargs, shape=SHAPE, inputs=_WIDE)


CASES = [
    _layer("relu", "ReLU"),
    _layer("relu_max_value", "ReLU", max_value=2.0),
    _layer("relu_negative_slope", "ReLU", negative_slope=0.1),
    _layer("relu_threshold", "ReLU", threshold=0.5),
    _layer("relu_all_args", "ReLU", max_value=4.0, negative_slope=0.2, threshold=0.5),
    _layer("leaky_relu", "LeakyReLU"),
    _layer("leaky_relu_slope", "LeakyReLU", negative_slope=0.05),
    model_case("act_prelu", FAMILY, partial(_build_prelu, SHAPE, None), _WIDE,
               description="PReLU on (4, 6) with random per-element alphas"),
    model_case("act_prelu_shared_axes", FAMILY, partial(_build_prelu, (3, 4, 5), [1, 2]),
               partial(normal, (3, 4, 5), scale=SCALE), description="PReLU(shared_axes=[1, 2]) with random alphas"),
    _layer("elu", "ELU"),
    _layer("elu_alpha", "ELU", alpha=0.4),
    _layer("softmax", "Softmax"),
    _layer("softmax_axis1", "Softmax", axis=1),
    model_case("act_softmax_mask", FAMILY, _build_softmax_mask, _softmax_mask_inputs,
               description="Softmax()(x, mask=m) with a boolean mask input"),
    *[model_case(f"act_fn_{name}", FAMILY, partial(_build_activation, name, {}), _WIDE,
                 description=f"Activation({name!r}) on {SHAPE}, inputs normal * {SCALE}")
      for name in ACTIVATION_NAMES],
    *[model_case(f"act_fn_{suffix}", FAMILY, partial(_build_activation, fn, kwargs), _WIDE,
                 description=f"Activation(partial(keras.activations.{fn}, {kwargs})) on {SHAPE}")
      for suffix, fn, kwargs in ACTIVATION_PARTIALS],
]
