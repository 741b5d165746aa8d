"""Augmentation layers: identities at inference (``training=False``).

Every random augmentation class of ``keras.layers`` (RandomFlip ... RandomGaussianBlur, RandAugment,
AugMix, CutMix, MixUp, MaxNumBoundingBoxes) plus Equalization and Solarization, which Keras applies only
in training too (checked on Keras 3.15: ``model(x, training=False)`` returns ``x`` unchanged on the
TensorFlow, JAX and PyTorch backends).  Each case is ``Input(12, 10, 3) -> layer -> Conv2D(4, 3)``:
the head keeps the model from being a bare identity, and a converter must drop (or correctly
neutralise) the layer's training branch.

RandomCrop(8, 8) is no exception in Keras 3.15: its docstring says inference center-crops/resizes,
but ``transform_images`` returns the 12x10 image unchanged when ``training`` is false (its
symbolic output shape says 8x8), so the case checks what Keras really computes.

Equalization's ``compute_output_spec`` returns its input KerasTensor itself, so the functional API
refuses it ("... is part of a cycle").  Two cases hold it: a ``keras.Sequential`` model (Keras works
around the cycle by cloning the input: the model's input is named ``xCLONE``), and a functional model
with the layer inside a ``Pipeline`` (whose own output spec is a new tensor).
"""
from __future__ import annotations

from functools import partial

from cases.api import Tolerance
from cases.layers import model_case, uniform

FAMILY = "augmentation"
IMAGE = (12, 10, 3)


def _build_augment(cls: str, kwargs: dict):
    import keras

    x = keras.Input(IMAGE, name="x")
    y = getattr(keras.layers, cls)(**kwargs)(x)
    return keras.Model(x, keras.layers.Conv2D(4, 3, name="head")(y))


def _build_sequential(cls: str, kwargs: dict):
    import keras

    return keras.Sequential([keras.Input(IMAGE, name="x"), getattr(keras.layers, cls)(**kwargs),
                             keras.layers.Conv2D(4, 3, name="head")])


def _build_equalization_in_pipeline(kwargs: dict):
    import keras

    x = keras.Input(IMAGE, name="x")
    y = keras.layers.Pipeline([keras.layers.Equalization(**kwargs)])(x)
    return keras.Model(x, keras.layers.Conv2D(4, 3, name="head")(y))


#: 0..255 pixels through a 3x3x3 convolution give outputs up to a few hundred; float32 summation in
#: another order (JAX's export) was observed off by 6.1e-5 on elements near zero, which the default
#: atol 1e-5 calls a mismatch.  1e-3 is still far below any input-ignoring answer (the impostor guard).
IMAGE_TOLERANCE = Tolerance(rtol=1e-4, atol=1e-3)


def _aug(name: str, cls: str, sequential: bool = False, **kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    build = _build_sequential if sequential else _build_augment
    kind = "Sequential" if sequential else "Input"
    return model_case(f"aug_{name}", FAMILY, partial(build, cls, dict(kwargs)), partial(uniform, IMAGE, 0.0, 255.0),
                      tolerance=IMAGE_TOLERANCE, description=f"{kind}{IMAGE} -> {cls}({args}) -> Conv2D(4, 3); the layer is an identity "
                                  f"at inference")


CASES = [
    _aug("random_flip", "RandomFlip", mode="horizontal_and_vertical", seed=1),
    _aug("random_rotation", "RandomRotation", factor=0.2, fill_mode="constant", seed=1),
    _aug("random_zoom", "RandomZoom", height_factor=0.3, width_factor=(-0.2, 0.2), seed=1),
    _aug("random_translation", "RandomTranslation", height_factor=0.2, width_factor=0.2, fill_mode="nearest", seed=1),
    _aug("random_contrast", "RandomContrast", factor=0.4, seed=1),
    _aug("random_brightness", "RandomBrightness", factor=0.3, seed=1),
    _aug("random_crop", "RandomCrop", height=8, width=8, seed=1),
    _aug("random_hue", "RandomHue", factor=0.3, seed=1),
    _aug("random_saturation", "RandomSaturation", factor=0.4, seed=1),
    _aug("random_color_jitter", "RandomColorJitter", brightness_factor=0.2, contrast_factor=0.2,
         saturation_factor=0.3, hue_factor=0.2, seed=1),
    _aug("random_color_degeneration", "RandomColorDegeneration", factor=0.5, seed=1),
    _aug("random_grayscale", "RandomGrayscale", factor=0.5, seed=1),
    _aug("random_invert", "RandomInvert", factor=0.5, seed=1),
    _aug("random_posterization", "RandomPosterization", factor=4, seed=1),
    _aug("random_sharpness", "RandomSharpness", factor=0.5, seed=1),
    _aug("random_shear", "RandomShear", x_factor=0.3, y_factor=0.2, seed=1),
    _aug("random_perspective", "RandomPerspective", factor=0.6, scale=0.5, seed=1),
    _aug("random_elastic_transform", "RandomElasticTransform", factor=0.8, scale=0.5, seed=1),
    _aug("random_erasing", "RandomErasing", factor=0.8, scale=(0.1, 0.3), seed=1),
    _aug("random_gaussian_blur", "RandomGaussianBlur", factor=0.8, kernel_size=3, sigma=0.8, seed=1),
    _aug("rand_augment", "RandAugment", num_ops=3, factor=0.5, seed=1),
    _aug("augmix", "AugMix", num_chains=2, chain_depth=2, seed=1),
    _aug("cut_mix", "CutMix", factor=1.0, seed=1),
    _aug("mix_up", "MixUp", alpha=0.4, seed=1),
    _aug("max_num_bounding_boxes", "MaxNumBoundingBoxes", max_number=4),
    _aug("equalization", "Equalization", sequential=True, bins=64),
    model_case("aug_equalization_in_pipeline", FAMILY, partial(_build_equalization_in_pipeline, {"bins": 64}),
               partial(uniform, IMAGE, 0.0, 255.0), tolerance=IMAGE_TOLERANCE,
               description="Input(12, 10, 3) -> Pipeline([Equalization(bins=64)]) -> Conv2D(4, 3); an identity at "
                           "inference, in a functional model"),
    _aug("solarization", "Solarization", addition_factor=0.5, threshold_factor=0.5, seed=1),
]
