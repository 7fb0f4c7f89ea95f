"""When a channel may alert: quiet hours, a rate budget, bursts, and urgent watches.

One place decides, for each alert about to go out on a channel, whether it goes out now
on its own, or waits for the channel's next digest instead of being lost or sent one by
one (:meth:`DeliveryPolicy.decide`). :func:`monitor.delivery.deliver_pending` asks it
and does what it says. The settings come from each channel in monitor.yaml::

    quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/Berlin}
    budget: {alerts: 10, per: 1h}
    burst: 10

The rules, in this order:

1. an alert of a watch with ``priority: urgent`` goes out now, always;
2. inside quiet hours, alerts wait; the digest that carries them goes out when the
   quiet hours end (no digest is sent during them);
3. when the channel already sent ``budget.alerts`` messages in the last ``budget.per``,
   alerts wait for the channel's next regular digest;
4. ``burst`` alerts or more waiting for the channel at once become one digest message,
   sent now (it counts as one message of the budget);
5. otherwise the alert goes out now.

The clock is injected (``clock``), so tests run the rules at any time of day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from monitor.clock import as_utc, utcnow

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

#: Why an alert waits for a digest (kept in ``outbox.held``).
QUIET = "quiet hours"
BUDGET = "budget"
BURST = "burst"


@dataclass(frozen=True)
class Route:
    """What to do with an alert (or with the alerts waiting for a channel).

    Attributes:
        action: ``send`` (now, on its own), ``hold`` (wait for the channel's digest) or
            ``burst`` (send every alert waiting now, as one digest message).
        reason: ``urgent``, :data:`QUIET`, :data:`BUDGET`, :data:`BURST`, or None for a
            plain send.
        until: with ``hold``, the earliest time the digest carrying it may go out (UTC;
            the end of the quiet hours), or None for the next regular digest.
    """

    action: Literal["send", "hold", "burst"]
    reason: str | None = None
    until: datetime | None = None


def _utcnow() -> datetime:
    return utcnow()


class DeliveryPolicy:
    """The quiet hours, budget and burst threshold of every channel, and the clock.

    Args:
        channels: channel name -> its settings: any object with ``quiet_hours``
            (:class:`monitor.config.QuietHoursConfig` or None), ``budget``
            (:class:`monitor.config.BudgetConfig` or None) and ``burst`` (int, 0 off)
            attributes, such as the channel models of monitor.yaml. A channel not
            listed (or without the attributes) is never quiet, has no budget and no
            burst grouping.
        clock: returns the current time, timezone-aware (default: the wall clock, UTC).
    """

    def __init__(self, channels: Mapping[str, object],
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._channels = dict(channels)
        self.clock = clock
        self._zones = {name: ZoneInfo(qh.timezone) for name, ch in self._channels.items()
                       if (qh := getattr(ch, "quiet_hours", None)) is not None}

    @classmethod
    def from_config(cls, config: MonitorConfig, clock: Callable[[], datetime] = _utcnow
                    ) -> DeliveryPolicy:
        """Build the policy of every channel of a :class:`monitor.config.MonitorConfig`."""
        return cls({ch.name: ch for ch in config.channels}, clock)

    def now(self) -> datetime:
        """Returns: the injected clock's current time (aware)."""
        return self.clock()

    def quiet_until(self, channel: str, now: datetime) -> datetime | None:
        """When the channel's quiet hours end, if ``now`` is inside them.

        Args:
            channel: the channel name.
            now: an aware datetime.

        Returns:
            The end of the current quiet hours (aware, UTC), or None when the channel is
            not quiet at ``now`` (or has no quiet hours). Local times follow the
            configured time zone, summer time included.
        """
        ch = self._channels.get(channel)
        qh = getattr(ch, "quiet_hours", None)
        if qh is None:
            return None
        zone = self._zones[channel]
        local = now.astimezone(zone)
        t = local.time().replace(tzinfo=None)
        # quiet hours that run past midnight hold the times after start or before end
        inside = qh.start <= t < qh.end if qh.start < qh.end else t >= qh.start or t < qh.end
        if not inside:
            return None
        day = local.date() if t < qh.end else local.date() + timedelta(days=1)
        end = datetime.combine(day, qh.end, tzinfo=zone)
        return as_utc(end)

    def budget_window(self, channel: str) -> float | None:
        """Returns: the channel's budget window in seconds, or None without a budget."""
        budget = getattr(self._channels.get(channel), "budget", None)
        return None if budget is None else budget.per

    def decide(self, channel: str, *, urgent: bool, waiting: int, sent_recently: int,
               now: datetime) -> Route:
        """Decide what happens to an alert, or to the alerts waiting, on a channel.

        Args:
            channel: the channel name.
            urgent: the alert's watch has ``priority: urgent`` (then it goes out now).
            waiting: how many alerts (not urgent) wait for the channel at once; 0 or 1
                when deciding for a single alert.
            sent_recently: messages the channel sent in its budget window before ``now``
                (see :meth:`budget_window`; ignored without a budget).
            now: an aware datetime.

        Returns:
            A :class:`Route`.
        """
        if urgent:
            return Route("send", "urgent")
        until = self.quiet_until(channel, now)
        if until is not None:
            return Route("hold", QUIET, until)
        ch = self._channels.get(channel)
        budget = getattr(ch, "budget", None)
        if budget is not None and sent_recently >= budget.alerts:
            return Route("hold", BUDGET)
        burst = getattr(ch, "burst", 0) or 0
        if burst and waiting >= burst:
            return Route("burst", BURST)
        return Route("send")
