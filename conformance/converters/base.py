"""The converter interface: one small class per converter.

A converter module (built-in or ``--converters-module path.py``) exposes one or
more ``Converter`` instances at module level (or a ``CONVERTERS`` list).  The
module must be importable without TensorFlow: import the converter library in
``load`` and ``convert``.

Everything about a converter is in its module: its call, the packages it needs (``packages``: the
environment reports them, the stacks page and causes explain its rows by them, the ORT-only child
must not load them) and the same call for a standalone repro script (``repro()``: a
:class:`Repro` whose helpers are functions of the converter's modules, copied into the script as
they are, so the script converts the way the converter does).
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

from cases.api import KERAS, SAVED_MODEL, TF_KERAS, Case
from cases.model_io import is_structured, model_input


class OpsetRejected(Exception):
    """Raise from ``convert`` when the converter itself refused the requested opset."""


class ConverterCrashed(Exception):
    """The converter's process died of a signal (segfault, abort, killed): the cell is CRASH."""


class ConverterTimedOut(Exception):
    """The converter's process overran the cell's time limit and was killed: the cell is TIMEOUT."""


@dataclasses.dataclass
class Conversion:
    """What a converter produced."""

    model: Any  # onnx.ModelProto
    #: ONNX output names in the order of the Keras model's outputs (None: graph order)
    output_names: list[str] | None = None
    #: the exact command or call used, for the report's repro line
    command: str = ""


@dataclasses.dataclass
class ConvertContext:
    """Everything a converter may need besides the model."""

    case: Case
    opset: int
    #: scratch directory of this cell (removed after the cell)
    workdir: Path
    #: directory kept for this case for the worker's life (e.g. a SavedModel shared across opsets)
    case_dir: Path
    #: Keras inputs and outputs: [(name, shape with None for unknown, dtype name)]
    inputs: list[tuple[str, tuple, str]]
    outputs: list[tuple[str, tuple, str]]
    deadline: float
    #: memo shared by every cell this worker runs: key -> value
    memo: dict = dataclasses.field(default_factory=dict)
    #: runs command-line converters (conformance.worker.launcher.Launcher, given by the worker); see :meth:`run_module`
    launcher: Any = None

    def remaining(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    def run_module(self, module: str, args: list[str]):
        """Run ``python -m module args`` for this cell through the run's launcher (warm or fresh, see
        ``--cli-launch``) within the cell's remaining time.  Returns the completed process (exit code,
        stdout, stderr); raises OpsetRejected when tf2onnx refused the opset, ConverterCrashed /
        ConverterTimedOut when the process died or overran, RuntimeError for any other non-zero exit.
        User converter modules call this for their own command lines."""
        if self.launcher is None:   # the worker (and the benchmarks) give one; converters import no worker code
            raise RuntimeError(f"`python -m {module}`: this ConvertContext has no launcher (launcher=...)")
        launcher = self.launcher
        done = launcher.run(module, list(map(str, args)), timeout=self.remaining())
        text = done.stderr + done.stdout
        if done.timed_out:
            raise ConverterTimedOut(f"`python -m {module}` did not finish within the cell's time limit "
                                    f"({launcher.mode} launch, killed after {done.seconds:.0f} s)")
        if done.returncode < 0:
            raise ConverterCrashed(f"`python -m {module}` died of {done.signal_name} ({launcher.mode} launch)"
                                   + (f"; last output: {last_error_line(text)}" if text.strip() else ""))
        if done.returncode != 0:
            raise exit_error(done.returncode, text)
        return done

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """Compute ``make()`` once per worker for this case and ``key``."""
        full = (self.case.module, self.case.name, key)
        if full not in self.memo:
            self.memo[full] = make()
        return self.memo[full]


@dataclasses.dataclass(frozen=True)
class Repro:
    """How a standalone repro script (:mod:`conformance.checks.repro`) converts like a converter.

    ``check`` and ``helpers`` are functions of the converter's modules; the script holds their source
    as it is (``inspect.getsource``), with every function of this project they call in turn, so the
    script and the converter run the same code.  They may use what the script has besides: the
    standard library modules ``os``, ``re``, ``subprocess``, ``sys``, ``tempfile``, numpy as ``np``,
    :mod:`cases.model_io` and :mod:`conformance.checks.standalone`."""

    #: raises when the converter cannot be used (called with no argument; the converter's ``load`` calls it too)
    check: Callable[[], Any]
    #: the body of the script's ``convert(model, work)``, which returns (onnx ModelProto, ONNX output names in
    #: Keras's output order or None); ``onnx`` is imported, ``work`` is a scratch directory, and the script's
    #: globals are ``OPSET``, ``FLAVOUR`` (``KERAS`` or ``TF_KERAS``), ``INPUT_SPECS`` ([(name, shape, dtype)]),
    #: ``OUTPUT_SPECS`` ([(name, shape, dtype, rtol, atol)]) and ``helpers``
    convert: str
    #: the functions ``convert`` calls
    helpers: tuple = ()
    #: environment variables the script sets before anything imports Keras ((name, value), e.g. the row's
    #: ``KERAS_BACKEND``)
    environment: tuple = ()


class Converter:
    #: row name in the matrix
    name: ClassVar[str] = ""
    #: the pip distribution whose version identifies the converter
    distribution: ClassVar[str] = ""
    #: one line for the report
    summary: ClassVar[str] = ""
    #: which Keras flavours it takes (cases.api.KERAS, cases.api.TF_KERAS; cases.api.SAVED_MODEL for a
    #: converter that takes a SavedModel directory, ``ctx.case.source``)
    keras_flavours: ClassVar[frozenset] = frozenset({KERAS, TF_KERAS})
    #: the Keras backend its worker runs (KERAS_BACKEND); the matrix keeps one worker pool per backend
    backend: ClassVar[str] = "tensorflow"
    #: the distributions it needs (its ``distribution`` and what else it imports besides the suite's stack of
    #: TensorFlow, Keras, onnx, onnxruntime and numpy), in the order its rows are explained by (the stacks page's
    #: "works since"); the environment reports them, the ORT-only child must not load them
    #: (:func:`conformance.loader.converter_packages`)
    packages: ClassVar[tuple[str, ...]] = ()

    def load(self) -> str:
        """Import the converter library; return its version.  Raise if it cannot be used here."""
        raise NotImplementedError

    def accepts(self, case: Case) -> str | None:
        """None if the converter takes this case, else why not (NOT_APPLICABLE)."""
        if case.keras not in self.keras_flavours:
            if case.keras == SAVED_MODEL:
                return (f"{self.name} converts a Keras model object; this case is a TensorFlow SavedModel directory, "
                        "not a Keras model (tf2onnx-cli takes the directory itself)")
            return f"{self.name} converts {' or '.join(sorted(self.keras_flavours))} models; this case is built with {case.keras}"
        return None

    def convert(self, model, ctx: ConvertContext) -> Conversion:
        raise NotImplementedError

    def repro(self) -> Repro | None:
        """The same conversion in a standalone repro script; None: the script names the suite's call and stops."""
        return None

    def __repr__(self) -> str:
        return f"<converter {self.name}>"


def tf2onnx_rejects_opset(text: str) -> bool:
    """tf2onnx's own refusal of an opset (``make_sure failure: Opset 19 is not supported yet``)."""
    return re.search(r"Opset \d+ is not supported", text) is not None


def tf2onnx_version() -> str:
    """tf2onnx's version; raises when it cannot be imported (the tf2onnx rows' load)."""
    import tf2onnx

    return tf2onnx.__version__


def exit_error(returncode: int, text: str) -> Exception:
    """What a command-line converter's non-zero exit means, ``text`` its output: its own refusal of the
    opset (OpsetRejected), or a failure with its last error line."""
    if tf2onnx_rejects_opset(text):
        return OpsetRejected(last_error_line(text))
    return RuntimeError(f"exit code {returncode}: {last_error_line(text)}")


@contextlib.contextmanager
def tf2onnx_opset_refusal():
    """Turn tf2onnx's refusal of an opset (a ValueError) into OpsetRejected."""
    try:
        yield
    except ValueError as exc:
        if tf2onnx_rejects_opset(str(exc)):
            raise OpsetRejected(str(exc)) from exc
        raise


def tensor_specs(inputs) -> list:
    """tf.TensorSpec for each Keras input (``ctx.inputs``: [(name, shape, dtype)]), named like the Keras input
    (a dict-input model: its key), flat, in the order of ``model.inputs``."""
    import tensorflow as tf

    inputs = getattr(inputs, "inputs", inputs)  # a ConvertContext, as user converter modules passed before
    return [tf.TensorSpec(shape, tf.as_dtype(dtype), name=name) for name, shape, dtype in inputs]


def input_signature(model, inputs) -> list:
    """The input signature of a call ``model(x)`` (``inputs``: ``ctx.inputs``): a list with one entry per
    positional argument.  A model that takes a dict (or a nested structure) of inputs gets
    ``[{"token_ids": tf.TensorSpec(...), ...}]``, its structure with a named spec per input
    (:func:`cases.model_io.model_input`); a model that takes one tensor or a flat list gets the flat list of
    :func:`tensor_specs`, as before dict inputs were known."""
    inputs = getattr(inputs, "inputs", inputs)  # a ConvertContext, as user converter modules passed before
    specs = tensor_specs(inputs)
    if not is_structured(model):
        return specs
    return [model_input(model, specs, [name for name, _, _ in inputs])]


def keras_major() -> int:
    import keras

    return int(keras.__version__.split(".")[0])


def last_error_line(text: str) -> str:
    """The final exception line of a traceback printed by a subprocess."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*", ln) or ln.startswith("error:"):
            return ln
    return lines[-1] if lines else "(no output)"
