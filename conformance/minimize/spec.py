"""Candidates as data, for models Keras cannot save and load back (a KerasHub layer whose ``from_config`` does not
take its own ``get_config``): the worker rebuilds the *original* case (same seeds, same weights), records it and
builds the candidate from its :meth:`~conformance.minimize.graph.Graph.to_spec` (tensors by position), so no model
file is needed.  Each candidate is a small case module (:func:`module_text`) the worker imports by path.

Slower than a model file (every candidate builds the whole original model again), so the reducer uses it only
when the whole model does not survive a file (:func:`conformance.minimize.run.minimize`).

This module is also a case module: ``CASES`` are the committed reductions of the models tier whose smallest
model Keras cannot load back from a file (``cases/models/minimized/<architecture>/spec.json``, no
``model.keras``), as ``min_<architecture>`` cases with the tier's tags:

    pytest conformance/ -m models --cases-module conformance.minimize.spec -k min_ --opsets 13
"""
from __future__ import annotations

import json
from functools import partial

from cases.api import KERAS, Case

FAMILY = "minimized"


def build_spec(module: str, name: str, spec_json: str):
    """(model, input arrays) of the candidate ``spec_json`` of case ``name`` of ``module``: in the worker."""
    from conformance.loader import find_case
    from conformance.minimize.graph import Graph
    from conformance.worker.pipeline import build_case

    built = build_case(find_case(module, name))
    graph = Graph(built.model)
    graph.record(built.batches[0].arrays)
    return graph.build(graph.from_spec(json.loads(spec_json)))


def spec_case(module: str, name: str, spec: dict, *, case_name: str, description: str = "", tags=()) -> Case:
    """The case of one candidate: the original case ``name`` of ``module``, cut as ``spec`` says."""
    return Case(name=case_name, family=FAMILY, build=partial(build_spec, module, name, json.dumps(spec, sort_keys=True)),
                build_returns_inputs=True, keras=KERAS, description=description or f"{name} cut as a spec",
                tags=frozenset(tags))


MODULE = '''"""{doc}"""
from conformance.minimize.spec import spec_case

CASE = spec_case({module!r}, {name!r}, {spec!r}, case_name={case_name!r}, description={description!r})
'''


def module_text(module: str, name: str, spec: dict, case_name: str, description: str, doc: str = "") -> str:
    return MODULE.format(doc=doc or f"A candidate of the reducer: {name} of {module}, cut as a spec.", module=module,
                         name=name, spec=spec, case_name=case_name, description=description)


def committed(data=None) -> list[Case]:
    """The spec cases of the committed reductions (folders with ``spec.json`` and no ``model.keras``)."""
    from pathlib import Path

    from cases.models import MODELS_TAG
    from cases.models.minimized import DATA

    out = []
    folder_root = Path(data or DATA)
    for folder in sorted(folder_root.iterdir()) if folder_root.is_dir() else []:
        if (folder / "model.keras").is_file() or not (folder / "spec.json").is_file():
            continue
        summary = json.loads((folder / "reduction.json").read_text(encoding="utf-8"))
        spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        out.append(spec_case(summary["module"], summary["case"], spec, case_name=f"min_{folder.name}",
                             description=f"{summary['case']} minimised ({summary['cell']}): {summary['layers_before']} "
                                         f"layers -> {summary['left']}; rebuilt from the case (no model file)",
                             tags=(MODELS_TAG, FAMILY)))
    return out


CASES = committed()
