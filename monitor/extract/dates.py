"""Publication dates: parse what pages write, prefer the original date over updates."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from lxml.html import HtmlElement

from monitor.extract.metadata import PageMeta, ld_text
from monitor.feeddates import zoned

# meta names carrying the original publication time, most specific first
PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "og:published_time",
    "datepublished", "article.published", "published_time", "publish-date", "publishdate",
    "pubdate", "date.available", "dc.date.issued", "dcterms.issued", "dcterms.created",
    "dc.date.created", "sailthru.date", "parsely-pub-date", "cxenseparse:recs:publishtime",
    "date", "dc.date", "dcterms.date", "citation_publication_date", "originalpublicationdate",
    "article:published", "article.created", "created",
)
_EARLIEST = datetime(1995, 1, 1, tzinfo=timezone.utc)
# how far in the future a page date may lie: a time without a zone is read as UTC, which
# puts the local time of a UTC+14 site up to 14 hours ahead; one more hour of clock skew
_FUTURE_TOLERANCE = timedelta(hours=15)
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)$")


def parse_date(value: str | None, now: datetime | None = None) -> datetime | None:
    """Parse a date as pages write it (ISO 8601, RFC 2822, unix seconds).

    Args:
        value: the raw string.
        now: the current time (for rejecting dates more than 15 hours in the future, the
            most a zone-less local time can be ahead of UTC, plus skew); defaults to now.

    Returns:
        A timezone-aware datetime (UTC when the string gives no zone), or None when the
        string is not a plausible publication date.
    """
    if not value:
        return None
    text = value.strip()
    got = None
    if text.isdigit() and len(text) in (10, 13):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        got = datetime.fromtimestamp(seconds, timezone.utc)
    if got is None:
        iso = text.replace("Z", "+00:00").replace("z", "+00:00")
        if re.match(r"\d{4}-\d\d-\d\d \d", iso):
            iso = iso.replace(" ", "T", 1)
        iso = re.sub(r"\s+(?=[+-]\d\d:?\d\d$)", "", iso)
        m = _OFFSET.search(iso)
        if m and "T" in iso:
            iso = iso[: m.start()] + f"{m.group(1)}{m.group(2)}:{m.group(3)}"
        iso = re.sub(r"(\.\d{1,6})\d*(?=[+-]|$)", r"\1", iso)
        try:
            got = datetime.fromisoformat(iso)
        except ValueError:
            got = None
    if got is None:
        try:
            got = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            got = None
        if got is not None and got.tzinfo is None:
            # the email module reads zone names it does not know (CEST, MESZ, BST) as
            # "no zone"; the explicit table of monitor.feeddates knows them
            got = zoned(text) or got
    if got is None:
        m = (re.match(r"(\d{4})[-/.](\d\d)[-/.](\d\d)", text)
             or re.match(r"(\d{4})(\d\d)(\d\d)$", text))
        if m:
            try:
                got = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                got = None
    if got is None:
        return None
    if got.tzinfo is None:
        got = got.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    if got < _EARLIEST or got > now + _FUTURE_TOLERANCE:
        return None
    return got


def published_date(pm: PageMeta, tree: HtmlElement, url: str | None,
                   feed_date: datetime | None = None) -> tuple[datetime | None, str]:
    """Find the original publication time of the page.

    Order: the article's JSON-LD ``datePublished`` (then ``dateCreated``), publication
    meta tags (``article:published_time`` and kin), the first ``<time datetime>``, then
    htmldate's search for the original date. Modified dates are used only by htmldate,
    and only when nothing else is found.

    htmldate runs without its extensive search: that reads every text segment of the
    page with dateparser, costs five to twenty times a whole trafilatura extraction on a
    page without a date in its markup, and answers such a page with a guess (the year of
    its copyright line as 1 January); the markup search finds every date the extensive
    one found on the corpus (``benchmarks/extraction_cost.py``, generated pages dated in
    the text only or not at all).

    htmldate takes a date in the URL (``/2025/01/02/``) before anything in the page, and
    its later searches read dates out of the links in the HTML too: an answer without a
    time of day is a guess of the day only (midnight UTC). ``feed_date``, the time the
    feed or sitemap that linked the page gives, beats such a guess; htmldate's answer
    with a time of day (found in the page's markup) beats ``feed_date``.

    Args:
        pm: the page's meta signals.
        tree: the parsed page.
        url: the page URL (htmldate looks for a date in it).
        feed_date: the publication time given by the feed or sitemap entry that linked
            the page (timezone-aware), or None.

    Returns:
        (datetime or None, the name of the signal that gave it; "feed" for
        ``feed_date``).
    """
    objs = [pm.article_ld] if pm.article_ld else []
    objs += [o for o in pm.jsonld if o is not pm.article_ld and o.get("datePublished")]
    for obj in objs:
        for key in ("datePublished", "dateCreated"):
            got = parse_date(ld_text(obj.get(key)))
            if got:
                return got, f"json-ld {key}"
    for name in PUBLISHED_META:
        for value in pm.meta.get(name, ()):
            got = parse_date(value)
            if got:
                return got, f"meta {name}"
    for value in pm.time_datetimes[:3]:
        got = parse_date(value)
        if got:
            return got, "time element"
    try:
        from htmldate import find_date
        found = find_date(tree, url=url, original_date=True, extensive_search=False,
                          outputformat="%Y-%m-%dT%H:%M:%S")
    except Exception:  # htmldate raises on odd trees; a missing date is fine
        found = None
    got = parse_date(found) if found else None
    if feed_date is not None and (got is None or _day_only(got)):
        return feed_date, "feed"
    return got, ("htmldate" if got else "none")


def _day_only(when: datetime) -> bool:
    """True for a time of exactly midnight: a date that named only its day."""
    return (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0)
