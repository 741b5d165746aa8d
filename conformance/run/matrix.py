"""The parent side of a run: which cells exist, and running one to a decided record.

A ``Matrix`` lives in each pytest process.  It loads cases,
converters and expectations (cheap: no TensorFlow), hands each cell to the
isolated worker pool as plain data, decides the status from what comes back
and applies the expectation entry.  It never renders anything.
"""
from __future__ import annotations

import shutil
import time

from conformance.loader import builtin_modules as builtin_case_modules
from conformance.loader import load_cases
from conformance import converters as converter_registry
from conformance.run import expectations as expectations_mod
from conformance.run.environment import requirement_versions
from conformance.worker.pool import WorkerPool
from conformance.run.options import Settings, check_converters
from conformance.run.cells import Cell
from conformance.run.statuses import outcome
from conformance.run.verdict import apply_expectation, decide


class Matrix:
    def __init__(self, settings: Settings, run_id: str, process_id: str = "main"):
        self.settings = settings
        self.run_id = run_id
        self.cases = load_cases(builtin_case_modules() + list(settings.case_modules))
        self.converters = converter_registry.load_converters(
            converter_registry.builtin_modules() + list(settings.converter_modules))
        self.selected = check_converters(settings.converters, list(self.converters))
        self.expectations = expectations_mod.load(settings.expectations)
        self.versions = requirement_versions()
        self.matcher = expectations_mod.Matcher(self.expectations, self.versions)
        self.work_root = settings.report_dir / ".work" / run_id
        self.run_dir = self.work_root / process_id
        self._pool: WorkerPool | None = None

    def cells(self) -> list[Cell]:
        return [Cell(case, name, self.converters[name][0], opset)
                for case in self.cases for name in self.selected for opset in self.settings.opsets]

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.run_dir, self.settings.threads, memory_limit=self.settings.worker_memory)
        return self._pool

    def task(self, cell: Cell) -> dict:
        return {
            "case_module": cell.case.module, "case": cell.case.name,
            "converter_module": cell.converter_module, "converter": cell.converter,
            "opset": cell.opset, "timeout": self.settings.timeout, "cli_launch": self.settings.cli_launch,
            "keep_onnx_dir": str(self.settings.report_dir / "onnx") if self.settings.keep_onnx else None,
        }

    def run(self, cell: Cell) -> dict:
        t0 = time.perf_counter()
        raw = self.pool.run(self.task(cell), self.settings.timeout)
        return self.record(cell, raw, time.perf_counter() - t0)

    def record(self, cell: Cell, raw: dict, seconds: float) -> dict:
        decision = decide(raw["stages"])
        entry = self.matcher.find(cell.case.name, cell.converter, cell.opset)
        final = apply_expectation(decision, entry)
        conv = self.converters[cell.converter][1]
        return {
            "id": cell.id,
            "case": cell.case.name,
            "family": cell.case.family,
            "case_module": cell.case.module,
            "description": cell.case.description,
            "tags": sorted(cell.case.tags),
            "keras": cell.case.keras,
            "converter": cell.converter,
            "converter_summary": conv.summary,
            "opset": cell.opset,
            "stack": self.settings.stack,
            "status": final.status.value,
            "observed_status": decision.status.value,
            "stage": decision.stage,
            "expected_status": entry.status if entry else None,
            "outcome": outcome(final.status),
            "reason": final.reason,
            "expectation": entry.to_json() if entry else None,
            "seconds": seconds,
            "stages": raw["stages"],
            "facts": raw.get("facts", {}),
        }

    def stale(self) -> list[dict]:
        """Entries that match no collected cell (every case x converter x opset of these options)."""
        self.matcher.mark_collected((c.case.name, c.converter, c.opset) for c in self.cells())
        return [e.to_json() for e in self.matcher.stale()]

    def close(self, clean: bool = True) -> None:
        if self._pool is not None:
            self._pool.close()
        if clean:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def converters_summary(session: Matrix, records: list[dict]) -> dict:
    """Per converter: what it is and whether it was available, from the records of the run."""
    out = {}
    for name in session.selected:
        ref, conv = session.converters[name]
        info = {"module": ref, "distribution": conv.distribution, "summary": conv.summary,
                "keras": sorted(conv.keras_flavours), "available": None, "version": None, "reason": None}
        for r in records:
            if r["converter"] == name and "availability" in r["stages"]:
                av = r["stages"]["availability"]
                info.update(available=av.get("ok"), version=av.get("version"), reason=av.get("error"))
                break
        out[name] = info
    return out
