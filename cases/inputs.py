"""Inputs generated from a model's input specs, for cases that give none."""
from __future__ import annotations

import numpy as np

#: length used for an unknown (None) non-batch dimension
FREE_DIM = 4


def from_specs(specs, rng: np.random.Generator, batch: int) -> list[np.ndarray]:
    """``specs``: [(name, shape, dtype)] with ``None`` for unknown dimensions."""
    arrays = []
    for _name, shape, dtype in specs:
        dims = [batch] + [FREE_DIM if d is None else int(d) for d in list(shape)[1:]]
        dt = np.dtype(dtype)
        if np.issubdtype(dt, np.integer):
            arrays.append(rng.integers(0, 10, size=dims).astype(dt))
        elif dt == np.bool_:
            arrays.append(rng.random(dims) > 0.5)
        else:
            arrays.append(rng.standard_normal(dims).astype(dt))
    return arrays
