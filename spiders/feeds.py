"""The ``feeds`` spider: RSS and Atom feeds -> new article pages."""

from __future__ import annotations

import asyncio
import calendar
import logging
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import scrapy
from scrapy.http import Response

from monitor.clock import from_timestamp, iso
from monitor.crawl.spider import DocumentRequests, Run, SourceSpiderMixin
from monitor.documents import document_kind, wrong_kind_message
from monitor.records import Link
from monitor.urls import is_web_url
from monitor.xmlguard import DocumentRefused, cut_feed

log = logging.getLogger(__name__)


def _entry_time(entry: Any) -> datetime | None:
    """The entry's publication time, aware UTC, or None when the feed gives none or one
    that cannot be trusted.

    The raw ``published`` (else ``updated``) string is read by
    ``monitor.feeddates.parse_feed_date`` (dateutil with an explicit zone table), not
    feedparser's ``*_parsed``, which takes unknown zone names (CEST, BST) for UTC and
    ``2016/6/29`` for the 1st of the month. A date with no or an unknown zone, or in the
    future, is None (the page's own date is used, if any) and logged.
    """
    from monitor.feeddates import parse_feed_date

    raw = entry.get("published") or entry.get("updated")
    if not raw:
        parsed = entry.get("published_parsed") or entry.get("updated_parsed")
        # no raw text to check (a dict built by hand): feedparser's reading as is
        return from_timestamp(calendar.timegm(parsed)) if parsed else None
    got = parse_feed_date(str(raw))
    if got.problem:
        level = logging.WARNING if "unknown time zone" in got.problem else logging.INFO
        log.log(level, "feed entry %s: date ignored: %s", entry.get("link") or "?", got.problem)
    return got.when


def entry_version(entry: Any) -> str:
    """An entry's version mark, which changes when the entry is published again with an
    edit: ``updated:<ISO 8601 UTC>`` from its ``updated`` time (Atom ``<updated>``,
    ``dc:modified``...) when it gives one that can be read, else ``sha1:<40 hex>`` of its
    title, summary and content (RSS items rarely say when they changed). Compared by
    :func:`monitor.store.version_is_newer`."""
    import hashlib

    from monitor.feeddates import parse_feed_date

    raw = entry.get("updated")
    if raw:
        when = parse_feed_date(str(raw)).when
        if when is not None:
            return "updated:" + iso(when)
    parts = [str(entry.get("title") or ""), str(entry.get("summary") or "")]
    parts += [str(c.get("value") or "") for c in entry.get("content") or ()]
    return "sha1:" + hashlib.sha1("\x00".join(parts).encode("utf-8")).hexdigest()


def feed_entries(body: bytes, url: str, content_type: str = "",
                 max_items: int | None = None, versions: bool = False
                 ) -> tuple[list[Link], str | None]:
    """Read the article links of an RSS 0.9x/1.0/2.0 or Atom feed with feedparser.

    Args:
        body: the feed document as received.
        url: the feed's URL (relative links are resolved against it).
        content_type: the Content-Type header, which may declare the charset.
        max_items: read at most this many entries, the first ones (feeds list the
            newest first): the document is streamed and cut before feedparser sees it
            (:func:`monitor.xmlguard.cut_feed`), so a feed of 300,000 items costs what
            one of ``max_items`` costs. None reads every entry.
        versions: set each link's ``version`` (:func:`entry_version`).

    Returns:
        ``(links, problem)``: a :class:`monitor.records.Link` per entry with a link
        (absolute ``url``, ``title``, ``published`` as aware UTC, and with ``versions``
        the ``version``); problem is None, or why the document is not a readable feed
        (it had no entries and feedparser reported an error).

    Raises:
        monitor.xmlguard.DocumentRefused: the feed declares XML entities or nests
            elements too deeply (checked when ``max_items`` is given).
    """
    if max_items is not None:
        body, seen = cut_feed(body, max_items)
        if seen > max_items:
            log.info("feed %s lists more than %d entries: reading the first %d "
                     "(crawl.max_document_items)", url, max_items, max_items)
    parsed = feedparser.parse(body, response_headers={"content-location": url,
                                                      "content-type": content_type})
    if not parsed.entries and parsed.get("bozo"):
        return [], str(parsed.get("bozo_exception") or "not a feed")
    entries: list[Link] = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link and is_web_url(str(entry.get("id", ""))):
            link = entry.get("id")
        if link:
            entries.append(Link(urljoin(url, link.strip()), entry.get("title"),
                                _entry_time(entry),
                                version=entry_version(entry) if versions else None))
    return entries, None


class FeedDocuments(SourceSpiderMixin):
    """Reading feed documents (mixed into the spiders that poll feeds)."""

    async def parse_feed(self, response: Response, run: Run) -> DocumentRequests:
        """Parse a feed with feedparser (on a worker thread: a large feed takes 50-150 ms,
        which would stall every download in the reactor thread) and request the new
        articles it lists. Only the first ``crawl.max_document_items`` entries are read.
        A document that is not a feed, or that is refused (XML entities, deep nesting:
        :mod:`monitor.xmlguard`), fails the poll with what it is and what to change."""
        source = run.task.source
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        loop = asyncio.get_running_loop()
        try:
            entries, problem = await loop.run_in_executor(
                None, feed_entries, response.body, response.url, content_type,
                self.context.config.crawl.max_document_items, True)
        except DocumentRefused as exc:
            self.fail(run, response.url, str(exc))
            return
        if not entries:
            kind = document_kind(response.body)
            if problem or kind not in ("rss", "atom", "rdf"):
                self.fail(run, response.url, wrong_kind_message("feed", response.body,
                                                                response.url))
                return
            log.debug("source %s: feed %s lists no articles", source, response.url)
        # a link seen before comes through again when its entry's version changed
        versions = {e.url: e.version for e in entries if e.version}
        for link in self.new_links(run, entries, versions):
            yield self.article_request(run, link)


class FeedSpider(FeedDocuments, SourceSpiderMixin, scrapy.Spider):
    """Poll each feed source once, then every new article it links to.

    Run: ``scrapy crawl feeds`` (all feed sources of monitor.yaml) or
    ``scrapy crawl feeds -a sources=bbc-world``.
    """

    name = "feeds"
    kinds = ("feed",)

    async def parse_document(self, response: Response, run: Run) -> DocumentRequests:
        async for request in self.parse_feed(response, run):
            yield request
