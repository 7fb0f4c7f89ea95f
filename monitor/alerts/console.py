"""The console channel: prints alerts to a stream (stdout by default)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from monitor.alerts.base import Channel
from monitor.alerts.render import render_digest_text, render_text
from monitor.errors import DeliveryError
from monitor.models import Alert, FollowUp, Notice

_RULE = "=" * 72


class ConsoleChannel(Channel):
    """Prints each alert as plain text (the same text as the email's text part).

    Args:
        name: the channel's name.
        stream: where to write; None means ``sys.stdout`` as it is at send time.
    """

    def __init__(self, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ConsoleChannel(name={self.name!r})"

    def _write(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            with self._lock:
                stream.write(f"{_RULE}\n{text}")
                stream.flush()
        except (OSError, ValueError) as exc:  # closed stream, broken pipe
            raise DeliveryError(
                f"console channel {self.name!r}: cannot write: {exc}") from exc

    def send(self, alert: Alert) -> None:
        """Print one alert. Raises DeliveryError if the stream is closed or broken."""
        self._write(render_text(alert))

    def send_followup(self, followup: FollowUp) -> None:
        """Print a story's follow-up: ``+N outlets: A, B, C`` under its first alert's
        number and title, one URL a line."""
        first = followup.first
        self._write(f"[alert {first.alert_id}] {first.title}\n{followup.line}\n"
                    + "".join(f"  {u}\n" for u in followup.urls))

    def send_notice(self, notice: Notice) -> None:
        """Print a notice (source health, spike)."""
        from monitor.alerts.notices import notice_text

        self._write(notice_text(notice))

    def send_digest(self, alerts: Sequence[Alert], title: str,
                    followups: Sequence[FollowUp] = ()) -> None:
        """Print a digest; an empty sequence prints nothing."""
        if alerts:
            self._write(render_digest_text(alerts, title))
