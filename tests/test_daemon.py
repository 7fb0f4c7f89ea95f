"""The daemon (``monitor run``) driven in the test process: a real crawl on the reactor
against a local site, its jobs run on their timers or by name, an injected clock.
The signals are tested on a real process in ``test_daemon_signals.py`` and
``test_daemon_stop.py``."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from monitor.config import MonitorConfig, load_config
from monitor.daemon import Daemon
from tests.conftest import RULES, rss, seed_html, write_config
from tests.inprocess import Clock, run_on_reactor, until

#: In-process extraction: the worker processes are tested by the subprocess tests.
IN_PROCESS = {"workers": 0}


def _slack_config(tmp_path, site, monkeypatch, slack, interval: float = 1,
                  **channel) -> MonitorConfig:
    monkeypatch.setenv("SLACK_URL", slack.url)
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": interval, "min_interval": 1}],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL",
                                  **channel}],
                       extraction=IN_PROCESS)
    return load_config(cfg)


def _feed(site, *items: tuple[str, str], etag: str | None = None) -> None:
    site.set("/feed.xml", rss([(title, site.url(path)) for title, path in items]),
             content_type="application/rss+xml", etag=etag)


def test_daemon_alerts_on_an_article_added_while_running_and_stops_cleanly(
        tmp_path, site, slack, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="monitor")
    site.set("/food/sourdough.html", seed_html("kitchen-ledger_2024-03-02"))
    _feed(site, ("Sourdough", "/food/sourdough.html"))
    daemon = Daemon(_slack_config(tmp_path, site, monkeypatch, slack))

    async def scenario() -> int:
        daemon.start()
        await until(lambda: any(r.path == "/food/sourdough.html" for r in site.requests),
                    "the control article fetched")
        assert slack.posts == []          # the control article matches no watch
        site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"))
        _feed(site, ("Russia", "/news/russia.html"), ("Sourdough", "/food/sourdough.html"))
        await until(lambda: slack.posts, "the alert posted")
        return await daemon.stop("test")

    try:
        status = run_on_reactor(scenario())
    finally:
        daemon.close()
    assert status == 0
    [post] = slack.posts
    assert "Russia, North Korea" in str(post)
    assert len([r for r in site.requests if r.path == "/feed.xml"]) >= 2
    assert "monitor stopped" in caplog.text


def test_alerts_held_in_quiet_hours_go_out_when_the_clock_passes_their_end(
        tmp_path, site, slack, monkeypatch):
    # a January night in Berlin next year (alerts are queued at the wall clock: the
    # jobs' clock must not run behind it)
    night = datetime(datetime.now().year + 1, 1, 15, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    clock = Clock(night.astimezone(timezone.utc))
    site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"))
    _feed(site, ("Russia", "/news/russia.html"))
    config = _slack_config(tmp_path, site, monkeypatch, slack, interval=3600, quiet_hours={
        "from": "22:00", "to": "07:00", "timezone": "Europe/Berlin"})
    daemon = Daemon(config, clock=clock)

    async def scenario() -> None:
        daemon.start(schedule=False)       # jobs run only when the test says so
        await until(lambda: daemon.context.writer.totals["hits"], "the hit stored")
        await daemon.run_job("deliver")
        assert daemon.delivery.totals["sent"] == 0
        clock.advance(hours=7)             # 06:30: still quiet
        await daemon.run_job("digest")
        assert daemon.delivery.totals["sent"] == 0
        clock.advance(minutes=31)          # 07:01: the quiet hours are over
        await daemon.run_job("deliver")
        await daemon.stop()

    try:
        run_on_reactor(scenario())
    finally:
        daemon.close()
    [post] = slack.wait_for(1)
    assert "Russia, North Korea" in str(post)
    assert "since the quiet hours began" in str(post)


def test_the_rules_job_reloads_on_change_and_a_bad_edit_keeps_the_last_good_rules(
        tmp_path, caplog):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    daemon = Daemon(MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db",
                                  rules=rules, extraction=IN_PROCESS))

    async def scenario() -> list[int]:
        counts = [len(daemon.context.watches)]
        (rules / "extra.yaml").write_text("id: bakery\nname: Bakery\nany: [sourdough]\n")
        await daemon.run_job("rules")
        counts.append(len(daemon.context.watches))
        (rules / "extra.yaml").write_text("id: bakery\nname: Bakery\nquery: '(sourdough'\n")
        await daemon.run_job("rules")
        counts.append(len(daemon.context.watches))
        return counts

    try:
        before, added, after_bad_edit = run_on_reactor(scenario())
    finally:
        daemon.close()
    assert added == before + 1
    assert after_bad_edit == before + 1                 # the last good rules in force
    assert "extra.yaml" in caplog.text and "keeping the last good rules" in caplog.text


def test_a_failing_job_is_logged_and_the_daemon_goes_on(tmp_path, caplog):
    daemon = Daemon(MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db",
                                  rules=RULES, extraction=IN_PROCESS))

    async def scenario() -> None:
        await daemon.run_job("health")
        await daemon.run_job("sources")

    daemon.context.refresh_sources = lambda: 1 / 0   # a bug in one job
    try:
        run_on_reactor(scenario())
    finally:
        daemon.close()
    assert "job sources failed; the daemon goes on" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    with pytest.raises(KeyError):
        run_on_reactor(daemon.run_job("no-such-job"))


def test_the_daemon_exits_1_when_its_crawl_ends_on_its_own(tmp_path, caplog):
    daemon = Daemon(MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db",
                                  rules=RULES, extraction=IN_PROCESS))

    async def crawl_that_ends() -> None:
        return None

    daemon.engine.run = crawl_that_ends
    try:
        status = run_on_reactor(daemon.run())
    finally:
        daemon.close()
    assert status == 1
    assert "the crawl ended unexpectedly" in caplog.text


def test_a_stop_asked_for_before_the_start_ends_the_run_before_any_poll(
        tmp_path, site, slack, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="monitor")
    site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"))
    _feed(site, ("Russia", "/news/russia.html"))
    daemon = Daemon(_slack_config(tmp_path, site, monkeypatch, slack))

    async def scenario() -> int:
        daemon.request_stop("SIGTERM")     # as a signal during the start-up does
        return await daemon.run()

    try:
        status = run_on_reactor(scenario(), timeout=20)
    finally:
        daemon.close()
    assert status == 0
    assert "SIGTERM received: stopping" in caplog.text
    assert not [r for r in site.requests if r.path == "/feed.xml"]
