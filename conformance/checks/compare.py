"""Numeric comparison of one ONNX output against its Keras reference.

Semantics follow Polygraphy's element-wise comparator: an element fails only
when its absolute error exceeds ``atol`` *and* its relative error exceeds
``rtol``.  NaN against a number fails; NaN against NaN and equal infinities
pass.  The result is a small dataclass holding every statistic; deciding what
it means for a cell is :mod:`conformance.run.verdict`'s job.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from cases.api import Tolerance


#: Default tolerances by the floating dtype of the reference output.
DEFAULT_TOLERANCES = {
    "float64": Tolerance(rtol=1e-6, atol=1e-7),
    "float32": Tolerance(rtol=1e-4, atol=1e-5),
    "float16": Tolerance(rtol=1e-2, atol=1e-3),
    "bfloat16": Tolerance(rtol=2e-2, atol=1e-2),
}


def tolerance_for(dtype: str, override: Tolerance | None = None) -> Tolerance:
    """The tolerance for an output of ``dtype``, unless the case overrides it.

    A case override never makes a half-precision output stricter than its
    dtype allows.
    """
    base = DEFAULT_TOLERANCES.get(str(dtype), DEFAULT_TOLERANCES["float32"])
    if override is None:
        return base
    if str(dtype) in ("float16", "bfloat16"):
        return Tolerance(rtol=max(override.rtol, base.rtol), atol=max(override.atol, base.atol))
    return override


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
        if self.problem:
            return f"{self.output}: {self.problem}"
        return (f"{self.output}: {self.mismatched}/{self.total} elements outside rtol={self.rtol:g}, "
                f"atol={self.atol:g}; max abs err {self.max_abs:.3g}, max rel err {self.max_rel:.3g}"
                + (f", worst at {list(self.worst_index)}: expected {self.worst_expected:.6g} got {self.worst_actual:.6g}"
                   if self.worst_index else ""))


def _finite_or_none(x: float) -> float:
    return float(x) if math.isfinite(x) else float("inf")


def compare(output: str, expected, actual, rtol: float, atol: float) -> Comparison:
    exp = np.asarray(expected)
    act = np.asarray(actual)
    base = dict(output=output, rtol=rtol, atol=atol, shape_expected=tuple(exp.shape),
                shape_actual=tuple(act.shape), dtype_expected=str(exp.dtype), dtype_actual=str(act.dtype))
    if exp.shape != act.shape:
        return Comparison(passed=False, problem=f"shape {tuple(act.shape)} where Keras gives {tuple(exp.shape)}", **base)
    if exp.size == 0:
        return Comparison(passed=True, **base)
    e = exp.astype(np.float64)
    a = act.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        e_nan, a_nan = np.isnan(e), np.isnan(a)
        both_nan = e_nan & a_nan
        same_inf = np.isinf(e) & np.isinf(a) & (e == a)
        absdiff = np.abs(a - e)
        absdiff[both_nan | same_inf] = 0.0
        one_nan = e_nan ^ a_nan
        absdiff[one_nan] = np.inf
        magnitude = np.abs(e)
        reldiff = np.where(magnitude > 0, absdiff / np.where(magnitude > 0, magnitude, 1.0),
                           np.where(absdiff > 0, np.inf, 0.0))
        # an infinite error (inf against -inf or a finite value, NaN against a number) is infinitely relative too
        reldiff[np.isinf(absdiff) | np.isnan(reldiff)] = np.inf
        failed = (absdiff > atol) & (reldiff > rtol)
    n_failed = int(failed.sum())
    flat = absdiff.ravel()
    finite = flat[np.isfinite(flat)]
    worst = int(np.argmax(np.where(np.isnan(flat), np.inf, flat)))
    worst_index = tuple(int(i) for i in np.unravel_index(worst, exp.shape))
    # smallest atol passing at this rtol: the largest error among elements the rtol alone fails
    beyond_rtol = absdiff[reldiff > rtol]
    min_atol = float(beyond_rtol.max()) if beyond_rtol.size else 0.0
    beyond_atol = reldiff[absdiff > atol]
    min_rtol = float(beyond_atol.max()) if beyond_atol.size else 0.0
    return Comparison(
        passed=n_failed == 0,
        total=int(exp.size),
        mismatched=n_failed,
        nan_mismatched=int(one_nan.sum()),
        max_abs=_finite_or_none(float(flat.max())),
        max_rel=_finite_or_none(float(reldiff.max())),
        mean_abs=float(finite.mean()) if finite.size else float("inf"),
        p99_abs=float(np.percentile(finite, 99)) if finite.size else float("inf"),
        min_passing_atol=_finite_or_none(min_atol),
        min_passing_rtol=_finite_or_none(min_rtol),
        worst_index=worst_index,
        worst_expected=float(e.ravel()[worst]),
        worst_actual=float(a.ravel()[worst]),
        **base,
    )


def degenerate_reasons(name: str, ref) -> list[str]:
    """Why a Keras reference output proves nothing, if it doesn't.

    A reference that is non-finite, a single repeated value, or the same for
    every sample in the batch cannot tell a right conversion from a wrong one.
    """
    r = np.asarray(ref)
    reasons = []
    if r.size == 0:
        return [f"{name} is empty"]
    if np.issubdtype(r.dtype, np.number) and not np.all(np.isfinite(r)):
        reasons.append(f"{name} has non-finite values")
    elif r.size > 1 and np.all(r == r.ravel()[0]):
        reasons.append(f"{name} is the constant {r.ravel()[0]!r} everywhere")
    elif r.ndim >= 1 and r.shape[0] > 1 and np.all(r == r[:1]):
        reasons.append(f"{name} is the same for every sample of the batch")
    return reasons


def impostor_reasons(name: str, ref, tolerance: Tolerance) -> list[str]:
    """Why a Keras reference is too weak to tell a right conversion from an input-ignoring one: an
    answer that ignores each sample's input, the batch mean for every sample or the batch rolled by
    one sample (every sample given its neighbour's answer), would pass the same comparison.  Needs a
    numeric batch of at least two samples that is not already degenerate (constant, non-finite)."""
    r = np.asarray(ref)
    if r.ndim < 1 or r.shape[0] < 2 or not np.issubdtype(r.dtype, np.number) or not np.all(np.isfinite(r)):
        return []
    if np.all(r == r[:1]):  # the same for every sample: degenerate_reasons says so already
        return []
    reasons = []
    impostors = (("the batch mean", np.broadcast_to(r.astype(np.float64).mean(axis=0), r.shape).astype(r.dtype)),
                 ("the batch rolled by one sample", np.roll(r, 1, axis=0)))
    for label, fake in impostors:
        if compare(name, r, fake, tolerance.rtol, tolerance.atol).passed:
            reasons.append(f"{name}: {label} would pass the same comparison (rtol={tolerance.rtol:g}, "
                           f"atol={tolerance.atol:g}), so agreement would not show the input was used")
    return reasons
