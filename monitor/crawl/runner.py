"""Running crawls in one process, crawl after crawl, on the asyncio reactor.

Scrapy's :class:`AsyncCrawlerRunner` runs on Twisted's ``AsyncioSelectorReactor``, so
the same asyncio event loop also drives APScheduler (``monitor run``). A
``CrawlerProcess`` per crawl would fail with ``ReactorNotRestartable``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

from scrapy.crawler import AsyncCrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor

from monitor import settings as default_settings
from monitor.config import MonitorConfig, SourceConfig
from monitor.crawl.context import CrawlContext

log = logging.getLogger(__name__)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def install_asyncio_reactor() -> None:
    """Install Twisted's asyncio reactor; must run before anything imports the reactor."""
    install_reactor(ASYNCIO_REACTOR)


def scrapy_settings(config: MonitorConfig) -> Settings:
    """Scrapy settings: ``monitor.settings`` with monitor.yaml's ``crawl`` section on top."""
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    crawl = config.crawl
    settings.setdict({
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "LOG_LEVEL": config.log_level,
        "MONITOR_CONFIG": str(config.path),
    }, priority="cmdline")
    return settings


class Crawler:
    """Runs crawls of configured sources with one shared :class:`CrawlContext`.

    Args:
        context: shared config, store and core worker.
    """

    def __init__(self, context: CrawlContext) -> None:
        from spiders.feeds import FeedSpider
        from spiders.sitemaps import NewsSitemapSpider

        self.context = context
        self.runner = AsyncCrawlerRunner(scrapy_settings(context.config))
        #: Set when the process is stopping: :meth:`crawl` then starts nothing.
        self.closing = False
        self._spiders = {"feed": FeedSpider, "sitemap": NewsSitemapSpider}

    async def crawl(self, sources: Iterable[SourceConfig]) -> None:
        """Crawl the given sources once (feeds and sitemaps in parallel) and wait.

        A source that fails is logged and recorded; it never stops the others.
        """
        if self.closing:
            return
        by_kind: dict[str, list[SourceConfig]] = {}
        for source in sources:
            by_kind.setdefault(source.kind, []).append(source)
        tasks = [self.runner.crawl(self._spiders[kind], sources=group, context=self.context)
                 for kind, group in by_kind.items()]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("crawl failed: %s: %s", type(result).__name__, result)

    async def stop(self, timeout: float = 20.0) -> None:
        """Stop the crawls in progress and wait (at most ``timeout`` seconds) for them to end.

        Scrapy 2.19's ``Crawler.stop_async()`` only marks a crawler as stopping when its
        engine has not started yet; the engine then starts and idles for ever. Such
        engines are stopped here directly once they run.
        """
        self.closing = True
        await self.runner.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.runner.crawlers and loop.time() < deadline:
            for crawler in list(self.runner.crawlers):
                engine = getattr(crawler, "_engine", None)
                if not crawler.crawling and engine is not None and engine.running:
                    try:
                        await engine.stop_async()
                    except RuntimeError:  # it stopped meanwhile
                        pass
            await asyncio.sleep(0.1)
