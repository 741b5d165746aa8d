"""Do the ``--inputs FILE.npz`` fit their ``--model``s?  Asked once, before the run, by the pytest process.

    python -m conformance.worker.probe MODEL_PATH INPUTS.npz [MODEL_PATH INPUTS.npz ...] [--loading JSON]

Loads each model the way its worker will (TensorFlow backend, the run's custom objects and trust) and
compares the arrays' names, shapes and dtypes with the model's inputs, every pair in one interpreter
(TensorFlow is imported once: twelve models cost one start, not twelve).  Prints nothing and exits 0
when they all fit (or when a model does not load: that is the cell's CASE_ERROR, with the loader's
message); prints one line per pair that does not fit, ``INDEX<TAB>reason``, and exits 3.
"""
from __future__ import annotations

import os
import subprocess
import sys

#: exit code of a mismatch
MISMATCH = 3


def check_all(pairs: list[tuple[str, str]], loading=None, timeout: float = 900) -> list[str | None]:
    """Run the probe over ``pairs`` ((model, inputs)) in one fresh interpreter; per pair, the one-line reason
    of a mismatch, else None.  ``loading``: the run's :class:`cases.files.Loading`."""
    import json

    from conformance.worker import guard
    from conformance.worker.pool import PROJECT_ROOT, WORKER_ENV, backend_env

    if not pairs:
        return []
    env = dict(os.environ, **WORKER_ENV, **backend_env("tensorflow", 1))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    argv = [a for pair in pairs for a in pair] + ["--loading", json.dumps(loading.to_json() if loading else {})]
    found: list[str | None] = [None] * len(pairs)
    try:
        proc = subprocess.run(guard.command("conformance.worker.probe", *argv), capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=str(PROJECT_ROOT), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return found  # undecided here: the worker checks the inputs again when it builds the case
    if proc.returncode == MISMATCH:
        for line in proc.stdout.splitlines():
            index, _, reason = line.partition("\t")
            if index.isdigit() and int(index) < len(pairs):
                found[int(index)] = reason.strip() or "the inputs do not fit the model"
    return found


def main(argv: list[str]) -> int:
    import json

    loading_json = None
    if "--loading" in argv:
        i = argv.index("--loading")
        loading_json, argv = (argv[i + 1] if i + 1 < len(argv) else "{}"), argv[:i] + argv[i + 2:]
    if not argv or len(argv) % 2:
        print("usage: python -m conformance.worker.probe MODEL_PATH INPUTS.npz [...] [--loading JSON]", file=sys.stderr)
        return 2
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever the libraries print goes to stderr
    from cases.files import Loading, check_inputs

    loading = Loading.from_json(json.loads(loading_json)) if loading_json else None
    bad = 0
    for index in range(len(argv) // 2):
        reason = check_inputs(argv[2 * index], argv[2 * index + 1], loading)
        if reason:
            bad += 1
            proto.write(f"{index}\t{reason.replace(chr(10), ' ')}\n")
    proto.flush()
    return MISMATCH if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
