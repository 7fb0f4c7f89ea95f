"""Machinery shared by the feed and sitemap spiders.

Both spiders turn a source into article URLs, skip URLs already seen, fetch at most
``max_articles`` new pages per crawl, and yield each page as a :class:`Page` item.
Feed and sitemap fetches are conditional (ETag / Last-Modified). A failing source is
logged with its name and recorded in the ``sources`` table; the others go on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Iterable

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from scrapy.exceptions import (DownloadCancelledError, DownloadConnectionRefusedError,
                               DownloadTimeoutError, IgnoreRequest)

from monitor.config import SourceConfig
from monitor.errors import ConfigError
from monitor.crawl.context import CrawlContext
from monitor.models import Page, Rejection

log = logging.getLogger(__name__)


class SourceSpiderMixin:
    """Common behaviour of :class:`spiders.feeds.FeedSpider` and
    :class:`spiders.sitemaps.NewsSitemapSpider`.

    Spider arguments:
        sources: SourceConfig objects, or a comma-separated string of source names
            (``scrapy crawl feeds -a sources=bbc-world,npr``); default every enabled
            source of the spider's kind.
        context: a shared :class:`CrawlContext` (the daemon passes one); default one
            built from the ``MONITOR_CONFIG`` setting and closed with the spider.
    """

    kind: str = ""
    context: CrawlContext
    sources: list[SourceConfig]

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        context = kwargs.pop("context", None)
        owns = context is None
        if context is None:
            context = CrawlContext.from_path(crawler.settings.get("MONITOR_CONFIG",
                                                                  "monitor.yaml"))
        sources = kwargs.pop("sources", None)
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.context = context
        spider._owns_context = owns
        if sources is None:
            sources = [s for s in context.config.sources if s.kind == cls.kind and s.enabled]
        elif isinstance(sources, str):
            sources = [context.config.source(n.strip()) for n in sources.split(",") if n.strip()]
        for source in sources:
            if source.kind != cls.kind:
                raise ConfigError(f"{context.config.path}: source {source.name!r} is a "
                                  f"{source.kind}, not a {cls.kind}: crawl it with the "
                                  f"{source.kind}s spider")
        spider.sources = list(sources)
        spider._failed = {}       # source name -> error
        spider._incomplete = set()  # sources with links left for a later crawl
        spider._validators = {}   # source name -> [(url, etag, last_modified)]
        spider._requested = {}    # source name -> article requests made in this crawl
        return spider

    def in_core(self, method: str, *args) -> None:
        """Run a :class:`Store` write on the core worker thread, with that thread's own
        connection: the reactor thread never waits for SQLite's write lock."""
        self.context.executor.submit(getattr(self.context.core_store, method), *args)

    # -- source documents (feeds, sitemaps) ----------------------------------------

    def source_request(self, source: SourceConfig, url: str, callback) -> scrapy.Request | None:
        """A conditional GET for a feed or sitemap document of ``source`` (None, with a
        warning, for a URL that is not http(s), e.g. in a sitemap index or robots.txt)."""
        if not url.lower().startswith(("http://", "https://")):
            log.warning("source %s: sitemap URL %s ignored: not http(s)", source.name, url[:200])
            return None
        state = self.context.store.fetch_state(url)
        headers = {}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        return scrapy.Request(url, callback=callback, errback=self.source_failed,
                              headers=headers, dont_filter=True,
                              cb_kwargs={"source": source},
                              meta={"handle_httpstatus_list": [304], "source": source.name})

    def not_modified(self, response: Response, source: SourceConfig) -> bool:
        """True when a source document answered 304; else note its validators.

        The validators (ETag, Last-Modified) are saved only when the crawl ends with every
        new link of the source fetched (see :meth:`closed`): a link left for later, or
        one whose fetch failed for a passing reason, must be seen again next time.
        """
        if response.status == 304:
            log.info("source %s: %s not modified", source.name, response.url)
            return True
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        self._validators.setdefault(source.name, []).append(
            (response.url, etag.decode("latin-1") if etag else None,
             modified.decode("latin-1") if modified else None))
        return False

    def source_failed(self, failure) -> None:
        """Errback for feed/sitemap requests: log with the source name, record the error."""
        request = failure.request
        name = request.meta.get("source", "?")
        error = _describe_failure(failure)
        log.error("source %s: %s: %s", name, request.url, error)
        self._failed[name] = f"{request.url}: {error}"

    # -- article pages --------------------------------------------------------------

    def new_links(self, source: SourceConfig,
                  entries: Iterable[tuple[str, str | None, datetime | None]]) -> list[tuple]:
        """Keep the article links not seen before, newest first, at most ``max_articles``.

        Args:
            entries: (url, title or None, published or None) for each link in the document.
        """
        entries = [e for e in entries if e[0]]
        foreign = [e[0] for e in entries if not e[0].lower().startswith(("http://", "https://"))]
        if foreign:
            # a feed must never make us read file://, ftp:// or data: URLs
            log.warning("source %s: %d links that are not http(s) ignored, e.g. %s",
                        source.name, len(foreign), foreign[0][:200])
            self.crawler.stats.inc_value("monitor/links_not_http", len(foreign))
            entries = [e for e in entries if e[0] not in set(foreign)]
        unseen = self.context.store.unseen(e[0] for e in entries)
        fresh, taken = [], set()
        for entry in entries:
            if entry[0] in unseen and entry[0] not in taken:
                taken.add(entry[0])
                fresh.append(entry)
        fresh.sort(key=lambda e: e[2].timestamp() if e[2] else 0.0, reverse=True)
        self.crawler.stats.inc_value("monitor/links_new", len(fresh))
        # the cap holds per source and crawl, across a sitemap index's child sitemaps
        room = max(0, source.max_articles - self._requested.get(source.name, 0))
        if len(fresh) > room:
            self._incomplete.add(source.name)
            log.info("source %s: %d new links, fetching %d now, the rest on the next "
                     "crawls", source.name, len(fresh), room)
        self._requested[source.name] = self._requested.get(source.name, 0) + min(room, len(fresh))
        return fresh[:room]

    def article_request(self, source: SourceConfig, url: str, title: str | None,
                        published: datetime | None) -> scrapy.Request:
        """A request for one article page; its response becomes a :class:`Page` item."""
        return scrapy.Request(
            url, callback=self.parse_article, errback=self.article_failed,
            cb_kwargs={"source": source.name, "feed_title": title, "feed_published": published},
            meta={"source": source.name,
                  "download_maxsize": self.context.config.extraction.max_page_bytes})

    def parse_article(self, response: Response, source: str, feed_title: str | None,
                      feed_published: datetime | None):
        """Turn an article response into a :class:`Page` item for the core pipeline.

        When the feed's link redirected, the link itself is recorded as seen (it would
        otherwise be fetched again on every crawl).
        """
        for link in response.request.meta.get("redirect_urls", []) if response.request else []:
            self.in_core("record_page", link, source, "redirected", None,
                         f"redirected to {response.url}")
        headers = {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                   for k, v in response.headers.items()}
        yield Page(url=response.url, body=response.body, source=source, headers=headers,
                   encoding=getattr(response, "encoding", None) if "charset=" in
                   headers.get("content-type", "") else None,
                   feed_title=feed_title, feed_published=feed_published)

    def article_failed(self, failure) -> None:
        """Errback for article requests.

        404 and 410 answers, a page over the size cap, and a link robots.txt forbids are
        recorded as final rejections (never fetched again). Other HTTP errors (403, 408,
        429, 5xx) are recorded as transient: fetched again after a backoff. Network
        errors are only logged, and the source's validators are not saved, so the next
        crawl sees the link again.
        """
        request = failure.request
        source = request.meta.get("source", "?")
        link = (request.meta.get("redirect_urls") or [request.url])[0]
        stats = self.crawler.stats
        transient = False
        if failure.check(HttpError):
            status = failure.value.response.status
            reason, detail, transient = "http-error", f"HTTP {status}", status not in (404, 410)
        elif failure.check(DownloadCancelledError) and "max size" in str(failure.value):
            cap = self.context.config.extraction.max_page_bytes
            reason, detail = "too-large", f"larger than the {cap}-byte cap"
        elif failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
            reason, detail = "robots", "forbidden by robots.txt"
        else:
            log.warning("source %s: article %s: %s", source, request.url,
                        _describe_failure(failure))
            stats.inc_value("monitor/article_errors")
            self._incomplete.add(source)
            return
        if transient:
            self._incomplete.add(source)
        self.in_core("record_rejection",
                     Rejection(link, source, reason, detail), transient)
        stats.inc_value("monitor/rejected")
        stats.inc_value(f"monitor/rejected/{reason}")
        log.info("source %s: %s rejected, %s: %s", source, request.url, reason, detail)

    def closed(self, reason: str) -> None:
        """Record each source's crawl, and save the validators of complete ones."""
        stats = self.crawler.stats
        for source in self.sources:
            error = self._failed.get(source.name)
            if error is None and reason != "finished":
                error = f"crawl interrupted ({reason})"
            complete = (error is None and reason == "finished"
                        and source.name not in self._incomplete)
            for url, etag, modified in self._validators.get(source.name, []):
                # an incomplete crawl forgets the validators: the next GET is unconditional
                self.in_core("save_fetch_state", url, etag if complete else None,
                             modified if complete else None)
            self.in_core("record_crawl", source.name, error is None, error)
        level = logging.INFO if stats.get_value("monitor/links_new") else logging.DEBUG
        log.log(level, "crawl of %s (%s spider) ended (%s): %d new links, %d stored, "
                "%d rejected, %d duplicate, %d hits, %d alerts queued",
                ",".join(s.name for s in self.sources), self.name, reason,
                stats.get_value("monitor/links_new", 0), stats.get_value("monitor/stored", 0),
                stats.get_value("monitor/rejected", 0), stats.get_value("monitor/duplicate", 0),
                stats.get_value("monitor/hits", 0), stats.get_value("monitor/alerts_queued", 0))
        if self._owns_context:
            self.context.close()


def _describe_failure(failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    if failure.check(DNSLookupError):
        return "DNS lookup failed"
    if failure.check(TimeoutError, TCPTimedOutError, DownloadTimeoutError):
        return "timed out"
    if failure.check(DownloadConnectionRefusedError):
        return "connection refused"
    return f"{failure.type.__name__}: {failure.getErrorMessage()}"
