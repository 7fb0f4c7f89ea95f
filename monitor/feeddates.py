"""Dates as feeds (and some pages) write them, read without guessing a time zone.

Feeds write dates in many forms: RFC 822 (``Thu, 30 Apr 2015 08:57:00 CEST``), ISO 8601
with or without a colon in the offset, ``2016/6/29 15:07:41`` with no zone at all. The
parsing is dateutil's; the zone abbreviations it may resolve are the explicit table
below (``ZONES``), so a date is either read right or reported with a zone problem,
never silently shifted:

- a known abbreviation or a numeric offset -> an aware datetime;
- an abbreviation not in the table (``IST`` means India, Ireland or Israel) -> no date,
  with the problem "unknown time zone";
- no zone at all -> no date, with the problem "no time zone" (the local time of an
  unknown place is up to 14 hours off);
- a date more than ``FUTURE_TOLERANCE`` in the future -> no date.

feedparser's own ``published_parsed`` is not used: it reads unknown abbreviations
(``CEST``, ``MESZ``, ``BST``) as UTC and turns ``2016/6/29`` into the 1st of the current
month. This module imports no Scrapy; ``spiders/feeds.py`` calls it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from dateutil import parser as _dateutil
from dateutil.parser import UnknownTimezoneWarning

from monitor.clock import as_utc, utcnow

# Zone abbreviations -> UTC offset in seconds. Only abbreviations with one meaning in
# news feeds are listed; ambiguous ones (IST, CST in Asia, SST, ...) are left out on
# purpose so they are reported as unknown instead of guessed. CST/CDT are the US zones
# as RFC 822 defines them.
ZONES: dict[str, int] = {
    # universal
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
    # North America (RFC 822) and around
    "EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
    "MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
    "AKST": -9 * 3600, "AKDT": -8 * 3600, "HST": -10 * 3600,
    "AST": -4 * 3600, "ADT": -3 * 3600, "NST": -12600, "NDT": -9000,
    # Europe, English and German/French spellings (MEZ/MESZ = CET/CEST, OEZ = EET)
    "WET": 0, "WEST": 3600, "WEZ": 0, "WESZ": 3600, "BST": 3600,
    "CET": 3600, "CEST": 7200, "MET": 3600, "MEST": 7200, "MEZ": 3600, "MESZ": 7200,
    "HNEC": 3600, "HAEC": 7200,
    "EET": 7200, "EEST": 10800, "OEZ": 7200, "OESZ": 10800,
    "MSK": 3 * 3600, "TRT": 3 * 3600,
    # Africa, Asia, Oceania
    "WAT": 3600, "CAT": 7200, "EAT": 3 * 3600, "SAST": 7200,
    "PKT": 5 * 3600, "ICT": 7 * 3600, "WIB": 7 * 3600, "HKT": 8 * 3600,
    "SGT": 8 * 3600, "PHT": 8 * 3600, "AWST": 8 * 3600, "JST": 9 * 3600,
    "KST": 9 * 3600, "ACST": 34200, "ACDT": 37800, "AEST": 10 * 3600,
    "AEDT": 11 * 3600, "NZST": 12 * 3600, "NZDT": 13 * 3600,
}
# how far in the future a feed date may lie (clock skew between servers)
FUTURE_TOLERANCE = timedelta(hours=1)
# dates before this are typing errors or epoch defaults, not news
EARLIEST = datetime(1995, 1, 1, tzinfo=timezone.utc)

_TZINFOS = {name: timezone(timedelta(seconds=offset), name) for name, offset in ZONES.items()}


@dataclass(frozen=True)
class FeedDate:
    """A date read from a feed.

    Attributes:
        when: the time, timezone-aware in UTC, or None when it is missing or unreliable.
        problem: why ``when`` is None ("unparseable", "no time zone", "unknown time
            zone 'MESZ'", "in the future", "before 1995"), or None.
        local: the wall-clock time as written, without a zone, when the date itself
            was read (also when the zone was not): for logs and for callers that can
            accept a date known to the day only.
    """

    when: datetime | None
    problem: str | None = None
    local: datetime | None = None


def parse_feed_date(text: str | None, now: datetime | None = None) -> FeedDate:
    """Read a date as feeds write it.

    Args:
        text: the raw string of a ``pubDate``, ``published``, ``updated`` or ``dc:date``.
        now: the current time (aware), for refusing dates in the future; defaults to
            the clock.

    Returns:
        A FeedDate; ``when`` is an aware UTC datetime only when the date and its zone
        (an offset or an abbreviation of ``ZONES``) were both read. Never raises.
    """
    if not text or not text.strip():
        return FeedDate(None, "empty")
    raw = text.strip()
    got, unknown = _read(raw)
    if got is None:
        return FeedDate(None, f"unparseable or incomplete date {raw!r}")
    local = got.replace(tzinfo=None)
    if unknown or got.tzinfo is None:
        zone = _zone_token(raw)
        if unknown or zone:
            return FeedDate(None, f"unknown time zone {zone or '?'!r} in {raw!r}", local)
        return FeedDate(None, f"no time zone in {raw!r}", local)
    when = as_utc(got)
    now = now or utcnow()
    if when > now + FUTURE_TOLERANCE:
        return FeedDate(None, f"{raw!r} is in the future", local)
    if when < EARLIEST:
        return FeedDate(None, f"{raw!r} is before {EARLIEST.year}", local)
    return FeedDate(when, None, local)


def zoned(text: str) -> datetime | None:
    """Parse a date with dateutil and the ``ZONES`` table, without the plausibility
    checks of ``parse_feed_date``.

    Args:
        text: the raw date string.

    Returns:
        An aware datetime when a known zone or offset is given, a naive one when the
        string has no zone, None when it cannot be read or names an unknown zone.
    """
    got, unknown = _read(text.strip())
    return None if unknown else got


# two defaults that differ in every date field: a field the string lacks shows up as
# a difference between the two readings (dateutil fills it in silently)
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def _read(raw: str) -> tuple[datetime | None, bool]:
    """dateutil's reading of a string with the ``ZONES`` table: (datetime or None when
    unreadable or lacking a year, month or day; True when it named an unknown zone)."""
    readings = []
    unknown = False
    for default in _DEFAULTS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnknownTimezoneWarning)
            try:
                readings.append(_dateutil.parse(raw, default=default, tzinfos=_TZINFOS))
            except (ValueError, OverflowError, TypeError):
                return None, False
        unknown = unknown or any(issubclass(w.category, UnknownTimezoneWarning) for w in caught)
    first, second = readings
    if first.date() != second.date():
        return None, unknown
    return first, unknown


def _zone_token(raw: str) -> str | None:
    """The trailing alphabetic word of a date string that dateutil took for a zone."""
    last = raw.replace(",", " ").split()[-1] if raw.split() else ""
    if last.isalpha() and last.isupper() and 2 <= len(last) <= 5:
        return last
    return None
