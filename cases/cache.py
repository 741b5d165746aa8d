"""Artifacts built once and reused across workers and runs, keyed by the package versions they
depend on (a local TF-Hub module built from a Keras application, say).

``$CONFORMANCE_CACHE_DIR``, else ``reports/cache/`` beside the suite (gitignored).  Case
families call :func:`cached_dir` from their builders, inside the conversion worker.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def cache_root() -> Path:
    """``$CONFORMANCE_CACHE_DIR``, else ``reports/cache/`` at the project root (gitignored); an installed
    suite (no checkout above the package) uses ``reports/cache/`` in the current directory (the plugin
    sets ``$CONFORMANCE_CACHE_DIR`` beside the report for its workers)."""
    env = os.environ.get("CONFORMANCE_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        root = Path.cwd()
    return root / "reports" / "cache"


def _version(dist: str) -> str:
    import importlib.metadata as md

    for name in {"tensorflow": ("tensorflow", "tensorflow-cpu")}.get(dist, (dist,)):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return "none"


def cached_dir(name: str, dists: tuple[str, ...], make) -> Path:
    """A directory built once by ``make(tmp_path)`` and reused while the versions of ``dists`` match.

    It is built under a unique temporary name next to its final place and
    renamed into place, so concurrent workers never see a half-built directory:
    the first rename wins, a later builder throws its copy away.
    """
    key = "-".join(f"{d.replace('-', '_')}{_version(d)}" for d in dists)
    final = cache_root() / f"{name}-{key}"
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        make(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
