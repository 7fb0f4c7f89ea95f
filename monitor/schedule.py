"""The poll schedule: when each source is due, and how its interval adapts.

This module is plain Python (no Scrapy, Twisted or APScheduler). The writer owns one
:class:`Schedule`, loaded from the store at start-up and written back after every poll,
so a restarted daemon resumes where it stopped instead of polling everything at once.
The crawl side asks it for due sources (:meth:`Schedule.pop_due`) and reports each
poll's :class:`monitor.records.RunResult`, from which :meth:`Schedule.record` computes
the next due time.

The rule (documented in the README, "The schedule"):

- A poll that found new article links shortens the source's interval by half, down to
  its ``min_interval``; a poll that found none (or a ``304 Not Modified``) lengthens it
  by half, up to its ``max_interval``. A source that publishes every few minutes is
  polled near its minimum, a quiet one near its maximum, and a source that wakes up is
  back near the minimum within a few polls. Multiplicative steps converge in a handful
  of polls whatever the starting point, cost nothing to compute, and need no history.
- A failed poll leaves the interval alone and backs off: the next poll is
  ``interval * 2 ** failures`` later, capped at ``schedule.max_backoff``. The first
  success ends the episode.
- A ``Retry-After`` (on a 429 or 503) holds the whole host: no source on that host is
  polled before the time it names (capped at ``MAX_HOLD`` seconds).
- Every next due time gets up to ``JITTER`` of its interval added at random, so sources
  configured alike drift apart instead of polling in lockstep.
- At start-up, sources never polled and sources overdue (the daemon was down) are spread
  at ``start_rate`` polls a second from now, in name order, instead of all at once.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor.clock import from_timestamp, utcnow
from monitor.records import RunResult

#: Fraction of the interval added at random to each next due time.
JITTER = 0.05
#: Longest host hold a Retry-After may ask for, in seconds (one day).
MAX_HOLD = 86400.0


def host_of(url: str) -> str:
    """The host (``name[:port]``, lower case) whose politeness budget a URL uses."""
    return urlsplit(url).netloc.lower()


@dataclass
class SourceState:
    """The schedule's view of one source, as kept in the ``sources`` table.

    Attributes:
        name: the source name.
        url: the feed or sitemap URL (its host is the politeness key).
        interval: the current adaptive interval, seconds.
        min_interval: the shortest interval, seconds.
        max_interval: the longest interval, seconds.
        next_due_at: when the next poll is due (aware UTC), or None before the first.
        failures: polls failed in a row (0 when the last poll succeeded).
        failing_since: the time of the first failure of the current episode, or None.
        last_polled_at: when the last poll ended, or None.
        last_ok_at: when a poll last succeeded, or None.
        last_new_at: when a poll last found new article links, or None.
        last_error: the last poll's error in words, or None after a success.
    """

    name: str
    url: str
    interval: float
    min_interval: float
    max_interval: float
    next_due_at: datetime | None = None
    failures: int = 0
    failing_since: datetime | None = None
    last_polled_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_new_at: datetime | None = None
    last_error: str | None = None

    @property
    def host(self) -> str:
        """The host (``name[:port]``) whose politeness budget and holds this source shares."""
        return host_of(self.url)


def next_interval(interval: float, new_links: int, min_interval: float,
                  max_interval: float) -> float:
    """The adaptive interval after a successful poll.

    Args:
        interval: the current interval, seconds.
        new_links: new article links the poll found.
        min_interval: floor, seconds.
        max_interval: ceiling, seconds.

    Returns:
        Half the interval when the poll found something, one and a half times it when
        not, kept within [min_interval, max_interval].
    """
    value = interval * (0.5 if new_links > 0 else 1.5)
    return min(max_interval, max(min_interval, value))


def backoff_delay(interval: float, failures: int, max_backoff: float) -> float:
    """Seconds until the next poll of a source that failed ``failures`` times in a row:
    ``interval * 2 ** failures``, at most ``max(max_backoff, interval)``."""
    return min(max(max_backoff, interval), interval * 2.0 ** min(failures, 30))


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    name: str = field(compare=False)


class Schedule:
    """Due times of all sources, in memory, with the adaptive rule above.

    Args:
        states: one :class:`SourceState` per source to schedule (from the store; new
            sources have ``next_due_at`` None).
        now: the current time (aware UTC).
        max_backoff: longest delay after failures, seconds.
        start_rate: polls a second at which new and overdue sources are spread at start.
        holds: host -> held until (aware UTC), from the store.
        rng: random source for the jitter (tests pass a seeded one).
    """

    def __init__(self, states: Iterable[SourceState], now: datetime, *,
                 max_backoff: float = 6 * 3600.0, start_rate: float = 20.0,
                 holds: dict[str, datetime] | None = None,
                 rng: random.Random | None = None) -> None:
        if start_rate <= 0:
            raise ValueError(f"start_rate must be > 0, got {start_rate!r}")
        self.max_backoff = max_backoff
        self.start_rate = start_rate
        self.rng = rng or random.Random()
        self.states: dict[str, SourceState] = {}
        self.holds: dict[str, datetime] = dict(holds or {})
        self._heap: list[_Entry] = []
        self._seq = 0
        self._in_flight: set[str] = set()
        #: names whose state changed since :meth:`take_dirty` (to write to the store).
        self._dirty: set[str] = set()
        late: list[SourceState] = []
        for state in sorted(states, key=lambda s: s.name):
            self.states[state.name] = state
            if state.next_due_at is None or state.next_due_at < now:
                late.append(state)
            else:
                self._push(state.name, state.next_due_at)
        # New and overdue sources: spread at start_rate a second, overdue ones first.
        late.sort(key=lambda s: (s.next_due_at is None, s.next_due_at or now, s.name))
        for i, state in enumerate(late):
            state.next_due_at = now + timedelta(seconds=i / start_rate)
            self._dirty.add(state.name)
            self._push(state.name, state.next_due_at)

    def __len__(self) -> int:
        return len(self.states)

    def _push(self, name: str, due: datetime) -> None:
        self._seq += 1
        heapq.heappush(self._heap, _Entry(due.timestamp(), self._seq, name))

    def add(self, states: Iterable[SourceState], now: datetime) -> None:
        """Schedule sources added while running (e.g. imported from OPML): those not
        due later start from now, spread at ``start_rate`` a second."""
        late = 0
        for state in states:
            self.states[state.name] = state
            if state.next_due_at is None or state.next_due_at < now:
                state.next_due_at = now + timedelta(seconds=late / self.start_rate)
                late += 1
            self._dirty.add(state.name)
            self._push(state.name, state.next_due_at)

    def remove(self, name: str) -> None:
        """Stop scheduling a source (its heap entry is skipped when it comes up)."""
        self.states.pop(name, None)
        self._in_flight.discard(name)

    def next_due(self) -> datetime | None:
        """The earliest due time of a source not being polled, or None when none is."""
        ts = self._next_due_ts()
        return None if ts is None else from_timestamp(ts)

    def _next_due_ts(self) -> float | None:
        while self._heap:
            entry = self._heap[0]
            state = self.states.get(entry.name)
            if (state is None or entry.name in self._in_flight or state.next_due_at is None
                    or abs(state.next_due_at.timestamp() - entry.due) > 1e-6):
                heapq.heappop(self._heap)  # stale entry
                continue
            return entry.due
        return None

    def pop_due(self, now: datetime, limit: int | None = None) -> list[SourceState]:
        """Take the sources due at ``now`` (earliest first) and mark them in flight.

        A source whose host is held (Retry-After) is moved to the end of the hold
        instead. In-flight sources are not handed out again until :meth:`record` or
        :meth:`release`.

        Args:
            now: the current time.
            limit: hand out at most this many.

        Returns:
            The due sources' states; ``state.next_due_at`` is when each was due.
        """
        out: list[SourceState] = []
        ts = now.timestamp()
        while self._heap and (limit is None or len(out) < limit):
            due = self._next_due_ts()
            if due is None or due > ts:
                break
            entry = heapq.heappop(self._heap)
            state = self.states[entry.name]
            hold = self.holds.get(state.host)
            if hold is not None:
                if hold > now:
                    # after the hold, the host's sources come back spread over a little
                    # of their interval, not all in the same second
                    state.next_due_at = hold + timedelta(
                        seconds=JITTER * state.interval * self.rng.random())
                    self._dirty.add(state.name)
                    self._push(state.name, state.next_due_at)
                    continue
                self.holds.pop(state.host, None)
            self._in_flight.add(state.name)
            out.append(state)
        return out

    def take(self, name: str) -> bool:
        """Mark a source in flight without popping it (a poll handed out by an earlier
        process, still running elsewhere: the distributed writer after a restart).

        Returns:
            False when the source is not scheduled.
        """
        if name not in self.states:
            return False
        self._in_flight.add(name)
        return True

    def in_flight_names(self) -> list[str]:
        """Returns: the names of the sources being polled now."""
        return sorted(self._in_flight)

    def release(self, name: str, due: datetime) -> None:
        """Give back a source taken by :meth:`pop_due` but not polled, due at ``due``."""
        self._in_flight.discard(name)
        state = self.states.get(name)
        if state is not None:
            state.next_due_at = due
            self._dirty.add(name)
            self._push(name, due)

    def hold_host(self, host: str, until: datetime) -> None:
        """Poll no source on ``host`` before ``until`` (a Retry-After), at most
        ``MAX_HOLD`` seconds from now."""
        cap = utcnow() + timedelta(seconds=MAX_HOLD)
        until = min(until, cap)
        if self.holds.get(host) is None or self.holds[host] < until:
            self.holds[host] = until

    def record(self, result: RunResult) -> SourceState | None:
        """Apply one poll's result: the adaptive rule, back-off and host holds.

        Args:
            result: what the poll found (from the crawl side).

        Returns:
            The source's new state (None when the source is no longer scheduled).
        """
        self._in_flight.discard(result.source)
        if result.retry_after_until is not None:
            self.hold_host(result.retry_after_host or host_of(result.url),
                           result.retry_after_until)
        state = self.states.get(result.source)
        if state is None:
            return None
        now = result.finished_at
        state.last_polled_at = now
        if result.ok:
            state.failures = 0
            state.failing_since = None
            state.last_error = None
            state.last_ok_at = now
            if result.new_links:
                state.last_new_at = now
            state.interval = next_interval(state.interval, result.new_links,
                                           state.min_interval, state.max_interval)
            delay = state.interval
            if not result.complete:
                # links left for later (max_articles) or a page not written: come back soon
                delay = min(delay, state.min_interval)
        else:
            state.failures += 1
            state.failing_since = state.failing_since or result.finished_at
            state.last_error = result.error
            delay = backoff_delay(state.interval, state.failures, self.max_backoff)
        due = now + timedelta(seconds=delay * (1.0 + JITTER * self.rng.random()))
        hold = self.holds.get(state.host)
        if hold is not None and hold > due:
            due = hold + timedelta(seconds=JITTER * state.interval * self.rng.random())
        state.next_due_at = due
        self._dirty.add(state.name)
        self._push(state.name, due)
        return state

    def take_dirty(self) -> list[SourceState]:
        """The states changed since the last call (copies), for writing to the store."""
        names, self._dirty = self._dirty, set()
        now = utcnow()
        for host in [h for h, until in self.holds.items() if until <= now]:
            self.holds.pop(host, None)   # a hold that ended is forgotten
        return [replace(self.states[n]) for n in names if n in self.states]

    def mark_dirty(self, names: Iterable[str]) -> None:
        """Put states back in the to-write set (their write failed)."""
        self._dirty.update(n for n in names if n in self.states)

    def in_flight(self) -> int:
        """Returns: how many sources are being polled now."""
        return len(self._in_flight)


