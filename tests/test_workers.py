"""Extraction worker processes end when their parent dies (real ``kill -9``, real processes)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from tests.conftest import REPO, rss, seed_html, write_config


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for a parent that does not reap is dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; returns those still running at the timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc through psutil")
def test_killing_the_daemon_ends_its_extraction_workers(tmp_path, site):
    site.set("/a.html", seed_html("cbc-news_2024-06-19"))
    site.set("/b.html", seed_html("kitchen-ledger_2024-03-02"))
    site.set("/feed.xml", rss([("A", site.url("/a.html")), ("B", site.url("/b.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": 3600}],
                       extraction={"workers": 2})
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "run"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        db = tmp_path / "monitor.db"
        end = time.monotonic() + 60
        while time.monotonic() < end:          # both articles extracted and stored
            if db.exists():
                with sqlite3.connect(db) as c:
                    try:
                        if c.execute("select count(*) from articles").fetchone()[0] >= 2:
                            break
                    except sqlite3.OperationalError:
                        pass
            time.sleep(0.2)
        else:
            pytest.fail("the daemon stored no articles in 60 s")
        workers = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)
                   if "spawn_main" in " ".join(c.cmdline())]
        assert workers, "the daemon started no extraction worker"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        left = _wait_gone(workers, timeout=10)
        assert left == [], f"worker processes {left} outlived the daemon"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(workers)


def test_a_worker_whose_parent_dies_idle_ends_too(tmp_path):
    # A parent that made a pool, used it once and then waits: kill -9 it; its workers,
    # idle on the pool's queue, end within seconds.
    script = textwrap.dedent("""
        import os, sys, time
        from monitor.workers import worker_pool
        pool = worker_pool(2)
        futures = [pool.submit(time.sleep, 0.5) for _ in range(2)]
        for f in futures:
            f.result()
        print(" ".join(str(p) for p in pool._processes), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    workers: list[int] = []
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(workers, timeout=10) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(workers)


def test_the_parent_watch_alone_ends_an_orphan(tmp_path):
    # Where no parent-death signal exists (not Linux), the watch thread does the work:
    # a grandchild running only the watch ends once its parent is killed.
    child = textwrap.dedent("""
        import os, subprocess, sys, time
        g = subprocess.Popen([sys.executable, "-c",
            "import os, time, threading; from monitor.workers import _watch_parent;"
            "threading.Thread(target=_watch_parent, args=(os.getppid(), 0.1)).start();"
            "time.sleep(600)"])
        print(g.pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    grandchild = []
    try:
        grandchild = [int(proc.stdout.readline())]
        time.sleep(0.5)
        assert _alive(grandchild[0])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(grandchild, timeout=10) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(grandchild)


def test_worker_pool_rejects_no_workers():
    from monitor.workers import worker_pool

    with pytest.raises(ValueError, match="workers must be 1 or more"):
        worker_pool(0)
