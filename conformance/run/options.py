"""Command-line options of the suite, parsed and validated into ``Settings``.

Parsing is pure (no pytest, no TensorFlow) so the project's tests can check it;
every bad value raises ``OptionError`` with one line for the user.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

DEFAULT_OPSETS = (9, 11, 13, 15, 17, 18)
DEFAULT_TIMEOUT = 900.0
CLI_LAUNCH_MODES = ("warm", "fresh")
#: the share of the machine's memory that the conversion workers may use together (split between them);
#: 0.75 was measured too low: two ResNet50 conversions at once crossed 8.8 GiB each (RSS, shared pages twice)
MEMORY_SHARE = 0.85


class OptionError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Settings:
    converters: tuple[str, ...] | None   # None: all registered
    opsets: tuple[int, ...]
    case_modules: tuple[str, ...]
    converter_modules: tuple[str, ...]
    #: the registry of known failures (causes.toml), None for none
    causes: Path | None
    report_dir: Path
    timeout: float
    threads: int
    keep_onnx: bool
    stack: str
    #: how command-line converters start: "warm" (fork of a preloaded server) or "fresh" (new interpreter)
    cli_launch: str = "warm"
    #: memory of one conversion worker and its children, in bytes (0: no check): a hard limit when given
    #: with --worker-memory, else the worker's share of the machine, enforced only when the machine runs out
    worker_memory: int = 0
    worker_memory_hard: bool = False
    #: saved model files as cases (--model, with --inputs): module references ``model:PATH[|INPUTS]``
    #: (cases.files); when there are any, the built-in case families are left out
    models: tuple[str, ...] = ()
    #: --custom-objects: the user's modules of custom Keras objects (absolute paths), imported in every worker
    #: before any model loads
    custom_objects: tuple[str, ...] = ()
    #: --unsafe-deserialization: the model files are trusted (Keras's safe mode off: Lambda layers load)
    unsafe_deserialization: bool = False
    #: --minimize [SECONDS]: after the run, reduce every unexplained failing cell within this budget (0: off)
    minimize: float = 0.0
    #: --targets: what users do next with the converted model (conformance.targets), beside the cell's own
    #: onnxruntime run ("ort", always): the other targets' names, in the order given
    targets: tuple[str, ...] = ()
    #: --targets-module: the user's target modules (absolute paths or dotted names)
    target_modules: tuple[str, ...] = ()

    @property
    def loading(self):
        """What the workers give Keras to load a saved file (:class:`cases.files.Loading`)."""
        from cases.files import Loading

        return Loading(self.custom_objects, self.unsafe_deserialization)


def parse_opsets(text: str, max_known: int) -> tuple[int, ...]:
    out = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        if "-" in part[1:]:
            lo, hi = part.split("-", 1)
            if not (lo.strip().isdigit() and hi.strip().isdigit()) or int(lo) > int(hi):
                raise OptionError(f"--opsets: {part!r} is not a range such as 9-13")
            out.extend(range(int(lo), int(hi) + 1))
            continue
        if not part.isdigit():
            raise OptionError(f"--opsets: {part!r} is not an opset number (use e.g. --opsets 9,11,13 or 9-13)")
        out.append(int(part))
    if not out:
        raise OptionError("--opsets: no opset given")
    for o in out:
        if not 1 <= o <= max_known:
            raise OptionError(f"--opsets: {o} is not an ONNX opset (the installed onnx knows 1..{max_known})")
    return tuple(sorted(set(out)))


def parse_converters(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise OptionError("--converters: no converter named")
    return names


def parse_targets(text: str | None) -> tuple[str, ...]:
    """``--targets ort,openvino,...``: the targets beside the cell's own onnxruntime run (``ort``, always run)."""
    if text is None:
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in str(text).split(",") if n.strip()))
    if not names:
        raise OptionError("--targets: no target named (e.g. --targets ort,openvino,fp16)")
    return tuple(n for n in names if n != "ort")


def check_targets(selected: tuple[str, ...], known: list[str]) -> list[str]:
    unknown = [n for n in selected if n not in known]
    if unknown:
        raise OptionError(f"--targets: unknown target(s) {', '.join(unknown)} (known: ort, {', '.join(known)})")
    return list(selected)


def check_converters(selected: tuple[str, ...] | None, known: list[str]) -> list[str]:
    if selected is None:
        return list(known)
    unknown = [n for n in selected if n not in known]
    if unknown:
        raise OptionError(f"--converters: unknown converter(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return list(selected)


def default_threads() -> int:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def machine_memory() -> int:
    """Total memory in bytes (0 if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def default_worker_memory() -> int:
    """85 % of the machine's memory shared by the xdist workers (24 GiB, -n 2: 10.2 GiB each)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return int(machine_memory() * MEMORY_SHARE / max(1, workers))


def parse_memory(text) -> int:
    """``--worker-memory``: GiB as a number (``6``, ``0.5``), or ``0``/``none`` for no limit."""
    t = str(text).strip().lower()
    if t in ("0", "none", "off"):
        return 0
    try:
        gib = float(t.removesuffix("gib").removesuffix("g"))
    except ValueError:
        raise OptionError(f"--worker-memory: {text!r} is not a size in GiB (e.g. 6 or 0.5; 0 for no limit)") from None
    if not gib > 0 or gib != gib:
        raise OptionError(f"--worker-memory: {text!r} must be a positive number of GiB (0 for no limit)")
    return int(gib * 2**30)


def parse_models(models, inputs) -> tuple[str, ...]:
    """``--model PATH`` (repeatable) and ``--inputs FILE.npz`` (repeatable: the N-th belongs to the N-th
    --model) as case module references; a missing path, an unknown kind or a stray .npz is one error line.
    Whether an .npz fits its model is asked of the model itself later (conformance.worker.probe)."""
    from cases.files import ModelFileError, case_name, kind_of, ref_for

    models, inputs = list(models or ()), list(inputs or ())
    if len(inputs) > len(models):
        raise OptionError(f"--inputs: {len(inputs)} .npz file(s) for {len(models)} --model path(s); "
                          "the N-th --inputs belongs to the N-th --model")
    refs, names = [], {}
    for i, path in enumerate(models):
        try:
            kind_of(path)
        except ModelFileError as exc:
            raise OptionError(str(exc)) from None
        npz = inputs[i] if i < len(inputs) else None
        if npz is not None:
            p = Path(npz)
            if not p.is_file():
                raise OptionError(f"--inputs {npz}: no such file")
            if p.suffix.lower() != ".npz":
                raise OptionError(f"--inputs {npz}: not an .npz file (numpy.savez(path, input_name=array, ...))")
        name = case_name(path)
        if name in names:
            raise OptionError(f"--model {path}: its case name {name!r} is also the name of --model {names[name]}; "
                              "rename one of the files")
        names[name] = path
        refs.append(ref_for(path, npz))
    return tuple(refs)


#: the registry of causes at the root of a checkout (and shipped in the package)
CAUSES_FILE = "causes.toml"


def settings_from(getoption, rootdir: Path, max_opset: int, packaged_causes: Path | None = None) -> Settings:
    """Build Settings from pytest's ``config.getoption``.  ``rootdir`` holds the default causes.toml
    and reports/; ``packaged_causes`` is the default when ``rootdir`` has no causes.toml."""
    opsets = parse_opsets(getoption("opsets") or ",".join(map(str, DEFAULT_OPSETS)), max_opset)
    causes = getoption("causes")
    if causes is None:
        default = rootdir / CAUSES_FILE
        if not default.is_file() and packaged_causes is not None:
            default = packaged_causes
        causes = default if default.is_file() else None
    elif str(causes).lower() in ("", "none"):
        causes = None
    else:
        causes = Path(causes)
    timeout = getoption("cell_timeout")
    if timeout is not None and timeout <= 0:
        raise OptionError("--cell-timeout must be a positive number of seconds")
    threads = getoption("conformance_threads")
    if threads is not None and threads < 1:
        raise OptionError("--conformance-threads must be at least 1")
    report_dir = Path(getoption("report_dir") or rootdir / "reports")
    if not report_dir.is_absolute():
        report_dir = Path.cwd() / report_dir
    return Settings(
        converters=parse_converters(getoption("converters")),
        opsets=opsets,
        case_modules=tuple(_as_path(m) for m in getoption("cases_module") or ()),
        converter_modules=tuple(_as_path(m) for m in getoption("converters_module") or ()),
        causes=causes,
        report_dir=report_dir,
        timeout=float(timeout or DEFAULT_TIMEOUT),
        threads=int(threads or default_threads()),
        keep_onnx=bool(getoption("keep_onnx")),
        stack=getoption("stack") or os.environ.get("CONFORMANCE_STACK") or "default",
        cli_launch=_cli_launch(getoption("cli_launch")),
        worker_memory=default_worker_memory() if getoption("worker_memory") is None
        else parse_memory(getoption("worker_memory")),
        worker_memory_hard=getoption("worker_memory") is not None,
        models=parse_models(_option(getoption, "model"), _option(getoption, "inputs")),
        custom_objects=parse_custom_objects(_option(getoption, "custom_objects")),
        unsafe_deserialization=bool(_option(getoption, "unsafe_deserialization")),
        minimize=_minimize_budget(_option(getoption, "minimize")),
        targets=parse_targets(_option(getoption, "targets")),
        target_modules=tuple(_as_path(m) for m in _option(getoption, "targets_module") or ()),
    )


def _minimize_budget(value) -> float:
    if value is None:
        return 0.0
    try:
        budget = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"--minimize: {value!r} is not a number of seconds") from None
    if not budget > 0:
        raise OptionError("--minimize: the time budget must be a positive number of seconds")
    return budget


def parse_custom_objects(paths) -> tuple[str, ...]:
    """``--custom-objects FILE.py`` (repeatable) as absolute paths; a missing or non-.py file is one error line."""
    from cases.files import ModelFileError, check_custom_objects

    try:
        return check_custom_objects(paths)
    except ModelFileError as exc:
        raise OptionError(str(exc)) from None


def _as_path(ref: str) -> str:
    """A module given as a file path, made absolute (the workers run in another directory); a dotted name as is."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        p = Path(ref)
        return str(p if p.is_absolute() else (Path.cwd() / p).resolve()) if p.exists() else ref
    return ref


def _option(getoption, name: str):
    """An option that callers of settings_from may not know (tests pass their own getoption)."""
    try:
        return getoption(name)
    except (ValueError, KeyError, AttributeError):
        return None


def _cli_launch(value) -> str:
    mode = str(value or "warm").strip().lower()
    if mode not in CLI_LAUNCH_MODES:
        raise OptionError(f"--cli-launch: {value!r} is not one of {', '.join(CLI_LAUNCH_MODES)}")
    return mode
