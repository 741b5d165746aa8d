"""Fake results documents for the report tests (plain dicts in the results schema; no TensorFlow)."""
from __future__ import annotations

import copy

from conformance.run.results import SCHEMA_VERSION
from conformance.run.verdict import decide

PACKAGES = {"tensorflow": "2.21.0", "keras": "3.15.1", "tf2onnx": "1.17.0", "onnx": "1.23.2",
            "onnxruntime": "1.32.0", "numpy": "2.4.6"}


def rec(case: str, converter: str, opset: int, status: str, *, family: str = "dense", stack: str = "modern",
        reason: str | None = None, expectation: dict | None = None, **extra) -> dict:
    cid = f"{case}-{converter}-opset{opset}"
    passed = status in ("PASS", "XPASS")
    stages = {"availability": {"ok": True, "version": "1.0"}, "case": {"ok": True},
              "applicable": {"ok": True, "reason": None},
              "build": {"ok": True, "seconds": 0.5, "cached": False},
              "reference": {"ok": True, "problems": []},
              "convert": {"ok": True, "seconds": 1.25, "command": f"convert({case!r}, opset={opset})"},
              "checker": {"ok": True}, "shape_inference": {"ok": True}, "session": {"ok": True},
              "signature": {"ok": True, "problems": []}, "run": {"ok": True, "seconds": {"3": 0.01}},
              "compare": {"ok": passed, "failures": [] if passed else ["y: 3/6 elements outside"],
                          "batches": [{"batch": 3, "outputs": [{
                              "output": "y", "passed": passed, "rtol": 1e-4, "atol": 1e-5,
                              "shape_expected": [3, 2], "shape_actual": [3, 2], "dtype_expected": "float32",
                              "dtype_actual": "float32", "total": 6, "mismatched": 0 if passed else 3,
                              "nan_mismatched": 0, "max_abs": 1.5e-7, "max_rel": 2e-6, "mean_abs": 1e-8,
                              "p99_abs": 1e-7, "min_passing_atol": 0.0, "min_passing_rtol": 0.0,
                              "worst_index": [0, 1], "worst_expected": 0.5, "worst_actual": 0.5000001,
                              "problem": ""}]}]}}
    if status in ("CONVERT_ERROR",):
        stages["convert"] = {"ok": False, "error": reason or "ValueError: boom", "traceback": "Traceback ...\n",
                             "seconds": 0.3}
        for k in ("checker", "shape_inference", "session", "signature", "run", "compare"):
            stages.pop(k)
    r = {
        "id": cid, "case": case, "family": family, "case_module": f"cases.{family}",
        "description": f"{case} described", "tags": ["seed"], "keras": "keras", "converter": converter,
        "converter_summary": f"{converter}.convert(model)", "opset": opset, "stack": stack,
        "status": status, "observed_status": "MISMATCH" if status == "XFAIL" else status,
        "expected_status": "MISMATCH" if status == "XFAIL" else None,
        "outcome": {"PASS": "passed", "XFAIL": "xfailed"}.get(status, "failed"),
        "reason": reason if reason is not None else f"{status} because of reasons",
        "expectation": expectation, "seconds": 2.0, "stages": stages,
        "facts": {"op_histogram": {"MatMul": 2, "Add": 2, "Relu": 1}, "opset_import": {"": opset},
                  "model_bytes": 1234, "node_count": 5, "producer": "fake 1.0", "custom_domains": [],
                  "converter_version": "1.0", "max_abs_error": 1.5e-7, "max_rel_error": 2e-6,
                  "keras_inputs": [{"name": "x", "shape": [None, 4], "dtype": "float32"}],
                  "keras_outputs": [{"name": "y", "shape": [2], "dtype": "float32"}]},
        "nodeid": f"conformance/test_matrix.py::test_cell[{cid}]",
    }
    r["stage"] = decide(stages).stage
    r.update(extra)
    if "cause" in extra and expectation is None:  # a record of the causes contract carries no entry
        r.pop("expectation", None)
    return r


def cause(cid: str, *, kind: str = "silent wrong answer", status=("MISMATCH",), converters=("*",),
          link: str = "https://github.com/onnx/tensorflow-onnx/issues/1", strict: bool = True, when=(),
          title: str | None = None, reason: str | None = None, report: str = "", active: bool = True) -> dict:
    """One cause of the registry, as ``doc["causes"]`` carries it (``conformance.causes.table``)."""
    return {"id": cid, "title": title or f"{cid} described", "kind": kind, "status": list(status),
            "signature": "elements outside", "scope": [{"converters": list(converters)}], "when": list(when),
            "missing": [], "link": link, "report": report, "reason": reason or f"why {cid} fails",
            "strict": strict, "active": active}


def doc(records: list[dict], *, stack: str = "modern", packages: dict | None = None, complete: bool = True,
        stale: list | None = None, schema_version: int = SCHEMA_VERSION, run_id: str = "run-1",
        causes: dict | list | None = None, stale_causes: list | None = None) -> dict:
    """A results document; ``causes`` (a list of :func:`cause` entries, or id -> entry) and
    ``stale_causes`` (ids) are the causes contract's keys.  ``stale``: ids of stale causes, or (a
    file written before causes) stale expectation entries (dicts)."""
    convs = sorted({r["converter"] for r in records})
    entries = [e for e in stale or [] if isinstance(e, dict)]
    ids = [str(e) for e in stale or [] if not isinstance(e, dict)]
    out = {
        "schema_version": schema_version,
        "run": {"id": run_id, "started": "2026-11-23T06:00:00+00:00", "finished": "2026-11-23T06:01:00+00:00",
                "wall_seconds": 60.0, "complete": complete, "cells": len(records), "argv": ["conformance/"],
                "opsets": sorted({r["opset"] for r in records}), "converters": convs, "stack": stack,
                "expectations": None},
        "environment": {"stack": stack, "python": "3.11.7", "platform": "Linux", "machine": "x86_64",
                        "cpu_count": 2, "executable": "/venv/bin/python",
                        "implementation": "CPython", "packages": dict(packages or PACKAGES)},
        "converters": {c: {"module": f"conformance.converters.{c}", "summary": f"{c}.convert(model)",
                           "available": True, "version": "1.0", "reason": None} for c in convs},
        "stale_expectations": entries,
        "records": [dict(r, stack=stack) for r in copy.deepcopy(records)],
    }
    if causes is not None:
        out["causes"] = {c["id"]: c for c in causes} if isinstance(causes, list) else dict(causes)
    if stale_causes is not None or ids:
        out["stale_causes"] = list(stale_causes or []) + ids
    return out
