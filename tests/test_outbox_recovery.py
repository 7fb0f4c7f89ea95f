"""The outbox on a bad day: a sender killed mid-send, a rate-limited channel, a damaged row,
an outage longer than the retries. Real processes (``kill -9``), real local servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest

from monitor.alerts import build_channel
from monitor.delivery import deliver_pending
from monitor.models import Article, Hit
from monitor.owners import owner_gone, this_owner
from monitor.store import MAX_CHANNEL_HOLD, Store, utcnow
from tests.conftest import REPO, monitor_cmd, write_config
from tests.servers import SlackServer


def _article(n: int) -> Article:
    return Article(url=f"https://news.test/{n}", request_url=f"https://news.test/{n}",
                   source="wire", title=f"Story {n}",
                   text=f"Story {n}: sanctions were discussed in Pyongyang at length.")


def _hit() -> Hit:
    return Hit("rnk", "Russia and North Korea", ["Pyongyang"],
               snippet="talks in [[Pyongyang]] went on")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "m.db")
    yield s
    s.close()


def _dead_port() -> int:
    with socket.socket() as s:                 # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HoldingWebhook(SlackServer):
    """The Slack webhook look-alike, holding the first POST unanswered until
    :attr:`release` is set (a send in flight); :attr:`posts` pairs each body with its
    Idempotency-Key header."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def _answer(self, request):
        response = super()._answer(request)
        if len(self._posts.snapshot()) == 1:
            self.release.wait(30)
        return response

    @property
    def posts(self) -> list[tuple[str | None, dict]]:
        return [(r.headers.get("Idempotency-Key"), json.loads(r.body))
                for r in self.requests if r.method == "POST"]

    def wait_for(self, n: int, timeout: float = 30) -> list:
        return super().wait_for(n, timeout)

    def __exit__(self, *exc) -> None:
        self.release.set()
        super().__exit__(*exc)


# ------------------------------------------------------------------- kill -9 mid-send


def test_a_sender_killed_mid_send_leaves_one_claim_and_a_restart_takes_it_back_at_once(
        tmp_path):
    db = tmp_path / "m.db"
    store = Store(db)
    for n in range(10):
        store.save_article(_article(n), [_hit()], ["slack"])
    with HoldingWebhook() as hook:
        sender = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            from monitor.alerts import build_channel
            from monitor.delivery import deliver_pending
            from monitor.store import Store
            deliver_pending(Store({str(db)!r}),
                            {{"slack": build_channel("slack", "slack", webhook_url={hook.url!r})}})
        """)], cwd=REPO)
        try:
            hook.wait_for(1)                         # the first alert is in flight
            claimed = store.outbox_status().get("sending", 0)
            os.kill(sender.pid, signal.SIGKILL)
            sender.wait(10)
        finally:
            if sender.poll() is None:
                sender.kill()
        hook.release.set()
        assert claimed == 1                          # only the alert being sent was claimed
        # the restarted sender (same host) sees the owner is gone: nothing waits 10 min
        started = time.monotonic()
        channels = {"slack": build_channel("slack", "slack", webhook_url=hook.url)}
        report = deliver_pending(store, channels)
        assert report.sent == 10 and time.monotonic() - started < 10
        assert store.outbox_status() == {"sent": 10}
    keys = [k for k, _ in hook.posts]
    assert len(hook.posts) == 11                     # the one in flight is sent again...
    assert len(set(keys)) == 10 and keys[0] == keys[1]   # ...with the same mark
    first, again = hook.posts[0][1], hook.posts[1][1]
    assert [b["block_id"] for b in first["blocks"]] == [b["block_id"] for b in again["blocks"]]
    assert all(b["block_id"].startswith(keys[0]) for b in first["blocks"])
    store.close()


def test_claims_of_a_live_sender_are_left_alone(store, slack):
    # a second process's claim (alive) is not taken back: no double send
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        token = this_owner().rsplit(" ", 2)[0] + f" {other.pid} "
        import psutil
        token += f"{psutil.Process(other.pid).create_time():.2f}"
        store.save_article(_article(1), [_hit()], ["slack"])
        store.db.execute("update outbox set status = 'sending', claimed_at = ?, "
                         "claimed_by = ?", [utcnow().isoformat(timespec="seconds"), token])
        channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
        assert deliver_pending(store, channels).sent == 0
        other.kill()
        other.wait()
        assert deliver_pending(store, channels).sent == 1      # its owner is gone now
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_owner_tokens_tell_a_dead_or_reused_process_id():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = socket.gethostname()
    assert owner_gone(f"{host} {proc.pid} 1.00")              # exited
    assert not owner_gone(this_owner())                        # this process runs
    mine = this_owner().split(" ")
    assert owner_gone(f"{host} {mine[1]} {float(mine[2]) - 3600:.2f}")   # id reused
    assert not owner_gone(f"other-host-{host} {proc.pid} 1.00")  # cannot be checked here
    assert not owner_gone(None) and not owner_gone("garbage")


# ------------------------------------------------------------------- Retry-After


def test_retry_after_holds_the_whole_channel(tmp_path, slack):
    slack.script((429, "rate_limited", {"Retry-After": "30"}))
    store = Store(tmp_path / "m.db")
    for n in range(3):
        store.save_article(_article(n), [_hit()], ["slack"])
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    now = utcnow()
    report = deliver_pending(store, channels, now=now)
    assert (report.sent, report.failed, report.deferred) == (0, 1, 2)
    assert "slack" in report.held
    # the next passes, by this sender or another one, post nothing before 30 s
    other = Store(tmp_path / "m.db")
    for later in (2, 10, 29):
        for s in (store, other):
            assert deliver_pending(s, channels, now=now + timedelta(seconds=later)).sent == 0
    assert len(slack.posts) == 1
    report = deliver_pending(other, channels, now=now + timedelta(seconds=31))
    assert report.sent == 3 and len(slack.posts) == 4
    store.close()
    other.close()


def test_a_huge_retry_after_holds_a_channel_an_hour_at_most(store, slack):
    slack.script((429, "rate_limited", {"Retry-After": "999999999"}))
    store.save_article(_article(1), [_hit()], ["slack"])
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    now = utcnow()
    deliver_pending(store, channels, now=now)
    until = store.channel_holds(now)["slack"]
    assert until <= utcnow() + timedelta(seconds=MAX_CHANNEL_HOLD)
    later = now + timedelta(seconds=MAX_CHANNEL_HOLD + 5)
    assert deliver_pending(store, channels, now=later).sent == 1


def test_monitor_deliver_reports_a_held_channel(tmp_path, slack):
    slack.script((429, "rate_limited", {"Retry-After": "30"}))
    cfg = write_config(tmp_path / "monitor.yaml", sources=[],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}])
    store = Store(tmp_path / "monitor.db")
    store.save_article(_article(1), [_hit()], ["s"])
    store.save_article(_article(2), [_hit()], ["s"])
    store.close()
    env = {"SLACK_URL": slack.url}
    first = monitor_cmd("-c", str(cfg), "deliver", env=env)
    assert first.returncode == 0 and "channel s held until" in first.stdout
    second = monitor_cmd("-c", str(cfg), "deliver", env=env)
    assert second.stdout.startswith("0 sent") and len(slack.posts) == 1
    status = monitor_cmd("-c", str(cfg), "status", env=env)
    assert "s: held until" in status.stdout and "(Retry-After)" in status.stdout


# ------------------------------------------------------------------- unreadable rows


@pytest.mark.parametrize("damage", [
    "update articles set published = cast(x'fffe41b7' as text) where id = 3",
    "update articles set title = cast(x'c328ff' as text) where id = 3",
    "update hits set terms = 'not json [' where article_id = 3",
    "update articles set published = 'the day before yesterday' where id = 3",
])
def test_an_unreadable_row_is_given_up_with_its_reason_and_the_rest_go_out(store, slack,
                                                                          damage):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    for n in range(5):
        store.save_article(_article(n), [_hit()], channels)
    store.db.execute(damage)
    report = deliver_pending(store, channels)
    assert (report.sent, report.dead) == (4, 1)
    assert len(slack.wait_for(4)) == 4
    row = store.db.execute("select status, gave_up, cast(last_error as blob) from outbox "
                           "where hit_id = 3").fetchone()
    assert row[:2] == ("dead", "unreadable")
    assert b"outbox row 3 (hit 3, article 3) cannot be read" in row[2]
    assert "cannot be read" in report.errors[0]


def test_monitor_deliver_and_status_with_a_damaged_row(tmp_path, slack):
    cfg = write_config(tmp_path / "monitor.yaml", sources=[],
                       channels=[{"kind": "slack", "name": "s", "webhook_url_env": "SLACK_URL"}])
    store = Store(tmp_path / "monitor.db")
    for n in range(4):
        store.save_article(_article(n), [_hit()], ["s"])
    store.db.execute("update articles set published = cast(x'fffe41b7' as text) where id = 2")
    store.close()
    env = {"SLACK_URL": slack.url}
    out = monitor_cmd("-c", str(cfg), "deliver", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 sent, 0 to retry, 1 given up")
    assert "Traceback" not in out.stderr
    assert "outbox row 2 (hit 2, article 2) cannot be read: articles.published" in out.stderr
    status = monitor_cmd("-c", str(cfg), "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "1 outbox row could not be read" in status.stdout


# ------------------------------------------------------------------- outages


def _mail(port: int):
    return build_channel("email", "mail", host="127.0.0.1", port=port,
                         sender="m@test.invalid", recipients=["d@test.invalid"],
                         security="none", timeout=2)


def test_alerts_given_up_in_an_outage_go_out_when_the_channel_recovers(store, smtp):
    down = {"mail": _mail(_dead_port())}
    for n in range(4):
        store.save_article(_article(n), [_hit()], down)
    now = utcnow()
    for i in range(4):              # max_attempts 1: each pass gives one alert up
        deliver_pending(store, down, max_attempts=1, requeue_window=3600, probe_every=0,
                        now=now + timedelta(seconds=i))
    assert store.outbox_status() == {"dead": 4}
    back = {"mail": _mail(smtp.port)}
    report = deliver_pending(store, back, max_attempts=1, requeue_window=3600,
                             probe_every=0, now=now + timedelta(seconds=10))
    assert report.sent == 4 and report.requeued == 3
    assert store.outbox_status() == {"sent": 4}
    ids = [m["X-Monitor-Alert-Id"] for m in smtp.wait_for(4)]
    assert ids == sorted(ids, key=int)                       # oldest first
    assert deliver_pending(store, back, requeue_window=3600).sent == 0   # once each


def test_a_new_alert_delivered_brings_back_the_ones_given_up(store, smtp):
    down = {"mail": _mail(_dead_port())}
    for n in range(2):
        store.save_article(_article(n), [_hit()], down)
    now = utcnow()
    for i in range(2):
        deliver_pending(store, down, max_attempts=1, now=now + timedelta(seconds=i))
    store.save_article(_article(9), [_hit()], down)
    report = deliver_pending(store, {"mail": _mail(smtp.port)}, requeue_window=3600,
                             now=now + timedelta(seconds=5))
    assert report.sent == 3 and report.requeued == 2


def test_only_transient_failures_within_the_window_come_back(store, smtp, slack):
    down = {"mail": _mail(_dead_port())}
    for n in range(3):
        store.save_article(_article(n), [_hit()], down)
    now = utcnow()
    for i in range(3):
        deliver_pending(store, down, max_attempts=1, now=now + timedelta(seconds=i))
    # one was given up long ago (out of the window), one for a permanent reason
    store.db.execute("update outbox set dead_at = '2000-01-01T00:00:00+00:00' where id = 1")
    store.db.execute("update outbox set gave_up = 'permanent' where id = 2")
    report = deliver_pending(store, {"mail": _mail(smtp.port)}, requeue_window=3600,
                             probe_every=0, now=now + timedelta(seconds=5))
    assert report.sent == 1
    assert [r[0] for r in store.db.execute(
        "select status from outbox order by id")] == ["dead", "dead", "sent"]


def test_a_channel_still_down_is_probed_once_per_interval(store):
    down = {"mail": _mail(_dead_port())}
    store.save_article(_article(1), [_hit()], down)
    now = utcnow()
    deliver_pending(store, down, max_attempts=1, now=now)
    assert store.outbox_status() == {"dead": 1}
    report = deliver_pending(store, down, max_attempts=3, requeue_window=3600,
                             probe_every=60, now=now + timedelta(seconds=1))
    assert (report.failed, report.dead) == (0, 1)            # probed: one try, dead again
    report = deliver_pending(store, down, max_attempts=3, requeue_window=3600,
                             probe_every=60, now=now + timedelta(seconds=30))
    assert (report.failed, report.dead) == (0, 0)            # not again within a minute
    assert store.outbox_status() == {"dead": 1}


def test_monitor_status_says_alerts_were_queued_again(tmp_path, smtp):
    port = _dead_port()
    channel = {"kind": "email", "name": "mail", "host": "127.0.0.1", "port": port,
               "security": "none", "sender": "m@test.invalid",
               "recipients": ["d@test.invalid"], "timeout": 2}
    cfg = write_config(tmp_path / "monitor.yaml", sources=[], channels=[channel],
                       delivery={"interval": 1, "max_attempts": 1, "requeue_window": "2h"})
    store = Store(tmp_path / "monitor.db")
    for n in range(3):
        store.save_article(_article(n), [_hit()], ["mail"])
    store.close()
    for _ in range(3):
        assert monitor_cmd("-c", str(cfg), "deliver").returncode == 0
    cfg = write_config(tmp_path / "monitor.yaml", sources=[],
                       channels=[{**channel, "port": smtp.port}],
                       delivery={"interval": 1, "max_attempts": 1, "requeue_window": "2h"})
    out = monitor_cmd("-c", str(cfg), "deliver")
    assert out.stdout.startswith("3 sent"), out.stdout + out.stderr
    assert "2 alerts given up during an outage queued again" in out.stdout
    status = monitor_cmd("-c", str(cfg), "status")
    assert "mail: 2 alerts given up during an outage queued again automatically" in \
        status.stdout
    assert "(2 sent since, 0 not yet)" in status.stdout


def _zorblax_page(n: int) -> bytes:
    import random
    words = ("harbour river council budget minister station railway school doctor market "
             "bridge festival museum library tower airport storm flood court judge").split()
    r = random.Random(n)
    body = " ".join(" ".join(r.choice(words) for _ in range(12)).capitalize() + "."
                    for _ in range(14))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Zorblax "
            f"report {n}</title><meta property='og:type' content='article'></head><body>"
            f"<article><h1>Zorblax report {n}</h1><p>Zorblax observers logged event {n}. "
            f"{body}</p></article></body></html>").encode()


def test_monitor_run_killed_mid_post_resends_only_that_alert_at_restart(tmp_path, site):
    from tests.conftest import rss

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "zorblax.yaml").write_text("id: zorblax\nname: Zorblax\nany: [Zorblax]\n")
    for n in range(6):
        site.set(f"/a{n}.html", _zorblax_page(n))
    site.set("/feed.xml", rss([(f"Z{n}", site.url(f"/a{n}.html")) for n in range(6)]),
             content_type="application/rss+xml")
    with HoldingWebhook() as hook:
        cfg = write_config(tmp_path / "monitor.yaml", rules=rules,
                           sources=[{"name": "local", "kind": "feed",
                                     "url": site.url("/feed.xml"), "interval": 3600}],
                           channels=[{"kind": "slack", "name": "s",
                                      "webhook_url_env": "SLACK_URL"}],
                           extraction={"workers": 0})
        env = {**os.environ, "SLACK_URL": hook.url}

        def daemon():
            return subprocess.Popen([sys.executable, "-m", "monitor.cli", "-c", str(cfg),
                                     "run"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        first = daemon()
        try:
            hook.wait_for(1, timeout=60)               # the first alert is in flight
            store = Store(tmp_path / "monitor.db")
            end = time.monotonic() + 30                # all six alerts queued
            while sum(store.outbox_status().values()) < 6 and time.monotonic() < end:
                time.sleep(0.1)
            claimed = store.outbox_status().get("sending", 0)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        hook.release.set()
        assert claimed == 1
        second = daemon()
        try:
            hook.wait_for(7, timeout=30)               # the held one again, then five more
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        assert store.outbox_status() == {"sent": 6}
        store.close()
    keys = [k for k, _ in hook.posts]
    assert len(keys) == 7 and len(set(keys)) == 6 and keys[0] == keys[1]
