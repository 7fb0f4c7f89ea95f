"""The Slack and generic webhook channels against real local HTTP servers."""

from __future__ import annotations

import logging
import socket

import pytest

from monitor.alerts import SlackChannel, WebhookChannel
from monitor.errors import DeliveryError
from monitor.models import Alert
from tests.alert_fixtures import alert_with
from tests.servers import SLACK_PATH, SlackServer, WebhookServer, check_slack_limits


def make_alert(**changes) -> Alert:
    return alert_with(**{"alert_id": 7, "title": "Pyongyang & Moscow sign <mutual> defence pact", "url": "https://news.example.org/world/pact?ref=rss&lang=en", "snippet": "Leaders signed a [[mutual defence]] [[pact]] on Tuesday.", **changes})


@pytest.fixture
def slack_hook():
    with SlackServer() as server:
        yield server


@pytest.fixture
def hook():
    with WebhookServer() as server:
        yield server


def closed_port_url(path: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# ----------------------------------------------------------------------------- Slack


def test_slack_post_arrives_with_text_and_blocks(slack_hook):
    with SlackChannel("newsroom", slack_hook.url, timeout=5) as channel:
        channel.send(make_alert())
    (payload,) = slack_hook.wait_for(1)
    assert "Pyongyang &amp; Moscow sign &lt;mutual&gt; defence pact" in payload["text"]
    rendered = "\n".join(
        [b["text"]["text"] for b in payload["blocks"] if "text" in b]
        + [f["text"] for b in payload["blocks"] for f in b.get("fields", [])])
    assert ("<https://news.example.org/world/pact?ref=rss&amp;lang=en|"
            "Pyongyang &amp; Moscow sign &lt;mutual&gt; defence pact>") in rendered
    assert "North Korea defence pact (nk-pact)" in rendered
    assert "Example News" in rendered and "2024-05-01 09:30 UTC" in rendered
    assert "*mutual defence* *pact*" in rendered
    assert slack_hook.requests[0].headers["content-type"] == "application/json"


def test_slack_digest_is_one_post(slack_hook):
    alerts = [make_alert(alert_id=i, title=f"Story {i}") for i in range(3)]
    SlackChannel("newsroom", slack_hook.url).send_digest(alerts, "Morning digest")
    SlackChannel("newsroom", slack_hook.url).send_digest([], "Nothing")
    (payload,) = slack_hook.wait_for(1)
    assert payload["text"] == "Morning digest: 3 alerts"
    assert payload["blocks"][0]["text"]["text"] == "Morning digest"
    assert len(slack_hook.posts) == 1


def test_slack_accepts_huge_alert_and_digest(slack_hook):
    # The server validates Block Kit limits like Slack (400 invalid_blocks otherwise).
    huge = make_alert(title="T&" * 10_000, snippet="[[<pact>]] " * 5000,
                      terms=tuple(f"t{i}" for i in range(3000)))
    channel = SlackChannel("newsroom", slack_hook.url)
    channel.send(huge)
    channel.send_digest([huge] * 120, "Huge digest " * 40)
    assert len(slack_hook.wait_for(2)) == 2


def test_slack_rate_limit_gives_retry_after():
    with SlackServer([(429, "rate_limited", {"Retry-After": "30"})]) as server:
        channel = SlackChannel("newsroom", server.url)
        with pytest.raises(DeliveryError) as info:
            channel.send(make_alert())
        assert info.value.retry_after == 30.0
        assert not info.value.permanent
        channel.send(make_alert())  # the next post is accepted
        assert len(server.wait_for(2)) == 2


@pytest.mark.parametrize("status, body", [
    (404, "no_service"), (404, "channel_not_found"), (410, "channel_is_archived"),
    (400, "invalid_payload"), (403, "action_prohibited"),
])
def test_slack_permanent_errors(status, body):
    with SlackServer([(status, body, {})]) as server, pytest.raises(DeliveryError) as info:
        SlackChannel("newsroom", server.url).send(make_alert())
    assert info.value.permanent
    assert info.value.retry_after is None
    assert body in str(info.value) and str(status) in str(info.value)


def test_slack_unknown_webhook_path_is_no_service(slack_hook):
    wrong = slack_hook.base_url + "/services/T000/B000/WRONG"
    with pytest.raises(DeliveryError, match="no_service") as info:
        SlackChannel("newsroom", wrong).send(make_alert())
    assert info.value.permanent
    assert "WRONG" not in str(info.value)


def test_slack_server_error_is_retryable():
    with SlackServer([(500, "rollup_error", {}), (503, "", {})]) as server:
        channel = SlackChannel("newsroom", server.url)
        for _ in range(2):
            with pytest.raises(DeliveryError) as info:
                channel.send(make_alert())
            assert not info.value.permanent


def test_slack_connection_error_is_retryable_and_hides_the_url():
    url = closed_port_url("/services/TSECRET/BSECRET/tokensecret")
    channel = SlackChannel("newsroom", url, timeout=2)
    with pytest.raises(DeliveryError) as info:
        channel.send(make_alert())
    message = str(info.value)
    assert not info.value.permanent
    assert "newsroom" in message and "127.0.0.1" in message
    assert "SECRET" not in message and "tokensecret" not in message
    assert info.value.__cause__ is None  # the httpx error (with the URL) is not chained
    assert "tokensecret" not in repr(channel)


def test_slack_url_never_reaches_the_logs(slack_hook, caplog):
    caplog.set_level(logging.DEBUG)
    SlackChannel("newsroom", slack_hook.url).send(make_alert())
    assert slack_hook.wait_for(1)
    assert caplog.records, "httpx should have logged the request"
    assert SLACK_PATH not in caplog.text
    assert "B000/XXXX" not in caplog.text


def test_slack_rejects_a_non_http_url():
    with pytest.raises(ValueError, match="newsroom") as info:
        SlackChannel("newsroom", "hooks.slack.com/services/T/B/secret")
    assert "secret" not in str(info.value)


# --------------------------------------------------------------------------- webhook


def test_webhook_posts_alert_fields(hook):
    alert = make_alert()
    with WebhookChannel("ops-hook", hook.url, headers={"Authorization": "Bearer tok"}) as ch:
        ch.send(alert)
    (body,) = hook.wait_for(1)
    assert body["kind"] == "alert"
    assert body["alert_id"] == 7 and body["watch_id"] == "nk-pact"
    assert body["title"] == alert.title and body["url"] == alert.url
    assert body["published"] == "2024-05-01T09:30:00+00:00"
    assert body["terms"] == ["mutual defence", "pact"]
    assert body["snippet"] == alert.snippet
    request = hook.requests[0]
    assert request.headers["authorization"] == "Bearer tok"
    assert request.headers["idempotency-key"] == "alert-7"
    assert request.headers["content-type"] == "application/json"


def test_webhook_accepts_any_2xx():
    with WebhookServer(responses=[(201, "", {}), (204, "", {})]) as server:
        channel = WebhookChannel("ops-hook", server.url)
        channel.send(make_alert())
        channel.send_digest([make_alert(alert_id=1), make_alert(alert_id=2)], "Digest")
        _first, digest = server.wait_for(2)
    assert digest["kind"] == "digest" and digest["count"] == 2
    assert server.requests[1].headers["idempotency-key"].startswith("digest-")


def test_webhook_server_error_is_retryable():
    with WebhookServer(responses=[(500, "boom", {})]) as server, \
            pytest.raises(DeliveryError, match="500") as info:
        WebhookChannel("ops-hook", server.url).send(make_alert())
    assert not info.value.permanent
    assert "test-token" not in str(info.value)


def test_webhook_client_error_is_permanent_and_429_waits():
    with WebhookServer(responses=[(422, "bad field", {}),
                                  (429, "slow down", {"Retry-After": "5"})]) as server:
        channel = WebhookChannel("ops-hook", server.url)
        with pytest.raises(DeliveryError, match="422") as bad:
            channel.send(make_alert())
        with pytest.raises(DeliveryError) as slow:
            channel.send(make_alert())
    assert bad.value.permanent
    assert slow.value.retry_after == 5.0 and not slow.value.permanent


def test_webhook_unreachable_is_retryable():
    with pytest.raises(DeliveryError, match="ops-hook") as info:
        WebhookChannel("ops-hook", closed_port_url("/hook/secret-token"),
                       timeout=2).send(make_alert())
    assert not info.value.permanent
    assert "secret-token" not in str(info.value)


def test_check_slack_limits_catches_oversize_blocks():
    assert check_slack_limits({"text": "hi"}) is None
    assert check_slack_limits({}) == "no_text"
    assert check_slack_limits({"blocks": [{"type": "section", "text": {
        "type": "mrkdwn", "text": "x" * 3001}}]}) == "invalid_blocks"
    assert check_slack_limits({"blocks": [{"type": "divider"}] * 51}) == "invalid_blocks"
    assert check_slack_limits({"blocks": [{"type": "header", "text": {
        "type": "plain_text", "text": "h" * 151}}]}) == "invalid_blocks"
    assert check_slack_limits({"blocks": [{"type": "section", "text": {
        "type": "mrkdwn", "text": ""}}]}) == "invalid_blocks"
    assert check_slack_limits({"blocks": [{"type": "sektion"}]}) == "invalid_blocks"
    assert check_slack_limits({"blocks": [{"type": "divider", "txt": "x"}]}) == (
        "invalid_blocks")


def test_check_slack_limits_are_slack_sdks(monkeypatch):
    """The limits come from slack_sdk's block models, not a copy written beside the
    renderer: tighten slack_sdk's and the checker follows."""
    from slack_sdk.models.blocks import SectionBlock

    from monitor.alerts.render import render_slack

    post = render_slack(make_alert())
    assert check_slack_limits(post) is None
    monkeypatch.setattr(SectionBlock, "text_max_length", 10)
    assert check_slack_limits(post) == "invalid_blocks"
