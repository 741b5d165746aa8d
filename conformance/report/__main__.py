"""Command line of the reports: ``python -m conformance.report {html,diff,merge,rebuild,baseline,overhead,causes,issue,stacks,layers,models,repro}``.

Exit codes: 0 done (diff: no regression), 1 diff found regressions, 2 bad input
(one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from conformance.report.layers import CoverageError
from conformance.causes import CausesError
from conformance.run.results import ResultsError
from conformance.stacks import StacksError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other bad input here
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m conformance.report",
                description="Reports built from conformance results files (nothing is run).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    h = sub.add_parser("html", help="render the compatibility matrix page from one or more results files")
    h.add_argument("results", nargs="+", help="results.json files; several = several stacks side by side")
    h.add_argument("-o", "--output", default="matrix.html", help="the page to write (default: matrix.html)")
    h.add_argument("--baseline", metavar="OLD.json", help="mark cells that changed against this results file")
    h.add_argument("--speedup", metavar="FILE", help="speedup.json from the benchmarks, rendered as a table")
    h.add_argument("--title", help="page title")

    d = sub.add_parser("diff", help="compare two results files; exit 1 if a cell regressed")
    d.add_argument("old", help="the baseline results file")
    d.add_argument("new", help="the results file to check")
    d.add_argument("--json", metavar="FILE", help="also write the diff as JSON ('-' for stdout instead of the table)")
    d.add_argument("--reason-width", type=int, default=100, help="characters of the reason column (default 100)")

    m = sub.add_parser("merge", help="merge results files (xdist/shard runs, stacks) into one")
    m.add_argument("results", nargs="+", help="results.json files to merge")
    m.add_argument("-o", "--output", required=True, help="merged results file to write")
    m.add_argument("--html", metavar="PAGE", help="also render the merged matrix page here")

    b = sub.add_parser("baseline", help="the slim baseline the gate needs, from a results file (to commit)")
    b.add_argument("results", help="a results.json (or an older baseline)")
    b.add_argument("-o", "--output", required=True, help="baseline file to write")

    o = sub.add_parser("overhead", help="how much of a run's wall time is the suite and how much raw work")
    o.add_argument("results", help="a results.json")

    ca = sub.add_parser("causes", help="the registry of causes against recorded runs: check, propose")
    csub = ca.add_subparsers(dest="causes_command", required=True, parser_class=_Parser)
    for name, what in (("check", "exit 1 if a failure is unexplained, a cause would XPASS, or a cause is stale"),
                       ("propose", "draft causes (TOML) for the failures no cause explains, clustered by signature")):
        c = csub.add_parser(name, help=what)
        c.add_argument("results", nargs="+", help="results.json files (several stacks: version ranges)")
        c.add_argument("--causes", default=None, metavar="FILE",
                       help="the registry to judge against (default: causes.toml at the checkout's root; 'none': none)")
        if name == "propose":
            c.add_argument("-o", "--output", help="write the TOML here instead of stdout")

    iss = sub.add_parser("issue", help="an upstream-ready report (markdown) of one cause, from a run's results")
    iss.add_argument("cause", help="the cause's id (causes.toml)")
    iss.add_argument("results", nargs="+", help="results.json files (several stacks: the versions it was seen on)")
    iss.add_argument("-o", "--output", help="the markdown file to write (default: stdout)")
    iss.add_argument("--causes", default=None, metavar="FILE", help="the registry (default: the checkout's causes.toml)")
    iss.add_argument("--no-repro", action="store_true",
                     help="do not build the smallest affected cell's standalone repro (it re-runs that one cell)")

    up = sub.add_parser("upstream", help="drafted upstream reports (docs/upstream/<cause>.md) for the bug causes without "
                                         "an upstream issue or pull request: each from its minimised case, its repro "
                                         "checked alone outside the checkout")
    up.add_argument("results", nargs="*", help="results.json files that show the causes")
    up.add_argument("--cause", action="append", metavar="ID",
                    help="only this cause (repeatable; default: every cause that owes a report)")
    up.add_argument("--out", default="docs/upstream", help="the drafts' folder (default: docs/upstream)")
    up.add_argument("--budget", type=float, default=300.0, metavar="SECONDS", help="each reduction's budget (default 300)")
    up.add_argument("--force", action="store_true", help="replace a draft written by hand")
    up.add_argument("--check", nargs="+", metavar="DRAFT.md",
                    help="instead: run the repro of each draft alone again; exit 1 if one no longer shows its failure")
    up.add_argument("--causes", default=None, metavar="FILE", help="the registry (default: the checkout's causes.toml)")

    st = sub.add_parser("stacks", help="the all-stacks page: per case x converter, which stacks pass, since when")
    st.add_argument("results", nargs="+", help="results.json files of the stacks (or one merged file)")
    st.add_argument("-o", "--output", default="stacks.html", help="the page to write (default: stacks.html)")
    st.add_argument("--stacks-file", help="stacks.toml, for the stacks' order and descriptions (default: the checkout's)")
    st.add_argument("--title", help="page title")
    st.add_argument("--causes", metavar="FILE",
                    help="judge each cell's observed status against this registry first (as a run with it would), "
                         "e.g. runs recorded before a cause was written")

    ly = sub.add_parser("layers", help="layer coverage: which keras.layers classes the cases hold, status per converter")
    ly.add_argument("results", help="a results.json")
    ly.add_argument("--min", type=float, default=None, metavar="PERCENT",
                    help="exit 1 if fewer than this percentage of the inference-relevant classes are covered")
    ly.add_argument("--json", metavar="FILE", help="also write the coverage as JSON ('-' for stdout instead of the table)")
    ly.add_argument("--excluded", metavar="TOML", help="the excluded-layers file (default: cases/layers/excluded.toml)")

    mo = sub.add_parser("models", help="the models tier: architecture -> status per converter row, causes, "
                                       "conversion time, model size, task-level agreement")
    mo.add_argument("results", help="a results.json")
    mo.add_argument("--json", metavar="FILE", help="also write the cells as JSON ('-' for stdout instead of the table)")

    ro = sub.add_parser("route", help="the recommended route of each model: the converter and opset that pass with "
                                      "the smallest error, the exact call; where none passes, the nearest and the causes")
    ro.add_argument("results", help="a results.json")
    ro.add_argument("--case", metavar="GLOB", default=None, help="only the cases whose name matches (e.g. 'my_*')")
    ro.add_argument("--json", metavar="FILE", help="also write the routes as JSON ('-' for stdout instead of the lines)")

    mi = sub.add_parser("minimize", help="reduce a failing cell's Keras model to the smallest model that fails the "
                                         "same way on the same converter and opset (runs candidates as cells)")
    mi.add_argument("cell", metavar="CELL_ID", help="the failing cell's id, e.g. my_model-tf2onnx-keras-opset13; a glob "
                                                    "('kerashub_*-tf2onnx-keras-opset13'): every failing cell it matches, "
                                                    "explained or not, each into DIR/<cell id>/, with a table")
    mi.add_argument("results", help="the results file holding the cell")
    mi.add_argument("--out", required=True, metavar="DIR", help="where the smallest model, case.py, repro/ and "
                                                                   "report.md go")
    mi.add_argument("--budget", type=float, default=600.0, metavar="SECONDS",
                    help="stop after this long with the best model so far (default 600)")

    de = sub.add_parser("deploy", help="what the targets (--targets) made of the converted models: pass rate per "
                                       "target, its own failures and the conversion's, the failing cells by cause")
    de.add_argument("results", nargs="+", help="results.json files of runs with --targets")
    de.add_argument("--json", action="store_true", help="the rates and the failing groups as JSON")
    de.add_argument("--causes", default=None, metavar="TOML",
                    help="judge the records again by this registry (default: causes.toml at the root, else the one "
                         "shipped with the package; 'none': as recorded)")

    rp = sub.add_parser("repro", help="write one cell's standalone repro folder now (runs that one cell again)")
    rp.add_argument("cell", metavar="CELL_ID", help="the cell's id, e.g. masking_lstm-tf2onnx-keras-opset9")
    rp.add_argument("--results", default="reports/results.json",
                    help="the results file holding the cell; the folder goes to repro/ next to it "
                         "(default: reports/results.json)")

    r = sub.add_parser("rebuild", help="results.json from an interrupted run's results.partial.jsonl")
    r.add_argument("partial", help="the results.partial.jsonl file")
    r.add_argument("-o", "--output", required=True, help="results file to write")
    r.add_argument("--html", metavar="PAGE", help="also render the matrix page here")
    return p


def _html(args) -> int:
    from conformance.report.html import render_files

    out = render_files(args.results, args.output, baseline=args.baseline, speedup=args.speedup, title=args.title)
    print(f"wrote {out}")
    return 0


def _diff(args) -> int:
    from conformance.report.diff import diff, table_lines
    from conformance.run.results import load

    d = diff(load(args.old), load(args.new))
    if args.json == "-":
        print(json.dumps(d.to_json(), indent=1))
    else:
        if args.json:
            Path(args.json).write_text(json.dumps(d.to_json(), indent=1) + "\n", encoding="utf-8")
        for line in table_lines(d, reason_width=args.reason_width):
            print(line)
    return 1 if d.regressions else 0


def _write(doc: dict, output, html, sources: list[str], what: str) -> int:
    """Write a rebuilt or merged results document, and its page when asked."""
    from conformance.run.results import write

    print(f"wrote {write(doc, output)}: {what}")
    if html:
        from conformance.report.html import write_html

        print(f"wrote {write_html(doc, html, sources=sources)}")
    return 0


def _merge(args) -> int:
    from conformance.report.merge import merge_files

    doc = merge_files(args.results)
    return _write(doc, args.output, args.html, [str(p) for p in args.results],
                  f"{len(doc['records'])} cells from {len(args.results)} files, stacks {', '.join(doc['stacks'])}")


def _rebuild(args) -> int:
    from conformance.run.results import rebuild

    doc = rebuild(args.partial)
    return _write(doc, args.output, args.html, [str(args.partial)],
                  f"{len(doc['records'])} finished cells (run marked incomplete)")


def _baseline(args) -> int:
    from conformance.report.gate import slim_baseline
    from conformance.run.results import load, write

    doc = slim_baseline(load(args.results))
    print(f"wrote {write(doc, args.output)}: {len(doc['records'])} cells")
    return 0


def _overhead(args) -> int:
    from conformance.report.overhead import main as overhead_main

    return overhead_main([args.results])


def _registry(path) -> list:
    from conformance.causes import load
    from conformance.run.options import CAUSES_FILE

    if path is not None and str(path).lower() == "none":
        return []
    if path is None:
        from conformance.plugin import PACKAGED_CAUSES, ROOT

        path = ROOT / CAUSES_FILE if (ROOT / CAUSES_FILE).is_file() else PACKAGED_CAUSES
    return load(path)


def _causes(args) -> int:
    from conformance.report.causes import propose, rejudge, render, stale, unexplained, widen
    from conformance.run.results import load

    registry = _registry(args.causes)
    judged = [(str(p), rejudge(load(p), registry)) for p in args.results]
    docs = [(label, doc) for label, (doc, _) in judged]
    xpass = [r for _, (_, xp) in judged for r in xp]
    if args.causes_command == "propose":
        widened, taken = widen(docs, registry)
        text = render(propose(docs, taken), [str(p) for p in args.results], widened)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(f"wrote {args.output}")
        else:
            sys.stdout.write(text)
        return 0
    from conformance.causes import cells_of

    bad = [r for _, doc in docs for rec in doc["records"] for r in cells_of(rec) if unexplained(r)]
    gone = sorted(stale([doc for _, doc in docs], registry))
    for r in bad[:50]:
        on = f" / target {r['target']}" if r.get("target") else ""
        print(f"UNEXPLAINED {r.get('stack')}: {r['case']} / {r['converter']} / opset {r['opset']}{on}: "
              f"{r.get('observed_status')}: {str(r.get('signature') or '')[:160]}")
    for r in xpass[:50]:
        on = f" / target {r['target']}" if r.get("target") else ""
        print(f"XPASS {r.get('stack')}: {r['case']} / {r['converter']} / opset {r['opset']}{on} passes, but cause "
              f"{r.get('cause')} expects {r.get('expected_status')}: narrow its scope or remove it")
    for cid in gone:
        print(f"STALE {cid}: the runs covered it with its converter available and no cell matched it")
    cells = sum(len(cells_of(rec)) for _, doc in docs for rec in doc["records"])
    used = {r["cause"] for _, doc in docs for rec in doc["records"] for r in cells_of(rec)
            if r.get("cause") and r["status"] == "XFAIL"}
    print(f"{cells} cells: {len(bad)} unexplained, {len(xpass)} XPASS, {len(gone)} stale causes; "
          f"{len(used)} of {len(registry)} causes seen", file=sys.stderr)
    return 1 if bad or xpass or gone else 0


def _issue(args) -> int:
    from conformance.report.issue import write_issue

    text = write_issue(args.cause, args.results, _registry(args.causes), repro=not args.no_repro)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _upstream(args) -> int:
    from conformance.report import upstream

    registry = _registry(args.causes)
    if args.check:
        return upstream.check(args.check, registry)
    if not args.results:
        raise ResultsError("upstream: give the results.json files that show the causes (or --check DRAFT.md)")
    return upstream.main(args.results, registry, args.cause, args.out, args.budget, force=args.force)


def _stacks(args) -> int:
    from conformance.report.stacks import render_files

    entries = _registry(args.causes) if args.causes else None
    print(f"wrote {render_files(args.results, args.output, stacks_file=args.stacks_file, title=args.title, causes=entries)}")
    return 0


def _layers(args) -> int:
    from conformance.report.layers import coverage, load_excluded, table_lines
    from conformance.run.results import load

    cov = coverage(load(args.results), load_excluded(args.excluded) if args.excluded else None)
    if args.json == "-":
        print(json.dumps(cov.to_json(), indent=1))
    else:
        if args.json:
            Path(args.json).write_text(json.dumps(cov.to_json(), indent=1) + "\n", encoding="utf-8")
        for line in table_lines(cov):
            print(line)
    if args.min is not None and cov.percent < args.min:
        print(f"layer coverage {cov.percent:.1f} % is under --min {args.min:g} %", file=sys.stderr)
        return 1
    return 0


def _models(args) -> int:
    from conformance.report.models import isolated_by, model_cells, table_lines, to_json
    from conformance.run.results import load

    doc = load(args.results)
    cells = model_cells(doc)
    if args.json == "-":
        print(json.dumps(to_json(cells), indent=1))
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(cells), indent=1) + "\n", encoding="utf-8")
    for line in table_lines(cells, str(args.results), isolated_by(doc)):
        print(line)
    return 0


def _route(args) -> int:
    from conformance.report.route import lines, routes
    from conformance.run.results import load

    doc = load(args.results)
    found = routes(doc["records"], doc.get("causes") or {}, case_glob=args.case)
    if args.json == "-":
        print(json.dumps([r.to_json() for r in found], indent=1))
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in found], indent=1) + "\n", encoding="utf-8")
    if not found:
        print(f"no case{' matches ' + repr(args.case) if args.case else ''} in {args.results}")
        return 1
    for line in lines(found, f"recommended route per model ({args.results}):"):
        print(line)
    return 0


def _minimize(args) -> int:
    if any(ch in args.cell for ch in "*?["):   # a glob: every failing cell it matches
        from conformance.minimize.batch import main_glob

        return main_glob(args.cell, args.results, args.out, args.budget)
    from conformance.minimize.run import main as minimize_main

    return minimize_main(args.cell, args.results, args.out, args.budget)


def _deploy(args) -> int:
    from conformance.report.deploy import main as deploy_main

    as_recorded = args.causes is not None and str(args.causes).lower() == "none"
    return deploy_main(args.results, as_json=args.json, registry=None if as_recorded else _registry(args.causes))


def _repro(args) -> int:
    from conformance.report.repro_cell import main as repro_main

    return repro_main(args.cell, args.results)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"html": _html, "diff": _diff, "merge": _merge, "rebuild": _rebuild, "baseline": _baseline,
                "overhead": _overhead, "causes": _causes, "issue": _issue, "stacks": _stacks,
                "layers": _layers, "models": _models, "route": _route, "minimize": _minimize, "upstream": _upstream,
                "repro": _repro, "deploy": _deploy}[args.command](args)
    except (ResultsError, CausesError, StacksError, CoverageError) as exc:  # bad input: its one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
