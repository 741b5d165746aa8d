"""Running generated cases through the matrix's own pipeline, and recording what failed.

A generated case is a Cell like any other: the same ``Matrix``
hands it to the isolated worker (which rebuilds the model from the case name),
``verdict.decide`` gives its status and the known-failures file (a registry of causes)
is applied.  What the property makes of each status is the ``fuzz`` column of the status table
(:mod:`conformance.statuses`):

* fine: PASS, NOT_APPLICABLE, UNSUPPORTED_OPSET, and XFAIL, a known failure (a cause of ``known_failures.toml``, whose ``cases``
  globs match generated names, e.g. ``"g.*_bwd*"``) seen as expected: fine, so
  CI does not go red on a bug already written down.  XPASS is fine as well:
  such globs are deliberately coarse and cover passing configurations too.
* DEGENERATE: the generated model's Keras output proves nothing (e.g. relu
  units that are all zero); the example is discarded, not counted as a failure.
* anything else fails the property; hypothesis shrinks the configuration and
  the minimal failing cell is recorded (family "generated", ``facts.config``,
  ``facts.repro``) in ``fuzz-results.json`` (same schema as results.json).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

from conformance.run import results
from conformance.run.recorder import new_run_id, now, run_metadata
from conformance.run.environment import describe
from conformance.fuzz.model import Config
from conformance.run.options import OptionError, Settings, parse_converters, parse_opsets
from conformance.statuses import FUZZ_DISCARDED, FUZZ_FINE, Status

RESULTS_NAME = "fuzz-results.json"
KNOWN_FAILURES = Path(__file__).with_name("known_failures.toml")
DEFAULT_CONVERTERS = ("tf2onnx-keras",)
DEFAULT_OPSETS = (13,)



class FuzzFailure(AssertionError):
    """A generated cell ended in a failing status; one subclass per status, so hypothesis
    shrinks (and reports) each kind of failure separately."""

    status = ""


FAILURES = {s: type(f"Fuzz{s.value.title().replace('_', '')}", (FuzzFailure,), {"status": s.value})
            for s in Status if s not in FUZZ_FINE and s not in FUZZ_DISCARDED}


def fuzz_targets(settings: Settings, max_opset: int, explicit_converters: bool, explicit_opsets: bool):
    """Converters and opsets to fuzz: $CONFORMANCE_FUZZ_CONVERTERS / $CONFORMANCE_FUZZ_OPSETS, else
    --converters / --opsets when given on the command line, else tf2onnx-keras at opset 13."""
    env_conv = os.environ.get("CONFORMANCE_FUZZ_CONVERTERS")
    env_ops = os.environ.get("CONFORMANCE_FUZZ_OPSETS")
    if env_conv:
        converters = parse_converters(env_conv)
    elif explicit_converters and settings.converters:
        converters = settings.converters
    else:
        converters = DEFAULT_CONVERTERS
    if env_ops:
        opsets = parse_opsets(env_ops, max_opset)
    elif explicit_opsets:
        opsets = settings.opsets
    else:
        opsets = DEFAULT_OPSETS
    return tuple(converters), tuple(opsets)


class FuzzRunner:
    """One fuzz session: a Matrix of its own (own work directory, its known failures as a
    registry of causes), a cache of cells already run, and the failures to write down."""

    def __init__(self, settings: Settings, converters, opsets, profile: str = "", nodeid: str = "",
                 known_failures: Path | None = KNOWN_FAILURES, results_path: Path | None = None,
                 shrink_budget: float | None = None):
        from conformance.run.matrix import Matrix

        self.run_id = new_run_id("fuzz-")
        fuzz_settings = dataclasses.replace(settings, converters=tuple(converters), opsets=tuple(opsets),
                                            causes=known_failures)
        self.session = Matrix(fuzz_settings, self.run_id, process_id="fuzz")
        self.opsets = tuple(opsets)
        self.profile = profile
        self.nodeid = nodeid
        self.results_path = Path(results_path or settings.report_dir / RESULTS_NAME)
        self.started = now()
        self.cache: dict[tuple, dict] = {}
        self.examples = 0
        self.statuses: dict[str, int] = {}
        #: failure class name -> the last failing record of that kind (after shrinking: the minimal one)
        self.failures: dict[str, dict] = {}
        #: seconds of shrinking allowed after the first failure (None: hypothesis's own limits)
        self.shrink_budget = shrink_budget
        self.first_failure: float | None = None
        self.budget_exhausted = False

    def run_config(self, config: Config) -> list[dict]:
        """Every selected converter x opset on ``config``: decided records (cached by cell)."""
        from conformance.run.cells import Cell

        case = config.case()
        out = []
        for conv in self.session.selected:
            for opset in self.opsets:
                cell = Cell(case, conv, self.session.converters[conv][0], opset)
                key = (case.name, conv, opset)
                if key not in self.cache:
                    rec = self.session.run(cell)
                    rec["facts"]["config"] = config.to_json()
                    rec["facts"]["repro"] = config.source()
                    rec["nodeid"] = self.nodeid
                    self.cache[key] = rec
                    self.statuses[rec["status"]] = self.statuses.get(rec["status"], 0) + 1
                out.append(self.cache[key])
        return out

    def check(self, config: Config) -> None:
        """The property: raise a FuzzFailure subclass for a failing status; reject a degenerate model."""
        from hypothesis import reject

        self.examples += 1
        if self.shrink_over_budget() and not self.cached(config):
            # shrinking has had its time: a new candidate counts as invalid, so hypothesis settles on
            # the smallest failure found so far (replayed from the cache) instead of running more cells
            self.budget_exhausted = True
            reject()
        recs = self.run_config(config)
        bad = [r for r in recs if Status(r["status"]) not in FUZZ_FINE and Status(r["status"]) not in FUZZ_DISCARDED]
        if bad:
            rec = bad[0]
            exc = FAILURES[Status(rec["status"])]
            if self.first_failure is None:
                self.first_failure = time.monotonic()
            rec["facts"]["fuzz"] = {"shrink_budget_seconds": self.shrink_budget,
                                    "shrink_budget_exhausted": self.budget_exhausted}
            self.failures[exc.__name__] = rec
            raise exc(f"{rec['status']} for generated case {rec['case']} with {rec['converter']} at opset "
                      f"{rec['opset']}: {rec['reason']}\nrepro (paste into a --cases-module file):\n{rec['facts']['repro']}")
        if any(Status(r["status"]) in FUZZ_DISCARDED for r in recs):
            reject()

    def cached(self, config: Config) -> bool:
        return all((config.name, conv, opset) in self.cache for conv in self.session.selected for opset in self.opsets)

    def shrink_over_budget(self) -> bool:
        return (self.shrink_budget is not None and self.first_failure is not None
                and time.monotonic() - self.first_failure > self.shrink_budget)

    def document(self, complete: bool) -> dict:
        from conformance.run.matrix import converters_summary

        s = self.session.settings
        finished = now()
        recorded = list(self.failures.values())
        run = run_metadata(
            self.run_id, self.started, self.session, kind="fuzz", finished=finished.isoformat(),
            wall_seconds=(finished - self.started).total_seconds(), opsets=list(self.opsets),
            hypothesis_profile=self.profile, examples=self.examples, cells_run=len(self.cache),
            statuses=dict(sorted(self.statuses.items())), shrink_budget_seconds=self.shrink_budget,
            shrink_budget_exhausted=self.budget_exhausted,
            # every cell the session ran, in order: [case, converter, opset, status]
            fuzz_cells=[[r["case"], r["converter"], r["opset"], r["status"]] for r in self.cache.values()])
        return results.document(run, describe(s.stack), converters_summary(self.session, list(self.cache.values())),
                                recorded, [], complete=complete)

    def write(self, complete: bool = True) -> Path:
        return results.write(self.document(complete), self.results_path)

    def close(self) -> None:
        self.session.close(clean=True)
        shutil.rmtree(self.session.work_root, ignore_errors=True)


__all__ = ["FuzzRunner", "FuzzFailure", "FAILURES", "fuzz_targets", "OptionError", "RESULTS_NAME"]
