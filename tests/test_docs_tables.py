"""The tables of docs/statuses.md say what the code's tables say (conformance/statuses.py, conformance/stages.py).

The stage table is printed by ``python -m conformance.stages`` and must be in the docs as it is; the
status table's rows must name the statuses in the code's order with the same facts, and each meaning
must start with the code's (the docs may add an example or a detail after it).
"""
from __future__ import annotations

import re

from conformance import stages, statuses
from tests.helpers import ROOT

DOC = ROOT / "docs" / "statuses.md"


def markdown_table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def test_the_docs_stage_table_is_the_code_table():
    text = DOC.read_text(encoding="utf-8")
    expected = stages.markdown()
    assert expected in text, (f"docs/statuses.md's stage table differs from conformance/stages.py; "
                              f"replace it with the output of `python -m conformance.stages`:\n{expected}")
    assert [r[0].strip("`") for r in markdown_table(text, "| stage | label |")] == stages.ORDER


def _plain(text: str) -> str:
    return text.replace("`", "")


def test_the_docs_status_table_is_the_code_table():
    rows = markdown_table(DOC.read_text(encoding="utf-8"), "| status | meaning |")
    assert [r[0].strip("`") for r in rows] == statuses.ORDER, "the docs' statuses, in the status table's order"
    yes = {True: "yes", False: "no"}
    for name, meaning, pytest_outcome, expectable, rank, tried, fuzz, label in rows:
        f = statuses.facts(name.strip("`"))
        assert _plain(meaning).startswith(_plain(f.meaning)), f"{name}: the docs' meaning starts with {f.meaning!r}"
        assert (pytest_outcome, expectable, rank, tried, fuzz, label.strip("`")) == (
            f.outcome, yes[f.expectable], str(f.rank), yes[f.tried], f.fuzz, f.short), name
