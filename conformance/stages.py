"""The one stage table: every stage of a cell, in the order that decides its status.

A cell's checks leave their results in ``record["stages"]``, one plain dict per stage (``ok`` and
what the check found), under the stage's name (:class:`Stage`).  :data:`TABLE` lists the stages in
*precedence* order: :func:`conformance.run.verdict.decide` walks it and the first stage that failed
decides the status (a crash beats everything; a degenerate Keras reference only counts when every
other check passed).  The worker (:mod:`conformance.worker.pipeline`) runs the stages in the order
their inputs exist (the reference guard right after the build, the I/O signature before the run)
and names every stage it writes with :class:`Stage`; the page shows the deciding stage with its
``label``; a standalone repro script carries the table as data (:mod:`conformance.checks.repro`);
``docs/statuses.md`` lists it (``tests/test_docs_tables.py`` checks it).

A row says, for its stage:

* ``label``: the stage for people (the page's "Deciding stage", the docs);
* ``failures``: what a failed stage gives, the first whose ``when`` (a key of the stage's dict)
  is true, else the last (``when=None``): a status (``None``: the status the stage names in its own
  ``status`` field, as ``isolation`` does) and a reason, a :meth:`str.format` template over
  ``{err}`` (the stage's ``error``, else its ``problems`` joined, else "no detail"), ``{error}``,
  ``{reason}`` (the stage's own text; a template of that one field alone gives the value as it is),
  ``{failures}``, ``{problems}`` (the stage's list joined with "; "), ``{label}`` (the row's) and
  ``{after}`` (for a stage after which the worker goes on: whether onnxruntime still ran the model
  and what the comparison found, or nothing);
* ``absent``: what a stage missing from the record gives (``None``: nothing, the stage passed or
  never had to run; the worker stops at the first stage that cannot go on, so later stages are
  missing); a record without a converter import, a conversion or a comparison is a failure;
* ``ok_default``: what a present stage without ``ok`` reads as;
* ``gives``: every status the stage can give (checked against ``failures`` and the status table:
  every failing status comes from some stage, or from the causes);
* ``where``: the code that runs the check.

Adding a check that can fail a cell: write its check module (``conformance/checks/NAME.py``: a
function that returns the stage's plain dict, deciding nothing), call it in
``conformance/worker/pipeline.py`` where its inputs exist and store the result as
``stages[Stage.NAME]``, and add its member to :class:`Stage` and its row to :data:`TABLE` at the
place of its precedence (a status it gives that is new: one row in :mod:`conformance.statuses`
too).  ``verdict.decide``, the page, the repro scripts and the docs' check follow from the row;
then paste ``python -m conformance.stages`` into ``docs/statuses.md``.  A check that only informs
(``topk``, ``deploy``: they write ``facts``) never decides a status and has no row here.
"""
from __future__ import annotations

import dataclasses

from conformance.statuses import Name, Status


class Stage(Name):
    """The name of a stage: its key in ``record["stages"]`` (and ``record["stage"]``, the deciding one)."""
    ISOLATION = "isolation"
    AVAILABILITY = "availability"
    CASE = "case"
    APPLICABLE = "applicable"
    BUILD = "build"
    CONVERT = "convert"
    OPSET = "opset"
    CHECKER = "checker"
    SHAPE_INFERENCE = "shape_inference"
    SESSION = "session"
    RUN = "run"
    SIGNATURE = "signature"
    COMPARE = "compare"
    REFERENCE = "reference"


@dataclasses.dataclass(frozen=True)
class Failure:
    status: Status | None   # None: the status the stage itself names (its "status" field)
    reason: str             # a str.format template (fields: see the module's docstring)
    when: str | None = None  # a key of the stage's dict that selects this failure; None: the default


@dataclasses.dataclass(frozen=True)
class Row:
    stage: Stage
    label: str
    failures: tuple[Failure, ...]
    gives: tuple[Status, ...]
    where: str
    absent: Failure | None = None
    ok_default: bool = False

    def failure(self, stage: dict) -> Failure:
        """The failure a failed ``stage`` (its dict) gives."""
        return next(f for f in self.failures if f.when is None or stage.get(f.when))


_ = Row
F = Failure
S = Status
#: the stages in the order of precedence: the first that failed decides the cell's status
TABLE: dict[Stage, Row] = {r.stage: r for r in (
    _(Stage.ISOLATION, "the worker process (crash, timeout)", (F(None, "{error}"),), (S.CRASH, S.TIMEOUT),
      "conformance/worker/pool.py", ok_default=True),
    _(Stage.AVAILABILITY, "converter import", (F(S.UNAVAILABLE, "converter unavailable: {err}"),), (S.UNAVAILABLE,),
      "conformance/worker/pipeline.py (the converter's load)",
      absent=F(S.UNAVAILABLE, "converter unavailable: no detail")),
    _(Stage.CASE, "loading the case", (F(S.CASE_ERROR, "case failed to load: {err}"),), (S.CASE_ERROR,),
      "conformance/loader.py"),
    _(Stage.APPLICABLE, "the converter takes the case", (F(S.NOT_APPLICABLE, "{reason}"),), (S.NOT_APPLICABLE,),
      "the converter's accepts(); the case's build raising CaseNotApplicable"),
    _(Stage.BUILD, "building the Keras model and its reference outputs",
      (F(S.CASE_ERROR, "case failed to build: {err}"),), (S.CASE_ERROR,), "conformance/worker/pipeline.py"),
    _(Stage.CONVERT, "conversion",
      (F(S.UNSUPPORTED_OPSET, "converter rejected the opset: {err}", when="opset_rejected"),
       F(S.CONVERT_ERROR, "conversion failed: {err}")), (S.UNSUPPORTED_OPSET, S.CONVERT_ERROR),
      "conformance/converters/", absent=F(S.CONVERT_ERROR, "conversion failed: no detail")),
    _(Stage.OPSET, "the model declares the requested opset",
      (F(S.UNSUPPORTED_OPSET, "converter ignored the opset: {err}{after}"),), (S.UNSUPPORTED_OPSET,),
      "conformance/checks/standalone.py (opset_check)"),
    _(Stage.CHECKER, "onnx.checker (full_check)", (F(S.INVALID, "{label} rejects the model: {err}{after}"),),
      (S.INVALID,), "conformance/checks/validity.py"),
    _(Stage.SHAPE_INFERENCE, "strict shape inference", (F(S.INVALID, "{label} rejects the model: {err}{after}"),),
      (S.INVALID,), "conformance/checks/validity.py"),
    _(Stage.SESSION, "onnxruntime session", (F(S.RUNTIME_ERROR, "onnxruntime cannot load the model: {err}"),),
      (S.RUNTIME_ERROR,), "conformance/checks/runtime.py"),
    _(Stage.RUN, "onnxruntime run", (F(S.RUNTIME_ERROR, "onnxruntime failed to run the model: {err}"),),
      (S.RUNTIME_ERROR,), "conformance/worker/pipeline.py"),
    _(Stage.SIGNATURE, "I/O signature", (F(S.SIGNATURE, "I/O signature differs from Keras: {err}{after}"),),
      (S.SIGNATURE,), "conformance/checks/runtime.py"),
    _(Stage.COMPARE, "outputs vs Keras", (F(S.MISMATCH, "outputs differ from Keras: {failures}"),),
      (S.MISMATCH, S.CRASH), "conformance/checks/compare.py",
      absent=F(S.CRASH, "the worker returned no comparison")),
    _(Stage.REFERENCE, "reference guard (Keras's outputs prove something)",
      (F(S.DEGENERATE, "Keras reference is degenerate, so agreement proves nothing: {problems} "
                       "(fix the case's inputs or initialisation)"),),
      (S.DEGENERATE,), "conformance/checks/compare.py"),
)}
del _, F, S
assert list(TABLE) == list(Stage), "every stage needs a row, in the order of the Stage enum"



class TargetStage(Name):
    """The name of a stage of a target (:mod:`conformance.targets`): its key in ``record["targets"][NAME]["stages"]``."""
    ISOLATION = "isolation"
    APPLICABLE = "applicable"
    AVAILABILITY = "availability"
    TRANSFORM = "transform"
    SESSION = "session"
    RUN = "run"
    COMPARE = "compare"


_ = Row
F = Failure
S = Status
#: the stages of a target on a cell, in the order of precedence (the same rules as :data:`TABLE`): a target runs
#: the cell's converted model after the cell, in a second task to the same worker
TARGET_TABLE: dict[TargetStage, Row] = {r.stage: r for r in (
    _(TargetStage.ISOLATION, "the worker process (crash, timeout)", (F(None, "{error}"),), (S.CRASH, S.TIMEOUT),
      "conformance/worker/pool.py", ok_default=True),
    _(TargetStage.APPLICABLE, "onnxruntime ran the converted model", (F(S.NOT_APPLICABLE, "{reason}"),),
      (S.NOT_APPLICABLE,), "conformance/run/matrix.py (a target runs where the cell's onnxruntime run did)"),
    _(TargetStage.AVAILABILITY, "the target's packages import", (F(S.UNAVAILABLE, "target unavailable: {err}"),),
      (S.UNAVAILABLE,), "the target's load() (conformance/targets/)",
      absent=F(S.UNAVAILABLE, "target unavailable: no detail")),
    _(TargetStage.TRANSFORM, "the target's transform of the model",
      (F(S.CONVERT_ERROR, "the target's transform failed: {err}"),), (S.CONVERT_ERROR,),
      "the target's transform() (conformance/targets/)"),
    _(TargetStage.SESSION, "the target's runtime loads the model",
      (F(S.RUNTIME_ERROR, "the target's runtime cannot load the model: {err}"),), (S.RUNTIME_ERROR,),
      "the target's open() (conformance/targets/)"),
    _(TargetStage.RUN, "the target's runtime runs the model",
      (F(S.RUNTIME_ERROR, "the target's runtime failed to run the model: {err}"),), (S.RUNTIME_ERROR,),
      "conformance/worker/targets.py"),
    _(TargetStage.COMPARE, "outputs vs Keras and vs the cell's onnxruntime run (the target's yardstick)",
      (F(S.MISMATCH, "outputs differ from Keras: {failures}"),), (S.MISMATCH,), "conformance/checks/yardstick.py",
      absent=F(S.CRASH, "the worker returned no comparison for the target")),
)}
del _, F, S
assert list(TARGET_TABLE) == list(TargetStage), "every target stage needs a row, in the order of the enum"
#: the reason of a target whose stages all passed
TARGET_PASS_REASON = "outputs match Keras (the target's yardstick)"

#: the reason of a cell whose stages all passed
PASS_REASON = "outputs match Keras at both batch sizes"
#: the stage names in the order of precedence
ORDER = [s.value for s in TABLE]
#: stage name -> its label for people
LABEL = {s.value: r.label for s, r in TABLE.items()}


def label(name: str | None) -> str:
    """The label of a stage (an unknown name, from a newer results file, as it is)."""
    return LABEL.get(str(name), str(name))


def markdown(table: dict | None = None) -> str:
    """The stage table of ``docs/statuses.md`` (``python -m conformance.stages`` prints it); ``table``: another
    (:data:`TARGET_TABLE`, docs/deploy.md: ``python -m conformance.stages targets``)."""
    lines = ["| stage | label | on failure | if missing | where |", "|---|---|---|---|---|"]
    for s, r in (table or TABLE).items():
        only_absent = {r.absent.status} - {f.status for f in r.failures} if r.absent else set()
        gives = ", ".join(f"`{g.value}`" for g in r.gives if g not in only_absent)
        missing = f"`{r.absent.status.value}`" if r.absent and r.absent.status else "passes"
        lines.append(f"| `{s.value}` | {r.label} | {gives} | {missing} | {r.where} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(markdown(TARGET_TABLE if sys.argv[1:] == ["targets"] else None))
