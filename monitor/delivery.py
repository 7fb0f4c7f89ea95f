"""Draining the outbox: pending alerts -> channels, with retries, backoff and digests.

Delivery results are values stored in the outbox (status, attempts, last_error,
next_attempt_at), never inferred from logs. Channels get a rendered alert and a
destination; they know nothing of rules or crawling.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from monitor.alerts import Channel, build_channel
from monitor.config import MonitorConfig, secret_from_env
from monitor.errors import ConfigError
from monitor.errors import DeliveryError
from monitor.store import Store, utcnow

log = logging.getLogger(__name__)

#: First retry after this many seconds; doubled after every failure, capped at MAX_BACKOFF.
BASE_BACKOFF = 30.0
MAX_BACKOFF = 3600.0


def build_channels(config: MonitorConfig) -> dict[str, Channel]:
    """Build every channel in monitor.yaml, reading secrets from the environment.

    Returns:
        channel name -> ready channel.

    Raises:
        ConfigError: a named environment variable is missing, or a channel's settings
            are rejected by the channel (e.g. a username without a password).
    """
    channels: dict[str, Channel] = {}
    for i, ch in enumerate(config.channels):
        try:
            channels[ch.name] = _build(config, ch, f"channels[{i}]")
        except ValueError as exc:
            raise ConfigError(f"{config.path}: channels[{i}]: {exc}") from None
    return channels


def _build(config: MonitorConfig, ch, where: str) -> Channel:
    if ch.kind == "email":
        return build_channel(
            "email", ch.name, host=ch.host, port=ch.port, sender=ch.sender,
            recipients=list(ch.recipients), security=ch.security, username=ch.username,
            password=secret_from_env(config.path, f"{where}.password_env", ch.password_env),
            timeout=ch.timeout, ca_file=ch.ca_file)
    if ch.kind == "slack":
        return build_channel("slack", ch.name, timeout=ch.timeout, webhook_url=secret_from_env(
            config.path, f"{where}.webhook_url_env", ch.webhook_url_env))
    if ch.kind == "webhook":
        url = ch.url or secret_from_env(config.path, f"{where}.url_env", ch.url_env)
        return build_channel("webhook", ch.name, url=url, timeout=ch.timeout)
    return build_channel("console", ch.name)


@dataclass
class DeliveryReport:
    """What one pass over the outbox did.

    Attributes:
        sent: alerts delivered (a digest counts each alert it carries).
        failed: alerts that failed and will be retried.
        dead: alerts given up for good (permanent error or too many attempts).
        errors: one line per failure, naming the channel.
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def _retry_at(attempts: int, error: DeliveryError, max_attempts: int,
              now: datetime) -> datetime | None:
    if error.permanent or attempts + 1 >= max_attempts:
        return None
    delay = min(BASE_BACKOFF * (2 ** attempts), MAX_BACKOFF)
    if error.retry_after is not None:
        delay = max(delay, float(error.retry_after)) if attempts else float(error.retry_after)
    return now + timedelta(seconds=delay)


def deliver_pending(store: Store, channels: Mapping[str, Channel], *, max_attempts: int = 8,
                    digests: bool = False, now: datetime | None = None) -> DeliveryReport:
    """Send due alerts from the outbox and record each result there.

    Args:
        store: the database holding the outbox.
        channels: channel name -> channel; rows for a channel no longer configured are
            left pending (they go out if the channel comes back).
        max_attempts: after this many failed tries an alert is marked ``dead``.
        digests: also send the pending digest-mode alerts, one digest per channel.
        now: the current time (for tests); default the wall clock.

    Returns:
        A :class:`DeliveryReport`. Delivery errors are recorded, never raised.
    """
    now = now or utcnow()
    report = DeliveryReport()
    for pending in store.pending_alerts("immediate", now):
        channel = channels.get(pending.channel)
        if channel is None:
            continue
        try:
            channel.send(pending.alert)
        except DeliveryError as exc:
            _record_failure(store, report, [pending.outbox_id], pending.attempts, exc,
                            max_attempts, now, pending.channel)
        else:
            store.mark_sent([pending.outbox_id])
            report.sent += 1
    if digests:
        by_channel = defaultdict(list)
        for pending in store.pending_alerts("digest", now):
            by_channel[pending.channel].append(pending)
        for name, rows in by_channel.items():
            channel = channels.get(name)
            if channel is None:
                continue
            ids = [r.outbox_id for r in rows]
            try:
                channel.send_digest([r.alert for r in rows],
                                    f"{len(rows)} new hit{'s' if len(rows) != 1 else ''}")
            except DeliveryError as exc:
                _record_failure(store, report, ids, max(r.attempts for r in rows), exc,
                                max_attempts, now, name)
            else:
                store.mark_sent(ids)
                report.sent += len(ids)
    return report


def _record_failure(store: Store, report: DeliveryReport, ids: list[int], attempts: int,
                    exc: DeliveryError, max_attempts: int, now: datetime, channel: str) -> None:
    retry_at = _retry_at(attempts, exc, max_attempts, now)
    store.mark_failed(ids, str(exc), retry_at)
    line = f"channel {channel}: {exc}"
    report.errors.append(line)
    if retry_at is None:
        report.dead += len(ids)
        log.error("%s (giving up)", line)
    else:
        report.failed += len(ids)
        log.warning("%s (retry at %s)", line, retry_at.isoformat(timespec="seconds"))
