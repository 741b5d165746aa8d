"""The suite against the plainest loop on the same seed cells, in one session.

    python -m benchmarks.seed_cells [--opsets 9,13,18] [--workers 2] [--cli-launch warm] [-o FILE]

Runs ``python -m benchmarks.plain_loop`` (one process, no isolation) and then

    pytest conformance/ -n WORKERS -m "seed and not slow" --converters tf2onnx-keras,keras-export,tf2onnx-cli
           --opsets OPSETS --causes none --report-dir reports/seed-cells

on the same cells (11 seed cases x 3 rows x 3 opsets = 99), one after the other so they never
share the cores, and prints both wall times, their ratio, the per-row conversion medians of
each, and the suite's overhead (``python -m conformance.report overhead``).  The numbers go to
``reports/seed-cells.json`` (or ``-o FILE``).  A benchmark, not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("tf2onnx-keras", "keras-export", "tf2onnx-cli")


def _plain(opsets: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.plain_loop", "--opsets", opsets], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: the plain loop failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _suite(opsets: str, workers: int, launch: str, report_dir: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "pytest", "conformance/", "-q", "-p", "no:cacheprovider", "-n", str(workers),
           "-m", "seed and not slow", "--converters", ",".join(ROWS), "--opsets", opsets,
           "--causes", "none", "--cli-launch", launch, "--report-dir", str(report_dir)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    results = report_dir / "results.json"
    if not results.is_file():
        raise SystemExit(f"error: the suite wrote no results (exit {proc.returncode}): {proc.stdout[-500:]}")
    return wall, json.loads(results.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.seed_cells", description=__doc__.splitlines()[0])
    ap.add_argument("--opsets", default="9,13,18")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cli-launch", default="warm", choices=("warm", "fresh"))
    ap.add_argument("-o", "--output", default=str(ROOT / "reports" / "seed-cells.json"))
    args = ap.parse_args(argv)
    from conformance.report.overhead import measure

    plain = _plain(args.opsets)
    suite_wall, doc = _suite(args.opsets, args.workers, args.cli_launch, ROOT / "reports" / "seed-cells")
    medians = {}
    for row in ROWS:
        secs = [r["stages"]["convert"]["seconds"] for r in doc["records"]
                if r["converter"] == row and r["stages"].get("convert", {}).get("ok")]
        medians[row] = statistics.median(secs) if secs else None
    over = measure(doc)
    out = {"plain_loop": plain, "suite": {"wall_seconds": suite_wall, "cells": len(doc["records"]),
                                          "statuses": _count(doc), "workers": args.workers,
                                          "cli_launch": args.cli_launch, "convert_median_seconds": medians,
                                          "overhead": over},
           "ratio_suite_to_plain": suite_wall / plain["wall_seconds"]}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    print(f"plain loop: {plain['cells']} cells in {plain['wall_seconds']:.1f} s (1 process)")
    print(f"suite:      {len(doc['records'])} cells in {suite_wall:.1f} s (-n {args.workers}, --cli-launch "
          f"{args.cli_launch}; pytest's own wall time, interpreter start included)")
    print(f"ratio suite / plain loop: {out['ratio_suite_to_plain']:.2f}x")
    print("conversion medians (s):   " + "  ".join(f"{r}" for r in ROWS))
    for who, m in (("plain loop", plain["convert_median_seconds"]), ("suite", medians)):
        print(f"  {who:<22}  " + "  ".join(f"{(m.get(r) or 0):.3f}".rjust(len(r)) for r in ROWS))
    if over.get("overhead_fraction_of_raw") is not None:
        print(f"suite overhead: {over['overhead_seconds']:.1f} s = {over['overhead_fraction_of_raw']:.1%} of the raw "
              f"work ({over['raw_seconds']:.1f} process-seconds)")
    print(f"wrote {args.output}")
    return 0


def _count(doc: dict) -> dict:
    out: dict[str, int] = {}
    for r in doc["records"]:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
