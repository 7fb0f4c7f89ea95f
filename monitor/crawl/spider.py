"""Machinery shared by the spiders: polls of sources fed from the schedule.

A spider built on :class:`SourceSpiderMixin` takes :class:`monitor.records.PollTask`
objects from its :class:`monitor.crawl.context.CrawlContext` (``start()`` waits for the
next due source, so a daemon's crawl stays open while idle), fetches each source
document with a conditional GET, follows sitemap indexes and robots.txt, requests at
most ``max_articles`` unseen article links, and yields each article as a
:class:`monitor.models.Page` item.

Each poll is a *run*: every request it makes and every page it yields is counted, and
when the last one is done the run's :class:`monitor.records.RunResult` goes to the
writer. The crawl side never writes to SQLite: pages, link outcomes and run results
all go through the context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
import scrapy.exceptions
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    DontCloseSpider,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from monitor.clock import parse_http_date, utcnow
from monitor.crawl.context import CrawlContext, SpiderContext
from monitor.crawl.middlewares import OffSite
from monitor.crawl.private import PrivateAddressRefused
from monitor.records import (
    Link,
    LinkOutcome,
    LinkReason,
    LinkStatus,
    PollTask,
    RunResult,
    Validator,
)
from monitor.schedule import MAX_HOLD, host_of
from monitor.urls import is_web_url

if TYPE_CHECKING:
    from monitor.models import Page

log = logging.getLogger(__name__)

#: A download failure as Scrapy hands it to an errback: a ``twisted.python.failure.Failure``
#: with the ``request`` Scrapy sets on it (not in Twisted's types, hence Any).
ScrapyFailure = Any

#: What a spider's document parser yields: requests for more documents and for article
#: pages (None for a URL it refused, skipped by the caller).
DocumentRequests = AsyncIterator[scrapy.Request | None]

#: HTTP statuses whose Retry-After holds the whole host.
HOLD_STATUSES = (429, 503)


@dataclass
class Run:
    """The crawl side's bookkeeping for one poll (one :class:`PollTask`)."""

    task: PollTask
    started_at: datetime
    pending: int = 0
    new_links: int = 0
    pages: int = 0
    requested: int = 0
    error: str | None = None
    incomplete: bool = False
    validators: list[Validator] = field(default_factory=list)
    documents: int = 0
    not_modified: int = 0
    retry_after: tuple[str, datetime] | None = None
    moved_to: str | None = None


def retry_after(response: Response | None, now: datetime) -> datetime | None:
    """The time a ``Retry-After`` header (seconds or an HTTP date) names, at most
    ``MAX_HOLD`` seconds from ``now``; None when there is none or it cannot be read."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    cap = now + timedelta(seconds=MAX_HOLD)
    if text.isdigit():
        return now + timedelta(seconds=min(int(text), MAX_HOLD))
    when = parse_http_date(text)
    return None if when is None else min(when, cap)


class SourceSpiderMixin:
    """Common behaviour of the spiders in ``spiders/``.

    Subclasses provide ``parse_document(response, run)`` for their kinds of source
    document (an async generator of requests).

    Spider arguments:
        sources: SourceConfig objects, or a comma-separated string of source names
            (``scrapy crawl feeds -a sources=bbc-world,npr``); default every enabled
            source of the spider's kinds. Ignored when ``context`` is given.
        context: a shared :class:`CrawlContext` (``monitor run`` and ``monitor crawl``
            pass one); default one built from the ``MONITOR_CONFIG`` setting for a
            single pass over the sources, closed with the spider.
    """

    kinds: tuple[str, ...] = ()
    context: SpiderContext
    #: host -> held until (Retry-After); the HostHold middleware reads it
    holds: dict[str, datetime]
    _runs: dict[int, Run]
    _owns_context: bool
    # given by scrapy.Spider, which every spider mixes in after this class
    crawler: Crawler
    settings: BaseSettings

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Any:
        """Build the spider (Scrapy calls it) with its context, as the class documents.

        Returns:
            The spider, connected to the crawler's ``request_dropped`` and
            ``spider_idle`` signals.
        """
        context = kwargs.pop("context", None)
        sources = kwargs.pop("sources", None)
        # scrapy.Spider.from_crawler, next in the spider's MRO
        spider = super().from_crawler(crawler, *args, **kwargs)  # type: ignore[misc]
        spider._owns_context = context is None
        if context is None:
            context = CrawlContext.one_pass_from_settings(crawler.settings, sources,
                                                          cls.kinds)
        spider.context = context
        spider._runs = {}
        spider.holds = context.holds
        crawler.signals.connect(spider._request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        return spider

    # -- polls -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request | None]:
        """Yield one source request per due poll, for as long as the context runs."""
        async for task in self.context.poll_tasks():
            run = Run(task, utcnow())
            self._runs[task.run_id] = run
            yield self.document_request(run, task.url)

    def _begin(self, run: Run) -> None:
        run.pending += 1

    def _end(self, run: Run) -> None:
        run.pending -= 1
        if run.pending <= 0 and self._runs.pop(run.task.run_id, None) is not None:
            if self.context.stopping and (run.incomplete or run.error):
                # cut short by the stop, not the source's fault: due again, no back-off
                self.context.abandon_run(run.task, "stopping")
            else:
                self.context.finish_run(self._result(run))

    def _result(self, run: Run) -> RunResult:
        task = run.task
        hold = run.retry_after
        return RunResult(
            run_id=task.run_id, source=task.source, url=task.url, ok=run.error is None,
            error=run.error, new_links=run.new_links, pages=run.pages,
            complete=not run.incomplete and run.error is None,
            validators=tuple(run.validators), started_at=run.started_at,
            finished_at=utcnow(), due_at=task.due_at,
            not_modified=run.documents > 0 and run.not_modified == run.documents,
            retry_after_host=hold[0] if hold else None,
            retry_after_until=hold[1] if hold else None, moved_to=run.moved_to)

    def _run_of(self, request: Request) -> Run | None:
        run_id = request.meta.get("run_id")
        return self._runs.get(run_id) if run_id is not None else None

    def _request_dropped(self, request: Request, spider: object = None) -> None:
        run = self._run_of(request)
        if run is not None:
            run.incomplete = True
            self._end(run)

    def _idle(self, spider: object = None) -> None:
        """Scrapy sees nothing to download, but a poll may still wait for the writer
        (a link outcome being recorded): keep the crawl open until it ends."""
        if self._runs:
            raise DontCloseSpider

    def abandon_runs(self, reason: str) -> None:
        """Give back every unfinished poll to the schedule (the crawl is stopping)."""
        for run in list(self._runs.values()):
            self.context.abandon_run(run.task, reason)
        self._runs.clear()

    def closed(self, reason: str) -> None:
        self.abandon_runs(reason)
        if self._owns_context and isinstance(self.context, CrawlContext):
            self.context.close_when_drained()

    # -- source documents (feeds, sitemaps) ----------------------------------------

    def document_request(self, run: Run, url: str) -> scrapy.Request | None:
        """A conditional GET for a feed or sitemap document of the run's source (None,
        with a warning, for a URL that is not http(s), e.g. in a sitemap index)."""
        source = run.task.source
        if not is_web_url(url):
            log.warning("source %s: sitemap URL %s ignored: not http(s)", source, url[:200])
            return None
        task = run.task
        etag, modified = ((task.etag, task.last_modified) if url == task.url
                          else self.context.validators(url))
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        self._begin(run)
        run.documents += 1
        return scrapy.Request(url, callback=self._document, errback=self._document_failed,
                              headers=headers, dont_filter=True, cb_kwargs={"run": run},
                              meta={"handle_httpstatus_list": [304], "source": source,
                                    "run_id": run.task.run_id, "due_at": run.task.due_at})

    def _document(self, response: Response, run: Run
                  ) -> AsyncIterator[scrapy.Request] | None:
        """Callback of a source document: a 304 ends here (no output to process, the
        cheap path for the polls that find nothing new); a document is read by
        :meth:`_read_document`."""
        if response.status == 304:
            run.not_modified += 1
            log.debug("source %s: %s not modified", run.task.source, response.url)
            self._end(run)
            return None
        self._note_move(response, run)
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        run.validators.append(Validator(response.url,
                                        etag.decode("latin-1") if etag else None,
                                        modified.decode("latin-1") if modified else None))
        return self._read_document(response, run)

    def _note_move(self, response: Response, run: Run) -> None:
        """Note where the source's own URL now lives when every redirect on the way was
        permanent (301, 308): a health notice suggests the new URL."""
        meta = response.request.meta if response.request is not None else {}
        urls, reasons = meta.get("redirect_urls") or [], meta.get("redirect_reasons") or []
        if urls and urls[0] == run.task.url and reasons and \
                all(r in (301, 308) for r in reasons) and response.url != run.task.url:
            run.moved_to = response.url

    async def _read_document(self, response: Response, run: Run
                             ) -> AsyncIterator[scrapy.Request]:
        try:
            async for request in self.parse_document(response, run):
                if request is not None:
                    yield request
        except Exception as exc:
            run.error = run.error or f"{response.url}: {type(exc).__name__}: {exc}"
            log.error("source %s: reading %s failed: %s: %s", run.task.source, response.url,
                      type(exc).__name__, exc)
        finally:
            self._end(run)

    async def parse_document(self, response: Response,
                             run: Run) -> DocumentRequests:  # pragma: no cover
        raise NotImplementedError
        yield

    def fail(self, run: Run, url: str, problem: str) -> None:
        """Mark the poll failed with a message naming the document and what to change."""
        log.error("source %s: %s %s", run.task.source, url, problem)
        run.error = run.error or f"{url} {problem}"

    def _document_failed(self, failure: ScrapyFailure) -> None:
        request = failure.request
        run = self._run_of(request)
        if run is None:
            return
        try:
            if self.context.stopping and failure.check(IgnoreRequest):
                run.incomplete = True   # not sent because of the stop
                return
            error = describe_failure(failure)
            if failure.check(HttpError):
                response = failure.value.response
                self._note_hold(run, response)
            log.error("source %s: %s: %s", run.task.source, request.url, error)
            run.error = run.error or f"{request.url}: {error}"
        finally:
            self._end(run)

    def _note_hold(self, run: Run, response: Response) -> None:
        if response.status not in HOLD_STATUSES:
            return
        until = retry_after(response, utcnow())
        if until is None:
            return
        host = host_of(response.url)
        if self.holds.get(host) is None or self.holds[host] < until:
            self.holds[host] = until
        run.retry_after = (host, until)
        self._hold_slot(response, until)
        log.warning("host %s answered %d with Retry-After: no request to it before %s",
                    host, response.status, until.isoformat(timespec="seconds"))

    def _hold_slot(self, response: Response, until: datetime) -> None:
        """Make Scrapy's download slot of the host wait until ``until``: requests
        already queued for the host wait there (new ones are refused by
        :class:`monitor.crawl.middlewares.HostHoldMiddleware`)."""
        engine = getattr(self.crawler, "engine", None)
        downloader = getattr(engine, "downloader", None)
        if downloader is None or response.request is None:
            return
        slot = downloader.slots.get(downloader.get_slot_key(response.request))
        if slot is None:
            return
        if not slot.delay:
            slot.delay = 0.001   # a slot without a delay never waits
        # the slot waits until lastseen + delay (delay randomised down to half of it)
        wait = (until - utcnow()).total_seconds()
        slot.lastseen = time.monotonic() + wait - 0.5 * slot.delay

    # -- article pages --------------------------------------------------------------

    def new_links(self, run: Run, entries: Iterable[Link],
                  versions: dict[str, str] | None = None) -> list[Link]:
        """Keep the article links not seen before, newest first, at most ``max_articles``
        per poll (across a sitemap index's children).

        Args:
            entries: each link the document lists (a sitemap's ``lastmod`` orders an
                entry without a publication date). Entries are kept as they are.
            versions: link -> the version mark the document lists for it (see
                :func:`monitor.store.version_is_newer`); a link seen before comes through
                again when its mark is newer than the one kept with it (re-alert on
                edit). None or empty: seen links never come through.
        """
        source = run.task.source
        entries = [e for e in entries if e.url]
        foreign = [e.url for e in entries if not is_web_url(e.url)]
        if foreign:
            # a feed must never make us read file://, ftp:// or data: URLs
            log.warning("source %s: %d links that are not http(s) ignored, e.g. %s",
                        source, len(foreign), foreign[0][:200])
            self.crawler.stats.inc_value("monitor/links_not_http", len(foreign))
            bad = set(foreign)
            entries = [e for e in entries if e.url not in bad]
        unseen = self.context.unseen(e.url for e in entries)
        changed = getattr(self.context, "changed", None)
        if versions and changed is not None:
            edited = changed({u: v for u, v in versions.items() if v and u not in unseen})
            if edited:
                log.info("source %s: %d links listed with a newer version, fetching "
                         "them again", source, len(edited))
                self.crawler.stats.inc_value("monitor/links_edited", len(edited))
                unseen = unseen | edited
        fresh: list[Link] = []
        taken: set[str] = set()
        for entry in entries:
            if entry.url in unseen and entry.url not in taken:
                taken.add(entry.url)
                fresh.append(entry)
        fresh.sort(key=Link.timestamp, reverse=True)
        run.new_links += len(fresh)
        self.crawler.stats.inc_value("monitor/links_new", len(fresh))
        room = max(0, run.task.max_articles - run.requested)
        if len(fresh) > room:
            run.incomplete = True
            log.info("source %s: %d new links, fetching %d now, the rest on the next "
                     "polls", source, len(fresh), room)
        fresh = [e for e in fresh[:room]
                 if self.context.claim_link(e.url, run.task.run_id)]
        run.requested += len(fresh)
        return fresh

    def article_request(self, run: Run, link: Link) -> scrapy.Request:
        """A request for one article page; its response becomes a :class:`Page` item.

        Args:
            run: the poll.
            link: the article link; what the feed or sitemap says about it becomes the
                page's ``feed_title``, ``feed_published``, ``feed_language``,
                ``feed_modified`` (``lastmod``), ``feed_keywords`` and ``version``.
        """
        from monitor.urls import article_domains

        self._begin(run)
        url = link.url
        allowed = article_domains(run.task.url, url, run.task.allowed_domains,
                                  tuple(self.context.config.crawl.redirectors))
        return scrapy.Request(
            url, callback=self.parse_article, errback=self.article_failed, priority=1,
            cb_kwargs={"run": run, "feed_title": link.title, "feed_published": link.published,
                       "feed_language": link.language, "feed_modified": link.lastmod,
                       "feed_keywords": tuple(link.keywords), "version": link.version},
            meta={"source": run.task.source, "run_id": run.task.run_id, "link": url,
                  "download_maxsize": self.context.config.extraction.max_page_bytes,
                  "allowed_domains": None if "*" in allowed else allowed})

    def parse_article(self, response: Response, run: Run, feed_title: str | None,
                      feed_published: datetime | None, feed_language: str | None = None,
                      feed_modified: datetime | None = None,
                      feed_keywords: tuple[str, ...] = (), version: str | None = None
                      ) -> Iterator[Page]:
        """Turn an article response into a :class:`Page` item for the writer.

        When the feed's link redirected, the page carries the link
        (``redirected_from``): the writer records it as seen once the page is written
        (it would otherwise be fetched again on every poll).
        """
        from monitor.models import Page

        link = response.request.meta.get("link") if response.request else None
        redirected = tuple(response.request.meta.get("redirect_urls", [])
                           if response.request else ())
        try:
            headers = {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                       for k, v in response.headers.items()}
            run.pages += 1
            self._begin(run)  # ended by the item pipeline once the page is written
            yield Page(url=response.url, body=response.body, source=run.task.source,
                       headers=headers,
                       encoding=getattr(response, "encoding", None) if "charset=" in
                       headers.get("content-type", "") else None,
                       feed_title=feed_title, feed_published=feed_published,
                       feed_language=feed_language, feed_modified=feed_modified,
                       feed_keywords=feed_keywords, version=version,
                       fetched_at=utcnow(), run_id=run.task.run_id, redirected_from=redirected)
        finally:
            if link:
                self.context.release_link(link)
            self._end(run)

    def page_written(self, run_id: int | None, ok: bool) -> None:
        """Called by the item pipeline when the writer is done with a page."""
        run = self._runs.get(run_id) if run_id is not None else None
        if run is None:
            return
        if not ok:
            run.incomplete = True
        self._end(run)

    def article_failed(self, failure: ScrapyFailure) -> None:
        """Errback for article requests.

        404 and 410 answers, a page over the size cap, a link robots.txt forbids and a
        link or redirect to a private address (``private-address``,
        :mod:`monitor.crawl.private`) are recorded as final rejections (never fetched
        again). Other HTTP errors (403, 408, 429, 5xx) and a redirect off the source's
        domains (``off-site``: its ``allowed_domains`` may change) are recorded as
        transient: fetched again after a backoff, a few times. Network
        errors (and requests to a host on hold) are only logged, and the source's
        validators are not saved, so the next poll sees the link again.
        """
        request = failure.request
        run = self._run_of(request)
        link = request.meta.get("link") or request.url
        self.context.release_link(link)
        if run is None:
            return
        try:
            outcome = self._article_outcome(failure, run, link)
        except Exception as exc:  # never leave the poll open
            log.error("source %s: article %s: %s: %s", run.task.source, request.url,
                      type(exc).__name__, exc)
            outcome = None
            run.incomplete = True
        if outcome is None:
            self._end(run)
        else:
            self.context.write_link(outcome, lambda: self._end(run))

    def _article_outcome(self, failure: ScrapyFailure, run: Run, link: str) -> LinkOutcome | None:
        """The link outcome to record for a failed article request (None: nothing to
        record, the link is fetched again on the next poll)."""
        request = failure.request
        source = run.task.source
        stats = self.crawler.stats
        transient = False
        if failure.check(HttpError):
            response = failure.value.response
            self._note_hold(run, response)
            status = response.status
            reason, detail = LinkReason.HTTP_ERROR, f"HTTP {status}"
            transient = status not in (404, 410)
        elif failure.check(DownloadCancelledError) and "max size" in str(failure.value):
            cap = self.context.config.extraction.max_page_bytes
            reason, detail = LinkReason.TOO_LARGE, f"larger than the {cap}-byte cap"
        elif failure.check(OffSite):
            # tried again a few times, so a source's allowed_domains changed meanwhile
            # takes effect (only the link's own request is repeated, never the page)
            reason, detail, transient = LinkReason.OFF_SITE, str(failure.value), True
        elif failure.check(PrivateAddressRefused):
            reason, detail = LinkReason.PRIVATE_ADDRESS, str(failure.value)
        elif failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
            reason, detail = LinkReason.ROBOTS, "forbidden by robots.txt"
        else:
            if not (self.context.stopping and failure.check(IgnoreRequest)):
                log.warning("source %s: article %s: %s", source, request.url,
                            describe_failure(failure))
                stats.inc_value("monitor/article_errors")
            run.incomplete = True
            return None
        if transient:
            run.incomplete = True
        stats.inc_value("monitor/rejected")
        stats.inc_value(f"monitor/rejected/{reason}")
        log.info("source %s: %s rejected, %s: %s", source, request.url, reason, detail)
        return LinkOutcome(run.task.run_id, link, source, LinkStatus.REJECTED, reason, detail,
                           transient)


#: Scrapy 2.19 wraps DNS failures in its own exception
_RESOLVE_ERRORS = tuple(e for e in (getattr(scrapy.exceptions, "CannotResolveHostError", None),)
                        if e is not None)


def describe_failure(failure: ScrapyFailure) -> str:
    """A download failure in a few words ("HTTP 503", "timed out", ...)."""
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    if failure.check(DNSLookupError, *_RESOLVE_ERRORS):
        return f"DNS lookup failed: no address for {urlsplit(failure.request.url).hostname}" \
            if getattr(failure, "request", None) is not None else "DNS lookup failed"
    if failure.check(TimeoutError, TCPTimedOutError, DownloadTimeoutError):
        return "timed out"
    if failure.check(DownloadConnectionRefusedError):
        return "connection refused"
    if failure.check(IgnoreRequest):
        return str(failure.value) or "request ignored"
    return f"{failure.type.__name__}: {failure.getErrorMessage()}"
