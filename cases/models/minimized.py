"""The models tier's failures, each cut down to the smallest model that fails the same way: one case per
architecture and cause (``min_<architecture>``), so every cause an architecture shows names a model a
converter's maintainer can re-run (docs/minimize.md has the table of reductions).

The data are the reducer's output, not code: ``minimized/<architecture>/`` holds ``model.keras``,
``inputs.npz`` (the recorded values at its cut points) and ``reduction.json`` (where it came from: the
cell, layers and parameters before and after, candidates, seconds).  A smallest model that Keras cannot
save and load back (a KerasHub layer whose config does not make it again) has no ``model.keras``: its
folder holds ``spec.json`` (the cut of the original case, which the suite rebuilds), and its case is one
of :mod:`conformance.minimize.spec` (``--cases-module conformance.minimize.spec``), not of this module
(cases/ imports nothing of conformance/).  Copied from

    python -m conformance.report minimize "<architecture>-<row>-opset13" reports/results.json --out DIR

The cases carry the ``models`` tag: they run with the tier (``pytest conformance/ -m models``).  A model
holding KerasHub layers loads only where keras_hub imports (the ``models`` extra); elsewhere its cells
are NOT_APPLICABLE, like the tier's.
"""
from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path

from cases.files import case_for, ref_for
from cases.models import MODELS_TAG, import_keras_hub

FAMILY = "minimized"
#: the folder of the reductions (one sub-folder per architecture)
DATA = Path(__file__).with_name("minimized")


#: the case module whose reductions hold KerasHub layers
KERAS_HUB_MODULE = "cases.models.kerashub"


def _build(needs_keras_hub: bool, load):
    if needs_keras_hub:
        import_keras_hub()   # its layers' classes register on import; NOT_APPLICABLE where it is missing
    return load()


def _case(folder: Path):
    summary = json.loads((folder / "reduction.json").read_text(encoding="utf-8"))
    name = f"min_{folder.name}"
    description = (f"{summary['case']} minimised ({summary['cell']}): {summary['layers_before']} layers -> "
                   f"{summary['left']}")
    base = case_for(ref_for(folder / "model.keras", folder / "inputs.npz"))
    return dataclasses.replace(base, name=name, family=FAMILY,
                               build=partial(_build, summary.get("module") == KERAS_HUB_MODULE, base.build),
                               tags=frozenset({MODELS_TAG, FAMILY}), module="", source="", description=description)


CASES = [_case(f) for f in sorted(DATA.iterdir()) if (f / "model.keras").is_file()] if DATA.is_dir() else []
