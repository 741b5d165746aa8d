"""The models tier: whole architectures, offline, from their constructors (docs/models.md).

- :mod:`cases.models.applications`: one case per ``keras.applications`` family (the smallest variant,
  ``weights=None``, at the smallest input size it accepts, ``classifier_activation=None``: logits);
- :mod:`cases.models.kerashub`: KerasHub backbones at tiny configurations (2 layers, hidden size 32),
  built from their constructors: no preset, no vocabulary, no weights are downloaded.

Every case here carries the ``models`` tag (:data:`MODELS_TAG`): the tier runs only when ``-m`` names it
(``pytest conformance/ -m models``), in the default tier at one opset (13 or the nearest selected),
with ``--tier full`` at every selected opset (:func:`conformance.run.cells.tiered`).  Classifiers also
carry ``classifier`` (top-1 agreement and top-5 facts), backbones ``backbone`` (cosine similarity of
the hidden states): :mod:`conformance.checks.agreement`.

The references must be able to fail, by construction: random initial weights are re-drawn where
they would make an output that any conversion matches (see :func:`calibrate_batch_norm`,
:func:`scale_layer_scales`, :func:`scale_head`), and ``tests/test_models_reference.py`` checks that
each case's reference differs across inputs.

Declaring a case imports neither TensorFlow nor KerasHub: keras_hub is imported by the builders, and a
stack without it (no ``models`` extra, Keras 2, Python 3.10) makes those cells NOT_APPLICABLE with one
line saying so (:func:`import_keras_hub`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from cases.api import Case, CaseNotApplicable, Tolerance

#: the tag of every case of the tier (conformance.run.cells.MODELS_TAG)
MODELS_TAG = "models"
#: a (batch, classes) logits output: top-1 agreement (conformance.checks.agreement)
CLASSIFIER_TAG = "classifier"
#: hidden-state outputs: cosine similarity (conformance.checks.agreement)
BACKBONE_TAG = "backbone"
#: the main batch; the pipeline's second batch is 1
BATCH = 3
#: the sequence length of the main batch and of the second (batch 1) one, for a model whose sequence axis
#: is dynamic: each cell runs two batch sizes and two sequence lengths (the shorter batch, the shorter text)
SEQUENCE_LENGTHS = (12, 7)
#: seeds of the re-drawn weights and of the calibration batch (not the case's input seeds 0 and 1)
WEIGHTS_SEED, CALIBRATION_SEED = 1234, 4321
INSTALL_HINT = "pip install '.[modern,models]'"


def import_keras_hub():
    """``keras_hub``, or :class:`CaseNotApplicable` saying why it cannot be imported here (one line)."""
    try:
        import keras_hub
    except ImportError as exc:
        raise CaseNotApplicable(f"keras_hub is not installed ({INSTALL_HINT}): "
                                f"{type(exc).__name__}: {exc}".splitlines()[0][:300]) from None
    except Exception as exc:  # installed but broken here (Keras 2, a TensorFlow it was not built for)
        raise CaseNotApplicable(f"keras_hub cannot be imported on this stack: {type(exc).__name__}: "
                                f"{exc}".splitlines()[0][:300]) from None
    return keras_hub


def sequence_length(batch: int, lengths: tuple[int, int] = SEQUENCE_LENGTHS) -> int:
    """``lengths`` (default :data:`SEQUENCE_LENGTHS`): the first for the main batch, the second for the
    second batch."""
    return lengths[0] if batch >= 2 else lengths[1]


# ---------------------------------------------------------------- weights that make the reference able to fail

def _layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=True))


def _numpy(x) -> np.ndarray:
    """A tensor or variable as float64 NumPy: Keras 3 on any backend (``keras.ops``), Keras 2 (``numpy()``)."""
    import keras

    ops = getattr(keras, "ops", None)
    if ops is not None and hasattr(ops, "convert_to_numpy"):
        return np.asarray(ops.convert_to_numpy(x), dtype="float64")
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype="float64")


def calibrate_batch_norm(model, images, seed: int = WEIGHTS_SEED) -> int:
    """Make every BatchNormalization layer normalize for real, as a trained network's would.

    Random-initialised BatchNormalization holds mean 0 and variance 1, whatever its input: activations
    shrink or grow layer after layer until the logits are the same for every image (random-init
    MobileNetV2 and MobileNetV3Small gave 0.1 for every class of a 10-class softmax).  Here each layer's
    gamma is drawn from U(0.5, 1.5) and beta from N(0, 0.1) (seeded), then one forward pass in training
    mode with momentum 0 over a fixed calibration batch sets every moving mean and variance to the batch
    statistics of its input (upstream layers normalize with theirs in the same pass, so the statistics
    fit the model as it runs in inference; dropout is off for that pass); each variance is floored at a
    tenth of its layer's median.  Returns how many layers were calibrated."""
    import keras

    bns = [lay for lay in _layers(model) if isinstance(lay, keras.layers.BatchNormalization)]
    if not bns:
        return 0
    rng = np.random.default_rng(seed)
    for lay in bns:
        if lay.gamma is not None:
            lay.gamma.assign(rng.uniform(0.5, 1.5, size=tuple(lay.gamma.shape)).astype("float32"))
        if lay.beta is not None:
            lay.beta.assign(rng.normal(0.0, 0.1, size=tuple(lay.beta.shape)).astype("float32"))
    # dropout off while calibrating: statistics taken with dropped channels or dropped residual branches
    # (EfficientNet's drop connect) are too small for inference, where nothing is dropped
    drops = [lay for lay in _layers(model) if isinstance(lay, keras.layers.Dropout)]
    momenta, rates = [lay.momentum for lay in bns], [lay.rate for lay in drops]
    try:
        for lay in bns:
            lay.momentum = 0.0
        for lay in drops:
            lay.rate = 0.0
        model(images, training=True)
    finally:
        for lay, m in zip(bns, momenta):
            lay.momentum = m
        for lay, r in zip(drops, rates):
            lay.rate = r
    # a channel almost constant over the calibration batch (a 1 x 1 feature map sees one value per image)
    # would divide by nearly nothing and blow up on any other image: its variance is floored at a tenth
    # of the layer's median
    for lay in bns:
        var = _numpy(lay.moving_variance)
        lay.moving_variance.assign(np.maximum(var, 0.1 * np.median(var)).astype("float32"))
    return len(bns)


def scale_layer_scales(model, low: float = 0.2, high: float = 0.6, seed: int = WEIGHTS_SEED) -> int:
    """Draw the per-channel scales of ``LayerScale`` layers (ConvNeXt initialises them to 1e-6) from
    U(low, high): at 1e-6 every block adds a millionth to its residual stream, so a conversion that
    dropped every block would still match.  Returns how many layers were changed."""
    rng = np.random.default_rng(seed)
    changed = 0
    for lay in _layers(model):
        if type(lay).__name__ != "LayerScale":
            continue
        for w in lay.weights:
            w.assign(rng.uniform(low, high, size=tuple(w.shape)).astype("float32"))
            changed += 1
    return changed


def scale_head(model, images, target_std: float = 3.0) -> float:
    """Center and scale the classifier head (the last layer with a kernel: a Dense, or MobileNet's and
    MobileNetV3's 1x1 Conv2D) on the calibration batch: each class's logit loses its mean over the batch
    (features after ReLU and pooling share a large common part, which would give every image the same
    top class) and the logits get the standard deviation ``target_std`` (neither one saturated class nor
    logits all within the tolerance of each other).  Returns the scale."""
    heads = [lay for lay in model.layers if getattr(lay, "kernel", None) is not None]
    if not heads:
        return 1.0
    head = heads[-1]
    logits = _numpy(model(images, training=False))
    logits = logits.reshape(-1, logits.shape[-1])
    mean = logits.mean(axis=0)
    std = float((logits - mean).std())
    if not np.isfinite(std) or std == 0.0:
        return 1.0
    factor = target_std / std
    kernel = _numpy(head.kernel)
    head.kernel.assign((kernel * factor).astype("float32"))
    if head.bias is not None:
        bias = _numpy(head.bias)
        head.bias.assign(((bias - mean) * factor).astype("float32"))
    return factor


# ---------------------------------------------------------------- images

def synthetic_images(rng: np.random.Generator, batch: int, size: int) -> np.ndarray:
    """``batch`` RGB pictures of ``size`` x ``size``, float32 in [0, 255]: smooth gradients of random
    frequency, phase and brightness, a few solid discs and mild noise (each image unlike the others)."""
    yy, xx = np.mgrid[0:size, 0:size].astype("float32") / size
    out = np.empty((batch, size, size, 3), dtype="float32")
    for i in range(batch):
        img = np.empty((size, size, 3), dtype="float32")
        level, contrast = rng.uniform(60, 200), rng.uniform(30, 110)
        for c in range(3):
            fx, fy, phase = rng.uniform(0.3, 3.0), rng.uniform(0.3, 3.0), rng.uniform(0, 2 * np.pi)
            img[..., c] = level + contrast * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        for _ in range(rng.integers(1, 4)):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.35)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, size=3)
        img += rng.normal(0, 6, size=img.shape)
        out[i] = np.clip(img, 0, 255)
    return out


# ---------------------------------------------------------------- inputs that fit a built model

#: case name -> (input specs, input hints) of the model its builder made last in this process: the
#: worker builds a case before it draws its inputs (conformance.worker.pipeline.build_case)
_BUILT: dict[str, tuple[list, dict]] = {}


def remember_inputs(name: str, model) -> None:
    """Keep what ``model`` (case ``name``'s) says about its inputs, for :func:`fitted_inputs`."""
    from cases.inputs import input_hints
    from cases.model_io import input_specs

    _BUILT[name] = (input_specs(model), input_hints(model))


def _fix_sequence(specs: list, length: int) -> list:
    """Specs with every dynamic axis after the batch set to ``length`` (token ids, masks, segment ids,
    audio frames): :func:`cases.inputs.from_specs` then draws every text input at that length."""
    return [(n, (s[0],) + tuple(length if d is None else d for d in s[1:]), dt) for n, s, dt in specs]


def fitted_inputs(name: str, lengths: tuple[int, int] = SEQUENCE_LENGTHS) -> Callable[[np.random.Generator, int], list]:
    """``inputs(rng, batch)`` for case ``name``: :func:`cases.inputs.from_specs` over the built model's
    specs and hints (ids inside the vocabulary, padding masks with real padding, segment ids), with the
    dynamic sequence axis at :func:`sequence_length` (by default 12 for the main batch, 7 for the second;
    ``lengths`` for a model that takes one length only)."""
    def inputs(rng: np.random.Generator, batch: int) -> list:
        from cases.inputs import from_specs

        if name not in _BUILT:
            raise RuntimeError(f"case {name}: its inputs are drawn from the built model's specs; build it first")
        specs, hints = _BUILT[name]
        return from_specs(_fix_sequence(specs, sequence_length(batch, lengths)), rng, batch, hints)

    inputs.__name__ = f"fitted_inputs_{name}"
    return inputs


# ---------------------------------------------------------------- declaring a case

@dataclasses.dataclass(frozen=True)
class _Remembering:
    """A builder that remembers its model's input specs (picklable, unlike a closure)."""

    name: str
    build: Callable[[], Any]

    def __call__(self):
        model = self.build()
        remember_inputs(self.name, model)
        return model


def models_case(name: str, family: str, build: Callable[[], Any], inputs: Callable | None = None, *,
                kind: str, description: str, tolerance: Tolerance | None = None, tags=(),
                batch: int = BATCH, lengths: tuple[int, int] = SEQUENCE_LENGTHS) -> Case:
    """A case of the models tier: tags ``models`` and ``kind`` (:data:`CLASSIFIER_TAG` or
    :data:`BACKBONE_TAG`); without ``inputs``, :func:`fitted_inputs` over the built model (sequence
    lengths ``lengths``)."""
    if kind not in (CLASSIFIER_TAG, BACKBONE_TAG):
        raise ValueError(f"case {name}: kind must be {CLASSIFIER_TAG!r} or {BACKBONE_TAG!r}")
    if inputs is None:
        build, inputs = _Remembering(name, build), fitted_inputs(name, lengths)
    return Case(name, family, build, inputs, batch=batch, tolerance=tolerance,
                tags=frozenset({MODELS_TAG, kind, *tags}), description=description)
