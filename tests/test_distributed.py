"""The distributed mode on a real Redis: a writer (``monitor run --redis``) and workers
(``monitor worker --redis``) as subprocesses against a local site.

Each test uses a key prefix of its own on the Redis at 127.0.0.1:6379 (or its own
redis-server on a free port, to restart it) and deletes its keys afterwards. Without a
Redis answering, the tests are skipped with a message saying so.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO, monitor_cmd, write_config
from tests.distributed_site import build_site
from tests.servers import WebhookServer

redis = pytest.importorskip("redis", reason="the redis package is not installed")

REDIS_URL = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(
    not _redis_answers(REDIS_URL),
    reason=f"no Redis answers at {REDIS_URL} (start redis-server, or set "
           f"MONITOR_TEST_REDIS_URL): distributed-mode tests skipped")


@pytest.fixture
def prefix():
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    if _redis_answers(REDIS_URL):
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{name}:*", count=1000):
            client.delete(key)
        client.close()


@pytest.fixture
def hook():
    """A webhook channel's receiving end (alerts arrive here as JSON)."""
    with WebhookServer() as server:
        yield server


class Procs:
    """The monitor processes of a test: each one's output goes to a file."""

    def __init__(self, tmp: Path, config: Path, url: str) -> None:
        self.tmp, self.config, self.url = tmp, config, url
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, role: str, name: str) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        with open(log, "a") as out:
            proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c",
                                     str(self.config), role, "--redis", self.url], cwd=REPO,
                                    stdout=out, stderr=subprocess.STDOUT, text=True)
        self.procs.append((name, proc, log))
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for _name, proc, _log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc, _log in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{log.read_text()[-3000:]}" for n, _p, log in self.procs)


@pytest.fixture
def procs_factory(tmp_path):
    made: list[Procs] = []

    def make(config: Path, url: str = REDIS_URL) -> Procs:
        p = Procs(tmp_path, config, url)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop_all()


def _config(tmp_path: Path, sources: list[dict], hook: WebhookServer, prefix: str,
            visibility: str = "2s", delay: float = 0, polls_per_worker: int = 1,
            per_host: int = 2) -> Path:
    return write_config(
        tmp_path / "monitor.yaml", sources=sources,
        # burst 0: every alert is posted on its own, however many a fast writer has
        # waiting at once (these tests count one post per article)
        channels=[{"kind": "webhook", "name": "hook", "url": hook.url, "burst": 0}],
        crawl={"obey_robots": True, "download_delay": delay, "autothrottle": False,
               "download_timeout": 10, "allow_private_networks": True,
               "concurrent_per_domain": per_host},
        extraction={"workers": 0}, delivery={"interval": 1},
        distributed={"key_prefix": prefix, "visibility_timeout": visibility,
                     "polls_per_worker": polls_per_worker})


def _wait(what: str, predicate, timeout: float, procs: Procs | None = None,
          every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"waited {timeout:g} s for {what}\n"
                         f"{procs.logs() if procs else ''}")


def _db_rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:   # tables not made yet
        return []
    finally:
        conn.close()


def _status(config: Path, url: str = REDIS_URL) -> dict:
    done = monitor_cmd("-c", str(config), "status", "--json", "--redis", url, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["distributed"]


def _alert_ids(hook: WebhookServer) -> Counter:
    """How many times each alert id arrived (the webhook's Idempotency-Key)."""
    keys = [r.headers.get("Idempotency-Key") or "" for r in hook.requests
            if r.method == "POST"]
    keys = [k for k in keys if k.startswith("alert-")]   # not health notices
    return Counter(keys)


def _article_fetches(site) -> Counter:
    return Counter(r.path for r in site.requests if r.path.startswith("/news/"))


def _all_done(db: Path, hook: WebhookServer, n: int):
    stored = _db_rows(db, "select count(*) from articles")
    return stored and stored[0][0] >= n and len(_alert_ids(hook)) >= n


@needs_redis
def test_two_workers_split_a_crawl_each_article_fetched_stored_and_alerted_once(
        tmp_path, site, hook, prefix, procs_factory):
    sources = build_site(site, feeds=4, per_feed=4)
    config = _config(tmp_path, sources, hook, prefix)
    db = tmp_path / "monitor.db"
    procs = procs_factory(config)
    procs.start("worker", "worker1")
    procs.start("worker", "worker2")
    _wait("both workers to say they are alive",
          lambda: len(_status(config)["workers"]) == 2, 60, procs, every=0.5)
    procs.start("run", "writer")
    _wait("16 articles stored and alerted", lambda: _all_done(db, hook, 16), 60, procs)
    time.sleep(1.5)   # a late duplicate fetch, store or alert would show by now

    fetches = _article_fetches(site)
    assert len(fetches) == 16 and set(fetches.values()) == {1}, fetches
    assert _db_rows(db, "select count(*), count(distinct url) from articles") == [(16, 16)]
    alerts = _alert_ids(hook)
    assert len(alerts) == 16 and set(alerts.values()) == {1}, alerts
    # the work was split: each worker ran polls (heartbeats carry their counts)
    _wait("both workers' poll counts",
          lambda: sum(w["polls"] for w in _status(config)["workers"]) == 4, 10, procs)
    status = _status(config)
    assert sorted(w["polls"] > 0 for w in status["workers"]) == [True, True], status
    assert status["tasks"]["waiting"] == 0 and status["results"]["waiting"] == 0
    assert status["writer"] is not None
    text = monitor_cmd("-c", str(config), "status", "--redis", REDIS_URL).stdout
    assert "2 workers seen in the last 5 min" in text, text
    assert "results: 0 waiting, 0 taken by the writer" in text, text


@needs_redis
def test_a_worker_killed_mid_fetch_its_poll_is_polled_again_and_stored_once(
        tmp_path, site, hook, prefix, procs_factory):
    sources = build_site(site, feeds=1, per_feed=6, delay=1.0)
    config = _config(tmp_path, sources, hook, prefix, visibility="2s")
    db = tmp_path / "monitor.db"
    procs = procs_factory(config)
    doomed = procs.start("worker", "doomed")
    procs.start("run", "writer")
    # the doomed worker is inside an article download (each takes 1 s)
    site.wait_for(1, timeout=60, path="/news/a0.html")
    site._requests.wait_for(3, 30, "article requests",
                            lambda r: r.path.startswith("/news/"))
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()
    before = _article_fetches(site)
    procs.start("worker", "survivor")
    _wait("6 articles stored and alerted", lambda: _all_done(db, hook, 6), 60, procs)
    time.sleep(1.0)

    assert _db_rows(db, "select count(*), count(distinct url) from articles") == [(6, 6)]
    alerts = _alert_ids(hook)
    assert len(alerts) == 6 and set(alerts.values()) == {1}, alerts
    # the poll was taken over by the survivor: it fetched what the dead one had not
    # delivered, including an article the dead worker was fetching when it was killed
    after = _article_fetches(site)
    assert len(after) == 6
    assert any(after[p] > before.get(p, 0) for p in before), (before, after)
    assert "taken over from a worker" in procs.log("survivor")
    assert time.monotonic() - killed_at >= 2.0


@needs_redis
def test_the_writer_killed_between_receiving_and_committing_loses_and_doubles_nothing(
        tmp_path, site, hook, prefix, procs_factory):
    sources = build_site(site, feeds=1, per_feed=4, delay=0.5)
    config = _config(tmp_path, sources, hook, prefix)
    db = tmp_path / "monitor.db"
    procs = procs_factory(config)
    procs.start("worker", "worker")
    writer = procs.start("run", "writer")
    site.wait_for(1, timeout=60, path="/feed0.xml")
    # another process holds the database's write lock: the writer can read results
    # but not commit them
    lock = sqlite3.connect(db, timeout=30)
    lock.execute("begin immediate")
    try:
        client = redis.Redis.from_url(REDIS_URL)
        _wait("the writer to hold results it has not committed",
              lambda: client.xpending(f"{prefix}:results", "writer")["pending"] >= 1,
              30, procs)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        held = client.xpending(f"{prefix}:results", "writer")["pending"]
        client.close()
    finally:
        lock.rollback()
        lock.close()
    assert held >= 1
    assert _db_rows(db, "select count(*) from articles") == [(0,)]
    procs.start("run", "writer-again")
    _wait("4 articles stored and alerted", lambda: _all_done(db, hook, 4), 60, procs)
    time.sleep(1.5)

    assert _db_rows(db, "select count(*), count(distinct url) from articles") == [(4, 4)]
    alerts = _alert_ids(hook)
    assert len(alerts) == 4 and set(alerts.values()) == {1}, alerts
    assert _db_rows(db, "select count(*) from outbox where status != 'sent'") == [(0,)]


@needs_redis
def test_two_workers_together_keep_the_delay_between_requests_to_one_host(
        tmp_path, site, hook, prefix, procs_factory):
    sources = build_site(site, feeds=3, per_feed=3)
    delay = 0.6
    config = _config(tmp_path, sources, hook, prefix, delay=delay)
    db = tmp_path / "monitor.db"
    procs = procs_factory(config)
    procs.start("worker", "worker1")
    procs.start("worker", "worker2")
    _wait("both workers to say they are alive",
          lambda: len(_status(config)["workers"]) == 2, 60, procs, every=0.5)
    procs.start("run", "writer")
    _wait("9 articles stored", lambda: _all_done(db, hook, 9), 90, procs)

    # every request to the host (robots.txt, feeds, articles), from both workers
    times = sorted(r.at for r in site.requests)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 3 + 9 + 2
    # both workers fetched: each sent its own robots.txt request
    assert sum(r.path == "/robots.txt" for r in site.requests) == 2
    # the configured delay held between any two requests, whoever sent them (a little
    # less is a busy worker sending a little after its reserved time; without the
    # shared gate two workers send at the same moment, gaps of a few milliseconds)
    assert min(gaps) >= delay - 0.2, [round(g, 3) for g in gaps]
    assert sum(gaps) / len(gaps) >= delay * 0.98, [round(g, 3) for g in gaps]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of the test's own on a free port, keeping nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait("redis-server to answer", lambda: _redis_answers(self.url), 10)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the Redis restart test needs its own")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.kill()


def test_redis_restarted_mid_crawl_workers_and_writer_reconnect_and_go_on(
        tmp_path, site, hook, own_redis, procs_factory):
    sources = build_site(site, feeds=3, per_feed=4, delay=0.4)
    config = _config(tmp_path, sources, hook, "restart", visibility="2s")
    db = tmp_path / "monitor.db"
    procs = procs_factory(config, own_redis.url)
    procs.start("worker", "worker1")
    procs.start("worker", "worker2")
    procs.start("run", "writer")
    _wait("a first article stored",
          lambda: (_db_rows(db, "select count(*) from articles") or [(0,)])[0][0] >= 1,
          60, procs)
    own_redis.kill()            # it keeps nothing on disk: it comes back empty
    time.sleep(2.0)
    own_redis.start()
    _wait("12 articles stored and alerted", lambda: _all_done(db, hook, 12), 60, procs)
    time.sleep(1.5)

    assert _db_rows(db, "select count(*), count(distinct url) from articles") == [(12, 12)]
    alerts = _alert_ids(hook)
    assert len(alerts) == 12 and set(alerts.values()) == {1}, alerts
    for name in ("writer", "worker1", "worker2"):
        text = procs.log(name)
        assert f"redis redis://127.0.0.1:{own_redis.port}/0 unreachable" in text, text
        assert "reachable again" in text, text
        assert "Traceback" not in text, text
    assert "lost its data" in procs.log("writer")


def test_records_cross_the_queue_as_they_are():
    from datetime import datetime, timezone

    from monitor.models import Article, Page, Rejection
    from monitor.records import LinkOutcome, PollTask, RunResult
    from monitor.wire import WireError, decode, encode

    now = datetime(2024, 6, 19, 8, 12, tzinfo=timezone.utc)
    task = PollTask(7, "bbc", "feed", "https://b.test/rss", 50, now, '"v1"', None,
                    ("b.test",))
    run = RunResult(7, "bbc", "https://b.test/rss", True, None, 2, 2, True, now, now, now,
                    (("https://b.test/rss", '"v2"', None),), retry_after_host="b.test",
                    retry_after_until=now)
    link = LinkOutcome(7, "https://b.test/x", "bbc", "rejected", "http-error", "HTTP 503",
                       True)
    assert [decode(encode(r)) for r in (task, run, link)] == [task, run, link]
    page = Page("https://b.test/a", b"<html>megabytes</html>", "bbc", {"etag": "x"},
                feed_published=now, run_id=7, redirected_from=("https://t.co/a",))
    article = Article("https://b.test/a", "https://b.test/a", "bbc", "T", "Text",
                      published=now, keywords=("k",))
    message = encode((page, article))
    assert b"megabytes" not in message and json.loads(message)["type"] == "page"
    got_page, got_article = decode(message)
    assert got_article == article and got_page.redirected_from == ("https://t.co/a",)
    assert got_page.feed_published == now and got_page.body == b""
    rejection = Rejection("https://b.test/a", "bbc", "too-short", "12 characters")
    assert decode(encode((page, rejection)))[1] == rejection
    with pytest.raises(WireError, match="unknown message type"):
        decode(b'{"type": "nope", "v": 1}')
    with pytest.raises(WireError, match="version"):
        decode(b'{"type": "run", "v": 99}')


@pytest.mark.parametrize("section, problem", [
    ({"visibility_timeout": "soon"}, "distributed.visibility_timeout: must be a duration"),
    ({"key_prefix": "a b"}, "distributed.key_prefix: String should match pattern"),
    ({"polls_per_worker": 0}, "distributed.polls_per_worker: Input should be greater"),
    ({"redis_url": "redis://x"}, "distributed.redis_url: unknown setting"),
])
def test_a_bad_distributed_section_is_one_line_and_exit_2(tmp_path, section, problem):
    config = write_config(tmp_path / "monitor.yaml", sources=[], distributed=section)
    done = monitor_cmd("-c", str(config), "worker", "--redis", "redis://127.0.0.1:1/0",
                       timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert problem in line and line.startswith("monitor: ")


def test_a_worker_without_a_redis_url_says_which_variable_to_set(tmp_path):
    config = write_config(tmp_path / "monitor.yaml", sources=[],
                          distributed={"redis_url_env": "DESK_REDIS"})
    env = {k: v for k, v in os.environ.items() if k != "DESK_REDIS"}
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "-c", str(config), "worker"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"monitor: {config}: distributed.redis_url_env: "
                                   f"environment variable DESK_REDIS is not set (or give "
                                   f"--redis URL)")
    done = monitor_cmd("-c", str(config), "run", "--redis", "http://127.0.0.1:6379")
    assert done.returncode == 2 and "must start with redis://" in done.stderr


def test_the_embedded_mode_never_imports_redis():
    code = ("import sys, monitor.cli, monitor.daemon, monitor.crawl.context, "
            "monitor.crawl.runner, spiders.sources; print('redis' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


@needs_redis
def test_a_poll_whose_workers_keep_dying_is_given_up_as_failed(prefix):
    from datetime import datetime, timezone

    from monitor.distributed.queues import MAX_DELIVERIES, Queues
    from monitor.records import PollTask, RunResult
    from monitor.wire import decode

    queues = Queues(REDIS_URL, prefix, visibility_timeout=0.05)
    queues.ensure_groups()
    task = PollTask(41, "heavy", "sitemap", "https://h.test/sitemap.xml", 10,
                    datetime.now(timezone.utc))
    queues.publish([task])
    taken = []
    for n in range(MAX_DELIVERIES + 1):     # each worker takes it, then "dies"
        time.sleep(0.1)
        taken.append(queues.take_tasks(f"worker-{n}", 1, 10))
    try:
        assert [len(t) for t in taken] == [1] * MAX_DELIVERIES + [0]
        [(_mid, data)] = queues.read_results(10, None, pending=False)
        result = decode(data)
        assert isinstance(result, RunResult) and result.run_id == 41 and not result.ok
        assert "given up" in result.error
        assert queues.status()["tasks"] == {"waiting": 0, "taken": 0, "oldest_age": None}
    finally:
        queues.close()


@needs_redis
def test_a_worker_stopped_with_sigterm_hands_its_poll_back_at_once(
        tmp_path, site, hook, prefix, procs_factory):
    sources = build_site(site, feeds=1, per_feed=6, delay=1.0)
    config = _config(tmp_path, sources, hook, prefix, visibility="60s", delay=0.5)
    db = tmp_path / "monitor.db"
    procs = procs_factory(config)
    leaving = procs.start("worker", "leaving")
    procs.start("run", "writer")
    site._requests.wait_for(1, 60, "article requests", lambda r: r.path.startswith("/news/"))
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(30) == 0
    stopped = time.monotonic()
    fetched_before = sum(_article_fetches(site).values())
    assert fetched_before < 6      # the poll was not over when the worker left
    procs.start("worker", "staying")
    _wait("6 articles stored and alerted", lambda: _all_done(db, hook, 6), 45, procs)
    # taken over long before the 60 s visibility timeout
    assert time.monotonic() - stopped < 40
    assert "taken over from a worker" in procs.log("staying")
    assert _db_rows(db, "select count(*), count(distinct url) from articles") == [(6, 6)]
    alerts = _alert_ids(hook)
    assert len(alerts) == 6 and set(alerts.values()) == {1}, alerts


@needs_redis
def test_a_sitemap_child_gets_a_conditional_get_from_whichever_worker_polls_it(
        tmp_path, site, hook, prefix, procs_factory):
    from tests.distributed_site import article_html
    from tests.servers import Route

    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    urls = []
    for n in range(2):
        path = f"/news/s{n}.html"
        site[path] = (200, "text/html; charset=utf-8", article_html(500 + n, site.url(path)))
        urls.append(site.url(path))
    child = "".join(f"<url><loc>{u}</loc><lastmod>2024-06-19</lastmod></url>" for u in urls)
    site["/child.xml"] = Route(200, "application/xml",
                               f"<urlset {ns}>{child}</urlset>".encode(), etag='"c1"')
    # the index changes on every poll (no validators): its child is read each time
    site["/index.xml"] = (200, "application/xml",
                          f"<sitemapindex {ns}><sitemap><loc>{site.url('/child.xml')}</loc>"
                          f"</sitemap></sitemapindex>".encode())
    sources = [{"name": "maps", "kind": "sitemap", "url": site.url("/index.xml"),
                "interval": "2s", "min_interval": "1s"}]
    config = _config(tmp_path, sources, hook, prefix, polls_per_worker=1)
    procs = procs_factory(config)
    procs.start("worker", "worker1")
    procs.start("worker", "worker2")
    procs.start("run", "writer")
    site._requests.wait_for(3, 60, "child sitemap requests",
                            lambda r: r.path == "/child.xml")
    first, *later = [r for r in site.requests if r.path == "/child.xml"]
    assert first.headers.get("If-None-Match") is None
    assert all(r.headers.get("If-None-Match") == '"c1"' for r in later), later
    assert _article_fetches(site) == Counter({"/news/s0.html": 1, "/news/s1.html": 1})
