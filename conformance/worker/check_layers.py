"""Build layer-library cases the way a worker does, without converting: a quick check while writing cases.

    python -m conformance.worker.check_layers [GROUP ...] [-k SUBSTRING]

For each case: does it build, does Keras run it at both batch sizes, does its reference pass the
reference guard (constant outputs, input-ignoring impostors), and which layer classes it holds.
Exits 1 when any case fails to build or has a weak reference.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.worker.check_layers")
    ap.add_argument("groups", nargs="*", help="modules of cases/layers (default: all)")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from conformance.worker.pool import WORKER_ENV

    for k, v in WORKER_ENV.items():  # the environment the conversion workers build in (oneDNN off, ...)
        os.environ.setdefault(k, v)
    from conformance.checks.layers import model_layers
    from conformance.loader import builtin_modules, load_cases
    from conformance.worker.pipeline import build_case

    mods = [m for m in builtin_modules() if m.startswith("cases.layers.")]
    if args.groups:
        mods = [m for m in mods if m.rsplit(".", 1)[-1] in args.groups]
    bad = 0
    for case in load_cases(mods):
        if args.k not in case.name:
            continue
        try:
            built = build_case(case)
        except Exception as exc:  # noqa: BLE001 - reported, one line
            bad += 1
            print(f"BUILD-ERROR {case.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        shapes = [tuple(r.shape) for r in built.batches[0].refs]
        layers = ",".join(model_layers(built.model))
        if built.degenerate:
            bad += 1
            print(f"WEAK {case.name} {shapes}: {'; '.join(built.degenerate)}")
        else:
            print(f"ok {case.name} {shapes} [{layers}]")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
