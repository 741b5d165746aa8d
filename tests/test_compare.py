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
