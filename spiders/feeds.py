"""The ``feeds`` spider: RSS and Atom feeds -> new article pages."""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timezone

import feedparser
import scrapy

from monitor.config import SourceConfig
from monitor.crawl.spider import SourceSpiderMixin

log = logging.getLogger(__name__)


def _entry_time(entry) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)


class FeedSpider(SourceSpiderMixin, scrapy.Spider):
    """Fetch each feed source, then every new article it links to.

    Run: ``scrapy crawl feeds`` (all feed sources of monitor.yaml) or
    ``scrapy crawl feeds -a sources=bbc-world``.
    """

    name = "feeds"
    kind = "feed"

    async def start(self):
        for source in self.sources:
            yield self.source_request(source, source.url, self.parse_feed)

    def parse_feed(self, response, source: SourceConfig):
        """Parse a feed with feedparser and request the new articles it lists."""
        if self.not_modified(response, source):
            return
        parsed = feedparser.parse(response.body, response_headers={
            "content-location": response.url,
            "content-type": response.headers.get("Content-Type", b"").decode("latin-1")})
        if not parsed.entries:
            problem = parsed.get("bozo_exception") or "no entries"
            if parsed.get("bozo"):
                log.error("source %s: %s is not a readable feed: %s", source.name,
                          response.url, problem)
                self._failed[source.name] = f"{response.url}: not a readable feed: {problem}"
            else:
                log.info("source %s: feed %s has no entries", source.name, response.url)
            return
        entries = []
        for entry in parsed.entries:
            link = entry.get("link") or (entry.get("id") if str(entry.get("id", "")).startswith(
                ("http://", "https://")) else None)
            if link:
                entries.append((response.urljoin(link.strip()), entry.get("title"),
                                _entry_time(entry)))
        for url, title, published in self.new_links(source, entries):
            yield self.article_request(source, url, title, published)
