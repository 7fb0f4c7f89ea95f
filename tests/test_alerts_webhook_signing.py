"""Signed webhooks: a real local server receives the body and checks it with the
README's verification recipe."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.datastructures import Headers

from monitor.alerts import build_channel
from monitor.alerts.webhook import sign_body
from monitor.cli import cli
from monitor.config import load_config
from monitor.delivery import build_channels
from monitor.errors import ConfigError
from tests.alert_fixtures import ALERT
from tests.conftest import RULES
from tests.servers import WebhookServer

SECRET = "whsec-7f3a9c"
README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_recipe():
    """The verify function exactly as the README gives it."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?def verify_monitor_signature.*?)```", text, re.S)
    assert match, "the README lost its verification recipe"
    namespace: dict = {}
    exec(match.group(1), namespace)  # noqa: S102 - our own README
    return namespace["verify_monitor_signature"]


def _config(tmp_path, channel: str):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"rules: {RULES}\ndatabase: {tmp_path / 'm.db'}\nchannels:\n{channel}")
    return cfg


def test_a_signed_alert_verifies_with_the_readme_recipe(tmp_path, monkeypatch):
    verify = _readme_recipe()
    with WebhookServer() as server:
        monkeypatch.setenv("HOOK_URL", server.url)
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        config = load_config(_config(tmp_path, "  - {kind: webhook, name: ops, "
                                               "url_env: HOOK_URL, secret_env: HOOK_SECRET}\n"))
        channel = build_channels(config)["ops"]
        channel.send(ALERT)
        server.wait_for(1)
        [request] = [r for r in server.requests if r.method == "POST"]
    assert verify(SECRET.encode(), request.headers, request.body)
    assert request.headers["X-Monitor-Signature"].startswith("sha256=")
    assert abs(int(request.headers["X-Monitor-Timestamp"]) - time.time()) < 60
    assert json.loads(request.body)["url"] == ALERT.url
    # a changed body, another secret or an old timestamp do not verify
    assert not verify(SECRET.encode(), request.headers, request.body.replace(b"pact", b"pacT"))
    assert not verify(b"other", request.headers, request.body)
    # an hour-old request, signed right, is refused as a replay
    stamp = str(int(time.time()) - 3600)
    old = Headers(request.headers)
    old.update({"X-Monitor-Timestamp": stamp,
                "X-Monitor-Signature": sign_body(SECRET, int(stamp), request.body)})
    assert not verify(SECRET.encode(), old, request.body)
    assert SECRET not in repr(channel)


def test_non_ascii_bodies_are_signed_as_sent():
    verify = _readme_recipe()
    with WebhookServer() as server:
        channel = build_channel("webhook", "ops", url=server.url, secret=SECRET)
        channel.send_digest([ALERT.__class__(**{**ALERT.__dict__, "title": "Zürich – “pact” ✓"})],
                            "1 new hit")
        server.wait_for(1)
        [request] = [r for r in server.requests if r.method == "POST"]
    assert "Zürich".encode() in request.body
    assert verify(SECRET.encode(), request.headers, request.body)


def test_without_a_secret_nothing_is_signed():
    with WebhookServer() as server:
        build_channel("webhook", "ops", url=server.url).send(ALERT)
        server.wait_for(1)
        [request] = [r for r in server.requests if r.method == "POST"]
    assert "X-Monitor-Signature" not in request.headers


def test_a_missing_secret_variable_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    config = load_config(_config(tmp_path, "  - {kind: webhook, name: ops, url: "
                                           "'http://127.0.0.1:9/h', secret_env: NO_SUCH_SECRET}\n"))
    with pytest.raises(ConfigError, match=r"channels\[0\]\.secret_env: environment variable "
                                          r"NO_SUCH_SECRET is not set"):
        build_channels(config)


@pytest.mark.parametrize("channel, expected", [
    ("  - {kind: webhook, name: ops, url: 'ftp://x/h'}\n",
     "channels[0].url: must be an absolute http(s) URL"),
    ("  - {kind: webhook, name: ops, url: 'http://x/h', secret_env: 'my secret'}\n",
     "channels[0].secret_env: must be the name of an environment variable"),
])
def test_bad_webhook_settings_are_one_line_config_errors(tmp_path, channel, expected):
    cfg = _config(tmp_path, channel)
    result = CliRunner().invoke(cli, ["-c", str(cfg), "deliver"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert expected in result.output and "my secret" not in result.output
