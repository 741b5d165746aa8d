"""Vision models from the seeds: EfficientNetB0 through tensorflow_hub, and ResNet50 classifiers.

All offline, all with random initial weights (``weights=None``): nothing is ever
downloaded.  These cases are heavy, so they carry the ``slow`` tag: the default
tier runs them only when ``-m`` asks for them (``-m slow``), at one opset;
``--tier full`` at every selected opset.

- ``hub_efficientnetb0_binary``: the seed's EfficientNet B0 classifier.  A local
  hub module (tf_keras EfficientNetB0 feature vector, pooling avg, saved with
  ``tf.saved_model.save``) is built once into the cache directory
  (``$CONFORMANCE_CACHE_DIR``, default ``reports/cache/``), keyed by the
  TensorFlow / tf_keras / tensorflow_hub versions, and loaded with
  ``hub.KerasLayer(path, trainable=False)`` inside a tf_keras Sequential with
  Dense(1, sigmoid), built for [None, 224, 224, 3].  Inputs: the seed's
  all-zeros and all-ones images plus random images in 0..255.
- ``resnet50_imagenet`` and ``resnet50_fish42``: keras.applications.ResNet50 with
  1000 classes, and the fish classifier's shape (ResNet50 base, pooling avg,
  Dense(42, softmax)).  Inputs go through the seed's preprocessing from image
  files: the case writes real BMP and PNG files, loads them with
  ``keras.utils.load_img(path, target_size=(224, 224))`` (needs pillow),
  ``img_to_array``, stacks them into a batch and applies
  ``resnet50.preprocess_input``.  Tagged ``classifier``: the cell also records
  top-5 class agreement per image.

Tolerances: the float32 defaults (rtol 1e-4, atol 1e-5).  Measured on the modern
stack at opset 13 (tf2onnx 1.17, keras-export, onnxruntime 1.32), the worst errors
were 2.4e-7 abs / 9.0e-7 rel (EfficientNet, outputs 0.27..0.5), 4.2e-7 / 7.9e-6
(ResNet50, 1000 classes) and 3.6e-7 / 1.5e-5 (fish), so there was no reason to
loosen them.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from cases.api import TF_KERAS, Case, import_tf_keras
from cases.cache import cached_dir

FAMILY = "vision"
SIZE = 224
#: the source images are not square and not 224x224, so loading really resizes
SOURCE_HW = (240, 320)
HEAVY = frozenset({"slow"})

# ---------------------------------------------------------------- EfficientNetB0 through tensorflow_hub

HUB_DISTS = ("tensorflow", "tf-keras", "tensorflow-hub")


def _save_efficientnet_module(path: Path) -> None:
    import tensorflow as tf

    tf_keras = import_tf_keras()
    tf_keras.utils.set_random_seed(MODULE_SEED)  # the same weights whoever builds the cache, whenever
    features = tf_keras.applications.EfficientNetB0(include_top=False, weights=None, pooling="avg",
                                                     input_shape=(SIZE, SIZE, 3))
    tf.saved_model.save(features, str(path))


def efficientnet_hub_module() -> Path:
    """The local hub module, built once per package versions."""
    # bump the "v2" when the module's code changes: the versions alone would keep a stale cache
    return cached_dir("hub-efficientnetb0-featurevector-v2", HUB_DISTS, _save_efficientnet_module)


#: Random-weight EfficientNetB0 features are tiny (measured: |feature| <= 3e-5 on random images, exactly 0
#: on the zeros image), so with a default-initialised head every sigmoid output is 0.5 +- 5e-6 and any
#: conversion, even one dropping the backbone, would pass.  Drawing the head's weights this large gives logits of
#: order 1 on random images, as trained features would, so the output really depends on the backbone.
HEAD_STDDEV = 2500.0
MODULE_SEED, HEAD_SEED = 0, 1


def _build_hub_efficientnet():
    import tensorflow_hub as hub

    tf_keras = import_tf_keras()
    # seeded: the global random state differs when this process built the module above or found it cached
    head = tf_keras.initializers.RandomNormal(stddev=HEAD_STDDEV, seed=HEAD_SEED)
    model = tf_keras.Sequential([
        hub.KerasLayer(str(efficientnet_hub_module()), trainable=False),
        tf_keras.layers.Dense(1, activation="sigmoid", kernel_initializer=head),
    ])
    model.build([None, SIZE, SIZE, 3])
    return model


def _seed_images(rng: np.random.Generator, batch: int):
    """Image i: random 0..255 for i = 0 and i >= 3, all zeros for i = 1, all ones for i = 2.

    The seed fed only zeros and ones; with random weights both give nearly the
    same output, so random images make the comparison mean something.
    """
    out = np.empty((batch, SIZE, SIZE, 3), dtype="float32")
    for i in range(batch):
        if i == 1:
            out[i] = 0.0
        elif i == 2:
            out[i] = 1.0
        else:
            out[i] = rng.integers(0, 256, size=(SIZE, SIZE, 3)).astype("float32")
    return [out]


# ---------------------------------------------------------------- ResNet50 classifiers from image files


def _synthetic_image(rng: np.random.Generator) -> np.ndarray:
    """A uint8 RGB picture: smooth gradients, a few solid discs and mild noise."""
    h, w = SOURCE_HW
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    img = np.empty((h, w, 3), dtype="float32")
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
        img[..., c] = 127.5 + 100 * np.sin(2 * np.pi * (fx * xx / w + fy * yy / h) + phase)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(15, 60)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, size=3)
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype("uint8")


def write_images(folder: Path, rng: np.random.Generator, count: int) -> list[Path]:
    """``count`` real image files, alternately BMP and PNG."""
    from PIL import Image

    paths = []
    for i in range(count):
        path = folder / f"image{i}.{'bmp' if i % 2 == 0 else 'png'}"
        Image.fromarray(_synthetic_image(rng), mode="RGB").save(path)
        paths.append(path)
    return paths


def load_batch(paths) -> np.ndarray:
    """The seed's preprocessing: load_img(target_size=224x224) -> img_to_array -> batch -> preprocess_input."""
    import keras

    arrays = [keras.utils.img_to_array(keras.utils.load_img(str(p), target_size=(SIZE, SIZE))) for p in paths]
    batch = np.stack(arrays).astype("float32")
    return keras.applications.resnet50.preprocess_input(batch)


def _image_file_inputs(rng: np.random.Generator, batch: int):
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise RuntimeError("reading image files with keras.utils.load_img needs pillow: pip install pillow") from None
    folder = Path(tempfile.mkdtemp(prefix="conformance-images-"))
    try:
        return [load_batch(write_images(folder, rng, batch))]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _image_input():
    """Named, so the input name does not depend on how many Keras tensors the worker made before."""
    import keras

    return keras.Input((SIZE, SIZE, 3), name="image")


def _build_resnet50_imagenet():
    import keras

    return keras.applications.ResNet50(weights=None, classes=1000, input_tensor=_image_input())


def _build_resnet50_fish():
    import keras

    base = keras.applications.ResNet50(include_top=False, weights=None, pooling="avg", input_tensor=_image_input())
    return keras.Model(base.input, keras.layers.Dense(42, activation="softmax", name="fish")(base.output))


# ---------------------------------------------------------------- the cases

CASES = [
    Case("hub_efficientnetb0_binary", FAMILY, _build_hub_efficientnet, _seed_images, batch=4, keras=TF_KERAS,
         tags=HEAVY | {"seed", "hub"},
         description="tf_keras Sequential([hub.KerasLayer(local EfficientNetB0 feature vector, trainable=False), "
                     "Dense(1, sigmoid)]), random weights; images: zeros, ones and random 0..255"),
    Case("resnet50_imagenet", FAMILY, _build_resnet50_imagenet, _image_file_inputs, batch=3,
         tags=HEAVY | {"seed", "classifier"},
         description="keras.applications.ResNet50(weights=None), 1000-class softmax; inputs are BMP/PNG files "
                     "through load_img(224x224) -> img_to_array -> preprocess_input"),
    Case("resnet50_fish42", FAMILY, _build_resnet50_fish, _image_file_inputs, batch=3,
         tags=HEAVY | {"seed", "classifier"},
         description="the fish classifier: ResNet50(include_top=False, pooling='avg', weights=None) + "
                     "Dense(42, softmax); inputs are BMP/PNG files through load_img(224x224) -> img_to_array -> "
                     "preprocess_input"),
]
