"""How much of a run's wall time is the raw work it contains, and how much is the suite.

    python -m conformance.report.overhead reports/results.json

Raw work per cell = conversion + onnxruntime session creation + onnxruntime runs,
plus, once per case and process, building the model and computing the Keras
reference.  The rest of (wall time x parallel processes) is the suite's overhead:
interpreter and TensorFlow start-up of the workers, pytest, validity checks,
comparison, results writing, and idle time from uneven sharding.
"""
from __future__ import annotations

import argparse
import sys

from conformance.run.results import ResultsError, load


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0


def measure(doc: dict) -> dict:
    convert = session = infer = build = checks = cells = explain = 0.0
    for r in doc["records"]:
        cells += _num(r.get("seconds"))
        explain += _num(r.get("explain_seconds"))
        st = r.get("stages", {})
        convert += _num(st.get("convert", {}).get("seconds"))
        session += _num(st.get("session", {}).get("seconds"))
        run_s = st.get("run", {}).get("seconds")
        if isinstance(run_s, dict):
            infer += sum(_num(v) for v in run_s.values())
        b = st.get("build", {})
        if b.get("ok") and not b.get("cached"):
            build += _num(b.get("seconds"))
        checks += _num(r.get("facts", {}).get("check_seconds"))
    run = doc["run"]
    wall = _num(run.get("wall_seconds"))
    procs = max(1, int(run.get("xdist_workers") or 1))
    raw = convert + session + infer + build
    capacity = wall * procs
    return {
        "cells": len(doc["records"]), "processes": procs, "wall_seconds": wall,
        "raw_seconds": raw, "convert_seconds": convert, "session_seconds": session, "infer_seconds": infer,
        "build_and_reference_seconds": build, "validity_check_seconds": checks,
        "overhead_seconds": capacity - raw,
        # where the overhead goes: inside the cells (worker start-up, checks, comparison, round trips),
        # the second task of failing cells (first divergent layer, repro), and the rest (pytest and
        # xdist, collection, session start and end, idle workers at the end)
        "in_cells_seconds": max(0.0, cells - raw), "explain_seconds": explain,
        "outside_cells_seconds": capacity - max(cells, raw) - explain,
        "overhead_fraction_of_raw": (capacity - raw) / raw if raw else None,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.report.overhead", description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a results.json of a finished run")
    args = ap.parse_args(argv)
    try:
        m = measure(load(args.results))
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not m["wall_seconds"]:
        print("error: this results file has no wall time (an interrupted or rebuilt run)", file=sys.stderr)
        return 2
    print(f"cells {m['cells']}, processes {m['processes']}, wall {m['wall_seconds']:.1f} s "
          f"(capacity {m['wall_seconds'] * m['processes']:.1f} process-seconds)")
    print(f"raw work {m['raw_seconds']:.1f} s = conversion {m['convert_seconds']:.1f} + ORT sessions "
          f"{m['session_seconds']:.1f} + ORT runs {m['infer_seconds']:.1f} + model build & Keras reference "
          f"{m['build_and_reference_seconds']:.1f}")
    frac = m["overhead_fraction_of_raw"]
    print(f"suite overhead {m['overhead_seconds']:.1f} s = {frac:.1%} of the raw work "
          f"(of which validity checks {m['validity_check_seconds']:.1f} s)" if frac is not None else "no raw work")
    print(f"  in the cells (worker start-up, checks, comparison, round trips) {m['in_cells_seconds']:.1f} s; "
          f"failing cells' second task (first divergent layer, repro) {m['explain_seconds']:.1f} s; "
          f"outside the cells (pytest, xdist, start and end, idle) {m['outside_cells_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
