"""Draining the outbox: pending alerts -> channels, with retries, backoff and digests.

Delivery results are values stored in the outbox (status, attempts, last_error,
next_attempt_at), never inferred from logs. Channels get a rendered alert and a
destination; they know nothing of rules or crawling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.alerts import Channel, build_channel, retry
from monitor.clock import iso, parse_iso, utcnow
from monitor.config import ChannelConfig, MonitorConfig, secret_from_env
from monitor.errors import ConfigError, DeliveryError
from monitor.models import FollowUp
from monitor.policy import QUIET, DeliveryPolicy, Route
from monitor.records import StrCode
from monitor.store import MAX_CHANNEL_HOLD, Store
from monitor.words import count

log = logging.getLogger(__name__)

#: Seconds: at most one follow-up ("+N outlets: ...") per story, watch and channel in
#: this time; outlets arriving meanwhile are gathered into the next one.
FOLLOWUP_EVERY = 600.0

#: Seconds between two probes of a channel whose alerts were given up during an outage.
PROBE_EVERY = 60.0


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


def _build(config: MonitorConfig, ch: ChannelConfig, where: str) -> Channel:
    if ch.kind == "email":
        return build_channel(
            "email", ch.name, host=ch.host, port=ch.port, sender=ch.sender,
            recipients=list(ch.recipients), security=ch.security, username=ch.username,
            password=secret_from_env(config.path, f"{where}.password_env", ch.password_env),
            timeout=ch.timeout, ca_file=ch.ca_file)
    if ch.kind == "slack" and ch.bot_token_env:
        return build_channel("slack", ch.name, timeout=ch.timeout, bot_token=secret_from_env(
            config.path, f"{where}.bot_token_env", ch.bot_token_env), channel=ch.channel,
            api_url=ch.api_url)
    if ch.kind == "slack":
        return build_channel("slack", ch.name, timeout=ch.timeout, webhook_url=secret_from_env(
            config.path, f"{where}.webhook_url_env", ch.webhook_url_env))
    if ch.kind == "webhook":
        url = ch.url or secret_from_env(config.path, f"{where}.url_env", ch.url_env)
        return build_channel("webhook", ch.name, url=url, timeout=ch.timeout,
                             secret=secret_from_env(config.path, f"{where}.secret_env",
                                                    ch.secret_env))
    if ch.kind == "apprise":
        return build_channel("apprise", ch.name, timeout=ch.timeout, url=secret_from_env(
            config.path, f"{where}.url_env", ch.url_env))
    return build_channel("console", ch.name)


class DeliveryResult(StrCode):
    """What one delivery pass did with an alert (:meth:`DeliveryReport.tally`)."""

    SENT = "sent"        #: delivered (a digest counts each alert it carries)
    FAILED = "failed"    #: failed, tried again later
    DEAD = "dead"        #: given up for good: a permanent error or too many attempts


@dataclass
class DeliveryReport:
    """What one pass over the outbox did.

    Attributes:
        sent: alerts delivered (a digest counts each alert it carries).
        failed: alerts that failed and will be retried.
        dead: alerts given up for good (permanent error, too many attempts, or a row
            that cannot be read).
        deferred: alerts not tried in this pass because their channel had just failed
            or is held by a Retry-After.
        requeued: alerts given up earlier that were queued again because their channel
            delivered again (see ``requeue_window``).
        held: channel name -> until when it is held by a Retry-After.
        errors: one line per failure, naming the channel (or the unreadable row).
        digested: alerts the channels' policy moved into a digest instead of sending
            them on their own (quiet hours, budget, burst; see :mod:`monitor.policy`).
        by_channel: channel name -> ``{"sent": n, "failed": n, "dead": n}`` (the
            :class:`DeliveryResult` values), the same
            counts per channel (a row that cannot be read names no channel and is
            counted in ``dead`` only).
        followups: follow-ups sent (one per story thread and channel, however many
            outlets it adds; see :func:`deliver_pending`).
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    requeued: int = 0
    held: dict[str, datetime] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    digested: int = 0
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    followups: int = 0

    def tally(self, channel: str, outcome: DeliveryResult, n: int = 1) -> None:
        """Count ``n`` alerts of ``channel`` as ``outcome``, in the totals and in
        :attr:`by_channel`."""
        setattr(self, outcome.value, getattr(self, outcome.value) + n)
        counts = self.by_channel.setdefault(channel, {r.value: 0 for r in DeliveryResult})
        counts[outcome.value] += n

    @property
    def gave_up(self) -> dict[str, int]:
        """Channel name -> alerts given up for good in this pass (only channels with
        some)."""
        return {name: c["dead"] for name, c in self.by_channel.items() if c["dead"]}


def _retry_at(attempts: int, error: DeliveryError, max_attempts: int,
              now: datetime) -> datetime | None:
    """When to try again after failure number ``attempts + 1``, or None to give up
    (:func:`monitor.alerts.retry.retry_at`)."""
    return retry.retry_at(error, attempts, max_attempts, now)


def digest_due(store: Store, channel: str, interval: float, now: datetime) -> bool:
    """Whether ``channel``'s digest is due: never sent, or sent ``interval`` seconds ago.

    The time of the last digest is kept in the database, so restarting the daemon
    does not postpone digests.
    """
    last = parse_iso(store.get_state(f"last_digest:{channel}"))
    return last is None or last + timedelta(seconds=interval) <= now


def deliver_pending(store: Store, channels: Mapping[str, Channel], *, max_attempts: int = 8,
                    digests: bool = False, digest_interval: float | None = None,
                    requeue_window: float = 0.0, probe_every: float = PROBE_EVERY,
                    now: datetime | None = None,
                    stop: threading.Event | None = None,
                    policy: DeliveryPolicy | None = None,
                    followup_every: float = FOLLOWUP_EVERY) -> DeliveryReport:
    """Send due alerts from the outbox and record each result there.

    Each alert is claimed just before it is sent (a digest: the alerts it carries), so
    a second sender running at the same time never sends it too, and a sender killed
    mid-pass leaves at most the alert in flight claimed; the next sender on the host
    takes that claim back at once when its owner is gone (see
    :meth:`Store.reclaim_dead_claims`). Delivery is at least once: the alert that was in
    flight is sent again, with the same email Message-ID, webhook Idempotency-Key and
    Slack ``block_id``/Idempotency-Key, so receivers and readers can tell.

    A channel that answers with a Retry-After (429, 503) is held: nothing is sent on it
    until that time has passed (at most :data:`MAX_CHANNEL_HOLD` seconds), in this pass
    or later ones, by this process or another. A row that cannot be read is given up
    with the reason (see :meth:`Store.claim_alerts`) and the others go out.

    Args:
        store: the database holding the outbox.
        channels: channel name -> channel; rows for a channel no longer configured are
            left pending (they go out if the channel comes back) and block nothing.
        max_attempts: after this many failed tries an alert is marked ``dead``.
        digests: also send the pending digest-mode alerts, one digest per channel.
        digest_interval: with ``digests``, send a channel's digest only when its last one
            is at least this many seconds old; None sends it now.
        requeue_window: seconds; when a channel delivers, its alerts given up after
            transient failures in this window before are queued again, oldest first
            (0: never). A channel with nothing else to send is probed with the oldest of
            them, so an outage that outlasted every retry ends without a new alert.
        probe_every: seconds between two such probes of one channel (0: every pass, as
            ``monitor deliver`` does).
        now: the current time (for tests); default the policy's clock, else the wall
            clock.
        stop: when set (the daemon is stopping), the pass ends before the next alert.
        policy: each channel's quiet hours, budget and burst threshold
            (:class:`monitor.policy.DeliveryPolicy`, which decides): alerts it holds
            become pending digest rows (``outbox.held`` says why); a burst, or alerts
            held through quiet hours once they are over, make the channel's digest go
            out in this pass whatever ``digests`` says; no digest goes out during a
            channel's quiet hours. None: every alert goes out on its own.
        followup_every: seconds; later outlets of a story already alerted on a channel
            go into the first alert's thread as one follow-up ("+N outlets: A, B, C":
            an email reply, a Slack thread reply, a webhook ``update`` event), at most
            one per story, watch and channel in this time, outlets gathered meanwhile.
            A channel that cannot thread (Slack without a bot token) carries them as
            compact lines in its next digest. None go out during quiet hours, nor
            before the story's first alert was sent.

    Returns:
        A :class:`DeliveryReport`. Delivery errors are recorded, never raised. After a
        channel's first retryable failure in a pass, its other alerts wait for the next
        pass (a mail server that is down costs one timeout, not one per alert).
    """
    now = now or (policy.now() if policy is not None else utcnow())
    report = DeliveryReport()
    report.held = {c: t for c, t in store.channel_holds(now).items() if c in channels}
    down: set[str] = set(report.held)
    recovered: set[str] = set()
    forced: set[str] = set()    # channels whose digest goes out in this pass (a burst)

    def sent_recently(name: str) -> int:
        window = policy.budget_window(name) if policy is not None else None
        return 0 if window is None else store.messages_sent(
            name, now - timedelta(seconds=window))

    def hold(name: str, route: Route, outbox_ids: list[int] | None = None) -> None:
        assert route.reason is not None, "a route that holds says why"
        n = store.hold_for_digest(name, route.reason, route.until, now, outbox_ids)
        if outbox_ids is not None:     # the claimed one, then the others waiting
            n += store.hold_for_digest(name, route.reason, route.until, now)
        if route.action == "burst":
            forced.add(name)
        if n:
            report.digested += n
            log.info("channel %s: %s for its digest (%s)", name,
                     count(n, "alert") + (" goes" if n == 1 else " go"), route.reason)

    if policy is not None:      # a burst, quiet hours, a spent budget: the digest
        for name in channels:
            waiting = 0 if name in down else store.waiting_count(name, now)
            if waiting:
                route = policy.decide(name, urgent=False, waiting=waiting,
                                      sent_recently=sent_recently(name), now=now)
                if route.action != "send":
                    hold(name, route)

    def delivered(name: str) -> None:
        if name in recovered or requeue_window <= 0:
            return
        recovered.add(name)
        n = store.requeue_recovered(name, requeue_window, now)
        if n:
            report.requeued += n
            log.info("channel %s works again: %d alert%s given up during its outage "
                     "queued again", name, n, "" if n == 1 else "s")

    def failed(name: str, error: DeliveryError) -> None:
        if error.permanent:
            return
        down.add(name)
        hold = retry.hold_seconds(error)
        if hold is not None:
            until = now + timedelta(seconds=min(hold, MAX_CHANNEL_HOLD))
            store.hold_channel(name, until, str(error))
            report.held[name] = until
            log.warning("channel %s: held until %s (Retry-After)", name,
                        until.isoformat(timespec="seconds"))

    tried: set[str] = set()

    def drain() -> None:
        while stop is None or not stop.is_set():
            open_channels = [c for c in channels if c not in down]
            problems: list[str] = []
            claimed = store.claim_alerts("immediate", open_channels, now, limit=1,
                                         problems=problems)
            _record_unreadable(report, problems)
            if not claimed:
                return
            pending = claimed[0]
            if policy is not None and pending.priority != "urgent":
                route = policy.decide(pending.channel, urgent=False, waiting=0,
                                      sent_recently=sent_recently(pending.channel), now=now)
                if route.action == "hold":
                    hold(pending.channel, route, [pending.outbox_id])
                    continue
            tried.add(pending.channel)
            try:
                ref = channels[pending.channel].send(pending.alert)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                error = _as_delivery_error(exc, pending.channel)
                retry_at = _retry_at(pending.attempts, error, max_attempts, now)
                _record_failure(store, report, pending.outbox_id, error, retry_at,
                                pending.channel, unexpected=not isinstance(exc, DeliveryError))
                failed(pending.channel, error)
            else:
                store.mark_sent([pending.outbox_id], now)
                if isinstance(ref, str) and ref:      # a Slack ts: the story's thread
                    store.save_thread_ref(pending.outbox_id, ref)
                report.tally(pending.channel, DeliveryResult.SENT)
                delivered(pending.channel)

    drain()
    # A channel with nothing to send but alerts given up during an outage: try the
    # oldest of them (at most every probe_every seconds); if it goes out, the channel
    # works again and the others follow in this pass.
    probed = [name for name in channels if name not in down and name not in tried
              and store.probe_dead(name, requeue_window, max(0, max_attempts - 1),
                                   probe_every, now)]
    if probed:
        drain()
    report.deferred = store.due_count("immediate", [c for c in channels if c in down], now)
    if stop is None or not stop.is_set():
        threaded = [name for name, ch in channels.items() if name not in down
                    and not getattr(ch, "followups_in_digest", False)
                    and (policy is None or not policy.quiet_until(name, now))]
        for ids, followup, name in _due_followups(store, threaded, now, followup_every):
            try:
                channels[name].send_followup(followup)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                error = _as_delivery_error(exc, name)
                report.errors.append(f"channel {name}: follow-up of story "
                                     f"{followup.story_id}: {error}")
                log.warning("%s", report.errors[-1])
                if error.permanent:
                    store.mark_followups_sent(ids, followup.first.watch_id,
                                              followup.story_id, name, now, status="dead")
                else:
                    failed(name, error)
            else:
                store.mark_followups_sent(ids, followup.first.watch_id, followup.story_id,
                                          name, now)
                report.followups += 1
                log.info("channel %s: story %d: %s", name, followup.story_id, followup.line)
    if stop is None or not stop.is_set():
        for name, channel in channels.items():
            if name in down or (policy is not None and policy.quiet_until(name, now)):
                continue
            # a burst, or the end of quiet hours, sends the digest now; its title says why
            why = (" at once" if name in forced else
                   " since the quiet hours began" if store.held_due(name, QUIET, now) else
                   "" if digests and (digest_interval is None or digest_due(
                       store, name, digest_interval, now)) else None)
            if why is None:
                continue
            problems: list[str] = []
            rows = store.claim_alerts("digest", [name], now, limit=500, problems=problems)
            _record_unreadable(report, problems)
            extra = (_due_followups(store, [name], now, followup_every)
                     if getattr(channel, "followups_in_digest", False) else [])
            if not rows and not extra:
                continue
            try:
                if extra:
                    channel.send_digest([r.alert for r in rows], (
                        f"{count(len(rows), 'new hit')}{why}" if rows else
                        f"New outlets on {count(len(extra), 'story')}"),
                        followups=[f for _, f, _ in extra])
                else:
                    channel.send_digest([r.alert for r in rows],
                                        f"{count(len(rows), 'new hit')}{why}")
            except Exception as exc:  # noqa: BLE001
                error = _as_delivery_error(exc, name)
                for r in rows:  # each row keeps its own count of attempts
                    _record_failure(store, report, r.outbox_id, error,
                                    _retry_at(r.attempts, error, max_attempts, now), name,
                                    unexpected=not isinstance(exc, DeliveryError))
                failed(name, error)
            else:
                store.mark_sent((r.outbox_id for r in rows), now)
                for ids, followup, _ in extra:
                    store.mark_followups_sent(ids, followup.first.watch_id,
                                              followup.story_id, name, now)
                report.followups += len(extra)
                store.set_state(f"last_digest:{name}", iso(now))
                report.tally(name, DeliveryResult.SENT, len(rows))
                delivered(name)
    return report


def _due_followups(store: Store, names: list[str], now: datetime, every: float
                   ) -> list[tuple[list[int], FollowUp, str]]:
    """``[(followup row ids, FollowUp, channel name)]`` due now on ``names`` (see
    :meth:`Store.due_followups`)."""
    return [(ids, f, channel) for channel in names
            for ids, f in store.due_followups([channel], now, every)]


def _record_unreadable(report: DeliveryReport, problems: list[str]) -> None:
    for line in problems:
        report.dead += 1
        report.errors.append(line)
        log.error("%s", line)


def _as_delivery_error(exc: Exception, channel: str) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    # A bug in a renderer or channel: keep the alert, retry it later, log the traceback.
    log.error("channel %s: unexpected %s while sending", channel, type(exc).__name__,
              exc_info=exc)
    return DeliveryError(f"channel {channel}: unexpected {type(exc).__name__}: {exc}")


def _record_failure(store: Store, report: DeliveryReport, outbox_id: int, exc: DeliveryError,
                    retry_at: datetime | None, channel: str, unexpected: bool = False) -> None:
    # only alerts given up after transient delivery failures come back when the channel
    # recovers: not a permanent refusal, nor a bug in a renderer that would fail again
    gave_up = "permanent" if exc.permanent or unexpected else "retries"
    store.mark_failed(outbox_id, str(exc), retry_at, gave_up=gave_up)
    line = f"channel {channel}: {exc}"
    report.errors.append(line)
    if retry_at is None:
        report.tally(channel, DeliveryResult.DEAD)
        log.error("%s (giving up)", line)
    else:
        report.tally(channel, DeliveryResult.FAILED)
        log.warning("%s (next try at %s)", line, retry_at.isoformat(timespec="seconds"))
