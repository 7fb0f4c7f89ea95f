"""`monitor crawl` says how each channel did, and exits 1 when alerts were given up."""

from __future__ import annotations

from tests.conftest import monitor_cmd, write_config
from tests.test_end_to_end import _site_with_feed


def test_crawl_exits_1_and_says_so_when_every_alert_of_a_channel_dies(tmp_path, site, slack):
    feed = _site_with_feed(site)
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local-world", "kind": "feed", "url": feed}],
                       channels=[{"kind": "console", "name": "console"},
                                 {"kind": "slack", "name": "newsroom",
                                  "webhook_url_env": "TEST_SLACK_WEBHOOK"}])
    # the webhook was removed: Slack answers 404 no_service, a permanent refusal
    run = monitor_cmd("-c", str(cfg), "crawl", env={"TEST_SLACK_WEBHOOK": slack.url + "-gone"})
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "channel console: 1 sent" in run.stdout
    assert "channel newsroom: 0 sent, 1 given up" in run.stdout
    assert "1 alert delivered" in run.stdout
    assert "monitor: 1 alert given up (1 on newsroom)" in run.stderr
    assert "404" in run.stderr and "-gone" not in run.stderr + run.stdout


def test_crawl_exits_0_when_the_alerts_went_out(tmp_path, site, slack):
    feed = _site_with_feed(site)
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local-world", "kind": "feed", "url": feed}],
                       channels=[{"kind": "slack", "name": "newsroom",
                                  "webhook_url_env": "TEST_SLACK_WEBHOOK"}])
    run = monitor_cmd("-c", str(cfg), "crawl", env={"TEST_SLACK_WEBHOOK": slack.url})
    assert run.returncode == 0, run.stderr
    assert "channel newsroom: 1 sent" in run.stdout and "alert given up" not in run.stderr
    assert len(slack.wait_for(1)) == 1


def test_a_crawl_pass_in_process_reports_each_channel_and_the_failed_sources(
        tmp_path, site, slack, monkeypatch):
    """The pass `monitor crawl` runs, driven on the reactor in the test process."""
    from monitor.config import load_config
    from monitor.daemon import CrawlPass
    from tests.inprocess import run_on_reactor

    monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.url + "-gone")
    feed = _site_with_feed(site)
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local-world", "kind": "feed", "url": feed},
                                {"name": "missing", "kind": "feed",
                                 "url": site.url("/no-such-feed.xml")}],
                       channels=[{"kind": "console", "name": "console"},
                                 {"kind": "slack", "name": "newsroom",
                                  "webhook_url_env": "TEST_SLACK_WEBHOOK"}],
                       extraction={"workers": 0})
    crawl = CrawlPass(load_config(cfg))
    try:
        run_on_reactor(crawl.run())
    finally:
        crawl.close()
    result = crawl.result()
    assert result["articles"] - result["before"]["articles"] == 2
    assert result["hits"] - result["before"]["hits"] == 1
    assert result["sources"] == 2 and list(result["failed_sources"]) == ["missing"]
    assert "404" in result["failed_sources"]["missing"]
    report = result["delivery"]
    assert report.by_channel["console"]["sent"] == 1
    assert report.by_channel["newsroom"]["dead"] == 1
    assert result["delivered"] == 1
