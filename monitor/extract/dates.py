"""Publication dates: parse what pages write, prefer the original date over updates."""

from __future__ import annotations

import re
from copy import deepcopy
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from lxml.etree import XPath
from lxml.html import HtmlElement
from lxml.html import builder as E

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

# the parts of a page htmldate's markup search reads (htmldate.core: examine_header,
# json_search, examine_abbr_elements, date_candidates with its id/class cues,
# examine_time_elements, img_search's og:image), a superset: htmldate filters again
_CUES = ("date", "datum", "time", "publish", "meta", "footer", "info", "post_detail",
         "block-content", "byline", "subline", "posted", "submitted", "created-post",
         "publication", "author", "autor", "field-content", "fa-clock-o", "fa-calendar",
         "fecha", "parution")
# matched against lower-cased values: re.IGNORECASE makes this six times slower
_CUE = re.compile("|".join(re.escape(c) for c in _CUES))
# one libxml2 pass for the id, class and itemprop values (plain strings, no element
# objects: lxml.html builds a Python object per element it returns, the bulk of the
# cost of a Python filter over every element); the few values with a cue then select
# their elements by equality, which libxml2 tests much faster than contains()
_NAMED = XPath("//@id | //@class | //@itemprop", smart_strings=False)
_FIXED_PARTS = ("//link[@rel='canonical'] | //meta | //script[@type='application/ld+json' or "
                "@type='application/settings+json'] | //title | //h1 | //abbr | //time"
                " | //footer | //small")
# what htmldate's date in a URL needs (htmldate.extractors.COMPLETE_URL)
_URL_DAY = re.compile(r"\d{4}[/_-]\d")
_HTMLDATE: dict[str, Any] = {"original_date": True, "extensive_search": False,
                             "outputformat": "%Y-%m-%dT%H:%M:%S"}
# at most this many parts are copied: a bound on the work on pages with huge menus
_MAX_PARTS = 400
# more distinct id/class/itemprop values with a cue than this: htmldate reads the page
_MAX_NAMES = 12


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

    htmldate runs on the parts of the page it reads (``htmldate_search``) and without
    its extensive search: that reads every text segment of the
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
    got, signal = _markup_date(pm)
    if got is None:
        found = htmldate_search(tree, url)
        got, signal = (parse_date(found) if found else None), "htmldate"
    if feed_date is not None and (got is None or _day_only(got)):
        return feed_date, "feed"
    return got, (signal if got else "none")


def _markup_date(pm: PageMeta) -> tuple[datetime | None, str]:
    """The date of the page's JSON-LD, publication meta tags or first ``<time>`` elements.

    Returns:
        (datetime or None, the name of the signal that gave it).
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
    return None, "none"


def htmldate_search(tree: HtmlElement, url: str | None) -> str | None:
    """htmldate's search for the original date, run on the parts of the page it reads.

    htmldate's markup search (without its extensive text search) reads the URL, meta
    tags, JSON-LD, ``<abbr>``, ``<time>``, ``<title>``, ``<h1>`` and the elements whose
    id, class or itemprop names a date, a time, a byline or a footer; on a page without
    a date it then scans the whole serialized page with regular expressions, after a
    deep copy of the tree: 3 to 10 ms on a 200 KB page, more than the rest of the
    extraction above bare trafilatura. It runs here on a small tree holding copies of
    those parts only (selected by one XPath in libxml2, at most ``_MAX_PARTS`` of them,
    in page order), so its scans and copies are bounded by the parts, not the page.
    What it no longer reads: a date written only in unmarked text (no cue in its
    element or an ancestor), which htmldate's last scans of the whole page would take;
    on the corpus and the generated pages that reach this search the answer is the same
    as htmldate's on the whole page (1 to 2 ms instead of 3 to 10 on pages without a
    date). A page with more than ``_MAX_NAMES`` distinct cue values is read whole.

    Args:
        tree: the parsed page (not modified).
        url: the page URL (htmldate looks for a date in it first).

    Returns:
        The date htmldate found, as ``%Y-%m-%dT%H:%M:%S`` (midnight when it found the
        day only), or None.
    """
    from htmldate import find_date
    try:
        # htmldate answers with a date in the URL before it reads the page: that first,
        # on an empty page, so that such a page costs no copying
        found: str | None = None
        if url and _URL_DAY.search(url):
            found = find_date(E.HTML(E.HEAD(), E.BODY()), **_HTMLDATE, url=url)
        if found is None:
            parts = _date_parts(tree)
            found = find_date(tree if parts is None else parts, **_HTMLDATE, url=url)
    except Exception:  # htmldate raises on odd trees; a missing date is fine
        found = None
    return found


def _date_parts(tree: HtmlElement) -> HtmlElement | None:
    """A new ``<html>`` holding copies of the parts of ``tree`` htmldate reads.

    Returns:
        The small page, or None when pruning would cost more than it saves: more than
        ``_MAX_NAMES`` distinct id/class/itemprop values with a cue (each is one more
        test of every attribute of the page), or a value XPath 1.0 cannot quote.
    """
    values = {v for v in set(_NAMED(tree)) if _CUE.search(v.lower())}
    if len(values) > _MAX_NAMES or any("'" in v and '"' in v for v in values):
        return None
    query = _FIXED_PARTS
    if values:
        same = " or ".join(f".={_xpath_literal(v)}" for v in values)
        query += f" | //@id[{same}]/.. | //@class[{same}]/.. | //@itemprop[{same}]/.."
    root, head, body = E.HTML(), E.HEAD(), E.BODY()
    root.append(head)
    root.append(body)
    taken: set[HtmlElement] = set()
    for el in tree.xpath(query)[:_MAX_PARTS]:   # in page order
        if any(a in taken for a in el.iterancestors()):
            continue   # inside a part already copied
        taken.add(el)
        copy = deepcopy(el)
        copy.tail = None
        (head if el.tag in ("link", "meta", "script", "title") else body).append(copy)
    return root


def _day_only(when: datetime) -> bool:
    """True for a time of exactly midnight: a date that named only its day."""
    return (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0)


def _xpath_literal(value: str) -> str:
    """``value`` (holding at most one kind of quote) as an XPath 1.0 string literal."""
    return f"'{value}'" if "'" not in value else f'"{value}"'
