"""Every case of the models tier has a Keras reference that can fail (marker ``models``: builds every case,
minutes; skipped unless ``-m`` names it: ``pytest tests/ -m models``).

One subprocess (``tests/models_reference.py``, TensorFlow; keras_hub for the KerasHub cases) builds each
case exactly as a conversion worker does and takes its reference at both batch sizes.  Per case: the
reference guard finds nothing (no DEGENERATE cell: not constant, not the same for every sample, neither
the batch mean nor a neighbour's answer would pass the comparison), the second batch's reference differs
from the main batch's first sample, and a classifier's top-1 class is not the same for every image (top-1
agreement means something).  A KerasHub case where keras_hub cannot be imported is skipped with its reason.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.loader import builtin_modules, load_cases
from tests.helpers import ROOT

pytestmark = pytest.mark.models

CASES = [c for c in load_cases(builtin_modules()) if c.module.startswith("cases.models.")]


@pytest.fixture(scope="module")
def references() -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("models_reference.py"))], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_models_case_reference_differs_across_inputs(name, references):
    got = references[name]
    if "not_applicable" in got:
        pytest.skip(got["not_applicable"])
    assert "error" not in got, got.get("error")
    assert got["degenerate"] == [], got["degenerate"]
    assert all(got["second_differs"]), f"the second batch's reference equals the main batch's first sample: {got}"
    case = next(c for c in CASES if c.name == name)
    if "classifier" in case.tags:
        assert len(got["top1"]) >= 2, f"every image gets the same top-1 class: {got['top1']}"
    shapes = got["input_shapes"]
    assert shapes[0][0][0] == 3 and shapes[1][0][0] == 1  # two batch sizes
