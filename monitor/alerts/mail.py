"""The email channel: multipart/alternative (text + HTML) over SMTP with ``smtplib``."""

from __future__ import annotations

import email.policy
import hashlib
import ipaddress
import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from html import escape

from monitor.alerts.base import Channel
from monitor.alerts.render import (
    digest_message_id,
    message_id,
    render_digest_html,
    render_digest_subject,
    render_digest_text,
    render_html,
    render_subject,
    render_text,
)
from monitor.errors import DeliveryError
from monitor.models import Alert, FollowUp, Notice

SECURITY_MODES = ("starttls", "ssl", "none")

logger = logging.getLogger(__name__)

# For an ASCII subject, allow header lines up to 200 characters so the whole subject
# (at most 140) stays on one line: with the 78 default, Python's folder moves some
# subjects (e.g. one containing "alert(1)</script>") whole onto a continuation line and
# parsers then see a leading space. Non-ASCII subjects become RFC 2047 encoded words,
# which must stay within 75 characters, so they keep the default.
_ASCII_POLICY = email.policy.default.clone(max_line_length=200)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sender_domain(sender: str) -> str:
    addr = parseaddr(sender)[1]
    domain = addr.rpartition("@")[2]
    return domain or "news-monitor.invalid"


def build_message(subject: str, text: str, html: str, *, sender: str,
                  recipients: Sequence[str], msg_id: str,
                  extra_headers: dict[str, str] | None = None) -> EmailMessage:
    """Assemble a multipart/alternative message (text first, HTML preferred).

    Args:
        subject: the subject line (one line).
        text: the plain-text body.
        html: the HTML body.
        sender: the From address (``"Name <a@b>"`` or ``"a@b"``).
        recipients: the To addresses.
        msg_id: the Message-ID, angle brackets included.
        extra_headers: more headers to set (e.g. ``X-Monitor-Watch``).

    Returns:
        The message, ready for ``smtplib.SMTP.send_message``.
    """
    msg = EmailMessage(policy=_ASCII_POLICY if subject.isascii() else email.policy.default)
    set_text_header(msg, "Subject", subject)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = msg_id
    # RFC 3834: tell autoresponders (vacation replies) not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    for key, value in (extra_headers or {}).items():
        set_text_header(msg, key, value)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def set_text_header(msg: EmailMessage, name: str, text: str) -> None:
    """Set a header to free text (a headline, a watch name) so a mail client shows it
    exactly as given.

    The text is flattened first: every line break (CR, LF, U+2028, U+0085...) and run of
    spaces becomes one space, so nothing in it can start a header line. Plain ASCII
    text is set as it is. Text that is not ASCII, or that contains ``=?`` (it could be
    read as an RFC 2047 encoded word: the email package and mail clients would decode
    ``=?utf-8?b?QmNjOi...?=`` in a headline into other text, on Python 3.11/3.12 even
    into a new header line), is written as encoded words of our own, whose decoded
    value is the text as typed, and set raw so the email package never decodes it.

    Args:
        msg: the message being built.
        name: the header name, e.g. ``"Subject"``.
        text: the value.
    """
    text = " ".join(text.split())
    if text.isascii() and "=?" not in text:
        msg[name] = text
        return
    msg.set_raw(name, Header(text, "utf-8", maxlinelen=76, header_name=name)
                .encode(linesep="\n"))


class EmailChannel(Channel):
    """Sends alerts by email: one SMTP connection per message.

    Args:
        name: the channel's name.
        host: SMTP server host name or IP address.
        port: SMTP server port (usually 587 for starttls, 465 for ssl, 25 for none).
        sender: the From address.
        recipients: one or more To addresses.
        security: ``"starttls"`` (plain connect, then STARTTLS, required), ``"ssl"``
            (TLS from the first byte) or ``"none"`` (no encryption).
        username: the SMTP AUTH login, or None to send without logging in.
        password: the SMTP AUTH password, already read from the environment. Never
            logged nor put in an error message.
        timeout: seconds to wait for each network operation (connect, each command).
        ca_file: a PEM file of CA certificates to trust instead of the system's (for a
            private mail relay); None uses the system trust store.

    Raises:
        ValueError: a setting is invalid: unknown security mode, no recipients, a
            username without password, or a password over ``security="none"`` to a host
            that is not the local machine (it would cross the network in clear text).
    """

    def __init__(self, name: str, host: str, port: int, sender: str,
                 recipients: Sequence[str], security: str = "starttls",
                 username: str | None = None, password: str | None = None,
                 timeout: float = 30.0, *, ca_file: str | None = None) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"email channel {name!r}: security must be one of "
                             f"{', '.join(SECURITY_MODES)}, not {security!r}")
        if isinstance(recipients, str):
            recipients = [recipients]
        recipients = [r.strip() for r in recipients if r and r.strip()]
        if not recipients:
            raise ValueError(f"email channel {name!r}: recipients must list at least "
                             "one address")
        for addr in [sender, *recipients]:
            if "@" not in parseaddr(addr)[1]:
                raise ValueError(f"email channel {name!r}: {addr!r} is not an email "
                                 "address")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"email channel {name!r}: port must be 1-65535, "
                             f"not {port!r}")
        if username and not password:
            raise ValueError(f"email channel {name!r}: username {username!r} is set but "
                             "the password is empty (is its environment variable set?)")
        if password and security == "none" and not _is_loopback(host):
            raise ValueError(f"email channel {name!r}: security 'none' would send the "
                             f"password to {host} in clear text; use starttls or ssl")
        if timeout <= 0:
            raise ValueError(f"email channel {name!r}: timeout must be positive seconds, "
                             f"not {timeout!r}")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.security = security
        self.username = username
        self._password = password
        self.timeout = float(timeout)
        self.ca_file = ca_file
        self._domain = _sender_domain(sender)

    def __repr__(self) -> str:
        return (f"EmailChannel(name={self.name!r}, host={self.host!r}, port={self.port}, "
                f"security={self.security!r}, recipients={self.recipients!r})")

    @property
    def destination(self) -> str:
        """``host:port (security)`` for messages."""
        return f"{self.host}:{self.port} ({self.security})"

    # ------------------------------------------------------------------ messages

    def build_alert_message(self, alert: Alert) -> EmailMessage:
        """Render one alert as the message this channel would send."""
        return build_message(
            render_subject(alert), render_text(alert), render_html(alert),
            sender=self.sender, recipients=self.recipients,
            msg_id=message_id(alert, self._domain),
            extra_headers={"X-Monitor-Watch": alert.watch_id,
                           "X-Monitor-Alert-Id": str(alert.alert_id)})

    def build_digest_message(self, alerts: Sequence[Alert], title: str) -> EmailMessage:
        """Render a digest as the message this channel would send."""
        return build_message(
            render_digest_subject(alerts, title), render_digest_text(alerts, title),
            render_digest_html(alerts, title),
            sender=self.sender, recipients=self.recipients,
            msg_id=digest_message_id(alerts, title, self._domain),
            extra_headers={"X-Monitor-Alert-Id":
                           ",".join(str(a.alert_id) for a in alerts)})

    def build_notice_message(self, notice: Notice) -> EmailMessage:
        """Render a notice (source health, spike) as the message this channel sends."""
        from monitor.alerts.notices import (
            notice_html,
            notice_message_id,
            notice_subject,
            notice_text,
        )

        return build_message(
            notice_subject(notice), notice_text(notice), notice_html(notice),
            sender=self.sender, recipients=self.recipients,
            msg_id=notice_message_id(notice, self._domain),
            extra_headers={"X-Monitor-Notice-Id": str(notice.notice_id)})

    def build_followup_message(self, followup: FollowUp) -> EmailMessage:
        """Render a story's follow-up as a reply to its first alert: ``In-Reply-To`` and
        ``References`` carry the first alert's Message-ID, so mail clients thread it."""
        first = followup.first
        parent = message_id(first, self._domain)
        key = _followup_key(followup)
        lines = [followup.line, ""] + [f"- {o}: {u}" for o, u in
                                       zip(followup.outlets, followup.urls, strict=True)]
        text = "\n".join(lines) + "\n"
        html = "<p>" + escape(followup.line) + "</p><ul>" + "".join(
            f'<li>{escape(o)}: <a href="{escape(u)}">{escape(u)}</a></li>'
            for o, u in zip(followup.outlets, followup.urls, strict=True)) + "</ul>"
        msg = build_message(
            "Re: " + render_subject(first), text, html, sender=self.sender,
            recipients=self.recipients, msg_id=f"<followup.{key}@{self._domain}>",
            extra_headers={"X-Monitor-Watch": first.watch_id,
                           "X-Monitor-Alert-Id": str(first.alert_id)})
        msg["In-Reply-To"] = parent
        msg["References"] = parent
        return msg

    def send_followup(self, followup: FollowUp) -> None:
        """Send a story's follow-up as a reply to its first alert. Raises DeliveryError
        on failure."""
        self._deliver(self.build_followup_message(followup))

    def send_notice(self, notice: Notice) -> None:
        """Send a notice as an email. Raises DeliveryError on failure."""
        self._deliver(self.build_notice_message(notice))

    def send(self, alert: Alert) -> None:
        """Send one alert as an email. Raises DeliveryError on failure."""
        self._deliver(self.build_alert_message(alert))

    def send_digest(self, alerts: Sequence[Alert], title: str,
                    followups: Sequence[FollowUp] = ()) -> None:
        """Send a digest as one email; an empty sequence sends nothing."""
        if alerts:
            self._deliver(self.build_digest_message(alerts, title))

    # ------------------------------------------------------------------ SMTP

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def _fail(self, what: str, exc: BaseException, *, permanent: bool = False) -> DeliveryError:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return DeliveryError(f"email channel {self.name!r}: {what} {self.destination}: "
                             f"{detail}", permanent=permanent)

    def _smtp_fail(self, what: str, code: int, reply: bytes | str) -> DeliveryError:
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        reply = " ".join(str(reply).split())
        return DeliveryError(
            f"email channel {self.name!r}: {what} at {self.destination}: {code} {reply}",
            permanent=500 <= code < 600)

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=self._ssl_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except ssl.SSLCertVerificationError as exc:
            raise self._fail("TLS certificate not trusted for", exc, permanent=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise self._fail("cannot connect to", exc) from exc
        try:
            if self.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"email channel {self.name!r}: {self.destination} does not offer "
                        "STARTTLS; use security 'ssl' or the submission port "
                        "(or security 'none' for a relay on this machine)",
                        permanent=True)
                smtp.starttls(context=self._ssl_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password or "")
        except DeliveryError:
            smtp.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise self._smtp_fail(f"login as {self.username!r} refused", exc.smtp_code,
                                  exc.smtp_error) from None
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise self._fail("AUTH not offered by", exc, permanent=True) from None
        except ssl.SSLCertVerificationError as exc:
            smtp.close()
            raise self._fail("TLS certificate not trusted for", exc, permanent=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise self._fail("cannot set up session with", exc) from exc
        return smtp

    def _deliver(self, msg: EmailMessage) -> None:
        smtp = self._connect()
        try:
            refused = smtp.send_message(msg, from_addr=self._envelope_sender(),
                                        to_addrs=self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(500 <= c < 600 for c in codes)
            who = ", ".join(f"{addr} ({code} {' '.join(resp.decode('utf-8', 'replace').split())})"
                            for addr, (code, resp) in exc.recipients.items())
            raise DeliveryError(f"email channel {self.name!r}: all recipients refused by "
                                f"{self.destination}: {who}", permanent=permanent) from None
        except smtplib.SMTPSenderRefused as exc:
            raise self._smtp_fail(f"sender {exc.sender!r} refused", exc.smtp_code,
                                  exc.smtp_error) from None
        except smtplib.SMTPDataError as exc:
            raise self._smtp_fail("message refused", exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise self._fail("sending failed to", exc) from exc
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        if refused:
            # Delivered to the others; retrying would duplicate their copies.
            logger.warning(
                "email channel %r: %s refused some recipients: %s", self.name,
                self.destination, ", ".join(sorted(refused)))

    def _envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]


def _followup_key(followup: FollowUp) -> str:
    """``<alert id>.<12 hex of the URLs>``: the same each time one follow-up is sent."""
    digest = hashlib.sha256("\x1f".join(followup.urls).encode()).hexdigest()[:12]
    return f"{followup.first.alert_id}.{digest}"
