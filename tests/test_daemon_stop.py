"""``monitor run`` stops within its promised 10 s even inside a slow download, and sends
the alerts queued meanwhile before it exits (a real process, a slow local server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, rss, seed_html, write_config

#: What the README promises and what ``docker stop`` and systemd wait before a SIGKILL.
PROMISED_STOP_S = 10.0


def test_sigterm_inside_a_slow_download_stops_in_time_and_sends_queued_alerts(
        tmp_path, site, slack):
    site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"), delay=2.0)
    site.set("/news/slow.html", seed_html("kitchen-ledger_2024-03-02"), delay=40.0)
    site.set("/feed.xml", rss([("Russia", site.url("/news/russia.html")),
                               ("Slow", site.url("/news/slow.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": 60}],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}],
                       crawl={"obey_robots": False, "download_delay": 0, "autothrottle": False,
                              "download_timeout": "60s", "concurrent_per_domain": 2},
                       delivery={"interval": "1h"})
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "run"],
                            cwd=REPO, env={**os.environ, "SLACK_URL": slack.url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        site._requests.wait_for(2, 60, "article requests",
                                lambda r: r.path.startswith("/news/"))
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < PROMISED_STOP_S, f"stopping took {took:.1f} s\n{err}"
    assert "Traceback" not in err
    # the article that arrived during the stop was stored and its alert sent before exit
    [post] = slack.posts
    assert "Russia, North Korea" in str(post)
    assert "cut short" in err and "monitor stopped" in err
