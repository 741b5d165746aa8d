"""The launcher of command-line converters, warm (fork of a preloaded server) and fresh (new interpreter).

The fake command tests/fakes/cli_tool.py needs no TensorFlow; the servers here preload nothing
heavy, so each test takes seconds.  The seed models through tf2onnx, both ways, are in
tests/test_cli_launch.py.
"""
from __future__ import annotations

import json
import os
import signal

import pytest

from conformance.worker.launcher import Launcher
from tests.helpers import ROOT
from tests.test_reliability import run_conformance

TOOL = "tests.fakes.cli_tool"


@pytest.fixture(params=["warm", "fresh"])
def launcher(request, tmp_path):
    lau = Launcher(request.param, preload=("onnx",), scratch=tmp_path / "scratch")
    yield lau
    lau.close()


def _env(**extra) -> dict:
    env = dict(os.environ, CONFORMANCE_NO_NETWORK="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def test_exact_argv_env_cwd_and_captured_output(launcher, tmp_path):
    out = tmp_path / "m.onnx"
    done = launcher.run(TOOL, ["ok", str(out), "13", "--flag", "a b"], timeout=60, env=_env(FAKE_CLI_ENV="seen"),
                        cwd=tmp_path)
    assert done.returncode == 0 and not done.timed_out, done.stderr
    saw = json.loads(done.stdout.splitlines()[0])
    assert saw["argv"][1:] == ["ok", str(out), "13", "--flag", "a b"]
    assert saw["argv"][0].endswith("cli_tool.py")          # as `python -m` sets it
    assert saw["name"] == "__main__" and saw["cwd"] == str(tmp_path) and saw["env"] == "seen"
    assert saw["stdin"] == ""                               # stdin is /dev/null
    assert "fake-cli: on stderr" in done.stderr and out.stat().st_size > 0
    assert done.mode == launcher.mode


@pytest.mark.parametrize("mode,code,text", [
    ("exit3", 3, ""),
    ("text-exit", 1, "unrecognized arguments: --fold_const"),
    ("raise", 1, "ValueError: make_sure failure: Opset 99"),
])
def test_exit_codes_as_the_interpreter_gives_them(launcher, tmp_path, mode, code, text):
    done = launcher.run(TOOL, [mode, str(tmp_path / "x")], timeout=60, env=_env(), cwd=tmp_path)
    assert done.returncode == code and text in done.stderr


def test_a_segfault_is_a_signal_and_a_hang_is_killed(launcher, tmp_path):
    done = launcher.run(TOOL, ["segv", "x"], timeout=60, env=_env(), cwd=tmp_path)
    assert done.returncode == -signal.SIGSEGV and done.signal_name == "SIGSEGV" and not done.timed_out
    done = launcher.run(TOOL, ["hang", "x"], timeout=2, env=_env(), cwd=tmp_path)
    # killed, not waited for: at least its time limit, and short of the hang's own 600 s (no wall-clock bound
    # tighter than that, which a busy machine could break)
    assert done.timed_out and done.returncode < 0 and 2 <= done.seconds < 600
    again = launcher.run(TOOL, ["ok", str(tmp_path / "m.onnx")], timeout=60, env=_env(), cwd=tmp_path)
    assert again.returncode == 0, again.stderr                 # the launcher still works afterwards


def test_the_network_guard_holds_in_the_child(launcher, tmp_path):
    done = launcher.run(TOOL, ["connect", "x"], timeout=60, env=_env(), cwd=tmp_path)
    assert done.returncode == 1 and "NetworkAccessDenied" in done.stderr and "connected" not in done.stdout


def test_a_dead_fork_server_is_restarted(tmp_path):
    lau = Launcher("warm", preload=("onnx",), scratch=tmp_path)
    try:
        assert lau.run(TOOL, ["ok", str(tmp_path / "a.onnx")], timeout=60, env=_env(), cwd=tmp_path).returncode == 0
        os.kill(lau._server.proc.pid, signal.SIGKILL)
        lau._server.proc.wait()
        done = lau.run(TOOL, ["ok", str(tmp_path / "b.onnx")], timeout=60, env=_env(), cwd=tmp_path)
        assert done.returncode == 0 and lau.servers_started == 2
    finally:
        lau.close()


def test_warm_children_do_not_load_what_the_server_did_not(tmp_path):
    """The server preloads only what it is told (here onnx): the child is a fork, not a new import."""
    lau = Launcher("warm", preload=("onnx",), scratch=tmp_path)
    try:
        done = lau.run(TOOL, ["ok", str(tmp_path / "a.onnx")], timeout=60, env=_env(), cwd=tmp_path)
        assert json.loads(done.stdout.splitlines()[0])["tensorflow"] is False
    finally:
        lau.close()


@pytest.mark.parametrize("launch", ["warm", "fresh"])
def test_cells_of_command_line_converters_end_in_honest_statuses(tmp_path, launch):
    """Through the whole suite: a command that segfaults is CRASH, one that hangs is TIMEOUT, the
    converter's own opset refusal is UNSUPPORTED_OPSET, a good one PASS; the run goes on."""
    proc = run_conformance(tmp_path, "--converters", "fake-cli-ok,fake-cli-segv,fake-cli-hang,fake-cli-opset",
                           "-k", "fake_tiny-", "--cell-timeout", "20", "--cli-launch", launch)
    doc = json.loads((tmp_path / "results.json").read_text())
    got = {r["converter"]: r for r in doc["records"]}
    assert {c: r["status"] for c, r in got.items()} == {
        "fake-cli-ok": "PASS", "fake-cli-segv": "CRASH", "fake-cli-hang": "TIMEOUT",
        "fake-cli-opset": "UNSUPPORTED_OPSET"}, proc.stdout[-3000:]
    assert "SIGSEGV" in got["fake-cli-segv"]["reason"] and f"{launch} launch" in got["fake-cli-segv"]["reason"]
    assert got["fake-cli-segv"]["stage"] == "isolation" and got["fake-cli-hang"]["stage"] == "isolation"
    assert "CRASH at isolation" in proc.stdout


def test_a_worker_over_its_memory_limit_is_crash_out_of_memory(tmp_path):
    proc = run_conformance(tmp_path, "--converters", "fake-memory,fake-ok", "-k", "fake_tiny-",
                           "--worker-memory", "0.5", "--cell-timeout", "60")
    doc = json.loads((tmp_path / "results.json").read_text())
    got = {r["converter"]: r for r in doc["records"]}
    assert got["fake-memory"]["status"] == "CRASH", proc.stdout[-2000:]
    assert "out of memory" in got["fake-memory"]["reason"] and "0.50 GiB" in got["fake-memory"]["reason"]
    assert got["fake-ok"]["status"] == "PASS"                  # the run goes on with a new worker


@pytest.mark.parametrize("args,message", [
    (["--cli-launch", "lukewarm"], "--cli-launch: 'lukewarm' is not one of warm, fresh"),
    (["--worker-memory", "lots"], "--worker-memory: 'lots' is not a size in GiB"),
    (["--worker-memory", "-1"], "must be a positive number of GiB"),
])
def test_bad_launch_options_are_one_line(tmp_path, args, message):
    proc = run_conformance(tmp_path, "--collect-only", *args)
    err = (proc.stderr + proc.stdout).strip()
    assert proc.returncode == 4 and message in err and "Traceback" not in err


def test_preload_of_a_modules_imports_does_not_run_the_module(tmp_path, monkeypatch):
    """`tests.fakes.cli_tool:imports` imports json, os, signal, socket, sys, time: not cli_tool itself
    (it must run fresh as __main__ in every child)."""
    import sys as _sys

    from conformance.worker import launcher as mod

    assert {"json", "os", "signal", "socket", "sys", "time"} == set(mod._top_level_imports("tests.fakes.cli_tool"))
    monkeypatch.delitem(_sys.modules, "tests.fakes.cli_tool", raising=False)
    mod._preload("tests.fakes.cli_tool:imports")
    assert "tests.fakes.cli_tool" not in _sys.modules
    lau = Launcher("warm", preload=("onnx", "tests.fakes.cli_tool:imports"), scratch=tmp_path)
    try:
        done = lau.run(TOOL, ["ok", str(tmp_path / "a.onnx")], timeout=60, env=_env(), cwd=tmp_path)
        assert done.returncode == 0 and json.loads(done.stdout.splitlines()[0])["name"] == "__main__"
        assert "found in sys.modules" not in done.stderr      # runpy's warning for a preloaded __main__
    finally:
        lau.close()


def test_memory_decision_hard_limit_and_machine_pressure():
    from conformance.worker.pool import over_memory

    G = 2**30
    assert over_memory(3 * G, 2 * G, True, available=20 * G) and over_memory(1 * G, 2 * G, True, 20 * G) is None
    # the default share is not a hard limit: over it, a worker is stopped only when the machine runs out
    assert over_memory(11 * G, 10 * G, False, available=8 * G, reserve=1 * G) is None
    why = over_memory(11 * G, 10 * G, False, available=G // 2, reserve=1 * G)
    assert why and "running out of memory" in why
    assert over_memory(9 * G, 10 * G, False, available=G // 2, reserve=1 * G) is None   # under its share: left alone
    assert over_memory(11 * G, 0, True, available=0) is None                              # 0: no check


def _rollup(pid: int) -> dict[str, int]:
    """Every ``key: N kB`` line of one read of /proc/PID/smaps_rollup, in bytes."""
    with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
        lines = fh.read().decode().splitlines()
    return {k: int(v.split()[0]) * 1024 for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs /proc/PID/smaps_rollup")
def test_group_memory_reads_proportional_sizes_only_over_the_limit(monkeypatch):
    """Under the limit the cheap resident sum decides; over it (or with no limit) the proportional
    sizes are read, which are never above the resident ones, so the decision matches reading them
    every time.

    The child touches 64 MiB and stops itself (SIGSTOP) before anything is read, and every
    assertion on its memory is one reading against that fixed floor (or a comparison inside one
    read of smaps_rollup): two readings of a process's memory are never compared."""
    import subprocess
    import sys as _sys

    from conformance.worker import pool

    held = 64 << 20
    code = f"import os, signal; b = bytearray({held}); os.kill(os.getpid(), signal.SIGSTOP)"
    child = subprocess.Popen([_sys.executable, "-c", code], start_new_session=True)
    try:
        _, status = os.waitpid(child.pid, os.WUNTRACED)     # returns once it has stopped itself
        assert os.WIFSTOPPED(status), status
        assert pool.group_memory(child.pid, 1 << 50) >= held       # under the limit: the resident sum
        assert pool.group_memory(child.pid, 0) >= held             # no limit: the real proportional sizes
        rollup = _rollup(child.pid)                                # Rss and Pss of one read of the file
        assert held <= rollup["Pss"] <= rollup["Rss"]              # so the resident sum is an upper bound
        read = []
        monkeypatch.setattr(pool, "_pss", lambda pid: read.append(pid) or 1)
        assert pool.group_memory(child.pid, 1 << 50) >= held and read == []   # under the limit: no PSS read
        assert pool.group_memory(child.pid, 1) == 1 and read == [str(child.pid)]  # over it: PSS decides
    finally:
        child.kill()
        child.wait()
