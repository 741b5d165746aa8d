"""Exceptions as text for records and reasons: one line (type and message), and a traceback tail.

Standard library only: the ORT-only deployability child imports it too.
"""
from __future__ import annotations

import traceback


def error_text(exc: BaseException, limit: int = 4000) -> str:
    """``Type: message`` on one record line, cut at ``limit`` characters."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def traceback_tail(exc: BaseException, lines: int = 12) -> str:
    return "".join(traceback.format_exception(exc)[-lines:])
