"""Quiet hours, budgets, bursts and urgent watches (monitor.policy), on a fixed clock,
delivered to the local Slack look-alike and a real SMTP server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitor.alerts import build_channel
from monitor.cli import cli
from monitor.config import BudgetConfig, QuietHoursConfig, SlackChannelConfig
from monitor.delivery import deliver_pending
from monitor.models import Article, Hit
from monitor.policy import DeliveryPolicy
from monitor.store import Store

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in November 2026, Berlin local (UTC+1), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).astimezone(timezone.utc)


class Clock:
    """A clock that stays where a test puts it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _slack_settings(**kw) -> SlackChannelConfig:
    return SlackChannelConfig(kind="slack", name="slack", webhook_url_env="X", **kw)


QUIET = QuietHoursConfig(**{"from": "22:00", "to": "07:00", "timezone": "Europe/Berlin"})


def _article(n: int) -> Article:
    return Article(url=f"https://news.test/{n}", request_url=f"https://news.test/{n}",
                   source="wire", title=f"Story {n}",
                   text=f"Different story number {n} about talks in Pyongyang.")


def _hit(priority: str = "normal", watch: str = "rnk") -> Hit:
    return Hit(watch, "Russia and North Korea", ["Pyongyang"],
               snippet="talks in [[Pyongyang]] went on", priority=priority)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "m.db")
    yield s
    s.close()


def _queue(store: Store, numbers, channels, priority: str = "normal", at=None) -> None:
    for n in numbers:
        store.save_article(_article(n), [_hit(priority)], channels, now=at)


def test_quiet_hours_follow_the_local_clock_across_midnight():
    policy = DeliveryPolicy({"slack": _slack_settings(quiet_hours=QUIET)})
    assert policy.quiet_until("slack", berlin(30, 21, 59)) is None
    assert policy.quiet_until("slack", berlin(30, 22, 0)) == \
        datetime(2026, 12, 1, 7, tzinfo=BERLIN).astimezone(timezone.utc)
    assert policy.quiet_until("slack", berlin(30, 6, 59)) == berlin(30, 7)
    assert policy.quiet_until("slack", berlin(30, 7, 0)) is None
    # summer time: 22:00 in Berlin is 20:00 UTC in July
    july = datetime(2026, 7, 1, 20, 30, tzinfo=timezone.utc)
    assert policy.quiet_until("slack", july) == datetime(2026, 7, 2, 5, tzinfo=timezone.utc)
    assert policy.quiet_until("other", july) is None


def test_alerts_in_quiet_hours_arrive_as_one_digest_when_they_end(store, slack):
    clock = Clock(berlin(30, 23, 30))
    policy = DeliveryPolicy({"slack": _slack_settings(quiet_hours=QUIET)}, clock)
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    _queue(store, range(3), channels, at=clock())
    report = deliver_pending(store, channels, policy=policy, digests=True)
    assert (report.sent, report.digested) == (0, 3)
    clock.at = berlin(30, 6, 59) + timedelta(days=1)      # still quiet: no digest either
    assert deliver_pending(store, channels, policy=policy, digests=True).sent == 0
    assert slack.posts == []
    clock.at = berlin(30, 7, 1) + timedelta(days=1)       # quiet hours over
    assert deliver_pending(store, channels, policy=policy).sent == 3
    [post] = slack.wait_for(1)
    assert all(f"Story {n}" in str(post) for n in range(3))
    assert "3 new hits since the quiet hours began" in str(post)
    assert store.outbox_status() == {"sent": 3}


def test_beyond_the_budget_alerts_wait_for_the_next_digest(store, slack):
    clock = Clock(berlin(30, 12))
    policy = DeliveryPolicy({"slack": _slack_settings(
        budget=BudgetConfig(alerts=2, per="1h"))}, clock)
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    _queue(store, range(5), channels, at=clock())
    report = deliver_pending(store, channels, policy=policy)
    assert (report.sent, report.digested) == (2, 3)
    assert len(slack.wait_for(2)) == 2
    # the digest goes out at the channel's next digest time, not one by one
    clock.at += timedelta(minutes=10)
    assert deliver_pending(store, channels, policy=policy, digests=True,
                           digest_interval=3600).sent == 3
    posts = slack.wait_for(3)
    assert all(f"Story {n}" in str(posts[2]) for n in (2, 3, 4))
    assert "Story 0" not in str(posts[2])
    # a new alert within the hour still finds the budget spent; an hour later it is free
    _queue(store, [7], channels, at=clock())
    assert deliver_pending(store, channels, policy=policy).sent == 0
    clock.at += timedelta(minutes=51)
    _queue(store, [8], channels, at=clock())
    assert deliver_pending(store, channels, policy=policy).sent == 1
    assert "Story 8" in str(slack.wait_for(4)[3])


def test_a_burst_in_one_poll_is_one_digest_message(store, smtp):
    clock = Clock(berlin(30, 12))
    mail = build_channel("email", "mail", host="127.0.0.1", port=smtp.port,
                         sender="m@test.invalid", recipients=["d@test.invalid"],
                         security="none")
    channels = {"mail": mail}
    settings = {"mail": _slack_settings(burst=10)}
    policy = DeliveryPolicy(settings, clock)
    _queue(store, range(25), channels, at=clock())
    report = deliver_pending(store, channels, policy=policy)
    assert (report.sent, report.digested) == (25, 25)
    [message] = smtp.wait_for(1)
    assert message["Subject"].startswith("[monitor] 25 new hits at once")
    body = message.get_body(("plain",)).get_content()
    assert all(f"Story {n}" in body for n in range(25))
    # fewer than the threshold go one by one
    _queue(store, range(30, 39), channels, at=clock())
    assert deliver_pending(store, channels, policy=policy).sent == 9
    assert len(smtp.wait_for(10)) == 10


def test_an_urgent_watch_bypasses_quiet_hours_and_the_budget(store, slack):
    clock = Clock(berlin(30, 23))
    policy = DeliveryPolicy({"slack": _slack_settings(
        quiet_hours=QUIET, budget=BudgetConfig(alerts=1, per="1h"), burst=2)}, clock)
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    _queue(store, range(3), channels, at=clock())
    _queue(store, range(10, 13), channels, priority="urgent", at=clock())
    report = deliver_pending(store, channels, policy=policy)
    assert (report.sent, report.digested) == (3, 3)
    posts = slack.wait_for(3)
    assert [p for p in posts if "Story 0" in str(p)] == []
    assert all(any(f"Story {n}" in str(p) for p in posts) for n in (10, 11, 12))
    rows = {r[0]: r[1:] for r in store.db.execute(
        "select priority, mode, held, status from outbox where priority = 'normal'")}
    assert rows["normal"] == ("digest", "quiet hours", "pending")


def test_without_settings_every_alert_goes_out_on_its_own(store, slack):
    channels = {"slack": build_channel("slack", "slack", webhook_url=slack.url)}
    _queue(store, range(3), channels)
    policy = DeliveryPolicy({"slack": _slack_settings(burst=0)})
    assert deliver_pending(store, channels, policy=policy).sent == 3
    assert len(slack.wait_for(3)) == 3


def test_bad_quiet_hours_and_budgets_are_config_errors_naming_the_field(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        "channels:\n"
        "  - kind: slack\n"
        "    name: desk\n"
        "    webhook_url_env: HOOK\n"
        "    quiet_hours: {from: '22:00', to: '7 am', timezone: Europe/Berlln}\n"
        "    budget: {alerts: 0, per: hourly}\n"
        "    burst: 1\n"
        "  - kind: console\n"
        "    quiet_hours: {from: '08:00', to: '08:00'}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "status"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        f"monitor: {cfg}: channels[0].quiet_hours.to: must be a time of day such as "
        "\"22:00\" or \"07:30\", not '7 am'",
        f"monitor: {cfg}: channels[0].quiet_hours.timezone: unknown time zone "
        "'Europe/Berlln' (an IANA name such as Europe/Berlin or America/New_York)",
        f"monitor: {cfg}: channels[0].budget.alerts: Input should be greater than or "
        "equal to 1",
        f"monitor: {cfg}: channels[0].budget.per: must be a duration such as 90, \"30s\", "
        "\"15m\" or \"1h\"",
        f"monitor: {cfg}: channels[0].burst: must be 0 (off) or a number of alerts of 2 "
        "or more, not 1",
        f"monitor: {cfg}: channels[1].quiet_hours: from and to are the same time: quiet "
        "hours need a length"]


def test_a_watch_priority_is_read_and_checked(tmp_path):
    from monitor.errors import RuleError
    from monitor.matching import load_watches

    (tmp_path / "w.yaml").write_text("id: urgent-one\nquery: Pyongyang\npriority: urgent\n")
    [watch] = load_watches(tmp_path).watches
    assert watch.priority == "urgent"
    (tmp_path / "w.yaml").write_text("id: x\nquery: Pyongyang\npriority: high\n")
    with pytest.raises(RuleError) as err:
        load_watches(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'w.yaml'}:3:11: priority must be one of "
                              "normal, urgent, not 'high'")


def test_the_readme_example_loads_with_its_quiet_hours_and_budget(tmp_path):
    from monitor.config import load_config
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Quiet hours, budgets and bursts.**"):]
    example = section[section.index("```yaml\n") + 8:section.index("```\n", 8)]
    (tmp_path / "monitor.yaml").write_text(example)
    mail, slack, phones = load_config(tmp_path / "monitor.yaml").channels
    assert (mail.quiet_hours.timezone, mail.quiet_hours.end.hour) == ("Europe/Berlin", 7)
    assert (slack.budget.alerts, slack.budget.per, slack.burst) == (10, 3600.0, 10)
    assert (phones.kind, phones.quiet_hours.timezone, phones.budget.alerts) == (
        "apprise", "Europe/London", 5)


def test_every_kind_of_channel_takes_quiet_hours_a_budget_and_a_burst(tmp_path):
    from monitor.config import load_config

    policy = "quiet_hours: {from: '23:00', to: '06:00'}, budget: {alerts: 5, per: 30m}, burst: 4"
    (tmp_path / "monitor.yaml").write_text(
        "channels:\n"
        f"  - {{kind: console, {policy}}}\n"
        f"  - {{kind: email, host: h, sender: s@x.test, recipients: [d@x.test], {policy}}}\n"
        f"  - {{kind: slack, webhook_url_env: HOOK, {policy}}}\n"
        f"  - {{kind: webhook, url: 'http://127.0.0.1/x', {policy}}}\n"
        f"  - {{kind: apprise, url_env: APPRISE_URL, {policy}}}\n")
    channels = load_config(tmp_path / "monitor.yaml").channels
    assert [(c.kind, c.budget.alerts, c.burst, c.quiet_hours.timezone) for c in channels] \
        == [(k, 5, 4, "UTC") for k in ("console", "email", "slack", "webhook", "apprise")]


def test_status_shows_what_each_channel_holds_back(tmp_path, slack):
    db = tmp_path / "m.db"
    store = Store(db)
    clock = Clock(berlin(30, 23))
    channels = {"desk": build_channel("slack", "desk", webhook_url=slack.url)}
    _queue(store, range(2), channels, at=clock())
    policy = DeliveryPolicy({"desk": _slack_settings(quiet_hours=QUIET)}, clock)
    assert deliver_pending(store, channels, policy=policy).digested == 2
    store.close()
    cfg = tmp_path / "monitor.yaml"
    # quiet all day but for a minute, whenever the test runs
    now = datetime.now(timezone.utc)
    start, end = (now + timedelta(minutes=2)).strftime("%H:%M"), \
        (now + timedelta(minutes=1)).strftime("%H:%M")
    cfg.write_text(f"database: {db}\nchannels:\n  - kind: slack\n    name: desk\n"
                   f"    webhook_url_env: HOOK\n    quiet_hours: {{from: '{start}', "
                   f"to: '{end}'}}\n")
    runner = CliRunner()
    out = runner.invoke(cli, ["-c", str(cfg), "status"]).output
    assert "  desk: quiet hours until " in out and "2 held for its digest (quiet hours)" in out
    state = json.loads(runner.invoke(cli, ["-c", str(cfg), "status", "--json"]).output)
    assert state["held"]["desk"]["held"] == {"quiet hours": 2}
    assert state["held"]["desk"]["quiet_until"].endswith("+00:00")


def test_monitor_deliver_keeps_to_the_budget_of_monitor_yaml(tmp_path, slack):
    db = tmp_path / "m.db"
    store = Store(db)
    _queue(store, range(3), ["desk"])
    store.close()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"database: {db}\nchannels:\n  - kind: slack\n    name: desk\n"
                   f"    webhook_url_env: HOOK\n    budget: {{alerts: 1, per: 1h}}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "deliver"], env={"HOOK": slack.url})
    assert result.exit_code == 0, result.output
    first, second = result.output.splitlines()[:2]
    assert first.startswith("1 sent, 0 to retry, 0 given up; 2 waiting")
    assert second == ("2 alerts held for a digest by the channels' quiet hours, budget or "
                      "burst (monitor status says which)")
    assert len(slack.wait_for(1)) == 1
    # --digests sends them now, as one message
    result = CliRunner().invoke(cli, ["-c", str(cfg), "deliver", "--digests"],
                                env={"HOOK": slack.url})
    assert result.output.startswith("2 sent, 0 to retry, 0 given up; 0 waiting")
    posts = slack.wait_for(2)
    assert "Story 1" in str(posts[1]) and "Story 2" in str(posts[1])
