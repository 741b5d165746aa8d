"""The conformance matrix: one test per case x converter x opset.

It runs the cell and reports the decided record; it decides nothing itself.
"""
import pytest

from conformance.run.recorder import RECORD_KEY


def test_cell(cell, conformance, record_property):
    record = conformance.run(cell)
    record_property(RECORD_KEY, record)
    stage = f" at {record['stage']}" if record.get("stage") else ""
    message = f"{record['status']}{stage}: {record['reason']}"
    if record["outcome"] == "skipped":
        pytest.skip(message)
    elif record["outcome"] == "xfailed":
        pytest.xfail(message)
    elif record["outcome"] == "failed":
        pytest.fail(message, pytrace=False)
