"""Channel settings are checked when monitor.yaml is loaded, one line per problem naming
the field (case R6: port 465 with security: starttls)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import RULES

# ../shared/cases/R6/monitor.yaml: an implicit-TLS port with STARTTLS, which used to be
# accepted and then time out at every delivery with no hint
R6 = """\
database: crawl.db
rules: {rules}
log_level: INFO
sources: []
channels:
  - kind: email
    name: desk-mail
    host: 127.0.0.1
    port: 465
    security: starttls
    sender: monitor@example.org
    recipients: [desk@example.org]
    username: monitor@example.org
    password_env: SMTP_PASSWORD
    timeout: 8
"""


@pytest.mark.parametrize("command", [["rules", "check"], ["deliver"], ["crawl"]])
def test_r6_port_465_with_starttls_is_a_config_error_saying_use_ssl(tmp_path, command):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(R6.format(rules=RULES))
    result = CliRunner().invoke(cli, ["-c", str(cfg), *command], env={"SMTP_PASSWORD": "x"})
    assert result.exit_code == 2, result.output
    assert result.output == (f"monitor: {cfg}: channels[0].security: port 465 is implicit "
                             f"TLS: use security: ssl (starttls is for port 587)\n")


@pytest.mark.parametrize("port, security, ok", [
    (465, "ssl", True), (587, "starttls", True), (25, "none", True), (2525, "starttls", True),
    (587, "ssl", False)])
def test_other_ports_and_security(tmp_path, port, security, ok):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(R6.format(rules=RULES).replace("port: 465", f"port: {port}")
                   .replace("security: starttls", f"security: {security}")
                   .replace("timeout: 8", "timeout: 8s"))
    result = CliRunner().invoke(cli, ["-c", str(cfg), "rules", "check"])
    assert (result.exit_code == 0) is ok, result.output
    if not ok:
        assert "channels[0].security: port 587 expects STARTTLS: use security: starttls" \
            in result.output


def test_every_channel_problem_is_its_own_line(tmp_path):
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"rules: {RULES}\nchannels:\n"
                   "  - {kind: email, host: h, port: 465, security: starttls, sender: a@b,"
                   " recipients: [c@d], timeout: soon}\n"
                   "  - {kind: slack, webhook_url_env: 'https://hooks.slack.com/services/T/B/X'}\n"
                   "  - {kind: apprise, name: a}\n")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "rules", "check"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 4, result.output
    for field in ("channels[0].security", "channels[0].timeout", "channels[1].webhook_url_env",
                  "channels[2].url_env"):
        assert any(f": {field}: " in line for line in lines), (field, result.output)
    assert "hooks.slack.com/services" not in result.output
