"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1).

TLS tests use a certificate from a throwaway CA made on the fly with ``trustme``, the CA
trusted through ``EmailChannel(ca_file=...)``, so STARTTLS, implicit TLS and AUTH are all
exercised for real, with certificate and host name verification on.
"""

from __future__ import annotations

import socket
import ssl

import pytest
import trustme

from monitor.alerts import EmailChannel
from monitor.errors import DeliveryError
from monitor.models import Alert
from tests.alert_fixtures import alert_with
from tests.servers import SmtpServer

SENDER = "News Monitor <monitor@newsroom.example>"
TO = ["desk@newsroom.example", "editor@newsroom.example"]
PASSWORD = "s3cret-Pa55word"


def make_alert(**changes) -> Alert:
    return alert_with(**{"alert_id": 7, "url": "https://news.example.org/world/pact?ref=rss&lang=en", "snippet": "Leaders signed a [[mutual defence]] [[pact]] on Tuesday.", **changes})


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """(the CA file a client trusts, a server TLS context for 127.0.0.1 and localhost)."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return ca_file, context


@pytest.fixture
def mailserver():
    with SmtpServer() as server:
        yield server


def channel_for(server: SmtpServer, **kwargs) -> EmailChannel:
    settings = dict(name="desk-mail", host=server.host, port=server.port, sender=SENDER,
                    recipients=TO, security="none", timeout=5.0)
    settings.update(kwargs)
    return EmailChannel(**settings)


def parts(msg):
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_alert_email_arrives_with_headers_and_both_parts(mailserver):
    channel_for(mailserver).send(make_alert())
    (msg,) = mailserver.wait_for(1)
    assert msg["Subject"] == ("[monitor] North Korea defence pact: Pyongyang and Moscow "
                              "sign mutual defence pact")
    assert msg["From"] == SENDER
    assert msg["To"] == ", ".join(TO)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Monitor-Watch"] == "nk-pact"
    (env,) = mailserver.envelopes
    assert env.mail_from == "monitor@newsroom.example"
    assert env.rcpt_tos == tuple(TO)
    text, html = parts(msg)
    for body in (text, html):
        assert "Pyongyang and Moscow sign mutual defence pact" in body
        assert "North Korea defence pact" in body and "nk-pact" in body
        assert "Example News" in body
        assert "2024-05-01 09:30 UTC" in body
        assert "mutual defence; pact" in body
    assert "Leaders signed a **mutual defence** **pact** on Tuesday." in text
    assert "<mark><b>mutual defence</b></mark> <mark><b>pact</b></mark>" in html
    assert "https://news.example.org/world/pact?ref=rss&lang=en" in text
    assert 'href="https://news.example.org/world/pact?ref=rss&amp;lang=en"' in html


def test_resend_keeps_the_message_id(mailserver):
    channel = channel_for(mailserver)
    channel.send(make_alert())
    channel.send(make_alert())
    channel.send(make_alert(alert_id=8))
    first, again, other = mailserver.wait_for(3)
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith("@newsroom.example>")
    assert other["Message-ID"] != first["Message-ID"]


def test_html_part_keeps_markup_in_titles_as_text(mailserver):
    channel_for(mailserver).send(make_alert(
        title="<script>alert(1)</script> Kim & Putin", source="<b>Src</b>",
        snippet="x [[<i>pact</i>]] y", published=None))
    (msg,) = mailserver.wait_for(1)
    text, html = parts(msg)
    assert "<script>" not in html and "<i>pact" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Kim &amp; Putin" in html
    assert "&lt;b&gt;Src&lt;/b&gt;" in html
    assert "<script>alert(1)</script> Kim & Putin" in text  # text part is literal
    assert "date unknown" in text and "date unknown" in html
    assert msg["Subject"] == "[monitor] North Korea defence pact: <script>alert(1)</script> Kim & Putin"


def test_non_ascii_alert_survives(mailserver):
    channel_for(mailserver).send(make_alert(
        title="Пхеньян и Москва — пакт", watch_name="Корея", snippet="[[пакт]] 조약"))
    (msg,) = mailserver.wait_for(1)
    assert msg["Subject"] == "[monitor] Корея: Пхеньян и Москва — пакт"
    text, html = parts(msg)
    assert "**пакт** 조약" in text and "<mark><b>пакт</b></mark> 조약" in html


def test_digest_email(mailserver):
    alerts = [make_alert(alert_id=1), make_alert(alert_id=2, title="Second story")]
    channel = channel_for(mailserver)
    channel.send_digest(alerts, "Morning digest")
    channel.send_digest([], "Nothing")  # sends nothing
    (msg,) = mailserver.wait_for(1)
    assert msg["Subject"] == "[monitor] Morning digest (2 alerts)"
    text, html = parts(msg)
    assert "Pyongyang and Moscow" in text and "Second story" in text
    assert html.count("<li") == 2
    assert len(mailserver.messages) == 1


def test_starttls_with_auth(tls_files):
    ca_file, tls = tls_files
    with SmtpServer(auth=("monitor", PASSWORD), tls_context=tls,
                    require_starttls=True) as server:
        channel = channel_for(server, security="starttls", username="monitor",
                              password=PASSWORD, ca_file=str(ca_file))
        channel.send(make_alert())
        server.wait_for(1)
        (env,) = server.envelopes
    assert env.tls is True
    assert env.login == "monitor"


def test_starttls_rejects_untrusted_certificate(tls_files):
    _, tls = tls_files
    with SmtpServer(tls_context=tls) as server:
        channel = channel_for(server, security="starttls")  # system CAs only
        with pytest.raises(DeliveryError) as info:
            channel.send(make_alert())
    assert info.value.permanent
    assert f"{server.host}:{server.port}" in str(info.value)
    assert "certificate" in str(info.value).lower()
    assert server.messages == []


def test_starttls_refused_when_server_does_not_offer_it(mailserver):
    with pytest.raises(DeliveryError, match="does not offer STARTTLS") as info:
        channel_for(mailserver, security="starttls").send(make_alert())
    assert info.value.permanent


def test_implicit_tls(tls_files):
    ca_file, tls = tls_files
    with SmtpServer(tls_context=tls, implicit_tls=True) as server:
        channel_for(server, security="ssl", ca_file=str(ca_file)).send(make_alert())
        server.wait_for(1)
        assert server.envelopes[0].tls


def test_wrong_password_is_permanent_and_not_echoed():
    with SmtpServer(auth=("monitor", PASSWORD)) as server:
        channel = channel_for(server, username="monitor", password="wrong-" + PASSWORD)
        with pytest.raises(DeliveryError) as info:
            channel.send(make_alert())
    message = str(info.value)
    assert info.value.permanent
    assert "535" in message and "'monitor'" in message
    assert PASSWORD not in message
    assert "desk-mail" in message


def test_auth_over_plain_smtp_to_loopback(mailserver):
    with SmtpServer(auth=("monitor", PASSWORD)) as server:
        channel_for(server, username="monitor", password=PASSWORD).send(make_alert())
        server.wait_for(1)
        assert server.envelopes[0].login == "monitor"
        assert server.envelopes[0].tls is False


def test_ssl_to_unreachable_port_names_destination_not_password():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = EmailChannel("desk-mail", "127.0.0.1", port, SENDER, TO, security="ssl",
                           username="monitor", password=PASSWORD, timeout=2.0)
    with pytest.raises(DeliveryError) as info:
        channel.send(make_alert())
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "desk-mail" in message
    assert PASSWORD not in message and PASSWORD not in repr(channel)
    assert not info.value.permanent and info.value.retry_after is None


def test_temporary_rejection_is_retryable_and_permanent_one_is_not(mailserver):
    mailserver.script_data("451 4.3.0 Try again later", "554 5.7.1 Message rejected")
    channel = channel_for(mailserver)
    with pytest.raises(DeliveryError, match="451") as first:
        channel.send(make_alert())
    with pytest.raises(DeliveryError, match="554") as second:
        channel.send(make_alert())
    assert not first.value.permanent
    assert second.value.permanent
    channel.send(make_alert())
    assert len(mailserver.wait_for(1)) == 1


def test_all_recipients_refused_is_permanent():
    with SmtpServer(refuse_recipients=TO) as server, \
            pytest.raises(DeliveryError, match="recipients refused") as info:
        channel_for(server).send(make_alert())
    assert info.value.permanent
    assert "desk@newsroom.example" in str(info.value)


def test_some_recipients_refused_still_delivers(caplog):
    with SmtpServer(refuse_recipients=[TO[1]]) as server:
        channel_for(server).send(make_alert())
        server.wait_for(1)
        assert server.envelopes[0].rcpt_tos == (TO[0],)
    assert TO[1] in caplog.text


@pytest.mark.parametrize("kwargs, problem", [
    ({"security": "tls"}, "security must be one of"),
    ({"recipients": []}, "recipients"),
    ({"recipients": ["not-an-address"]}, "not an email address"),
    ({"port": 0}, "port"),
    ({"username": "u", "password": None}, "password is empty"),
    ({"host": "smtp.example.com", "username": "u", "password": PASSWORD},
     "clear text"),
    ({"timeout": 0}, "timeout"),
])
def test_bad_settings_raise_value_error(kwargs, problem):
    settings = dict(name="desk-mail", host="127.0.0.1", port=2525, sender=SENDER,
                    recipients=TO, security="none")
    settings.update(kwargs)
    with pytest.raises(ValueError, match=problem) as info:
        EmailChannel(**settings)
    assert "desk-mail" in str(info.value)
    assert PASSWORD not in str(info.value)
