"""The speedup table: onnxruntime against each Keras mode, from pytest-benchmark's results.

Input is pytest-benchmark's own JSON (``--benchmark-json FILE``, or a file that
``--benchmark-autosave`` wrote under ``.benchmarks/``) or the same entries
collected in-process by ``benchmarks/conftest.py``.  Only benchmarks whose
``extra_info`` names a ``case``, ``batch`` and ``mode`` take part; the
benchmark tests set those, so nothing here parses test names.

Modes:
    warm:  predict (``model.predict(x, verbose=0)``), call (``model(x,
           training=False)``), tf_function (a warmed-up ``tf.function`` of the
           call, jit_compile=False), onnxruntime (``session.run``).
    cold:  cold_keras, cold_onnxruntime: a fresh process that loads the saved
           model and predicts once.  Their ``median_s`` is measured inside the
           child, from the parent's launch timestamp to the first prediction
           (``extra_info["since_launch_s"]``, one value per run); the wall time
           of the whole child process (pytest-benchmark's own statistic) is
           kept as ``wall_median_s`` / ``wall_iqr_s``.

A row's ``speedup`` is how many times faster onnxruntime is than the row's mode
(this median / the onnxruntime median of the same case, batch and kind);
``speedup_low``/``speedup_high`` bound it with the quartiles of both sides
(q1/q3 and q3/q1).  Every warm row also carries the group's
``speedup_vs_predict``, ``speedup_vs_call`` and ``speedup_vs_tf_function``;
every cold row ``speedup_vs_cold_keras``.

    python -m benchmarks.speedup build BENCH.json [-o speedup.json] [--markdown]
    python -m benchmarks.speedup markdown speedup.json
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
from pathlib import Path

from conformance.report.speedup import SCHEMA_VERSION  # noqa: E402  (one schema for writer and reader)

ORT = "onnxruntime"
WARM_KERAS_MODES = ("predict", "call", "tf_function")
WARM_MODES = WARM_KERAS_MODES + (ORT,)
COLD_KERAS = "cold_keras"
COLD_ORT = "cold_onnxruntime"
COLD_MODES = (COLD_KERAS, COLD_ORT)
MODES = WARM_MODES + COLD_MODES
#: the onnxruntime mode each mode is compared with
ORT_OF = {**{m: ORT for m in WARM_MODES}, **{m: COLD_ORT for m in COLD_MODES}}
LABELS = {"predict": "predict", "call": "model(x)", "tf_function": "tf.function", ORT: "onnxruntime",
          COLD_KERAS: "Keras load+predict", COLD_ORT: "onnxruntime load+run"}


class SpeedupError(Exception):
    """Bad input; the message is one line for the user."""


def _summary(values: list[float]) -> dict:
    """Median, quartiles and spread, computed by pytest-benchmark's own Stats (same method as its tables)."""
    from pytest_benchmark.stats import Stats

    st = Stats()
    for v in values:
        st.update(float(v))
    return {"median_s": st.median, "iqr_s": st.iqr, "q1_s": st.q1, "q3_s": st.q3, "stddev_s": st.stddev,
            "mean_s": st.mean, "min_s": st.min, "max_s": st.max, "rounds": st.rounds}


def _row(entry: dict) -> dict | None:
    info = entry.get("extra_info") or {}
    stats = entry.get("stats") or {}
    mode = info.get("mode")
    if mode not in MODES or info.get("case") is None or info.get("batch") is None:
        return None
    row = {"case": str(info["case"]), "batch": int(info["batch"]), "mode": mode,
           "kind": "cold" if mode in COLD_MODES else "warm", "label": LABELS[mode],
           "benchmark": entry.get("fullname") or entry.get("name")}
    if mode in COLD_MODES:
        runs = info.get("since_launch_s") or []
        if not runs:
            return None
        row.update(_summary([float(v) for v in runs]))
        row["wall_median_s"] = stats.get("median")
        row["wall_iqr_s"] = stats.get("iqr")
        for part in ("import_s", "load_s", "predict_s"):
            if info.get(part):
                row[f"{part[:-2]}_median_s"] = statistics.median(float(v) for v in info[part])
        row["artifact"] = info.get("artifact")
    else:
        if stats.get("median") is None:
            return None
        row.update({"median_s": float(stats["median"]), "iqr_s": float(stats.get("iqr") or 0.0),
                    "q1_s": stats.get("q1"), "q3_s": stats.get("q3"),
                    "stddev_s": float(stats.get("stddev") or 0.0), "mean_s": stats.get("mean"),
                    "min_s": stats.get("min"), "max_s": stats.get("max"),
                    "rounds": int(stats.get("rounds") or 0), "iterations": stats.get("iterations")})
    for key in ("converter", "opset", "keras", "max_abs_diff", "outputs_match", "traces"):
        if key in info:
            row[key] = info[key]
    return row


def _ratio(a, b):
    return a / b if a is not None and b else None


def build_rows(benchmarks: list[dict]) -> list[dict]:
    """Speedup rows from pytest-benchmark entries (``output["benchmarks"]``)."""
    rows: dict[tuple, dict] = {}
    for entry in benchmarks:
        if not isinstance(entry, dict):
            raise SpeedupError("a benchmark entry is not an object")
        row = _row(entry)
        if row is None:
            continue
        key = (row["case"], row["batch"], row["mode"])
        if key in rows:
            raise SpeedupError(f"two benchmarks measure case {key[0]} batch {key[1]} mode {key[2]}")
        rows[key] = row
    for (case, batch, mode), row in rows.items():
        ort = rows.get((case, batch, ORT_OF[mode]))
        row["speedup"] = _ratio(row["median_s"], ort["median_s"]) if ort else None
        if ort and mode != ORT_OF[mode] and row.get("q1_s") is not None and ort.get("q3_s"):
            row["speedup_low"] = _ratio(row["q1_s"], ort["q3_s"])
            row["speedup_high"] = _ratio(row["q3_s"], ort["q1_s"]) if ort.get("q1_s") else None
        against = WARM_KERAS_MODES if mode in WARM_MODES else (COLD_KERAS,)
        for other in against:
            o = rows.get((case, batch, other))
            row[f"speedup_vs_{other}"] = _ratio(o["median_s"], ort["median_s"]) if o and ort else None
    order = {m: i for i, m in enumerate(MODES)}
    case_order: dict[str, int] = {}
    for case, _b, _m in rows:
        case_order.setdefault(case, len(case_order))
    return sorted(rows.values(), key=lambda r: (case_order[r["case"]], r["kind"] == "cold", r["batch"], order[r["mode"]]))


def build_document(benchmarks: list[dict], *, environment: dict | None = None, threads: dict | None = None,
                   conversion: dict | None = None, command: str | None = None, source: str = "") -> dict:
    """The speedup document; the paths of this machine in its command, environment and conversion are
    made portable (relative, or the interpreter's name), since the measured table is committed."""
    from conformance.report.portable import portable

    return {
        "schema_version": SCHEMA_VERSION,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": portable(command),
        "source": portable(source),
        "environment": portable(environment or {}),
        "threads": threads or {},
        "conversion": portable(conversion or {}),
        "rows": build_rows(benchmarks),
    }


def from_benchmark_json(doc: dict, source: str = "") -> dict:
    """A speedup document from a pytest-benchmark JSON document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise SpeedupError(f"{source or 'input'}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    extra = doc.get("conformance") or {}
    env = extra.get("environment") or {"machine_info": doc.get("machine_info", {})}
    return build_document(doc["benchmarks"], environment=env, threads=extra.get("threads"),
                          conversion=extra.get("conversion"), command=extra.get("command"),
                          source=source or "pytest-benchmark json")


def write(doc: dict, path: Path) -> Path:
    """Atomically, like every results file."""
    from conformance.run.results import write as write_json

    return write_json(doc, path)


def load(path: Path) -> dict:
    """A JSON object from ``path`` (pytest-benchmark's file), or SpeedupError with one line."""
    from conformance.run.results import ResultsError, read_json

    try:
        doc = read_json(path, "benchmark file")
    except ResultsError as exc:
        raise SpeedupError(str(exc)) from None
    if not isinstance(doc, dict):
        raise SpeedupError(f"{path}: not a JSON object")
    return doc


def load_speedup(path: Path) -> dict:
    """A speedup.json, read by the report's own reader (one reader for the page and this command)."""
    from conformance.report.speedup import load_speedup as read
    from conformance.run.results import ResultsError

    try:
        return read(path)
    except ResultsError as exc:
        raise SpeedupError(str(exc)) from None


# -- rendering -------------------------------------------------------------------------------

def fmt_seconds(s) -> str:
    if s is None:
        return "-"
    s = float(s)
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    return f"{fmt_seconds(row['median_s'])} ± {fmt_seconds(row['iqr_s'] / 2)}"


def _x(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _x_range(row: dict | None) -> str:
    if row is None or row.get("speedup") is None:
        return "-"
    text = _x(row["speedup"])
    lo, hi = row.get("speedup_low"), row.get("speedup_high")
    if lo is not None and hi is not None:
        text += f" ({lo:.2f}-{hi:.2f})"
    return text


def markdown(doc: dict) -> str:
    """Two markdown tables (warm, cold) ready to paste into the README."""
    rows = doc.get("rows") or []
    by = {(r.get("case"), r.get("batch"), r.get("mode")): r for r in rows}
    groups = list(dict.fromkeys((r.get("case"), r.get("batch")) for r in rows if r.get("kind") == "warm"))
    out = []
    if groups:
        out.append("| case | batch | predict | model(x) | tf.function | onnxruntime "
                   "| ORT vs predict | ORT vs model(x) | ORT vs tf.function |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for case, batch in groups:
            cells = [_cell(by.get((case, batch, m))) for m in WARM_MODES]
            if (by.get((case, batch, ORT)) or {}).get("outputs_match") is False:
                cells[-1] += " (outputs differ from Keras!)"
            ratios = [_x_range(by.get((case, batch, m))) for m in WARM_KERAS_MODES]
            out.append(f"| {case} | {batch} | " + " | ".join(cells + ratios) + " |")
    cold = list(dict.fromkeys((r.get("case"), r.get("batch")) for r in rows if r.get("kind") == "cold"))
    if cold:
        if out:
            out.append("")
        out.append("| case (cold start, batch) | Keras load+predict | onnxruntime load+run | ORT speedup "
                   "| Keras wall | onnxruntime wall | runs |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for case, batch in cold:
            k, o = by.get((case, batch, COLD_KERAS)), by.get((case, batch, COLD_ORT))
            runs = "/".join(str(r["rounds"]) for r in (k, o) if r)
            out.append(f"| {case} ({batch}) | {_cell(k)} | {_cell(o)} | {_x_range(k)} "
                       f"| {fmt_seconds((k or {}).get('wall_median_s'))} | {fmt_seconds((o or {}).get('wall_median_s'))} "
                       f"| {runs} |")
    if not out:
        return "(no benchmark rows)"
    notes = ["", "Times: median ± half the interquartile range. Speedup: Keras median / onnxruntime median "
             "(in brackets: the quartile bounds q1/q3 .. q3/q1)."]
    th = doc.get("threads") or {}
    if th:
        spin = (th.get("onnxruntime") or {}).get("allow_spinning")
        notes.append(f"Threads: intra-op {th.get('intra_op')}, inter-op {th.get('inter_op')} on both sides"
                     + (f"; onnxruntime allow_spinning {spin}." if spin is not None else "."))
    conv = doc.get("conversion") or {}
    if conv:
        notes.append(f"Conversion: {conv.get('converter')} at opset {conv.get('opset')}.")
    if cold:
        notes.append("Cold start: a fresh process, from launch to the first prediction (measured in the child); "
                     "wall = the whole child process.")
    if doc.get("command"):
        notes.append(f"Command: `{doc['command']}`")
    return "\n".join(out + notes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speedup", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="speedup.json from a pytest-benchmark JSON file")
    b.add_argument("bench_json", type=Path)
    b.add_argument("-o", "--output", type=Path, default=None, help="write speedup.json here")
    b.add_argument("--markdown", action="store_true", help="print the markdown tables")
    m = sub.add_parser("markdown", help="print the markdown tables of a speedup.json")
    m.add_argument("speedup_json", type=Path)
    args = p.parse_args(argv)
    try:
        if args.cmd == "build":
            doc = from_benchmark_json(load(args.bench_json), str(args.bench_json))
            if not doc["rows"]:
                raise SpeedupError(f"{args.bench_json}: no benchmark with case/batch/mode extra_info "
                                   "(was it written by pytest benchmarks/?)")
            if args.output:
                print(f"wrote {write(doc, args.output)}")
            if args.markdown or not args.output:
                print(markdown(doc))
        else:
            print(markdown(load_speedup(args.speedup_json)))
    except SpeedupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        sys.stdout = open(os.devnull, "w")
    return 0


if __name__ == "__main__":
    sys.exit(main())
