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

from scrapy.crawler import AsyncCrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor

from monitor import settings as default_settings
from monitor.config import MonitorConfig
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
        "ROBOTSTXT_MAX_AGE": crawl.robots_max_age,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "LOG_LEVEL": config.log_level,
        "MONITOR_CONFIG": str(config.path),
    }, priority="cmdline")
    return settings


class CrawlEngine:
    """One long-lived crawl fed with the polls of a :class:`CrawlContext`.

    Args:
        context: the schedule, writer and workers.
    """

    def __init__(self, context: CrawlContext) -> None:
        self.context = context
        self.runner = AsyncCrawlerRunner(scrapy_settings(context.config))
        self.spider_cls = self.runner.spider_loader.load("sources")
        self._task: asyncio.Future | None = None

    async def run(self) -> None:
        """Crawl until the context stops handing out polls (one-pass: until every
        source was polled once) and every page is written."""
        self._task = asyncio.ensure_future(
            self.runner.crawl(self.spider_cls, context=self.context))
        try:
            await self._task
        except Exception as exc:
            log.error("crawl failed: %s: %s", type(exc).__name__, exc)
        await self.context.drain()

    async def stop(self, timeout: float = 20.0) -> None:
        """Hand out no more polls and let the polls in progress end (at most
        ``timeout`` seconds); then cut them short (they are due again at once)."""
        self.context.stop()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            log.warning("stopping: polls still running after %g s are cut short", timeout)
            await self.runner.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except asyncio.TimeoutError:
                self.kill()
        except Exception:
            pass

    def kill(self) -> None:
        """Cancel the crawl at once (a second stop signal)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
