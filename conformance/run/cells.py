"""Which cells a run has: case x converter x opset, and the tiers that thin heavy cases out."""
from __future__ import annotations

import dataclasses

from cases.api import Case


#: heavy cases carry this tag; the default tier runs them at one opset only
HEAVY_TAG = "slow"
#: the opset the default tier runs heavy cases at (the nearest selected one if it is not selected)
HEAVY_OPSET = 13
TIERS = ("default", "full")


def heavy_opset(opsets) -> int:
    return min(opsets, key=lambda o: (abs(o - HEAVY_OPSET), -o))


def tiered(cells: list, opsets, tier: str = "default") -> list:
    """``full``: every cell.  ``default``: heavy (``slow``) cases only at :func:`heavy_opset`."""
    if tier == "full" or not opsets:
        return list(cells)
    one = heavy_opset(opsets)
    return [c for c in cells if HEAVY_TAG not in c.case.tags or c.opset == one]


@dataclasses.dataclass(frozen=True)
class Cell:
    case: Case
    converter: str
    converter_module: str
    opset: int

    @property
    def id(self) -> str:
        return f"{self.case.name}-{self.converter}-opset{self.opset}"
