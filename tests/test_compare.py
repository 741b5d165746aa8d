"""Numeric comparison: Polygraphy semantics and the statistics it records."""
import math

import numpy as np
import pytest

from conformance.checks.compare import compare, degenerate_reasons


def test_identical_arrays_pass_with_zero_error():
    a = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)
    c = compare("y", a, a.copy(), rtol=1e-5, atol=1e-6)
    assert c.passed and c.mismatched == 0 and c.max_abs == 0.0 and c.total == 12


def test_element_fails_only_when_beyond_both_tolerances():
    ref = np.array([100.0, 1e-3], dtype="float32")
    # first: abs err 0.05 > atol but rel 5e-4 <= rtol -> passes; second: abs 5e-4 > atol, rel 0.5 > rtol -> fails
    out = np.array([100.05, 1.5e-3], dtype="float32")
    c = compare("y", ref, out, rtol=1e-3, atol=1e-4)
    assert not c.passed
    assert c.mismatched == 1
    assert c.worst_index == (0,)  # the largest absolute error is reported as the worst element
    loose = compare("y", ref, out, rtol=1e-3, atol=1e-3)
    assert loose.passed


def test_min_passing_tolerances_are_tight():
    ref = np.array([1.0, 2.0, 4.0])
    out = np.array([1.01, 2.0, 4.2])
    c = compare("y", ref, out, rtol=0.0, atol=0.0)
    assert math.isclose(c.min_passing_atol, 0.2, rel_tol=1e-9)
    assert math.isclose(c.min_passing_rtol, 0.05, rel_tol=1e-9)
    assert compare("y", ref, out, rtol=0.0, atol=c.min_passing_atol).passed
    assert not compare("y", ref, out, rtol=0.0, atol=c.min_passing_atol * 0.99).passed
    assert compare("y", ref, out, rtol=c.min_passing_rtol, atol=0.0).passed


@pytest.mark.parametrize("ref,out,ok", [
    ([np.nan], [np.nan], True),
    ([np.nan], [1.0], False),
    ([1.0], [np.nan], False),
    ([np.inf], [np.inf], True),
    ([-np.inf], [-np.inf], True),
    ([np.inf], [-np.inf], False),
    ([np.inf], [1e30], False),
])
def test_nan_and_infinity_semantics(ref, out, ok):
    c = compare("y", np.array(ref), np.array(out), rtol=1e-3, atol=1e-3)
    assert c.passed is ok


def test_shape_mismatch_is_a_failure_with_a_reason():
    c = compare("y", np.zeros((3, 2)), np.zeros((3, 1, 2)), rtol=1e-3, atol=1e-3)
    assert not c.passed and "shape" in c.problem


def test_statistics_are_recorded():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(1000)
    out = ref + rng.normal(0, 1e-3, 1000)
    c = compare("y", ref, out, rtol=1e-6, atol=1e-6)
    assert c.mean_abs > 0 and c.p99_abs >= c.mean_abs and c.max_abs >= c.p99_abs
    assert "max abs err" in c.summary()


@pytest.mark.parametrize("ref,expected", [
    (np.full((3, 2), 0.5), "constant"),
    (np.array([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2]]), "same for every sample"),
    (np.array([[0.1, np.nan]]), "non-finite"),
])
def test_degenerate_references_are_flagged(ref, expected):
    reasons = degenerate_reasons("y", ref)
    assert reasons and expected in reasons[0]


def test_informative_reference_is_not_flagged():
    assert degenerate_reasons("y", np.array([[0.1, 0.2], [0.3, 0.2]])) == []


# -- the impostor guard: would an answer that ignores its input pass the same comparison? --------
from cases.api import Tolerance  # noqa: E402
from conformance.checks.compare import impostor_reasons  # noqa: E402

F32 = Tolerance(rtol=1e-4, atol=1e-5)


def test_an_informative_reference_has_no_impostor():
    ref = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    assert impostor_reasons("y", ref, F32) == []


def test_a_reference_the_batch_mean_would_pass_is_weak():
    ref = (0.5 + 1e-7 * np.random.default_rng(0).standard_normal((3, 4))).astype("float32")
    assert not np.all(ref == ref[:1])                      # not exactly constant: the old guard lets it through
    reasons = impostor_reasons("y", ref, F32)
    assert any("the batch mean" in r for r in reasons) and any("rolled by one" in r for r in reasons)


def test_a_reference_where_only_the_neighbour_passes_is_weak():
    """Samples in two identical pairs and a tolerance that a mean of distinct rows fails: rolling by one
    gives each sample an answer equal to (or within tolerance of) its own."""
    row = np.array([1.0, 2.0, 3.0], dtype="float32")
    ref = np.stack([row, row, row + 5e-6, row + 5e-6])
    reasons = impostor_reasons("y", ref, Tolerance(rtol=0.0, atol=1e-5))
    assert any("rolled by one" in r for r in reasons)


@pytest.mark.parametrize("ref", [np.ones((1, 4), "float32"), np.full((3, 4), 2.0, "float32"),
                                 np.array([[1.0, np.nan], [2.0, 3.0]], "float32"), np.array(["a", "b"])])
def test_impostor_guard_leaves_single_samples_constants_and_non_numbers_to_the_other_checks(ref):
    assert impostor_reasons("y", ref, F32) == []


def test_a_weak_case_is_degenerate_and_an_informative_one_is_not(tmp_path):
    """Through the whole suite: the fake converter reproduces both models exactly, so only the reference
    guard can tell the weak case from the informative one."""
    from tests.test_reliability import run_conformance

    proc = run_conformance(tmp_path, "--cases-module", "tests/fakes/weak_cases.py", "--converters", "fake-ok",
                           "-k", "fake_weak- or fake_tiny-")
    import json

    got = {r["case"]: r for r in json.loads((tmp_path / "results.json").read_text())["records"]}
    assert got["fake_tiny"]["status"] == "PASS", proc.stdout[-2000:]
    assert got["fake_weak"]["status"] == "DEGENERATE" and got["fake_weak"]["stage"] == "reference"
    assert "the batch mean would pass" in got["fake_weak"]["reason"]
