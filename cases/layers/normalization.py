"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, RMSNormalization, SpectralNormalization.

Every layer with weights gets random, seeded values for them after building (a BatchNormalization
with its initial statistics is nearly an identity and would prove little).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.layers import model_case, normal

FAMILY = "normalization"
_WEIGHT_SEED = 1234


def _randomize(layer, seed: int = _WEIGHT_SEED) -> None:
    """Give every weight of ``layer`` a seeded random value: variances positive, the rest around their init."""
    rng = np.random.default_rng(seed)
    values = []
    for w in layer.weights:
        name = (getattr(w, "path", None) or w.name).rsplit("/", 1)[-1]  # Keras 2 variables have no .path
        shape = tuple(w.shape)
        if "variance" in name:
            values.append(rng.uniform(0.3, 2.5, shape))
        elif name in ("gamma", "scale"):
            values.append(rng.uniform(0.5, 1.8, shape) * rng.choice([-1.0, 1.0], shape))
        else:  # moving_mean, beta
            values.append(rng.normal(0.0, 0.7, shape))
    layer.set_weights([v.astype("float32") for v in values])


def _build_norm(cls: str, kwargs: dict, shape: tuple, head: bool):
    import keras

    x = keras.Input(shape, name="x")
    layer = getattr(keras.layers, cls)(**kwargs)
    y = layer(x)
    if layer.weights:
        _randomize(layer)
    if head:  # a Dense head: the normalized values must be right where they matter downstream
        y = keras.layers.Dense(4)(keras.layers.Flatten()(y))
    return keras.Model(x, y)


def _norm(name: str, cls: str, shape, *, input_scale: float = 1.0, head: bool = False, description: str = "", **kwargs):
    shape = tuple(shape)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return model_case(f"norm_{name}", FAMILY, partial(_build_norm, cls, kwargs, shape, head),
                      partial(normal, shape, scale=input_scale),
                      description=description or f"{cls}({args}) on {shape}{' -> Flatten -> Dense(4)' if head else ''}"
                      + (", weights randomised" if cls not in ("UnitNormalization",) else ""))


def _shifted(shape, rng: np.random.Generator, batch: int):
    """Inputs whose per-channel mean and spread differ from 0 and 1, so the statistics matter."""
    return [(rng.standard_normal((batch, *shape)) * 2.0 + 0.5).astype("float32")]


def _build_bn_conv(axis: int):
    """Conv2D -> BatchNormalization(axis) -> ReLU: the usual place of a BN, folded by many converters."""
    import keras

    if axis == -1:
        x = keras.Input((6, 6, 2), name="x")
        y = keras.layers.Conv2D(4, 3, padding="same")(x)
    else:  # channels-first feature maps, only as a tensor layout: no channels_first convolution on CPU
        x = keras.Input((4, 6, 6), name="x")
        y = keras.layers.Dense(6)(x)
    bn = keras.layers.BatchNormalization(axis=axis)
    y = bn(y)
    _randomize(bn)
    return keras.Model(x, keras.layers.ReLU()(y))


def _build_spectral(kind: str):
    import keras

    if kind == "dense":
        x = keras.Input((6,), name="x")
        sn = keras.layers.SpectralNormalization(keras.layers.Dense(5), power_iterations=2)
        probe = np.zeros((1, 6), "float32")
    else:
        x = keras.Input((6, 6, 2), name="x")
        sn = keras.layers.SpectralNormalization(keras.layers.Conv2D(3, 3, padding="same"))
        probe = np.zeros((1, 6, 6, 2), "float32")
    y = sn(x)
    # one training-mode call stores the spectrally normalized kernel; inference then uses that stored kernel
    sn(probe, training=True)
    return keras.Model(x, y)


_S4 = (5, 5, 4)

CASES = [
    _norm("batchnorm_2d", "BatchNormalization", (6,), description="BatchNormalization on (6,), random moving stats/gamma/beta"),
    model_case("norm_batchnorm_4d_last", FAMILY, partial(_build_bn_conv, -1), partial(_shifted, (6, 6, 2)),
               description="Conv2D -> BatchNormalization(axis=-1) -> ReLU, random moving stats/gamma/beta"),
    model_case("norm_batchnorm_4d_axis1", FAMILY, partial(_build_bn_conv, 1), partial(_shifted, (4, 6, 6)),
               description="Dense on (4, 6, 6) -> BatchNormalization(axis=1) -> ReLU, random moving stats/gamma/beta"),
    _norm("batchnorm_no_center_scale", "BatchNormalization", _S4, center=False, scale=False, epsilon=0.01),
    _norm("layernorm", "LayerNormalization", (4, 8)),
    _norm("layernorm_multi_axis", "LayerNormalization", (4, 8), axis=[1, 2]),
    _norm("layernorm_no_center_scale", "LayerNormalization", (4, 8), center=False, scale=False),
    _norm("layernorm_rms_scaling", "LayerNormalization", (4, 8), rms_scaling=True),
    _norm("groupnorm", "GroupNormalization", (5, 5, 6), groups=3),
    _norm("groupnorm_instance", "GroupNormalization", (6, 4), groups=-1),
    _norm("unitnorm", "UnitNormalization", (6,)),
    _norm("unitnorm_axes", "UnitNormalization", (4, 5), axis=[1, 2]),
    _norm("rmsnorm", "RMSNormalization", (4, 8)),
    model_case("norm_spectral_dense", FAMILY, partial(_build_spectral, "dense"), partial(normal, (6,)),
               description="SpectralNormalization(Dense(5), power_iterations=2), kernel normalized by one training call"),
    model_case("norm_spectral_conv2d", FAMILY, partial(_build_spectral, "conv"), partial(normal, (6, 6, 2)),
               description="SpectralNormalization(Conv2D(3, 3, same)), kernel normalized by one training call"),
]
