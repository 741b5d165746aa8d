"""Task-level agreement between Keras and onnxruntime, beside the element-wise tolerance.

The tolerance says whether every number matches; a user of a whole model asks a coarser question
too: does the ONNX model still pick the same class (classifiers: top-1 agreement per sample), do
its hidden states still point the same way (backbones: cosine similarity per vector of the last
axis)?  Both are facts, not checks: the cell's status stays the tolerance's verdict, and a flipped
top-1 class is recorded even where the tolerance passes (two near-tied logits).

Which question a case asks comes from its tags: ``classifier`` (a ``(batch, classes)`` score output)
or ``backbone`` (hidden states, ``(batch, ..., features)``).  :func:`of_batch` gives the facts of one
batch, ``record["facts"]["task_agreement"]`` holds them for every batch of a cell (the models report,
:mod:`conformance.report.models`, reads them).
"""
from __future__ import annotations

import numpy as np

CLASSIFIER_TAG = "classifier"
BACKBONE_TAG = "backbone"
#: the fact's key in ``record["facts"]``
FACT = "task_agreement"


def _floats(expected, actual) -> tuple[np.ndarray, np.ndarray] | None:
    e, a = np.asarray(expected), np.asarray(actual)
    if e.shape != a.shape or e.ndim < 2 or e.size == 0 or not np.issubdtype(e.dtype, np.floating) \
            or not np.issubdtype(a.dtype, np.floating):
        return None
    return e.astype(np.float64), a.astype(np.float64)


def top1(name: str, batch: int, expected, actual) -> dict | None:
    """Per sample of a ``(batch, classes)`` score output: Keras's and onnxruntime's top-1 class.

    ``agree`` of ``total`` samples pick the same class; ``flipped`` lists the others (sample, Keras's
    class, onnxruntime's class).  None when the output is not such a matrix (or has one class)."""
    pair = _floats(expected, actual)
    if pair is None or pair[0].ndim != 2 or pair[0].shape[1] < 2:
        return None
    e, a = pair
    # argmax takes the first of equal scores: a tie never flips between runs
    ke, ka = np.argmax(e, axis=1), np.argmax(a, axis=1)
    flipped = [{"sample": int(i), "keras": int(ke[i]), "onnx": int(ka[i])} for i in np.nonzero(ke != ka)[0]]
    total = int(e.shape[0])
    return {"output": name, "batch": int(batch), "kind": "top1", "agree": total - len(flipped), "total": total,
            "value": (total - len(flipped)) / total, "flipped": flipped}


def _cosines(e: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Cosine similarity of every vector of the last axis; 1 where both are zero, 0 where one is, NaN
    where either holds a non-finite value."""
    e2, a2 = e.reshape(-1, e.shape[-1]), a.reshape(-1, a.shape[-1])
    finite = np.isfinite(e2).all(axis=1) & np.isfinite(a2).all(axis=1)
    e2, a2 = np.where(finite[:, None], e2, 0.0), np.where(finite[:, None], a2, 0.0)
    ne, na = np.linalg.norm(e2, axis=1), np.linalg.norm(a2, axis=1)
    dot = (e2 * a2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where((ne > 0) & (na > 0), dot / (ne * na), np.where((ne == 0) & (na == 0), 1.0, 0.0))
    return np.where(finite, np.clip(cos, -1.0, 1.0), np.nan)


def cosine(name: str, batch: int, expected, actual) -> dict | None:
    """Cosine similarity of Keras's and onnxruntime's hidden states: one per vector of the last axis
    (per token of a ``(batch, sequence, hidden)`` output, per sample of a ``(batch, hidden)`` one, per
    pixel of a feature map); ``min`` (the worst vector) and ``mean``.  ``value`` is the minimum; a
    vector with a non-finite value counts as 0.  None for an output that is no float tensor of rank 2+."""
    pair = _floats(expected, actual)
    if pair is None:
        return None
    cos = _cosines(*pair)
    cos = np.where(np.isnan(cos), 0.0, cos)
    worst = float(cos.min())
    return {"output": name, "batch": int(batch), "kind": "cosine", "vectors": int(cos.size), "min": worst,
            "mean": float(cos.mean()), "value": worst}


def of_batch(tags, outputs, batch: int, refs, outs) -> list[dict]:
    """The task-level agreement facts of one batch of a cell: top-1 per classifier output (tag
    ``classifier``), cosine similarity per hidden-state output (tag ``backbone``), nothing for a case
    with neither tag.  ``outputs``: ``[(name, shape, dtype)]`` in the order of ``refs`` (Keras) and
    ``outs`` (onnxruntime)."""
    tags = set(tags or ())
    kinds = [fn for tag, fn in ((CLASSIFIER_TAG, top1), (BACKBONE_TAG, cosine)) if tag in tags]
    found = []
    for fn in kinds:
        for (name, *_), ref, out in zip(outputs, refs, outs):
            fact = fn(name, batch, ref, out)
            if fact is not None:
                found.append(fact)
    return found

