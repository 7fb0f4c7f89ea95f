"""One retry policy for every channel, for alerts and notices alike.

Channels say *what* went wrong by raising :class:`~monitor.errors.DeliveryError` with
``permanent`` and ``retry_after`` set (HTTP channels through :func:`http_failure`);
this module alone decides *when* to try again:

- a permanent failure is never retried;
- otherwise failure number ``n`` (1-based) waits ``BASE_BACKOFF * 2 ** (n - 1)``
  seconds, at most ``MAX_BACKOFF``, stretched by a random jitter of up to ``JITTER``
  (25 %) so that many alerts failing together do not all come back in the same second;
- a ``Retry-After`` from the server (capped at ``MAX_RETRY_AFTER``) takes the jitter's
  place: the wait is the longer of it and the plain backoff, so a channel held until
  that time is tried again as soon as the hold ends;
- after ``max_attempts`` failures the alert is given up.

Example:
    >>> from monitor.errors import DeliveryError
    >>> retry_delay(DeliveryError("boom"), attempts=0, max_attempts=8, rng=lambda: 0.0)
    30.0
    >>> retry_delay(DeliveryError("gone", permanent=True), 0, 8) is None
    True
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from monitor.clock import parse_http_date
from monitor.errors import DeliveryError

#: Seconds before the first retry; doubled after every failure.
BASE_BACKOFF = 30.0
#: The longest wait between two tries, seconds (before jitter).
MAX_BACKOFF = 3600.0
#: The wait is stretched by a random fraction in [0, JITTER) of itself.
JITTER = 0.25
#: The longest Retry-After honoured, seconds; a longer one is cut to this.
MAX_RETRY_AFTER = 3600.0

#: HTTP statuses worth trying again: timeout, too early, rate limit, server errors.
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date.

    Args:
        value: the header value, or None.
        now: the current POSIX time in seconds (for tests); None means ``time.time()``.

    Returns:
        Seconds to wait (0 or more), or None when absent or unparsable.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = parse_http_date(value)
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def classify_status(status: int) -> Literal["ok", "transient", "permanent"]:
    """What an HTTP status means for delivery.

    Returns:
        ``"ok"`` for 2xx; ``"transient"`` for 408, 425, 429 and 5xx (try again later);
        ``"permanent"`` for anything else (1xx, 3xx, other 4xx: the settings or the
        message must change first).
    """
    if 200 <= status < 300:
        return "ok"
    if status in TRANSIENT_STATUSES or 500 <= status < 600:
        return "transient"
    return "permanent"


def http_failure(status: int, retry_after: str | None = None) -> tuple[bool, float | None]:
    """The ``permanent`` and ``retry_after`` of a DeliveryError for a failed HTTP reply.

    Args:
        status: the HTTP status (not 2xx).
        retry_after: the reply's Retry-After header, if any.

    Returns:
        ``(permanent, retry_after_seconds)``; a permanent failure has no Retry-After.
    """
    if classify_status(status) == "permanent":
        return True, None
    return False, parse_retry_after(retry_after)


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failure number ``attempts + 1``, jitter included.

    Args:
        attempts: failed tries before this one (0 for the first failure).
        rng: returns a float in [0, 1) (``random.random``; a constant in tests).

    Returns:
        ``min(BASE_BACKOFF * 2 ** attempts, MAX_BACKOFF) * (1 + JITTER * rng())``.
    """
    base = min(BASE_BACKOFF * (2 ** min(max(attempts, 0), 30)), MAX_BACKOFF)
    return base * (1.0 + JITTER * rng())


def hold_seconds(error: DeliveryError) -> float | None:
    """How long a channel must not be tried after ``error``: its Retry-After, at most
    ``MAX_RETRY_AFTER`` seconds, or None when it gave none (or failed for good)."""
    if error.permanent or error.retry_after is None:
        return None
    return min(max(float(error.retry_after), 0.0), MAX_RETRY_AFTER)


def retry_delay(error: DeliveryError, attempts: int, max_attempts: int,
                rng: Callable[[], float] = random.random) -> float | None:
    """Seconds until the next try after a failure, or None to give up.

    Args:
        error: the failure (its ``permanent`` and ``retry_after`` are read).
        attempts: failed tries before this one (0 for the first failure).
        max_attempts: give up once this many tries have failed (1 or more).
        rng: the jitter's source, see :func:`backoff`.

    Returns:
        None when the error is permanent or this was try number ``max_attempts``;
        otherwise the backoff with jitter, or, when the server gave a Retry-After, the
        longer of that and the backoff without jitter.
    """
    if error.permanent or attempts + 1 >= max_attempts:
        return None
    hold = hold_seconds(error)
    if hold is not None:
        return max(hold, backoff(attempts, lambda: 0.0))
    return backoff(attempts, rng)


def retry_at(error: DeliveryError, attempts: int, max_attempts: int, now: datetime,
             rng: Callable[[], float] = random.random) -> datetime | None:
    """:func:`retry_delay` as a time: ``now`` plus the delay, or None to give up."""
    delay = retry_delay(error, attempts, max_attempts, rng)
    return None if delay is None else now + timedelta(seconds=delay)
