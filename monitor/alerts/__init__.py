"""Alert channels: console, email (SMTP), Slack incoming webhook, generic webhook (signed
with a secret when one is set) and Apprise (an optional extra, one service URL each).

A channel receives :class:`~monitor.models.Alert` values, renders them with
:mod:`monitor.alerts.render` and delivers them; it knows nothing of rules or crawling.
Failures raise :class:`~monitor.errors.DeliveryError` with ``retry_after`` (seconds) and
``permanent`` set so the outbox can decide what to do.

Example:
    >>> from monitor.alerts import build_channel
    >>> channel = build_channel("console", "stdout")
    >>> channel.send(alert)  # doctest: +SKIP
"""

from __future__ import annotations

from monitor.alerts import render
from monitor.alerts.apprise_channel import AppriseChannel
from monitor.alerts.base import Channel
from monitor.alerts.console import ConsoleChannel
from monitor.alerts.factory import CHANNEL_KINDS, build_channel
from monitor.alerts.mail import EmailChannel
from monitor.alerts.slack import SlackChannel
from monitor.alerts.webhook import WebhookChannel
from monitor.errors import DeliveryError

__all__ = [
    "CHANNEL_KINDS",
    "AppriseChannel",
    "Channel",
    "ConsoleChannel",
    "DeliveryError",
    "EmailChannel",
    "SlackChannel",
    "WebhookChannel",
    "build_channel",
    "render",
]
