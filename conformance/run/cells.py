"""Which cells a run has: case x converter x opset, and the tiers that thin heavy cases out."""
from __future__ import annotations

import dataclasses

from cases.api import Case
from cases.layers import LAYERS_TAG


#: heavy cases carry this tag; the default tier runs them only when ``-m`` asks for them (``-m slow``), at
#: one opset: they cost about 2 of the default tier's 9-12 minutes on 2 cores (docs/measurements.md)
HEAVY_TAG = "slow"
#: the opset the default tier runs heavy cases at (the nearest selected one if it is not selected)
HEAVY_OPSET = 13
#: the opsets the default tier runs the layer library at (each replaced by the nearest selected one): 18,
#: the newest tf2onnx 1.17 emits.  On the TensorFlow rows opsets 13 and 18 gave the same status for every
#: layer case but one (docs/layers.md); at 13 the JAX row is INVALID for most of them, which says little
#: about the layers.  Two opsets would take the default tier past 10 min on 2 cores; --tier full runs all.
LAYER_OPSETS = (18,)
#: the models tier (``cases/models/``: keras.applications families, KerasHub backbones) carries this tag: its
#: cases run only when ``-m`` names it (``-m models``), in every tier (each cell converts a whole architecture,
#: 20-50 s; hours at every opset); the default tier runs them at :func:`heavy_opset`, ``--tier full`` at every
#: selected opset (docs/models.md)
MODELS_TAG = "models"
TIERS = ("default", "full")


def _nearest(opsets, target: int) -> int:
    return min(opsets, key=lambda o: (abs(o - target), -o))


def heavy_opset(opsets) -> int:
    return _nearest(opsets, HEAVY_OPSET)


def layer_opsets(opsets) -> set[int]:
    return {_nearest(opsets, o) for o in LAYER_OPSETS}


def tiered(cells: list, opsets, tier: str = "default", heavy: bool = False, models: bool = False) -> list:
    """``full``: every cell but the models tier's unless asked for.  ``default``: heavy (``slow``) cases only
    when asked for (``heavy``: the run's ``-m`` names the ``slow`` marker), at :func:`heavy_opset`;
    layer-library (``layers``) cases only at :func:`layer_opsets`.  Models-tier (``models``) cases only when
    asked for (``models``: the run's ``-m`` names the ``models`` marker) in either tier, in the default tier
    at :func:`heavy_opset`."""
    if not models:
        cells = [c for c in cells if MODELS_TAG not in c.case.tags]
    if tier == "full" or not opsets:
        return list(cells)
    one, layers = heavy_opset(opsets), layer_opsets(opsets)
    return [c for c in cells
            if (HEAVY_TAG not in c.case.tags or (heavy and c.opset == one))
            and (MODELS_TAG not in c.case.tags or c.opset == one)
            and (LAYERS_TAG not in c.case.tags or c.opset in layers)]


@dataclasses.dataclass(frozen=True)
class Cell:
    case: Case
    converter: str
    converter_module: str
    opset: int

    @property
    def id(self) -> str:
        return f"{self.case.name}-{self.converter}-opset{self.opset}"
