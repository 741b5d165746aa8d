"""Does an ``--inputs FILE.npz`` fit its ``--model``?  Asked once, before the run, by the pytest process.

    python -m conformance.worker.probe MODEL_PATH INPUTS.npz [LOADING_JSON]

Loads the model the way its worker will (TensorFlow backend) and compares the arrays' names,
shapes and dtypes with the model's inputs.  Prints nothing and exits 0 when they fit (or when
the model does not load: that is the cell's CASE_ERROR, with the loader's message); prints the
one-line reason and exits 3 when they do not.
"""
from __future__ import annotations

import os
import subprocess
import sys

#: exit code of a mismatch
MISMATCH = 3


def check(model: str, inputs: str, loading=None, timeout: float = 600) -> str | None:
    """Run the probe in a fresh interpreter; the one-line reason of a mismatch, else None.  ``loading``: the
    run's :class:`cases.files.Loading` (custom objects, safe mode), as the workers will load the model."""
    import json

    from conformance.worker import guard
    from conformance.worker.pool import PROJECT_ROOT, WORKER_ENV, backend_env

    env = dict(os.environ, **WORKER_ENV, **backend_env("tensorflow", 1))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    try:
        proc = subprocess.run(guard.command("conformance.worker.probe", model, inputs,
                                                    json.dumps(loading.to_json() if loading else {})), capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=str(PROJECT_ROOT), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None  # undecided here: the worker checks the inputs again when it builds the case
    if proc.returncode == MISMATCH:
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        return lines[-1] if lines else "the inputs do not fit the model"
    return None


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m conformance.worker.probe MODEL_PATH INPUTS.npz [LOADING_JSON]", file=sys.stderr)
        return 2
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever the libraries print goes to stderr
    import json

    from cases.files import Loading, check_inputs

    loading = Loading.from_json(json.loads(argv[2])) if len(argv) == 3 else None
    reason = check_inputs(argv[0], argv[1], loading)
    if reason:
        proto.write(reason.replace("\n", " ") + "\n")
        proto.flush()
        return MISMATCH
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
