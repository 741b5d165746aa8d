"""Top-k class agreement between Keras and onnxruntime, for classifier cases (tag ``classifier``).

Element-wise tolerance says whether the probabilities match; users of a
classifier also ask whether the ONNX model still picks the same classes.  This
is a fact, not a check: the status stays the element-wise verdict's.
"""
from __future__ import annotations

import numpy as np

K = 5


def _top(row: np.ndarray, k: int) -> list[int]:
    # stable: equal scores keep class order, so ties do not flip between runs
    return [int(i) for i in np.argsort(-row, kind="stable")[:k]]


def agreement(name: str, batch: int, expected, actual, k: int = K) -> dict | None:
    """Per image of one output batch: Keras's and onnxruntime's top-k classes, and how far they agree.

    None when the output is not a (batch, classes) score matrix with more than k classes.
    """
    e, a = np.asarray(expected), np.asarray(actual)
    if e.ndim != 2 or e.shape != a.shape or e.shape[1] <= k or not np.issubdtype(e.dtype, np.floating):
        return None
    images = []
    for i in range(e.shape[0]):
        ke, ka = _top(e[i], k), _top(a[i], k)
        images.append({"keras": ke, "onnx": ka, "same_top1": ke[0] == ka[0], "same_set": set(ke) == set(ka),
                       "same_order": ke == ka, "overlap": len(set(ke) & set(ka))})
    return {"output": name, "batch": batch, "k": k, "images": images,
            "agree": all(img["same_set"] for img in images),
            "same_top1": sum(img["same_top1"] for img in images), "total": len(images)}
