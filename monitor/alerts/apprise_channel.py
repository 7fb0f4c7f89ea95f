"""The Apprise channel: one Apprise URL (ntfy, Telegram, Matrix, Teams, Discord, a JSON
or form endpoint...) per channel, through the optional ``apprise`` package.

Install it with ``pip install 'news-monitor[apprise]'``. The URL holds the service's
token, so it comes from an environment variable and is never shown: messages and logs
name its scheme and host only (``ntfy://ntfy.example.org/…``), or its scheme alone when
the "host" part is not a host name (``tgram://…``: Telegram's bot token sits there).

Apprise answers a notification with success or failure only; the reason is in its log.
The channel reads Apprise's warnings while it sends, so a failure becomes a
:class:`~monitor.errors.DeliveryError` carrying that reason, ``permanent`` when the
service answered with an HTTP status that :mod:`monitor.alerts.retry` calls permanent
(401, 403, 404...), retryable otherwise (timeouts, refused connections, 429, 5xx, or no
status given).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from monitor.alerts._redact import _FILTER, protect_url, redact_url, scrub
from monitor.alerts.base import Channel
from monitor.alerts.render import (
    render_digest_subject,
    render_digest_text,
    render_subject,
    render_text,
)
from monitor.alerts.retry import classify_status
from monitor.errors import DeliveryError
from monitor.models import Alert, FollowUp, Notice

#: Apprise logs through this logger (and children); the secret URL filter sits on it.
APPRISE_LOGGER = "apprise"
#: one send at a time in the process: Apprise's log is shared by every channel
_SEND_LOCK = threading.Lock()
_STATUS = re.compile(r"\berror(?:\s*code)?\s*[=:]?\s*(\d{3})\b", re.IGNORECASE)
_FILTER_INSTALLED = False


def defuse_mentions(text: str) -> str:
    """Make chat markup from article text inert, whatever service Apprise posts to.

    A word joiner (U+2060, invisible) is put after ``<`` when ``!``, ``@`` or ``#``
    follow (Slack's ``<!channel>``, ``<!here>``, ``<@U123>``, ``<#C123>``; Discord's
    ``<@123>``) or a URL scheme (Slack's link markup ``<https://x|click>``), between
    ``]`` and ``(`` (a Markdown link), and after the ``@`` of ``@channel``, ``@here``
    and ``@everyone``, so the text reads the same but no one is pinged and no link is
    disguised.

    Args:
        text: plain text about to be sent.

    Returns:
        The text with those sequences broken.
    """
    text = re.sub(r"<(?=[!@#]|[A-Za-z][A-Za-z0-9+.-]*:)", "<\u2060", text)
    text = text.replace("](", "]\u2060(")
    return re.sub(r"@(?=(?:channel|here|everyone)\b)", "@\u2060", text, flags=re.IGNORECASE)


class _Collect(logging.Handler):
    """Keeps the messages of WARNING and above logged while one notification is sent."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad log call must not hide the failure
            self.lines.append(str(record.msg))


class AppriseChannel(Channel):
    """Sends each alert as one Apprise notification (title and plain-text body).

    Args:
        name: the channel's name.
        url: the Apprise URL (a secret: only its scheme and host are ever shown).
        timeout: seconds for connecting and for reading the answer (Apprise's ``cto``
            and ``rto``).

    Raises:
        ValueError: apprise is not installed, the timeout is not positive, or Apprise
            does not know the URL (the message names the channel and the URL's scheme
            and host, never the URL).
    """

    def __init__(self, name: str, url: str, timeout: float = 10.0) -> None:
        try:
            import apprise
        except ImportError:
            raise ValueError(f"apprise channel {name!r}: the apprise package is not "
                             f"installed; pip install 'news-monitor[apprise]'") from None
        if timeout <= 0:
            raise ValueError(f"apprise channel {name!r}: timeout must be positive seconds, "
                             f"not {timeout!r}")
        self.name = name
        self.timeout = float(timeout)
        self._url = url
        self.where = where(url)
        _protect(url)
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise ValueError(f"apprise channel {name!r}: {self.where} is not a URL Apprise "
                             f"knows (see https://github.com/caronc/apprise/wiki for the "
                             f"services and their URL forms)")
        plugin.socket_connect_timeout = self.timeout
        plugin.socket_read_timeout = self.timeout
        self._apprise = apprise.Apprise()
        self._apprise.add(plugin)
        self._text = apprise.NotifyFormat.TEXT

    def __repr__(self) -> str:
        return f"AppriseChannel(name={self.name!r}, url={self.where!r})"

    def send(self, alert: Alert) -> None:
        """Send one alert. Raises DeliveryError on failure."""
        self._notify(render_subject(alert), render_text(alert))

    def send_digest(self, alerts: Sequence[Alert], title: str,
                    followups: Sequence[FollowUp] = ()) -> None:
        """Send a digest as one notification; an empty sequence sends nothing."""
        if alerts:
            self._notify(render_digest_subject(alerts, title), render_digest_text(alerts, title))

    def send_followup(self, followup: FollowUp) -> None:
        """Send a story's follow-up as one notification: "Re: <first alert's title>",
        then ``+N outlets: A, B, C`` and one URL a line (Apprise services keep no
        threads). Raises DeliveryError on failure."""
        first = followup.first
        body = (f"{followup.line} (alert {first.alert_id})\n"
                + "".join(f"{u}\n" for u in followup.urls))
        self._notify(_one_line(f"Re: {first.title}"), body)

    def send_notice(self, notice: Notice) -> None:
        """Send a notice (source health, spike). Raises DeliveryError on failure."""
        from monitor.alerts.notices import notice_subject, notice_text

        self._notify(notice_subject(notice), notice_text(notice))

    def _notify(self, title: str, body: str) -> None:
        logger = logging.getLogger(APPRISE_LOGGER)
        collect = _Collect()
        with _SEND_LOCK:
            logger.addHandler(collect)
            saved = logger.level
            if not logger.isEnabledFor(logging.WARNING):
                logger.setLevel(logging.WARNING)
            try:
                ok = self._apprise.notify(body=defuse_mentions(body),
                                          title=defuse_mentions(title),
                                          body_format=self._text)
            except Exception as exc:  # noqa: BLE001 - a plugin bug is a failed delivery
                raise self._error(f"{type(exc).__name__}: {exc}") from None
            finally:
                logger.removeHandler(collect)
                logger.setLevel(saved)
        if ok:
            return
        problem = "; ".join(dict.fromkeys(collect.lines)) or "the service did not accept it"
        status = _STATUS.search(problem)
        permanent = status is not None and classify_status(int(status.group(1))) == "permanent"
        raise self._error(problem + ("" if permanent else "; will retry"), permanent=permanent)

    def _error(self, problem: str, permanent: bool = False) -> DeliveryError:
        text = scrub(" ".join(problem.split()), self._url)
        netloc = urlsplit(self._url).netloc
        if netloc and where(self._url).endswith("://\u2026"):
            text = text.replace(netloc, "\u2026")
        return DeliveryError(f"apprise channel {self.name!r}: {self.where}: {text[:500]}",
                             permanent=permanent)


def where(url: str) -> str:
    """What may be shown of an Apprise URL: scheme and host when the host is a host
    name (it has a dot, or is ``localhost`` or an IP address), else the scheme alone.

    Returns:
        e.g. ``json://127.0.0.1:8080/…``, ``ntfy://ntfy.sh/…``, ``tgram://…``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<invalid URL>"
    if host == "localhost" or "." in host or ":" in host:
        return redact_url(url)
    return f"{parts.scheme or '?'}://\u2026"


def _protect(url: str) -> None:
    """Register the URL with the secret filter, also on Apprise's logger (its debug lines
    print the service URL and payload)."""
    global _FILTER_INSTALLED
    protect_url(url)
    if not _FILTER_INSTALLED:
        logging.getLogger(APPRISE_LOGGER).addFilter(_FILTER)
        _FILTER_INSTALLED = True


def _one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces: a title is one line."""
    return " ".join(text.split())
