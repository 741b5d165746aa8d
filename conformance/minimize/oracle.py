"""The one oracle of the reducer: does this candidate model fail the same way on the same converter and opset?

A candidate is saved as a model file with its inputs (the values recorded at its cut points) and run as
one cell through the suite's own worker pool (:class:`conformance.run.matrix.Matrix`, no second task):
the same build, conversion, checks and verdict as any cell, the same isolation (a converter that
crashes or hangs costs a CRASH or TIMEOUT cell, never the reducer).  It fails *the same way* when the
status and the deciding stage are the target's and the normalized signature is too, once node, layer
and tensor names are set aside (:func:`failure_key`: the names change when a model is cut).  Candidates
are cached by a hash of their architecture and weights.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from functools import partial
from pathlib import Path

import numpy as np

from conformance.causes import normalize, observed_reason, signature_of

#: characters of the name-free signature that must agree (the head of the message: what failed, not where)
KEY_CHARS = 160
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PATHLIKE = re.compile(r"[\w.:<>-]*/[\w./:<>-]*")
_NAME = re.compile(r"\b(?:Name|name|node|Node|input|output)[:=]?\s+[\w./:-]+")
_SPACE = re.compile(r"\s+")
#: where a run's explanation (the first divergent layer) starts in a signature: candidates run without it
_EXPLAINED = "; first divergent layer"
_NAMES = re.compile(r"<name>(?:, <name>)+")


def failure_key(status: str, stage: str | None, signature: str | None) -> str:
    """What must stay the same: the status, the stage and the signature without names (a MISMATCH is one
    failure whatever the numbers: outputs outside tolerance at the cut's own outputs; a CRASH or TIMEOUT is how
    the process died, without the log lines that follow)."""
    if status == "MISMATCH":
        return f"{status}@{stage}"
    text = normalize(signature or "").split(_EXPLAINED, 1)[0]   # what the failure is, not where the search found it
    if status in ("CRASH", "TIMEOUT"):  # how the process died, not what it logged last
        text = text.split(";", 1)[0]
    text = _QUOTED.sub("<name>", text)
    text = _PATHLIKE.sub("<name>", text)
    text = _NAME.sub("<name>", text)
    text = _NAMES.sub("<name>", text)   # how many names a list holds changes with the cut, not the failure
    return f"{status}@{stage}: {_SPACE.sub(' ', text).strip()[:KEY_CHARS]}"


@dataclasses.dataclass(frozen=True)
class Failure:
    status: str
    stage: str | None
    signature: str
    reason: str = ""

    @classmethod
    def of_record(cls, rec: dict) -> "Failure":
        """The failure the checks observed (before a cause was folded in)."""
        status = str(rec.get("observed_status") or rec.get("status"))
        reason = observed_reason(rec) or ""
        return cls(status, rec.get("stage"), signature_of(rec) or normalize(reason), reason)

    @property
    def key(self) -> str:
        return failure_key(self.status, self.stage, self.signature)

    def __str__(self) -> str:
        return f"{self.status} at {self.stage}: {' '.join(self.reason.split())[:200]}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The oracle's answer for one candidate: truthy when it fails the same way."""
    same: bool
    failure: Failure | None
    layers: int
    seconds: float
    cached: bool = False

    def __bool__(self) -> bool:
        return self.same

    def __str__(self) -> str:
        what = "same failure" if self.same else f"not the same: {self.failure}" if self.failure else "passes"
        return f"{self.layers} layer(s): {what} ({self.seconds:.1f} s{', cached' if self.cached else ''})"


def model_hash(model) -> str:
    h = hashlib.sha1(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


class Oracle:
    """Runs candidates as cells of ``converter`` at ``opset``; compares their failure with ``target``."""

    def __init__(self, target: Failure, converter: str, opset: int, work_dir: Path, *, timeout: float = 300,
                 loading=None, converter_modules: tuple[str, ...] = (), threads: int = 2):
        from conformance.run.matrix import Matrix
        from conformance.run.options import Settings

        self.target = target
        self.converter = converter
        self.opset = int(opset)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(converters=(converter,), opsets=(self.opset,), case_modules=(),
                            converter_modules=tuple(converter_modules), causes=None, report_dir=self.work_dir,
                            timeout=timeout, threads=threads, keep_onnx=False, stack="minimize",
                            custom_objects=tuple(getattr(loading, "custom_objects", ()) or ()),
                            unsafe_deserialization=bool(getattr(loading, "unsafe", False)))
        self.matrix = Matrix(settings, "minimize")
        self.cache: dict[str, Verdict] = {}
        self.calls = 0
        self.last_record: dict | None = None
        #: (module, case name, graph) once candidates are specs (:meth:`use_specs`), else None: model files
        self.spec_source = None

    def save(self, model, arrays, folder: Path) -> tuple[Path, Path]:
        from cases.model_io import input_names

        folder.mkdir(parents=True, exist_ok=True)
        path, npz = folder / "model.keras", folder / "inputs.npz"
        model.save(path)
        np.savez(npz, **dict(zip(input_names(model), arrays)))
        return path, npz

    def run(self, path: Path, npz: Path, explain: bool = False) -> dict:
        """One cell of the model file ``path`` with inputs ``npz``: its decided record."""
        from cases.files import case_for, ref_for
        from conformance.run.cells import Cell

        case = case_for(ref_for(path, npz))
        module = self.matrix.converters[self.converter][0]
        return self.matrix.run(Cell(case, self.converter, module, self.opset), explain=explain)

    def use_specs(self, module: str, name: str, graph) -> None:
        """From now on candidates are rebuilt in the worker from the original case ``name`` of ``module``
        (:mod:`conformance.minimize.spec`), not saved as files."""
        self.spec_source = (module, name, graph)
        self.cache.clear()

    def spec_module(self, c, folder: Path, case_name: str, doc: str = "") -> Path:
        """The case module of candidate ``c`` in ``folder`` (``case.py``)."""
        from conformance.minimize.spec import module_text

        module, name, graph = self.spec_source
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "case.py"
        path.write_text(module_text(module, name, graph.to_spec(c), case_name,
                                    f"{name} ({graph.describe(c)})", doc=doc), encoding="utf-8")
        return path

    def run_module(self, path: Path, case_name: str, explain: bool = False) -> dict:
        from conformance.loader import find_case
        from conformance.run.cells import Cell

        case = find_case(str(path), case_name)
        module = self.matrix.converters[self.converter][0]
        return self.matrix.run(Cell(case, self.converter, module, self.opset), explain=explain)

    def __call__(self, model, arrays, layers: int, candidate=None) -> Verdict:
        if self.spec_source is not None:
            key = hashlib.sha1(json.dumps(self.spec_source[2].to_spec(candidate), sort_keys=True).encode()).hexdigest()[:16]
            if key in self.cache:
                return dataclasses.replace(self.cache[key], cached=True)
            folder = self.work_dir / "candidates" / key
            run = partial(self.run_module, self.spec_module(candidate, folder, f"cand_{key}"), f"cand_{key}")
        else:
            try:
                key = model_hash(model)
                if key in self.cache:
                    return dataclasses.replace(self.cache[key], cached=True)
                path, npz = self.save(model, arrays, self.work_dir / "candidates" / key)
            except Exception as exc:  # noqa: BLE001 - Keras cannot save this model: one line, not a traceback
                from conformance.minimize.graph import CutError

                raise CutError(f"Keras cannot save it as a file: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:200]}") from None
            run = partial(self.run, path, npz)
        t0 = time.perf_counter()
        self.calls += 1
        rec = run()
        self.last_record = rec
        observed = str(rec.get("observed_status") or rec.get("status"))
        failure = None if observed == "PASS" else Failure.of_record(rec)
        same = failure is not None and failure.key == self.target.key
        verdict = Verdict(same, failure, layers, time.perf_counter() - t0)
        self.cache[key] = verdict
        return verdict

    def close(self) -> None:
        self.matrix.close(clean=True)


def dumps(v: Verdict) -> str:
    return json.dumps({"same": v.same, "layers": v.layers, "seconds": round(v.seconds, 2),
                       "failure": None if v.failure is None else str(v.failure)})
