"""Preprocessing layers that compute something at inference: Normalization, Rescaling, Resizing,
CenterCrop, CategoryEncoding, Discretization, Hashing, IntegerLookup, StringLookup, HashedCrossing,
TextVectorization, Pipeline, MelSpectrogram, STFTSpectrogram, AutoContrast and
ContrastLimitedAdaptiveHistogramEqualization.

Images are small (12x10 or 8x8, 3 channels, values 0..255).  The image layers that are identities at
inference (Equalization, Solarization and every random augmentation) are in ``augmentation.py``.

Hashing, HashedCrossing, IntegerLookup, StringLookup and TextVectorization run TensorFlow ops inside
the layer whatever the Keras backend (their docstrings: "cannot be used as part of the compiled
computation graph of a model with any backend other than TensorFlow"), so their cases carry
``TF_ONLY_TAG``.  The string cases feed numpy object arrays through their own ``inputs``.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from cases.api import TF_ONLY_TAG
from cases.layers import integers, layer_case, model_case, normal, uniform

FAMILY = "preprocessing"
TF_ONLY = (TF_ONLY_TAG,)
IMAGE = (12, 10, 3)


def _image(shape=IMAGE):
    return partial(uniform, shape, 0.0, 255.0)


# ---------------------------------------------------------------- Normalization


def _build_normalization_adapted(shape: tuple):
    import keras

    rng = np.random.default_rng(1234)
    # per-feature means 0..8 and standard deviations 0.5..4: the adapted statistics really matter
    sample = (rng.standard_normal((256, *shape)) * np.linspace(0.5, 4.0, shape[-1])
              + np.linspace(0.0, 8.0, shape[-1])).astype("float32")
    layer = keras.layers.Normalization(axis=-1)
    layer.adapt(sample)
    x = keras.Input(shape, name="x")
    return keras.Model(x, layer(x))


def _features(shape, rng, batch):
    return [(rng.standard_normal((batch, *shape)) * 3.0 + 4.0).astype("float32")]


# ---------------------------------------------------------------- integer and categorical inputs


def _vocab_ints(shape, values, rng, batch, dtype="int64"):
    """Integers drawn from ``values`` (vocabulary entries and out-of-vocabulary ones)."""
    return [rng.choice(np.asarray(values), size=(batch, *shape)).astype(dtype)]


VOCAB = [3, 7, 12, 20, 41]
#: the vocabulary plus out-of-vocabulary values (0, 5, 99, 1000)
VOCAB_AND_OOV = VOCAB + [0, 5, 99, 1000]


def _build_hashed_crossing(num_bins: int, output_mode: str):
    import keras

    a = keras.Input((1,), dtype="int64", name="a")
    b = keras.Input((1,), dtype="int64", name="b")
    return keras.Model([a, b], keras.layers.HashedCrossing(num_bins, output_mode=output_mode)((a, b)))


def _two_ints(rng, batch):
    return [rng.integers(0, 50, size=(batch, 1)).astype("int64"),
            rng.integers(0, 50, size=(batch, 1)).astype("int64")]


# ---------------------------------------------------------------- strings


WORDS = ["the", "cat", "sat", "on", "mat"]


def _words(shape, rng, batch):
    pool = np.array(WORDS + ["dog", "zebra", ""], dtype=object)
    return [rng.choice(pool, size=(batch, *shape))]


def _sentences(rng, batch):
    pool = WORDS + ["dog", "Cat,", "The!", "MAT."]
    return [np.array([" ".join(rng.choice(pool, size=rng.integers(2, 7))) for _ in range(batch)], dtype=object)]


def _build_string_lookup(output_mode: str, shape: tuple):
    import keras

    x = keras.Input(shape, dtype="string", name="x")
    return keras.Model(x, keras.layers.StringLookup(vocabulary=WORDS, output_mode=output_mode)(x))


def _build_text_vectorization(kwargs: dict):
    import keras

    x = keras.Input((), dtype="string", name="x")
    return keras.Model(x, keras.layers.TextVectorization(vocabulary=WORDS, **kwargs)(x))


# ---------------------------------------------------------------- Pipeline


def _build_pipeline():
    import keras

    x = keras.Input(IMAGE, name="x")
    pipe = keras.layers.Pipeline([keras.layers.Rescaling(1 / 127.5, offset=-1.0), keras.layers.CenterCrop(8, 6)])
    return keras.Model(x, pipe(x))


# ---------------------------------------------------------------- cases


def _resize(interpolation: str, tags=(), **kwargs):
    return layer_case(f"prep_resizing_{interpolation}", FAMILY, "Resizing",
                      {"height": 7, "width": 9, "interpolation": interpolation, **kwargs}, shape=IMAGE,
                      inputs=_image(), tags=tags)


CASES = [
    # Normalization
    model_case("prep_normalization_adapted", FAMILY, partial(_build_normalization_adapted, (5,)),
               partial(_features, (5,)),
               description="Normalization(axis=-1) adapted on a seeded sample of 256 rows of 5 features"),
    model_case("prep_normalization_adapted_image", FAMILY, partial(_build_normalization_adapted, (8, 8, 3)),
               partial(_features, (8, 8, 3)),
               description="Normalization(axis=-1) adapted per channel on a seeded sample of 8x8x3 images"),
    layer_case("prep_normalization_mean_variance", FAMILY, "Normalization",
               {"mean": [120.0, 110.0, 100.0], "variance": [3600.0, 2500.0, 4900.0]}, shape=IMAGE, inputs=_image()),
    layer_case("prep_normalization_invert", FAMILY, "Normalization",
               {"mean": [1.0, -2.0, 0.5], "variance": [4.0, 0.25, 9.0], "invert": True}, shape=(4, 3)),
    # Rescaling
    layer_case("prep_rescaling", FAMILY, "Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, shape=IMAGE,
               inputs=_image()),
    layer_case("prep_rescaling_per_channel", FAMILY, "Rescaling", {"scale": [0.5, 0.25, 2.0], "offset": 3.0},
               shape=IMAGE, inputs=_image()),
    # Resizing: every interpolation Keras 3 accepts on TensorFlow.  "gaussian" and "mitchellcubic" (tf.image
    # methods) are refused by Keras itself (ValueError: not in RESIZE_INTERPOLATIONS), so no case has them.
    _resize("bilinear"),
    _resize("nearest"),
    _resize("bicubic"),
    _resize("area", TF_ONLY),       # JAX and PyTorch backends refuse "area"
    _resize("lanczos3", TF_ONLY),   # the PyTorch backend refuses lanczos (JAX runs it)
    _resize("lanczos5", TF_ONLY),
    layer_case("prep_resizing_bilinear_antialias", FAMILY, "Resizing",
               {"height": 5, "width": 4, "interpolation": "bilinear", "antialias": True}, shape=IMAGE,
               inputs=_image()),
    layer_case("prep_resizing_upscale_nearest", FAMILY, "Resizing",
               {"height": 16, "width": 15, "interpolation": "nearest"}, shape=(8, 8, 3), inputs=_image((8, 8, 3))),
    layer_case("prep_resizing_crop_to_aspect_ratio", FAMILY, "Resizing",
               {"height": 8, "width": 8, "crop_to_aspect_ratio": True}, shape=IMAGE, inputs=_image()),
    layer_case("prep_resizing_pad_to_aspect_ratio", FAMILY, "Resizing",
               {"height": 8, "width": 8, "pad_to_aspect_ratio": True, "fill_value": 7.0}, shape=IMAGE,
               inputs=_image()),
    # CenterCrop
    layer_case("prep_center_crop", FAMILY, "CenterCrop", {"height": 6, "width": 8}, shape=IMAGE, inputs=_image()),
    layer_case("prep_center_crop_upsize", FAMILY, "CenterCrop", {"height": 10, "width": 14}, shape=(8, 8, 3),
               inputs=_image((8, 8, 3)), description="CenterCrop(10, 14) of an 8x8 image: crops to the aspect "
                                                     "ratio, then resizes up"),
    # CategoryEncoding
    layer_case("prep_category_encoding_one_hot", FAMILY, "CategoryEncoding", {"num_tokens": 6, "output_mode": "one_hot"},
               shape=(1,), dtype="int32", inputs=partial(integers, (1,), 6), batch=4),
    layer_case("prep_category_encoding_multi_hot", FAMILY, "CategoryEncoding",
               {"num_tokens": 8, "output_mode": "multi_hot"}, shape=(5,), dtype="int32", inputs=partial(integers, (5,), 8)),
    layer_case("prep_category_encoding_count", FAMILY, "CategoryEncoding", {"num_tokens": 6, "output_mode": "count"},
               shape=(7,), dtype="int32", inputs=partial(integers, (7,), 6)),
    # Discretization
    layer_case("prep_discretization", FAMILY, "Discretization", {"bin_boundaries": [-1.0, -0.25, 0.0, 0.5, 1.5]},
               shape=(8,)),
    layer_case("prep_discretization_one_hot", FAMILY, "Discretization",
               {"bin_boundaries": [-0.5, 0.0, 0.5], "output_mode": "one_hot"}, shape=(1,), batch=4),
    # Hashing (integers: the layer hashes their decimal strings)
    layer_case("prep_hashing", FAMILY, "Hashing", {"num_bins": 16}, shape=(6,), dtype="int64",
               inputs=partial(integers, (6,), 1000, dtype="int64"), tags=TF_ONLY),
    layer_case("prep_hashing_salt", FAMILY, "Hashing", {"num_bins": 16, "salt": [133, 137]}, shape=(6,),
               dtype="int64", inputs=partial(integers, (6,), 1000, dtype="int64"), tags=TF_ONLY),
    layer_case("prep_hashing_mask_value", FAMILY, "Hashing", {"num_bins": 5, "mask_value": 0}, shape=(6,),
               dtype="int64", inputs=partial(integers, (6,), 4, dtype="int64"), tags=TF_ONLY),
    layer_case("prep_hashing_multi_hot", FAMILY, "Hashing", {"num_bins": 8, "output_mode": "multi_hot"}, shape=(4,),
               dtype="int64", inputs=partial(integers, (4,), 1000, dtype="int64"), tags=TF_ONLY),
    # IntegerLookup: the inputs mix vocabulary entries and out-of-vocabulary values
    layer_case("prep_integer_lookup", FAMILY, "IntegerLookup", {"vocabulary": VOCAB}, shape=(6,), dtype="int64",
               inputs=partial(_vocab_ints, (6,), VOCAB_AND_OOV), tags=TF_ONLY),
    layer_case("prep_integer_lookup_one_hot", FAMILY, "IntegerLookup", {"vocabulary": VOCAB, "output_mode": "one_hot"},
               shape=(1,), dtype="int64", inputs=partial(_vocab_ints, (1,), VOCAB_AND_OOV), tags=TF_ONLY, batch=4),
    layer_case("prep_integer_lookup_multi_hot_mask", FAMILY, "IntegerLookup",
               {"vocabulary": VOCAB, "mask_token": 0, "num_oov_indices": 2, "output_mode": "multi_hot"}, shape=(4,),
               dtype="int64", inputs=partial(_vocab_ints, (4,), VOCAB_AND_OOV), tags=TF_ONLY),
    layer_case("prep_integer_lookup_invert", FAMILY, "IntegerLookup", {"vocabulary": VOCAB, "invert": True},
               shape=(6,), dtype="int64", inputs=partial(integers, (6,), 6, dtype="int64"), tags=TF_ONLY,
               description="IntegerLookup(invert=True): indices 0..5 back to vocabulary values (0 is the OOV token)"),
    # HashedCrossing
    model_case("prep_hashed_crossing", FAMILY, partial(_build_hashed_crossing, 32, "int"), _two_ints, tags=TF_ONLY,
               description="HashedCrossing(32) of two int64 (1,) inputs"),
    model_case("prep_hashed_crossing_one_hot", FAMILY, partial(_build_hashed_crossing, 8, "one_hot"), _two_ints,
               tags=TF_ONLY, batch=4, description="HashedCrossing(8, output_mode='one_hot') of two int64 (1,) inputs"),
    # strings: tf2onnx takes a string input (a StringLookup model converts and runs in onnxruntime)
    model_case("prep_string_lookup", FAMILY, partial(_build_string_lookup, "int", (4,)), partial(_words, (4,)),
               tags=TF_ONLY, description="StringLookup(vocabulary of 5 words) on a (4,) string input, OOV included"),
    model_case("prep_string_lookup_one_hot", FAMILY, partial(_build_string_lookup, "one_hot", (1,)),
               partial(_words, (1,)), tags=TF_ONLY, batch=4,
               description="StringLookup(output_mode='one_hot') on a (1,) string input"),
    model_case("prep_text_vectorization", FAMILY, partial(_build_text_vectorization, {"output_sequence_length": 6}),
               _sentences, tags=TF_ONLY,
               description="TextVectorization (lower_and_strip_punctuation, whitespace split) to 6 token ids"),
    model_case("prep_text_vectorization_multi_hot", FAMILY,
               partial(_build_text_vectorization, {"standardize": None, "output_mode": "multi_hot"}),
               _sentences, tags=TF_ONLY,
               description="TextVectorization(standardize=None, output_mode='multi_hot'): whitespace split only"),
    # Pipeline
    model_case("prep_pipeline", FAMILY, _build_pipeline, _image(),
               description="Pipeline([Rescaling(1/127.5, offset=-1), CenterCrop(8, 6)]) on 12x10x3 images"),
    # audio
    layer_case("prep_mel_spectrogram", FAMILY, "MelSpectrogram",
               {"fft_length": 128, "sequence_stride": 64, "sampling_rate": 8000, "num_mel_bins": 16}, shape=(1024,),
               inputs=partial(normal, (1024,), scale=0.5)),
    layer_case("prep_mel_spectrogram_power", FAMILY, "MelSpectrogram",
               {"fft_length": 64, "sequence_stride": 32, "sequence_length": 48, "window": "hamming",
                "sampling_rate": 4000, "num_mel_bins": 8, "power_to_db": False}, shape=(512,),
               inputs=partial(normal, (512,), scale=0.5)),
    layer_case("prep_stft_spectrogram_log", FAMILY, "STFTSpectrogram",
               {"mode": "log", "frame_length": 64, "frame_step": 32, "fft_length": 64}, shape=(1024, 1),
               inputs=partial(normal, (1024, 1), scale=0.5)),
    layer_case("prep_stft_spectrogram_magnitude", FAMILY, "STFTSpectrogram",
               {"mode": "magnitude", "frame_length": 48, "frame_step": 16, "fft_length": 64, "padding": "same"},
               shape=(512, 2), inputs=partial(normal, (512, 2), scale=0.5)),
    layer_case("prep_stft_spectrogram_real", FAMILY, "STFTSpectrogram",
               {"mode": "real", "frame_length": 32, "frame_step": 32, "window": "hamming", "scaling": "spectrum"},
               shape=(512, 1), inputs=partial(normal, (512, 1), scale=0.5)),
    # image layers active at inference
    layer_case("prep_auto_contrast", FAMILY, "AutoContrast", {}, shape=IMAGE, inputs=partial(uniform, IMAGE, 40.0, 200.0)),
    layer_case("prep_clahe", FAMILY, "ContrastLimitedAdaptiveHistogramEqualization", {"tile_grid_size": (2, 2)},
               shape=(16, 16, 3), inputs=_image((16, 16, 3))),
    layer_case("prep_clahe_padded", FAMILY, "ContrastLimitedAdaptiveHistogramEqualization",
               {"clip_limit": 2.0, "tile_grid_size": (3, 2)}, shape=IMAGE, inputs=_image(),
               description="CLAHE with 3x2 tiles on a 12x10 image (the width is padded symmetrically to the tiles)"),
]
