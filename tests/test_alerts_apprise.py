"""The Apprise channel (kind: apprise) posting to real local servers through Apprise's
generic JSON and form services, its failures, its secret URL, and monitor.yaml."""

from __future__ import annotations

import logging
import socket

import pytest
from click.testing import CliRunner

pytest.importorskip("apprise")

from monitor.alerts import build_channel
from monitor.cli import cli
from monitor.config import load_config
from monitor.delivery import build_channels, deliver_pending
from monitor.errors import ConfigError, DeliveryError
from monitor.store import Store
from tests.alert_fixtures import ALERT, alert_with
from tests.conftest import RULES
from tests.servers import WebhookServer

SECRET_PATH = "/hooks/s3cr3t-token"


def _json_url(server: WebhookServer) -> str:
    return f"json://127.0.0.1:{server.port}{server.path}"


def test_an_alert_arrives_as_an_apprise_json_notification():
    with WebhookServer(path=SECRET_PATH) as server:
        channel = build_channel("apprise", "ntfy-desk", url=_json_url(server), timeout=5)
        channel.send(ALERT)
        [post] = server.wait_for(1)
    assert post["title"].startswith("[monitor]") and ALERT.title in post["title"]
    assert ALERT.url in post["message"] and "mutual defence" in post["message"]


def test_a_digest_is_one_notification():
    with WebhookServer(path=SECRET_PATH) as server:
        channel = build_channel("apprise", "a", url=_json_url(server), timeout=5)
        channel.send_digest([ALERT, alert_with(alert_id=43, title="Second story",
                                               url="https://news.example.org/2")], "2 new hits")
        [post] = server.wait_for(1)
    assert "Second story" in post["message"] and ALERT.title in post["message"]


def test_mentions_and_link_markup_from_article_text_stay_inert():
    with WebhookServer(path=SECRET_PATH) as server:
        channel = build_channel("apprise", "a", url=_json_url(server), timeout=5)
        channel.send(alert_with(title="Vote <!channel> <!here> <@U123> @everyone "
                                      "<https://evil.example|click> [docs](https://evil.example)"))
        [post] = server.wait_for(1)
    text = post["title"] + post["message"]
    for live in ("<!channel>", "<!here>", "<@U123>", "@everyone", "<https://evil",
                 "](https://evil"):
        assert live not in text
    # the words still read the same, with an invisible joiner breaking the markup
    assert "<\u2060!channel>" in text and "<\u2060@U123>" in text


@pytest.mark.parametrize("status, permanent", [(404, True), (401, True), (503, False),
                                               (429, False)])
def test_refusals_are_permanent_or_retried_and_never_show_the_url(status, permanent):
    with WebhookServer(path=SECRET_PATH, responses=[(status, "no", {})]) as server:
        channel = build_channel("apprise", "a", url=_json_url(server), timeout=5)
        with pytest.raises(DeliveryError) as info:
            channel.send(ALERT)
    assert info.value.permanent is permanent
    message = str(info.value)
    assert str(status) in message and f"json://127.0.0.1:{server.port}/" in message
    assert "s3cr3t" not in message


def test_a_refused_connection_is_retried(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = build_channel("apprise", "a", url=f"json://127.0.0.1:{port}{SECRET_PATH}",
                            timeout=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as info:
        channel.send(ALERT)
    assert info.value.permanent is False and "will retry" in str(info.value)
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in str(info.value)


def test_an_unknown_url_is_refused_without_showing_it():
    with pytest.raises(ValueError) as info:
        build_channel("apprise", "a", url="nosuchservice://tok3n@host.example/x")
    assert "not a URL Apprise knows" in str(info.value) and "tok3n" not in str(info.value)


def _config(tmp_path, channel: str):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"rules: {RULES}\ndatabase: {tmp_path / 'm.db'}\nchannels:\n{channel}")
    return cfg


def test_monitor_yaml_channel_reads_the_url_from_the_environment(tmp_path, monkeypatch):
    from tests.test_delivery import _article, _hit

    with WebhookServer(path=SECRET_PATH) as server:
        monkeypatch.setenv("DESK_APPRISE", _json_url(server))
        config = load_config(_config(tmp_path, "  - {kind: apprise, name: desk, "
                                               "url_env: DESK_APPRISE, timeout: 5s}\n"))
        channels = build_channels(config)
        store = Store(config.database)
        store.save_article(_article(1), [_hit()], channels)
        report = deliver_pending(store, channels)
        assert (report.sent, report.failed) == (1, 0)
        assert store.outbox_status() == {"sent": 1}
        assert "Pyongyang" in server.wait_for(1)[0]["message"]
        store.close()
    assert "json://127.0.0.1" in repr(channels["desk"]) and "s3cr3t" not in repr(channels["desk"])


@pytest.mark.parametrize("channel, expected", [
    ("  - {kind: apprise, name: a}\n", "channels[0].url_env: Field required"),
    ("  - {kind: apprise, name: a, url_env: 'ntfy://ntfy.sh/topic'}\n",
     "channels[0].url_env: must be the name of an environment variable"),
    ("  - {kind: apprise, name: a, url_env: X, timeout: soon}\n",
     "channels[0].timeout: must be a duration"),
])
def test_bad_apprise_settings_are_one_line_config_errors(tmp_path, channel, expected):
    cfg = _config(tmp_path, channel)
    result = CliRunner().invoke(cli, ["-c", str(cfg), "deliver"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert expected in result.output and "ntfy.sh" not in result.output


def test_a_url_apprise_does_not_know_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BAD_APPRISE", "nosuchservice://tok3n@host.example/x")
    config = load_config(_config(tmp_path, "  - {kind: apprise, name: a, url_env: BAD_APPRISE}\n"))
    with pytest.raises(ConfigError) as info:
        build_channels(config)
    assert "channels[0]" in str(info.value) and "tok3n" not in str(info.value)


def test_a_short_secret_path_does_not_unmask_a_longer_one(caplog):
    from monitor.alerts._redact import protect_url

    for short in ("json://127.0.0.1:9/h", "json://127.0.0.1:9/hook", "http://127.0.0.1:9/hooks"):
        protect_url(short)
    protect_url("json://127.0.0.1:9/hooks/s3cr3t-token")
    with caplog.at_level(logging.INFO, logger="apprise"):
        logging.getLogger("apprise").info("POST http://127.0.0.1:9/hooks/s3cr3t-token")
    assert "s3cr3t" not in caplog.text


def test_a_story_follow_up_is_one_notification_naming_the_first_alert():
    from monitor.models import FollowUp

    followup = FollowUp(story_id=7, first=ALERT, outlets=("BBC", "NHK"),
                        urls=("https://bbc.example/a", "https://nhk.example/b"))
    with WebhookServer(path=SECRET_PATH) as server:
        channel = build_channel("apprise", "a", url=_json_url(server), timeout=5)
        channel.send_followup(followup)
        [post] = server.wait_for(1)
    assert post["title"] == f"Re: {ALERT.title}"
    assert post["message"].startswith(f"+2 outlets: BBC, NHK (alert {ALERT.alert_id})")
    assert "https://nhk.example/b" in post["message"]
