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
from twisted.internet.defer import CancelledError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

try:  # Scrapy 2.14+ wraps Twisted's download errors in its own exceptions
    from scrapy.exceptions import (DownloadCancelledError, DownloadConnectionRefusedError,
                                   DownloadTimeoutError)
except ImportError:  # pragma: no cover - older Scrapy
    DownloadCancelledError = DownloadConnectionRefusedError = DownloadTimeoutError = CancelledError

from monitor.config import SourceConfig
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
        spider.sources = list(sources)
        spider._failed: dict[str, str] = {}
        return spider

    # -- source documents (feeds, sitemaps) ----------------------------------------

    def source_request(self, source: SourceConfig, url: str, callback) -> scrapy.Request:
        """A conditional GET for a feed or sitemap document of ``source``."""
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
        """Record the validators of a source document; True when it answered 304."""
        if response.status == 304:
            log.info("source %s: %s not modified", source.name, response.url)
            return True
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if etag or modified:
            self.context.store.save_fetch_state(
                response.url, etag.decode("latin-1") if etag else None,
                modified.decode("latin-1") if modified else None)
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
        fresh, seen_here = [], set()
        for url, title, published in entries:
            if not url or url in seen_here or self.context.store.seen(url):
                continue
            seen_here.add(url)
            fresh.append((url, title, published))
        fresh.sort(key=lambda e: e[2].timestamp() if e[2] else 0.0, reverse=True)
        self.crawler.stats.inc_value("monitor/links_new", len(fresh))
        return fresh[:source.max_articles]

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
        """Turn an article response into a :class:`Page` item for the core pipeline."""
        headers = {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                   for k, v in response.headers.items()}
        yield Page(url=response.url, body=response.body, source=source, headers=headers,
                   encoding=getattr(response, "encoding", None) if "charset=" in
                   headers.get("content-type", "") else None,
                   feed_title=feed_title, feed_published=feed_published)

    def article_failed(self, failure) -> None:
        """Errback for article requests.

        A 4xx answer or a page over the size cap is recorded as a rejection (so it is not
        fetched again); a network error or 5xx is only logged, and retried on a later crawl.
        """
        request = failure.request
        source = request.meta.get("source", "?")
        stats = self.crawler.stats
        if failure.check(HttpError) and 400 <= failure.value.response.status < 500:
            status = failure.value.response.status
            reason, detail = "http-error", f"HTTP {status}"
        elif failure.check(CancelledError, DownloadCancelledError):
            cap = self.context.config.extraction.max_page_bytes
            reason, detail = "too-large", f"larger than the {cap}-byte cap"
        else:
            log.warning("source %s: article %s: %s", source, request.url,
                        _describe_failure(failure))
            stats.inc_value("monitor/article_errors")
            return
        self.context.store.record_rejection(Rejection(request.url, source, reason, detail))
        stats.inc_value("monitor/rejected")
        stats.inc_value(f"monitor/rejected/{reason}")
        log.info("source %s: %s rejected, %s: %s", source, request.url, reason, detail)

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats
        for source in self.sources:
            error = self._failed.get(source.name)
            self.context.store.record_crawl(source.name, ok=error is None, error=error)
        level = logging.INFO if stats.get_value("monitor/links_new") else logging.DEBUG
        log.log(level, "crawl %s (%s) finished (%s): %d new links, %d stored, %d rejected, "
                 "%d duplicate, %d hits, %d alerts queued",
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
