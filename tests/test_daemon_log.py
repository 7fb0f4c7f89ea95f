"""The daemon's log reads top to bottom: when the first poll is due, a one-line summary
at each period with what happened and when the next poll is due, routine 304s only at
DEBUG (a real process against a local site)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, rss, seed_html, write_config

RUN = """\
import sys
from monitor.cli import _setup_logging
from monitor.config import load_config
from monitor.daemon import run_daemon
config = load_config(sys.argv[1])
_setup_logging(config.log_level)
sys.exit(run_daemon(config, summary_interval=1.0))
"""


def test_log_has_first_due_summaries_with_alerts_and_no_routine_304s(tmp_path, site, slack):
    site.set("/news/russia.html", seed_html("cbc-news_2024-06-19"))
    site.set("/feed.xml", rss([("Russia", site.url("/news/russia.html"))]),
             content_type="application/rss+xml", etag='"v1"')
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": 1, "min_interval": 1}],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}])
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(cfg)], cwd=REPO,
                            env={**os.environ, "SLACK_URL": slack.url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        slack.wait_for(1, timeout=60)
        # a few polls answered 304 Not Modified, and a summary after the alert
        site._requests.wait_for(4, 60, "feed polls", lambda r: r.path == "/feed.xml")
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert re.search(r"INFO monitor\.daemon: monitor running: 1 source, .*first poll due "
                     r"\S+ \((now|in [^)]+)\)", lines[0]), lines[0]
    summaries = [ln for ln in lines if "monitor.daemon: last 1 s:" in ln]
    assert summaries, err
    assert all(re.search(r"\d+ polls? \(\d+ failed\), \d+ new links?, \d+ articles? stored, "
                         r"\d+ hits?, \d+ alerts? sent \(\d+ failed\); next poll due "
                         r"(\S+ \((now|in [^)]+)\)|after the polls under way)$", ln)
               for ln in summaries), summaries
    assert any("1 alert sent" in ln for ln in summaries), summaries
    assert not [ln for ln in lines if "not modified" in ln.lower()], err
    not_modified = [r for r in site.requests if r.path == "/feed.xml"][1:]
    assert not_modified and all(r.headers.get("If-None-Match") == '"v1"' for r in not_modified)
