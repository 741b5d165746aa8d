"""Running cells in a long-lived worker process, with a time limit and a memory limit.

The worker is a fresh interpreter (never a fork of a process that imported
TensorFlow).  If it dies the cell is CRASH (with the signal and the last lines
it logged); if it overruns the cell is TIMEOUT and the worker's whole process
group is killed; if the process group (the worker, its launcher's fork server
and the converter processes) holds more resident memory than the limit, it is
killed and the cell is CRASH "out of memory".  Either way a new worker serves
the next cell.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance.stages import Stage

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: environment every worker gets (on top of the parent's)
WORKER_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONHASHSEED": "0",
    "PYTHONUNBUFFERED": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def backend_env(backend: str, threads: int) -> dict:
    """The environment of a worker for the Keras ``backend`` of its converters (``Converter.backend``):
    KERAS_BACKEND, and for JAX and PyTorch the thread count of their CPU pools (TensorFlow's is set in
    the worker, conformance.checks.runtime.configure_tensorflow_threads)."""
    env = {"KERAS_BACKEND": backend}
    if backend != "tensorflow":
        env["OMP_NUM_THREADS"] = str(max(1, int(threads)))
    return env


#: how often the memory of a busy worker's process group is read
MEMORY_POLL_SECONDS = 0.5


def _proc_kib(path: str, key: bytes) -> int | None:
    """The ``key: N kB`` line of a /proc file, in bytes (None where it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _pss(pid: str) -> int | None:
    """Proportional set size in bytes (shared pages split between the processes sharing them), or None."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", b"Pss:")


def group_memory(pgid: int, limit: int = 0) -> int:
    """Memory of every process in process group ``pgid``, in bytes.

    First the sum of their resident sizes (``/proc/PID/stat``, cheap).  Only when that sum is over
    ``limit`` (0: always) the sum of their proportional set sizes, which counts once the pages a
    forked converter shares with the launcher's preloaded server (``/proc/PID/smaps_rollup``: about
    10 ms for each process holding TensorFlow, too dear for every poll of every cell).  A resident
    size is never below the proportional one, so a limit is crossed exactly when it would be
    with the proportional sizes read every time.  Where smaps_rollup cannot be read, the resident
    size counts."""
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    members: dict[str, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            # after "pid (comm)": state ppid pgrp ... rss is field 24 overall, 22 after the comm
            if int(fields[2]) == pgid:
                members[pid] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    rss = sum(members.values())
    if limit and rss <= limit:
        return rss
    total = 0
    for pid, resident in members.items():
        pss = _pss(pid)
        total += pss if pss is not None else resident
    return total


#: the machine is running out of memory when less than this is available (bytes): max(1 GiB, 5 % of RAM)
def memory_reserve() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 0
    return max(2**30, total // 20)


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where it cannot be read)."""
    return _proc_kib("/proc/meminfo", b"MemAvailable:")


def over_memory(held: int, limit: int, hard: bool, available: int | None, reserve: int | None = None) -> str | None:
    """Why a worker that holds ``held`` bytes must be stopped, or None.

    hard (``--worker-memory`` given): over ``limit``.  Default (a share of the machine, not hard): over
    its share *and* the machine is about to run out (MemAvailable under the reserve), so a heavy but
    legitimate conversion (two ResNet50 conversions at once hold ~10 GiB each) is not killed while
    the machine still has room, and a runaway converter is stopped before the kernel's OOM killer
    picks a process of its own choosing."""
    if not limit or held <= limit:
        return None
    if hard:
        return f"the conversion worker and its processes held {_gib(held)}, over the limit of {_gib(limit)} (--worker-memory)"
    reserve = memory_reserve() if reserve is None else reserve
    if available is not None and available < reserve:
        return (f"the machine was running out of memory ({_gib(available)} available) while the conversion worker and "
                f"its processes held {_gib(held)}, over its share of {_gib(limit)} (--worker-memory sets a hard limit)")
    return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


class Worker:
    def __init__(self, run_dir: Path, threads: int, log_path: Path, extra_env: dict | None = None,
                 command: list[str] | None = None, memory_limit: int = 0, memory_hard: bool = True):
        env = dict(os.environ)
        env.update(WORKER_ENV)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
        # temporary files of the worker, the converters and their subprocesses stay in the run's
        # directory (REPORT_DIR/.work/RUN/...), which the session removes at the end
        tmp = Path(run_dir) / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env.update({"TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)})
        env.update(extra_env or {})
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        cmd = command or [sys.executable, "-m", "conformance.worker", str(run_dir), str(threads)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     cwd=str(PROJECT_ROOT), env=env, start_new_session=True)
        self._buf = b""
        self.memory_limit = int(memory_limit or 0)
        self.memory_hard = memory_hard

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _log_tail(self, start: int, lines: int = 6) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(start)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("[conformance]")]
        return " | ".join(kept[-lines:])

    def request(self, task: dict, timeout: float) -> dict:
        start = os.path.getsize(self.log_path)
        try:
            self.proc.stdin.write((json.dumps(task) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._crashed(start)
        deadline = time.monotonic() + timeout
        # memory is first read after one poll interval: most cells answer sooner, and each read costs
        # the parent CPU time the converters could use
        next_poll = time.monotonic() + MEMORY_POLL_SECONDS
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                self.kill()
                tail = self._log_tail(start)
                return _isolation("TIMEOUT", f"the cell did not finish within {timeout:g} s (worker killed)"
                                  + (f"; last log lines: {tail}" if tail else ""))
            if self.memory_limit and now >= next_poll:
                next_poll = now + MEMORY_POLL_SECONDS
                held = group_memory(self.proc.pid, self.memory_limit)
                why = over_memory(held, self.memory_limit, self.memory_hard,
                                  available_memory() if held > self.memory_limit else None)
                if why:
                    self.kill()
                    tail = self._log_tail(start)
                    return _isolation("CRASH", f"out of memory: {why}; worker killed"
                                      + (f"; last log lines: {tail}" if tail else ""))
            wait = min(remaining, max(0.0, next_poll - now) if self.memory_limit else 1.0)
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return self._crashed(start)
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self.kill()
            return _isolation("CRASH", f"the worker answered garbage: {line[:200]!r}")

    def _crashed(self, log_start: int) -> dict:
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.returncode
        tail = self._log_tail(log_start)
        return _isolation("CRASH", f"the conversion worker died ({_signal_name(rc)})"
                          + (f"; last log lines: {tail}" if tail else ""))

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait()

    def close(self, grace: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=grace)
            except (subprocess.TimeoutExpired, OSError):
                self.kill()
        self._log.close()


def _isolation(status: str, error: str) -> dict:
    return {"stages": {Stage.ISOLATION.value: {"ok": False, "status": status, "error": error}}, "facts": {}}


class WorkerPool:
    """One worker at a time for a test process; replaced when it dies or overruns."""

    def __init__(self, run_dir: Path, threads: int, extra_env: dict | None = None, command: list[str] | None = None,
                 memory_limit: int = 0, memory_hard: bool = True):
        self.run_dir = Path(run_dir)
        self.threads = threads
        self.extra_env = extra_env
        self.command = command
        self.memory_limit = memory_limit
        self.memory_hard = memory_hard
        self._worker: Worker | None = None
        self._started = 0
        #: workers replaced between cells because they held more than their share
        self.recycled = 0

    def over_share(self) -> bool:
        """The live worker's process group holds more than its memory share (``memory_limit``)."""
        return bool(self.memory_limit) and group_memory(self._worker.proc.pid, self.memory_limit) > self.memory_limit

    def run(self, task: dict, timeout: float) -> dict:
        if self._worker is not None and self._worker.alive() and self.over_share():
            # between cells, a worker that kept more than its share (cached models, TensorFlow's graphs of
            # earlier cases) gives way to a fresh one: measured on the models tier, a worker that had
            # converted a dozen keras.applications models held 20.6 GiB and was killed in the middle of
            # VGG16's conversion, which alone peaks at 2.7 GiB
            self._worker.close()
            self._worker = None
            self.recycled += 1
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.close()
            self._started += 1
            self._worker = Worker(self.run_dir, self.threads, self.run_dir / "logs" / f"worker-{os.getpid()}-{self._started}.log",
                                  self.extra_env, self.command, self.memory_limit, self.memory_hard)
        result = self._worker.request(task, timeout)
        if not self._worker.alive():
            self._worker.close()
            self._worker = None
        return result

    @property
    def workers_started(self) -> int:
        return self._started

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
