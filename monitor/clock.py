"""Time in one place: the current time, aware UTC, and its text forms.

Every time the monitor keeps or compares is a timezone-aware UTC ``datetime``; the
store writes them as ISO 8601 text with seconds (``2026-11-30T16:31:21+00:00``). A
naive datetime is taken to be UTC (the only naive times the monitor meets are ones it
wrote itself without a zone). Parsing a date that a page, feed or server wrote (with
its sanity checks: too old, in the future) stays with the code that reads it
(:mod:`monitor.extract.dates`, :mod:`monitor.feeddates`); it uses :func:`as_utc` here.

No Scrapy, Twisted or APScheduler here, and nothing else of the monitor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import overload

UTC = timezone.utc


def utcnow() -> datetime:
    """Returns: the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """The same instant as an aware UTC datetime (a naive ``dt`` is taken as UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def from_timestamp(seconds: float) -> datetime:
    """Returns: the aware UTC datetime of a POSIX timestamp (seconds since 1970)."""
    return datetime.fromtimestamp(seconds, UTC)


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
@overload
def iso(dt: datetime | None) -> str | None: ...


def iso(dt: datetime | None) -> str | None:
    """Format a datetime for storage: ISO 8601 UTC text to the second.

    Args:
        dt: an aware datetime (a naive one is taken as UTC), or None.

    Returns:
        e.g. ``"2026-11-30T16:31:21+00:00"``; None for None.
    """
    if dt is None:
        return None
    return as_utc(dt).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    """Parse ISO 8601 text (as :func:`iso` writes it, or with a ``Z``) into an aware
    UTC datetime; text without a zone is taken as UTC.

    Args:
        text: the text, or None / "".

    Returns:
        The datetime, or None for None or "".

    Raises:
        ValueError: the text is not ISO 8601.
    """
    if not text:
        return None
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(text))


def parse_http_date(text: str | None) -> datetime | None:
    """Parse an RFC 2822 / HTTP date (``Retry-After``, ``Last-Modified``, an RSS
    ``pubDate``) into an aware UTC datetime (no zone: UTC).

    Args:
        text: the header or element text, or None.

    Returns:
        The datetime, or None when ``text`` is empty or not such a date.
    """
    if not text or not text.strip():
        return None
    try:
        return as_utc(parsedate_to_datetime(text.strip()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
