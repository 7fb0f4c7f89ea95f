"""The outbox: alerts are delivered once, retried with backoff, given up when hopeless."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitor.alerts import ConsoleChannel, build_channel
from monitor.delivery import deliver_pending
from monitor.models import Article, Hit
from monitor.store import CLAIM_TIMEOUT, Store, utcnow


def _article(n: int, text: str = "Sanctions were discussed in Pyongyang at length.") -> Article:
    return Article(url=f"https://news.test/{n}", request_url=f"https://news.test/{n}",
                   source="wire", title=f"Story {n}", text=f"{text} ({n})")


def _hit(mode: str = "immediate", channels: tuple = ()) -> Hit:
    return Hit("rnk", "Russia and North Korea", ["Pyongyang"],
               snippet="talks in [[Pyongyang]] went on", mode=mode, channels=channels)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "m.db")
    yield s
    s.close()


def test_each_alert_is_delivered_once(store, slack, smtp):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url),
                "mail": build_channel("email", "mail", host="127.0.0.1", port=smtp.port,
                                      sender="m@test.invalid", recipients=["d@test.invalid"],
                                      security="none")}
    store.save_article(_article(1), [_hit()], channels)
    assert deliver_pending(store, channels).sent == 2
    assert deliver_pending(store, channels).sent == 0
    assert len(slack.wait_for(1)) == 1 and len(smtp.wait_for(1)) == 1
    assert store.outbox_status() == {"sent": 2}


def test_a_watch_can_name_its_channels(store, slack):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url),
                "console": build_channel("console", "console")}
    saved = store.save_article(_article(1), [_hit(channels=("slack",))], channels)
    assert saved.alerts_queued == 1
    assert [r["channel"] for r in store.db.query("select channel from outbox")] == ["slack"]


def test_rate_limited_alert_waits_for_retry_after_then_goes_out(store, slack):
    slack.script((429, "rate_limited", {"Retry-After": "120"}))
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    store.save_article(_article(1), [_hit()], channels)
    now = utcnow()
    report = deliver_pending(store, channels, now=now)
    assert (report.sent, report.failed) == (0, 1)
    assert deliver_pending(store, channels, now=now + timedelta(seconds=60)).sent == 0
    assert deliver_pending(store, channels, now=now + timedelta(seconds=121)).sent == 1
    row = next(store.db.query("select * from outbox"))
    assert row["status"] == "sent" and row["attempts"] == 2


def test_permanent_failure_is_given_up_and_recorded(store, slack):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url + "-gone")}
    store.save_article(_article(1), [_hit()], channels)
    report = deliver_pending(store, channels)
    assert report.dead == 1
    row = next(store.db.query("select * from outbox"))
    assert row["status"] == "dead" and "404" in row["last_error"]
    assert "XXXX" not in row["last_error"]           # the webhook secret is not recorded


def test_unreachable_smtp_is_retried_with_doubling_backoff_and_jitter_then_dead(store):
    import socket
    with socket.socket() as s:                        # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channels = {"mail": build_channel("email", "mail", host="127.0.0.1", port=port,
                                      sender="m@test.invalid", recipients=["d@test.invalid"],
                                      security="none", timeout=2)}
    store.save_article(_article(1), [_hit()], channels)
    now = utcnow().replace(microsecond=0)
    delays = []
    for _ in range(3):
        report = deliver_pending(store, channels, now=now, max_attempts=3)
        row = next(store.db.query("select * from outbox"))
        if row["status"] == "dead":
            break
        assert report.failed == 1 and f"127.0.0.1:{port}" in report.errors[0]
        due = datetime.fromisoformat(row["next_attempt_at"])
        delays.append((due - now).total_seconds())
        now = due
    # doubling, each stretched by up to 25 % of jitter (monitor.alerts.retry)
    assert 30.0 <= delays[0] <= 37.5 and 60.0 <= delays[1] <= 75.0
    assert row["status"] == "dead" and row["attempts"] == 3


def test_alerts_for_a_removed_channel_block_nothing(store, slack):
    old = {"gone": build_channel("console", "gone")}
    for n in range(300):
        store.save_article(_article(n, text=f"Story {n} about Pyongyang"), [_hit()], old)
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    store.save_article(_article(999), [_hit()], channels)
    assert deliver_pending(store, channels).sent == 1
    assert store.outbox_status() == {"pending": 300, "sent": 1}


def test_claimed_alerts_are_not_sent_by_a_second_sender(store, slack):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    store.save_article(_article(1), [_hit()], channels)
    claimed = store.claim_alerts("immediate", channels)
    assert len(claimed) == 1
    assert deliver_pending(store, channels).sent == 0      # e.g. `monitor deliver` meanwhile
    later = utcnow() + timedelta(seconds=CLAIM_TIMEOUT + 1)
    assert deliver_pending(store, channels, now=later).sent == 1   # the first sender died
    assert len(slack.wait_for(1)) == 1


def test_a_channel_that_crashes_is_recorded_and_the_others_go_on(store, slack):
    class Broken(ConsoleChannel):
        def send(self, alert):
            raise TypeError("renderer bug")

    channels = {"broken": Broken(name="broken"),
                "slack": build_channel("slack", "slack", webhook_url=slack.url)}
    store.save_article(_article(1), [_hit()], channels)
    report = deliver_pending(store, channels)
    assert (report.sent, report.failed) == (1, 1)
    row = next(store.db.query("select * from outbox where channel = 'broken'"))
    assert row["status"] == "pending" and "TypeError: renderer bug" in row["last_error"]
    assert row["attempts"] == 1


def test_a_down_channel_costs_one_try_per_pass(store):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channels = {"mail": build_channel("email", "mail", host="127.0.0.1", port=port,
                                      sender="m@test.invalid", recipients=["d@test.invalid"],
                                      security="none", timeout=2)}
    for n in range(5):
        store.save_article(_article(n, text=f"Story {n} about Pyongyang"), [_hit()], channels)
    report = deliver_pending(store, channels)
    assert (report.failed, report.deferred) == (1, 4)
    assert store.outbox_status() == {"pending": 5}


def test_digest_mode_hits_go_out_as_one_message(store, slack):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    for n in range(3):
        store.save_article(_article(n, text=f"Different story number {n} about Pyongyang"),
                           [_hit(mode="digest")], channels)
    assert deliver_pending(store, channels).sent == 0          # digests wait for their tick
    now = utcnow()
    assert deliver_pending(store, channels, digests=True, digest_interval=3600,
                           now=now).sent == 3
    [post] = slack.wait_for(1)
    assert all(f"Story {n}" in str(post) for n in range(3))
    # the next digest is due an hour after this one, restarts or not
    store.save_article(_article(7, text="Another story about Pyongyang"),
                       [_hit(mode="digest")], channels)
    assert deliver_pending(store, channels, digests=True, digest_interval=3600,
                           now=now + timedelta(minutes=59)).sent == 0
    assert deliver_pending(store, channels, digests=True, digest_interval=3600,
                           now=now + timedelta(minutes=61)).sent == 1


def test_dead_alerts_can_be_queued_again_from_the_command_line(tmp_path, slack):
    from click.testing import CliRunner

    from monitor.cli import cli
    from tests.conftest import RULES

    db = tmp_path / "m.db"
    store = Store(db)
    store.save_article(_article(1), [_hit()], ["newsroom"])
    store.close()
    cfg = tmp_path / "monitor.yaml"
    base = (f"database: {db}\nrules: {RULES}\ndelivery: {{max_attempts: 1}}\n"
            "channels:\n  - {kind: slack, name: newsroom, webhook_url_env: TEST_HOOK}\n")
    cfg.write_text(base)
    runner = CliRunner()
    gone = runner.invoke(cli, ["-c", str(cfg), "deliver"], env={"TEST_HOOK": slack.url + "-x"})
    assert gone.exit_code == 0 and "1 given up" in gone.output
    status = runner.invoke(cli, ["-c", str(cfg), "status"])
    assert "newsroom: 1 dead; last error:" in status.output and "404" in status.output
    fixed = runner.invoke(cli, ["-c", str(cfg), "deliver", "--retry-dead"],
                          env={"TEST_HOOK": slack.url})
    assert fixed.exit_code == 0, fixed.output
    assert "1 dead alert queued again" in fixed.output and "1 sent" in fixed.output
    assert len(slack.wait_for(1)) == 1
