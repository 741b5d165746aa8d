"""Launching command-line converters: ``python -m MODULE ARGS`` per conversion, fresh or warm.

``fresh``: a new interpreter per call (``subprocess``), exactly what a user's shell does, paying
the interpreter start and the converter's imports (TensorFlow: ~2.6-4 s) every time.

``warm`` (the default): a fork server, started once per conversion worker as a fresh
interpreter (never a fork of the worker, which has TensorFlow loaded and running), imports the
converter's modules (``tensorflow``, ``tf2onnx``, ``onnx`` by default) and executes nothing
else.  Each call is a new child forked from that server which runs ``MODULE`` as ``__main__``
(``runpy``, the way ``python -m`` does) with the exact argv, environment and working directory
the command would get, stdin from /dev/null and stdout/stderr captured to files.  The server is
this module run as ``python -m conformance.worker.launcher PRELOAD...``; when it dies the next call
starts a new one.

Either way the no-network guard holds in the child, and the result is a
:class:`Completed`: exit code (negative: killed by that signal), stdout, stderr, whether the
time limit ran out.  The repro line of a record stays the plain ``python -m MODULE ARGS``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("warm", "fresh")
DEFAULT_MODE = "warm"
#: what the fork server imports before it forks anything ($CONFORMANCE_LAUNCHER_PRELOAD, comma-separated).
#: ``MODULE:imports`` imports what MODULE's top level imports, without running MODULE itself (the command
#: module must run fresh as ``__main__`` in each child).
DEFAULT_PRELOAD = ("tensorflow", "onnx", "tf2onnx", "tf2onnx.convert:imports")


@dataclasses.dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    seconds: float = 0.0
    mode: str = DEFAULT_MODE

    @property
    def signal_name(self) -> str | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def preload_from_env() -> tuple[str, ...]:
    text = os.environ.get("CONFORMANCE_LAUNCHER_PRELOAD")
    if text is None:
        return DEFAULT_PRELOAD
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _become(request: dict) -> int:
    """In the forked child: become ``python -m MODULE ARGS`` and run it; return its exit code the way
    the interpreter would (SystemExit's code; 1 and a traceback for an uncaught exception)."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    from conformance.worker import guard

    guard.install_from_env()
    import runpy
    import traceback

    module = request["module"]
    sys.argv = [module, *request["args"]]  # runpy puts the module's file in argv[0], as `python -m` does
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return code


def _top_level_imports(module: str) -> list[str]:
    """The modules ``module``'s top level imports (``import a.b``, ``from a import b``: a, a.b), read
    from its source without executing it."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), spec.origin)
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]  # submodules; plain names fail quietly
    return names


def _preload(name: str) -> None:
    targets = _top_level_imports(name[: -len(":imports")]) if name.endswith(":imports") else [name]
    for target in targets:
        try:
            __import__(target)
        except ImportError as exc:
            if target == name:  # the child imports it itself (and fails the same way a fresh call would)
                print(f"[launcher] preload {name}: {type(exc).__name__}: {exc}", file=sys.stderr)


def serve(preload: list[str]) -> int:
    """The fork server: ``python -m conformance.worker.launcher MODULE...`` imports the modules, then
    for each JSON request on stdin forks a child that becomes the command, answers ``{"pid": N}`` at
    once and ``{"returncode": N}`` (negative: signal) when the child has ended."""
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything the preloaded libraries print goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    for name in preload:
        _preload(name)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                proto.close()
                code = _become(request)
            finally:
                os._exit(code)
        proto.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        proto.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
    return 0


class _Server:
    """The worker's side of one fork server process."""

    def __init__(self, preload: tuple[str, ...], log_path: Path):
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH", "")]))
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "conformance.worker.launcher", *preload],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env)
        self._buf = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _line(self, deadline: float | None) -> dict | None:
        """The next protocol line, or None on EOF (server died) or when the deadline passes."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, request: dict, timeout: float) -> tuple[int | None, bool]:
        """(exit code or None if the server died, timed out)."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None, False
        deadline = time.monotonic() + timeout
        started = self._line(deadline + 60)
        if not started:
            return None, False
        done = self._line(deadline)
        if done is None and self.alive():  # overran: kill the child; the server reports its end
            try:
                os.kill(started["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            done = self._line(time.monotonic() + 30)
            return (done or {}).get("returncode", -signal.SIGKILL), True
        return (done["returncode"] if done else None), False

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Launcher:
    """Runs ``python -m MODULE ARGS`` for a conversion worker, in the mode chosen for the run."""

    def __init__(self, mode: str = DEFAULT_MODE, preload: tuple[str, ...] | None = None,
                 scratch: Path | None = None):
        if mode not in MODES:
            raise ValueError(f"launch mode {mode!r}: use one of {', '.join(MODES)}")
        self.mode = mode
        self.preload = tuple(preload_from_env() if preload is None else preload)
        self.scratch = Path(scratch or tempfile.gettempdir())
        self._server: _Server | None = None
        self.servers_started = 0

    def _running_server(self) -> _Server:
        if self._server is None or not self._server.alive():
            if self._server is not None:
                self._server.close()
            self.scratch.mkdir(parents=True, exist_ok=True)
            self.servers_started += 1
            self._server = _Server(self.preload, self.scratch / f"server-{os.getpid()}-{self.servers_started}.log")
        return self._server

    def command(self, module: str, args: list[str]) -> list[str]:
        """The fresh-mode command: the guard runs the module as ``__main__`` (``python -m module args``)."""
        from conformance.worker import guard

        return guard.command(module, *map(str, args))

    def run(self, module: str, args: list[str], timeout: float, env: dict | None = None,
            cwd: str | Path | None = None) -> Completed:
        args = [str(a) for a in args]
        env = dict(os.environ if env is None else env)
        cwd = str(cwd or os.getcwd())
        t0 = time.perf_counter()
        if self.mode == "fresh":
            try:
                proc = subprocess.run(self.command(module, args), capture_output=True, text=True, timeout=timeout,
                                      stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            except subprocess.TimeoutExpired as exc:
                return Completed(-signal.SIGKILL, _text(exc.stdout), _text(exc.stderr), True,
                                 time.perf_counter() - t0, self.mode)
            return Completed(proc.returncode, proc.stdout, proc.stderr, False, time.perf_counter() - t0, self.mode)
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd_out, out_path = tempfile.mkstemp(prefix="launch-", suffix=".out", dir=self.scratch)
        fd_err, err_path = tempfile.mkstemp(prefix="launch-", suffix=".err", dir=self.scratch)
        os.close(fd_out)
        os.close(fd_err)
        request = {"module": module, "args": args, "env": env, "cwd": cwd, "stdout": out_path, "stderr": err_path}
        try:
            code, timed_out = self._running_server().run(request, timeout)
            err = _read(err_path)
            if code is None:  # the fork server itself died: say so; the next call starts a new one
                self._server.close()
                self._server = None
                code = -signal.SIGKILL
                err += "\n[launcher] the fork server died while running this command (it will be restarted)"
            return Completed(code, _read(out_path), err, timed_out, time.perf_counter() - t0, self.mode)
        finally:
            for p in (out_path, err_path):
                try:
                    os.unlink(p)
                except OSError:
                    pass

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
