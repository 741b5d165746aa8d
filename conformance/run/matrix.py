"""The parent side of a run: which cells exist, and running one to a decided record.

A ``Matrix`` lives in each pytest process.  It loads cases,
converters and the registry of causes (cheap: no TensorFlow), hands each cell to the
isolated worker pool as plain data, decides the status from what comes back
and folds in the cause that explains it.  It never renders anything.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from conformance.loader import builtin_modules as builtin_case_modules
from conformance.loader import load_cases, load_converters, load_targets
from conformance import converters as converter_registry
from conformance import causes as causes_mod
from conformance.run.environment import requirement_versions
from conformance.worker.pool import WorkerPool
from conformance.run.options import Settings, check_converters, check_targets
from conformance.run.cells import Cell
from conformance.stages import Stage
from conformance.statuses import outcome
from conformance.run.slim import slim_record
from conformance.run.verdict import apply_causes, decide, decide_target, decide_target_cell


class Matrix:
    def __init__(self, settings: Settings, run_id: str, process_id: str = "main"):
        self.settings = settings
        self.run_id = run_id
        # saved model files (--model) replace the built-in case families; --cases-module adds to either
        builtin = [] if settings.models else builtin_case_modules()
        self.cases = load_cases(builtin + list(settings.case_modules) + list(settings.models))
        self.converters = load_converters(
            converter_registry.builtin_modules() + list(settings.converter_modules))
        self.selected = check_converters(settings.converters, list(self.converters))
        from conformance.targets import builtin_modules as builtin_target_modules

        #: what users do next with a converted model (conformance.targets): name -> (module, target); the run's
        #: selection beside the cell's own onnxruntime run
        self.targets = load_targets(builtin_target_modules() + list(settings.target_modules))
        self.selected_targets = check_targets(settings.targets, list(self.targets))
        self.causes = causes_mod.load(settings.causes)
        self.versions = requirement_versions()
        self.registry = causes_mod.Registry(self.causes, self.versions)
        self.work_root = settings.report_dir / ".work" / run_id
        self.run_dir = self.work_root / process_id
        #: repros that do not depend on the cell (a converter that cannot be imported): one per converter
        self.shared_repro: dict[tuple, dict] = {}
        #: converters whose import failed in this process's worker: (module, name, backend) -> availability stage
        self.unavailable: dict[tuple, dict] = {}
        #: one worker pool per Keras backend (Converter.backend): a converter's cells run in a worker
        #: started with KERAS_BACKEND set to its backend
        self._pools: dict[str, WorkerPool] = {}

    def cells(self) -> list[Cell]:
        return [Cell(case, name, self.converters[name][0], opset)
                for case in self.cases for name in self.selected for opset in self.settings.opsets]

    @property
    def pool(self) -> WorkerPool:
        """The pool of the TensorFlow backend (every row but the JAX and PyTorch exports)."""
        return self.pool_for_backend("tensorflow")

    def pool_for(self, cell: Cell) -> WorkerPool:
        return self.pool_for_backend(self.converters[cell.converter][1].backend)

    def pool_for_backend(self, backend: str) -> WorkerPool:
        if backend not in self._pools:
            from conformance.worker.pool import backend_env

            run_dir = self.run_dir if backend == "tensorflow" else self.run_dir / f"backend-{backend}"
            self._pools[backend] = WorkerPool(run_dir, self.settings.threads, memory_limit=self.settings.worker_memory,
                                              memory_hard=self.settings.worker_memory_hard,
                                              extra_env=backend_env(backend, self.settings.threads))
        return self._pools[backend]

    def task(self, cell: Cell) -> dict:
        return {
            "case_module": cell.case.module, "case": cell.case.name,
            "converter_module": cell.converter_module, "converter": cell.converter,
            "opset": cell.opset, "timeout": self.settings.timeout, "cli_launch": self.settings.cli_launch,
            "keep_onnx_dir": str(self.settings.report_dir / "onnx") if self.settings.keep_onnx else None,
            "loading": self.settings.loading.to_json(),
            # a user's model: the layer settings the causes' needs read (conformance.causes.Needs)
            "setting_keys": [] if causes_mod.own_case(cell.case.module) else self.registry.setting_keys(),
        }

    def run(self, cell: Cell, explain: bool = True) -> dict:
        """The cell's decided record; ``explain=False``: without the failing cell's second task (the reducer's
        candidates need only the verdict)."""
        t0 = time.perf_counter()
        key = (cell.converter_module, cell.converter, self.converters[cell.converter][1].backend)
        if key in self.unavailable:
            # the worker caches a converter's import for its life: the answer is the one it already gave
            raw = {"stages": {Stage.AVAILABILITY.value: dict(self.unavailable[key], reused=True)},
                   "facts": {"converter_version": None}}
        else:
            raw = self.pool_for(cell).run(self.task(cell), self.settings.timeout)
            stages = raw.get("stages") or {}
            if list(stages) == [Stage.AVAILABILITY] and stages[Stage.AVAILABILITY].get("ok") is False:
                self.unavailable[key] = stages[Stage.AVAILABILITY]
        record = self.record(cell, raw, time.perf_counter() - t0)
        if self.selected_targets:
            self.deploy(cell, record)
        if explain:
            self.explain_failure(cell, record)
        return slim_record(record)   # heavy facts only where they help (conformance/run/slim.py)

    def deploy(self, cell: Cell, record: dict) -> None:
        """The run's targets on the cell (``--targets``): a task per target to the same worker runs it on the
        converted model onnxruntime just ran (:mod:`conformance.worker.targets`); here each target's stages are
        decided (:func:`conformance.run.verdict.decide_target`) and matched against the causes as the cell is,
        into ``record["targets"][NAME]``.  A cell whose onnxruntime run did not happen gives every target
        NOT_APPLICABLE with the reason; a worker that dies or overruns on a target gives it CRASH or TIMEOUT;
        the cell's own status never changes.  The tasks' wall time is ``record["targets_seconds"]``."""
        from conformance.errors import error_text
        from conformance.stages import TargetStage, label

        names = self.selected_targets
        run = (record.get("stages") or {}).get(Stage.RUN.value) or {}
        raw: dict = {}
        if not run.get("ok"):
            at = f" at {label(record['stage'])}" if record.get("stage") else ""
            why = (f"not run: onnxruntime did not run the converted model (the cell is "
                   f"{record.get('observed_status')}{at})")
            raw = {n: {"stages": {TargetStage.APPLICABLE.value: {"ok": False, "reason": why}}} for n in names}
        else:
            # one task per target: a target that kills the worker (a segfault in a runtime) costs only itself; the
            # targets after it find a restarted worker without the conversion, and say so
            t0 = time.perf_counter()
            died_on = None
            for n in names:
                task = dict(self.task(cell), kind="targets", targets=[[self.targets[n][0], n]])
                try:
                    answer = self.pool_for(cell).run(task, self.settings.timeout)
                except Exception as exc:  # a bug of the parent side: the target says so, the cell stays
                    answer = {"stages": {"isolation": {"ok": False, "status": "CRASH",
                                                       "error": f"suite error: {error_text(exc, 300)}"}}}
                got = (answer.get("targets") or {}) if isinstance(answer, dict) else {}
                died = (answer.get("stages") or {}).get("isolation") if isinstance(answer, dict) else None
                if n in got:
                    raw[n] = got[n]
                    iso = (got[n].get("stages") or {}).get(TargetStage.ISOLATION.value)
                    if iso and died_on:
                        iso["error"] = f"{iso.get('error')}, after target {died_on} killed it"
                else:
                    why = died or {"ok": False, "status": "CRASH", "error": "the worker returned no result for it"}
                    raw[n] = {"stages": {TargetStage.ISOLATION.value: dict(why, ok=False)}}
                    died_on = n
            record["targets_seconds"] = time.perf_counter() - t0
        record["targets"] = {n: self.target_record(cell, record, n, raw[n]) for n in names}

    def target_record(self, cell: Cell, record: dict, name: str, raw: dict) -> dict:
        """One target's decided record on the cell: its status (the target's stage table, then the causes whose
        scope names the target), the stage that decided, the reason, whose a difference is (``blame``); the versions
        of its packages are in its availability stage (and the run's environment)."""
        import dataclasses as dc

        stages = raw.get("stages") or {}
        facts = raw.get("facts") or {}
        decision = decide_target(stages)
        blame = (stages.get("compare") or {}).get("blame")
        view = dc.replace(self.view(cell, record.get("facts") or {}), target=name)
        found: list = []

        def match():
            found.append(self.registry.match(view, decision.status.value, decision.reason))
            return found[0]
        final = decide_target_cell(decision, blame, record["status"], record.get("cause"), match)
        signature = found[0].signature if found else None
        out = {"status": final.status.value, "observed_status": decision.status.value, "stage": decision.stage,
               "outcome": outcome(final.status), "reason": final.reason, "cause": final.cause,
               "signature": signature, "blame": blame, "stages": stages, "facts": facts}
        return {k: v for k, v in out.items() if v is not None}

    def view(self, cell: Cell, facts: dict) -> "causes_mod.CellView":
        """What a cause's scope looks at of the cell (its case, row, opset, layers, ops, settings)."""
        layers, ops, settings = facts.get("keras_layers"), facts.get("op_histogram"), facts.get("layer_settings")
        return causes_mod.CellView(cell.case.name, cell.converter, cell.opset, frozenset(cell.case.tags),
                                   frozenset(layers) if layers else None, causes_mod.own_case(cell.case.module),
                                   frozenset(ops) if ops else None, tuple(settings) if settings else None,
                                   causes_mod.model_file(cell.case.module), facts.get("keras_model"))

    def explain_failure(self, cell: Cell, record: dict) -> None:
        """After the verdict, for a failing cell only: a second task to the same worker finds the first
        divergent layer, asks ONNX's reference evaluator for a second opinion (MISMATCH) and writes the
        standalone repro (conformance.worker.failing).  The status stays as decided; the results are
        ``record["divergence"]``, ``record["second_opinion"]`` and ``record["repro"]``, and the divergence's
        and the second opinion's lines join the reason.  The second task's wall time is
        ``record["explain_seconds"]`` (outside the cell's own ``seconds``).

        Repros are written for unexpected failures (final status not XFAIL) unless ``CONFORMANCE_REPRO``
        says ``on`` (every failing cell) or ``off`` (none).  Nothing here can drop or re-decide the record:
        whatever fails (the worker's steps, the worker itself, a summary line) becomes a line in
        ``record["notes"]`` and ``{"ok": False, "reason": ...}`` in the part it concerns."""
        from conformance.checks import second_opinion as opinion
        from conformance.checks.divergence import STATUSES as DIVERGE, summary
        from conformance.checks.repro import repro_mode
        from conformance.errors import error_text
        from conformance.statuses import REPRO_WITHOUT_MODEL, Status, facts as status_facts

        def note(text: str) -> None:
            record.setdefault("notes", []).append(text)

        try:
            observed = record["observed_status"]
            if status_facts(observed).outcome != "failed":
                return
            mode, problem = repro_mode(os.environ.get("CONFORMANCE_REPRO"))
            if problem:
                note(problem)
            want_repro = mode == "on" or (mode == "auto" and record.get("status") != Status.XFAIL.value)
            want_opinion = observed in opinion.STATUSES
            fake = cell.case.keras == "none"  # a fake of the suite's own tests: no Keras layers, nothing to save
            if fake and not (observed in DIVERGE or want_opinion):
                record["repro"] = {"ok": False, "reason": "not written: the case is not a Keras model"}
                return
            if not want_repro:
                why = "CONFORMANCE_REPRO=off" if mode == "off" else "an expected failure (CONFORMANCE_REPRO=auto)"
                record["repro"] = {"ok": False, "reason": f"not written: {why}; python -m conformance.report repro "
                                                         f"{cell.id} writes it"}
            convert = record["stages"].get("convert") or {}
            cell_id = cell.id
            shared = None
            if observed in REPRO_WITHOUT_MODEL and observed not in DIVERGE:
                # the repro only shows the converter's import failing: the same for every cell of the converter
                shared = (cell.converter_module, cell.converter, observed)
                if want_repro and shared in self.shared_repro:
                    record["repro"] = dict(self.shared_repro[shared])
                    return
                cell_id = f"{cell.converter}-{observed.lower()}"
            task = dict(self.task(cell), kind="diverge", observed_status=observed, reason=record["reason"],
                        cell_id=cell_id, stages=record["stages"], command=convert.get("command") or "",
                        divergence=observed in DIVERGE, second_opinion=want_opinion,
                        repro_dir=str(self.settings.report_dir / "repro") if want_repro else None)
            if not task["divergence"] and not want_opinion and not want_repro:
                return
            t0 = time.perf_counter()
            try:
                raw = self.pool_for(cell).run(task, self.settings.timeout)
            finally:
                record["explain_seconds"] = time.perf_counter() - t0
            if not isinstance(raw, dict):
                raw = {"stages": {"isolation": {"error": f"the worker answered {type(raw).__name__}, not a record"}}}
            if "isolation" in (raw.get("stages") or {}):  # the worker died, overran or raised on the second task
                why = f"not computed: {raw['stages']['isolation'].get('error')}"
                note(f"the second task failed: {raw['stages']['isolation'].get('error')}")
                raw = {"divergence": {"ok": False, "reason": why} if task["divergence"] else None,
                       "second_opinion": opinion.not_run(why) if want_opinion else None,
                       "repro": {"ok": False, "reason": why} if want_repro else None}
            for text in raw.get("notes") or []:
                note(text)
            lines = []
            for key, line in (("divergence", summary), ("second_opinion", opinion.summary)):
                if raw.get(key) is None:
                    continue
                record[key] = raw[key]
                try:
                    lines.append(line(raw[key]))
                except Exception as exc:  # a line that cannot be written must not cost the record
                    note(f"the {key.replace('_', ' ')} line failed: {error_text(exc, 300)}")
            tail = "; ".join(t for t in lines if t)
            if tail:
                record["reason"] = f"{record['reason']}; {tail}"
            if raw.get("repro") is not None:
                rep = dict(raw["repro"])
                if rep.get("path"):  # relative to the report directory (results.json and matrix.html live there)
                    try:
                        rep["path"] = str(Path(rep["path"]).resolve().relative_to(self.settings.report_dir.resolve()))
                    except ValueError:
                        pass
                record["repro"] = rep
                if shared is not None and rep.get("ok"):
                    self.shared_repro[shared] = rep
        except Exception as exc:  # a bug of the second task's parent side: the record stays as decided
            note(f"the second task failed: {error_text(exc, 300)}")

    def record(self, cell: Cell, raw: dict, seconds: float) -> dict:
        decision = decide(raw["stages"])
        view = self.view(cell, raw.get("facts") or {})
        match = self.registry.match(view, decision.status.value, decision.reason)
        final = apply_causes(decision, match)
        conv = self.converters[cell.converter][1]
        expected = match.cause or next((c for c in match.covering if c.id == final.cause), None)
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
            "expected_status": "|".join(expected.statuses) if expected else None,
            "outcome": outcome(final.status),
            "reason": final.reason,
            "signature": match.signature,
            "cause": final.cause,
            **({"cause_by": "needs"} if match.cause is not None and match.by == "needs" else {}),
            "seconds": seconds,
            "stages": raw["stages"],
            "facts": raw.get("facts", {}),
        }

    def causes_table(self) -> dict:
        return causes_mod.table(self.causes, self.versions)

    def stale(self, records: list[dict]) -> list[str]:
        """Ids of the causes this run could have seen (covered, converter available) and did not."""
        return [c.id for c in self.registry.stale(records)]

    def close(self, clean: bool = True) -> None:
        for pool in self._pools.values():
            pool.close()
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
