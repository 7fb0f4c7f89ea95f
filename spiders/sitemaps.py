"""The ``sitemaps`` spider: XML sitemaps (incl. Google News), indexes, robots.txt."""

from __future__ import annotations

import asyncio
import gzip
import logging
from datetime import datetime, timezone
from urllib.parse import urljoin

from scrapy.spiders import SitemapSpider
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from monitor.config import SourceConfig
from monitor.crawl.spider import SourceSpiderMixin

log = logging.getLogger(__name__)


def _lastmod(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _text_sitemap(body: bytes) -> list[tuple]:
    """The URLs of a plain-text sitemap (one absolute URL a line, optionally gzipped)."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except OSError:
            return []
    if not body.lstrip()[:4].lower() == b"http":
        return []
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines or not all(line.startswith(("http://", "https://")) and " " not in line
                            for line in lines):
        return []
    return [(line, None, None) for line in lines]


def sitemap_entries(body: bytes, url: str) -> tuple[str | None, list[tuple]]:
    """Read a sitemap document: an XML urlset or sitemap index, or a plain-text list.

    Args:
        body: the document, already gunzipped for XML (Scrapy's ``_get_sitemap_body``).
        url: its URL, to resolve relative locations.

    Returns:
        ``(kind, entries)``: kind is "urlset" (plain-text lists too), "sitemapindex", or
        None when the document is not a sitemap; entries are ``(absolute url, None,
        lastmod as aware datetime or None)``, a sitemap index's newest first.
    """
    links = _text_sitemap(body)
    if links:
        return "urlset", links
    try:
        sitemap = Sitemap(body) if body else None
    except (StopIteration, ValueError, SyntaxError):  # empty or not XML at all
        sitemap = None
    if sitemap is None or sitemap.type not in ("sitemapindex", "urlset"):
        return None, []
    entries = [(urljoin(url, e["loc"]), None, _lastmod(e.get("lastmod")))
               for e in sitemap if e.get("loc")]
    if sitemap.type == "sitemapindex":
        entries.sort(key=lambda e: e[2].timestamp() if e[2] else 0.0, reverse=True)
    return sitemap.type, entries


class NewsSitemapSpider(SourceSpiderMixin, SitemapSpider):
    """Fetch each sitemap source (a urlset, a sitemap index, a plain-text sitemap or a
    robots.txt) and the new articles it lists, newest ``lastmod`` first.

    Uses Scrapy's sitemap machinery (``Sitemap``, gzip handling, robots.txt discovery).
    ``lastmod`` serves as the fallback publication date when the page gives none.

    Run: ``scrapy crawl sitemaps`` or ``scrapy crawl sitemaps -a sources=NAME``.
    """

    name = "sitemaps"
    kind = "sitemap"
    sitemap_urls = ()

    async def start(self):
        for source in self.sources:
            yield self.source_request(source, source.url, self.parse_sitemap)

    async def parse_sitemap(self, response, source: SourceConfig):
        """Follow robots.txt and sitemap indexes; request new article URLs of a urlset.

        The document is parsed on a worker thread: a news sitemap can list tens of
        thousands of URLs, and parsing it in the reactor thread would stall downloads.
        """
        if self.not_modified(response, source):
            return
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.body, base_url=response.url):
                if request := self.source_request(source, url, self.parse_sitemap):
                    yield request
            return
        body = self._get_sitemap_body(response)
        loop = asyncio.get_running_loop()
        kind, entries = await loop.run_in_executor(
            None, sitemap_entries, body if body is not None else response.body, response.url)
        if kind is None:
            log.error("source %s: %s is not a readable sitemap", source.name, response.url)
            self._failed[source.name] = f"{response.url}: not a readable sitemap"
        elif kind == "sitemapindex":
            # newest child sitemaps first; news sites list months of archives
            for url, _, _ in entries[:5]:
                if request := self.source_request(source, url, self.parse_sitemap):
                    yield request
        else:
            for url, title, published in self.new_links(source, entries):
                yield self.article_request(source, url, title, published)
