"""The worker pool: answers, crashes, hangs and garbage each end in a clear result."""
import sys
import textwrap

import pytest

from conformance.worker.pool import WorkerPool

FAKE = textwrap.dedent("""
    import json, os, signal, sys, time
    for line in sys.stdin:
        task = json.loads(line)
        what = task["what"]
        if what == "ok":
            print(json.dumps({"stages": {"echo": task}, "facts": {"pid": os.getpid()}}), flush=True)
        elif what == "segv":
            print("about to crash", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
        elif what == "hang":
            time.sleep(600)
        elif what == "garbage":
            print("this is not json", flush=True)
        elif what == "exit":
            sys.exit(3)
""")


@pytest.fixture
def pool(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE)
    p = WorkerPool(tmp_path / "run", threads=1, command=[sys.executable, str(script)])
    yield p
    p.close()


def test_answers_come_back_and_the_worker_is_reused(pool):
    a = pool.run({"what": "ok"}, timeout=30)
    b = pool.run({"what": "ok"}, timeout=30)
    assert a["stages"]["echo"]["what"] == "ok"
    assert a["facts"]["pid"] == b["facts"]["pid"]
    assert pool.workers_started == 1


def test_segfault_is_a_crash_with_the_signal_and_log_tail_then_a_new_worker(pool):
    r = pool.run({"what": "segv"}, timeout=30)
    iso = r["stages"]["isolation"]
    assert iso["status"] == "CRASH" and "SIGSEGV" in iso["error"] and "about to crash" in iso["error"]
    assert pool.run({"what": "ok"}, timeout=30)["stages"]["echo"]
    assert pool.workers_started == 2


def test_hang_is_a_timeout_and_the_next_cell_runs(pool):
    r = pool.run({"what": "hang"}, timeout=1.5)
    assert r["stages"]["isolation"]["status"] == "TIMEOUT"
    assert "1.5 s" in r["stages"]["isolation"]["error"]
    assert pool.run({"what": "ok"}, timeout=30)["stages"]["echo"]


def test_garbage_answer_is_a_crash(pool):
    r = pool.run({"what": "garbage"}, timeout=30)
    assert r["stages"]["isolation"]["status"] == "CRASH" and "garbage" in r["stages"]["isolation"]["error"]
    assert pool.run({"what": "ok"}, timeout=30)["stages"]["echo"]


def test_plain_exit_is_a_crash_with_its_code(pool):
    r = pool.run({"what": "exit"}, timeout=30)
    assert "exit code 3" in r["stages"]["isolation"]["error"]


@pytest.mark.parametrize("share, fresh", [(0, False), (1 << 40, False), (1, True)])
def test_a_worker_over_its_share_between_cells_gives_way_to_a_fresh_one(tmp_path, share, fresh):
    """Between cells (never in the middle of one: the share is not hard), a worker whose process group holds
    more than its memory share is replaced, and the next cell runs in a new process; no share (0) or a
    share it stays under keeps the worker and its caches."""
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE)
    p = WorkerPool(tmp_path / "run", threads=1, command=[sys.executable, str(script)], memory_limit=share,
                   memory_hard=False)
    try:
        a, b = p.run({"what": "ok"}, timeout=30), p.run({"what": "ok"}, timeout=30)
        assert a["stages"]["echo"]["what"] == b["stages"]["echo"]["what"] == "ok"
        assert (a["facts"]["pid"] != b["facts"]["pid"]) == fresh
        assert p.recycled == int(fresh) and p.workers_started == 1 + int(fresh)
    finally:
        p.close()
