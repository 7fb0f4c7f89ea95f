"""Draining the outbox: pending alerts -> channels, with retries, backoff and digests.

Delivery results are values stored in the outbox (status, attempts, last_error,
next_attempt_at), never inferred from logs. Channels get a rendered alert and a
destination; they know nothing of rules or crawling.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from monitor.alerts import Channel, build_channel
from monitor.config import MonitorConfig, secret_from_env
from monitor.errors import ConfigError
from monitor.errors import DeliveryError
from monitor.store import Store, iso, parse_iso, utcnow

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
        deferred: alerts not tried in this pass because their channel had just failed.
        errors: one line per failure, naming the channel.
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def _retry_at(attempts: int, error: DeliveryError, max_attempts: int,
              now: datetime) -> datetime | None:
    """When to try again after failure number ``attempts + 1``, or None to give up."""
    if error.permanent or attempts + 1 >= max_attempts:
        return None
    delay = min(BASE_BACKOFF * (2 ** attempts), MAX_BACKOFF)
    if error.retry_after is not None:
        delay = max(delay, float(error.retry_after))
    return now + timedelta(seconds=delay)


def digest_due(store: Store, channel: str, interval: float, now: datetime) -> bool:
    """Whether ``channel``'s digest is due: never sent, or sent ``interval`` seconds ago.

    The time of the last digest is kept in the database, so restarting the daemon
    does not postpone digests.
    """
    last = parse_iso(store.get_state(f"last_digest:{channel}"))
    return last is None or last + timedelta(seconds=interval) <= now


def deliver_pending(store: Store, channels: Mapping[str, Channel], *, max_attempts: int = 8,
                    digests: bool = False, digest_interval: float | None = None,
                    now: datetime | None = None,
                    stop: threading.Event | None = None) -> DeliveryReport:
    """Send due alerts from the outbox and record each result there.

    Rows are claimed before they are sent, so a second sender running at the same time
    never sends them too. Delivery is at least once: a sender killed between sending and
    recording sends that alert again after ``CLAIM_TIMEOUT`` (email Message-IDs and
    webhook Idempotency-Keys are stable, so receivers can tell).

    Args:
        store: the database holding the outbox.
        channels: channel name -> channel; rows for a channel no longer configured are
            left pending (they go out if the channel comes back) and block nothing.
        max_attempts: after this many failed tries an alert is marked ``dead``.
        digests: also send the pending digest-mode alerts, one digest per channel.
        digest_interval: with ``digests``, send a channel's digest only when its last one
            is at least this many seconds old; None sends it now.
        now: the current time (for tests); default the wall clock.
        stop: when set (the daemon is stopping), unsent claimed rows are released.

    Returns:
        A :class:`DeliveryReport`. Delivery errors are recorded, never raised. After a
        channel's first retryable failure in a pass, its other alerts wait for the next
        pass (a mail server that is down costs one timeout, not one per alert).
    """
    now = now or utcnow()
    report = DeliveryReport()
    claimed = store.claim_alerts("immediate", channels, now)
    down: set[str] = set()
    for i, pending in enumerate(claimed):
        if stop is not None and stop.is_set():
            store.release(p.outbox_id for p in claimed[i:])
            return report
        if pending.channel in down:
            store.release([pending.outbox_id])
            report.deferred += 1
            continue
        try:
            channels[pending.channel].send(pending.alert)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none stops the pass
            error = _as_delivery_error(exc, pending.channel)
            retry_at = _retry_at(pending.attempts, error, max_attempts, now)
            _record_failure(store, report, pending.outbox_id, error, retry_at, pending.channel)
            if not error.permanent:
                down.add(pending.channel)
        else:
            store.mark_sent([pending.outbox_id])
            report.sent += 1
    if digests:
        for name, channel in channels.items():
            if name in down or (digest_interval is not None
                                and not digest_due(store, name, digest_interval, now)):
                continue
            rows = store.claim_alerts("digest", [name], now, limit=500)
            if not rows:
                continue
            try:
                channel.send_digest([r.alert for r in rows],
                                    f"{len(rows)} new hit{'s' if len(rows) != 1 else ''}")
            except Exception as exc:  # noqa: BLE001
                error = _as_delivery_error(exc, name)
                for r in rows:  # each row keeps its own count of attempts
                    _record_failure(store, report, r.outbox_id, error,
                                    _retry_at(r.attempts, error, max_attempts, now), name)
            else:
                store.mark_sent(r.outbox_id for r in rows)
                store.set_state(f"last_digest:{name}", iso(now))
                report.sent += len(rows)
    return report


def _as_delivery_error(exc: Exception, channel: str) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    # A bug in a renderer or channel: keep the alert, retry it later, log the traceback.
    log.error("channel %s: unexpected %s while sending", channel, type(exc).__name__,
              exc_info=exc)
    return DeliveryError(f"channel {channel}: unexpected {type(exc).__name__}: {exc}")


def _record_failure(store: Store, report: DeliveryReport, outbox_id: int, exc: DeliveryError,
                    retry_at: datetime | None, channel: str) -> None:
    store.mark_failed(outbox_id, str(exc), retry_at)
    line = f"channel {channel}: {exc}"
    report.errors.append(line)
    if retry_at is None:
        report.dead += 1
        log.error("%s (giving up)", line)
    else:
        report.failed += 1
        log.warning("%s (next try at %s)", line, retry_at.isoformat(timespec="seconds"))
