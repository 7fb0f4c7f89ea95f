"""The ``sitemaps`` spider: XML sitemaps (incl. Google News), indexes, robots.txt."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from monitor.crawl.spider import SourceSpiderMixin
from monitor.documents import UnpackError, gunzip_capped, wrong_kind_message

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
    """The URLs of a plain-text sitemap (one absolute URL a line; already unpacked)."""
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


def forget_validators(run, url: str) -> None:
    """Keep no ETag/Last-Modified for ``url``: the next poll fetches it in full."""
    run.validators = [(u, None, None) if u == url else (u, e, m)
                      for u, e, m in run.validators]


class SitemapDocuments:
    """Reading sitemap documents (mixed into the spiders that poll sitemaps)."""

    async def parse_sitemap(self, response, run):
        """Follow robots.txt and sitemap indexes; request new article URLs of a urlset.

        The document is parsed on a worker thread: a news sitemap can list tens of
        thousands of URLs, and parsing it in the reactor thread would stall downloads. A
        gzip document is unpacked with a cap (``DOWNLOAD_MAXSIZE``); one that is
        truncated, corrupt or over the cap, a robots.txt that names no sitemap, and a
        document of another kind each fail the poll with a message saying so.
        """
        source = run.task.source
        if urlsplit(response.url).path.endswith("/robots.txt"):
            forget_validators(run, response.url)
            urls = list(sitemap_urls_from_robots(response.body, base_url=response.url))
            if not urls:
                self.fail(run, response.url, "names no sitemap (no Sitemap: line): give "
                          "the sitemap's URL as the source's url")
            for url in urls:
                yield self.document_request(run, url)
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            cap = response.meta.get("download_maxsize") or self.settings.getint(
                "DOWNLOAD_MAXSIZE", 50 * 1024 * 1024)
            try:
                body = gunzip_capped(body, cap)
            except UnpackError as exc:
                self.fail(run, response.url, f"cannot be read: {exc}")
                return
        loop = asyncio.get_running_loop()
        kind, entries = await loop.run_in_executor(None, sitemap_entries, body, response.url)
        if kind is None:
            self.fail(run, response.url, wrong_kind_message("sitemap", body, response.url))
        elif kind == "sitemapindex":
            # An index (like robots.txt) is read in full every poll: it may stay the
            # same while its children change, and each child has its own validators.
            forget_validators(run, response.url)
            # newest child sitemaps first; news sites list months of archives
            for url, _, _ in entries[:5]:
                yield self.document_request(run, url)
        else:
            for url, title, published in self.new_links(run, entries):
                yield self.article_request(run, url, title, published)


class NewsSitemapSpider(SitemapDocuments, SourceSpiderMixin, scrapy.Spider):
    """Poll each sitemap source (a urlset, a sitemap index, a plain-text sitemap or a
    robots.txt) once, and the new articles it lists, newest ``lastmod`` first.

    ``lastmod`` serves as the fallback publication date when the page gives none.

    Run: ``scrapy crawl sitemaps`` or ``scrapy crawl sitemaps -a sources=NAME``.
    """

    name = "sitemaps"
    kinds = ("sitemap",)

    async def parse_document(self, response, run):
        async for request in self.parse_sitemap(response, run):
            yield request
