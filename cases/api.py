"""The public case API.

A *case* is a named, seeded factory for a Keras model plus the inputs it is
checked on.  Cases are plain data: declaring one never imports TensorFlow, the
builder runs only inside a conversion worker.

    from cases.api import Case

    def _build():
        import keras
        inp = keras.Input((8,), name="x")
        return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))

    MY_MLP = Case("my_mlp", family="dense", build=_build)

Module-level ``Case`` objects, a module-level ``CASES`` iterable of them, and
plain functions named ``case_<name>`` (returning a model, or ``(model,
inputs)``) are all picked up by :mod:`conformance.loader`.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Sequence

KERAS = "keras"
TF_KERAS = "tf_keras"
#: the builder imports no Keras at all (fake cases in the suite's own tests): no TensorFlow is loaded
NO_KERAS = "none"
#: not a Keras model: a TensorFlow SavedModel directory (``--model DIR``), checked against its serving signature
SAVED_MODEL = "saved_model"
KERAS_FLAVOURS = (KERAS, TF_KERAS, NO_KERAS, SAVED_MODEL)
#: the tag of a Keras 3 case that uses TensorFlow-only layers (tf ops in a Lambda, say): the rows that
#: build it under JAX or PyTorch record NOT_APPLICABLE
TF_ONLY_TAG = "tensorflow_only"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.]+$")


class CaseNotApplicable(Exception):
    """Raised by a case's builder when the case cannot exist on the installed stack (its Keras has no
    such layer class or activation): the cell is NOT_APPLICABLE with this message, and no claim is
    made about the converter.  Not for a case that fails to build for any other reason (that is
    CASE_ERROR)."""


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Element-wise tolerance: an element fails only if it exceeds both."""

    rtol: float
    atol: float


def import_tf_keras():
    """The Keras 2 API: the tf_keras package, or tf.keras on TensorFlow <= 2.15 where it is Keras 2."""
    try:
        import tf_keras

        return tf_keras
    except ImportError:
        import tensorflow as tf

        if int(tf.__version__.split(".")[1]) <= 15 and tf.__version__.startswith("2."):
            return tf.keras
        raise


InputsFn = Callable[[Any, int], Sequence[Any]]
"""``inputs(rng, batch) -> [array, ...]`` in the model's input order."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One Keras model to convert.

    name:       unique id, used in test ids and results (letters, digits, _ and .).
    family:     grouping in reports (recurrent, dense, vision, user, ...).
    build:      zero-argument callable returning the Keras model.  The worker
                seeds Python, NumPy, TensorFlow and Keras with ``seed`` first,
                so random initialisation is reproducible.
    inputs:     ``inputs(rng, batch)`` returning arrays in the model's input
                order, or None to generate them from the model's input specs.
                ``rng`` is a ``numpy.random.Generator`` seeded with ``seed``.
    batch:      the main batch size; every cell also runs at a second size.
    tolerance:  float32 tolerance override (None: the dtype default).
    tags:       free labels; each becomes a pytest marker (``-m "not slow"``).
    keras:      ``"keras"`` (the keras package: Keras 3 on current stacks, Keras 2
                on TF <= 2.15) or ``"tf_keras"``: which Keras the builder imports;
                ``"none"`` for a builder that needs neither (fakes in tests/);
                ``"saved_model"`` for a TensorFlow SavedModel that is no Keras model.
    source:     the file or directory the case was loaded from (``--model PATH``);
                empty for cases built by code.
    custom_objects: files of modules (importing only Keras and numpy) that define the custom classes of
                the case's model: a saved model loads again where they are imported first (its repro and
                its minimised models carry them; ``--custom-objects`` is the same for a ``--model`` file).
    not_applicable: optional ``(exception) -> reason or None``: which failures of the build
                (the builder, or Keras computing the reference) mean the case cannot exist on the
                installed stack; the cell is then NOT_APPLICABLE with the reason, like a builder
                raising :class:`CaseNotApplicable` (the layer library: ``cases.layers.not_applicable``).
    """

    name: str
    family: str
    build: Callable[[], Any]
    inputs: InputsFn | None = None
    batch: int = 3
    tolerance: Tolerance | None = None
    tags: frozenset[str] = frozenset()
    keras: str = KERAS
    seed: int = 0
    description: str = ""
    #: where the case was declared ("cases.recurrent" or a file path); set by the loader.
    module: str = ""
    #: True when ``build`` returns ``(model, inputs)`` (user ``case_*`` functions).
    build_returns_inputs: bool = False
    #: the saved model file or SavedModel directory the case loads (``--model``), "" for built cases
    source: str = ""
    #: which build failures mean the case cannot exist on the installed stack (see the docstring)
    not_applicable: Callable[[BaseException], str | None] | None = None
    #: modules of the model's custom classes, as files (see the docstring)
    custom_objects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"case name {self.name!r}: use letters, digits, '_' and '.' only")
        if self.keras not in KERAS_FLAVOURS:
            raise ValueError(f"case {self.name}: keras must be one of {KERAS_FLAVOURS}, not {self.keras!r}")
        if self.batch < 1:
            raise ValueError(f"case {self.name}: batch must be >= 1")
        object.__setattr__(self, "tags", frozenset(self.tags))

    def with_module(self, module: str) -> "Case":
        return dataclasses.replace(self, module=module)
