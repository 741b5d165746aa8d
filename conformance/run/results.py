"""The results file: schema, incremental writing, loading, rebuilding.

While a run goes, every finished cell is appended (and flushed) to
``results.partial.jsonl`` by the one process that owns the run (the xdist
controller, or the only pytest process).  At the end ``results.json`` is
written atomically and the partial file removed.  An interrupted run leaves the
partial file behind; ``python -m conformance.report rebuild`` turns it into a
results.json holding every cell that finished.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SCHEMA_VERSION = 1
RESULTS = "results.json"
PARTIAL = "results.partial.jsonl"


class ResultsError(Exception):
    """A results file cannot be used; the message is one line."""


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for everyone to read
    os.replace(tmp, path)


def record_key(rec: dict) -> tuple:
    return (rec.get("stack", ""), rec["case"], rec["converter"], int(rec["opset"]))


def document(run: dict, environment: dict, converters: dict, records: list[dict], stale: list[str] | None,
             complete: bool, causes: dict | None = None) -> dict:
    """The results document.  ``causes``: the registry as the run knew it (id -> cause, with
    ``active`` on its stack); ``stale``: ids of the causes it could have seen and did not."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run": dict(run, complete=complete, cells=len(records)),
        "environment": environment,
        "converters": converters,
        "causes": causes or {},
        "stale_causes": stale if stale is not None else [],
        "records": sorted(records, key=lambda r: (r.get("family", ""), r["case"], r["converter"], int(r["opset"]))),
    }


class ResultsWriter:
    def __init__(self, report_dir: Path, run: dict, environment: dict, converters: dict, causes: dict | None = None):
        self.report_dir = Path(report_dir)
        self.report_dir.mkdir(parents=True, exist_ok=True)
        self.partial_path = self.report_dir / PARTIAL
        self.path = self.report_dir / RESULTS
        self.run, self.environment, self.converters = run, environment, converters
        self.causes = causes or {}
        self.records: list[dict] = []
        self._fh = open(self.partial_path, "w", encoding="utf-8")
        self._write_line({"kind": "header", "schema_version": SCHEMA_VERSION, "run": run,
                          "environment": environment, "converters": converters, "causes": self.causes})

    def _write_line(self, obj: dict) -> None:
        self._fh.write(json.dumps(obj) + "\n")
        self._fh.flush()

    def add(self, record: dict) -> None:
        self.records.append(record)
        self._write_line({"kind": "record", "record": record})

    def finish(self, stale: list[str] | None, complete: bool, run_extra: dict | None = None) -> Path:
        run = dict(self.run, **(run_extra or {}))
        write(document(run, self.environment, self.converters, self.records, stale, complete, self.causes), self.path)
        self._fh.close()
        self.partial_path.unlink(missing_ok=True)
        return self.path


def read_json(path: str | Path, what: str):
    """A JSON file's content, or ResultsError with one line naming ``what`` it should have been."""
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"{what} {p}: no such file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{what} {p}: not valid JSON ({exc})") from None


def load(path: str | Path) -> dict:
    """A results.json, checked for the schema this code reads."""
    p = Path(path)
    doc = read_json(p, "results file")
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise ResultsError(f"results file {p}: no schema_version; not a conformance results file")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(f"results file {p}: schema version {doc['schema_version']!r}, this suite reads version {SCHEMA_VERSION}")
    if not isinstance(doc.get("records"), list):
        raise ResultsError(f"results file {p}: 'records' is missing or not a list")
    for i, rec in enumerate(doc["records"]):
        if not isinstance(rec, dict) or not {"case", "converter", "opset", "status"} <= set(rec):
            raise ResultsError(f"results file {p}: record #{i} lacks case/converter/opset/status")
    return doc


def rebuild(partial: str | Path) -> dict:
    """A results document from an interrupted run's partial file (every finished cell)."""
    p = Path(partial)
    if not p.is_file():
        raise ResultsError(f"partial results {p}: no such file")
    header, records = None, []
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                # the last line of a killed run may be cut short; anything earlier is corruption
                rest = fh.read()
                if rest.strip():
                    raise ResultsError(f"partial results {p}: line {n} is not JSON") from None
                break
            if obj.get("kind") == "header":
                header = obj
            elif obj.get("kind") == "record":
                records.append(obj["record"])
    if header is None:
        raise ResultsError(f"partial results {p}: no header line")
    if header.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"partial results {p}: schema version {header.get('schema_version')!r}, this suite reads {SCHEMA_VERSION}")
    return document(dict(header["run"], interrupted=True), header["environment"], header["converters"],
                    records, None, complete=False, causes=header.get("causes"))


def dumps(doc: dict) -> str:
    """The document as text: its head indented, one record per line (compact: a default tier's records
    are most of the file, and a record per line still diffs and greps well)."""
    head = {k: v for k, v in doc.items() if k != "records"}
    text = json.dumps(head, indent=1)
    if "records" not in doc:
        return text + "\n"
    records = ",\n".join(json.dumps(r, separators=(",", ":")) for r in doc["records"])
    body = f'"records": [\n{records}\n]' if records else '"records": []'
    return (text[:-2] + ",\n " + body + "\n}\n") if head else "{" + body + "}\n"


def write(doc: dict, path: str | Path) -> Path:
    p = Path(path)
    atomic_write(p, dumps(doc))
    return p
