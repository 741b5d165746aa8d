"""Reading the suite's TOML data files (expectations.toml, stacks.toml) with one-line errors."""
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
