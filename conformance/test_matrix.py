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
    # a target (--targets) that failed unexplained, or passed where a cause expects it to fail, fails the cell's
    # test whatever the cell did (a failure the target inherits from the cell is the cell's own)
    targets = [f"target {name}: {t['status']}{' at ' + t['stage'] if t.get('stage') else ''}: {t['reason']}"
               for name, t in (record.get("targets") or {}).items()
               if t.get("outcome") == "failed" and t.get("blame") != "conversion"]
    if targets:
        pytest.fail("\n".join(([message] if record["outcome"] == "failed" else []) + targets), pytrace=False)
    if record["outcome"] == "skipped":
        pytest.skip(message)
    elif record["outcome"] == "xfailed":
        pytest.xfail(message)
    elif record["outcome"] == "failed":
        pytest.fail(message, pytrace=False)
