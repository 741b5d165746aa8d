"""Saved models as cases: ``--model PATH`` (a ``.keras`` or ``.h5`` file, or a SavedModel directory).

A model file is a case whose weights are real (trained), not a seeded random initialisation.  It is
plain data on both sides of the worker boundary: its *module reference* is ``model:PATH`` (or
``model:PATH|INPUTS.npz``), which :func:`conformance.loader.find_case` hands to :func:`case_for`, so
a worker rebuilds the case from the reference alone.  Declaring one imports no TensorFlow; the
file is loaded in the conversion worker, under the Keras backend of the row.

- ``.keras``: ``keras.saving.load_model(path, compile=False)``; a file written by tf_keras (Keras 2,
  ``metadata.json`` says so) is loaded with tf_keras.
- ``.h5``: the same, by the ``keras_version`` the file records: Keras 3 (or the stack's own Keras 2)
  with ``keras``, a Keras 2 file on a Keras 3 stack with tf_keras.
- a SavedModel directory: ``tf.saved_model.load(path).signatures["serving_default"]`` is the
  reference.  It is no Keras model: the rows that convert a Keras object are NOT_APPLICABLE,
  tf2onnx-cli converts the directory itself.

What Keras needs to load a user's file: ``--custom-objects FILE.py`` (repeatable) names modules that
are imported before any model loads (classes they register with
``keras.saving.register_keras_serializable`` resolve, and a module-level ``custom_objects`` dict is
handed to the loader); ``--unsafe-deserialization`` says the file is trusted, so Keras's safe mode is
off and ``Lambda`` layers load.  Both travel as a :class:`Loading` in each task; a file that does not
load is one line naming what could not be found and the flag that would help (:func:`load_error`).

Inputs: the arrays of ``--inputs FILE.npz``, named like the model's inputs (a model that takes a dict:
its keys, e.g. ``token_ids``), or generated from the model's input specs and what its layers say
(:func:`cases.inputs.from_specs` with :func:`cases.inputs.input_hints`: token ids inside the
embedding's vocabulary, padding masks with real padding) with a seeded rng.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import re
import sys
import types
import zipfile
from functools import partial
from pathlib import Path

import numpy as np

from cases.api import KERAS, SAVED_MODEL, TF_KERAS, Case, import_tf_keras

PREFIX = "model:"
FAMILY = "model-file"
#: the seed of the generated inputs (the model itself needs none: its weights are in the file)
SEED = 0
BATCH = 3
KINDS = {".keras": "Keras v3 file", ".h5": "HDF5 file", ".hdf5": "HDF5 file"}


class ModelFileError(ValueError):
    """A model path or an inputs file that cannot be used; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Loading:
    """What Keras is given to load a saved file: the user's modules of custom objects (paths of ``.py``
    files, imported before any model loads) and whether the file is trusted (safe mode off)."""

    custom_objects: tuple[str, ...] = ()
    unsafe: bool = False

    def to_json(self) -> dict:
        return {"custom_objects": list(self.custom_objects), "unsafe_deserialization": self.unsafe}

    @classmethod
    def from_json(cls, data) -> "Loading":
        data = data or {}
        return cls(tuple(str(p) for p in data.get("custom_objects") or ()), bool(data.get("unsafe_deserialization")))


#: the loading options of this process (a worker sets them from each task: :func:`configure`)
_LOADING = Loading()
#: module path -> its ``custom_objects`` dict, once imported
_IMPORTED: dict[str, dict] = {}
#: the most characters a load error's line keeps
ERROR_LIMIT = 400


def check_custom_objects(paths) -> tuple[str, ...]:
    """``--custom-objects`` paths, resolved; a ModelFileError (one line) for a missing or non-.py path."""
    out = []
    for path in paths or ():
        p = Path(path)
        if not p.is_file():
            raise ModelFileError(f"--custom-objects {path}: no such file")
        if p.suffix != ".py":
            raise ModelFileError(f"--custom-objects {path}: not a Python file (.py) of custom Keras objects")
        out.append(str(p.resolve()))
    return tuple(dict.fromkeys(out))


def _import_module(path: str) -> dict:
    """Import the module at ``path`` under its file's name (so a class it registers, or a config naming
    the module, resolves) and return its ``custom_objects`` dict ({} without one)."""
    if path in _IMPORTED:
        return _IMPORTED[path]
    name = Path(path).stem
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ModelFileError(f"--custom-objects {Path(path).name} failed to import: "
                             f"{_one_line(f'{type(exc).__name__}: {exc}')}") from None
    objs = getattr(module, "custom_objects", None) or {}
    if not isinstance(objs, dict):
        raise ModelFileError(f"--custom-objects {Path(path).name}: 'custom_objects' must be a dict of name -> "
                             f"object, not {type(objs).__name__}")
    _IMPORTED[path] = dict(objs)
    return _IMPORTED[path]


def configure(loading: Loading) -> None:
    """Make ``loading`` this process's: its modules imported now (before any model loads), safe mode set."""
    global _LOADING
    for path in loading.custom_objects:
        _import_module(path)
    _LOADING = loading


def current_loading() -> Loading:
    return _LOADING


def custom_objects() -> dict:
    """Every ``custom_objects`` dict of the configured modules, merged (later modules win)."""
    merged: dict = {}
    for path in _LOADING.custom_objects:
        merged.update(_import_module(path))
    return merged


def _one_line(text: str, limit: int = ERROR_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 4] + " ..."


_NOT_FOUND = (
    re.compile(r"Could not locate (class|function) '([^']+)'"),
    re.compile(r"Could not deserialize (class) '([^']+)' because its parent module (\S+) cannot be imported"),
    re.compile(r"Unknown (layer|activation function|loss function|metric function|initializer|regularizer|"
               r"constraint|object)[^:]*: '?([\w.>]+)'?"),
)
_LAMBDA = re.compile(r"deserialization of a `?Lambda`? layer|Lambda.* is disallowed|unsafe_deserialization|safe_mode=False")


def load_error(exc: BaseException, path: str | Path, loading: Loading | None = None) -> str:
    """One line (at most ``ERROR_LIMIT`` characters) for a model file that does not load: what could not
    be found and the flag that would help; no config dump."""
    loading = loading or _LOADING
    text = str(exc)
    name = Path(path).name
    for pattern in _NOT_FOUND:
        m = pattern.search(text)
        if m is None:
            continue
        what, obj = m.group(1), m.group(2)
        what = "class" if what in ("class", "layer", "object") else "function" if "function" in what else what
        registered = re.search(r"'registered_name': '([\w.]+>" + re.escape(obj.split(">")[-1]) + r")'", text)
        shown = registered.group(1) if registered else obj
        if loading.custom_objects:
            given = ", ".join(Path(p).name for p in loading.custom_objects)
            help_ = (f"--custom-objects {given} does not define it (register it with "
                     "@keras.saving.register_keras_serializable or list it in the module's custom_objects dict)")
        else:
            help_ = "pass the module that defines it with --custom-objects FILE.py"
        return _one_line(f"{name}: could not find {what} '{shown}'; {help_}")
    if _LAMBDA.search(text):
        return _one_line(f"{name}: the model has a Lambda layer whose Python code Keras loads only from a trusted file "
                         "(safe mode); pass --unsafe-deserialization if you trust it")
    first = text.strip().splitlines()[0] if text.strip() else ""
    return _one_line(f"{name}: {type(exc).__name__}: {first}")


def kind_of(path: str | Path) -> str:
    """``.keras``, ``.h5`` or ``saved_model``; a ModelFileError for anything else (or a missing path)."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"--model {path}: no such file or directory")
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return "saved_model"
        raise ModelFileError(f"--model {path}: a directory without saved_model.pb (not a SavedModel)")
    suffix = p.suffix.lower()
    if suffix in KINDS:
        return ".h5" if suffix == ".hdf5" else suffix
    raise ModelFileError(f"--model {path}: not a .keras or .h5 file nor a SavedModel directory")


def case_name(path: str | Path) -> str:
    """The case's name: the file name without its suffix (the directory's name for a SavedModel)."""
    p = Path(path).resolve()
    stem = p.name if p.is_dir() else p.stem
    return re.sub(r"[^A-Za-z0-9_.]", "_", stem) or "model"


def ref_for(path: str | Path, inputs: str | Path | None = None) -> str:
    p = str(Path(path).resolve())
    if "|" in p or (inputs and "|" in str(inputs)):
        raise ModelFileError(f"--model {path}: a path with '|' cannot be used")
    return PREFIX + p + (f"|{Path(inputs).resolve()}" if inputs else "")


def is_ref(ref: str) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def parse_ref(ref: str) -> tuple[str, str | None]:
    body = ref[len(PREFIX):]
    path, _, inputs = body.partition("|")
    return path, (inputs or None)


def _keras_major() -> int:
    import importlib.metadata as md

    try:
        return int(md.version("keras").split(".")[0])
    except (md.PackageNotFoundError, ValueError):
        return 0


def _saved_keras_version(path: Path, kind: str) -> str:
    """The Keras version the file says wrote it ('' when it does not say or cannot be read)."""
    try:
        if kind == ".keras":
            with zipfile.ZipFile(path) as z:
                return str(json.loads(z.read("metadata.json")).get("keras_version", ""))
        if kind == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                v = f.attrs.get("keras_version", "")
                return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:  # unreadable here: the worker's loader will say why
        return ""
    return ""


def flavour_of(path: str | Path) -> str:
    """Which Keras loads the file: cases.api.KERAS, TF_KERAS (a Keras 2 file on a Keras 3 stack) or SAVED_MODEL."""
    kind = kind_of(path)
    if kind == "saved_model":
        return SAVED_MODEL
    written_by = _saved_keras_version(Path(path), kind)
    if written_by.startswith("2.") and _keras_major() >= 3:
        return TF_KERAS
    return KERAS


def case_for(ref: str) -> Case:
    """The case of a ``model:PATH[|INPUTS]`` reference."""
    path, inputs = parse_ref(ref)
    flavour = flavour_of(path)
    what = {KERAS: "Keras", TF_KERAS: "tf_keras (Keras 2)", SAVED_MODEL: "TensorFlow SavedModel"}[flavour]
    fed = f"inputs from {Path(inputs).name}" if inputs else "inputs generated from its input specs"
    return Case(name=case_name(path), family=FAMILY, build=partial(build, path, flavour, inputs),
                build_returns_inputs=True, keras=flavour, seed=SEED, batch=BATCH, module=ref, source=path,
                description=f"saved model {Path(path).name} ({what}, trained weights; {fed})")


# --- the worker side: loading the file and its inputs ---------------------------------------------

class SavedModelCase:
    """A SavedModel's ``serving_default`` signature, shaped like a Keras model for the worker:
    ``inputs`` (name = signature key, shape, dtype), ``output_names`` (signature output keys) and
    ``model(x, training=False)`` returning the outputs in that order."""

    def __init__(self, path: str):
        import tensorflow as tf

        self.path = str(path)
        self.loaded = tf.saved_model.load(self.path)
        signatures = dict(self.loaded.signatures)
        if "serving_default" not in signatures:
            raise ModelFileError(f"SavedModel {path} has no 'serving_default' signature (it has {sorted(signatures)})")
        self.fn = signatures["serving_default"]
        _args, kwargs = self.fn.structured_input_signature
        self._specs = dict(kwargs)
        self.inputs = [types.SimpleNamespace(name=k, shape=s.shape, dtype=s.dtype) for k, s in self._specs.items()]
        self.output_names = list(self.fn.structured_outputs)

    def __call__(self, x, training=False):
        import tensorflow as tf

        if isinstance(x, dict):  # by signature key
            xs = [x[k] for k in self._specs]
        else:
            xs = list(x) if isinstance(x, (list, tuple)) else [x]
        feeds = {k: tf.convert_to_tensor(v, dtype=s.dtype) for (k, s), v in zip(self._specs.items(), xs)}
        out = self.fn(**feeds)
        return [out[k] for k in self.output_names]


def _call(fn, path: str, **kwargs):
    """``fn(path, **kwargs)`` with only the keyword arguments ``fn`` takes (an older Keras has no safe_mode)."""
    try:
        params = inspect.signature(fn).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in params}
    except (TypeError, ValueError):
        pass
    return fn(path, **kwargs)


def load_model(path: str, flavour: str, loading: Loading | None = None):
    """The saved model at ``path``, loaded with the configured custom objects and safe mode; a file that
    does not load raises ModelFileError with one line (:func:`load_error`)."""
    loading = loading or _LOADING
    if flavour == SAVED_MODEL:
        return SavedModelCase(path)
    objs = custom_objects()
    try:
        if flavour == TF_KERAS:
            return _call(import_tf_keras().models.load_model, path, compile=False, custom_objects=objs,
                         safe_mode=not loading.unsafe)
        import keras

        if loading.unsafe and hasattr(keras, "config") and hasattr(keras.config, "enable_unsafe_deserialization"):
            keras.config.enable_unsafe_deserialization()  # nested configs (a Lambda inside a model) too
        load = keras.saving.load_model if hasattr(keras, "saving") and hasattr(keras.saving, "load_model") \
            else keras.models.load_model
        return _call(load, path, compile=False, custom_objects=objs, safe_mode=not loading.unsafe)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(load_error(exc, path, loading)) from exc


def specs_of(model) -> list[tuple[str, tuple, str]]:
    """The model's inputs, named as it takes them (a dict-input model: by key; :mod:`cases.model_io`)."""
    from cases.model_io import input_specs

    return input_specs(model)


def _fmt(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def npz_arrays(npz: str, specs) -> list[np.ndarray]:
    """The arrays of ``npz`` in the model's input order; a ModelFileError naming the first mismatch."""
    name = Path(npz).name
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise ModelFileError(f"--inputs {name}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    want = [n for n, _, _ in specs]
    if set(arrays) != set(want):
        shown = ", ".join(f"{n} {d} {_fmt(s)}" for n, s, d in specs)
        raise ModelFileError(f"--inputs {name} has arrays {sorted(arrays)}; the model's inputs are {want} ({shown})")
    out = []
    for n, shape, dtype in specs:
        a = arrays[n]
        if a.dtype != np.dtype(dtype):
            raise ModelFileError(f"--inputs {name}: array {n!r} is {a.dtype}, the model's input {n!r} takes {dtype}")
        if a.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, a.shape)):
            raise ModelFileError(f"--inputs {name}: array {n!r} has shape {tuple(a.shape)}, the model's input {n!r} "
                                 f"is {_fmt(shape)}")
        if a.ndim == 0 or a.shape[0] < 1:
            raise ModelFileError(f"--inputs {name}: array {n!r} needs a batch of at least one row")
        out.append(a)
    if len({a.shape[0] for a in out}) > 1:
        raise ModelFileError(f"--inputs {name}: the arrays have different batch sizes {[a.shape[0] for a in out]}")
    return out


def build(path: str, flavour: str, inputs: str | None, seed: int = SEED, batch: int = BATCH):
    """(model, input arrays in the model's input order): the case's builder, in the conversion worker.
    Generated inputs fit the model (:func:`cases.inputs.input_hints`: ids inside the vocabulary, masks
    with real padding)."""
    from cases.inputs import from_specs, input_hints

    model = load_model(path, flavour)
    specs = specs_of(model)
    if inputs:
        return model, npz_arrays(inputs, specs)
    from cases.model_io import declared_batch

    # Input(batch_size=1): the model is fed that batch
    return model, from_specs(specs, np.random.default_rng(seed), declared_batch(specs) or batch, input_hints(model))


def check_inputs(path: str, inputs: str, loading: Loading | None = None) -> str | None:
    """Whether ``inputs`` fits the model of ``path``: None if it does (or if the model does not load: that
    is the cell's CASE_ERROR), else the one-line reason.  Runs in a subprocess of the pytest process
    (``python -m conformance.worker.probe``), which may import TensorFlow."""
    try:
        if loading is not None:
            configure(loading)
        model = load_model(path, flavour_of(path))
        specs = specs_of(model)
    except Exception:
        return None
    try:
        npz_arrays(inputs, specs)
    except ModelFileError as exc:
        return f"--model {Path(path).name}: {exc}"
    return None
