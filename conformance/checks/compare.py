"""Numeric comparison of one ONNX output against its Keras reference.

Semantics follow Polygraphy's element-wise comparator: an element fails only
when its absolute error exceeds ``atol`` *and* its relative error exceeds
``rtol``.  NaN against a number fails; NaN against NaN and equal infinities
pass.  The result is a small dataclass holding every statistic; deciding what
it means for a cell is :mod:`conformance.run.verdict`'s job.  The numbers, the tolerances and the
words come from :mod:`conformance.checks.standalone` (the one implementation, which the repro
scripts carry too); this module makes them the worker's value objects.
"""
from __future__ import annotations

import dataclasses

from cases.api import Tolerance
from conformance.checks import standalone
from conformance.checks.standalone import batch_failures, degenerate_reasons

__all__ = ["DEFAULT_TOLERANCES", "Comparison", "batch_failures", "compare", "degenerate_reasons", "impostor_reasons",
           "tolerance_for"]

#: Default tolerances by the floating dtype of the reference output.
DEFAULT_TOLERANCES = {dtype: Tolerance(*pair) for dtype, pair in standalone.TOLERANCES.items()}


def tolerance_for(dtype: str, override: Tolerance | None = None) -> Tolerance:
    """The tolerance for an output of ``dtype``, unless the case overrides it.

    A case override never makes a half-precision output stricter than its
    dtype allows (:func:`conformance.checks.standalone.tolerance`).
    """
    return Tolerance(*standalone.tolerance(dtype, None if override is None else (override.rtol, override.atol)))


@dataclasses.dataclass(frozen=True)
class Comparison:
    output: str
    passed: bool
    rtol: float
    atol: float
    shape_expected: tuple
    shape_actual: tuple
    dtype_expected: str
    dtype_actual: str
    total: int = 0
    mismatched: int = 0
    nan_mismatched: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    mean_abs: float = 0.0
    p99_abs: float = 0.0
    #: smallest atol that passes with this rtol, and smallest rtol that passes with this atol
    min_passing_atol: float = 0.0
    min_passing_rtol: float = 0.0
    #: where the worst element is, and the two values there
    worst_index: tuple = ()
    worst_expected: float | None = None
    worst_actual: float | None = None
    problem: str = ""

    def summary(self) -> str:
        return standalone.comparison_line(vars(self))


def compare(output: str, expected, actual, rtol: float, atol: float) -> Comparison:
    """:func:`conformance.checks.standalone.compare` as a value object."""
    return Comparison(**standalone.compare(output, expected, actual, rtol, atol))


def impostor_reasons(name: str, ref, tolerance: Tolerance) -> list[str]:
    """:func:`conformance.checks.standalone.impostor_reasons` at the output's tolerance."""
    return standalone.impostor_reasons(name, ref, tolerance.rtol, tolerance.atol)
