"""``monitor run`` and its signals, on a real process: a second Ctrl-C (SIGINT) cuts the
downloads under way short at once instead of granting them their grace time. (SIGTERM
inside a slow download: ``test_daemon_stop.py``; the daemon's behaviour otherwise is
tested in the test process, ``test_daemon.py``.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from monitor.daemon import STOP_DOWNLOADS
from tests.conftest import REPO, rss, seed_html, write_config


def test_a_second_sigint_cuts_the_running_downloads_short_at_once(tmp_path, site):
    site.set("/news/slow.html", seed_html("kitchen-ledger_2024-03-02"), delay=40.0)
    site.set("/feed.xml", rss([("Slow", site.url("/news/slow.html"))]),
             content_type="application/rss+xml")
    cfg = write_config(tmp_path / "monitor.yaml",
                       sources=[{"name": "local", "kind": "feed", "url": site.url("/feed.xml"),
                                 "interval": 60}],
                       crawl={"obey_robots": False, "download_delay": 0, "autothrottle": False,
                              "download_timeout": "60s"},
                       delivery={"interval": "1h"})
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(cfg), "run"],
                            cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        site._requests.wait_for(1, 60, "the slow article requested",
                                lambda r: r.path == "/news/slow.html")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "SIGINT received: stopping" in err
    assert "SIGINT again: cutting the running polls short now" in err
    # without the second signal the slow download would have had STOP_DOWNLOADS seconds
    assert took < STOP_DOWNLOADS, f"stopping took {took:.1f} s\n{err}"
    assert "Traceback" not in err and "monitor stopped" in err
