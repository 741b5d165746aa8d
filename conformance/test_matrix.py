"""The conformance matrix: one test per case x converter x opset.

It runs the cell and reports the decided record; it decides nothing itself.
"""
import pytest

RECORD_KEY = "conformance_record"


def test_cell(cell, conformance, record_property):
    record = conformance.run(cell)
    record_property(RECORD_KEY, record)
    message = f"{record['status']}: {record['reason']}"
    if record["outcome"] == "skipped":
        pytest.skip(message)
    elif record["outcome"] == "xfailed":
        pytest.xfail(message)
    elif record["outcome"] == "failed":
        pytest.fail(message, pytrace=False)
