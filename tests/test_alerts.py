"""Console channel, the channel factory and the Channel interface."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from monitor.alerts import (
    CHANNEL_KINDS,
    Channel,
    ConsoleChannel,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    build_channel,
)
from monitor.errors import DeliveryError
from monitor.models import Alert

ALERT = Alert(
    alert_id=3,
    watch_id="nk",
    watch_name="North Korea",
    title="DPRK test-fires missile",
    url="https://news.example.org/dprk-missile",
    source="Wire",
    published=datetime(2024, 6, 2, 4, 15, tzinfo=timezone.utc),
    terms=("DPRK",),
    snippet="The [[DPRK]] fired a missile early on Sunday.",
)


def test_console_prints_the_alert(capsys):
    ConsoleChannel().send(ALERT)
    out = capsys.readouterr().out
    assert "DPRK test-fires missile" in out
    assert "North Korea (nk)" in out
    assert "Wire" in out and "2024-06-02 04:15 UTC" in out
    assert "The **DPRK** fired a missile early on Sunday." in out
    assert "https://news.example.org/dprk-missile" in out


def test_console_to_a_stream_and_digest():
    stream = io.StringIO()
    channel = ConsoleChannel("log", stream=stream)
    channel.send_digest([ALERT, ALERT], "Hourly digest")
    channel.send_digest([], "Empty")
    out = stream.getvalue()
    assert out.count("DPRK test-fires missile") == 2
    assert "Hourly digest" in out and "2 alerts" in out and "Empty" not in out


def test_console_closed_stream_is_a_delivery_error():
    stream = io.StringIO()
    stream.close()
    with pytest.raises(DeliveryError, match="console channel 'log'"):
        ConsoleChannel("log", stream=stream).send(ALERT)


def test_every_channel_is_a_channel():
    for cls in CHANNEL_KINDS.values():
        assert issubclass(cls, Channel)


def test_build_channel_makes_each_kind():
    assert isinstance(build_channel("console", "out"), ConsoleChannel)
    email = build_channel("email", "desk", host="127.0.0.1", port=25,
                          sender="m@ex.org", recipients=["a@ex.org"], security="none")
    assert isinstance(email, EmailChannel) and email.name == "desk"
    slack = build_channel("slack", "room", webhook_url="https://hooks.slack.com/services/T/B/s3cr3t")
    assert isinstance(slack, SlackChannel)
    assert "s3cr3t" not in repr(slack)
    hook = build_channel("webhook", "ops", url="https://ops.example/hook", timeout=3)
    assert isinstance(hook, WebhookChannel) and hook.timeout == 3.0


def test_build_channel_unknown_kind_names_it():
    with pytest.raises(ValueError, match="unknown channel kind 'pager'") as info:
        build_channel("pager", "oncall")
    assert "oncall" in str(info.value) and "slack" in str(info.value)


def test_build_channel_unknown_and_missing_settings():
    with pytest.raises(ValueError, match="unknown setting hots"):
        build_channel("email", "desk", hots="x", port=25, sender="m@ex.org",
                      recipients=["a@ex.org"])
    with pytest.raises(ValueError, match="missing setting webhook_url"):
        build_channel("slack", "room")


def test_email_repr_hides_password():
    channel = EmailChannel("desk", "smtp.example.com", 587, "m@ex.org", ["a@ex.org"],
                           username="m", password="hunter2-secret")
    assert "hunter2" not in repr(channel)
    assert "hunter2" not in str(channel)
