"""The crawl engine: one long-lived Scrapy crawl per process, on the asyncio reactor.

Scrapy's :class:`AsyncCrawlerRunner` runs on Twisted's ``AsyncioSelectorReactor``, so
the same asyncio event loop also drives APScheduler (``monitor run``). One crawl of the
``sources`` spider (found through Scrapy's spider loader, ``SPIDER_MODULES``) stays open
while the context hands it polls; a ``CrawlerProcess`` per poll would fail with
``ReactorNotRestartable`` and throw away robots.txt and per-host throttling each time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor

from monitor import settings as default_settings
from monitor.config import MonitorConfig
from monitor.crawl.context import SpiderContext

log = logging.getLogger(__name__)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def install_asyncio_reactor() -> None:
    """Install Twisted's asyncio reactor; must run before anything imports the reactor."""
    install_reactor(ASYNCIO_REACTOR)


def installed_reactor() -> Any:
    """The Twisted reactor installed in this process (the asyncio one, once
    :func:`install_asyncio_reactor` ran; importing it otherwise installs the default).

    Returns:
        The reactor, typed ``Any``: Twisted types the module attribute as the
        ``IReactor*`` interfaces, whose methods a type checker cannot call.
    """
    from twisted.internet import reactor

    return reactor


def scrapy_settings(config: MonitorConfig) -> Settings:
    """Scrapy settings: ``monitor.settings`` with monitor.yaml's ``crawl`` section on top."""
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    crawl = config.crawl
    settings.setdict({
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "ROBOTSTXT_MAX_AGE": crawl.robots_max_age,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "DOWNLOAD_MAXSIZE": crawl.max_document_bytes,
        "LOG_LEVEL": config.log_level,
        "MONITOR_CONFIG": str(config.path),
    }, priority="cmdline")
    # downloads a stop can cut short (monitor.crawl.handlers)
    handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
    handlers.update({"http": _STOPPABLE_HANDLER, "https": _STOPPABLE_HANDLER})
    settings.set("DOWNLOAD_HANDLERS", handlers, priority="cmdline")
    return settings


_STOPPABLE_HANDLER = "monitor.crawl.handlers.StoppableHTTPDownloadHandler"


class CrawlEngine:
    """One long-lived crawl fed with the polls of a :class:`CrawlContext`.

    Args:
        context: the schedule, writer and workers (or a context of the same interface:
            a distributed worker's, :class:`monitor.distributed.worker.WorkerContext`).
        settings: Scrapy settings (default: :func:`scrapy_settings` of the context's
            config).
    """

    def __init__(self, context: SpiderContext, settings: Settings | None = None) -> None:
        self.context = context
        self.runner = AsyncCrawlerRunner(settings or scrapy_settings(context.config))
        self.spider_cls = self.runner.spider_loader.load("sources")
        self._task: asyncio.Future[Any] | None = None
        self._crawler: Crawler | None = None

    async def run(self) -> None:
        """Crawl until the context stops handing out polls (one-pass: until every
        source was polled once) and every page is written."""
        crawler = self._crawler = self.runner.create_crawler(self.spider_cls)
        self._task = asyncio.ensure_future(self.runner.crawl(crawler, context=self.context))
        try:
            await self._task
        except Exception as exc:
            log.error("crawl failed: %s: %s", type(exc).__name__, exc)
        await self.context.drain()

    async def stop(self, timeout: float = 20.0, close_timeout: float = 10.0) -> None:
        """Hand out no more polls, let the downloads under way finish for at most
        ``timeout`` seconds (requests still queued are not sent), cut the others short
        (:mod:`monitor.crawl.handlers`), then close the crawl: pages already fetched are
        written, and polls cut short are due again at once.

        Args:
            timeout: seconds the downloads under way may take to finish.
            close_timeout: seconds the crawl may then take to close before it is
                cancelled.
        """
        from monitor.crawl.handlers import cut_downloads_short

        self.context.stop()
        if self._task is None or self._task.done():
            return
        self._drop_queued()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not self._task.done() and self._transferring():
            await asyncio.sleep(0.05)
        if not self._task.done():
            cut = cut_downloads_short(self._crawler)
            if cut:
                log.warning("stopping: %d download%s still running after %g s cut short",
                            cut, "" if cut == 1 else "s", timeout)
            await self.runner.stop()
        close_deadline = loop.time() + close_timeout
        while not self._task.done() and loop.time() < close_deadline:
            cut_downloads_short(self._crawler)  # one that started meanwhile (after robots.txt)
            await asyncio.wait({self._task}, timeout=0.1)
        if not self._task.done():
            self.kill()
        if self.context.abandoned:
            log.info("stopping: %d poll%s cut short, due again at the next start",
                     self.context.abandoned, "" if self.context.abandoned == 1 else "s")

    def _drop_queued(self) -> int:
        """Fail the requests waiting in the hosts' download queues (a host's delay can
        hold dozens) with IgnoreRequest, so a stop does not wait for them. Scrapy has no
        public call for this: its slots keep ``(request, deferred)`` pairs in
        ``slot.queue``; a Scrapy without them simply waits, as before."""
        from scrapy.exceptions import IgnoreRequest
        from twisted.python.failure import Failure

        engine = getattr(self._crawler, "engine", None)
        downloader = getattr(engine, "downloader", None)
        dropped = 0
        for slot in list(getattr(downloader, "slots", {}).values()):
            queue = getattr(slot, "queue", None)
            while queue:
                _request, deferred = queue.popleft()
                deferred.errback(Failure(IgnoreRequest("the monitor is stopping")))
                dropped += 1
        return dropped

    def _transferring(self) -> int:
        """Requests being downloaded now (not those waiting in a host's queue)."""
        engine = getattr(self._crawler, "engine", None)
        downloader = getattr(engine, "downloader", None)
        if downloader is None:
            return 0
        return sum(len(slot.transferring) for slot in downloader.slots.values())

    def kill(self) -> None:
        """Cancel the crawl at once (a second stop signal)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
