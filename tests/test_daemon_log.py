"""The daemon's log reads top to bottom: when the first poll is due, a one-line summary
at each period with what happened and when the next poll is due, routine 304s only at
DEBUG (the daemon driven in the test process against a local site)."""

from __future__ import annotations

import asyncio
import logging
import re

from monitor.config import load_config
from monitor.daemon import Daemon
from tests.conftest import rss, seed_html, write_config
from tests.inprocess import run_on_reactor, until


def test_log_has_first_due_summaries_with_alerts_and_no_routine_304s(
        tmp_path, site, slack, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("SLACK_URL", slack.url)
    site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"))
    site.set("/feed.xml", rss([("Russia", site.url("/news/russia.html"))]),
             content_type="application/rss+xml", etag='"v1"')
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": 1, "min_interval": 1}],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}],
                       extraction={"workers": 0})
    daemon = Daemon(load_config(cfg), summary_interval=1.0)

    def feed_polls() -> int:
        return len([r for r in site.requests if r.path == "/feed.xml"])

    async def scenario() -> None:
        daemon.start()
        await until(lambda: slack.posts, "the alert posted")
        # a few polls answered 304 Not Modified, and a summary after the alert
        await until(lambda: feed_polls() >= 4, "four feed polls")
        await asyncio.sleep(1.5)
        await daemon.stop()

    try:
        run_on_reactor(scenario())
    finally:
        daemon.close()
    lines = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records
             if r.levelno >= logging.INFO]
    ours = [ln for ln in lines if " monitor.daemon: " in ln]
    assert re.search(r"INFO monitor\.daemon: monitor running: 1 source, .*first poll due "
                     r"\S+ \((now|in [^)]+)\)", lines[0]), lines[:3]
    summaries = [ln for ln in ours if "monitor.daemon: last 1 s:" in ln]
    assert summaries, lines
    assert all(re.search(r"\d+ polls? \(\d+ failed\), \d+ new links?, \d+ articles? stored, "
                         r"\d+ hits?, \d+ alerts? sent \(\d+ failed\); next poll due "
                         r"(\S+ \((now|in [^)]+)\)|after the polls under way)$", ln)
               for ln in summaries), summaries
    assert any("1 alert sent" in ln for ln in summaries), summaries
    assert not [ln for ln in lines if "not modified" in ln.lower()], lines
    not_modified = [r for r in site.requests if r.path == "/feed.xml"][1:]
    assert not_modified and all(r.headers.get("If-None-Match") == '"v1"' for r in not_modified)
