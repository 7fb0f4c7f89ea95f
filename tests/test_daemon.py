"""``monitor run``: the long-lived daemon as a subprocess against a local site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import REPO, rss, seed_html, write_config


def test_daemon_alerts_on_an_article_added_while_running_and_stops_on_sigterm(
        tmp_path, site, slack):
    site.set("/food/sourdough.html", seed_html("kitchen-ledger_2024-03-02"))
    site.set("/feed.xml", rss([("Sourdough", site.url("/food/sourdough.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": 1}],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}])
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "run"],
                            cwd=REPO, env={**os.environ, "SLACK_URL": slack.url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        site.wait_for(1, path="/food/sourdough.html", timeout=60)
        assert slack.posts == []          # the control article matches no watch
        site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"))
        site.set("/feed.xml", rss([("Russia", site.url("/news/russia.html")),
                                   ("Sourdough", site.url("/food/sourdough.html"))]),
                 content_type="application/rss+xml")
        [post] = slack.wait_for(1, timeout=60)
        assert "Russia, North Korea" in str(post)
        feed_polls = len([r for r in site.requests if r.path == "/feed.xml"])
        assert feed_polls >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "monitor stopped" in err
    assert len(slack.posts) == 1


def test_rules_reload_on_change_and_a_bad_edit_keeps_the_last_good_rules(tmp_path, caplog):
    import shutil

    from monitor.config import MonitorConfig
    from monitor.crawl.context import CrawlContext
    from tests.conftest import RULES

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    ctx = CrawlContext(MonitorConfig(path=tmp_path / "m.yaml", database=tmp_path / "m.db",
                                     rules=rules))
    try:
        before = len(ctx.watches)
        assert ctx.reload_rules() is False                      # nothing changed
        (rules / "extra.yaml").write_text("id: bakery\nname: Bakery\nany: [sourdough]\n")
        assert ctx.reload_rules() is True
        assert len(ctx.watches) == before + 1
        (rules / "extra.yaml").write_text("id: bakery\nname: Bakery\nquery: '(sourdough'\n")
        assert ctx.reload_rules() is False
        assert len(ctx.watches) == before + 1                  # last good rules in force
        assert "extra.yaml" in caplog.text and "keeping the last good rules" in caplog.text
    finally:
        ctx.close()
