"""ORT-only deployability: can the converted model be served without TensorFlow?

The seed shipped inference in a frozen executable that had onnxruntime and
numpy, nothing else.  For a cell whose comparison passed, the worker writes
the .onnx file, the inputs it fed and the outputs onnxruntime gave in the
worker, then hands the folder to :mod:`conformance.checks.deploy_child`, a separate,
isolated interpreter (``python -I -m conformance.checks.deploy_child --serve THREADS``,
one per worker, kept alive between cells and restarted if it dies) that
imports only numpy and onnxruntime, registers no custom-op library, runs the
model on the same inputs and checks that it reproduces the worker's outputs.  At the end it
checks that no TensorFlow or Keras module was loaded.  A model that needs
TensorFlow, or an op domain onnxruntime does not register by itself, fails
here and is flagged in the cell's ``facts["deployable"]``; the cell's status
does not change.

How often (``$CONFORMANCE_DEPLOY``):
  ``once`` (default) - the first passing cell of each (case, converter) in a
                       worker, i.e. one opset; the other cells note where it ran.
  ``all``            - every passing cell.
  ``off``            - never.
"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

MODES = ("once", "all", "off")
#: domains onnxruntime's CPU build registers without any extra library
BUILTIN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc",
                             "com.microsoft.experimental", "ai.onnx.preview.training", "ai.onnx.training"})
CHILD_TIMEOUT = 300.0
#: the worker's memo key of its DeployServer
SERVER_KEY = "_deploy_server"


class DeployConfigError(ValueError):
    pass


def mode_from_env() -> str:
    mode = (os.environ.get("CONFORMANCE_DEPLOY") or "once").strip().lower()
    if mode not in MODES:
        raise DeployConfigError(f"CONFORMANCE_DEPLOY={mode!r}: use one of {', '.join(MODES)}")
    return mode


# ------------------------------------------------------------------ parent side (inside the worker)


def unregistered_domains(custom_domains) -> list[str]:
    return sorted(d for d in (custom_domains or []) if d not in BUILTIN_DOMAINS)


class DeployServer:
    """The worker's ORT-only child, kept alive: one folder per request, one JSON answer per request.

    A child that dies (a segfault inside onnxruntime) or overruns the timeout fails that request
    only; the next request starts a new child.
    """

    def __init__(self, threads: int, log: Path):
        self.threads = max(1, int(threads))
        self.log = Path(log)
        self.proc: subprocess.Popen | None = None
        self._buf = b""

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log, "ab") as err:
                # -I: no user site, no PYTHONPATH, no current directory; the installed suite is still importable
                self.proc = subprocess.Popen(
                    [sys.executable, "-I", "-m", "conformance.checks.deploy_child", "--serve", str(self.threads)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, bufsize=0)
            self._buf = b""
        return self.proc

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "(no output)"

    def ask(self, folder: Path, timeout: float) -> tuple[dict | None, str | None]:
        """(the child's answer, None) or (None, why there is none)."""
        proc = self._start()
        try:
            proc.stdin.write((str(folder) + "\n").encode())
            proc.stdin.flush()
        except OSError:
            proc.wait()
            return None, f"the onnxruntime-only process failed (exit code {proc.returncode}): {self._tail()}"
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    return None, f"the onnxruntime-only process took more than {timeout:.0f} s"
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    code = proc.wait()
                    self.proc = None
                    return None, f"the onnxruntime-only process failed (exit code {code}): {self._tail()}"
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line), None
        except ValueError:
            return None, f"the onnxruntime-only process answered {line[:200]!r}"

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


def check(model_bytes: bytes, output_names: list[str], feeds: list[dict], outputs: list[list], folder: Path,
          threads: int, custom_domains=(), timeout: float = CHILD_TIMEOUT, server: DeployServer | None = None) -> dict:
    """Write the model, the feeds and the outputs (named ``output_names``) onnxruntime gave in the worker
    to ``folder``; run the ORT-only child on them and return the ``deployable`` fact."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model_bytes)
    arrays, plan = {}, []
    for b, (feed, outs) in enumerate(zip(feeds, outputs)):
        names = []
        for i, (name, arr) in enumerate(feed.items()):
            arrays[f"in_{b}_{i}"] = np.asarray(arr)
            names.append(name)
        for j, arr in enumerate(outs):
            arrays[f"out_{b}_{j}"] = np.asarray(arr)
        plan.append({"inputs": names, "outputs": list(output_names)})
    np.savez(folder / "data.npz", **arrays)
    (folder / "plan.json").write_text(json.dumps(plan))
    fact = {"ok": False, "error": None, "custom_domains": list(custom_domains or []),
            "unregistered_domains": unregistered_domains(custom_domains)}
    t0 = time.perf_counter()
    if server is not None:
        answer, error = server.ask(folder, timeout)
        fact["seconds"] = time.perf_counter() - t0
        if answer is None:
            fact["error"] = error
        else:
            fact.update(answer)
        return fact
    # -I: no user site, no PYTHONPATH, no current directory; the installed suite is still importable
    cmd = [sys.executable, "-I", "-m", "conformance.checks.deploy_child", str(folder), str(max(1, threads))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        fact.update(error=f"the onnxruntime-only process took more than {timeout:.0f} s",
                    seconds=time.perf_counter() - t0)
        return fact
    fact["seconds"] = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        fact["error"] = f"the onnxruntime-only process failed (exit code {proc.returncode}): {tail}"
        return fact
    fact.update(json.loads(lines[-1]))
    return fact


def cell_fact(memo: dict, key: tuple, opset: int, model_bytes: bytes, output_names, ran, folder: Path,
              threads: int, custom_domains=()) -> dict | None:
    """The ``deployable`` fact of a passing cell, following ``$CONFORMANCE_DEPLOY``; None when off.

    ``key`` is (case module, case, converter); ``ran`` is [(feeds, outputs)] per batch.
    """
    mode = mode_from_env()
    if mode == "off":
        return None
    memo_key = ("deploy",) + tuple(key)
    if mode == "once" and memo_key in memo:
        return {"checked": False, "checked_at_opset": memo[memo_key],
                "note": "CONFORMANCE_DEPLOY=once: checked at one opset per case and converter"}
    server = memo.get(SERVER_KEY)
    if server is None:
        server = memo[SERVER_KEY] = DeployServer(threads, folder.parent.parent / "deploy-child.log")
    fact = check(model_bytes, output_names, [f for f, _ in ran], [o for _, o in ran], folder, threads,
                 custom_domains, server=server)
    memo[memo_key] = opset
    return dict(fact, checked=True)
