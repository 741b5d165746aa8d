"""No paths of this machine in what gets committed (baselines, merged results, speedup tables).

A run records where it ran: its argv (``--report-dir /scratch/x``), the expectations file, the files a
merge read.  In a file that is committed and read on other machines those absolute paths say
nothing and leak the machine's layout, so :func:`portable` rewrites them: a path inside the
current directory (the checkout) becomes relative to it, any other absolute path keeps its last
two parts (never the top-level directory) behind ``...``
(``/scratch/stacks/legacy/results.json`` -> ``.../legacy/results.json``), and
an ``executable`` is its file name (``python3.11``).  Everything else is kept as it is.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

#: an absolute POSIX path inside a string: a slash not preceded by a word character, a dot, a
#: colon or another slash (so ``https://host/x``, ``a/b`` and ``./b`` are left alone)
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/[^\s'\"()\[\]{},;]+")


def portable_path(path: str, root: str | Path | None = None) -> str:
    """One absolute path, relative to ``root`` (default: the current directory) when inside it,
    else its last two parts behind ``...``; anything that is not an absolute path unchanged."""
    if not path.startswith("/"):
        return path
    p = PurePosixPath(path)
    base = PurePosixPath(os.path.abspath(root if root is not None else os.getcwd()))
    try:
        rel = p.relative_to(base)
    except ValueError:
        # never the top-level directory: ".../ci5/expectations.toml", ".../backends"
        return ".../" + "/".join(p.parts[max(len(p.parts) - 2, 2):]) if len(p.parts) > 2 else p.name
    return rel.as_posix() if str(rel) != "." else "."


def portable_text(text: str, root: str | Path | None = None) -> str:
    """Every absolute path inside ``text`` made portable (argv items, notes, ``--opt=/path``)."""
    return _ABSOLUTE.sub(lambda m: portable_path(m.group(0), root), text)


def portable(obj, root: str | Path | None = None, key: str | None = None):
    """A copy of ``obj`` (JSON-like) with every absolute path in its strings made portable; the
    value of an ``executable`` key is its file name."""
    if isinstance(obj, dict):
        return {k: portable(v, root, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable(v, root) for v in obj]
    if isinstance(obj, str):
        if key == "executable":
            return PurePosixPath(obj).name
        return portable_text(obj, root)
    return obj
