"""Reading the suite's TOML data files (causes.toml, stacks.toml) with one-line errors."""
from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: str | Path, what: str, error: type[Exception]) -> dict:
    """The TOML document at ``path``, or ``error`` with one line naming ``what`` the file should be."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{what} {p}: no such file")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {p}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {p}: not UTF-8 text") from None


def tables(items: list, label: str, keys, error: type[Exception]):
    """``(position, where, table)`` for each item of an array of tables (``[[...]]``), checked to be a
    table with only ``keys``; ``where`` ("FILE: entry #3") starts each error line."""
    for i, raw in enumerate(items, start=1):
        where = f"{label} #{i}"
        if not isinstance(raw, dict):
            raise error(f"{where}: must be a table")
        unknown = set(raw) - set(keys)
        if unknown:
            raise error(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {sorted(keys)})")
        yield i, where, raw
