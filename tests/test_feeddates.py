"""Feed dates: forms feeds really write, named zones, no silent shifts (cases 13, 14)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from monitor.extract.dates import parse_date
from monitor.feeddates import ZONES, parse_feed_date
from spiders.feeds import feed_entries

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw, expected", [
    # case 14: named zones, stored in UTC
    ("Thu, 30 Apr 2015 08:57:00 MEST", datetime(2015, 4, 30, 6, 57, tzinfo=UTC)),
    ("Thu, 30 Apr 2015 08:57:00 CEST", datetime(2015, 4, 30, 6, 57, tzinfo=UTC)),
    ("Mon, 21 Apr 2025 06:00:00 EDT", datetime(2025, 4, 21, 10, 0, tzinfo=UTC)),
    ("Mon, 21 Apr 2025 06:00:00 BST", datetime(2025, 4, 21, 5, 0, tzinfo=UTC)),
    ("Thu, 30 Apr 2015 08:57:00 MESZ", datetime(2015, 4, 30, 6, 57, tzinfo=UTC)),
    ("Thu, 30 Apr 2015 08:57:00 MEZ", datetime(2015, 4, 30, 7, 57, tzinfo=UTC)),
    ("Thu, 30 Apr 2015 08:57:00 GMT", datetime(2015, 4, 30, 8, 57, tzinfo=UTC)),
    # offsets with and without colon, ISO and RFC 822
    ("Wed, 01 May 2024 08:00:00 +0200", datetime(2024, 5, 1, 6, 0, tzinfo=UTC)),
    ("2024-05-01T08:00:00+0200", datetime(2024, 5, 1, 6, 0, tzinfo=UTC)),
    ("2024-05-01T08:00:00-04:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
    ("2024-05-01T08:00:00Z", datetime(2024, 5, 1, 8, 0, tzinfo=UTC)),
])
def test_zoned_dates_are_read_in_utc(raw, expected):
    got = parse_feed_date(raw, now=NOW)
    assert got.problem is None
    assert got.when == expected
    assert got.when.tzinfo is UTC


@pytest.mark.parametrize("raw, problem", [
    # case 13: no zone -> never guessed (the date itself is read right, to the second)
    ("2016/6/29 15:07:41", "no time zone"),
    ("2025/1/5 9:03", "no time zone"),
    # an abbreviation with several meanings (India, Ireland, Israel) is not guessed
    ("Thu, 30 Apr 2015 08:57:00 IST", "unknown time zone 'IST'"),
    ("Thu, 30 Apr 2015 08:57:00 XYZT", "unknown time zone"),
    ("May 2024", "incomplete"),
    ("not a date", "unparseable"),
    ("", "empty"),
])
def test_dates_without_a_reliable_zone_are_unknown(raw, problem):
    got = parse_feed_date(raw, now=NOW)
    assert got.when is None
    assert problem in got.problem


def test_slash_date_is_read_to_the_day_not_the_first_of_the_month():
    got = parse_feed_date("2016/6/29 15:07:41", now=NOW)
    assert got.local == datetime(2016, 6, 29, 15, 7, 41)
    assert parse_feed_date("2025/1/5 9:03", now=NOW).local == datetime(2025, 1, 5, 9, 3)


def test_future_dates_beyond_the_tolerance_are_missing():
    assert parse_feed_date("2026-11-30T12:30:00Z", now=NOW).when is not None
    got = parse_feed_date("2026-11-30T14:00:00Z", now=NOW)
    assert got.when is None and "future" in got.problem
    assert parse_feed_date("1970-01-01T00:00:00Z", now=NOW).when is None


def test_zone_table_offsets_are_whole_quarter_hours():
    assert all(abs(offset) <= 14 * 3600 and offset % 900 == 0 for offset in ZONES.values())


def _feed(*dates: str) -> bytes:
    items = "".join(f"<item><title>t{i}</title><link>https://x.example/d{i}.html</link>"
                    f"<pubDate>{d}</pubDate></item>" for i, d in enumerate(dates))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}' \
           f"</channel></rss>".encode()


def test_feed_entries_use_the_zone_table_and_never_shift(caplog):
    today = datetime.now(UTC)
    body = _feed("Thu, 30 Apr 2015 08:57:00 CEST", "Mon, 21 Apr 2025 06:00:00 BST",
                 "2016/6/29 15:07:41", today.strftime("%Y/%-m/%-d %-H:%M:%S"),
                 "Thu, 30 Apr 2015 08:57:00 IST")
    with caplog.at_level(logging.INFO, logger="spiders.feeds"):
        entries, problem = feed_entries(body, "https://x.example/feed.xml")
    assert problem is None
    dates = [link.published for link in entries]
    assert dates[0] == datetime(2015, 4, 30, 6, 57, tzinfo=UTC)
    assert dates[1] == datetime(2025, 4, 21, 5, 0, tzinfo=UTC)
    # feedparser alone gives 2016-11-01 / the 1st of this month: weeks off
    assert dates[2] is None and dates[3] is None
    assert dates[4] is None
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("unknown time zone 'IST'" in r.getMessage() for r in warned)


def test_page_dates_know_the_same_zone_names():
    assert parse_date("Thu, 30 Apr 2015 08:57:00 CEST") == datetime(2015, 4, 30, 6, 57, tzinfo=UTC)
    assert parse_date("Mon, 21 Apr 2025 06:00:00 BST") == datetime(2025, 4, 21, 5, 0, tzinfo=UTC)
    assert parse_date("Wed, 01 May 2024 08:00:00 GMT") == datetime(2024, 5, 1, 8, tzinfo=UTC)


def test_page_dates_in_the_future_beyond_the_zone_tolerance_are_missing():
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_date("2026-12-01T02:00:00", now=now) is not None     # UTC+14 local time
    assert parse_date("2026-12-01T06:00:00Z", now=now) is None
    assert parse_date("2026-12-02", now=now) is None
