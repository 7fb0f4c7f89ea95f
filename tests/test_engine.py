"""The long-lived crawl engine of ``monitor run``, against real local servers.

Each test runs the real daemon in a subprocess (its own reactor) on a local site and
reads what the site saw: request times, robots.txt fetches, 429 holds, restarts, and a
database write lock held past the busy timeout.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, monitor_cmd, rss, write_config

PAGES = Path(__file__).parent / "pages" / "lock"


class Daemon:
    """``monitor -c CONFIG run`` in a subprocess; its log is collected in ``.log``."""

    def __init__(self, config: Path, env: dict | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "-c", str(config), "run"], cwd=REPO,
            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    @property
    def log(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60) -> float:
        """Wait until a log line contains ``text``; returns the time.time() it was seen."""
        with self._cond:
            if not self._cond.wait_for(lambda: any(text in x for x in self.lines), timeout):
                raise TimeoutError(f"no log line with {text!r} in {timeout} s:\n{self.log}")
        return time.time()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _feed_times(site, path):
    return [r.at for r in site.requests if r.path == path]


def test_sources_of_one_host_share_one_politeness_budget_and_one_robots_txt(tmp_path, site):
    for name in ("a", "b", "c"):
        site.set(f"/{name}.xml", rss([]), content_type="application/rss+xml")
    delay = 0.6
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": n, "kind": "feed", "url": site.url(f"/{n}.xml"), "interval": 1,
         "min_interval": 0.5, "max_interval": 1.5} for n in ("a", "b", "c")],
        crawl={"download_delay": delay, "autothrottle": False, "download_timeout": 5,
               "concurrent_per_domain": 2})
    daemon = Daemon(cfg)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and min(
                len(_feed_times(site, f"/{n}.xml")) for n in "abc") < 3:
            time.sleep(0.2)
    finally:
        assert daemon.stop() == 0, daemon.log
    polls = {n: len(_feed_times(site, f"/{n}.xml")) for n in "abc"}
    assert min(polls.values()) >= 3, polls                    # polled again and again
    times = sorted(r.at for r in site.requests)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Scrapy spreads requests to one host 0.5 to 1.5 times DOWNLOAD_DELAY apart: the
    # three sources never come closer than that, whichever polled first
    assert min(gaps) >= 0.5 * delay - 0.05, gaps
    robots = [r for r in site.requests if r.path == "/robots.txt"]
    assert len(robots) == 1, [r.path for r in site.requests]
    assert "Traceback" not in daemon.log


def test_robots_txt_is_fetched_again_once_it_is_older_than_robots_max_age(tmp_path, site):
    site.set("/a.xml", rss([]), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "a", "kind": "feed", "url": site.url("/a.xml"), "interval": 0.5,
         "min_interval": 0.5, "max_interval": 0.5}],
        crawl={"download_delay": 0, "autothrottle": False, "download_timeout": 5,
               "robots_max_age": "2s"})
    daemon = Daemon(cfg)
    try:
        site.wait_for(2, path="/robots.txt", timeout=60)
    finally:
        assert daemon.stop() == 0, daemon.log
    robots = [r.at for r in site.requests if r.path == "/robots.txt"]
    # the max age counts from when the first request was sent; the server stamps
    # arrivals, which can lag a send by a few milliseconds (polls are 0.5 s apart, so
    # an early re-fetch would be 0.5 s or more short)
    assert robots[1] - robots[0] >= 2.0 - 0.05
    assert len(_feed_times(site, "/a.xml")) > len(robots)   # kept between the fetches


def test_a_429_with_retry_after_holds_the_whole_host(tmp_path, site):
    site.set("/a.xml", b"slow down", status=429, content_type="text/plain",
             headers={"Retry-After": "4"})
    site.set("/b.xml", rss([]), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": n, "kind": "feed", "url": site.url(f"/{n}.xml"), "interval": 1,
         "min_interval": 0.5, "max_interval": 2} for n in ("a", "b")],
        crawl={"download_delay": 0.3, "autothrottle": False, "download_timeout": 5})
    daemon = Daemon(cfg)
    try:
        [first] = site.wait_for(1, path="/a.xml", timeout=60)
        site.set("/a.xml", rss([]), content_type="application/rss+xml")
        deadline = time.time() + 30
        while time.time() < deadline and not [t for t in _feed_times(site, "/b.xml")
                                              if t > first.at + 4]:
            time.sleep(0.2)
    finally:
        assert daemon.stop() == 0, daemon.log
    held = [r for r in site.requests if first.at < r.at < first.at + 3.9]
    assert held == [], [(r.path, round(r.at - first.at, 2)) for r in held]
    assert [t for t in _feed_times(site, "/b.xml") if t > first.at + 3.9]   # resumed after
    assert "answered 429 with Retry-After" in daemon.log


def test_a_restart_resumes_the_schedule_without_a_burst_of_polls(tmp_path, site):
    for name in ("a", "b"):
        site.set(f"/{name}.xml", rss([]), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": n, "kind": "feed", "url": site.url(f"/{n}.xml"), "interval": 60}
        for n in ("a", "b")])
    daemon = Daemon(cfg)
    try:
        site.wait_for(1, path="/a.xml", timeout=60)
        site.wait_for(1, path="/b.xml", timeout=60)
        time.sleep(1.5)                    # the schedule is written once a second
    finally:
        assert daemon.stop() == 0, daemon.log
    polled = len(site.requests)
    listing = monitor_cmd("-c", str(cfg), "sources", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count('"state": "ok"') == 2

    again = Daemon(cfg)
    try:
        seen = again.wait_for_line("monitor running")
        while time.time() < seen + 4:
            time.sleep(0.2)
    finally:
        assert again.stop() == 0, again.log
    assert len(site.requests) == polled, [r.path for r in site.requests[polled:]]


@pytest.mark.parametrize("kind,path,body,content_type,expected", [
    ("feed", "/sitemap.xml",
     b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
     b"<url><loc>http://example.test/a</loc></url></urlset>", "application/xml",
     "is an XML sitemap (urlset), not a feed: set kind: sitemap"),
    ("feed", "/front.html", b"<!doctype html><html><head><link rel=alternate "
     b"type='application/rss+xml' href='/rss.xml'></head><body>News</body></html>",
     "text/html", "is an HTML page, not a feed: its feed is announced at"),
    ("sitemap", "/robots.txt", b"User-agent: *\nAllow: /\n", "text/plain", "names no sitemap"),
    ("sitemap", "/news.xml.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xb3\xb1\xaf",
     "application/x-gzip", "gzip data is truncated"),
])
def test_a_source_of_the_wrong_kind_fails_with_what_to_change(tmp_path, site, kind, path,
                                                            body, content_type, expected):
    site.set(path, body, content_type=content_type)
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "wrong", "kind": kind, "url": site.url(path)}])
    run = monitor_cmd("-c", str(cfg), "crawl", "--no-deliver")
    assert run.returncode == 1, run.stderr          # the only source failed
    assert expected in run.stderr and "Traceback" not in run.stderr
    listing = monitor_cmd("-c", str(cfg), "sources", "list")
    assert "wrong" in listing.stdout and "failing since" in listing.stdout
    assert expected in listing.stdout


def test_case_07_a_truncated_child_sitemap_is_an_error_not_ok(tmp_path, site):
    import gzip

    base = site.url("").rstrip("/")
    pages = Path(__file__).parent / "pages" / "case07"
    for n in (1, 2):
        site.set(f"/a{n}.html", (pages / f"a{n}.html").read_bytes(),
                 content_type="text/html")
    site.set("/sitemap_index.xml", (
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/'
        'schemas/sitemap/0.9">' + "".join(f"<sitemap><loc>{base}/news-{n}.xml.gz</loc>"
                                          "</sitemap>" for n in (1, 2, 3)) +
        "</sitemapindex>"), content_type="application/xml")

    def urlset(page: str) -> bytes:
        return gzip.compress(
            f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/'
            f'schemas/sitemap/0.9"><url><loc>{base}/{page}</loc><lastmod>2026-11-30T07:00:00Z'
            f'</lastmod></url></urlset>'.encode())
    # served as Content-Encoding: gzip (Scrapy unpacks it), as x-gzip, and truncated
    site.set("/news-1.xml.gz", urlset("a1.html"), content_type="application/octet-stream",
             headers={"Content-Encoding": "gzip"})
    site.set("/news-2.xml.gz", urlset("a2.html"), content_type="application/x-gzip")
    truncated = urlset("a3.html")
    site.set("/news-3.xml.gz", truncated[:len(truncated) // 2],
             content_type="application/x-gzip")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "news-sitemap", "kind": "sitemap", "url": site.url("/sitemap_index.xml")}])
    run = monitor_cmd("-c", str(cfg), "crawl", "--no-deliver")
    assert "news-3.xml.gz cannot be read: gzip data is truncated" in run.stderr, run.stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("select count(*) from articles").fetchone()[0] == 2   # the others work
    db.close()
    status = monitor_cmd("-c", str(cfg), "status")
    assert "failing" in status.stdout and "truncated" in status.stdout


def _lock_pages():
    """Ten distinct article pages (case 19b's), each mentioning the watched terms."""
    return sorted(PAGES.glob("pa*.html"))


@pytest.mark.skipif(not PAGES.is_dir(), reason="tests/pages/lock missing")
def test_a_write_lock_held_30_s_while_new_items_arrive_loses_nothing(tmp_path, site, slack):
    pages = _lock_pages()
    for page in pages:
        site.set(f"/{page.name}", page.read_bytes(), content_type="text/html")

    def feed(n: int) -> None:
        site.set("/feed.xml", rss([(f"t{i}", site.url(f"/pa{i}.html")) for i in range(n)]),
                 content_type="application/rss+xml")
    feed(2)
    rules = tmp_path / "rules"
    shutil.copytree(PAGES / "rules", rules)
    cfg = write_config(tmp_path / "monitor.yaml", rules=rules, sources=[
        {"name": "wire", "kind": "feed", "url": site.url("/feed.xml"), "interval": 3,
         "min_interval": 1, "max_interval": 4}],
        channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}],
        extraction={"workers": 1})
    db_path = tmp_path / "monitor.db"
    daemon = Daemon(cfg, env={"SLACK_URL": slack.url})
    try:
        slack.wait_for(2, timeout=90)
        lock = sqlite3.connect(db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")           # another process holds the write lock
        feed(10)                                  # 8 new articles appear meanwhile
        site.wait_for(1, path="/pa9.html", timeout=60)
        time.sleep(30)
        lock.execute("COMMIT")
        lock.close()
        slack.wait_for(10, timeout=120)
        time.sleep(3)                             # nothing more may come
    finally:
        assert daemon.stop() == 0, daemon.log
    db = sqlite3.connect(db_path)
    assert db.execute("select count(*) from articles").fetchone()[0] == 10
    assert db.execute("select count(*) from hits").fetchone()[0] == 10
    db.close()
    assert len(slack.posts) == 10
    assert "not stored" in daemon.log and "fetched again" in daemon.log
    assert "Traceback" not in daemon.log


def test_commands_started_while_the_database_is_locked_exit_with_one_line(tmp_path, site):
    site.set("/feed.xml", rss([]), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "a", "kind": "feed", "url": site.url("/feed.xml")}])
    assert monitor_cmd("-c", str(cfg), "status").returncode == 0   # creates the database
    lock = sqlite3.connect(tmp_path / "monitor.db", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        runs = [monitor_cmd("-c", str(cfg), *args, timeout=60)
                for args in (("crawl",), ("deliver",), ("replay", "--db",
                                                        str(tmp_path / "monitor.db")))]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    for run in runs:
        assert run.returncode in (1, 2), run.stderr
        assert "Traceback" not in run.stderr, run.stderr
        assert "database" in run.stderr and "locked" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_sitemap_index_is_read_in_full_each_poll_so_new_children_entries_are_seen(
        tmp_path, site):
    base = site.url("").rstrip("/")
    pages = Path(__file__).parent / "pages" / "case07"
    for n in (1, 2):
        site.set(f"/a{n}.html", (pages / f"a{n}.html").read_bytes(), content_type="text/html")
    site.set("/index.xml", f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/'
             f'schemas/sitemap/0.9"><sitemap><loc>{base}/news.xml</loc></sitemap>'
             f'</sitemapindex>', content_type="application/xml")

    def news(*names: str) -> None:
        site.set("/news.xml", '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
                 'schemas/sitemap/0.9">' + "".join(f"<url><loc>{base}/{n}</loc></url>"
                                                   for n in names) + "</urlset>",
                 content_type="application/xml")
    news("a1.html")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "idx", "kind": "sitemap", "url": site.url("/index.xml")}])
    assert monitor_cmd("-c", str(cfg), "crawl", "--no-deliver").returncode == 0
    news("a1.html", "a2.html")                 # the index stays the same (same ETag)
    run = monitor_cmd("-c", str(cfg), "crawl", "--no-deliver")
    assert run.returncode == 0, run.stderr
    assert "1 new article" in run.stdout
    assert len([r for r in site.requests if r.path == "/a2.html"]) == 1


def test_a_poll_whose_only_new_link_is_gone_is_still_recorded(tmp_path, site):
    site.set("/feed.xml", rss([("Gone", site.url("/gone.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "a", "kind": "feed", "url": site.url("/feed.xml")}])
    run = monitor_cmd("-c", str(cfg), "crawl", "a", "a")       # named twice: polled once
    assert run.returncode == 0, run.stderr
    assert "interrupted" not in run.stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    polled, status = db.execute("select last_polled_at, last_status from sources "
                                "where name = 'a'").fetchone()
    assert polled is not None and status == "ok"
    assert db.execute("select reason from pages").fetchone()[0] == "http-error"
    db.close()
    assert len([r for r in site.requests if r.path == "/feed.xml"]) == 1


def test_one_pass_does_not_wait_for_a_stored_host_hold(tmp_path, site):
    from datetime import datetime, timedelta, timezone

    from monitor.store import Store

    site.set("/feed.xml", rss([]), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": "a", "kind": "feed", "url": site.url("/feed.xml")}])
    store = Store(tmp_path / "monitor.db")
    host = site.url("").split("//")[1].rstrip("/")
    store.save_schedule([], {host: datetime.now(timezone.utc) + timedelta(hours=1)})
    store.close()
    run = monitor_cmd("-c", str(cfg), "crawl", timeout=60)
    assert run.returncode == 0, run.stderr
    assert [r.path for r in site.requests if r.path == "/feed.xml"] == ["/feed.xml"]


def test_a_dead_extraction_worker_is_replaced_and_the_page_still_stored(tmp_path):
    import asyncio

    from monitor.config import load_config
    from monitor.crawl.context import CrawlContext
    from monitor.models import Page
    from tests.conftest import seed_html

    cfg = write_config(tmp_path / "monitor.yaml", sources=[], extraction={"workers": 1})
    context = CrawlContext(load_config(cfg))
    try:
        page = Page(url="https://www.cbc.ca/news/world/russia-north-korea-1.7239580",
                    body=seed_html("cbc-news_2024-06-19"), source="replay")

        async def scenario():
            first = await context.process(page)
            for process in list(context.extractors._processes.values()):
                process.kill()
                process.join()
            second = await context.process(Page(url=page.url + "?x", body=page.body,
                                                source="replay"))
            return first, second
        first, second = asyncio.run(scenario())
        assert first.status == "stored" and second.status == "duplicate"
    finally:
        context.close()


def test_a_stop_sends_nothing_more_and_is_quick_even_with_polls_waiting(tmp_path, site):
    for n in range(40):
        site.set(f"/f{n}.xml", rss([]), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", sources=[
        {"name": f"f{n}", "kind": "feed", "url": site.url(f"/f{n}.xml"), "interval": 60}
        for n in range(40)],
        crawl={"download_delay": 0.5, "autothrottle": False, "download_timeout": 5},
        schedule={"start_rate": 1000})
    daemon = Daemon(cfg)
    try:
        site.wait_for(4, timeout=60)               # robots.txt and the first feeds
    finally:
        signalled = time.time()
        assert daemon.stop() == 0, daemon.log
    took = time.time() - signalled
    late = [r.path for r in site.requests if r.at > signalled + 0.1]
    assert took < 8, daemon.log
    assert len(late) <= 2, late                     # at most what was already on its way
    assert "cut short, due again at the next start" in daemon.log
    assert "Traceback" not in daemon.log


def test_one_request_at_a_time_to_a_host_limited_to_one_even_without_delay(tmp_path, site):
    """concurrent_per_domain: 1 with download_delay: 0: the articles of one host are
    fetched one after the other (Scrapy 2.19 alone sends them all at once)."""
    from tests.conftest import monitor_cmd, rss, seed_html, write_config

    items = []
    for i in range(4):
        site.set(f"/slow{i}.html", seed_html("cbc-news_2024-06-19").replace(
            b"Putin", f"Putin{i}".encode()), delay=0.5)
        items.append((f"t{i}", site.url(f"/slow{i}.html")))
    site.set("/slow-feed.xml", rss(items), content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml", extraction={"workers": 0},
                       sources=[{"name": "s", "kind": "feed", "url": site.url("/slow-feed.xml")}],
                       crawl={"obey_robots": True, "download_delay": 0, "autothrottle": False,
                              "download_timeout": 10, "concurrent_per_domain": 1})
    assert monitor_cmd("--config", str(cfg), "crawl").returncode == 0
    arrivals = sorted(r.at for r in site.requests if r.path.startswith("/slow") and
                      r.path.endswith(".html"))
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.45, gaps
