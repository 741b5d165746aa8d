"""Inputs generated from a model's input specs, for cases and ``--model`` files that give none.

:func:`from_specs` makes one array per spec with a seeded rng.  Without hints every integer input
is drawn from ``[0, 10)``, booleans at random, floats from a standard normal (the suite's behaviour
for hand-written cases).  With :func:`input_hints` of the model, the inputs fit it:

- integer ids fed to an embedding stay inside its vocabulary: ``[0, input_dim)`` of the
  ``Embedding`` (``ReversibleEmbedding``, KerasHub's ``TokenAndPositionEmbedding``: the embedding
  layers inside the layer that takes the input) that takes them;
- text inputs (token ids, padding masks, segment ids) share one sequence length, ``SEQUENCE_LENGTH``
  or shorter if a position embedding allows fewer positions;
- a padding mask (an integer or boolean input named ``*mask*``) holds real padding: ones then zeros,
  the first row shorter than the sequence (so the single-row batch is padded too), the last row of a
  larger batch full; token ids are 0 and segment ids 0 where the mask is 0;
- segment ids (``*segment*``, ``*token_type*``) are 0 for the first part of a row and 1 after a split,
  inside the segment embedding's range;
- images (rank-4 float inputs) that go straight into ``Rescaling`` are pixels in ``[0, 255]``.

:func:`from_specs` and :func:`text_lengths` are pure NumPy; :func:`input_hints` walks a built model
duck-typed (no Keras or TensorFlow import).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

#: length used for an unknown (None) non-batch dimension
FREE_DIM = 4
#: length of generated text inputs (token ids, masks, segment ids) with a free sequence dimension
SEQUENCE_LENGTH = 8
#: the id range of integer inputs whose vocabulary the model does not tell (0..9)
UNKNOWN_VOCABULARY = 10
#: the value range of generated images that the model rescales itself (raw pixels)
PIXELS = (0.0, 255.0)


@dataclasses.dataclass(frozen=True)
class InputHint:
    """What a model tells about one of its inputs (:func:`input_hints`)."""

    #: integer ids are drawn from [0, vocabulary) (an embedding's input_dim)
    vocabulary: int | None = None
    #: the longest sequence the model takes (a position embedding's sequence_length)
    max_length: int | None = None
    #: floats are drawn uniformly from this range (images the model rescales itself)
    value_range: tuple[float, float] | None = None


def _has(name: str, *words: str) -> bool:
    low = name.lower()
    return any(w in low for w in words)


def is_mask(name: str, shape, dtype) -> bool:
    """A padding mask: an integer or boolean input of rank 2 (batch, sequence) named ``*mask*``."""
    dt = np.dtype(dtype)
    return _has(name, "mask") and len(shape) == 2 and (dt == np.bool_ or np.issubdtype(dt, np.integer))


def is_segments(name: str, shape, dtype) -> bool:
    """Segment ids (BERT's ``segment_ids``, Hugging Face's ``token_type_ids``): integers of rank 2."""
    return _has(name, "segment", "token_type") and len(shape) == 2 and np.issubdtype(np.dtype(dtype), np.integer)


def _is_text(name: str, shape, dtype, hint: InputHint | None) -> bool:
    if len(shape) != 2:
        return False
    if is_mask(name, shape, dtype) or is_segments(name, shape, dtype):
        return True
    return np.issubdtype(np.dtype(dtype), np.integer) and hint is not None and hint.vocabulary is not None


def _is_sequence(shape, dtype) -> bool:
    """An integer input of rank 2 (batch, sequence): in a model with text inputs, token ids too, even
    without a known vocabulary (they share the sequence length and the padding)."""
    return len(shape) == 2 and np.issubdtype(np.dtype(dtype), np.integer)


def text_lengths(rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
    """How many real (unpadded) positions each row has: between 1 and ``length``; the first row shorter
    than ``length`` (when ``length`` > 1), the last row of a batch of two or more full."""
    lengths = rng.integers(1, length + 1, size=batch)
    if length > 1:
        lengths[0] = rng.integers(1, length)
    if batch > 1:
        lengths[-1] = length
    return lengths


def _sequence_length(specs, hints: Mapping[str, InputHint]) -> int:
    fixed = [int(s[1]) for n, s, d in specs if _is_text(n, s, d, hints.get(n)) and s[1] is not None]
    if fixed:
        return min(fixed)
    limits = [h.max_length for h in hints.values() if h.max_length]
    return min([SEQUENCE_LENGTH, *limits])


def from_specs(specs, rng: np.random.Generator, batch: int,
               hints: Mapping[str, InputHint] | None = None) -> list[np.ndarray]:
    """One array per spec, ``batch`` rows.  ``specs``: [(name, shape, dtype)] with ``None`` for unknown
    dimensions; ``hints``: name -> InputHint (:func:`input_hints`).  Without hints, a model with no input
    named like a mask or segment ids gets the plain draw of the suite's first versions (integers in
    [0, 10), standard-normal floats, the same arrays for the same rng)."""
    hints = dict(hints or {})
    text = any(_is_text(n, s, d, hints.get(n)) for n, s, d in specs)
    if text:  # the model's other integer sequences are token ids too: same length, same padding
        for n, s, d in specs:
            h = hints.get(n) or InputHint()
            if _is_sequence(s, d) and not is_mask(n, s, d) and not is_segments(n, s, d) and h.vocabulary is None:
                hints[n] = dataclasses.replace(h, vocabulary=UNKNOWN_VOCABULARY)
    length = _sequence_length(specs, hints) if text else FREE_DIM
    padded = any(is_mask(n, s, d) for n, s, d in specs)
    lengths = text_lengths(rng, batch, length) if padded else np.full(batch, length)
    real = np.arange(length)[None, :] < lengths[:, None]  # (batch, length): True where not padding
    arrays = []
    for name, shape, dtype in specs:
        hint = hints.get(name) or InputHint()
        dt = np.dtype(dtype)
        if _is_text(name, shape, dtype, hints.get(name)) and shape[1] in (None, length):
            arrays.append(_text_input(name, shape, dt, hint, rng, batch, length, real))
            continue
        dims = [batch] + [FREE_DIM if d is None else int(d) for d in list(shape)[1:]]
        if np.issubdtype(dt, np.integer):
            arrays.append(rng.integers(0, hint.vocabulary or UNKNOWN_VOCABULARY, size=dims).astype(dt))
        elif dt == np.bool_:
            arrays.append(rng.random(dims) > 0.5)
        elif hint.value_range is not None:
            arrays.append(rng.uniform(*hint.value_range, size=dims).astype(dt))
        else:
            arrays.append(rng.standard_normal(dims).astype(dt))
    return arrays


def _text_input(name, shape, dt, hint: InputHint, rng, batch: int, length: int, real: np.ndarray) -> np.ndarray:
    if is_mask(name, shape, dt):
        return real.astype(dt)
    if is_segments(name, shape, dt):
        kinds = hint.vocabulary or 2
        lengths = real.sum(axis=1)
        split = np.array([rng.integers(1, n) if n > 1 else n for n in lengths])  # both segments in a row of 2+
        seg = (np.arange(length)[None, :] >= split[:, None]) & real
        return np.minimum(seg.astype(np.int64), kinds - 1).astype(dt)
    vocab = hint.vocabulary or UNKNOWN_VOCABULARY
    low = 1 if vocab > 1 else 0  # 0 is the padding id of the usual tokenizers: real tokens above it
    ids = rng.integers(low, vocab, size=(batch, length))
    return np.where(real, ids, 0).astype(dt)


# --- hints from a built model (duck-typed: Keras 3 or tf_keras functional models) --------------------

def _sublayers(layer) -> list:
    for attr in ("_flatten_layers",):
        fn = getattr(layer, attr, None)
        if callable(fn):
            try:
                return list(fn(include_self=True, recursive=True))
            except TypeError:
                pass
    return [layer]


def _is_embedding(layer) -> bool:
    names = [c.__name__ for c in type(layer).__mro__]
    return "Embedding" in names and isinstance(getattr(layer, "input_dim", None), int)


def _vocabulary(layer) -> int | None:
    """The smallest input_dim of the embeddings a layer is or holds (TokenAndPositionEmbedding: the token table)."""
    dims = [lay.input_dim for lay in _sublayers(layer) if _is_embedding(lay)]
    return min(dims) if dims else None


def _consumers(model, tensor) -> list:
    found = []
    for layer in getattr(model, "layers", None) or []:
        for node in getattr(layer, "_inbound_nodes", None) or []:
            try:
                ins = node.input_tensors  # tf_keras: a single tensor for a layer called on one
            except Exception:
                continue
            ins = list(ins) if isinstance(ins, (list, tuple)) else [ins]
            if any(t is tensor for t in ins):
                found.append(layer)
                break
    return found


def _max_length(model) -> int | None:
    limits = []
    for layer in _sublayers(model):
        n = getattr(layer, "sequence_length", None)
        if "PositionEmbedding" in type(layer).__name__ and isinstance(n, int) and n > 0:
            limits.append(n)
    return min(limits) if limits else None


def _rescales(layers) -> bool:
    return any(type(lay).__name__ == "Rescaling" for lay in layers)


def input_hints(model) -> dict[str, InputHint]:
    """name -> InputHint for the inputs of a built Keras model (names as :func:`cases.model_io.input_names`):
    the vocabulary of the embedding that takes integer ids, the longest sequence a position
    embedding allows, pixel range for images that go straight into ``Rescaling``.  Empty when the
    model cannot be walked (a SavedModel, a model without ``layers``)."""
    from cases.model_io import input_names

    try:
        tensors = list(model.inputs)
        names = input_names(model)
    except Exception:
        return {}
    try:
        max_length = _max_length(model)
    except Exception:
        max_length = None
    hints = {}
    for name, t in zip(names, tensors):
        try:
            consumers = _consumers(model, t)
        except Exception:
            consumers = []
        vocab = [v for v in (_vocabulary(c) for c in consumers) if v]
        dims = list(getattr(t, "shape", None) or [])
        floats = "float" in str(getattr(getattr(t, "dtype", None), "name", getattr(t, "dtype", "")))
        value_range = PIXELS if floats and len(dims) == 4 and _rescales(consumers) else None
        hints[name] = InputHint(vocabulary=min(vocab) if vocab else None, max_length=max_length,
                                value_range=value_range)
    return hints
